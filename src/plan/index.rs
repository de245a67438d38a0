//! The last step of the plan: every file's SHA-256 and size, and the jail's
//! own file list, shipped inside the jail as [`INDEX_PATH`] so that `audit
//! ROOT` needs nothing but the installed jail to tell what went stale, and
//! `verify` can bound what extracting the jail may write. The list is the
//! release manifest without its artifacts (which hold the archive's own
//! checksum, unknown while the archive is being made).

use std::path::{Path, PathBuf};

use super::paths::archive_path;
use super::{Entry, EntryKind, Owner, Plan};
use crate::checksum::{sha256_file, sha256_hex};
use crate::closure::Role;
use crate::error::{Error, Result};
use crate::manifest::{
    DeviceRecord, DirectoryRecord, FileRecord, LinkRecord, Manifest, Mode, WritableRecord,
};

/// Where the file list lives inside every jail.
pub const INDEX_PATH: &str = "/.jailpack.json";

/// Adds each file's hash and size (`hashes`, from [`hash_files`]) and the
/// jail's own file list.
pub(super) fn finish(plan: &mut Plan, hashes: Vec<Option<Hashed>>) -> Result<()> {
    for (entry, hash) in plan.entries.iter_mut().zip(hashes) {
        let (sha256, size) = match (&entry.kind, hash) {
            (EntryKind::File { .. }, Some((sha256, size))) => (Some(sha256), size),
            (EntryKind::Generated { contents }, _) => {
                (Some(sha256_hex(contents)), contents.len() as u64)
            }
            _ => (None, 0),
        };
        entry.sha256 = sha256;
        entry.size = size;
    }
    let path = archive_path(&plan.jail_root.join(archive_path(Path::new(INDEX_PATH))));
    if let Some(taken) = plan.entries.iter().find(|e| e.path == path) {
        return Err(Error::Conflict {
            path: INDEX_PATH.to_string(),
            first: "the jail's file list (for `audit`)".to_string(),
            second: format!("an entry from {}", taken.origin),
        });
    }
    let json = manifest(plan).to_json();
    let entry = Entry {
        path,
        sha256: Some(sha256_hex(&json)),
        size: json.len() as u64,
        kind: EntryKind::Generated { contents: json },
        mode: 0o644,
        owner: Owner::root(plan.target.os),
        origin: "audit".to_string(),
    };
    // The jail root stays first; the rest is sorted by path.
    let at = 1 + plan.entries[1..].partition_point(|e| e.path < entry.path);
    plan.entries.insert(at, entry);
    Ok(())
}

/// The SHA-256 and size of every file entry's source, on every core (the
/// files are independent; reading and hashing them is most of a plan).
/// A file's SHA-256 (hex) and size.
pub(super) type Hashed = (String, u64);

pub(super) fn hash_files(entries: &[Entry]) -> Result<Vec<Option<Hashed>>> {
    crate::parallel::map(entries, |entry| {
        let EntryKind::File { source } = &entry.kind else {
            return Ok(None);
        };
        sha256_file(source).map(Some).map_err(|e| Error::Read {
            path: source.clone(),
            source: e,
        })
    })
    .into_iter()
    // The first error in entry order, as a loop over them would give.
    .collect()
}

/// The manifest of the plan's entries, without artifacts: after the plan
/// is made, the jail's own file list (which lists itself).
pub fn manifest(plan: &Plan) -> Manifest {
    let root = archive_path(&plan.jail_root);
    let in_jail = |archive: &Path| -> PathBuf {
        Path::new("/").join(archive.strip_prefix(&root).unwrap_or(archive))
    };
    let mut manifest = Manifest {
        name: plan.name.clone(),
        version: plan.version.clone(),
        target: plan.triple.clone(),
        os: plan.target.os,
        loader: plan.target.loader,
        jail_root: plan.jail_root.clone(),
        exec: plan.exec.clone(),
        args: plan.args.clone(),
        user: plan.user.clone(),
        group: plan.group.clone(),
        artifacts: Vec::new(),
        files: Vec::new(),
        links: Vec::new(),
        writable: plan
            .writable
            .iter()
            .map(|w| WritableRecord {
                path: w.path.clone(),
                owner: w.owner.clone(),
                group: w.group.clone(),
                mode: Mode(w.mode),
            })
            .collect(),
        devices: Vec::new(),
        sysroot: plan.sysroot.clone(),
        directories: Vec::new(),
    };
    for entry in &plan.entries {
        let path = in_jail(&entry.path);
        let file = |source: Option<&PathBuf>, role: &str, needed_by: Vec<String>| FileRecord {
            path: path.clone(),
            source: source.map(|s| recorded_source(s, plan.build_output.as_ref())),
            sha256: entry.sha256.clone().unwrap_or_default(),
            role: role.to_string(),
            needed_by,
            found: None,
            moved_from: None,
            size: entry.size,
            mode: Mode(entry.mode & 0o1777),
            versions: Default::default(),
            package: plan.provenance.record(&path),
        };
        match &entry.kind {
            EntryKind::File { source } => {
                let record = match plan.closure.files.iter().find(|f| f.path == path) {
                    Some(known) => FileRecord {
                        found: Some(known.found.clone()),
                        moved_from: known.moved_from.clone(),
                        versions: (known.versions.to_map().into_iter())
                            .map(|(library, names)| {
                                let names = names.into_iter().map(str::to_string).collect();
                                (library.to_string(), names)
                            })
                            .collect(),
                        ..file(
                            Some(source),
                            role_name(&known.role),
                            known
                                .needed_by
                                .iter()
                                .map(|p| p.display().to_string())
                                .collect(),
                        )
                    },
                    None => file(Some(source), "file", vec![entry.origin.clone()]),
                };
                manifest.files.push(record);
            }
            EntryKind::Generated { .. } => {
                manifest
                    .files
                    .push(file(None, "generated", vec![entry.origin.clone()]));
            }
            EntryKind::Symlink { target } => manifest.links.push(LinkRecord {
                path,
                target: target.clone(),
            }),
            EntryKind::CharDevice { major, minor } => manifest.devices.push(DeviceRecord {
                path,
                major: *major,
                minor: *minor,
                mode: Mode(entry.mode),
            }),
            EntryKind::Directory => {
                let root_or_writable =
                    path == Path::new("/") || plan.writable.iter().any(|w| w.path == path);
                if !root_or_writable {
                    manifest.directories.push(DirectoryRecord {
                        path,
                        mode: Mode(entry.mode),
                    });
                }
            }
        }
    }
    manifest
}

/// A source as the manifest records it: the daemon cargo built relative to
/// its workspace (`target/release/daytimed`), so that no checkout's
/// location ends up in the jail; anything else as it is.
fn recorded_source(source: &Path, build_output: Option<&(PathBuf, PathBuf)>) -> PathBuf {
    match build_output {
        Some((host, relative)) if host == source => relative.clone(),
        _ => source.to_path_buf(),
    }
}

fn role_name(role: &Role) -> &'static str {
    match role {
        Role::Executable => "executable",
        Role::Interpreter => "interpreter",
        Role::Library => "library",
    }
}
