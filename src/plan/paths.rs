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
