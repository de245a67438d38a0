//! What audit reports: one line per finding, the jail path first, led by a
//! word cron mail can be grepped for (`stale`, `modified`, `missing`,
//! `unknown`, `unreadable`, `invalid`, `update`).

use std::path::{Path, PathBuf};

use super::walk::Kind;

/// One finding; paths are inside the jail unless named `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The source changed since the jail was made.
    Stale { path: PathBuf, source: PathBuf },
    /// The source is gone (a library renamed by an upgrade, say).
    SourceGone { path: PathBuf, source: PathBuf },
    /// The source cannot be compared: not a regular file, or unreadable.
    SourceUnreadable {
        path: PathBuf,
        source: PathBuf,
        problem: String,
    },
    /// The jail's copy is not what the jail was given.
    Modified { path: PathBuf },
    /// Another kind of file in its place: a link, FIFO or device where a
    /// file belongs, a link where a directory belongs, …
    Replaced {
        path: PathBuf,
        found: Kind,
        expected: Kind,
    },
    /// Its permission bits changed (setuid, setgid and sticky included).
    ModeChanged {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    /// Its owner changed; `expected` says whose it should be.
    OwnerChanged {
        path: PathBuf,
        uid: u32,
        gid: u32,
        expected: String,
    },
    /// A device node with other numbers.
    DeviceChanged {
        path: PathBuf,
        found: (u32, u32),
        expected: (u32, u32),
    },
    /// A link pointing elsewhere.
    LinkChanged {
        path: PathBuf,
        found: PathBuf,
        expected: PathBuf,
    },
    /// The jail's copy is gone.
    Missing { path: PathBuf },
    /// In the jail, not in its file list.
    Unknown { path: PathBuf },
    /// It could not be checked.
    Unreadable { path: PathBuf, problem: String },
    /// The file list names a path no jail entry can have.
    Invalid { path: PathBuf },
    /// The host has another version of a package the jail holds (or none):
    /// `path` is the first of its files in the jail.
    Update {
        path: PathBuf,
        package: String,
        in_jail: String,
        on_host: Option<String>,
    },
}

impl Finding {
    /// The in-jail path it is about.
    pub fn path(&self) -> &Path {
        match self {
            Finding::Stale { path, .. }
            | Finding::SourceGone { path, .. }
            | Finding::SourceUnreadable { path, .. }
            | Finding::Modified { path }
            | Finding::Replaced { path, .. }
            | Finding::ModeChanged { path, .. }
            | Finding::OwnerChanged { path, .. }
            | Finding::DeviceChanged { path, .. }
            | Finding::LinkChanged { path, .. }
            | Finding::Missing { path }
            | Finding::Unknown { path }
            | Finding::Unreadable { path, .. }
            | Finding::Invalid { path }
            | Finding::Update { path, .. } => path,
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = self.path().display();
        match self {
            Finding::Stale { source, .. } => write!(
                f,
                "stale    {at}: {} has changed since the jail was made; rebuild and reinstall the jail",
                source.display()
            ),
            Finding::SourceGone { source, .. } => write!(
                f,
                "stale    {at}: {} is gone from the host; rebuild the jail",
                source.display()
            ),
            Finding::SourceUnreadable {
                source, problem, ..
            } => write!(
                f,
                "unreadable {at}: its source {}: {problem}",
                source.display()
            ),
            Finding::Modified { .. } => {
                write!(f, "modified {at}: differs from what the jail was given")
            }
            Finding::Replaced {
                found, expected, ..
            } => write!(f, "modified {at}: {found} where {expected} belongs"),
            Finding::ModeChanged {
                found, expected, ..
            } => write!(
                f,
                "modified {at}: mode {found:04o} where {expected:04o} belongs{}",
                mode_note(*found, *expected)
            ),
            Finding::OwnerChanged {
                uid, gid, expected, ..
            } => write!(
                f,
                "modified {at}: owned by {uid}:{gid} where {expected} belongs"
            ),
            Finding::DeviceChanged {
                found, expected, ..
            } => write!(
                f,
                "modified {at}: device {}:{} where {}:{} belongs",
                found.0, found.1, expected.0, expected.1
            ),
            Finding::LinkChanged {
                found, expected, ..
            } => write!(
                f,
                "modified {at}: links to {} where {} belongs",
                found.display(),
                expected.display()
            ),
            Finding::Missing { .. } => write!(f, "missing  {at}"),
            Finding::Unknown { .. } => write!(f, "unknown  {at}: not in the jail's file list"),
            Finding::Unreadable { problem, .. } => write!(f, "unreadable {at}: {problem}"),
            Finding::Invalid { path } => write!(
                f,
                "invalid  {path:?}: the file list names a path no jail entry has (absolute, without . or .., at most {} levels): jailpack writes no such list; audit with the release's manifest",
                super::walk::MAX_DEPTH
            ),
            Finding::Update {
                package,
                in_jail,
                on_host: Some(on_host),
                ..
            } => write!(
                f,
                "update   {at}: {package} {in_jail} in the jail, {on_host} on the host; rebuild and reinstall the jail"
            ),
            Finding::Update {
                package,
                in_jail,
                on_host: None,
                ..
            } => write!(
                f,
                "update   {at}: {package} {in_jail} in the jail, not installed on the host; rebuild the jail without it, or install it again"
            ),
        }
    }
}

/// What a mode change grants that the recorded mode did not, for people
/// who do not read octal at a glance.
fn mode_note(found: u32, expected: u32) -> String {
    let gained = found & !expected;
    let notes: Vec<&str> = [
        (0o4000, "setuid"),
        (0o2000, "setgid"),
        (0o0002, "writable by anyone"),
        (0o0020, "writable by its group"),
    ]
    .iter()
    .filter(|(bit, _)| gained & bit != 0)
    .map(|(_, note)| *note)
    .collect();
    if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_finding_names_its_path_and_what_changed() {
        let path = PathBuf::from("/usr/lib/libc.so.6");
        let line = |f: Finding| f.to_string();
        assert_eq!(
            line(Finding::ModeChanged {
                path: path.clone(),
                found: 0o4755,
                expected: 0o755
            }),
            "modified /usr/lib/libc.so.6: mode 4755 where 0755 belongs (setuid)"
        );
        assert_eq!(
            line(Finding::Replaced {
                path: path.clone(),
                found: Kind::Fifo,
                expected: Kind::File
            }),
            "modified /usr/lib/libc.so.6: a FIFO where a regular file belongs"
        );
        assert_eq!(
            line(Finding::OwnerChanged {
                path: path.clone(),
                uid: 1000,
                gid: 0,
                expected: "root (0:0)".into()
            }),
            "modified /usr/lib/libc.so.6: owned by 1000:0 where root (0:0) belongs"
        );
        assert_eq!(
            line(Finding::ModeChanged {
                path: "/etc".into(),
                found: 0o777,
                expected: 0o755
            }),
            "modified /etc: mode 0777 where 0755 belongs (writable by anyone, writable by its group)"
        );
        assert_eq!(
            line(Finding::Missing { path }),
            "missing  /usr/lib/libc.so.6"
        );
    }
}
