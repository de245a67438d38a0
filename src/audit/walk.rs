//! The installed jail seen only through directory file descriptors.
//!
//! Its daemon may be compromised and may have put a link, a FIFO or a
//! device anywhere it could write. So no path inside the jail is ever
//! handed to the kernel whole: every directory is opened from its parent's
//! descriptor with `O_DIRECTORY | O_NOFOLLOW` (a link or anything else in a
//! directory's place fails instead of being followed), every entry is
//! looked at with `fstatat(AT_SYMLINK_NOFOLLOW)`, and a file is opened only
//! once it is known to be a regular file, without following, blocking or
//! taking a terminal, and checked again after opening.

// st_mode is a u16 on the BSDs and st_dev an i32 on OpenBSD: the casts
// below widen them, and are no-ops on Linux.
#![allow(clippy::unnecessary_cast)]

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

/// The deepest path a file list may name: far more than any jail needs,
/// and a bound on how many directories one lookup or the walk opens.
pub const MAX_DEPTH: usize = 64;

/// What kind of file an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Directory,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Other,
}

impl Kind {
    /// The kind an `st_mode` says.
    pub fn of_mode(mode: u32) -> Kind {
        match mode & libc::S_IFMT as u32 {
            m if m == libc::S_IFREG as u32 => Kind::File,
            m if m == libc::S_IFDIR as u32 => Kind::Directory,
            m if m == libc::S_IFLNK as u32 => Kind::Symlink,
            m if m == libc::S_IFIFO as u32 => Kind::Fifo,
            m if m == libc::S_IFSOCK as u32 => Kind::Socket,
            m if m == libc::S_IFCHR as u32 => Kind::CharDevice,
            m if m == libc::S_IFBLK as u32 => Kind::BlockDevice,
            _ => Kind::Other,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::File => "a regular file",
            Kind::Directory => "a directory",
            Kind::Symlink => "a symbolic link",
            Kind::Fifo => "a FIFO",
            Kind::Socket => "a socket",
            Kind::CharDevice => "a character device",
            Kind::BlockDevice => "a block device",
            Kind::Other => "a file of unknown kind",
        })
    }
}

/// What `fstatat` says of an entry, the entry itself (never a link's target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub kind: Kind,
    /// The permission bits, setuid, setgid and sticky included.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// A device's major and minor numbers.
    pub rdev: (u32, u32),
    dev: u64,
    ino: u64,
}

impl Stat {
    fn new(st: &libc::stat) -> Stat {
        Stat {
            kind: Kind::of_mode(st.st_mode as u32),
            mode: st.st_mode as u32 & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: u64::try_from(st.st_size).unwrap_or(0),
            rdev: (
                libc::major(st.st_rdev) as u32,
                libc::minor(st.st_rdev) as u32,
            ),
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
        }
    }

    /// Whether both describe the same file (not just an equal one).
    pub fn same_file(&self, other: &Stat) -> bool {
        (self.dev, self.ino) == (other.dev, other.ino)
    }
}

/// `fstat` of an open file.
pub fn fstat(fd: &impl AsRawFd) -> io::Result<Stat> {
    let mut st = MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: a valid descriptor and a buffer of the right type.
    if unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstat succeeded, so it filled the buffer.
    Ok(Stat::new(unsafe { st.assume_init_ref() }))
}

/// On Linux directories are opened with `O_PATH`: a handle to look up
/// names from, needing no read permission and reading nothing. Elsewhere
/// (no `O_PATH` on OpenBSD) a plain read-only open of a directory, which
/// does not block either.
#[cfg(any(target_os = "linux", target_os = "android"))]
const LOOKUP: libc::c_int = libc::O_PATH;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const LOOKUP: libc::c_int = libc::O_RDONLY;

/// An open directory of the jail.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

impl AsRawFd for Dir {
    fn as_raw_fd(&self) -> libc::c_int {
        self.fd.as_raw_fd()
    }
}

