//! The file system the target sees: `/`, or a sysroot standing in for it.
//! Every lookup walks the path one component at a time the way the kernel
//! would inside a chroot, so `..` and absolute symlinks never leave the root,
//! and records the symlinks it passes: the jail must hold them too.
//!
//! A root asks the file system once: what each path component is (its
//! `lstat`, and a link's text), each directory's entries and each whole
//! lookup are remembered for the rest of the run, and shared by every
//! clone of the root. A root is therefore a snapshot of one run: make a
//! new one to see changes made since.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::error::{Error, Result};

/// Linux's MAXSYMLINKS; the BSDs use 32. Past it, a lookup is a loop.
const MAX_SYMLINKS: usize = 40;
/// Paths up to this many components deep have their directory looked up,
/// and remembered, on its own (a lookup each deeper level); deeper ones,
/// which no loader search makes, are walked whole, so a hostile path of
/// thousands of components costs neither stack nor a memo of each prefix.
const MAX_REMEMBERED_DEPTH: usize = 32;

#[derive(Debug, Clone)]
pub struct FsRoot {
    dir: PathBuf,
    cache: Arc<Cache>,
}

impl PartialEq for FsRoot {
    fn eq(&self, other: &Self) -> bool {
        self.dir == other.dir
    }
}

impl Eq for FsRoot {}

/// What the file system answered, by host path. (Keyed by the path's
/// bytes: hashing a `Path` walks its components, several times slower.)
#[derive(Debug, Default)]
struct Cache {
    nodes: Mutex<FxHashMap<OsString, Node>>,
    lookups: Mutex<FxHashMap<OsString, Option<Resolved>>>,
    dirs: Mutex<FxHashMap<OsString, Option<Arc<Vec<OsString>>>>>,
    /// What [`FsRoot::lacks`] learnt of each directory, by in-root path.
    small_dirs: Mutex<FxHashMap<OsString, Option<Small>>>,
}

/// A directory that is absent, or small enough to hold its names.
#[derive(Debug, Clone)]
enum Small {
    Absent,
    Names(Arc<FxHashSet<OsString>>),
}

/// A directory of more entries than this is not listed for
/// [`FsRoot::lacks`]: the loader's own directories hold thousands of
/// names, most of them no library, and nearly every name asked for there
/// is found. The others in search lists (/usr/local/lib, a package's own
/// directory) hold a handful, and nearly every name asked for is absent.
const LISTED_AT_MOST: usize = 256;
/// The longest file name Linux and the BSDs allow.
const NAME_MAX: usize = 255;

/// One path component as `lstat` (and `readlink`) found it.
#[derive(Debug, Clone)]
enum Node {
    Absent,
    Symlink(PathBuf),
    Directory,
    File,
    Other,
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Default for FsRoot {
    fn default() -> Self {
        FsRoot::host()
    }
}

/// A path as the target sees it after following every symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Absolute path inside the root with no symlink left in it.
    pub path: PathBuf,
    /// The links passed on the way, in order.
    pub links: Vec<Link>,
}

/// A symlink inside the root, with a target that is relative and stays in
/// the root wherever the root is mounted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Link {
    /// Absolute in-root path of the link itself (its parent has no symlinks).
    pub path: PathBuf,
    /// What the link should point at: the original text when it is relative
    /// without `..`, else a relative path to where it really leads.
    pub target: PathBuf,
}

enum Step {
    Name(OsString),
    Parent,
    /// The text of link number N has been fully walked.
    EndOfLink(usize),
}

