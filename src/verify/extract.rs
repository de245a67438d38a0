//! Extracts a jail archive into a scratch folder, trusting nothing in it
//! (it may be a download, and verify runs as root):
//! - the jail root and the directories above it are made here, as real
//!   directories, before the first entry; an entry for any of them that is
//!   not a directory (`j -> /`) is refused, so chroot never lands outside;
//! - every other entry lies under the jail root, with a plain relative name
//!   (no `..`, no control characters); each parent is opened step by step
//!   without following symlinks and each file made with `O_EXCL |
//!   O_NOFOLLOW` in it, so nothing is ever written through a link;
//! - only directories, regular files, symlinks and the allow-listed device
//!   nodes at `/dev/<name>` are taken: no hard links (jailpack never writes
//!   them, and one can alias a host file), FIFOs or block devices;
//! - setuid, setgid and sticky bits are dropped from files (sticky stays on
//!   directories, as a world-writable tmp needs it);
//! - data is streamed through one fixed buffer, within [`Bounds`].
//!
//! Device nodes become empty placeholder files that the run bind-mounts
//! the host's matching nodes onto (creating nodes needs root, and a user
//! namespace never may).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use tar::EntryType;

use super::bounds::Bounds;
use super::devices::{self, DeviceNode};
use super::members::{Members, Meta, unreadable};
use super::names::{self, shown};
use super::nofollow::{Dir, Kind};
use super::signals;
use crate::error::{Error, Result};

/// The copy buffer: what a file of any size costs in memory.
const BUFFER: usize = 64 << 10;

#[derive(Debug)]
pub struct Extracted {
    /// The jail root inside the scratch folder.
    pub root: PathBuf,
    pub devices: Vec<DeviceNode>,
}

/// What to extract, and where.
pub struct Extraction<'a> {
    pub archive: &'a Path,
    /// An empty directory of the scratch folder.
    pub dest: &'a Path,
    /// The jail root's components (checked by the caller: plain names).
    pub jail_root: &'a [OsString],
    /// When extracting as root, the (uid, gid) the program runs as: entries
    /// the archive gives to a user or group other than root get it, the
    /// rest stay root's.
    pub owner: Option<(u32, u32)>,
    pub bounds: Bounds,
}

/// Where the extraction is: the open scratch folder, the modes to set last.
struct State<'a> {
    job: &'a Extraction<'a>,
    dest: Dir,
    /// Directory → mode, set deepest first once everything is written, so
    /// a read-only directory is filled first.
    modes: BTreeMap<Vec<OsString>, u32>,
    devices: Vec<DeviceNode>,
    saw_root: bool,
    buffer: Vec<u8>,
}

/// The archive's tar stream, by its first bytes: gzip (what jailpack
/// writes by default), zstd (`--compression zstd`) or a plain tar.
fn decompressed(file: std::fs::File) -> Box<dyn std::io::Read> {
    use std::io::BufRead;
    let mut file = std::io::BufReader::new(file);
    let magic = file.fill_buf().map(|b| b[..b.len().min(4)].to_vec());
    match magic.as_deref() {
        #[cfg(feature = "zstd")]
        Ok([0x28, 0xb5, 0x2f, 0xfd]) => match zstd::stream::read::Decoder::with_buffer(file) {
            Ok(decoder) => Box::new(decoder),
            Err(e) => Box::new(FailingReader(Some(e))),
        },
        Ok([0x1f, 0x8b, ..]) | Err(_) => Box::new(flate2::bufread::GzDecoder::new(file)),
        Ok(_) => Box::new(file),
    }
}

/// A reader whose first read fails with the error a decoder met.
#[cfg(feature = "zstd")]
struct FailingReader(Option<std::io::Error>);

#[cfg(feature = "zstd")]
impl std::io::Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| std::io::Error::other("unreadable archive")))
    }
}