impl Dir {
    /// The jail's root. Links in this path are followed: it is the
    /// admin's own path (above the jail, out of its daemon's reach).
    pub fn open_root(path: &Path) -> io::Result<Dir> {
        let path = c_name(path.as_os_str())?;
        // SAFETY: a NUL-terminated path; the result is checked.
        let fd = unsafe { libc::open(path.as_ptr(), LOOKUP | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        Ok(Dir { fd: owned(fd)? })
    }

    /// The directory `name` in this one; fails (`ENOTDIR` or `ELOOP`) on
    /// a link or anything else that is not a directory.
    pub fn open_dir(&self, name: &OsStr) -> io::Result<Dir> {
        let flags = LOOKUP | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        Ok(Dir {
            fd: self.open_at(name, flags)?,
        })
    }

    /// The entry `name` itself, never what a link points to.
    pub fn stat(&self, name: &OsStr) -> io::Result<Stat> {
        let c = c_name(name)?;
        let mut st = MaybeUninit::<libc::stat>::zeroed();
        // SAFETY: a valid directory descriptor, a NUL-terminated name and a
        // buffer of the right type.
        let rc = unsafe {
            libc::fstatat(
                self.as_raw_fd(),
                c.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fstatat succeeded, so it filled the buffer.
        Ok(Stat::new(unsafe { st.assume_init_ref() }))
    }

    /// This directory itself.
    pub fn stat_self(&self) -> io::Result<Stat> {
        fstat(self)
    }

    /// The target of the link `name`.
    pub fn read_link(&self, name: &OsStr) -> io::Result<PathBuf> {
        let c = c_name(name)?;
        let mut buffer = vec![0u8; libc::PATH_MAX as usize + 1];
        // SAFETY: the buffer is as long as the length passed.
        let n = unsafe {
            libc::readlinkat(
                self.as_raw_fd(),
                c.as_ptr(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
            )
        };
        let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
        if n >= buffer.len() {
            return Err(io::Error::other("its target is longer than PATH_MAX"));
        }
        buffer.truncate(n);
        Ok(PathBuf::from(OsString::from_vec(buffer)))
    }

    /// The regular file `name`, which `seen` (its `stat`) said it was:
    /// opened without following a link, without blocking (a FIFO put there
    /// since) and without becoming a controlling terminal, then refused
    /// unless it is still that same regular file.
    pub fn open_file(&self, name: &OsStr, seen: &Stat) -> io::Result<File> {
        let flags =
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
        let file = File::from(self.open_at(name, flags)?);
        let now = fstat(&file)?;
        if now.kind != Kind::File || !now.same_file(seen) {
            return Err(io::Error::other("it was replaced while audit looked at it"));
        }
        Ok(file)
    }

    /// The names in this directory (`.` and `..` left out), unsorted.
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        let fd = self.open_at(
            OsStr::new("."),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )?;
        // SAFETY: fdopendir takes over a valid directory descriptor.
        let stream = unsafe { libc::fdopendir(fd.as_raw_fd()) };
        if stream.is_null() {
            return Err(io::Error::last_os_error());
        }
        // The stream owns the descriptor now, and closes it.
        let _ = fd.into_raw_fd();
        let stream = Stream(stream);
        let mut names = Vec::new();
        loop {
            clear_errno();
            // SAFETY: an open stream, used by this thread only.
            let entry = unsafe { libc::readdir(stream.0) };
            if entry.is_null() {
                // NULL is the end, unless errno says it failed.
                let error = io::Error::last_os_error();
                return match error.raw_os_error() {
                    Some(0) | None => Ok(names),
                    Some(_) => Err(error),
                };
            }
            // SAFETY: readdir returned an entry whose name is NUL-terminated.
            let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) }.to_bytes();
            if name != b"." && name != b".." {
                names.push(OsString::from_vec(name.to_vec()));
            }
        }
    }

    fn open_at(&self, name: &OsStr, flags: libc::c_int) -> io::Result<OwnedFd> {
        let c = c_name(name)?;
        // SAFETY: a valid directory descriptor and a NUL-terminated name.
        owned(unsafe { libc::openat(self.as_raw_fd(), c.as_ptr(), flags) })
    }
}

/// A `DIR*` closed on drop.
struct Stream(*mut libc::DIR);

impl Drop for Stream {
    fn drop(&mut self) {
        // SAFETY: the stream is open and closed only here.
        unsafe { libc::closedir(self.0) };
    }
}

/// readdir() tells its end from a failure only through errno.
fn clear_errno() {
    // SAFETY: each returns this thread's errno.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    unsafe {
        *libc::__errno_location() = 0
    };
    #[cfg(target_os = "freebsd")]
    unsafe {
        *libc::__error() = 0
    };
    #[cfg(target_os = "openbsd")]
    unsafe {
        *libc::__errno() = 0
    };
}

fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor just returned by the kernel, owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the name"))
}

