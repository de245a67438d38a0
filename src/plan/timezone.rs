//! The jail's local time: the `timezone` key and the `timezone` preset both
//! put the zone's file under /usr/share/zoneinfo and /etc/localtime.

use std::path::{Path, PathBuf};

use super::EntryKind;
use super::jail::Jail;
use crate::closure::root::FsRoot;
use crate::error::{Error, Result};

/// The jail's local time zone: `host` is the host's (or sysroot's)
/// /etc/localtime, anything else a name under /usr/share/zoneinfo. When the
/// zone's name is known, /etc/localtime is a relative link to the zone file
/// in /usr/share/zoneinfo, as on the host: `TZ=<name>` works, and so do
/// programs that read the link to learn the zone's name.
pub(super) fn add_localtime(
    jail: &mut Jail,
    zone: &str,
    root: &FsRoot,
    origin: &str,
) -> Result<()> {
    let wanted = if zone == "host" {
        PathBuf::from("/etc/localtime")
    } else {
        let ok = !zone.is_empty()
            && zone
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
            && zone
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
        if !ok {
            return Err(Error::UnsafePath {
                field: "timezone".into(),
                path: zone.into(),
                reason: "expected \"host\" or a zone name such as \"Europe/Paris\"".into(),
            });
        }
        Path::new(ZONEINFO).join(zone)
    };
    let missing = || Error::Read {
        path: root.host_path(&wanted),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such zone file (is tzdata installed?)",
        ),
    };
    let resolved = root.resolve(&wanted)?.ok_or_else(missing)?;
    let source = root.host_path(&resolved.path);
    if !source.is_file() {
        return Err(missing());
    }
    let localtime = Path::new("/etc/localtime");
    let name = resolved
        .path
        .strip_prefix(ZONEINFO)
        .ok()
        .filter(|n| !n.as_os_str().is_empty());
    let Some(name) = name else {
        // A zone file of its own (no name to link to): a copy.
        return jail.add(localtime, EntryKind::File { source }, 0o644, None, origin);
    };
    let zone_file = Path::new(ZONEINFO).join(name);
    jail.add(&zone_file, EntryKind::File { source }, 0o644, None, origin)?;
    let target = Path::new("..").join(zone_file.strip_prefix("/").unwrap_or(&zone_file));
    jail.add(
        localtime,
        EntryKind::Symlink { target },
        0o777,
        None,
        origin,
    )
}

const ZONEINFO: &str = "/usr/share/zoneinfo";
