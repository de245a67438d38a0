//! An untrusted tar stream, one member at a time, with every size checked
//! against the [`Bounds`] from its header before a byte of it is read.
//! The `tar` crate reads GNU long-name and pax records whole into memory
//! before it yields the member they describe, so a 3 GiB "long name" would
//! cost 3 GiB: the stream is read raw and those records are applied here,
//! each bounded by [`MAX_RECORD`].

use std::io::Read;
use std::path::Path;

use tar::EntryType;

use super::bounds::{Bounds, MAX_RECORD, human};
use super::names::shown;
use super::signals;
use crate::error::{Error, Result};

/// One member with its extension records applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The name as written (not yet checked).
    pub name: Vec<u8>,
    pub link: Option<Vec<u8>>,
    pub kind: EntryType,
    /// The bytes of data that follow.
    pub size: u64,
    pub mode: u32,
    pub user: Vec<u8>,
    pub group: Vec<u8>,
    pub device: Option<(u32, u32)>,
}

/// Extension records waiting for the member they describe.
#[derive(Default)]
struct Pending {
    name: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    user: Option<Vec<u8>>,
    group: Option<Vec<u8>>,
    size: Option<Vec<u8>>,
}

pub struct Members<'a, R: Read> {
    entries: tar::Entries<'a, R>,
    bounds: Bounds,
    archive: &'a Path,
    count: u64,
    total: u64,
    pending: Pending,
}

impl<'a, R: Read> Members<'a, R> {
    pub fn new(archive: &'a mut tar::Archive<R>, path: &'a Path, bounds: Bounds) -> Result<Self> {
        let entries = archive
            .entries()
            .map_err(|e| unreadable(path, &e))?
            .raw(true);
        Ok(Members {
            entries,
            bounds,
            archive: path,
            count: 0,
            total: 0,
            pending: Pending::default(),
        })
    }

    /// The next member and the reader of its data, `None` at the end.
    pub fn next_member(&mut self) -> Result<Option<(Meta, tar::Entry<'a, R>)>> {
        loop {
            signals::check()?;
            let Some(entry) = self.entries.next() else {
                if self.pending.name.is_some() || self.pending.link.is_some() {
                    return Err(self.bad(
                        "(end of archive)",
                        "a long-name or pax record with no member after it",
                    ));
                }
                return Ok(None);
            };
            let mut entry = entry.map_err(|e| unreadable(self.archive, &e))?;
            let header = entry.header();
            let raw_name = header.path_bytes().into_owned();
            let shown_name = shown(&raw_name);
            let kind = header.entry_type();
            let size = header.entry_size().map_err(|e| {
                self.bad(&shown_name, &format!("its size field is unreadable: {e}"))
            })?;
            self.count_one(&shown_name, size)?;
            match kind {
                EntryType::GNULongName => {
                    self.pending.name = Some(self.record(&mut entry, size, &shown_name)?)
                }
                EntryType::GNULongLink => {
                    self.pending.link = Some(self.record(&mut entry, size, &shown_name)?)
                }
                EntryType::XHeader => {
                    let record = self.record(&mut entry, size, &shown_name)?;
                    self.pax(&record, &shown_name)?;
                }
                // Applies to the whole archive: modification times and the like.
                EntryType::XGlobalHeader => drop(self.record(&mut entry, size, &shown_name)?),
                _ => {
                    let meta = self.meta(&entry, raw_name, kind, size)?;
                    return Ok(Some((meta, entry)));
                }
            }
        }
    }

    /// Counts an entry against the bounds, before its data is read.
    fn count_one(&mut self, name: &str, size: u64) -> Result<()> {
        self.count += 1;
        if self.count > self.bounds.entries {
            return Err(self.refuse(
                name,
                format!(
                    "the archive holds more than {} entries, more than its manifest accounts for",
                    self.bounds.entries
                ),
            ));
        }
        if size > self.bounds.entry {
            return Err(self.refuse(
                name,
                format!(
                    "it is {}, more than the {} allowed for one entry",
                    human(size),
                    human(self.bounds.entry)
                ),
            ));
        }
        self.total = self.total.saturating_add(size);
        if self.total > self.bounds.total {
            return Err(self.refuse(
                name,
                format!(
                    "with it the archive unpacks to more than the {} allowed in all",
                    human(self.bounds.total)
                ),
            ));
        }
        Ok(())
    }

