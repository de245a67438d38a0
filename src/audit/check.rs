//! Each record of the file list against the entry the jail holds in its
//! place: kind, mode, owner, size, link target or device numbers first, and
//! only then, for a regular file of the recorded size, its contents.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use super::findings::Finding;
use super::host::{self, Accounts, Source};
use super::walk::{Blocked, Dir, Kind, Stat, Tree, plain};
use crate::manifest::{DeviceRecord, FileRecord, LinkRecord, Manifest, WritableRecord};
use crate::plan::INDEX_PATH;

/// The jail root's mode: the plan gives it no other.
const ROOT_MODE: u32 = 0o755;

/// Whose an entry must be.
struct Owner {
    uid: Option<u32>,
    gid: Option<u32>,
    /// For messages: `root (0:0)`, `daytimed:daytimed (812:812)`.
    name: String,
}

impl Owner {
    fn root() -> Owner {
        Owner {
            uid: Some(0),
            gid: Some(0),
            name: "root (0:0)".into(),
        }
    }
}

pub(super) struct Audit<'a> {
    tree: Tree,
    manifest: &'a Manifest,
    /// Read the sources under this root instead of where the build read them.
    sysroot: Option<&'a Path>,
    findings: Vec<Finding>,
    /// Directories found missing or replaced, each reported once: nothing
    /// below them is looked at.
    blocked: BTreeSet<PathBuf>,
}

