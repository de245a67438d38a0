//! `cargo xtask jail closure [--sysroot DIR] [--json] PATH...`: the
//! dependency tree of existing ELF files, without making a jail. Several
//! paths share one resolver.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{sysroot, text, tree};
use crate::closure::root::FsRoot;
use crate::closure::{Closure, ClosureFile, Executable, Options, Resolver, Role};
use crate::error::{Error, Result};

const HELP: &str = "\
cargo xtask jail closure: what ELF files need at run time, as their loader finds it

Usage: cargo xtask jail closure [OPTIONS] PATH...

Options:
      --sysroot DIR            resolve inside DIR instead of /
      --ld-library-path DIR    a directory the program gets in LD_LIBRARY_PATH (repeat)
      --dlopen NAME            a library the first PATH dlopen()s (repeat)
      --json                   print a JSON object with target, files and links
  -h, --help

Each file is printed with where it is on the target, where it was read, who
needs it and why its directory was chosen.";

pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<ExitCode> {
    grow_the_heap_in_steps();
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let usage = |e: lexopt::Error| Error::Usage(e.to_string());
    let mut options = Options::default();
    let mut json = false;
    let mut paths: Vec<PathBuf> = Vec::new();
    while let Some(arg) = parser.next().map_err(usage)? {
        match arg {
            Long("sysroot") => options.root = FsRoot::new(sysroot(&mut parser)?),
            Long("ld-library-path") => options.ld_library_path.push(text(&mut parser)?),
            Long("dlopen") => options.dlopen.push(text(&mut parser)?),
            Long("json") => json = true,
            Short('h') | Long("help") => {
                println!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            Value(path) => paths.push(path.into()),
            other => return Err(Error::Usage(other.unexpected().to_string())),
        }
    }
    if paths.is_empty() {
        return Err(Error::Usage("closure needs at least one PATH".into()));
    }
    let current = std::env::current_dir().map_err(|source| Error::Read {
        path: ".".into(),
        source,
    })?;
    let executables = paths
        .iter()
        .map(|path| executable(path, &options.root, &current))
        .collect::<Result<Vec<Executable>>>()?;
    let resolver = Resolver::new(options);
    let resolved = resolver.resolve(&executables);
    // Its memos are freed by the exit: dropping every parsed object and
    // looked-up path one by one would cost more than printing them.
    std::mem::forget(resolver);
    let closure = match resolved {
        Ok(closure) => closure,
        Err(error) if json => {
            println!("{}", error_json(&error));
            return Err(error);
        }
        Err(error) => return Err(error),
    };
    if json {
        let text =
            serde_json::to_string_pretty(&closure).map_err(|e| Error::Usage(e.to_string()))?;
        println!("{text}");
    } else {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let printed = print_tree(&closure, &mut out).and_then(|()| out.flush());
        match printed {
            // A reader that stopped early (`| head`) wanted no more.
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                return Err(Error::Write {
                    path: "standard output".into(),
                    source: e,
                });
            }
            _ => {}
        }
    }
    // (Freed by the exit too.)
    std::mem::forget(closure);
    Ok(ExitCode::SUCCESS)
}

/// glibc grows a thread's heap a page at a time unless told to pad it, one
/// `mprotect` each, and each stops the other threads' page faults while it
/// changes the address space: a closure of 700 programs made 1,250 of them
/// and ran 8% longer. Padding reserves addresses; a page is used, and
/// counted, only once touched. Only here: the setting also fixes glibc's
/// threshold for mapping large blocks apart, which packing's compression
/// buffers are better off without.
fn grow_the_heap_in_steps() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: sets a malloc parameter; called before the closure starts
    // its threads.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 4 << 20);
    }
}

