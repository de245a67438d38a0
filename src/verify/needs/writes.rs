//! The needs to write: a failed creation (`mkdir`, `open` with `O_CREAT`,
//! a unix socket's `bind`, `rename`, `link`) wants a `writable` directory;
//! an `open` for writing refused on a file the jail ships wants the file
//! the daemon's (`owner`), in its own directory made writable. Which
//! directory comes from where the path lies in the file system hierarchy,
//! never from which daemon it is.

use std::path::{Path, PathBuf};

use super::{Fix, Kind, Need, need};
use crate::plan::hardening;
use crate::verify::trace::Event;

/// World temp directories: a daemon's files there need the directory
/// itself, world-writable with the sticky bit.
const TEMP_DIRS: [&str; 2] = ["/tmp", "/var/tmp"];

/// Where the file system hierarchy (and the BSDs) give a daemon a
/// directory of its own: its state, cache, spool, logs, run-time files.
const STATE_PARENTS: [&str; 9] = [
    "/var/lib",
    "/var/cache",
    "/var/spool",
    "/var/log",
    "/var/db",
    "/run",
    "/var/run",
    "/srv",
    "/opt",
];

/// The kernel's file systems: nothing of a jail's settings.
const KERNEL_TOPS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// A failed creation: the directory that must exist and be the daemon's.
pub(super) fn creation(event: &Event) -> Option<Need> {
    let name = event.creates.as_deref()?;
    let errno = event.result.as_ref().err()?;
    if !["EACCES", "EROFS", "ENOENT", "EPERM"].contains(&errno.as_str()) {
        return None;
    }
    if KERNEL_TOPS
        .iter()
        .any(|top| Path::new(name).starts_with(top))
    {
        return None;
    }
    // mkdir wants the daemon's own directory, or the one it makes;
    // any other call, its parent.
    let dir = if event.syscall.starts_with("mkdir") {
        own_dir(Path::new(name)).unwrap_or_else(|| Path::new(name).to_path_buf())
    } else {
        Path::new(name).parent()?.to_path_buf()
    };
    if dir == Path::new("/") {
        return None;
    }
    let temp = TEMP_DIRS.iter().find(|t| dir.starts_with(t));
    let fix = match temp {
        Some(temp) => Fix::Writable((*temp).to_string(), Some(0o1777)),
        // A daemon's own directory (`/var/lib/<d>`, `/run/<d>`, or below).
        None if own_dir(&dir).is_some() => Fix::Writable(dir.display().to_string(), None),
        // Anywhere else (`/var/log`, `/srv`, `/etc/ssl`, `/usr/lib/<d>`,
        // `/root/.ssh`) the directory is the system's or everyone's, or
        // holds what the daemon runs: a person decides.
        None => Fix::Decide {
            line: format!("writable = [{{ path = {:?} }}]", dir.display().to_string()),
            why: format!(
                "{} is not a directory of the daemon's own (such as /var/lib/<name> or /run/<name>): making it writable is a person's decision, or the daemon's configuration can point it at one of its own",
                dir.display()
            ),
        },
    };
    Some(need(Kind::Writable, name, event, fix))
}

/// An `open` for writing refused on a file the jail has (EACCES: it is
/// root's; EROFS): the daemon rewrites or locks it, so it must own it, in
/// its own directory, made writable.
pub(super) fn rewrite(event: &Event) -> Option<Need> {
    let errno = event.result.as_ref().err()?;
    if !event.writes || !["EACCES", "EROFS"].contains(&errno.as_str()) {
        return None;
    }
    let file = Path::new(&event.path);
    if KERNEL_TOPS.iter().any(|top| file.starts_with(top)) {
        return None;
    }
    // Only in a directory of the daemon's own (`/var/lib/<d>/…`): anywhere
    // else (`/var/lib/d.conf`, `/etc/d.conf`, `/usr/share/d.dat`, `/tmp/x`)
    // that is a person's decision (doctor says "permission denied" for it).
    let dir = own_dir(file.parent()?)?;
    if hardening::check_writable_path("writable", &dir).is_err() {
        return None;
    }
    let fix = Fix::Owner {
        file: event.path.clone(),
        dir: dir.display().to_string(),
    };
    Some(need(Kind::Owned, &event.path, event, fix))
}

/// The daemon's own directory that `dir` is or lies in: the one right
/// below a place where the file system hierarchy gives each daemon a
/// directory of its own (`/var/lib/<d>`, `/run/<d>`, …); `None` elsewhere.
fn own_dir(dir: &Path) -> Option<PathBuf> {
    STATE_PARENTS
        .iter()
        .filter_map(|parent| {
            let first = dir.strip_prefix(parent).ok()?.components().next()?;
            Some(Path::new(parent).join(first))
        })
        .max_by_key(|own| own.as_os_str().len())
}
