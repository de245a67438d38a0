//! The jail under construction: entries keyed by their absolute in-jail
//! path, each with the directories above it, and a conflict when two
//! settings want one place for different things.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::paths::archive_path;
use super::{Entry, EntryKind, Owner};
use crate::closure::target::Os;
use crate::error::{Error, Result};

/// The entries under construction, keyed by absolute in-jail path.
pub(super) struct Jail {
    root: PathBuf,
    os: Os,
    entries: BTreeMap<PathBuf, Entry>,
}

impl Jail {
    pub(super) fn new(root: &Path, os: Os) -> Self {
        Jail {
            root: root.to_path_buf(),
            os,
            entries: BTreeMap::new(),
        }
    }

    /// Adds `path` (absolute, inside the jail) and every directory above it
    /// up to the jail root. `origin` names the setting for conflict messages.
    pub(super) fn add(
        &mut self,
        path: &Path,
        kind: EntryKind,
        mode: u32,
        owner: Option<Owner>,
        origin: &str,
    ) -> Result<()> {
        if path == Path::new("/") {
            return Err(Error::UnsafePath {
                field: origin.to_string(),
                path: "/".to_string(),
                reason: "the jail root itself is root-owned and cannot be replaced".to_string(),
            });
        }
        if let EntryKind::Symlink { target } = &kind {
            check_link(path, target)?;
        }
        let mut parent = path.parent();
        while let Some(dir) = parent.filter(|d| *d != Path::new("/")) {
            self.insert(
                dir,
                EntryKind::Directory,
                0o755,
                Owner::root(self.os),
                origin,
                true,
            )?;
            parent = dir.parent();
        }
        let owner = owner.unwrap_or_else(|| Owner::root(self.os));
        self.insert(path, kind, mode, owner, origin, false)
    }

    fn insert(
        &mut self,
        path: &Path,
        kind: EntryKind,
        mode: u32,
        owner: Owner,
        origin: &str,
        implied: bool,
    ) -> Result<()> {
        let entry = Entry {
            path: archive_path(&self.root.join(archive_path(path))),
            kind,
            mode,
            owner,
            origin: origin.to_string(),
            sha256: None,
            size: 0,
        };
        match self.entries.get(path) {
            None => {
                self.entries.insert(path.to_path_buf(), entry);
            }
            Some(old) if old.kind == EntryKind::Directory && entry.kind == EntryKind::Directory => {
                // An explicit directory (writable) wins over one implied by a file under it.
                if !implied {
                    self.entries.insert(path.to_path_buf(), entry);
                }
            }
            Some(old)
                if (&old.kind, old.mode, &old.owner) == (&entry.kind, entry.mode, &entry.owner) => {
            }
            Some(old) => {
                return Err(Error::Conflict {
                    path: path.display().to_string(),
                    first: format!("{} from {}", describe(&old.kind), old.origin),
                    second: format!("{} from {origin}", describe(&entry.kind)),
                });
            }
        }
        Ok(())
    }

    /// The jail root first, then everything sorted by path.
    pub(super) fn into_entries(self) -> Vec<Entry> {
        let root = Entry {
            path: archive_path(&self.root),
            kind: EntryKind::Directory,
            mode: 0o755,
            owner: Owner::root(self.os),
            origin: "root".to_string(),
            sha256: None,
            size: 0,
        };
        std::iter::once(root)
            .chain(self.entries.into_values())
            .collect()
    }
}

/// A link must be relative and, read from its own directory, stay in the jail.
fn check_link(path: &Path, target: &Path) -> Result<()> {
    let depth = path
        .parent()
        .map_or(0, |p| p.components().count().saturating_sub(1));
    let mut level = depth as isize;
    let mut escapes = target.is_absolute();
    for component in target.components() {
        match component {
            std::path::Component::ParentDir => level -= 1,
            std::path::Component::Normal(_) => level += 1,
            _ => {}
        }
        escapes |= level < 0;
    }
    if escapes {
        return Err(Error::UnsafePath {
            field: format!("symlink {}", path.display()),
            path: target.display().to_string(),
            reason: "a jail's symlinks must be relative and stay inside the jail".into(),
        });
    }
    Ok(())
}

fn describe(kind: &EntryKind) -> String {
    match kind {
        EntryKind::Directory => "a directory".into(),
        EntryKind::File { source } => format!("a copy of {}", source.display()),
        EntryKind::Generated { .. } => "a generated file".into(),
        EntryKind::Symlink { target } => format!("a link to {}", target.display()),
        EntryKind::CharDevice { major, minor } => format!("a device {major},{minor}"),
    }
}

impl Jail {
    /// The entries so far, by in-jail path (the root not among them).
    pub(super) fn entries(&self) -> &BTreeMap<PathBuf, Entry> {
        &self.entries
    }
}
