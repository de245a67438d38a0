//! Files the jail gets: the ELF closure, and the settings' `files`, each
//! read from the root the target sees (an absolute source inside a sysroot
//! is followed inside the sysroot, never on the build host) and checked by
//! the hardening rules.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::accounts::Who;
use super::jail::Jail;
use super::paths::{checked_absolute, kernel_or_device_dir};
use super::{EntryKind, Owner, hardening, tree};
use crate::closure::root::FsRoot;
use crate::closure::{Closure, LeftOut};
use crate::error::{Error, Result};
use crate::settings::{FileSetting, Settings};

pub(super) fn add_closure(jail: &mut Jail, closure: &Closure) -> Result<()> {
    for file in &closure.files {
        hardening::check_source(
            &hardening::Source {
                setting: "the closure",
                declared: &file.source.to_string_lossy(),
                real: &file.source,
                dest: &file.path,
                allow_secret: false,
                allow_setid: false,
            },
            false,
        )?;
        let mode = if is_executable(&file.source)? {
            0o755
        } else {
            0o644
        };
        let kind = EntryKind::File {
            source: file.source.clone(),
        };
        jail.add(&file.path, kind, mode, None, "the closure")?;
    }
    for link in &closure.links {
        let kind = EntryKind::Symlink {
            target: link.target.clone(),
        };
        jail.add(&link.path, kind, 0o777, None, "the closure")?;
    }
    Ok(())
}

pub(super) fn add_settings_files(
    jail: &mut Jail,
    settings: &Settings,
    manifest: &Path,
    root: &FsRoot,
    who: &Who,
    left_out: &[LeftOut],
) -> Result<Vec<String>> {
    let package_dir = manifest.parent().unwrap_or(Path::new("."));
    let mut warnings = Vec::new();
    let mut to_check = Vec::new();
    for (index, file) in settings.files.iter().enumerate() {
        let field = format!("files[{index}]");
        let dest = dest_of(&field, file)?;
        let owner = owner_of(&field, file, &dest, settings, who)?;
        let source = locate(&file.source, package_dir, root, &format!("{field}.source"))?;
        if source.is_dir {
            let tree = tree::Tree {
                field: &field,
                setting: file,
                dest: &dest,
                source: &source,
                root,
                owner,
                left_out,
            };
            warnings.extend(tree::add(jail, &tree)?);
            continue;
        }
        // Executables belong in `executables`, which jails their closures too.
        let mode = file.mode.unwrap_or(0o644);
        hardening::check_file_mode(&field, &dest, mode)?;
        let kind = EntryKind::File {
            source: source.host.clone(),
        };
        jail.add(&dest, kind, mode, owner, &field)?;
        to_check.push((field, index, source.host, dest));
    }
    // Each source's checks read it whole (a private key may sit anywhere
    // in it): on every core, the first finding in the settings' order.
    let checked = crate::parallel::map(&to_check, |(field, index, real, dest)| {
        let file = &settings.files[*index];
        hardening::check_source(
            &hardening::Source {
                setting: field,
                declared: &file.source,
                real,
                dest,
                allow_secret: file.allow_secret,
                allow_setid: file.allow_setid,
            },
            true,
        )
    });
    checked.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(warnings)
}

/// Where a `files` entry lands inside the jail.
pub(super) fn dest_of(field: &str, file: &FileSetting) -> Result<PathBuf> {
    checked_absolute(
        &format!("{field}.dest"),
        file.dest.as_deref().unwrap_or(&file.source),
    )
}

/// `owner`: the daemon's user or group, and only inside a `writable`
/// directory, where the daemon may rewrite the file anyway; anywhere else
/// a daemon-owned file would be state outside the place kept for it.
fn owner_of(
    field: &str,
    file: &FileSetting,
    dest: &Path,
    settings: &Settings,
    who: &Who,
) -> Result<Option<Owner>> {
    let Some(name) = &file.owner else {
        return Ok(None);
    };
    let refuse = |reason: String| Error::UnsafePath {
        field: format!("{field}.owner"),
        path: name.clone(),
        reason,
    };
    let owner = if *name == who.user {
        Owner::named(&who.user, &who.group)
    } else if *name == who.group {
        Owner::named("root", &who.group)
    } else {
        return Err(refuse(format!(
            "only the daemon's user ({}) or group ({}) may own a file of the jail",
            who.user, who.group
        )));
    };
    let inside_writable = settings
        .writable
        .iter()
        .any(|w| dest.starts_with(&w.path) && dest != Path::new(&w.path));
    if !inside_writable {
        return Err(refuse(format!(
            "{} is not inside a `writable` directory; a file the daemon owns belongs in one (add its directory to `writable`), or drop `owner` to keep it root's",
            dest.display()
        )));
    }
    Ok(Some(owner))
}

