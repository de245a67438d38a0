//! OpenBSD's package database: one folder a package under `var/db/pkg`,
//! its `+CONTENTS` a plain-text packing list (pkg_create(1)): `@name`
//! gives `stem-version[-flavour]`, `@cwd` the prefix of the file lines
//! that follow, and each file line (bare, or `@bin`, `@lib`, `@file`, …) a
//! path it installed. Files of no package outside `/usr/local` are the base
//! system's, named after the OpenBSD release the kernel reports.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::read::{read, read_optional};
use super::{Lookup, Package, purl};
use crate::closure::root::FsRoot;

const DB: &str = "/var/db/pkg";
const MAX_CONTENTS: u64 = 64 << 20;
/// A kernel is a few tens of megabytes; the release string is in its data.
const MAX_KERNEL: u64 = 128 << 20;

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub stem: String,
    pub version: String,
    pub files: Vec<PathBuf>,
}

/// The packages of `root`'s database, sorted by folder name.
pub fn installed(root: &FsRoot) -> crate::Result<Vec<Installed>> {
    let Some(db) = root.resolve(Path::new(DB))? else {
        return Ok(Vec::new());
    };
    let Ok(entries) = std::fs::read_dir(root.host_path(&db.path)) else {
        return Ok(Vec::new());
    };
    let mut folders: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect();
    folders.sort();
    let mut out = Vec::new();
    for folder in folders {
        let contents = Path::new(DB).join(&folder).join("+CONTENTS");
        if let Some(bytes) = read(root, &contents, MAX_CONTENTS)? {
            out.extend(parse_contents(&String::from_utf8_lossy(&bytes)));
        }
    }
    Ok(out)
}

fn parse_contents(text: &str) -> Option<Installed> {
    let mut name = None;
    let mut cwd = PathBuf::from("/usr/local");
    let mut files = Vec::new();
    for line in text.lines() {
        let (keyword, argument) = match line.strip_prefix('@') {
            Some(rest) => rest.split_once(' ').unwrap_or((rest, "")),
            None => ("file", line),
        };
        let argument = argument.trim();
        match keyword {
            "name" => name = Some(argument.to_string()),
            "cwd" => cwd = PathBuf::from(argument),
            "file" | "bin" | "lib" | "so" | "static-lib" | "shell" | "man" | "info"
                if !argument.is_empty() && !argument.ends_with('/') =>
            {
                files.push(crate::closure::root::normalize(&cwd.join(argument)));
            }
            // A sample's copy is the package's file too, at its own path.
            "sample" if argument.starts_with('/') && !argument.ends_with('/') => {
                files.push(crate::closure::root::normalize(Path::new(argument)));
            }
            _ => {}
        }
    }
    let (stem, version) = split_name(&name?)?;
    Some(Installed {
        stem,
        version,
        files,
    })
}

/// `stem-version[-flavour]`: the version starts after the first `-`
/// followed by a digit (packages(7)).
pub fn split_name(name: &str) -> Option<(String, String)> {
    let at = name
        .char_indices()
        .find(|&(i, c)| c == '-' && name[i + 1..].starts_with(|d: char| d.is_ascii_digit()))?
        .0;
    Some((name[..at].to_string(), name[at + 1..].to_string()))
}

pub(super) fn owners(root: &FsRoot, paths: &[PathBuf]) -> crate::Result<Lookup> {
    let packages = installed(root)?;
    let mut by_path: HashMap<&Path, &Installed> = HashMap::new();
    for package in &packages {
        for file in &package.files {
            by_path.insert(file, package);
        }
    }
    let release = kernel_release(root);
    let lookup = paths
        .iter()
        .map(|path| {
            let resolved = super::resolved(root, path);
            let found = by_path
                .get(path.as_path())
                .or_else(|| by_path.get(resolved.as_path()));
            let answer = match (found, &release) {
                (Some(package), _) => Ok(Package {
                    name: package.stem.clone(),
                    version: package.version.clone(),
                    arch: None,
                    purl: purl::build("generic", Some("openbsd"), &package.stem, &package.version, &[]),
                    licenses: Vec::new(),
                    base_system: false,
                }),
                (None, _) if resolved.starts_with("/usr/local") => Err(format!(
                    "no package in {DB} lists it"
                )),
                (None, Some(release)) => Ok(Package::base_system("openbsd", release)),
                (None, None) => Err("no package lists it, and the root has no kernel (/bsd) to name the base system's release".to_string()),
            };
            (path.clone(), answer)
        })
        .collect();
    Ok(lookup)
}

/// The release in the kernel's version string (`OpenBSD 7.6 (GENERIC.MP)
/// #338: …`), as `uname -r` prints it, read from the root's `/bsd`.
fn kernel_release(root: &FsRoot) -> Option<String> {
    let kernel = read_optional(root, Path::new("/bsd"), MAX_KERNEL)?;
    let marker = b"OpenBSD ";
    kernel
        .windows(marker.len())
        .enumerate()
        .find_map(|(at, window)| {
            if window != marker {
                return None;
            }
            let rest = &kernel[at + marker.len()..];
            let end = rest
                .iter()
                .position(|b| !(b.is_ascii_digit() || *b == b'.'))?;
            let release = std::str::from_utf8(&rest[..end]).ok()?;
            let is_release = release.contains('.')
                && release.split('.').all(|part| !part.is_empty())
                && rest[end..].starts_with(b" (");
            is_release.then(|| release.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packing_list_names_its_files_under_cwd() {
        let contents = "@comment $OpenBSD$\n@name curl-8.9.1p0\n@cwd /usr/local\n@bin bin/curl\n@lib lib/libcurl.so.26.24\nshare/doc/curl/README\n@sample /etc/curlrc\n@dir share/x/\n@wantlib c.100.3\n";
        let installed = parse_contents(contents).unwrap();
        assert_eq!(
            (installed.stem.as_str(), installed.version.as_str()),
            ("curl", "8.9.1p0")
        );
        assert_eq!(
            installed.files,
            [
                PathBuf::from("/usr/local/bin/curl"),
                PathBuf::from("/usr/local/lib/libcurl.so.26.24"),
                PathBuf::from("/usr/local/share/doc/curl/README"),
                PathBuf::from("/etc/curlrc"),
            ]
        );
        assert!(parse_contents("no name here\n").is_none());
        assert!(parse_contents("@name nover\n").is_none());
    }

    #[test]
    fn names_split_at_the_first_dash_before_a_digit() {
        let split = |n: &str| split_name(n).unwrap();
        assert_eq!(split("p5-Foo-Bar-1.2"), ("p5-Foo-Bar".into(), "1.2".into()));
        assert_eq!(
            split("py3-requests-2.31.0p0"),
            ("py3-requests".into(), "2.31.0p0".into())
        );
        assert_eq!(
            split("vim-9.1.0-no_x11"),
            ("vim".into(), "9.1.0-no_x11".into())
        );
    }
}
