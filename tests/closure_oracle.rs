//! The resolver against the real loader: for every dynamically linked ELF
//! executable and shared library under /usr/bin, /usr/sbin and /usr/lib,
//! the set of files the resolver finds must equal what glibc's ld.so maps
//! (`ldd`, which runs `ld.so --list`), as real paths, vdso aside.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use jailpack::Error;
use jailpack::closure::elf::ElfObject;
use jailpack::closure::{Executable, Options, Resolver, Role};

/// What the real loader says of one file.
pub enum Loaded {
    Files(BTreeSet<PathBuf>),
    /// Libraries it could not find, by name.
    Missing(BTreeSet<String>),
    /// Not something ldd lists (static, or refused).
    Nothing,
}

pub fn ldd(path: &Path) -> Loaded {
    ldd_with_versions(path).0
}

/// [`ldd`], and the symbol versions ld.so reports missing (``version
/// `GLIBC_2.9' not found``, among the libraries it lists).
pub fn ldd_with_versions(path: &Path) -> (Loaded, BTreeSet<String>) {
    let Ok(output) = Command::new("ldd").arg(path).env_clear().output() else {
        return (Loaded::Nothing, BTreeSet::new());
    };
    let text = [&output.stdout[..], &output.stderr[..]].concat();
    let versions = String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|line| line.split_once("version `")?.1.split_once("' not found"))
        .map(|(version, _)| version.to_string())
        .collect();
    (ldd_listing(&output), versions)
}

fn ldd_listing(output: &std::process::Output) -> Loaded {
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success()
        || text.contains("statically linked")
        || text.contains("not a dynamic")
    {
        return Loaded::Nothing;
    }
    let mut files = BTreeSet::new();
    let mut missing = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some((name, rest)) = line.split_once(" => ") {
            if rest.trim() == "not found" {
                missing.insert(name.trim().to_string());
                continue;
            }
            if let Some(file) = rest.split(" (").next().filter(|f| f.starts_with('/')) {
                files.insert(std::fs::canonicalize(file).unwrap_or_else(|_| file.into()));
            }
        } else if let Some(file) = line.split(" (").next().filter(|f| f.starts_with('/')) {
            files.insert(std::fs::canonicalize(file).unwrap_or_else(|_| file.into()));
        }
    }
    if missing.is_empty() {
        Loaded::Files(files)
    } else {
        Loaded::Missing(missing)
    }
}

/// The libraries a resolver error says are missing.
fn missing_names(error: &Error) -> BTreeSet<String> {
    match error {
        Error::LibraryNotFound { name, .. } => BTreeSet::from([name.clone()]),
        Error::LibrariesNotFound { missing } => missing.iter().map(|m| m.name.clone()).collect(),
        _ => BTreeSet::new(),
    }
}

/// The loader maps the glibc-hwcaps copy its CPU supports; a jail holds
/// every copy and the plain one: compare them by the plain copy's path.
fn plain_copy(path: &Path) -> PathBuf {
    let text = path.to_string_lossy();
    match text.split_once("/glibc-hwcaps/") {
        Some((dir, rest)) => {
            Path::new(dir).join(rest.split_once('/').map_or(rest, |(_, name)| name))
        }
        None => path.to_path_buf(),
    }
}

/// Every regular ELF file under `dir` with something to load.
fn dynamic_objects(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            dynamic_objects(&path, out);
        } else if kind.is_file() {
            let host = ElfObject::read(Path::new("/usr/bin/env")).unwrap();
            if let Ok(object) = ElfObject::read(&path) {
                if object.dynamic && !object.needed.is_empty() && host.compatible(&object) {
                    out.push(path);
                }
            }
        }
    }
}

#[test]
fn every_system_object_resolves_to_what_the_real_loader_loads() {
    let mut objects = Vec::new();
    for dir in ["/usr/bin", "/usr/sbin", "/usr/lib"] {
        dynamic_objects(Path::new(dir), &mut objects);
    }
    let resolver = Resolver::new(Options::default());
    let mut compared = 0;
    let mut differences = Vec::new();
    for path in &objects {
        let (expected, versions) = ldd_with_versions(path);
        let ours = resolver.resolve(&[Executable {
            source: path.clone(),
            jail_path: path.clone(),
        }]);
        match (expected, ours) {
            (Loaded::Nothing, _) => continue,
            // Version failures compare by the versions named.
            (_, Err(Error::VersionsNotFound { missing, .. })) => {
                let ours: BTreeSet<String> = missing.into_iter().map(|m| m.version).collect();
                if ours != versions {
                    differences.push(format!(
                        "{}: ld.so misses versions {versions:?}; resolver {ours:?}",
                        path.display()
                    ));
                }
            }
            (_, Ok(_)) if !versions.is_empty() => differences.push(format!(
                "{}: ld.so misses versions {versions:?}; resolver found them all",
                path.display()
            )),
            (Loaded::Files(files), Ok(closure)) => {
                let files: BTreeSet<PathBuf> = files.iter().map(|f| plain_copy(f)).collect();
                let found: BTreeSet<PathBuf> = closure
                    .files
                    .iter()
                    .filter(|f| f.role != Role::Executable)
                    .map(|f| plain_copy(&f.source))
                    .collect();
                if found != files {
                    let extra: Vec<_> = found.difference(&files).collect();
                    let lacking: Vec<_> = files.difference(&found).collect();
                    differences.push(format!(
                        "{}: resolver also has {extra:?}, lacks {lacking:?}",
                        path.display()
                    ));
                }
            }
            (Loaded::Missing(names), Err(e)) if missing_names(&e) == names => {}
            (Loaded::Missing(names), ours) => {
                differences.push(format!(
                    "{}: ld.so misses {names:?}; resolver: {:?}",
                    path.display(),
                    ours.map(|_| "found all")
                ));
            }
            (Loaded::Files(_), Err(e)) => {
                differences.push(format!("{}: ld.so loads it; resolver: {e}", path.display()))
            }
        }
        compared += 1;
    }
    // Straight to stderr, past the test harness's capture: CI logs show
    // how much was compared even when the test passes.
    let mut report = format!(
        "closure oracle: compared {compared} ELF objects with ld.so; {} differences\n",
        differences.len()
    );
    for difference in &differences {
        report.push_str(&format!("  {difference}\n"));
    }
    std::io::stderr().write_all(report.as_bytes()).unwrap();
    assert!(compared >= 200, "only {compared} objects compared");
    assert!(
        differences.is_empty(),
        "{} differences (listed above)",
        differences.len()
    );
}
