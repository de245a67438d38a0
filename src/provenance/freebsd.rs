//! FreeBSD: packages are recorded in `var/db/pkg/local.sqlite`, an SQLite
//! database. jailpack does not read it: the one well-kept reader, rusqlite,
//! compiles SQLite's C sources into every user's first `cargo xtask` (a
//! minute of waiting) for a lookup only FreeBSD jails need. So files
//! under `/usr/local` (where pkg installs) are listed as unknown, saying so,
//! and the others are the base system's, named after the release
//! `bin/freebsd-version` (or `etc/os-release`) gives.

use std::path::{Path, PathBuf};

use super::read::read_optional;
use super::{Lookup, Package, os_release};
use crate::closure::root::FsRoot;

pub(super) fn owners(root: &FsRoot, paths: &[PathBuf]) -> crate::Result<Lookup> {
    let release = release(root);
    let lookup = paths
        .iter()
        .map(|path| {
            let resolved = super::resolved(root, path);
            let answer = if resolved.starts_with("/usr/local") {
                Err("installed by pkg: its database, var/db/pkg/local.sqlite, is SQLite, which jailpack does not read".to_string())
            } else {
                match &release {
                    Some(release) => Ok(Package::base_system("freebsd", release)),
                    None => Err("no package owns it, and the root has neither bin/freebsd-version nor etc/os-release to name the base system's release".to_string()),
                }
            };
            (path.clone(), answer)
        })
        .collect();
    Ok(lookup)
}

/// `USERLAND_VERSION="14.1-RELEASE-p5"` in the shell script
/// freebsd-version(1), else os-release's `VERSION`.
fn release(root: &FsRoot) -> Option<String> {
    let from_script = read_optional(root, Path::new("/bin/freebsd-version"), 1 << 20)
        .and_then(|bytes| userland_version(&String::from_utf8_lossy(&bytes)));
    from_script.or_else(|| os_release::fields(root).remove("VERSION"))
}

fn userland_version(script: &str) -> Option<String> {
    script.lines().find_map(|line| {
        let value = line.trim().strip_prefix("USERLAND_VERSION=")?;
        let value = value.trim_matches('"');
        (!value.is_empty() && !value.contains('$')).then(|| value.to_string())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_release_from_freebsd_version() {
        let script = "#!/bin/sh\nset -e\nUSERLAND_VERSION=\"14.1-RELEASE-p5\"\n: ${ROOT:=}\n";
        assert_eq!(
            super::userland_version(script).as_deref(),
            Some("14.1-RELEASE-p5")
        );
        assert_eq!(super::userland_version("x=1\n"), None);
    }
}
