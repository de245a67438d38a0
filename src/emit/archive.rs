//! The jail tarball: ustar headers built by hand (mode, owner by name,
//! mtime), entries in the plan's sorted order, compressed by
//! [`super::compress`] with a fixed header, so the same plan always gives
//! the same bytes. Files are streamed through a fixed-size buffer, never
//! held whole: memory stays flat whatever the jail's size.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use super::compress::{self, Settings};
use crate::error::{Error, Result};
use crate::plan::{Entry, EntryKind, Plan};

/// How far packing has come, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub bytes: u64,
    pub total_bytes: u64,
    pub files: usize,
    pub total_files: usize,
}

/// Streams the plan's entries as a `.tar.gz` (gzip -6) into `out`.
pub fn write_tar_gz<W: Write + Send>(plan: &Plan, out: W) -> Result<W> {
    write_archive(plan, out, &Settings::default(), &mut |_| {})
}

/// Streams the plan's entries as a tar compressed as `settings` say into
/// `out`, telling `progress` after each entry.
pub fn write_archive<W: Write + Send>(
    plan: &Plan,
    out: W,
    settings: &Settings,
    progress: &mut dyn FnMut(Progress),
) -> Result<W> {
    let archive_error = |source| Error::Write {
        path: "archive".into(),
        source,
    };
    let mut done = Progress {
        bytes: 0,
        total_bytes: plan.entries.iter().map(|e| e.size).sum(),
        files: 0,
        total_files: plan.entries.len(),
    };
    let (out, ()) = compress::compressed(out, settings, |stream| -> Result<(), Failure> {
        let mut builder = tar::Builder::new(stream);
        for entry in &plan.entries {
            append(&mut builder, entry, plan.mtime).map_err(|source| {
                match source.get_ref().and_then(|e| e.downcast_ref::<Changed>()) {
                    Some(changed) => Error::SourceChanged {
                        path: changed.0.clone(),
                    },
                    None => Error::Write {
                        path: entry.path.clone(),
                        source,
                    },
                }
            })?;
            done.bytes += entry.size;
            done.files += 1;
            progress(done);
        }
        builder.finish().map_err(archive_error)?;
        Ok(())
    })
    .map_err(|e| match e {
        Failure::Compress(source) => archive_error(source),
        Failure::Jail(error) => error,
    })?;
    Ok(out)
}

/// Why packing stopped: the compressor, or an entry.
enum Failure {
    Compress(io::Error),
    Jail(Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Compress(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Jail(e)
    }
}

/// A source whose contents are no longer those the plan hashed.
#[derive(Debug)]
struct Changed(PathBuf);

impl std::fmt::Display for Changed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} changed", self.0.display())
    }
}

impl std::error::Error for Changed {}

/// Reads a source and hashes what it reads, so a file that changed since
/// the plan hashed it (into the jail's own file list, written before it)
/// is caught; reads no more than the size the plan recorded, so the size
/// in the header cannot lie either.
struct Hashing<R> {
    inner: io::Take<R>,
    sha256: Sha256,
    read: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha256.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Source files are read in chunks this large.
const READ_BUFFER: usize = 128 << 10;

fn append_source<W: Write>(
    builder: &mut tar::Builder<W>,
    header: &mut Header,
    entry: &Entry,
    source: &Path,
) -> io::Result<()> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", source.display()));
    let changed = || io::Error::other(Changed(source.to_path_buf()));
    let file = crate::regular::open_regular(source).map_err(named)?;
    if file.metadata().map_err(named)?.len() != entry.size {
        return Err(changed());
    }
    let mut reader = Hashing {
        inner: io::BufReader::with_capacity(READ_BUFFER, file).take(entry.size),
        sha256: Sha256::new(),
        read: 0,
    };
    header.set_entry_type(EntryType::Regular);
    header.set_size(entry.size);
    builder.append_data(header, &entry.path, &mut reader)?;
    let digest = crate::checksum::hex(&reader.sha256.finalize());
    if reader.read != entry.size || entry.sha256.as_deref() != Some(digest.as_str()) {
        return Err(changed());
    }
    Ok(())
}

fn append<W: Write>(builder: &mut tar::Builder<W>, entry: &Entry, mtime: u64) -> io::Result<()> {
    let mut header = Header::new_ustar();
    header.set_mtime(mtime);
    header.set_uid(entry.owner.uid);
    header.set_gid(entry.owner.gid);
    header.set_username(&entry.owner.user)?;
    header.set_groupname(&entry.owner.group)?;
    // Never setuid or setgid; sticky only where the plan allows it (a tmp).
    header.set_mode(entry.mode & 0o1777);
    header.set_size(0);
    match &entry.kind {
        EntryKind::Directory => {
            header.set_entry_type(EntryType::Directory);
            builder.append_data(&mut header, &entry.path, io::empty())
        }
        EntryKind::File { source } => append_source(builder, &mut header, entry, source),
        EntryKind::Generated { contents } => {
            header.set_entry_type(EntryType::Regular);
            header.set_size(contents.len() as u64);
            builder.append_data(&mut header, &entry.path, &contents[..])
        }
        EntryKind::Symlink { target } => {
            header.set_entry_type(EntryType::Symlink);
            builder.append_link(&mut header, &entry.path, target)
        }
        EntryKind::CharDevice { major, minor } => {
            header.set_entry_type(EntryType::Char);
            header.set_device_major(*major)?;
            header.set_device_minor(*minor)?;
            builder.append_data(&mut header, &entry.path, io::empty())
        }
    }
}