pub fn extract(job: &Extraction) -> Result<Extracted> {
    let file = open_archive(job.archive)?;
    let mut archive = tar::Archive::new(decompressed(file));
    let mut members = Members::new(&mut archive, job.archive, job.bounds)?;
    let dest = Dir::open(job.dest).map_err(|source| scratch(job.dest, source))?;
    let mut state = State {
        job,
        dest,
        modes: BTreeMap::new(),
        devices: Vec::new(),
        saw_root: false,
        buffer: vec![0; BUFFER],
    };
    state.make_root()?;
    while let Some((meta, mut data)) = members.next_member()? {
        state.take(&meta, &mut data)?;
    }
    if !state.saw_root {
        return Err(Error::Input {
            path: job.archive.to_path_buf(),
            message: format!(
                "the archive holds no entry for the jail root {} its manifest names; give the archive and manifest `cargo xtask jail` wrote together",
                root_display(job.jail_root)
            ),
        });
    }
    state.set_modes()?;
    // The chroot goes by path: check once more that the path is the tree's own.
    state
        .dest
        .walk(job.jail_root)
        .map_err(|e| scratch(&job.dest.join(root_path(job.jail_root)), e))?;
    Ok(Extracted {
        root: job.dest.join(root_path(job.jail_root)),
        devices: state.devices,
    })
}