    /// A long-name or pax record's bytes, bounded.
    fn record(&self, entry: &mut tar::Entry<'a, R>, size: u64, name: &str) -> Result<Vec<u8>> {
        if size > MAX_RECORD {
            return Err(self.bad(
                name,
                &format!(
                    "a long-name or pax record of {}, far more than any name needs",
                    human(size)
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        entry
            .take(MAX_RECORD)
            .read_to_end(&mut bytes)
            .map_err(|e| unreadable(self.archive, &e))?;
        // GNU long names end with a NUL.
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        Ok(bytes)
    }

    fn pax(&mut self, record: &[u8], name: &str) -> Result<()> {
        for extension in tar::PaxExtensions::new(record) {
            let extension =
                extension.map_err(|e| self.bad(name, &format!("a malformed pax record: {e}")))?;
            let value = extension.value_bytes().to_vec();
            match extension.key_bytes() {
                b"path" => self.pending.name = Some(value),
                b"linkpath" => self.pending.link = Some(value),
                b"uname" => self.pending.user = Some(value),
                b"gname" => self.pending.group = Some(value),
                b"size" => self.pending.size = Some(value),
                key if key.starts_with(b"GNU.sparse") => {
                    return Err(self.bad(name, "a sparse file, which a jail never holds"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn meta(
        &mut self,
        entry: &tar::Entry<'a, R>,
        raw_name: Vec<u8>,
        kind: EntryType,
        size: u64,
    ) -> Result<Meta> {
        let pending = std::mem::take(&mut self.pending);
        let header = entry.header();
        let name = pending.name.unwrap_or(raw_name);
        let shown_name = shown(&name);
        // The data that follows is the header's size: read raw, a pax size
        // that differs would make the rest of the stream misread.
        if let Some(pax_size) = pending.size
            && pax_size != size.to_string().as_bytes()
        {
            return Err(self.bad(&shown_name, "its pax size differs from its header's"));
        }
        let mode = header
            .mode()
            .map_err(|e| self.bad(&shown_name, &format!("its mode is unreadable: {e}")))?;
        let device = if kind == EntryType::Char || kind == EntryType::Block {
            let number = |n: std::io::Result<Option<u32>>| n.ok().flatten();
            match (number(header.device_major()), number(header.device_minor())) {
                (Some(major), Some(minor)) => Some((major, minor)),
                _ => return Err(self.bad(&shown_name, "a device node without readable numbers")),
            }
        } else {
            None
        };
        Ok(Meta {
            link: pending
                .link
                .or_else(|| header.link_name_bytes().map(|l| l.into_owned())),
            user: pending
                .user
                .unwrap_or_else(|| header.username_bytes().unwrap_or_default().to_vec()),
            group: pending
                .group
                .unwrap_or_else(|| header.groupname_bytes().unwrap_or_default().to_vec()),
            name,
            kind,
            size,
            mode,
            device,
        })
    }

    /// A structural problem with the archive.
    fn bad(&self, entry: &str, problem: &str) -> Error {
        Error::Refused {
            archive: self.archive.to_path_buf(),
            entry: entry.to_string(),
            problem: problem.to_string(),
            help: "jailpack never writes such an entry: the archive was altered or made by another tool; do not install it, rebuild it with `cargo xtask jail`".into(),
        }
    }

    /// An entry past a bound.
    fn refuse(&self, entry: &str, problem: String) -> Error {
        Error::Refused {
            archive: self.archive.to_path_buf(),
            entry: entry.to_string(),
            problem,
            help: self.bounds.help(),
        }
    }
}

/// The archive's bytes could not be read as gzip and tar.
pub fn unreadable(archive: &Path, error: &std::io::Error) -> Error {
    Error::Input {
        path: archive.to_path_buf(),
        message: format!(
            "not a readable .tar.gz ({error}); give the jail archive `cargo xtask jail` wrote"
        ),
    }
}