impl FsRoot {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FsRoot {
            dir: dir.into(),
            cache: Arc::default(),
        }
    }

    /// The host's own `/`.
    pub fn host() -> Self {
        FsRoot::new("/")
    }

    /// The sysroot when there is one, else the host's `/`: the one root a
    /// run builds and hands to every stage.
    pub fn of(sysroot: Option<&Path>) -> Self {
        sysroot.map_or_else(FsRoot::host, FsRoot::new)
    }

    /// The sysroot this root stands for, `None` for the host's `/`.
    pub fn sysroot(&self) -> Option<&Path> {
        (self.dir != Path::new("/")).then_some(self.dir.as_path())
    }

    /// Names the root in messages: the sysroot's path, or "the build host".
    pub fn describe(&self) -> String {
        self.sysroot()
            .map_or_else(|| "the build host".to_string(), |s| s.display().to_string())
    }

    /// Where an in-root path is on the build host.
    pub fn host_path(&self, path: &Path) -> PathBuf {
        let relative = path.strip_prefix("/").unwrap_or(path);
        self.dir.join(relative)
    }

    /// `lstat` of a host path, with a link's text: asked once a run.
    fn node(&self, host: &Path) -> Result<Node> {
        if let Some(node) = locked(&self.cache.nodes).get(host.as_os_str()) {
            return Ok(node.clone());
        }
        let node = match std::fs::symlink_metadata(host) {
            Err(e) if is_absent(&e) => Node::Absent,
            Err(source) => {
                return Err(Error::Read {
                    path: host.to_path_buf(),
                    source,
                });
            }
            Ok(m) if m.file_type().is_symlink() => {
                Node::Symlink(std::fs::read_link(host).map_err(|source| Error::Read {
                    path: host.to_path_buf(),
                    source,
                })?)
            }
            Ok(m) if m.is_dir() => Node::Directory,
            Ok(m) if m.is_file() => Node::File,
            Ok(_) => Node::Other,
        };
        locked(&self.cache.nodes).insert(host.as_os_str().to_owned(), node.clone());
        Ok(node)
    }

    /// Whether this run has seen `host` (a path on the build host) to be a
    /// regular file, without looking again.
    pub fn seen_regular(&self, host: &Path) -> bool {
        matches!(
            locked(&self.cache.nodes).get(host.as_os_str()),
            Some(Node::File)
        )
    }

    /// Whether `path` (in the root, from [`FsRoot::resolve`]: no symlink
    /// left in it) is a regular file.
    pub fn is_file(&self, path: &Path) -> bool {
        matches!(self.node(&self.host_path(path)), Ok(Node::File))
    }

    /// Whether `path` (in the root) leads to a directory, links followed.
    pub fn is_dir(&self, path: &Path) -> bool {
        match self.resolve(path) {
            Ok(Some(resolved)) => matches!(
                self.node(&self.host_path(&resolved.path)),
                Ok(Node::Directory)
            ),
            _ => false,
        }
    }

    /// The names in a directory on the build host (none when it cannot be
    /// read), listed once a run.
    pub fn dir_names(&self, host: &Path) -> Arc<Vec<OsString>> {
        if let Some(Some(names)) = locked(&self.cache.dirs).get(host.as_os_str()) {
            return Arc::clone(names);
        }
        let names = std::fs::read_dir(host)
            .map(|entries| entries.filter_map(|e| Some(e.ok()?.file_name())).collect())
            .unwrap_or_default();
        let names = Arc::new(names);
        locked(&self.cache.dirs).insert(host.as_os_str().to_owned(), Some(Arc::clone(&names)));
        names
    }

    /// Whether the directory `dir` (absolute, in the root) certainly has
    /// no entry `name`: it does not exist, or it is a small directory
    /// whose listing lacks the name. `false` when unsure. Asking this
    /// first spares a lookup of every name a search list tries there.
    pub fn lacks(&self, dir: &Path, name: &str) -> bool {
        // A name no directory can hold (too long, say) is left to its own
        // lookup, whose error the loader meets too.
        if name.is_empty() || name.len() > NAME_MAX || name.contains(['/', '\0']) {
            return false;
        }
        let listed = locked(&self.cache.small_dirs).get(dir.as_os_str()).cloned();
        let listed = listed.unwrap_or_else(|| {
            let listed = self.list_small(dir);
            let mut small_dirs = locked(&self.cache.small_dirs);
            small_dirs.insert(dir.as_os_str().to_owned(), listed.clone());
            listed
        });
        match listed {
            Some(Small::Absent) => true,
            Some(Small::Names(names)) => !names.contains(OsStr::new(name)),
            None => false,
        }
    }

    /// What [`FsRoot::lacks`] knows of `dir`: `None` when it is large,
    /// unreadable or its lookup failed.
    fn list_small(&self, dir: &Path) -> Option<Small> {
        let Some(resolved) = self.resolve(dir).ok()? else {
            return Some(Small::Absent);
        };
        let entries = std::fs::read_dir(self.host_path(&resolved.path)).ok()?;
        let mut names = FxHashSet::default();
        for entry in entries {
            if names.len() == LISTED_AT_MOST {
                return None;
            }
            names.insert(entry.ok()?.file_name());
        }
        Some(Small::Names(Arc::new(names)))
    }

    /// Follows `path` (absolute, in the root) to a file that is not a
    /// symlink. `Ok(None)` when some component does not exist.
    pub fn resolve(&self, path: &Path) -> Result<Option<Resolved>> {
        if let Some(known) = locked(&self.cache.lookups).get(path.as_os_str()) {
            return Ok(known.clone());
        }
        let resolved = self.walk(path)?;
        locked(&self.cache.lookups).insert(path.as_os_str().to_owned(), resolved.clone());
        Ok(resolved)
    }

    fn walk(&self, path: &Path) -> Result<Option<Resolved>> {
        let mut steps: VecDeque<Step> = VecDeque::new();
        // The directory is a lookup of its own, remembered: the paths a
        // run looks up share a few directories, so mostly only the last
        // name is new. Walking on from where the directory led is the
        // walk of the whole path.
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty() && *p != Path::new("/"))
            .filter(|_| path.components().count() <= MAX_REMEMBERED_DEPTH);
        let (mut done, before) = match (parent, path.file_name()) {
            (Some(parent), Some(name)) => {
                let resolved = match self.resolve(parent) {
                    Ok(Some(resolved)) => resolved,
                    Ok(None) => return Ok(None),
                    // Named for the path asked for, not its directory.
                    Err(Error::SymlinkLoop { .. }) => {
                        return Err(Error::SymlinkLoop {
                            path: self.host_path(path),
                        });
                    }
                    Err(e) => return Err(e),
                };
                // Most names looked up are no link: the directory's
                // lookup and the name's `lstat` are the whole answer.
                let candidate = resolved.path.join(name);
                match self.node(&self.host_path(&candidate))? {
                    Node::Absent => return Ok(None),
                    Node::Directory | Node::File | Node::Other => {
                        return Ok(Some(Resolved {
                            path: candidate,
                            links: resolved.links,
                        }));
                    }
                    Node::Symlink(_) => {}
                }
                push_front(&mut steps, Path::new(name));
                (resolved.path, resolved.links)
            }
            _ => {
                push_front(&mut steps, path);
                (PathBuf::from("/"), Vec::new())
            }
        };
        // (link path, link text, physical target once known)
        let mut passed: Vec<(PathBuf, PathBuf, Option<PathBuf>)> = Vec::new();
        while let Some(step) = steps.pop_front() {
            let name = match step {
                Step::Parent => {
                    done.pop();
                    continue;
                }
                Step::EndOfLink(index) => {
                    passed[index].2 = Some(done.clone());
                    continue;
                }
                Step::Name(name) => name,
            };
            let candidate = done.join(&name);
            let text = match self.node(&self.host_path(&candidate))? {
                Node::Absent => return Ok(None),
                Node::Symlink(text) => text,
                Node::Directory | Node::File | Node::Other => {
                    done = candidate;
                    continue;
                }
            };
            if before.len() + passed.len() >= MAX_SYMLINKS {
                return Err(Error::SymlinkLoop {
                    path: self.host_path(path),
                });
            }
            steps.push_front(Step::EndOfLink(passed.len()));
            push_front(&mut steps, &text);
            if text.is_absolute() {
                done = PathBuf::from("/");
            }
            passed.push((candidate, text, None));
        }
        let after = passed.into_iter().map(|(link, text, target)| {
            let parent = link.parent().unwrap_or(Path::new("/"));
            let target = match target {
                Some(target) if !is_contained_text(&text) => relative_path(parent, &target),
                _ => text,
            };
            Link { path: link, target }
        });
        let links = before.into_iter().chain(after).collect();
        Ok(Some(Resolved { path: done, links }))
    }
}

