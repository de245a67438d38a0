//! Device nodes in an untrusted archive. The run bind-mounts host nodes
//! onto placeholders in the jail, so the archive's numbers pick host
//! hardware: `random` as 1:11 would hand the daemon /dev/kmsg. Only the
//! names of the plan's allow-list are taken, only at `<jail root>/dev/<name>`,
//! only with Linux's numbers for that name, and only the host's own
//! /dev/<name> is bound, once it is checked to have those same numbers.

use std::ffi::OsString;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::closure::target::Os;
use crate::error::{Error, Result};
use crate::plan::devices::{self, Device};

/// A device node the jail gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// The placeholder file in the extracted jail.
    pub path: PathBuf,
    /// Its name on the allow-list, which is also its name under /dev.
    pub name: &'static str,
}

/// The allow-list name for a character device entry at `inside` (its path
/// under the jail root) with these numbers, or why it is refused.
pub fn allowed(
    inside: &[OsString],
    major: u32,
    minor: u32,
) -> std::result::Result<&'static str, String> {
    let listed = || format!("{:?}", devices::NAMES);
    let (Some(dev), Some(name), 2) = (inside.first(), inside.get(1), inside.len()) else {
        return Err(format!(
            "a device node outside the jail's /dev; jails hold device nodes only as /dev/<name>, for {}",
            listed()
        ));
    };
    let name = name.to_str().unwrap_or("");
    let known = devices::NAMES.iter().find(|n| **n == name);
    let (Some(name), true) = (known, dev == "dev") else {
        return Err(format!(
            "a device node outside the jail's /dev or not on the allow-list {}",
            listed()
        ));
    };
    match devices::device(Os::Linux, name) {
        Some(Device::Char {
            major: want_major,
            minor: want_minor,
            ..
        }) if (want_major, want_minor) == (major, minor) => Ok(name),
        Some(Device::Char {
            major: want_major,
            minor: want_minor,
            ..
        }) => Err(format!(
            "character device {major}:{minor} under the name {name}, which on Linux is {want_major}:{want_minor}; verify binds only the host's own /dev/{name}"
        )),
        _ => Err(format!("no Linux device numbers for {name}")),
    }
}

/// The host's /dev/`name` to bind onto the placeholder: itself a character
/// device (not a symlink) with Linux's numbers for the name.
pub fn host_node(node: &DeviceNode) -> Result<PathBuf> {
    let path = Path::new("/dev").join(node.name);
    let refuse = |why: String| Error::Tool {
        tool: "verify".into(),
        message: format!(
            "no host node for the jail's /dev/{}: {why}; verify binds only this host's own /dev/{} with Linux's numbers, so it cannot run this jail here",
            node.name, node.name
        ),
    };
    let Some(Device::Char { major, minor, .. }) = devices::device(Os::Linux, node.name) else {
        return Err(refuse(format!("{} has no Linux numbers", node.name)));
    };
    let metadata =
        std::fs::symlink_metadata(&path).map_err(|e| refuse(format!("{}: {e}", path.display())))?;
    if !metadata.file_type().is_char_device() {
        return Err(refuse(format!(
            "{} is not a character device",
            path.display()
        )));
    }
    let found = split_dev(metadata.rdev());
    if found != (major, minor) {
        return Err(refuse(format!(
            "{} is {}:{} on this host, not {major}:{minor}",
            path.display(),
            found.0,
            found.1
        )));
    }
    Ok(path)
}

/// glibc's major()/minor() of a dev_t.
fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str) -> Vec<OsString> {
        path.split('/').map(OsString::from).collect()
    }

    #[test]
    fn only_listed_names_in_dev_with_their_own_numbers() {
        assert_eq!(allowed(&at("dev/null"), 1, 3), Ok("null"));
        assert_eq!(allowed(&at("dev/urandom"), 1, 9), Ok("urandom"));
        let kmsg = allowed(&at("dev/random"), 1, 11).unwrap_err();
        assert!(kmsg.contains("1:11") && kmsg.contains("1:8"), "{kmsg}");
        assert!(
            allowed(&at("dev/fuse"), 10, 229)
                .unwrap_err()
                .contains("allow-list")
        );
        assert!(allowed(&at("etc/null"), 1, 3).is_err());
        assert!(allowed(&at("dev/sub/null"), 1, 3).is_err());
        assert!(allowed(&at("null"), 1, 3).is_err());
    }

    #[test]
    fn the_host_node_is_the_one_of_the_same_name() {
        let node = |name| DeviceNode {
            path: PathBuf::from("/scratch/dev").join(name),
            name,
        };
        if Path::new("/dev/null").exists() {
            assert_eq!(host_node(&node("null")).unwrap(), Path::new("/dev/null"));
        }
    }

    #[test]
    fn device_numbers_split_like_glibc() {
        assert_eq!(split_dev(0x103), (1, 3));
        assert_eq!(split_dev(0x109), (1, 9));
        // glibc's makedev(): large numbers use the high bits.
        let makedev = |major: u64, minor: u64| {
            ((major & 0xfff) << 8)
                | ((major & !0xfff) << 32)
                | (minor & 0xff)
                | ((minor & !0xff) << 12)
        };
        assert_eq!(split_dev(makedev(259, 65536)), (259, 65536));
        assert_eq!(split_dev(makedev(4096, 7)), (4096, 7));
    }
}
