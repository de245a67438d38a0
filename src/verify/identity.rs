//! Whom the jailed program runs as. The manifest names a user and a group,
//! but it may be a download: taken at its word, it could pick any host
//! account (`daemon` with group `shadow` reads /etc/shadow). So as root the
//! program runs as nobody/nogroup (65534), which owns nothing, unless the
//! person running verify asks for the jail's user with `--as-jail-user` and
//! this host has that user as an ordinary (non-system) account; then it runs
//! with that account's own primary group from /etc/passwd and no other.
//! The manifest's group is never used.

use std::path::Path;

use super::names::shown;
use crate::error::{Error, Result};

/// Whom the program runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// We are root: chroot(2), then setgid/setuid to these, and these
    /// only as supplementary group.
    Chroot { uid: u32, gid: u32, name: String },
    /// We are not root: a user namespace in which we are root (and the
    /// program runs with our own, unprivileged, IDs on the host).
    UserNamespace,
    /// Outside any jail, as ourselves (`doctor --probe`).
    Host,
}

/// nobody and nogroup on Linux: they own no file.
pub const NOBODY: u32 = 65534;

/// Debian's SYS_UID_MAX and SYS_GID_MAX (and most other systems'): IDs up
/// to it belong to system accounts, which own system files.
pub const SYS_ID_MAX: u32 = 999;

const PASSWD: &str = "/etc/passwd";

/// The identity for a run as root: nobody, or with `as_jail_user` the
/// jail's user as this host's /etc/passwd has it.
pub fn as_root(jail_user: &str, as_jail_user: bool) -> Result<Identity> {
    if !as_jail_user {
        return Ok(nobody());
    }
    let passwd = read_passwd(Path::new(PASSWD))?;
    jail_user_in(&passwd, jail_user).map_err(|problem| Error::Input {
        path: PASSWD.into(),
        message: format!(
            "--as-jail-user: {problem}; run without --as-jail-user to run the jail as nobody"
        ),
    })
}

pub fn nobody() -> Identity {
    Identity::Chroot {
        uid: NOBODY,
        gid: NOBODY,
        name: "nobody".into(),
    }
}

/// The jail's user from /etc/passwd text, if it is an ordinary account.
fn jail_user_in(passwd: &str, user: &str) -> std::result::Result<Identity, String> {
    let shown_user = shown(user.as_bytes());
    let entry = passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&user) && !user.is_empty())
        .ok_or_else(|| format!("this host has no user {shown_user:?} (the jail's user)"))?;
    let id = |index: usize| entry.get(index).and_then(|f| f.parse::<u32>().ok());
    let (Some(uid), Some(gid)) = (id(2), id(3)) else {
        return Err(format!(
            "the passwd line of {shown_user:?} has no numeric IDs"
        ));
    };
    if uid <= SYS_ID_MAX || uid == NOBODY {
        return Err(format!(
            "{shown_user:?} is a system account here (uid {uid}); verify runs a jail only as an ordinary account (uid above {SYS_ID_MAX}, not nobody), whose files nothing else relies on"
        ));
    }
    if gid <= SYS_ID_MAX {
        return Err(format!(
            "the primary group of {shown_user:?} is a system group here (gid {gid}), which may own system files"
        ));
    }
    Ok(Identity::Chroot {
        uid,
        gid,
        name: user.to_string(),
    })
}

/// /etc/passwd, refused if it is not a regular file or is huge.
fn read_passwd(path: &Path) -> Result<String> {
    use std::io::Read;
    const MAX: u64 = 16 << 20;
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = crate::regular::open_regular(path).map_err(read_error)?;
    let mut text = String::new();
    file.take(MAX)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
daytimed:x:1001:1001::/nonexistent:/usr/sbin/nologin
odd:x:1002:42::/nonexistent:/usr/sbin/nologin
broken:x:abc:1::/:/bin/sh
";

    #[test]
    fn without_the_flag_it_is_nobody_whatever_the_manifest_says() {
        for user in ["root", "daemon", "daytimed"] {
            assert_eq!(as_root(user, false).unwrap(), nobody());
        }
    }

    #[test]
    fn only_an_ordinary_account_with_its_own_group() {
        assert_eq!(
            jail_user_in(PASSWD, "daytimed").unwrap(),
            Identity::Chroot {
                uid: 1001,
                gid: 1001,
                name: "daytimed".into()
            }
        );
        for (user, why) in [
            ("root", "system account"),
            ("daemon", "system account"),
            ("nobody", "system account"),
            ("odd", "system group"),
            ("broken", "numeric"),
            ("ghost", "no user"),
            ("", "no user"),
        ] {
            let err = jail_user_in(PASSWD, user).unwrap_err();
            assert!(err.contains(why), "{user}: {err}");
        }
    }
}
