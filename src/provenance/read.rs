//! Reading a package database's files inside the target's root: looked up
//! through [`FsRoot`] (so a sysroot's absolute links stay in the sysroot),
//! opened only if regular (no FIFO to block on) and read within a bound (a
//! sysroot is someone else's tree; its files may be anything).

use std::io::Read;
use std::path::Path;

use crate::closure::root::FsRoot;
use crate::error::{Error, Result};

/// The bytes of the in-root file `path`, `None` when it does not exist;
/// larger than `max` bytes is an error naming the file.
pub(super) fn read(root: &FsRoot, path: &Path, max: u64) -> Result<Option<Vec<u8>>> {
    let Some(resolved) = root.resolve(path)? else {
        return Ok(None);
    };
    let host = root.host_path(&resolved.path);
    let read_error = |source| Error::Read {
        path: host.clone(),
        source,
    };
    let file = crate::regular::open_regular(&host).map_err(read_error)?;
    let size = file.metadata().map_err(read_error)?.len();
    if size > max {
        return Err(Error::Input {
            path: host.clone(),
            message: format!(
                "{size} bytes is more than a package database file holds ({max} at most); is this root's package database intact?"
            ),
        });
    }
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes).map_err(read_error)?;
    Ok(Some(bytes))
}

/// Like [`read`], for files that only add detail (a licence, a release
/// name): an unreadable one is as good as absent.
pub(super) fn read_optional(root: &FsRoot, path: &Path, max: u64) -> Option<Vec<u8>> {
    read(root, path, max).ok().flatten()
}
