//! dpkg's database, read directly (no `dpkg-query`, which knows only the
//! build host's own): `var/lib/dpkg/status` for each installed package's
//! version and architecture, `var/lib/dpkg/info/<package>[:<arch>].list`
//! for the paths it installed, `var/lib/dpkg/diversions` for paths whose
//! owner dpkg-divert changed, and `usr/share/doc/<package>/copyright` for
//! the licences its machine-readable copyright file states.
//!
//! The database may belong to a sysroot made elsewhere: a malformed stanza
//! or line is passed over, never a reason to stop or panic.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use super::read::{read, read_optional};
use super::{Lookup, Package, os_release, purl, usr_merge};
use crate::closure::root::FsRoot;

/// The largest status file or file list read: Debian's biggest are a few
/// megabytes.
const MAX_DATABASE_FILE: u64 = 256 << 20;
/// The largest copyright file read for its licences.
const MAX_COPYRIGHT: u64 = 4 << 20;

pub const STATUS: &str = "/var/lib/dpkg/status";

/// One package the status file says is on the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub version: String,
    pub arch: String,
}

/// The packages whose files are on the system, from `status` in `root`;
/// `None` when the root has no dpkg database.
pub fn installed(root: &FsRoot) -> crate::Result<Option<Vec<Installed>>> {
    let Some(bytes) = read(root, Path::new(STATUS), MAX_DATABASE_FILE)? else {
        return Ok(None);
    };
    Ok(Some(parse_status(&String::from_utf8_lossy(&bytes))))
}

/// The stanzas of a status file with their files on disk: a package
/// removed but for its configuration files, or never unpacked, owns no
/// file the jail could hold.
fn parse_status(text: &str) -> Vec<Installed> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut fields: HashMap<&str, &str> = HashMap::new();
        for line in stanza.lines() {
            if line.starts_with([' ', '\t']) {
                continue;
            }
            if let Some((key, value)) = line.split_once(':') {
                fields.insert(key.trim(), value.trim());
            }
        }
        let (Some(name), Some(version), Some(status)) = (
            fields.get("Package"),
            fields.get("Version"),
            fields.get("Status"),
        ) else {
            continue;
        };
        let state = status.split_whitespace().nth(2).unwrap_or("");
        let on_disk = matches!(
            state,
            "installed"
                | "triggers-pending"
                | "triggers-awaited"
                | "half-configured"
                | "unpacked"
                | "half-installed"
        );
        if on_disk && !name.is_empty() && !version.is_empty() {
            out.push(Installed {
                name: name.to_string(),
                version: version.to_string(),
                arch: fields.get("Architecture").unwrap_or(&"").to_string(),
            });
        }
    }
    out
}

