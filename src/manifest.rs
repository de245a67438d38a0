//! The manifest: one set of types, written by the plan (the jail's own file
//! list, `/.jailpack.json`) and by emit (the release manifest, the same
//! with its artifacts), and read back by `verify`, `doctor` and `audit`.
//!
//! Key order is fixed by the struct order, so the JSON is stable; keys
//! added later come after the ones before them. Everything read back is
//! untrusted (an archive may be a download, an installed jail's list may be
//! a compromised daemon's work): readers check what they use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::closure::target::{Loader, Os};
use crate::error::{Error, Result};

/// The manifest a manifest file holds; `artifacts` is empty in the jail's
/// own copy, which cannot know the archive's checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    /// The Rust target triple the artifacts are named after.
    pub target: String,
    pub os: Os,
    pub loader: Loader,
    pub jail_root: PathBuf,
    /// The daemon inside the jail.
    pub exec: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
    pub user: String,
    pub group: String,
    #[serde(default)]
    pub artifacts: Vec<ArtifactRecord>,
    pub files: Vec<FileRecord>,
    #[serde(default)]
    pub links: Vec<LinkRecord>,
    /// Directories the daemon writes to: their contents are its own.
    #[serde(default)]
    pub writable: Vec<WritableRecord>,
    /// Device nodes, inside the jail.
    #[serde(default)]
    pub devices: Vec<DeviceRecord>,
    /// The root file system the sources were read from, when not `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sysroot: Option<PathBuf>,
    /// Every other directory of the jail (root-owned), the root excepted.
    #[serde(default)]
    pub directories: Vec<DirectoryRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// Relative to the output directory.
    pub file: PathBuf,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Inside the jail.
    pub path: PathBuf,
    /// On the build host; absent for a file the plan generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PathBuf>,
    /// The SHA-256 of the contents the jail got.
    pub sha256: String,
    /// `executable`, `interpreter`, `library`, `file` for settings' and
    /// presets' files, `generated` for contents the plan made.
    pub role: String,
    /// The objects that need it, or the settings key that added it.
    #[serde(default)]
    pub needed_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<PathBuf>,
    /// Its size in bytes, as archived.
    pub size: u64,
    /// Its mode as archived (never setuid or setgid).
    pub mode: Mode,
    /// The symbol versions it needs, per library (an ELF object's
    /// DT_VERNEED): the highest `GLIBC_2.x` is the oldest glibc it runs on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, Vec<String>>,
    /// The OS package (or, for the daemon cargo built, the crate) it came
    /// from; absent when no package database names it (the SBOM says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageRecord>,
}

/// A package as the file list records it: enough for `audit` to name the
/// version the jail holds and look up the one the host has now.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PackageRecord {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub path: PathBuf,
    pub target: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WritableRecord {
    pub path: PathBuf,
    pub owner: String,
    pub group: String,
    pub mode: Mode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub path: PathBuf,
    pub major: u32,
    pub minor: u32,
    pub mode: Mode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryRecord {
    pub path: PathBuf,
    pub mode: Mode,
}

/// A file mode, written as four octal digits (`"0644"`) so people can read
/// it, and read back only in that form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:04o}", self.0))
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let ok = (3..=4).contains(&text.len()) && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
        ok.then(|| u32::from_str_radix(&text, 8).ok())
            .flatten()
            .filter(|mode| *mode <= 0o7777)
            .map(Mode)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "mode {text:?}: expected octal digits like \"0644\""
                ))
            })
    }
}

/// The largest manifest file read back: a list of a million files is far
/// below it, and a hostile file cannot make a reader allocate more.
pub const MAX_MANIFEST_BYTES: u64 = 256 << 20;

impl Manifest {
    /// Reads and parses a manifest file, refusing anything but a regular
    /// file (no FIFO to block on) and anything larger than
    /// [`MAX_MANIFEST_BYTES`].
    pub fn read(path: &Path) -> Result<Manifest> {
        let bytes = read_bounded(path)?;
        Self::parse(&bytes, path)
    }

    /// Parses manifest bytes read from `path` (for messages).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Manifest> {
        serde_json::from_slice(bytes).map_err(|e| Error::Input {
            path: path.to_path_buf(),
            message: format!("not a jailpack manifest: {e}"),
        })
    }

    /// The manifest as written: pretty JSON and a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self)
            .expect("a manifest holds only strings, numbers and lists");
        json.push(b'\n');
        json
    }

    /// The sum of the sizes of its files: what extracting its jail writes.
    pub fn total_size(&self) -> u64 {
        self.files
            .iter()
            .fold(0u64, |sum, f| sum.saturating_add(f.size))
    }

    /// How many entries its jail's archive holds at most (every record, and
    /// each directory implied above them, counted generously).
    pub fn entry_count(&self) -> u64 {
        let records = self.files.len()
            + self.links.len()
            + self.writable.len()
            + self.devices.len()
            + self.directories.len();
        records as u64 + 1
    }
}

/// A regular file's bytes, opened without blocking and refused past the
/// bound.
pub(crate) fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = crate::regular::open_regular(path).map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    if metadata.len() > MAX_MANIFEST_BYTES {
        return Err(Error::Input {
            path: path.to_path_buf(),
            message: format!(
                "{} bytes is larger than any manifest jailpack writes ({MAX_MANIFEST_BYTES} at most)",
                metadata.len()
            ),
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_back_only_as_octal_text() {
        let json = |m: &str| format!("\"{m}\"");
        assert_eq!(
            serde_json::from_str::<Mode>(&json("0644")).unwrap(),
            Mode(0o644)
        );
        assert_eq!(serde_json::to_string(&Mode(0o1777)).unwrap(), "\"1777\"");
        for bad in ["644x", "9", "08", "77777", "-1"] {
            assert!(serde_json::from_str::<Mode>(&json(bad)).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Mode>("420").is_err());
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("m.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = Manifest::read(&fifo).unwrap_err();
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(cause.contains("a FIFO"), "{err}: {cause}");
    }
}
