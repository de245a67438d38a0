//! The artifact set, held until all of it is ready, then put in place as a
//! whole: every file is written to a temporary name beside its final one,
//! what was at the final paths is set aside, and the renames follow. A
//! failure half-way puts the old files back and removes the new ones, so
//! the output directory holds the old set or the new one, never a mix.
//! The archive is the one file not held in memory: it is streamed into its
//! temporary file beside its final path as it is made.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::TempPath;

use crate::checksum::{sha256_hex, sha256_line};
use crate::error::{Error, Result};
use crate::manifest::ArtifactRecord;

pub(super) struct StagedFile {
    /// Relative to the output directory.
    pub path: PathBuf,
    pub contents: Contents,
    pub sha256: String,
    pub mode: u32,
    /// What it is: `archive`, `service`, `install-notes`, `plist`, `sbom`,
    /// `manifest` or `checksum`.
    pub kind: &'static str,
}

/// A staged file's bytes: in memory, or already written to a temporary
/// file in its final directory (the archive, streamed there).
pub(super) enum Contents {
    Bytes(Vec<u8>),
    Written(tempfile::NamedTempFile),
}

impl StagedFile {
    pub fn record(&self) -> ArtifactRecord {
        ArtifactRecord {
            file: self.path.clone(),
            sha256: self.sha256.clone(),
        }
    }
}

/// Output files held in memory until all of them are ready.
#[derive(Default)]
pub(super) struct Staged {
    pub files: Vec<StagedFile>,
}

/// A final path filled by this commit, and what was there before.
struct Placed {
    path: PathBuf,
    old: Option<TempPath>,
}

impl Staged {
    pub fn add(&mut self, kind: &'static str, path: PathBuf, bytes: Vec<u8>, mode: u32) {
        self.files.push(StagedFile {
            path,
            sha256: sha256_hex(&bytes),
            contents: Contents::Bytes(bytes),
            mode,
            kind,
        });
    }

    /// A file already written to `temp` (from [`temp_file`], in the
    /// directory of `out_dir.join(path)`), whose SHA-256 is `sha256`.
    pub fn add_written(
        &mut self,
        kind: &'static str,
        path: PathBuf,
        temp: tempfile::NamedTempFile,
        sha256: String,
        mode: u32,
    ) {
        self.files.push(StagedFile {
            path,
            contents: Contents::Written(temp),
            sha256,
            mode,
            kind,
        });
    }

    /// A `<file>.sha256` beside every file staged so far.
    pub fn add_checksums(&mut self) {
        let sums: Vec<StagedFile> = self
            .files
            .iter()
            .map(|file| {
                let name = file.path.file_name().unwrap_or_default().to_string_lossy();
                let line = sha256_line(&file.sha256, &name);
                let mut path = file.path.clone().into_os_string();
                path.push(".sha256");
                StagedFile {
                    path: path.into(),
                    sha256: sha256_hex(line.as_bytes()),
                    contents: Contents::Bytes(line.into_bytes()),
                    mode: 0o644,
                    kind: "checksum",
                }
            })
            .collect();
        self.files.extend(sums);
    }

    /// Puts the whole set in place under `out_dir`, or none of it.
    pub fn commit(self, out_dir: &Path) -> Result<()> {
        let mut ready = Vec::new();
        for file in self.files {
            let path = out_dir.join(&file.path);
            ready.push((write_temp(&path, file, out_dir)?, path));
        }
        let mut placed: Vec<Placed> = Vec::new();
        for (temp, path) in ready {
            let write_error = |source| Error::Write {
                path: path.clone(),
                source,
            };
            let old = match set_aside(&path) {
                Ok(old) => old,
                Err(e) => {
                    roll_back(placed);
                    return Err(write_error(e));
                }
            };
            if let Err(e) = temp.persist(&path) {
                roll_back(vec![Placed {
                    path: path.clone(),
                    old,
                }]);
                roll_back(placed);
                return Err(write_error(e.error));
            }
            placed.push(Placed { path, old });
        }
        // Success: the old files' temporary names are removed as they drop.
        Ok(())
    }
}

/// A new temporary file in the directory of `path` (made if need be), to
/// be renamed to `path` when the set is committed. Its name carries this
/// process's ID, so that a later run can tell it from a live run's.
pub(super) fn temp_file(path: &Path) -> Result<tempfile::NamedTempFile> {
    let write_error = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(write_error)?;
    tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .tempfile_in(dir)
        .map_err(write_error)
}

/// What every temporary artifact's name starts with.
const TEMP_PREFIX: &str = ".jailpack-";