impl State<'_> {
    /// The jail root and the directories above it, made here, so that no
    /// entry can make them a symlink.
    fn make_root(&mut self) -> Result<()> {
        let root = self.job.jail_root;
        let mut at = self.dest.walk(&[]).map_err(|e| scratch(self.job.dest, e))?;
        for depth in 1..=root.len() {
            let name = &root[depth - 1];
            at.mkdir(name, 0o700)
                .map_err(|e| scratch(&self.job.dest.join(root_path(&root[..depth])), e))?;
            at = at
                .open_dir(name)
                .map_err(|e| scratch(&self.job.dest.join(root_path(&root[..depth])), e))?;
            self.modes.insert(root[..depth].to_vec(), 0o755);
        }
        Ok(())
    }

    fn take(&mut self, meta: &Meta, data: &mut impl Read) -> Result<()> {
        let entry = shown(&meta.name);
        let path = names::entry_components(&meta.name).map_err(|p| self.refuse(&entry, p))?;
        let root = self.job.jail_root;
        let is_dir = meta.kind == EntryType::Directory;
        if meta.size > 0 && meta.kind != EntryType::Regular {
            return Err(self.refuse(
                &entry,
                format!(
                    "a {} carrying {} bytes of data",
                    kind_name(meta.kind),
                    meta.size
                ),
            ));
        }
        if path.len() <= root.len() && root.starts_with(&path) {
            if !is_dir {
                let what = if path.len() == root.len() {
                    "the jail root".to_string()
                } else {
                    format!("{}, a directory above the jail root,", root_display(&path))
                };
                return Err(self.refuse(
                    &entry,
                    format!(
                        "{what} is a {} here; it must be a directory, or the jail would be entered through it",
                        kind_name(meta.kind)
                    ),
                ));
            }
            // Made already; only the root's own mode and owner come from here.
            if path.len() == root.len() {
                self.saw_root = true;
                self.modes.insert(path.clone(), meta.mode & 0o1777);
                if let Some((uid, gid)) = self.owner_of(meta) {
                    let (parent, name) = self.parent(&path, &entry)?;
                    parent
                        .chown(name, uid, gid)
                        .map_err(|e| scratch(&self.job.dest.join(root_path(&path)), e))?;
                }
            }
            return Ok(());
        }
        if !path.starts_with(root) {
            return Err(self.refuse(
                &entry,
                format!("it lies outside the jail root {}", root_display(root)),
            ));
        }
        let (parent, name) = self.parent(&path, &entry)?;
        let target = self.job.dest.join(root_path(&path));
        let made = match meta.kind {
            EntryType::Directory => self.directory(&parent, name, &path, meta.mode),
            EntryType::Regular => self.file(&parent, name, &entry, meta, data),
            EntryType::Symlink => self.symlink(&parent, name, &entry, meta),
            EntryType::Char => self.device(&parent, name, &path, &entry, meta),
            kind => Err(Made::Refused(self.refuse(&entry, refused_kind(kind, meta)))),
        };
        made.map_err(|e| match e {
            Made::Refused(error) => error,
            Made::Io(source) if source.kind() == io::ErrorKind::AlreadyExists => self.refuse(
                &entry,
                "it appears twice in the archive (or where a symlink of the same name is)".into(),
            ),
            Made::Io(source) => scratch(&target, source),
        })?;
        if let Some((uid, gid)) = self.owner_of(meta) {
            parent
                .chown(name, uid, gid)
                .map_err(|e| scratch(&target, e))?;
        }
        Ok(())
    }

    /// The parent directory of an entry inside the root, opened step by
    /// step without following links; missing directories are made.
    fn parent<'p>(&mut self, path: &'p [OsString], entry: &str) -> Result<(Dir, &'p OsStr)> {
        let (name, parents) = path
            .split_last()
            .expect("entries below the root have a name");
        let mut at = self.dest.walk(&[]).map_err(|e| scratch(self.job.dest, e))?;
        for depth in 1..=parents.len() {
            let step = &parents[depth - 1];
            let here = &parents[..depth];
            let opened = match at.open_dir(step) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    at.mkdir(step, 0o700)
                        .map_err(|e| scratch(&self.job.dest.join(root_path(here)), e))?;
                    self.modes.entry(here.to_vec()).or_insert(0o755);
                    at.open_dir(step)
                }
                other => other,
            };
            at = match opened {
                Ok(dir) => dir,
                Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                    let what = match at.kind(step) {
                        Ok(Kind::Symlink) => "a symlink",
                        _ => "not a directory",
                    };
                    return Err(self.refuse(
                        entry,
                        format!(
                            "it lies under {}, which is {what}: nothing is written through a link",
                            shown(root_path(here).as_os_str().as_encoded_bytes())
                        ),
                    ));
                }
                Err(e) => return Err(scratch(&self.job.dest.join(root_path(here)), e)),
            };
        }
        Ok((at, name.as_os_str()))
    }

    fn directory(
        &mut self,
        parent: &Dir,
        name: &OsStr,
        path: &[OsString],
        mode: u32,
    ) -> Result<(), Made> {
        match parent.mkdir(name, 0o700) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Listed again, or made for an entry below it: fine if it
                // is a directory.
                if parent.kind(name).map_err(Made::Io)? != Kind::Directory {
                    return Err(Made::Io(e));
                }
            }
            other => other.map_err(Made::Io)?,
        }
        self.modes.insert(path.to_vec(), mode & 0o1777);
        Ok(())
    }

    fn file(
        &mut self,
        parent: &Dir,
        name: &OsStr,
        entry: &str,
        meta: &Meta,
        data: &mut impl Read,
    ) -> Result<(), Made> {
        let mut out = parent.create_file(name, 0o600).map_err(Made::Io)?;
        match copy_bounded(data, &mut out, meta.size, &mut self.buffer) {
            Ok(()) => {}
            Err(Copy::Write(e)) => return Err(Made::Io(e)),
            Err(Copy::Read(e)) => return Err(Made::Refused(unreadable(self.job.archive, &e))),
            Err(Copy::Interrupted(error)) => return Err(Made::Refused(error)),
            Err(Copy::Size(problem)) => return Err(Made::Refused(self.refuse(entry, problem))),
        }
        // No setuid, setgid or sticky bit on a file.
        set_file_mode(&out, meta.mode & 0o777).map_err(Made::Io)
    }

    fn symlink(
        &mut self,
        parent: &Dir,
        name: &OsStr,
        entry: &str,
        meta: &Meta,
    ) -> Result<(), Made> {
        let target = meta.link.as_deref().unwrap_or_default();
        if target.is_empty() || target.iter().any(|b| names::is_control(*b)) {
            return Err(Made::Refused(self.refuse(
                entry,
                "a symlink with an empty target or control characters in it".into(),
            )));
        }
        // Never followed on this side: inside the chroot it resolves there.
        parent.symlink(target, name).map_err(Made::Io)
    }

    fn device(
        &mut self,
        parent: &Dir,
        name: &OsStr,
        path: &[OsString],
        entry: &str,
        meta: &Meta,
    ) -> Result<(), Made> {
        let (major, minor) = meta.device.unwrap_or((0, 0));
        let inside = &path[self.job.jail_root.len()..];
        let allowed = devices::allowed(inside, major, minor)
            .map_err(|problem| Made::Refused(self.refuse(entry, problem)))?;
        parent.create_file(name, 0o600).map_err(Made::Io)?;
        self.devices.push(DeviceNode {
            path: self.job.dest.join(root_path(path)),
            name: allowed,
        });
        Ok(())
    }

    /// The daemon's IDs for an entry the archive gives to someone other
    /// than root; `None` to leave it root's (or when not extracting as root).
    fn owner_of(&self, meta: &Meta) -> Option<(u32, u32)> {
        let (uid, gid) = self.job.owner?;
        let uid = if [&b"root"[..], b""].contains(&meta.user.as_slice()) {
            0
        } else {
            uid
        };
        let gid = if [&b"root"[..], b"wheel", b""].contains(&meta.group.as_slice()) {
            0
        } else {
            gid
        };
        ((uid, gid) != (0, 0)).then_some((uid, gid))
    }

    fn set_modes(&mut self) -> Result<()> {
        let mut dirs: Vec<(&Vec<OsString>, &u32)> = self.modes.iter().collect();
        dirs.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
        for (path, mode) in dirs {
            let at = self.job.dest.join(root_path(path));
            self.dest
                .walk(path)
                .and_then(|dir| dir.chmod(*mode))
                .map_err(|e| scratch(&at, e))?;
        }
        Ok(())
    }

    fn refuse(&self, entry: &str, problem: String) -> Error {
        Error::Refused {
            archive: self.job.archive.to_path_buf(),
            entry: entry.to_string(),
            problem,
            help: "jailpack never writes such an entry: the archive was altered or made by another tool; do not install it, rebuild it with `cargo xtask jail`".into(),
        }
    }
}