/// The owner of each in-root path of `paths`, under every name merged
/// /usr gives it; the error says why a path has none.
pub(super) fn owners(root: &FsRoot, paths: &[PathBuf]) -> crate::Result<Lookup> {
    let Some(packages) = installed(root)? else {
        // No root's location in the reason: it ends up in the SBOM.
        let why = format!(
            "the root has no dpkg database ({STATUS}); jailpack reads no other Linux package database yet"
        );
        return Ok(paths
            .iter()
            .map(|p| (p.clone(), Err(why.clone())))
            .collect());
    };
    let merged = usr_merge::merged_dirs(root);
    // Every name of every path asked → the paths asked. Keyed by the
    // name's bytes, clean (as dpkg writes its lists): a list line is then
    // looked up as it is, without walking its components to hash it.
    let mut names: Names = FxHashMap::default();
    for (index, path) in paths.iter().enumerate() {
        for alias in usr_merge::aliases(root, &merged, path) {
            let clean: PathBuf = alias.components().collect();
            names.entry(clean.into_os_string()).or_default().push(index);
        }
    }
    let diverted = diversions(root, &names)?;
    let mut listed_by: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); paths.len()];
    for (number, package) in packages.iter().enumerate() {
        let Some(list) = file_list(root, package)? else {
            continue;
        };
        for line in lines(&list) {
            if let Some(asked) = names.get(line) {
                for &index in asked {
                    listed_by[index].insert(number);
                }
            }
        }
    }
    let release = os_release::fields(root);
    let mut licences: HashMap<String, Vec<String>> = HashMap::new();
    let mut lookup = Lookup::new();
    for (index, path) in paths.iter().enumerate() {
        let owners: Vec<&Installed> = listed_by[index].iter().map(|&n| &packages[n]).collect();
        let answer = if diverted.contains(&index) {
            Err("a dpkg-divert diversion moved it: which package's copy it is cannot be told from the lists".to_string())
        } else {
            match owners[..] {
                [] => Err(
                    "no installed package lists it (made at install time, or by hand)".to_string(),
                ),
                // Several packages list one path only when they are one
                // package (`Multi-Arch: same`) built for several
                // architectures: the same source and version, whichever.
                [first, ..]
                    if owners
                        .iter()
                        .all(|o| o.name == first.name && o.version == first.version) =>
                {
                    let licences = licences
                        .entry(first.name.clone())
                        .or_insert_with(|| copyright_licences(root, &first.name));
                    Ok(package(first, &release, licences))
                }
                _ => Err(format!(
                    "listed by several packages ({})",
                    owners
                        .iter()
                        .map(|o| format!("{} {}", o.name, o.version))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        };
        lookup.insert(path.clone(), answer);
    }
    Ok(lookup)
}

/// The package's file list: `<name>:<arch>.list` for a `Multi-Arch: same`
/// package, `<name>.list` for the others.
fn file_list(root: &FsRoot, package: &Installed) -> crate::Result<Option<Vec<u8>>> {
    let info = Path::new("/var/lib/dpkg/info");
    let qualified = info.join(format!("{}:{}.list", package.name, package.arch));
    if let Some(list) = read(root, &qualified, MAX_DATABASE_FILE)? {
        return Ok(Some(list));
    }
    read(
        root,
        &info.join(format!("{}.list", package.name)),
        MAX_DATABASE_FILE,
    )
}

/// The paths asked (by index) that a diversion moves, under either name.
/// Clean paths, as bytes, and the indices of the paths asked they name.
type Names = FxHashMap<OsString, Vec<usize>>;

/// The lines of a list file, as paths (`\n`-separated, a `\r` before it dropped).
fn lines(list: &[u8]) -> impl Iterator<Item = &OsStr> {
    list.split(|b| *b == b'\n')
        .map(|line| OsStr::from_bytes(line.strip_suffix(b"\r").unwrap_or(line)))
}

fn diversions(root: &FsRoot, names: &Names) -> crate::Result<BTreeSet<usize>> {
    let path = Path::new("/var/lib/dpkg/diversions");
    let Some(bytes) = read(root, path, MAX_DATABASE_FILE)? else {
        return Ok(BTreeSet::new());
    };
    // Three lines a diversion: from, to, the package that diverts.
    let lines: Vec<&OsStr> = lines(&bytes).collect();
    let mut out = BTreeSet::new();
    for triple in lines.chunks(3) {
        for line in triple.iter().take(2) {
            out.extend(names.get(*line).into_iter().flatten().copied());
        }
    }
    Ok(out)
}

fn package(
    installed: &Installed,
    release: &BTreeMap<String, String>,
    licences: &[String],
) -> Package {
    let namespace = release.get("ID").map_or("debian", String::as_str);
    let distro = match (release.get("ID"), release.get("VERSION_ID")) {
        (Some(id), Some(version)) => format!("{id}-{version}"),
        _ => String::new(),
    };
    Package {
        name: installed.name.clone(),
        version: installed.version.clone(),
        arch: (!installed.arch.is_empty()).then(|| installed.arch.clone()),
        purl: purl::build(
            "deb",
            Some(namespace),
            &installed.name,
            &installed.version,
            &[("arch", &installed.arch), ("distro", &distro)],
        ),
        licenses: licences.to_vec(),
        base_system: false,
    }
}

/// The `License:` short names of a machine-readable copyright file
/// (DEP-5), sorted and once each; none for a free-form file, whose
/// licences no program can read reliably.
fn copyright_licences(root: &FsRoot, package: &str) -> Vec<String> {
    if package.contains('/') {
        return Vec::new();
    }
    let path = Path::new("/usr/share/doc").join(package).join("copyright");
    let Some(bytes) = read_optional(root, &path, MAX_COPYRIGHT) else {
        return Vec::new();
    };
    parse_copyright(&String::from_utf8_lossy(&bytes))
}

fn parse_copyright(text: &str) -> Vec<String> {
    let machine_readable = text
        .lines()
        .next()
        .is_some_and(|l| l.starts_with("Format:") && l.contains("copyright-format"));
    if !machine_readable {
        return Vec::new();
    }
    let names: BTreeSet<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("License:"))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect();
    names.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_status_gives_what_it_can_and_no_panic() {
        let status = "Package: good\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: amd64\n\n\
             Package: gone\nStatus: deinstall ok config-files\nVersion: 2\n\n\
             Package\nStatus:\n: \n \n\n\u{0}\u{ffff}::::\n\nPackage: nover\nStatus: install ok installed\n";
        assert_eq!(
            parse_status(status),
            [Installed {
                name: "good".into(),
                version: "1.0-1".into(),
                arch: "amd64".into()
            }]
        );
    }

    #[test]
    fn licences_only_from_machine_readable_copyright_files() {
        let dep5 = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
                    Files: *\nLicense: Apache-2.0\n\nFiles: x\nLicense: GPL-2+\n text\n\nLicense: Apache-2.0\n";
        assert_eq!(parse_copyright(dep5), ["Apache-2.0", "GPL-2+"]);
        assert!(parse_copyright("This is the Debian version\nLicense: GPL\n").is_empty());
    }

    fn sysroot(status: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let at = |p: &str| dir.path().join(p);
        std::fs::create_dir_all(at("var/lib/dpkg/info")).unwrap();
        std::fs::create_dir_all(at("usr/lib/x86_64-linux-gnu")).unwrap();
        std::fs::create_dir_all(at("etc")).unwrap();
        std::os::unix::fs::symlink("usr/lib", at("lib")).unwrap();
        std::fs::write(at("usr/lib/x86_64-linux-gnu/libz.so.1.2.13"), "z").unwrap();
        std::fs::write(at("etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\n").unwrap();
        std::fs::write(at("var/lib/dpkg/status"), status).unwrap();
        std::fs::write(
            at("var/lib/dpkg/info/zlib1g:amd64.list"),
            "/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libz.so.1.2.13\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn a_merged_usr_path_is_found_under_its_listed_name() {
        let dir = sysroot(
            "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 1:1.2.13.dfsg-1\n",
        );
        let root = FsRoot::new(dir.path());
        let wanted = PathBuf::from("/usr/lib/x86_64-linux-gnu/libz.so.1.2.13");
        let stray = PathBuf::from("/etc/os-release");
        let lookup = owners(&root, &[wanted.clone(), stray.clone()]).unwrap();
        let found = lookup[&wanted].as_ref().unwrap();
        assert_eq!(
            (found.name.as_str(), found.version.as_str()),
            ("zlib1g", "1:1.2.13.dfsg-1")
        );
        assert_eq!(
            found.purl,
            "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12"
        );
        assert!(
            lookup[&stray]
                .as_ref()
                .unwrap_err()
                .contains("no installed package")
        );
    }

    #[test]
    fn no_database_and_a_broken_one_are_answers_not_crashes() {
        let empty = tempfile::tempdir().unwrap();
        let path = PathBuf::from("/x");
        let lookup = owners(&FsRoot::new(empty.path()), std::slice::from_ref(&path)).unwrap();
        assert!(
            lookup[&path]
                .as_ref()
                .unwrap_err()
                .contains("no dpkg database")
        );
        let dir = sysroot("\u{0}garbage\n\n\n:::\nPackage: zlib1g\n");
        let wanted = PathBuf::from("/usr/lib/x86_64-linux-gnu/libz.so.1.2.13");
        let lookup = owners(&FsRoot::new(dir.path()), std::slice::from_ref(&wanted)).unwrap();
        assert!(lookup[&wanted].is_err());
    }
}
