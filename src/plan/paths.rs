//! Paths that come from settings are untrusted: they must be absolute, clean
//! and printable, so that nothing lands outside the jail or breaks a script.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Checks an absolute path (the jail root, or a path inside the jail) and
/// returns it as a `PathBuf`.
pub fn checked_absolute(field: &str, value: &str) -> Result<PathBuf> {
    let unsafe_path = |reason: &str| Error::UnsafePath {
        field: field.to_string(),
        path: value.to_string(),
        reason: reason.to_string(),
    };
    if !value.starts_with('/') {
        return Err(unsafe_path("it must be absolute (start with /)"));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(unsafe_path("it holds a control character"));
    }
    if value.len() > 1 && value.ends_with('/') || value.contains("//") {
        return Err(unsafe_path(
            "it has an empty component; write it without doubled or trailing slashes",
        ));
    }
    for component in Path::new(value).components() {
        match component {
            Component::RootDir | Component::Normal(_) => {}
            Component::ParentDir => return Err(unsafe_path("`..` could lead out of the jail")),
            Component::CurDir | Component::Prefix(_) => {
                return Err(unsafe_path("write it without `.` components"));
            }
        }
    }
    if value.split('/').any(|c| c == ".") {
        return Err(unsafe_path("write it without `.` components"));
    }
    Ok(PathBuf::from(value))
}

/// Where a jail root may not be: the system's own directories, on every
/// target. The documented install is `tar -xzpf ARCHIVE -C /` as root, so a
/// jail rooted at /etc (or inside it, or inside /var/spool/cron…) would let
/// a `files` line replace /etc/passwd or install a cron job.
const SYSTEM_DIRS: [&str; 19] = [
    "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/libexec", "/boot", "/dev",
    "/proc", "/sys", "/run", "/tmp", "/root", "/home", "/usr", "/var", "/rescue",
];

/// Homes for jails inside those system directories, by convention: a jail
/// root may lie strictly below one (`/var/jail/<name>`), not be it.
/// /usr/local/jails is the FreeBSD Handbook's, /usr/jails ezjail's (and the
/// older Handbook's), /var/lib/machines systemd-nspawn's.
const JAIL_HOMES: [&str; 5] = [
    "/var/jail",
    "/var/jails",
    "/usr/jails",
    "/usr/local/jails",
    "/var/lib/machines",
];

/// OpenBSD's conventional chroots for its own daemons (httpd, unbound,
/// nsd), allowed as they are: porters ship jails for exactly those.
const OPENBSD_CHROOTS: [&str; 3] = ["/var/www", "/var/unbound", "/var/nsd"];

/// Checks the jail root: an absolute clean path ([`checked_absolute`]) of
/// a directory of its own, never `/` nor a system directory or one inside
/// it, but for the conventional homes of jails.
pub fn checked_jail_root(field: &str, value: &str) -> Result<PathBuf> {
    let root = checked_absolute(field, value)?;
    let allowed = JAIL_HOMES
        .iter()
        .any(|home| root.starts_with(home) && root != Path::new(home))
        || OPENBSD_CHROOTS.iter().any(|dir| root.starts_with(dir))
        || !SYSTEM_DIRS.iter().any(|dir| root.starts_with(dir));
    if root == Path::new("/") || !allowed || root.parent() == Some(Path::new("/")) && is_srv(&root)
    {
        return Err(Error::UnsafePath {
            field: field.to_string(),
            path: value.to_string(),
            reason: format!(
                "a jail root must be a directory of its own, not / nor a system directory or one inside it ({}): extracting the jail as documented (tar -C /) would replace the system's files; use /var/jail/<name> (the default), /srv/<name>, or OpenBSD's {}",
                SYSTEM_DIRS.join(", "),
                OPENBSD_CHROOTS.join(", ")
            ),
        });
    }
    Ok(root)
}

/// `/srv` itself holds every service's data: a jail goes below it.
fn is_srv(root: &Path) -> bool {
    root == Path::new("/srv")
}