impl<'a> Audit<'a> {
    pub fn new(root: Dir, manifest: &'a Manifest, sysroot: Option<&'a Path>) -> Audit<'a> {
        Audit {
            tree: Tree::new(root),
            manifest,
            sysroot,
            findings: Vec::new(),
            blocked: BTreeSet::new(),
        }
    }

    /// Every check; the findings sorted by path.
    pub fn run(mut self) -> Vec<Finding> {
        let m = self.manifest;
        self.root();
        let mut directories: Vec<_> = m.directories.iter().collect();
        // Parents first, so that a replaced directory hides its contents.
        directories.sort_by(|a, b| a.path.cmp(&b.path));
        for record in directories {
            self.directory(&record.path, record.mode.0, Owner::root());
        }
        let accounts = if m.writable.is_empty() {
            Accounts::default()
        } else {
            Accounts::host()
        };
        for record in &m.writable {
            let owner = daemon_owner(record, &accounts);
            self.directory(&record.path, record.mode.0, owner);
        }
        for record in &m.files {
            self.file(record);
            self.source(record);
        }
        for record in &m.links {
            self.link(record);
        }
        for record in &m.devices {
            self.device(record);
        }
        self.unknown();
        let mut findings = self.findings;
        findings.sort_by(|a, b| a.path().cmp(b.path()));
        findings
    }

    /// The root itself: root's, 0755.
    fn root(&mut self) {
        let path = Path::new("/");
        match self.tree.root().stat_self() {
            Ok(stat) => {
                self.mode(path, &stat, ROOT_MODE);
                self.owner(path, &stat, &Owner::root());
            }
            Err(e) => self.unreadable(path, e),
        }
    }

    fn directory(&mut self, path: &Path, mode: u32, owner: Owner) {
        let Some((_, _, stat)) = self.entry(path) else {
            self.blocked.insert(path.to_path_buf());
            return;
        };
        if stat.kind != Kind::Directory {
            self.block(path, Blocked::Kind(stat.kind));
            return;
        }
        self.mode(path, &stat, mode);
        self.owner(path, &stat, &owner);
    }

    fn file(&mut self, record: &FileRecord) {
        let path = &record.path;
        let Some((dir, name, stat)) = self.entry(path) else {
            return;
        };
        if !self.kind(path, &stat, Kind::File) {
            return;
        }
        self.mode(path, &stat, record.mode.0);
        self.owner(path, &stat, &Owner::root());
        // Another size is another file: nothing to read (a sparse 100 GB
        // file costs one stat).
        if stat.size != record.size {
            self.findings.push(Finding::Modified { path: path.clone() });
            return;
        }
        let digest = dir
            .open_file(&name, &stat)
            .and_then(|file| host::digest(file, record.size));
        match digest {
            Ok(Some(hash)) if hash == record.sha256 => {}
            Ok(_) => self.findings.push(Finding::Modified { path: path.clone() }),
            Err(e) => self.unreadable(path, e),
        }
    }

    fn source(&mut self, record: &FileRecord) {
        let Some(source) = &record.source else {
            return;
        };
        // A relative source is a build output, recorded relative to its
        // workspace: nothing on this host to compare with.
        if !plain(&record.path) || source.is_relative() {
            return;
        }
        let recorded_root = self.manifest.sysroot.as_deref().unwrap_or(Path::new("/"));
        let source = match (self.sysroot, source.strip_prefix(recorded_root)) {
            (Some(sysroot), Ok(inside)) => in_root(sysroot, inside),
            _ => source.clone(),
        };
        // The daemon's source is usually a build output, absent where the
        // jail is installed.
        let daemon = record.path == self.manifest.exec;
        let path = record.path.clone();
        match host::source(&source, record.size, &record.sha256) {
            Source::Same => {}
            Source::Gone if daemon => {}
            Source::Gone => self.findings.push(Finding::SourceGone { path, source }),
            Source::Changed => self.findings.push(Finding::Stale { path, source }),
            Source::Unusable(problem) => self.findings.push(Finding::SourceUnreadable {
                path,
                source,
                problem,
            }),
        }
    }

    fn link(&mut self, record: &LinkRecord) {
        let path = &record.path;
        let Some((dir, name, stat)) = self.entry(path) else {
            return;
        };
        if !self.kind(path, &stat, Kind::Symlink) {
            return;
        }
        self.owner(path, &stat, &Owner::root());
        match dir.read_link(&name) {
            Ok(target) if target == record.target => {}
            Ok(found) => self.findings.push(Finding::LinkChanged {
                path: path.clone(),
                found,
                expected: record.target.clone(),
            }),
            Err(e) => self.unreadable(path, e),
        }
    }

    fn device(&mut self, record: &DeviceRecord) {
        let path = &record.path;
        let Some((_, _, stat)) = self.entry(path) else {
            return;
        };
        if !self.kind(path, &stat, Kind::CharDevice) {
            return;
        }
        self.mode(path, &stat, record.mode.0);
        self.owner(path, &stat, &Owner::root());
        let expected = (record.major, record.minor);
        if stat.rdev != expected {
            self.findings.push(Finding::DeviceChanged {
                path: path.clone(),
                found: stat.rdev,
                expected,
            });
        }
    }

    /// The entry at `path`, with the directory holding it and its name
    /// there; `None` once what stands in the way is reported.
    fn entry(&mut self, path: &Path) -> Option<(Rc<Dir>, OsString, Stat)> {
        if !plain(path) {
            self.findings.push(Finding::Invalid {
                path: path.to_path_buf(),
            });
            return None;
        }
        let (dir, name) = match self.tree.parent(path) {
            Ok(found) => found,
            Err((at, why)) => {
                self.block(&at, why);
                return None;
            }
        };
        match dir.stat(name) {
            Ok(stat) => Some((dir.clone(), name.to_os_string(), stat)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                self.findings.push(Finding::Missing {
                    path: path.to_path_buf(),
                });
                None
            }
            Err(e) => {
                self.unreadable(path, e);
                None
            }
        }
    }

    /// Reports the directory `path` as unreachable, once.
    fn block(&mut self, path: &Path, why: Blocked) {
        if !self.blocked.insert(path.to_path_buf()) {
            return;
        }
        let path = path.to_path_buf();
        self.findings.push(match why {
            Blocked::Missing => Finding::Missing { path },
            Blocked::Kind(found) => Finding::Replaced {
                path,
                found,
                expected: Kind::Directory,
            },
            Blocked::Io(e) => Finding::Unreadable {
                path,
                problem: e.to_string(),
            },
        });
    }

    /// Whether the entry is of the kind expected; reports it if not.
    fn kind(&mut self, path: &Path, stat: &Stat, expected: Kind) -> bool {
        if stat.kind != expected {
            self.findings.push(Finding::Replaced {
                path: path.to_path_buf(),
                found: stat.kind,
                expected,
            });
        }
        stat.kind == expected
    }

    fn mode(&mut self, path: &Path, stat: &Stat, expected: u32) {
        if stat.mode != expected {
            self.findings.push(Finding::ModeChanged {
                path: path.to_path_buf(),
                found: stat.mode,
                expected,
            });
        }
    }

    fn owner(&mut self, path: &Path, stat: &Stat, owner: &Owner) {
        let differs = |want: Option<u32>, have: u32| want.is_some_and(|id| id != have);
        if differs(owner.uid, stat.uid) || differs(owner.gid, stat.gid) {
            self.findings.push(Finding::OwnerChanged {
                path: path.to_path_buf(),
                uid: stat.uid,
                gid: stat.gid,
                expected: owner.name.clone(),
            });
        }
    }

    fn unreadable(&mut self, path: &Path, error: std::io::Error) {
        self.findings.push(Finding::Unreadable {
            path: path.to_path_buf(),
            problem: error.to_string(),
        });
    }

    /// Entries the list does not know, found through directory descriptors
    /// from the root down; only directories the list implies are entered,
    /// so the walk is as deep as the list at most. The insides of writable
    /// directories are the daemon's own.
    fn unknown(&mut self) {
        let m = self.manifest;
        let mut known: BTreeSet<&Path> = BTreeSet::from([Path::new(INDEX_PATH)]);
        known.extend(m.files.iter().map(|f| f.path.as_path()));
        known.extend(m.links.iter().map(|l| l.path.as_path()));
        known.extend(m.devices.iter().map(|d| d.path.as_path()));
        let writable: BTreeSet<&Path> = m.writable.iter().map(|w| w.path.as_path()).collect();
        let mut directories: BTreeSet<&Path> = writable.clone();
        directories.extend(m.directories.iter().map(|d| d.path.as_path()));
        let implied: Vec<&Path> = known
            .iter()
            .chain(&directories)
            .flat_map(|path| path.ancestors().skip(1))
            .collect();
        directories.extend(implied);
        // The walk recurses once per level: no deeper than a path can be.
        directories.retain(|path| plain(path));
        let lists = Lists {
            known,
            directories,
            writable,
        };
        // A descriptor of its own: the walk reports into `self` meanwhile.
        match self.tree.root().open_dir(OsStr::new(".")) {
            Ok(root) => self.walk(&root, Path::new("/"), &lists),
            Err(e) => self.unreadable(Path::new("/"), e),
        }
    }

    fn walk(&mut self, dir: &Dir, at: &Path, lists: &Lists) {
        let mut names = match dir.names() {
            Ok(names) => names,
            Err(e) => return self.unreadable(at, e),
        };
        names.sort();
        for name in names {
            let path = at.join(&name);
            if lists.known.contains(path.as_path()) || lists.writable.contains(path.as_path()) {
                continue;
            }
            if !lists.directories.contains(path.as_path()) {
                self.findings.push(Finding::Unknown { path });
                continue;
            }
            if self.blocked.contains(&path) {
                continue;
            }
            match dir.stat(&name) {
                Ok(stat) if stat.kind == Kind::Directory => match dir.open_dir(&name) {
                    Ok(inside) => self.walk(&inside, &path, lists),
                    Err(e) => self.unreadable(&path, e),
                },
                Ok(stat) => self.block(&path, Blocked::Kind(stat.kind)),
                Err(e) => self.unreadable(&path, e),
            }
        }
    }
}

/// What the unknown-entries walk compares the jail with.
struct Lists<'m> {
    /// Files, links and devices: checked by their records.
    known: BTreeSet<&'m Path>,
    /// Every directory the list has or implies.
    directories: BTreeSet<&'m Path>,
    writable: BTreeSet<&'m Path>,
}

/// A writable directory belongs to the daemon's user and group by name;
/// IDs the host does not know are not judged.
fn daemon_owner(record: &WritableRecord, accounts: &Accounts) -> Owner {
    let uid = accounts.uid(&record.owner);
    let gid = accounts.gid(&record.group);
    let id = |id: Option<u32>| id.map_or("?".to_string(), |id| id.to_string());
    Owner {
        uid,
        gid,
        name: format!(
            "{}:{} ({}:{})",
            record.owner,
            record.group,
            id(uid),
            id(gid)
        ),
    }
}

/// A path under `root`, `..` and all clamped (for sources re-rooted in a
/// sysroot).
pub(super) fn in_root(root: &Path, path: &Path) -> PathBuf {
    let mut out = root.to_path_buf();
    for component in path.components() {
        if let Component::Normal(name) = component {
            out.push(name);
        }
    }
    out
}
