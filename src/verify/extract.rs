//! Extracts a jail archive into a scratch folder, trusting nothing in it:
//! every entry must lie under the jail root the manifest names, nothing is
//! written through a symlink, and device nodes become empty placeholder
//! files that the run bind-mounts the host's matching nodes onto (creating
//! nodes needs root, and a user namespace never may).

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// A device node the archive asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// The placeholder file in the extracted jail.
    pub path: PathBuf,
    pub major: u32,
    pub minor: u32,
}

#[derive(Debug)]
pub struct Extracted {
    /// The jail root inside the scratch folder.
    pub root: PathBuf,
    pub devices: Vec<DeviceNode>,
}

/// Extracts `archive` (a `.tar.gz`) under `dest`. `owner`, when extracting
/// as root, is the (uid, gid) the daemon will run as: entries the archive
/// gives to a user or group other than root get it, the rest stay root's.
pub fn extract(
    archive: &Path,
    dest: &Path,
    jail_root: &Path,
    owner: Option<(u32, u32)>,
) -> Result<Extracted> {
    let bad = |message: String| Error::Input {
        path: archive.to_path_buf(),
        message,
    };
    let read_error = |source| Error::Read {
        path: archive.to_path_buf(),
        source,
    };
    let jail_rel = jail_root
        .strip_prefix("/")
        .unwrap_or(jail_root)
        .to_path_buf();
    let file = std::fs::File::open(archive).map_err(read_error)?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut devices = Vec::new();
    let mut directories: Vec<(PathBuf, u32)> = Vec::new();
    let mut saw_root = false;
    for entry in tar.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        let raw = entry.path().map_err(read_error)?.into_owned();
        let relative = clean(&raw).ok_or_else(|| {
            bad(format!(
                "entry {} is not a plain relative path",
                raw.display()
            ))
        })?;
        let header = entry.header();
        let kind = header.entry_type();
        let mode = header.mode().map_err(read_error)? & 0o1777;
        if !relative.starts_with(&jail_rel) {
            // GNU tar lists the directories above the root when asked to.
            if kind.is_dir() && jail_rel.starts_with(&relative) {
                continue;
            }
            return Err(bad(format!(
                "entry {} lies outside the jail root {}",
                relative.display(),
                jail_root.display()
            )));
        }
        saw_root |= relative == jail_rel;
        let target = dest.join(&relative);
        no_symlink_above(dest, &relative).map_err(bad)?;
        let user = header.username().ok().flatten().unwrap_or("").to_string();
        let group = header.groupname().ok().flatten().unwrap_or("").to_string();
        let write_error = |source| Error::Write {
            path: target.clone(),
            source,
        };
        if kind.is_dir() {
            match std::fs::symlink_metadata(&target) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(bad(format!("{} appears twice", relative.display())));
                }
                Err(_) => std::fs::create_dir_all(&target).map_err(write_error)?,
            }
            directories.push((target.clone(), mode));
        } else if kind.is_file() {
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
                .map_err(write_error)?;
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(read_error)?;
            std::io::Write::write_all(&mut out, &bytes).map_err(write_error)?;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                .map_err(write_error)?;
        } else if kind.is_symlink() {
            let link = entry
                .link_name()
                .map_err(read_error)?
                .ok_or_else(|| bad(format!("symlink {} has no target", relative.display())))?;
            std::os::unix::fs::symlink(&link, &target).map_err(write_error)?;
        } else if kind.is_character_special() {
            let major = header.device_major().ok().flatten().unwrap_or(0);
            let minor = header.device_minor().ok().flatten().unwrap_or(0);
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
                .map_err(write_error)?;
            devices.push(DeviceNode {
                path: target.clone(),
                major,
                minor,
            });
        } else if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        } else {
            return Err(bad(format!(
                "entry {} is of a kind a jail never holds ({kind:?})",
                relative.display()
            )));
        }
        if let Some((uid, gid)) = owner {
            let uid = if user == "root" || user.is_empty() {
                0
            } else {
                uid
            };
            let gid = if ["root", "wheel", ""].contains(&group.as_str()) {
                0
            } else {
                gid
            };
            if (uid, gid) != (0, 0) {
                std::os::unix::fs::lchown(&target, Some(uid), Some(gid)).map_err(write_error)?;
            }
        }
    }
    if !saw_root {
        return Err(bad(format!(
            "the archive holds no entry for the jail root {} its manifest names",
            jail_root.display()
        )));
    }
    // Modes last, deepest first, so a read-only directory is filled first.
    for (dir, mode) in directories.iter().rev() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(*mode)).map_err(
            |source| Error::Write {
                path: dir.clone(),
                source,
            },
        )?;
    }
    Ok(Extracted {
        root: dest.join(jail_rel),
        devices,
    })
}

