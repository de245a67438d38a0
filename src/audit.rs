//! `audit ROOT`: compares an installed jail with the host (or sysroot) it
//! was made from. Every jail carries its own file list (`/.jailpack.json`,
//! the release manifest without its artifacts), with each file's SHA-256
//! and where the build read it; audit reports
//!
//! - **stale** files, whose source has changed (or gone) since — a security
//!   update the jail has not received: rebuild and reinstall the jail;
//! - **modified** or **missing** files: the jail's copy differs from what it
//!   was given, or is gone;
//! - **unknown** entries: in the jail, but not in its file list (except
//!   inside `writable` directories, which are the daemon's).
//!
//! Sources are read where the build read them; `sysroot` re-roots those
//! that came from the root the jail was made from (a jail made from a
//! sysroot, audited on the target itself: `/`). The daemon's own source is
//! usually a build output, absent where the jail is installed: its copy in
//! the jail is checked, and its source only while it exists.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub use crate::plan::INDEX_PATH;

/// The parts of a manifest audit uses.
#[derive(Debug, Clone, Deserialize)]
struct Index {
    /// The daemon inside the jail.
    #[serde(default)]
    exec: Option<PathBuf>,
    files: Vec<FileRecord>,
    #[serde(default)]
    links: Vec<LinkRecord>,
    #[serde(default)]
    writable: Vec<PathBuf>,
    #[serde(default)]
    devices: Vec<PathBuf>,
    /// Directories the jail ships for their own sake (systemd's mount
    /// points), not only as the parents of files.
    #[serde(default)]
    directories: Vec<DirectoryRecord>,
    #[serde(default)]
    sysroot: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
struct FileRecord {
    path: PathBuf,
    #[serde(default)]
    source: Option<PathBuf>,
    #[serde(default)]
    sha256: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct DirectoryRecord {
    path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
struct LinkRecord {
    path: PathBuf,
    target: PathBuf,
}

/// What to audit.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The installed jail's root directory, e.g. `/var/jail/daytimed`.
    pub root: PathBuf,
    /// Default: `ROOT/.jailpack.json`.
    pub manifest: Option<PathBuf>,
    /// Read the sources under this root instead of where the build read them.
    pub sysroot: Option<PathBuf>,
}

/// One finding; paths are inside the jail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The source changed since the jail was made.
    Stale { path: PathBuf, source: PathBuf },
    /// The source is gone (a library renamed by an upgrade, say).
    SourceGone { path: PathBuf, source: PathBuf },
    /// The jail's copy is not what the jail was given.
    Modified { path: PathBuf },
    /// The jail's copy is gone.
    Missing { path: PathBuf },
    /// In the jail, not in its file list.
    Unknown { path: PathBuf },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Stale { path, source } => write!(
                f,
                "stale    {}: {} has changed since the jail was made; rebuild and reinstall the jail",
                path.display(),
                source.display()
            ),
            Finding::SourceGone { path, source } => write!(
                f,
                "stale    {}: {} is gone from the host; rebuild the jail",
                path.display(),
                source.display()
            ),
            Finding::Modified { path } => write!(
                f,
                "modified {}: differs from what the jail was given",
                path.display()
            ),
            Finding::Missing { path } => write!(f, "missing  {}", path.display()),
            Finding::Unknown { path } => write!(
                f,
                "unknown  {}: not in the jail's file list",
                path.display()
            ),
        }
    }
}