/// Whether a file list's path can name an entry of the jail: absolute,
/// without `.`, `..` or NUL bytes, below the root and at most
/// [`MAX_DEPTH`] levels deep.
pub fn plain(path: &Path) -> bool {
    let mut components = path.components();
    if components.next() != Some(Component::RootDir) {
        return false;
    }
    let mut depth = 0;
    for component in components {
        match component {
            Component::Normal(name) if !name.as_bytes().contains(&0) => depth += 1,
            _ => return false,
        }
    }
    (1..=MAX_DEPTH).contains(&depth)
}

/// Why the directory an entry lives in could not be reached.
#[derive(Debug)]
pub enum Blocked {
    Missing,
    /// Something other than a directory is in its place.
    Kind(Kind),
    Io(io::Error),
}

/// Looks up the directories of the jail from its root, one name at a time.
pub struct Tree {
    root: Rc<Dir>,
    /// The last directory looked up: a file list is sorted by path, so
    /// neighbours share it.
    last: Option<(PathBuf, Rc<Dir>)>,
}

impl Tree {
    pub fn new(root: Dir) -> Tree {
        Tree {
            root: Rc::new(root),
            last: None,
        }
    }

    pub fn root(&self) -> &Dir {
        &self.root
    }

    /// The directory holding `path` (a [`plain`] path) and its name there;
    /// or the first directory on the way that cannot be reached, and why.
    pub fn parent<'p>(
        &mut self,
        path: &'p Path,
    ) -> Result<(Rc<Dir>, &'p OsStr), (PathBuf, Blocked)> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            let error = io::Error::new(io::ErrorKind::InvalidInput, "not a path in the jail");
            return Err((path.to_path_buf(), Blocked::Io(error)));
        };
        if let Some((_, dir)) = self.last.as_ref().filter(|(last, _)| last == parent) {
            return Ok((dir.clone(), name));
        }
        let mut dir = self.root.clone();
        let mut at = PathBuf::from("/");
        for component in parent.components() {
            let Component::Normal(part) = component else {
                continue;
            };
            at.push(part);
            let next = dir
                .open_dir(part)
                .map_err(|e| (at.clone(), why_blocked(&dir, part, e)))?;
            dir = Rc::new(next);
        }
        self.last = Some((parent.to_path_buf(), dir.clone()));
        Ok((dir, name))
    }
}