/// Pushes the components of `path` in front of the pending steps.
fn push_front(steps: &mut VecDeque<Step>, path: &Path) {
    let mut new: Vec<Step> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => new.push(Step::Name(name.to_os_string())),
            Component::ParentDir => new.push(Step::Parent),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    for step in new.into_iter().rev() {
        steps.push_front(step);
    }
}

/// A link text that cannot lead out of the directory holding the link.
fn is_contained_text(text: &Path) -> bool {
    text.is_relative()
        && text
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// The relative path from directory `from` to `to`, both absolute and free
/// of `.`, `..` and symlinks.
pub fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for component in &to[common..] {
        out.push(component);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Makes an absolute path lexically clean: no `.`, no `..` (clamped at `/`,
/// as the kernel clamps it at a chroot's root).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// `Path`'s own order (component by component) for clean absolute paths
/// (no `.`, `..`, repeated or trailing `/`, as [`normalize`] and lookups
/// make them), found in one pass over their bytes: where they first
/// differ, a `/` (the end of a component) sorts before any other byte.
pub fn path_order(a: &Path, b: &Path) -> std::cmp::Ordering {
    let (a, b) = (a.as_os_str().as_bytes(), b.as_os_str().as_bytes());
    let same = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    match (a.get(same), b.get(same)) {
        (Some(b'/'), Some(_)) => std::cmp::Ordering::Less,
        (Some(_), Some(b'/')) => std::cmp::Ordering::Greater,
        (x, y) => x.cmp(&y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn path_order_is_the_order_of_components() {
        let mut paths: Vec<PathBuf> = [
            "/",
            "/a",
            "/a/b",
            "/a-b",
            "/a.b",
            "/a/b/c",
            "/ab",
            "/a0",
            "/a/b-c",
            "/a/b.c",
            "/usr/lib",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/usr/lib64",
            "/usr/lib-x",
            "/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/libz.so.1",
        ]
        .into_iter()
        .map(PathBuf::from)
        .collect();
        for dir in ["/usr/lib/x86_64-linux-gnu", "/usr/bin", "/etc"] {
            if let Ok(entries) = std::fs::read_dir(dir) {
                paths.extend(entries.filter_map(|e| Some(e.ok()?.path())).take(300));
            }
        }
        assert!(paths.len() > 100, "{}", paths.len());
        for a in &paths {
            for b in &paths {
                assert_eq!(
                    path_order(a, b),
                    a.cmp(b),
                    "{} {}",
                    a.display(),
                    b.display()
                );
            }
        }
    }

    fn sysroot() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/lib/x86_64-linux-gnu")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib64")).unwrap();
        std::fs::write(root.join("usr/lib/x86_64-linux-gnu/ld.so"), "").unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        symlink("usr/lib64", root.join("lib64")).unwrap();
        symlink("/lib/x86_64-linux-gnu/ld.so", root.join("usr/lib64/ld.so")).unwrap();
        dir
    }

    #[test]
    fn merged_usr_interpreter_keeps_every_link_relative() {
        let dir = sysroot();
        let resolved = FsRoot::new(dir.path())
            .resolve(Path::new("/lib64/ld.so"))
            .unwrap()
            .unwrap();
        assert_eq!(resolved.path, Path::new("/usr/lib/x86_64-linux-gnu/ld.so"));
        let links: Vec<_> = resolved
            .links
            .iter()
            .map(|l| (l.path.to_str().unwrap(), l.target.to_str().unwrap()))
            .collect();
        assert_eq!(
            links,
            [
                ("/lib64", "usr/lib64"),
                ("/usr/lib64/ld.so", "../lib/x86_64-linux-gnu/ld.so"),
                ("/lib", "usr/lib"),
            ]
        );
    }

    #[test]
    fn absolute_and_dotdot_links_stay_inside_the_sysroot() {
        let dir = sysroot();
        let root = dir.path();
        symlink("../../../../../../etc/passwd", root.join("usr/lib/escape")).unwrap();
        symlink("/etc/passwd", root.join("usr/lib/absolute")).unwrap();
        let fs = FsRoot::new(root);
        // The host's /etc/passwd exists; the sysroot's does not.
        assert_eq!(fs.resolve(Path::new("/usr/lib/escape")).unwrap(), None);
        assert_eq!(fs.resolve(Path::new("/usr/lib/absolute")).unwrap(), None);
        std::fs::create_dir(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "").unwrap();
        // A root is a snapshot of one run: a new one sees the new file.
        let fs = FsRoot::new(root);
        let escape = fs.resolve(Path::new("/usr/lib/escape")).unwrap().unwrap();
        assert_eq!(escape.path, Path::new("/etc/passwd"));
        assert_eq!(escape.links[0].target, Path::new("../../etc/passwd"));
    }

    #[test]
    fn lacks_is_sure_only_of_absent_and_small_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("small")).unwrap();
        std::fs::write(root.join("small/libx.so.1"), "").unwrap();
        symlink("small", root.join("linked")).unwrap();
        std::fs::create_dir_all(root.join("large")).unwrap();
        for n in 0..=LISTED_AT_MOST {
            std::fs::write(root.join(format!("large/lib{n}.so")), "").unwrap();
        }
        symlink("loop", root.join("loop")).unwrap();
        let fs = FsRoot::new(root);
        assert!(fs.lacks(Path::new("/absent"), "libx.so.1"));
        assert!(fs.lacks(Path::new("/small"), "liby.so.1"));
        assert!(!fs.lacks(Path::new("/small"), "libx.so.1"));
        // Through a link, the directory it leads to.
        assert!(!fs.lacks(Path::new("/linked"), "libx.so.1"));
        assert!(fs.lacks(Path::new("/linked"), "liby.so.1"));
        // Too many names to list, and a lookup that fails: unsure.
        assert!(!fs.lacks(Path::new("/large"), "liby.so.1"));
        assert!(!fs.lacks(Path::new("/loop"), "libx.so.1"));
        // A name no directory holds is left to its lookup's own error.
        assert!(!fs.lacks(Path::new("/small"), &"a".repeat(256)));
        assert!(fs.lacks(Path::new("/small"), &"a".repeat(255)));
    }

    #[test]
    fn symlink_loops_are_errors_not_hangs() {
        let dir = tempfile::tempdir().unwrap();
        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        let err = FsRoot::new(dir.path())
            .resolve(Path::new("/a"))
            .unwrap_err();
        assert!(matches!(err, Error::SymlinkLoop { .. }), "{err}");
        // A loop in a path's directory names the path asked for.
        let err = FsRoot::new(dir.path())
            .resolve(Path::new("/a/libc.so.6"))
            .unwrap_err();
        match err {
            Error::SymlinkLoop { path } => assert!(path.ends_with("a/libc.so.6"), "{path:?}"),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn deep_paths_are_walked_without_deep_recursion() {
        let dir = tempfile::tempdir().unwrap();
        // 40 levels, a link at the second: found through it, its link kept.
        let mut real = dir.path().join("d");
        for _ in 0..40 {
            real.push("d");
        }
        std::fs::create_dir_all(&real).unwrap();
        std::fs::write(real.join("f"), "").unwrap();
        symlink("d", dir.path().join("d/l")).unwrap();
        let asked = format!("/d/l{}/f", "/d".repeat(39));
        let resolved = FsRoot::new(dir.path())
            .resolve(Path::new(&asked))
            .unwrap()
            .unwrap();
        assert_eq!(resolved.path, Path::new(&format!("{}/f", "/d".repeat(41))));
        assert_eq!(resolved.links.len(), 1, "{:?}", resolved.links);
        assert_eq!(resolved.links[0].path, Path::new("/d/l"));
        // 20,000 components (a hostile RUNPATH or PT_INTERP): no answer,
        // and no stack overflow on a 2 MiB thread.
        let hostile = "/a".repeat(20_000);
        let root = FsRoot::new(dir.path());
        let found = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn_scoped(scope, || root.resolve(Path::new(&hostile)).unwrap())
                .unwrap()
                .join()
                .unwrap()
        });
        assert_eq!(found, None);
    }

    #[test]
    fn relative_paths_between_directories() {
        assert_eq!(
            relative_path(Path::new("/usr/lib64"), Path::new("/usr/lib/x/ld.so")),
            Path::new("../lib/x/ld.so")
        );
        assert_eq!(
            relative_path(Path::new("/"), Path::new("/usr/lib")),
            Path::new("usr/lib")
        );
        assert_eq!(normalize(Path::new("/a/../../b/./c")), Path::new("/b/c"));
    }
}