/// Audits one jail; an empty list means nothing changed.
pub fn audit(request: &Request) -> Result<Vec<Finding>> {
    let root = &request.root;
    if !root.is_dir() {
        return Err(Error::Input {
            path: root.clone(),
            message: "not a directory; give the installed jail's root, e.g. /var/jail/<name>"
                .into(),
        });
    }
    let manifest = request
        .manifest
        .clone()
        .unwrap_or_else(|| in_root(root, Path::new(INDEX_PATH)));
    let bytes = std::fs::read(&manifest).map_err(|source| {
        if request.manifest.is_none() && source.kind() == std::io::ErrorKind::NotFound {
            Error::Input {
                path: manifest.clone(),
                message: "the jail has no file list (made by an older jailpack?); pass --manifest with the release's <name>-<version>-<target>.json".into(),
            }
        } else {
            Error::Read {
                path: manifest.clone(),
                source,
            }
        }
    })?;
    let index: Index = serde_json::from_slice(&bytes).map_err(|e| Error::Input {
        path: manifest.clone(),
        message: format!("not a jailpack manifest: {e}"),
    })?;
    let mut findings = Vec::new();
    for file in &index.files {
        let Some(recorded) = &file.sha256 else {
            continue;
        };
        let in_jail = in_root(root, &file.path);
        match sha256_file(&in_jail)? {
            None => findings.push(Finding::Missing {
                path: file.path.clone(),
            }),
            Some(hash) if hash != *recorded => findings.push(Finding::Modified {
                path: file.path.clone(),
            }),
            Some(_) => {}
        }
        let Some(source) = &file.source else {
            continue;
        };
        let recorded_root = index.sysroot.as_deref().unwrap_or(Path::new("/"));
        let source = match (&request.sysroot, source.strip_prefix(recorded_root)) {
            (Some(sysroot), Ok(inside)) => in_root(sysroot, inside),
            _ => source.clone(),
        };
        let daemon = index.exec.as_ref() == Some(&file.path);
        match sha256_file(&source)? {
            None if daemon => {}
            None => findings.push(Finding::SourceGone {
                path: file.path.clone(),
                source,
            }),
            Some(hash) if hash != *recorded => findings.push(Finding::Stale {
                path: file.path.clone(),
                source,
            }),
            Some(_) => {}
        }
    }
    for link in &index.links {
        match std::fs::read_link(in_root(root, &link.path)) {
            Ok(target) if target == link.target => {}
            Ok(_) => findings.push(Finding::Modified {
                path: link.path.clone(),
            }),
            Err(_) => findings.push(Finding::Missing {
                path: link.path.clone(),
            }),
        }
    }
    let mut known: BTreeSet<PathBuf> = BTreeSet::new();
    known.insert(PathBuf::from(INDEX_PATH));
    known.extend(index.files.iter().map(|f| f.path.clone()));
    known.extend(index.links.iter().map(|l| l.path.clone()));
    known.extend(index.devices.iter().cloned());
    let mut directories: BTreeSet<PathBuf> = index.writable.iter().cloned().collect();
    directories.extend(index.directories.iter().map(|d| d.path.clone()));
    for path in known.iter().chain(index.writable.iter()) {
        let mut parent = path.parent();
        while let Some(dir) = parent {
            directories.insert(dir.to_path_buf());
            parent = dir.parent();
        }
    }
    let writable: BTreeSet<PathBuf> = index.writable.iter().cloned().collect();
    unknown(
        root,
        Path::new("/"),
        &known,
        &directories,
        &writable,
        &mut findings,
    )?;
    Ok(findings)
}

/// Walks the jail (never following links) for entries the list lacks.
fn unknown(
    root: &Path,
    dir: &Path,
    known: &BTreeSet<PathBuf>,
    directories: &BTreeSet<PathBuf>,
    writable: &BTreeSet<PathBuf>,
    findings: &mut Vec<Finding>,
) -> Result<()> {
    if writable.contains(dir) {
        return Ok(());
    }
    let host = in_root(root, dir);
    let entries = std::fs::read_dir(&host).map_err(|source| Error::Read {
        path: host.clone(),
        source,
    })?;
    let mut names: BTreeMap<PathBuf, bool> = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: host.clone(),
            source,
        })?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        names.insert(dir.join(entry.file_name()), is_dir);
    }
    for (path, is_dir) in names {
        if is_dir && directories.contains(&path) {
            unknown(root, &path, known, directories, writable, findings)?;
        } else if !known.contains(&path) {
            findings.push(Finding::Unknown { path });
        }
    }
    Ok(())
}

/// An in-jail (absolute) path under `root`, `..` and all clamped.
fn in_root(root: &Path, path: &Path) -> PathBuf {
    let mut out = root.to_path_buf();
    for component in path.components() {
        if let Component::Normal(name) = component {
            out.push(name);
        }
    }
    out
}

/// The SHA-256 of a regular file (links followed); `None` when it is absent.
fn sha256_file(path: &Path) -> Result<Option<String>> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    loop {
        let read = file.read(&mut buffer).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(Some(
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_root() {
        assert_eq!(
            in_root(Path::new("/j"), Path::new("/../etc/../x")),
            Path::new("/j/etc/x")
        );
    }
}