/// Removes from `dir` the temporary files of runs that were killed before
/// they could (SIGKILL, a power cut): those whose process is gone. A live
/// run's, and anything else, stay. Files set aside by a commit
/// (`.jailpack-old-…`) stay too: one may be the only copy of an artifact.
pub(super) fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(TEMP_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
        let gone = pid > 0
            && unsafe { libc::kill(pid, 0) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if is_file && gone {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A link inside the output directory (`systemd -> /elsewhere`) would
/// carry an artifact outside it: every folder between the output
/// directory and `relative` must be a real one.
fn no_link_inside(out_dir: &Path, relative: &Path) -> std::io::Result<()> {
    let mut at = out_dir.to_path_buf();
    for part in relative.parent().into_iter().flat_map(Path::components) {
        at.push(part);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(std::io::Error::other(format!(
                "{} is a symbolic link: artifacts stay inside the output directory",
                at.display()
            )));
        }
    }
    Ok(())
}

/// Writes one file under a temporary name in its final directory.
fn write_temp(path: &Path, file: StagedFile, out_dir: &Path) -> Result<tempfile::NamedTempFile> {
    let write_error = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let temp = match file.contents {
        Contents::Written(temp) => temp,
        Contents::Bytes(bytes) => {
            no_link_inside(out_dir, &file.path).map_err(write_error)?;
            let mut temp = temp_file(&out_dir.join(&file.path))?;
            temp.write_all(&bytes).map_err(write_error)?;
            temp
        }
    };
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(file.mode))
        .map_err(write_error)?;
    temp.as_file().sync_all().map_err(write_error)?;
    Ok(temp)
}

/// Moves what is at `path` (a file or a link) to a temporary name beside
/// it; `None` when nothing is there. A directory there is an error: the
/// new file could not replace it.
fn set_aside(path: &Path) -> std::io::Result<Option<TempPath>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
        Ok(m) if m.is_dir() => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "a directory is in the way of the artifact",
            ));
        }
        Ok(_) => {}
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let old = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}old-"))
        .tempfile_in(dir)?
        .into_temp_path();
    std::fs::rename(path, &old)?;
    Ok(Some(old))
}

/// Undoes the renames made so far, newest first.
fn roll_back(placed: Vec<Placed>) {
    for Placed { path, old } in placed.into_iter().rev() {
        let _ = std::fs::remove_file(&path);
        if let Some(old) = old {
            // keep() hands back the path without removing the file.
            if let Ok(old) = old.keep() {
                let _ = std::fs::rename(old, &path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(bytes: &[u8]) -> Staged {
        let mut staged = Staged::default();
        for name in ["a.tar.gz", "systemd/d.service", "d.json"] {
            staged.add("archive", name.into(), bytes.to_vec(), 0o644);
        }
        staged.add_checksums();
        staged
    }

    fn listing(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(at) = stack.pop() {
            for entry in std::fs::read_dir(&at).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let bytes = std::fs::read(&path).unwrap();
                    out.push((path.strip_prefix(dir).unwrap().to_path_buf(), bytes));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn a_failure_half_way_leaves_the_old_set_whole() {
        // Regression: the artifacts were renamed one by one, so a failure
        // half-way left new files beside old ones.
        let out = tempfile::tempdir().unwrap();
        set(b"old").commit(out.path()).unwrap();
        let before = listing(out.path());
        assert_eq!(before.len(), 6);
        // The last file to be renamed cannot be: a directory is in its way.
        std::fs::remove_file(out.path().join("d.json.sha256")).unwrap();
        std::fs::create_dir(out.path().join("d.json.sha256")).unwrap();
        std::fs::write(out.path().join("d.json.sha256/x"), b"").unwrap();
        let err = set(b"new").commit(out.path()).unwrap_err().to_string();
        assert!(err.contains("d.json.sha256"), "{err}");
        let after: Vec<_> = listing(out.path())
            .into_iter()
            .filter(|(p, _)| !p.starts_with("d.json.sha256"))
            .collect();
        let expected: Vec<_> = before
            .into_iter()
            .filter(|(p, _)| !p.starts_with("d.json.sha256"))
            .collect();
        assert_eq!(after, expected, "new files beside old ones, or leftovers");
    }

    #[test]
    fn a_link_inside_the_output_directory_is_not_followed() {
        let out = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), out.path().join("systemd")).unwrap();
        let err = set(b"new").commit(out.path()).unwrap_err().to_string();
        assert!(err.contains("systemd"), "{err}");
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
        assert!(
            !out.path().join("a.tar.gz").exists(),
            "a half set was put in place"
        );
    }

    #[test]
    fn a_new_set_replaces_the_old_and_leaves_no_temporary_files() {
        let out = tempfile::tempdir().unwrap();
        set(b"old").commit(out.path()).unwrap();
        set(b"new").commit(out.path()).unwrap();
        let files = listing(out.path());
        assert_eq!(files.len(), 6, "{files:?}");
        assert_eq!(std::fs::read(out.path().join("a.tar.gz")).unwrap(), b"new");
    }
}
