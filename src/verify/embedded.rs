//! The jail's own manifest, `/.jailpack.json`, read from the archive when
//! no manifest lies beside it: a renamed or downloaded archive can still be
//! checked. The archive is untrusted: it is streamed through the same
//! bounded member reader as extraction, only that one member's data is
//! read (at most [`MAX_INDEX`] bytes), and its name must be exactly the
//! jail root the manifest itself gives, plus `.jailpack.json`.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tar::EntryType;

use super::bounds::Bounds;
use super::members::{Members, unreadable};
use super::names::{absolute_components, entry_components, shown};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::plan::INDEX_PATH;

/// The most a jail's own file list may take.
const MAX_INDEX: u64 = 16 << 20;

/// The bounds for the scan: the archive's own sizes are not known yet.
const SCAN_BOUNDS: Bounds = Bounds {
    total: 4 << 30,
    entry: 4 << 30,
    entries: 1 << 20,
    from_flag: false,
};

/// The manifest inside `archive`, and where it was found (for messages).
pub fn read(archive: &Path) -> Result<(Manifest, std::path::PathBuf)> {
    let file = crate::regular::open_regular(archive).map_err(|source| Error::Read {
        path: archive.to_path_buf(),
        source,
    })?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut members = Members::new(&mut tar, archive, SCAN_BOUNDS)?;
    let index_name = INDEX_PATH.trim_start_matches('/');
    while let Some((meta, entry)) = members.next_member()? {
        let Ok(components) = entry_components(&meta.name) else {
            continue;
        };
        if components.last().map(|c| c.as_bytes()) != Some(index_name.as_bytes()) {
            continue;
        }
        let shown_name = shown(&meta.name);
        let at = archive.join(&shown_name);
        if meta.kind != EntryType::Regular || meta.size > MAX_INDEX {
            return Err(Error::Input {
                path: at,
                message: format!(
                    "not a regular file of at most {MAX_INDEX} bytes; this archive's own manifest cannot be read: give --manifest FILE"
                ),
            });
        }
        let mut bytes = Vec::new();
        entry
            .take(MAX_INDEX)
            .read_to_end(&mut bytes)
            .map_err(|e| unreadable(archive, &e))?;
        let manifest = Manifest::parse(&bytes, &at)?;
        let root = absolute_components(manifest.jail_root.as_os_str().as_bytes()).map_err(|p| {
            Error::Input {
                path: at.clone(),
                message: format!("its jail_root: {p}"),
            }
        })?;
        let expected: Vec<OsString> = root
            .into_iter()
            .chain(std::iter::once(OsString::from(index_name)))
            .collect();
        if components != expected {
            return Err(Error::Input {
                path: at,
                message: format!(
                    "it lies at {shown_name} while it names the jail root {}: a jail's own manifest sits at its root; give --manifest FILE",
                    manifest.jail_root.display()
                ),
            });
        }
        return Ok((manifest, at));
    }
    Err(Error::Input {
        path: archive.to_path_buf(),
        message: format!(
            "no manifest beside it ({}) and no {INDEX_PATH} inside it: give --manifest FILE",
            super::default_manifest(archive).display()
        ),
    })
}