/// The path without `./`, or `None` if it has `..`, is absolute or empty.
fn clean(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Refuses an entry whose parent, inside `dest`, is reached through a
/// symlink: writing there could land outside the scratch folder.
fn no_symlink_above(dest: &Path, relative: &Path) -> std::result::Result<(), String> {
    let mut at = dest.to_path_buf();
    let parents: Vec<_> = relative
        .parent()
        .map_or_else(Vec::new, |p| p.components().collect());
    for component in parents {
        at.push(component);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!(
                "entry {} lies under the symlink {}",
                relative.display(),
                at.strip_prefix(dest).unwrap_or(&at).display()
            ));
        }
    }
    Ok(())
}

/// Makes everything under `dir` removable by its owner again (a jail may
/// hold read-only directories), before the scratch folder is deleted.
pub fn make_removable(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            make_removable(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, tar::EntryType, &str)]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar.gz");
        let file = std::fs::File::create(&path).unwrap();
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ));
        for (name, kind, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(0o755);
            header.set_size(if kind.is_file() { data.len() as u64 } else { 0 });
            if kind.is_symlink() {
                builder.append_link(&mut header, name, data).unwrap();
            } else {
                builder
                    .append_data(&mut header, name, data.as_bytes())
                    .unwrap();
            }
        }
        builder.into_inner().unwrap().finish().unwrap();
        (dir, path)
    }

    #[test]
    fn nothing_is_written_through_a_symlink_or_outside_the_root() {
        use tar::EntryType::{Directory, Regular, Symlink};
        let (dir, path) = archive(&[
            ("j", Directory, ""),
            ("j/etc", Symlink, "../../outside"),
            ("j/etc/passwd", Regular, "x"),
        ]);
        let dest = dir.path().join("x");
        std::fs::create_dir(&dest).unwrap();
        let err = extract(&path, &dest, Path::new("/j"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("under the symlink"), "{err}");
        assert!(!dir.path().join("outside").exists());

        let (dir, path) = archive(&[("j", Directory, ""), ("k/a", Regular, "x")]);
        let dest = dir.path().join("x");
        std::fs::create_dir(&dest).unwrap();
        let err = extract(&path, &dest, Path::new("/j"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("outside the jail root"), "{err}");
    }

    #[test]
    fn files_links_and_modes_arrive() {
        use tar::EntryType::{Char, Directory, Regular, Symlink};
        let (dir, path) = archive(&[
            ("var", Directory, ""),
            ("var/j", Directory, ""),
            ("var/j/bin", Directory, ""),
            ("var/j/bin/d", Regular, "#!"),
            ("var/j/dev", Directory, ""),
            ("var/j/dev/null", Char, ""),
            ("var/j/sbin", Symlink, "bin"),
        ]);
        let dest = dir.path().join("x");
        std::fs::create_dir(&dest).unwrap();
        let out = extract(&path, &dest, Path::new("/var/j"), None).unwrap();
        assert_eq!(out.root, dest.join("var/j"));
        assert_eq!(std::fs::read(out.root.join("sbin/d")).unwrap(), b"#!");
        assert_eq!(out.devices.len(), 1);
        assert_eq!(out.devices[0].path, out.root.join("dev/null"));
    }
}
