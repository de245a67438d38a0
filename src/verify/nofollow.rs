//! File operations relative to an open directory that never follow a
//! symlink, for the extracted tree of an untrusted archive: each step of a
//! path is opened with `O_NOFOLLOW | O_DIRECTORY` from the one before, and
//! files are made with `O_CREAT | O_EXCL | O_NOFOLLOW` in their parent's
//! descriptor. Nothing is looked up twice by name, so what was checked is
//! what is written: no symlink swapped in between can redirect a write.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// An open directory.
#[derive(Debug)]
pub struct Dir(OwnedFd);

/// What `lstat` says a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Directory,
    File,
    Symlink,
    Other,
}

const DIR_FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;

/// The most symlinks [`kind_in_root`] follows, as Linux's own limit.
const MAX_LINKS: usize = 40;

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a name"))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl Dir {
    /// Opens a directory the caller made or trusts (the scratch folder);
    /// only its last component must not be a symlink.
    pub fn open(path: &Path) -> io::Result<Dir> {
        let path = c_name(path.as_os_str())?;
        // SAFETY: a valid C string; the descriptor returned is ours alone.
        let fd = check(unsafe { libc::open(path.as_ptr(), DIR_FLAGS) })?;
        Ok(Dir(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The directory `name` in this one; `ELOOP` or `ENOTDIR` when it is a
    /// symlink or something else.
    pub fn open_dir(&self, name: &OsStr) -> io::Result<Dir> {
        let name = c_name(name)?;
        // SAFETY: a valid descriptor and C string.
        let fd = check(unsafe { libc::openat(self.fd(), name.as_ptr(), DIR_FLAGS) })?;
        Ok(Dir(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Opens each of `components` in turn from this directory.
    pub fn walk(&self, components: &[OsString]) -> io::Result<Dir> {
        let mut at = Dir(self.0.try_clone()?);
        for name in components {
            at = at.open_dir(name)?;
        }
        Ok(at)
    }

    pub fn mkdir(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        let name = c_name(name)?;
        // SAFETY: a valid descriptor and C string.
        check(unsafe { libc::mkdirat(self.fd(), name.as_ptr(), mode as libc::mode_t) }).map(drop)
    }

    /// A new file, never one that exists and never through a symlink.
    pub fn create_file(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        let name = c_name(name)?;
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: a valid descriptor and C string; the descriptor returned is ours alone.
        let fd =
            check(unsafe { libc::openat(self.fd(), name.as_ptr(), flags, mode as libc::c_uint) })?;
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// A symlink `name` holding `target` (never followed here).
    pub fn symlink(&self, target: &[u8], name: &OsStr) -> io::Result<()> {
        let target = c_name(OsStr::from_bytes(target))?;
        let name = c_name(name)?;
        // SAFETY: a valid descriptor and C strings.
        check(unsafe { libc::symlinkat(target.as_ptr(), self.fd(), name.as_ptr()) }).map(drop)
    }

    /// Changes the owner of `name` itself, a symlink included.
    pub fn chown(&self, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
        let name = c_name(name)?;
        // SAFETY: a valid descriptor and C string.
        check(unsafe {
            libc::fchownat(
                self.fd(),
                name.as_ptr(),
                uid,
                gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
        .map(drop)
    }

    /// Sets this directory's own mode.
    pub fn chmod(&self, mode: u32) -> io::Result<()> {
        // SAFETY: a valid descriptor.
        check(unsafe { libc::fchmod(self.fd(), mode as libc::mode_t) }).map(drop)
    }

    /// What `name` is, without following it.
    pub fn kind(&self, name: &OsStr) -> io::Result<Kind> {
        Ok(kind_of(&self.lstat(name)?))
    }

    fn lstat(&self, name: &OsStr) -> io::Result<libc::stat> {
        let name = c_name(name)?;
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: a valid descriptor, C string and buffer; fstatat fills it on success.
        check(unsafe {
            libc::fstatat(
                self.fd(),
                name.as_ptr(),
                stat.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
        Ok(unsafe { stat.assume_init() })
    }

    fn readlink(&self, name: &OsStr) -> io::Result<Vec<u8>> {
        let name = c_name(name)?;
        let mut buf = vec![0u8; libc::PATH_MAX as usize];
        // SAFETY: a valid descriptor, C string and buffer of that length.
        let len = unsafe {
            libc::readlinkat(self.fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
        };
        if len < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(len as usize);
        Ok(buf)
    }

    /// The names in this directory, `.` and `..` left out.
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        // fdopendir takes the descriptor over: give it a copy.
        let fd = check(unsafe { libc::fcntl(self.fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
        // SAFETY: fd is a fresh directory descriptor that the stream now owns.
        let stream = unsafe { libc::fdopendir(fd) };
        if stream.is_null() {
            let error = io::Error::last_os_error();
            unsafe { libc::close(fd) };
            return Err(error);
        }
        // Start at the beginning even if the shared offset moved.
        unsafe { libc::rewinddir(stream) };
        let mut names = Vec::new();
        loop {
            // SAFETY: a valid stream; the entry is read before the next call.
            let entry = unsafe { libc::readdir(stream) };
            if entry.is_null() {
                break;
            }
            let name = unsafe { std::ffi::CStr::from_ptr((*entry).d_name.as_ptr()) };
            let bytes = name.to_bytes();
            if bytes != b"." && bytes != b".." {
                names.push(OsString::from_vec(bytes.to_vec()));
            }
        }
        // SAFETY: closes the stream and its descriptor once.
        unsafe { libc::closedir(stream) };
        Ok(names)
    }

    fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

fn kind_of(stat: &libc::stat) -> Kind {
    match stat.st_mode & libc::S_IFMT {
        libc::S_IFDIR => Kind::Directory,
        libc::S_IFREG => Kind::File,
        libc::S_IFLNK => Kind::Symlink,
        _ => Kind::Other,
    }
}

/// What `path` (absolute) names inside the tree at `root`, resolved as the
/// kernel does after chroot(2) into it: symlinks are followed, but `/` and
/// `..` never lead above `root`. Nothing outside `root` is looked at.
pub fn kind_in_root(root: &Dir, path: &[u8]) -> io::Result<Kind> {
    let mut stack: Vec<Dir> = vec![Dir(root.0.try_clone()?)];
    let mut pending: std::collections::VecDeque<Vec<u8>> = split(path).collect();
    let mut links = 0;
    let mut kind = Kind::Directory;
    while let Some(name) = pending.pop_front() {
        let top = stack.last().expect("the root stays on the stack");
        if name == b".." {
            if stack.len() > 1 {
                stack.pop();
            }
            kind = Kind::Directory;
            continue;
        }
        let name = OsString::from_vec(name);
        let stat = top.lstat(&name)?;
        kind = kind_of(&stat);
        match kind {
            Kind::Symlink => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = top.readlink(&name)?;
                if target.starts_with(b"/") {
                    stack.truncate(1);
                }
                for (at, part) in split(&target).enumerate() {
                    pending.insert(at, part);
                }
                kind = Kind::Directory;
            }
            Kind::Directory => {
                if !pending.is_empty() {
                    let next = top.open_dir(&name)?;
                    stack.push(next);
                }
            }
            Kind::File | Kind::Other if !pending.is_empty() => {
                return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
            }
            Kind::File | Kind::Other => {}
        }
    }
    Ok(kind)
}

fn split(path: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
}

/// Makes everything under `path` removable by its owner again (a jail may
/// hold read-only directories), before the scratch folder is deleted.
/// Symlinks are never followed; trees deeper than a bound are left to the
/// removal, which then reports what it could not delete.
pub fn make_removable(path: &Path) {
    if let Ok(dir) = Dir::open(path) {
        make_tree_removable(&dir, 0);
    }
}

fn make_tree_removable(dir: &Dir, depth: usize) {
    // Each level holds two descriptors: stay well below the usual 1024.
    const MAX_DEPTH: usize = 200;
    let _ = dir.chmod(0o700);
    if depth >= MAX_DEPTH {
        return;
    }
    for name in dir.names().unwrap_or_default() {
        if let Ok(child) = dir.open_dir(&name) {
            make_tree_removable(&child, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn walking_stops_at_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        symlink("/", dir.path().join("a/up")).unwrap();
        let base = Dir::open(dir.path()).unwrap();
        assert!(base.walk(&["a".into(), "b".into()]).is_ok());
        // Linux says ENOTDIR for a symlink opened with O_DIRECTORY | O_NOFOLLOW.
        let err = base.walk(&["a".into(), "up".into()]).unwrap_err();
        assert!(
            matches!(err.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)),
            "{err}"
        );
        assert_eq!(base.kind(OsStr::new("a")).unwrap(), Kind::Directory);
        let a = base.open_dir(OsStr::new("a")).unwrap();
        assert_eq!(a.kind(OsStr::new("up")).unwrap(), Kind::Symlink);
        assert!(a.create_file(OsStr::new("up"), 0o600).is_err());
        assert!(a.create_file(OsStr::new("f"), 0o600).is_ok());
        assert!(a.create_file(OsStr::new("f"), 0o600).is_err());
        let mut names = a.names().unwrap();
        names.sort();
        assert_eq!(names, ["b", "f", "up"]);
    }

    #[test]
    fn resolution_in_the_root_never_leaves_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin/d"), "").unwrap();
        symlink("usr/bin", root.join("bin")).unwrap();
        symlink("../../../../..", root.join("usr/up")).unwrap();
        symlink("/", root.join("usr/top")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        // Outside the root, where an escape would land.
        std::fs::write(dir.path().join("outside"), "").unwrap();
        let root = Dir::open(&root).unwrap();
        assert_eq!(kind_in_root(&root, b"/bin/d").unwrap(), Kind::File);
        assert_eq!(kind_in_root(&root, b"/usr/up/bin/d").unwrap(), Kind::File);
        assert_eq!(
            kind_in_root(&root, b"/usr/top/usr/bin/d").unwrap(),
            Kind::File
        );
        assert_eq!(kind_in_root(&root, b"/bin").unwrap(), Kind::Directory);
        assert!(kind_in_root(&root, b"/usr/up/outside").is_err());
        assert!(kind_in_root(&root, b"/../outside").is_err());
        let err = kind_in_root(&root, b"/loop").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
        let err = kind_in_root(&root, b"/usr/bin/d/x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
    }

    #[test]
    fn read_only_trees_become_removable_without_following_links() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o555)).unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("ro/deeper")).unwrap();
        symlink(&outside, tree.join("ro/link")).unwrap();
        std::fs::set_permissions(tree.join("ro"), std::fs::Permissions::from_mode(0o500)).unwrap();
        make_removable(&tree);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&tree.join("ro")), 0o700);
        assert_eq!(mode(&outside), 0o555, "a symlink was followed");
    }
}