/// Why opening the directory `name` in `dir` failed with `error`.
fn why_blocked(dir: &Dir, name: &OsStr, error: io::Error) -> Blocked {
    let gone = |e: &io::Error| e.raw_os_error() == Some(libc::ENOENT);
    if gone(&error) {
        return Blocked::Missing;
    }
    match error.raw_os_error() {
        Some(libc::ENOTDIR | libc::ELOOP) => match dir.stat(name) {
            Ok(stat) if stat.kind != Kind::Directory => Blocked::Kind(stat.kind),
            Ok(_) => Blocked::Io(error),
            Err(e) if gone(&e) => Blocked::Missing,
            Err(e) => Blocked::Io(e),
        },
        _ => Blocked::Io(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    fn mkfifo(path: &Path) {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn plain_paths_stay_below_the_root() {
        assert!(plain(Path::new("/etc/hosts")));
        // Path components drop a `.` after the root: "/./etc" is /etc.
        assert!(plain(Path::new("/./etc//hosts")));
        for bad in ["", "/", "etc/hosts", "/etc/../x", "/..", "/a\0b"] {
            assert!(!plain(Path::new(bad)), "{bad:?}");
        }
        let deep = "/a".repeat(MAX_DEPTH + 1);
        assert!(!plain(Path::new(&deep)));
        assert!(plain(Path::new(&deep[2..])));
    }

    #[test]
    fn a_link_in_a_directory_s_place_blocks_the_lookup() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("usr/lib")).unwrap();
        std::fs::write(dir.path().join("usr/lib/libc.so"), "x").unwrap();
        symlink("/etc", dir.path().join("etc")).unwrap();
        symlink("loop", dir.path().join("loop")).unwrap();
        let mut tree = Tree::new(Dir::open_root(dir.path()).unwrap());

        let (lib, name) = tree.parent(Path::new("/usr/lib/libc.so")).unwrap();
        assert_eq!(lib.stat(name).unwrap().kind, Kind::File);
        let (at, why) = tree.parent(Path::new("/etc/passwd")).unwrap_err();
        assert_eq!(at, Path::new("/etc"));
        assert!(matches!(why, Blocked::Kind(Kind::Symlink)), "{why:?}");
        let (at, why) = tree.parent(Path::new("/loop/x")).unwrap_err();
        assert_eq!(at, Path::new("/loop"));
        assert!(matches!(why, Blocked::Kind(Kind::Symlink)), "{why:?}");
        let (at, why) = tree.parent(Path::new("/usr/lib/libc.so/x")).unwrap_err();
        assert_eq!(at, Path::new("/usr/lib/libc.so"));
        assert!(matches!(why, Blocked::Kind(Kind::File)), "{why:?}");
        let (at, why) = tree.parent(Path::new("/var/db/x")).unwrap_err();
        assert_eq!(at, Path::new("/var"));
        assert!(matches!(why, Blocked::Missing), "{why:?}");
    }

    #[test]
    fn entries_are_seen_not_followed_and_only_regular_files_open() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "contents").unwrap();
        symlink("/dev/zero", dir.path().join("zero")).unwrap();
        mkfifo(&dir.path().join("fifo"));
        let root = Dir::open_root(dir.path()).unwrap();

        let stat = root.stat(OsStr::new("file")).unwrap();
        assert_eq!((stat.kind, stat.size), (Kind::File, 8));
        let mut text = String::new();
        root.open_file(OsStr::new("file"), &stat)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "contents");

        let zero = root.stat(OsStr::new("zero")).unwrap();
        assert_eq!(zero.kind, Kind::Symlink);
        assert_eq!(
            root.read_link(OsStr::new("zero")).unwrap(),
            Path::new("/dev/zero")
        );
        assert!(root.open_file(OsStr::new("zero"), &zero).is_err());
        // A FIFO swapped in where a file was seen: refused, not waited on.
        let fifo = OsStr::new("fifo");
        assert_eq!(root.stat(fifo).unwrap().kind, Kind::Fifo);
        let err = root.open_file(fifo, &stat).unwrap_err();
        assert!(err.to_string().contains("replaced"), "{err}");

        let mut names = root.names().unwrap();
        names.sort();
        assert_eq!(names, ["fifo", "file", "zero"]);
        assert!(root.open_dir(OsStr::new("zero")).is_err());
    }
}