/// A `files` source found: its path inside the root (absolute sources),
/// the real path on the build host, and whether it is a directory.
pub(super) struct Located {
    pub in_root: Option<PathBuf>,
    pub host: PathBuf,
    pub is_dir: bool,
}

/// Where a `files` source is read: an absolute one inside the root (links
/// followed the way the target would follow them), a relative one in the
/// package's directory on the build host. It must be a regular file or a
/// directory, and not one the kernel makes up (/proc, /sys) or a device (/dev).
pub(super) fn locate(
    declared: &str,
    package_dir: &Path,
    root: &FsRoot,
    field: &str,
) -> Result<Located> {
    let unsafe_source = |reason: &str| Error::UnsafePath {
        field: field.into(),
        path: declared.into(),
        reason: reason.into(),
    };
    let not_found = |path: PathBuf| Error::Read {
        path,
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
    };
    let declared_path = Path::new(declared);
    let (in_root, host) = if declared_path.is_absolute() {
        let resolved = root
            .resolve(declared_path)?
            .ok_or_else(|| not_found(root.host_path(declared_path)))?;
        let host = root.host_path(&resolved.path);
        (Some(resolved.path), host)
    } else {
        let joined = package_dir.join(declared_path);
        let real = std::fs::canonicalize(&joined).map_err(|source| Error::Read {
            path: joined.clone(),
            source,
        })?;
        (None, real)
    };
    for path in [
        Some(declared_path),
        in_root.as_deref(),
        Some(host.as_path()),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(top) = kernel_or_device_dir(path) {
            return Err(unsafe_source(&format!(
                "{} is under {top}, which the kernel fills (process environments, memory maps, devices): never a file to ship; devices come only from `devices`",
                path.display()
            )));
        }
    }
    let metadata = std::fs::symlink_metadata(&host).map_err(|source| Error::Read {
        path: host.clone(),
        source,
    })?;
    if !metadata.is_file() && !metadata.is_dir() {
        return Err(unsafe_source(
            "neither a regular file nor a directory (a FIFO, socket or device is never copied)",
        ));
    }
    Ok(Located {
        in_root,
        host,
        is_dir: metadata.is_dir(),
    })
}

/// The host path of a regular-file source (tests).
#[cfg(test)]
fn source_file(declared: &str, package_dir: &Path, root: &FsRoot, field: &str) -> Result<PathBuf> {
    let located = locate(declared, package_dir, root, field)?;
    if located.is_dir {
        return Err(Error::Usage(format!("{declared} is a directory")));
    }
    Ok(located.host)
}

fn is_executable(path: &Path) -> Result<bool> {
    let metadata = std::fs::metadata(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_sysroot_link_is_followed_inside_the_sysroot_not_on_the_host() {
        // Regression: etc/ssl/cert.pem -> /etc/real/cert.pem in a sysroot
        // was followed on the build host.
        let sysroot = tempfile::tempdir().unwrap();
        let inside = |p: &str| sysroot.path().join(p);
        std::fs::create_dir_all(inside("etc/ssl")).unwrap();
        std::fs::create_dir_all(inside("etc/real")).unwrap();
        std::fs::write(inside("etc/real/cert.pem"), b"sysroot's").unwrap();
        symlink("/etc/real/cert.pem", inside("etc/ssl/cert.pem")).unwrap();
        let root = FsRoot::new(sysroot.path());
        let got = source_file("/etc/ssl/cert.pem", Path::new("."), &root, "files[0]").unwrap();
        assert_eq!(got, inside("etc/real/cert.pem"));
        // A link to a host file the sysroot lacks is not found, not taken.
        symlink("/etc/hostname", inside("etc/name")).unwrap();
        assert!(source_file("/etc/name", Path::new("."), &root, "files[1]").is_err());
    }

    #[test]
    fn kernel_files_and_devices_are_never_sources() {
        let host = FsRoot::host();
        let dir = tempfile::tempdir().unwrap();
        symlink("/proc/self/environ", dir.path().join("env")).unwrap();
        for (source, package_dir) in [
            ("/proc/self/environ", Path::new(".")),
            ("/proc/self/maps", Path::new(".")),
            ("/sys/kernel/uevent_seqnum", Path::new(".")),
            ("/dev/null", Path::new(".")),
            ("env", dir.path()),
        ] {
            let err = source_file(source, package_dir, &host, "files[0].source")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("files[0].source") && err.contains("the kernel fills"),
                "{source}: {err}"
            );
        }
    }
}
