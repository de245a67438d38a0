//! Provenance: the OS package (or crate) behind each jailed file, for the
//! SBOM beside the archive and for `audit` to name the update a jail lacks.
//!
//! Each package database is read directly from the target's root (the
//! host's `/` or a sysroot), through the same [`FsRoot`] every stage uses,
//! so a jail made from a sysroot names the sysroot's packages: [`dpkg`] on
//! Debian and Ubuntu, [`openbsd`]'s `+CONTENTS` lists, and FreeBSD's base
//! system release ([`freebsd`]). The daemon cargo built is owned by its
//! package's crate, with the resolved [`crates`] graph behind it. A file no
//! database names is listed as unknown, with the reason, never guessed.

pub mod crates;
pub mod dpkg;
mod freebsd;
pub mod openbsd;
pub mod os_release;
pub mod purl;
mod read;
mod usr_merge;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use self::crates::Crate;
use crate::closure::root::FsRoot;
use crate::closure::target::Os;
use crate::error::Result;
use crate::manifest::{FileRecord, PackageRecord};

/// Who stands behind every jailed file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// The OS packages (and base systems) that own at least one jailed
    /// file, sorted.
    pub packages: Vec<Package>,
    /// The crates the daemon was built from, its own package first; empty
    /// when cargo did not build it.
    pub crates: Vec<Crate>,
    /// Every regular file of the jail by in-jail path, the jail's own file
    /// list excepted (it is made after this).
    pub owners: BTreeMap<PathBuf, Owner>,
}

/// An OS package, or an OS release's base system.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// The package's architecture (`amd64`, `all`), when the database says.
    pub arch: Option<String>,
    /// The package URL a scanner matches advisories with.
    pub purl: String,
    /// Licence names as the package states them (Debian's machine-readable
    /// copyright files), sorted; empty when it states none we can read.
    pub licenses: Vec<String>,
    /// An OS release's base system, which no package database lists.
    pub base_system: bool,
}

impl Package {
    /// A BSD's base system (without pkgbase) is no package: named after
    /// the OS and its release. The purl spec has no BSD type, hence
    /// `generic` (`pkg:generic/openbsd/openbsd@7.6`).
    pub fn base_system(os: &str, release: &str) -> Package {
        Package {
            name: os.to_string(),
            version: release.to_string(),
            arch: None,
            purl: purl::build("generic", Some(os), os, release, &[]),
            licenses: Vec::new(),
            base_system: true,
        }
    }

    pub fn record(&self) -> PackageRecord {
        PackageRecord {
            name: self.name.clone(),
            version: self.version.clone(),
            arch: self.arch.clone(),
            purl: Some(self.purl.clone()),
        }
    }
}

/// Where one jailed file came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// An index into [`Provenance::packages`].
    Package(usize),
    /// The daemon cargo built: [`Provenance::crates`]' first crate.
    Crate,
    /// Contents jailpack made (the `passwd` preset's files).
    Generated,
    /// No database names it; the reason says which were asked.
    Unknown(String),
}

/// What a package database says of one in-root path.
pub(crate) type Lookup = BTreeMap<PathBuf, std::result::Result<Package, String>>;

impl Provenance {
    /// The package record the manifest keeps for the file at `path`.
    pub fn record(&self, path: &Path) -> Option<PackageRecord> {
        match self.owners.get(path)? {
            Owner::Package(index) => self.packages.get(*index).map(Package::record),
            Owner::Crate => self.crates.first().map(Crate::record),
            Owner::Generated | Owner::Unknown(_) => None,
        }
    }
}

/// Finds the owner of each file the manifest lists (`files`, with their
/// recorded sources): the daemon cargo built (a source relative to its
/// workspace) is the first of `crates`; the rest are looked up in the
/// package database of `root`, by their in-root path.
pub fn find(files: &[FileRecord], root: &FsRoot, os: Os, crates: &[Crate]) -> Result<Provenance> {
    let mut owners: BTreeMap<PathBuf, Owner> = BTreeMap::new();
    // In-jail path → in-root source path, for the files a database may own.
    let mut asked: Vec<(PathBuf, PathBuf)> = Vec::new();
    for file in files {
        let owner = match &file.source {
            None => Owner::Generated,
            Some(source) if source.is_relative() && !crates.is_empty() => Owner::Crate,
            Some(source) if source.is_relative() => {
                Owner::Unknown("a build output, not from any package".to_string())
            }
            Some(source) => match in_root(root, source) {
                Some(inside) => {
                    asked.push((file.path.clone(), inside));
                    continue;
                }
                // No build-host path in the reason: it ends up in the SBOM.
                None => Owner::Unknown(
                    "read from outside the sysroot, whose package database knows nothing of it"
                        .to_string(),
                ),
            },
        };
        owners.insert(file.path.clone(), owner);
    }
    let paths: Vec<PathBuf> = asked.iter().map(|(_, source)| source.clone()).collect();
    let lookup = match os {
        Os::Linux => dpkg::owners(root, &paths)?,
        Os::OpenBsd => openbsd::owners(root, &paths)?,
        Os::FreeBsd => freebsd::owners(root, &paths)?,
    };
    let mut packages: Vec<Package> = lookup.values().filter_map(|r| r.clone().ok()).collect();
    packages.sort();
    packages.dedup();
    for (jail_path, source) in asked {
        let owner = match lookup.get(&source) {
            Some(Ok(package)) => packages
                .binary_search(package)
                .map_or_else(|_| Owner::Unknown("not looked up".into()), Owner::Package),
            Some(Err(reason)) => Owner::Unknown(reason.clone()),
            None => Owner::Unknown("not looked up".to_string()),
        };
        owners.insert(jail_path, owner);
    }
    Ok(Provenance {
        packages,
        crates: crates.to_vec(),
        owners,
    })
}

/// A host path as the root sees it (`/usr/lib/…` for
/// `SYSROOT/usr/lib/…`); `None` when it lies outside the root.
/// `path` with its links followed through the root, or as it is when the
/// root cannot resolve it: the name a package database may list it under.
fn resolved(root: &FsRoot, path: &Path) -> PathBuf {
    root.resolve(path)
        .ok()
        .flatten()
        .map_or_else(|| path.to_path_buf(), |r| r.path)
}

fn in_root(root: &FsRoot, host: &Path) -> Option<PathBuf> {
    match root.sysroot() {
        None => Some(host.to_path_buf()),
        Some(sysroot) => host
            .strip_prefix(sysroot)
            .ok()
            .map(|inside| Path::new("/").join(inside)),
    }
}
