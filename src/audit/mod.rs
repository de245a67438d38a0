//! `audit ROOT`: compares an installed jail with the host (or sysroot) it
//! was made from. Every jail carries its own file list (`/.jailpack.json`,
//! the release manifest without its artifacts), with each entry's kind,
//! mode, size, SHA-256, link target or device numbers, and where the build
//! read each file; audit reports
//!
//! - **stale** files, whose source has changed (or gone) since — a security
//!   update the jail has not received: rebuild and reinstall the jail;
//! - **modified** or **missing** entries: the jail's copy differs from what
//!   it was given (contents, kind, mode, owner, link target, device
//!   numbers), or is gone;
//! - **unknown** entries: in the jail, but not in its file list (except
//!   inside `writable` directories, which are the daemon's);
//! - **unreadable** entries or sources, which could not be checked;
//! - **update**s: packages the jail holds in another version than the host
//!   (or sysroot) has now, both versions named (each file's `package` in
//!   the list, or the SBOM alone with [`audit_sbom`]).
//!
//! The jail's daemon may be compromised, so audit (run by root, from cron)
//! trusts nothing the jail shows: it never follows a link inside the jail,
//! never opens anything but a regular file (so never blocks on a FIFO or a
//! device), reads no file past its recorded size, and reports each problem
//! as a finding and goes on (the `walk` module says how). Sources are read where the
//! build read them; `sysroot` re-roots those that came from the root the
//! jail was made from (a jail made from a sysroot, audited on the target
//! itself: `/`). The daemon's own source is usually a build output, absent
//! where the jail is installed: its copy in the jail is checked, and its
//! source only while it exists.

mod check;
mod findings;
mod host;
mod packages;
#[cfg(test)]
mod tests;
mod walk;

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use self::findings::Finding;
pub use self::walk::Kind;
use crate::error::{Error, Result};
use crate::manifest::{MAX_MANIFEST_BYTES, Manifest};
pub use crate::plan::INDEX_PATH;

/// The most file contents one audit reads, in sum over the list's files
/// (each read once in the jail and once at its source): far more than any
/// jail holds, and a bound on the time a hostile list can make audit take.
pub const MAX_CONTENT_BYTES: u64 = 16 << 30;

/// What to audit.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The installed jail's root directory, e.g. `/var/jail/daytimed`.
    pub root: PathBuf,
    /// Default: `ROOT/.jailpack.json`.
    pub manifest: Option<PathBuf>,
    /// Read the sources under this root instead of where the build read them.
    pub sysroot: Option<PathBuf>,
}

/// Audits a jail installed elsewhere from its SBOM alone: which package
/// versions it holds against those of this host (or `sysroot`).
pub fn audit_sbom(sbom: &Path, sysroot: Option<&Path>) -> Result<Vec<Finding>> {
    let bom = crate::cyclonedx::Bom::read(sbom)?;
    let held = packages::held_by_sbom(&bom);
    let mut findings = packages::updates(&held, &packages::host_root(sysroot, None))?;
    findings.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(findings)
}

/// Audits one jail; an empty list means nothing changed.
pub fn audit(request: &Request) -> Result<Vec<Finding>> {
    let root = &request.root;
    let dir = walk::Dir::open_root(root).map_err(|source| match source.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => Error::Input {
            path: root.clone(),
            message: "not a directory; give the installed jail's root, e.g. /var/jail/<name>"
                .into(),
        },
        _ => Error::Read {
            path: root.clone(),
            source,
        },
    })?;
    let manifest = match &request.manifest {
        Some(path) => Manifest::read(path)?,
        None => own_list(&dir, root)?,
    };
    let list = request
        .manifest
        .clone()
        .unwrap_or_else(|| root.join(INDEX_PATH.trim_start_matches('/')));
    if manifest.total_size() > MAX_CONTENT_BYTES {
        return Err(Error::Input {
            path: list,
            message: format!(
                "its files add up to {} bytes, more than audit reads ({MAX_CONTENT_BYTES} at most): jailpack makes no jail that large; audit with the release's manifest",
                manifest.total_size()
            ),
        });
    }
    let mut findings = check::Audit::new(dir, &manifest, request.sysroot.as_deref()).run();
    let host = packages::host_root(request.sysroot.as_deref(), Some(&manifest));
    findings.extend(packages::updates(
        &packages::held_by_list(&manifest),
        &host,
    )?);
    findings.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(findings)
}

/// The jail's own file list, read as carefully as the rest of the jail:
/// the entry itself (no link followed), a regular file, owned by root (or
/// by whoever runs audit) and writable by no one else, of a size a list
/// can have.
fn own_list(root: &walk::Dir, root_path: &Path) -> Result<Manifest> {
    let path = root_path.join(INDEX_PATH.trim_start_matches('/'));
    let name = OsStr::new(INDEX_PATH.trim_start_matches('/'));
    let input = |message: String| Error::Input {
        path: path.clone(),
        message,
    };
    let read_error = |source| Error::Read {
        path: path.clone(),
        source,
    };
    let release = "audit with the release's <name>-<version>-<target>.json instead (--manifest)";
    let stat = match root.stat(name) {
        Ok(stat) => stat,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            return Err(input(format!(
                "the jail has no file list (made by an older jailpack?); {release}"
            )));
        }
        Err(e) => return Err(read_error(e)),
    };
    if stat.kind != walk::Kind::File {
        return Err(input(format!(
            "{} where the jail's file list belongs; {release}",
            stat.kind
        )));
    }
    // SAFETY: geteuid cannot fail.
    let auditor = unsafe { libc::geteuid() };
    if (stat.uid != 0 && stat.uid != auditor) || stat.mode & 0o022 != 0 {
        return Err(input(format!(
            "owned by {}:{} with mode {:04o}: the jail's daemon may have rewritten it; {release}",
            stat.uid, stat.gid, stat.mode
        )));
    }
    if stat.size > MAX_MANIFEST_BYTES {
        return Err(input(format!(
            "{} bytes is larger than any file list jailpack writes ({MAX_MANIFEST_BYTES} at most); {release}",
            stat.size
        )));
    }
    let file = root.open_file(name, &stat).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    Manifest::parse(&bytes, &path)
}