/// A PATH as the target sees it. One inside the sysroot is where the
/// sysroot puts it, and is read through the sysroot: a link in it (an
/// absolute one, as /etc/alternatives makes) leads to the sysroot's file,
/// never to the build host's.
fn executable(path: &Path, root: &FsRoot, current: &Path) -> Result<Executable> {
    let Some(sysroot) = root.sysroot().filter(|r| path.starts_with(r)) else {
        return Ok(Executable {
            source: path.to_path_buf(),
            // The path as given, made absolute.
            jail_path: current.join(path),
        });
    };
    let jail_path = Path::new("/").join(path.strip_prefix(sysroot).unwrap_or(path));
    let source = match root.resolve(&jail_path)? {
        Some(resolved) => root.host_path(&resolved.path),
        // Missing: reading it says so, with the path as given.
        None => path.to_path_buf(),
    };
    Ok(Executable { source, jail_path })
}

/// A failed closure as data: `{"error": {...}}` with every missing library
/// or symbol version, so a pipeline need not read prose.
fn error_json(error: &Error) -> serde_json::Value {
    let (message, help) = error.message_and_help();
    let mut object = serde_json::json!({
        "kind": error.kind(),
        "path": error.path(),
        "message": message,
        "help": help,
    });
    match error {
        Error::LibraryNotFound {
            name,
            chain,
            searched,
        } => {
            object["missing_libraries"] =
                serde_json::json!([{ "name": name, "chain": chain, "searched": searched }]);
        }
        Error::LibrariesNotFound { missing } => {
            object["missing_libraries"] = serde_json::json!(missing);
        }
        Error::VersionsNotFound { missing, .. } => {
            object["missing_versions"] = serde_json::json!(missing);
        }
        _ => {}
    }
    serde_json::json!({ "error": object })
}

/// The tree, then the links the loader passes through, a line each
/// (buffered: a closure of hundreds of programs is thousands of lines,
/// written piece by piece rather than formatted).
fn print_tree(closure: &Closure, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "target: {} ({}, {})",
        closure.target.rust_triple(),
        closure.target.os,
        closure.target.loader
    )?;
    let mut written = Ok(());
    tree::visit(closure, |depth, file, seen| {
        if written.is_ok() {
            written = print_file(out, depth, file, seen);
        }
    });
    written?;
    for link in &closure.links {
        writeln!(
            out,
            "link {} -> {}",
            link.path.display(),
            link.target.display()
        )?;
    }
    Ok(())
}

/// One file's line: the path in the jail, where it was read when that
/// differs, and for a library or interpreter how the loader finds it.
fn print_file(
    out: &mut impl Write,
    depth: usize,
    file: &ClosureFile,
    seen: bool,
) -> std::io::Result<()> {
    for _ in 0..depth {
        out.write_all(b"    ")?;
    }
    out.write_all(file.path.to_string_lossy().as_bytes())?;
    if file.source != file.path {
        out.write_all(b" (from ")?;
        out.write_all(file.source.to_string_lossy().as_bytes())?;
        out.write_all(b")")?;
    }
    if file.role != Role::Executable {
        out.write_all(b" [")?;
        out.write_all(file.found.as_bytes())?;
        out.write_all(b"]")?;
    }
    if seen {
        out.write_all(tree::SEEN.as_bytes())?;
    }
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_in_the_sysroot_is_read_through_the_sysroot() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("usr/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("mawk"), "the sysroot's").unwrap();
        // As /etc/alternatives links: absolute, meant inside the root.
        std::os::unix::fs::symlink("/usr/bin/mawk", bin.join("awk")).unwrap();
        let root = FsRoot::new(dir.path());
        let asked = bin.join("awk");
        let found = executable(&asked, &root, Path::new("/somewhere")).unwrap();
        assert_eq!(found.jail_path, Path::new("/usr/bin/awk"));
        assert_eq!(found.source, dir.path().join("usr/bin/mawk"));
        // Outside the sysroot: the build host's path, made absolute.
        let found = executable(Path::new("x/y"), &root, Path::new("/somewhere")).unwrap();
        assert_eq!(found.jail_path, Path::new("/somewhere/x/y"));
        assert_eq!(found.source, Path::new("x/y"));
    }
}