/// How making one entry failed.
enum Made {
    Refused(Error),
    Io(io::Error),
}

enum Copy {
    Read(io::Error),
    Write(io::Error),
    Size(String),
    Interrupted(Error),
}

/// Copies exactly `size` bytes through `buffer`, checking the count as it
/// goes: the header's size was checked against the bounds, and the actual
/// bytes must not exceed it even if a reader gives more.
fn copy_bounded(
    from: &mut impl Read,
    to: &mut impl Write,
    size: u64,
    buffer: &mut [u8],
) -> Result<(), Copy> {
    let mut copied: u64 = 0;
    loop {
        signals::check().map_err(Copy::Interrupted)?;
        let n = match from.read(buffer) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Copy::Read(e)),
        };
        if n == 0 {
            break;
        }
        copied += n as u64;
        if copied > size {
            return Err(Copy::Size(format!(
                "it holds more data than the {size} bytes its header gives"
            )));
        }
        to.write_all(&buffer[..n]).map_err(Copy::Write)?;
    }
    if copied < size {
        return Err(Copy::Size(format!(
            "the archive ends after {copied} of its {size} bytes"
        )));
    }
    Ok(())
}

fn set_file_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// The archive, opened without blocking on a FIFO and refused unless it is
/// a regular file.
fn open_archive(path: &Path) -> Result<File> {
    crate::regular::open_regular(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn refused_kind(kind: EntryType, meta: &Meta) -> String {
    match kind {
        EntryType::Link => format!(
            "a hard link (to {}); jailpack never writes hard links, and one can alias a file outside the jail",
            shown(meta.link.as_deref().unwrap_or_default())
        ),
        EntryType::Block => "a block device; a jail never holds disks".into(),
        EntryType::Fifo => {
            "a FIFO, which blocks whoever opens it; a jail's archive never holds one".into()
        }
        other => format!(
            "an entry of a kind a jail never holds ({})",
            kind_name(other)
        ),
    }
}

fn kind_name(kind: EntryType) -> String {
    match kind {
        EntryType::Regular => "regular file".into(),
        EntryType::Directory => "directory".into(),
        EntryType::Symlink => "symlink".into(),
        EntryType::Link => "hard link".into(),
        EntryType::Char => "character device".into(),
        EntryType::Block => "block device".into(),
        EntryType::Fifo => "FIFO".into(),
        other => format!("{other:?}"),
    }
}

fn root_path(components: &[OsString]) -> PathBuf {
    components.iter().collect()
}

fn root_display(components: &[OsString]) -> String {
    shown(
        Path::new("/")
            .join(root_path(components))
            .as_os_str()
            .as_encoded_bytes(),
    )
}

fn scratch(path: &Path, source: io::Error) -> Error {
    Error::Scratch {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests;