/// `/proc`, `/sys` or `/dev` when `path` lies under one of them: what the
/// kernel makes up (process environments, memory maps, devices) is never a
/// file to ship.
pub fn kernel_or_device_dir(path: &Path) -> Option<&'static str> {
    ["/proc", "/sys", "/dev"]
        .into_iter()
        .find(|top| path.starts_with(top))
}

/// Checks a name used as a file name, a shell variable prefix (rc.d) and a
/// unit name: letters, digits and `_`, not starting with a digit.
pub fn checked_name(field: &str, value: &str) -> Result<String> {
    let ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(value.to_string())
    } else {
        Err(Error::Settings {
            manifest: PathBuf::from(field),
            message: format!(
                "{value:?} is not a valid service name: rc.d uses it as a shell variable prefix, so use letters, digits and _ (e.g. {:?})",
                value.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            ),
        })
    }
}

/// Checks a user or group name: the portable set POSIX allows, so it is
/// safe in scripts and accepted by useradd on all three systems.
pub fn checked_account(field: &str, value: &str) -> Result<String> {
    let ok = value.len() <= 31
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(value.to_string())
    } else {
        Err(Error::UnsafePath {
            field: field.to_string(),
            path: value.to_string(),
            reason: "a user or group name is lower-case letters, digits, _ and -, starting with a letter or _, at most 31 characters".to_string(),
        })
    }
}

/// The tar path of an absolute path: the same path without the leading `/`.
pub fn archive_path(absolute: &Path) -> PathBuf {
    absolute.strip_prefix("/").unwrap_or(absolute).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_paths_are_refused_with_the_field_named() {
        for bad in [
            "etc/hosts",
            "/etc/../../root",
            "/a/./b",
            "/a//b",
            "/a/",
            "/a\nb",
            "/..",
        ] {
            let err = checked_absolute("files[0].dest", bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("files[0].dest"), "{bad}: {err}");
        }
        assert_eq!(
            checked_absolute("root", "/var/jail/x").unwrap(),
            Path::new("/var/jail/x")
        );
    }

    #[test]
    fn system_directories_are_never_jail_roots() {
        for bad in [
            "/",
            "/etc",
            "/etc/cron.d",
            "/usr",
            "/usr/local",
            "/usr/local/etc",
            "/usr/lib/x",
            "/var",
            "/var/spool/cron",
            "/var/jail",
            "/var/empty",
            "/lib64",
            "/tmp/j",
            "/root/j",
            "/home/u/j",
            "/dev/shm",
            "/proc/1",
            "/run/j",
            "/srv",
            "/boot/j",
        ] {
            let err = checked_jail_root("root", bad).unwrap_err().to_string();
            assert!(
                err.contains("root") && err.contains("system"),
                "{bad}: {err}"
            );
        }
        for good in [
            "/var/jail/daytimed",
            "/var/jails/d",
            "/usr/local/jails/d",
            "/usr/jails/d",
            "/var/lib/machines/d",
            "/var/www",
            "/var/unbound",
            "/var/nsd",
            "/srv/d",
            "/jail/d",
            "/opt/jails/d",
        ] {
            assert!(checked_jail_root("root", good).is_ok(), "{good}");
        }
    }

    #[test]
    fn names_must_work_as_shell_variable_prefixes() {
        assert!(checked_name("name", "daytimed").is_ok());
        let err = checked_name("name", "day-timed").unwrap_err().to_string();
        assert!(err.contains("day_timed"), "{err}");
        assert!(checked_name("name", "1d").is_err());
        assert!(checked_name("name", "a;rm").is_err());
    }

    #[test]
    fn account_names() {
        assert!(checked_account("user", "_daytimed").is_ok());
        assert!(checked_account("user", "www-data").is_ok());
        assert!(checked_account("user", "Root").is_err());
        assert!(checked_account("user", "a b").is_err());
        assert!(checked_account("user", "-x").is_err());
    }
}
