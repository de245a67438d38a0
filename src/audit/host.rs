//! The host side of an audit: the sources the jail's files were copied
//! from, and the daemon's account. These are the host's own files (links
//! among them are the host's, and followed), but the file list naming them
//! may be the jail's: so a source is read only if it is a regular file,
//! opened without blocking, and never past the size the list records.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::walk::Kind;

/// The SHA-256 of what `reader` holds, if it holds exactly `size` bytes:
/// reads at most one byte more (to see that it grew), so a file that became
/// huge, or endless, costs no more than the one recorded.
pub fn digest(reader: impl Read, size: u64) -> io::Result<Option<String>> {
    let mut reader = reader.take(size.saturating_add(1));
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        hasher.update(&buffer[..n]);
    }
    if total != size {
        return Ok(None);
    }
    Ok(Some(
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    ))
}

/// What became of a file's source.
#[derive(Debug)]
pub enum Source {
    /// Same size and contents.
    Same,
    /// Other contents (or another size: then not read at all).
    Changed,
    Gone,
    /// Not something audit reads.
    Unusable(String),
}

/// Compares the host file `path` with the recorded size and SHA-256.
pub fn source(path: &Path, size: u64, sha256: &str) -> Source {
    let seen = match std::fs::metadata(path) {
        Ok(seen) => seen,
        Err(e) if gone(&e) => return Source::Gone,
        Err(e) => return Source::Unusable(e.to_string()),
    };
    let kind = Kind::of_mode(seen.mode());
    if kind != Kind::File {
        return Source::Unusable(format!("{kind}, not a regular file; audit reads no other"));
    }
    if seen.len() != size {
        return Source::Changed;
    }
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .and_then(|file| {
            let now = file.metadata()?;
            if !now.is_file() || (now.dev(), now.ino()) != (seen.dev(), seen.ino()) {
                return Err(io::Error::other("it was replaced while audit looked at it"));
            }
            Ok(file)
        });
    match opened.and_then(|file| digest(file, size)) {
        Ok(Some(hash)) if hash == sha256 => Source::Same,
        Ok(_) => Source::Changed,
        Err(e) if gone(&e) => Source::Gone,
        Err(e) => Source::Unusable(e.to_string()),
    }
}

fn gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// The IDs of the host's users and groups, from its own `/etc/passwd` and
/// `/etc/group` only: no name service is asked about a name the jail's
/// list gives.
#[derive(Debug, Default)]
pub struct Accounts {
    passwd: String,
    group: String,
}

/// Account files larger than this are not read.
const MAX_ACCOUNT_FILE: u64 = 64 << 20;

impl Accounts {
    /// The host's; unreadable files know no one.
    pub fn host() -> Accounts {
        let read = |path: &str| -> String {
            File::open(path)
                .and_then(|file| {
                    let mut text = String::new();
                    file.take(MAX_ACCOUNT_FILE).read_to_string(&mut text)?;
                    Ok(text)
                })
                .unwrap_or_default()
        };
        Accounts {
            passwd: read("/etc/passwd"),
            group: read("/etc/group"),
        }
    }

    #[cfg(test)]
    pub fn from_text(passwd: &str, group: &str) -> Accounts {
        Accounts {
            passwd: passwd.into(),
            group: group.into(),
        }
    }

    pub fn uid(&self, name: &str) -> Option<u32> {
        id(&self.passwd, name)
    }

    pub fn gid(&self, name: &str) -> Option<u32> {
        id(&self.group, name)
    }
}

/// The third field of the `name:…` line: the ID in both files.
fn id(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next() == Some(name))
            .then(|| fields.nth(1)?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_read_no_more_than_the_recorded_size() {
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(digest(&b"abc"[..], 3).unwrap().as_deref(), Some(abc));
        assert_eq!(digest(&b"abcd"[..], 3).unwrap(), None);
        assert_eq!(digest(&b"ab"[..], 3).unwrap(), None);
        // An endless reader costs the recorded size plus one byte.
        assert_eq!(digest(io::repeat(0), 1 << 20).unwrap(), None);
    }

    #[test]
    fn a_source_that_is_not_a_regular_file_is_not_read() {
        match source(Path::new("/dev/zero"), 10, "") {
            Source::Unusable(why) => assert!(why.contains("a character device"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            source(Path::new("/nonexistent/x"), 1, ""),
            Source::Gone
        ));
    }

    #[test]
    fn accounts_come_from_the_files_only() {
        let accounts = Accounts::from_text(
            "root:x:0:0::/root:/bin/sh\ndaytimed:x:812:813::/:/sbin/nologin\n",
            "root:x:0:\ndaytimed:x:813:\n",
        );
        assert_eq!(accounts.uid("daytimed"), Some(812));
        assert_eq!(accounts.gid("daytimed"), Some(813));
        assert_eq!(accounts.uid("daytime"), None);
        assert_eq!(accounts.uid(""), None);
    }
}
