//! Device nodes a jail may ask for, with each OS's numbers (PLATFORMS.md).

use std::path::Path;

use super::EntryKind;
use super::jail::Jail;
use crate::closure::target::Os;
use crate::error::Result;
use crate::settings::DeviceName;

/// What one device name becomes in the jail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Char {
        major: u32,
        minor: u32,
        mode: u32,
    },
    /// A symlink to another node in /dev (OpenBSD's random → urandom).
    LinkTo(&'static str),
}

/// The allow-list: names not here are refused.
pub const NAMES: [&str; 5] = ["null", "zero", "tty", "urandom", "random"];

/// The node for `name` on `os`; `None` for a name not on the allow-list,
/// and for FreeBSD, whose jails get devfs mounted instead of nodes.
pub fn device(os: Os, name: &str) -> Option<Device> {
    let char = |major, minor, mode| Some(Device::Char { major, minor, mode });
    match (os, name) {
        (Os::OpenBsd, "null") => char(2, 2, 0o666),
        (Os::OpenBsd, "zero") => char(2, 12, 0o666),
        (Os::OpenBsd, "tty") => char(1, 0, 0o666),
        (Os::OpenBsd, "urandom") => char(45, 0, 0o644),
        (Os::OpenBsd, "random") => Some(Device::LinkTo("urandom")),
        (Os::Linux, "null") => char(1, 3, 0o666),
        (Os::Linux, "zero") => char(1, 5, 0o666),
        (Os::Linux, "tty") => char(5, 0, 0o666),
        (Os::Linux, "urandom") => char(1, 9, 0o644),
        (Os::Linux, "random") => char(1, 8, 0o644),
        _ => None,
    }
}

/// `devices`: a node for each name (FreeBSD: none, devfs is mounted
/// instead). Whether the jail needs devices at all, for the rc.d script.
pub(super) fn add(jail: &mut Jail, names: &[DeviceName], os: Os) -> Result<bool> {
    for name in names {
        let path = Path::new("/dev").join(name.as_str());
        match device(os, name.as_str()) {
            Some(Device::Char { major, minor, mode }) => jail.add(
                &path,
                EntryKind::CharDevice { major, minor },
                mode,
                None,
                "devices",
            )?,
            Some(Device::LinkTo(target)) => jail.add(
                &path,
                EntryKind::Symlink {
                    target: target.into(),
                },
                0o777,
                None,
                "devices",
            )?,
            None => {}
        }
    }
    Ok(!names.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_each_os() {
        assert_eq!(
            device(Os::Linux, "null"),
            Some(Device::Char {
                major: 1,
                minor: 3,
                mode: 0o666
            })
        );
        assert_eq!(
            device(Os::OpenBsd, "null"),
            Some(Device::Char {
                major: 2,
                minor: 2,
                mode: 0o666
            })
        );
        assert_eq!(
            device(Os::OpenBsd, "urandom"),
            Some(Device::Char {
                major: 45,
                minor: 0,
                mode: 0o644
            })
        );
        assert_eq!(
            device(Os::OpenBsd, "random"),
            Some(Device::LinkTo("urandom"))
        );
        assert_eq!(device(Os::Linux, "sda"), None);
        assert_eq!(device(Os::FreeBsd, "null"), None);
    }
}
