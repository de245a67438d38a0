//! The jail tarball: ustar headers built by hand (mode, owner by name,
//! mtime), entries in the plan's sorted order, gzip with a fixed header, so
//! the same plan always gives the same bytes.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use tar::{EntryType, Header};

use crate::checksum::sha256_hex;
use crate::error::{Error, Result};
use crate::plan::{Entry, EntryKind, Plan};

/// Streams the plan's entries as a `.tar.gz` into `out`.
pub fn write_tar_gz<W: Write>(plan: &Plan, out: W) -> Result<W> {
    // GzEncoder::new writes no file name and an mtime of 0: nothing varies.
    let gz = GzEncoder::new(out, Compression::best());
    let mut builder = tar::Builder::new(gz);
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
    }
    let gz = builder.into_inner().map_err(|source| Error::Write {
        path: "archive".into(),
        source,
    })?;
    gz.finish().map_err(|source| Error::Write {
        path: "archive".into(),
        source,
    })
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

/// A source's bytes, read whole so a file that changes while we read cannot
/// make the size in the header lie, and hashed again, so a file that
/// changed since the plan hashed it cannot make the jail's own file list
/// (written before it) lie.
fn source_bytes(source: &Path, sha256: Option<&str>) -> io::Result<Vec<u8>> {
    let bytes = std::fs::read(source)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", source.display())))?;
    if sha256 != Some(sha256_hex(&bytes).as_str()) {
        return Err(io::Error::other(Changed(source.to_path_buf())));
    }
    Ok(bytes)
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
        EntryKind::File { source } => {
            let bytes = source_bytes(source, entry.sha256.as_deref())?;
            header.set_entry_type(EntryType::Regular);
            header.set_size(bytes.len() as u64);
            builder.append_data(&mut header, &entry.path, &bytes[..])
        }
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
