//! The machine-readable manifest for release pipelines: artifacts with
//! their checksums, and every jailed file with its source and who needs it.
//! Key order is fixed by the struct order, so the JSON is stable; keys
//! added later come after the ones before them.
//!
//! A copy without the artifacts ships inside the jail (`/.jailpack.json`),
//! for `audit`: each file's `sha256` is what the jail got, and its `source`
//! is where the build read it (under `sysroot`, when there was one).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::closure::Role;
use crate::closure::target::{Loader, Os};
use crate::plan::{EntryKind, Plan};

#[derive(Debug, Serialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub target: String,
    pub os: Os,
    pub loader: Loader,
    pub jail_root: PathBuf,
    pub exec: PathBuf,
    pub args: Vec<String>,
    pub user: String,
    pub group: String,
    pub artifacts: Vec<ArtifactRecord>,
    pub files: Vec<FileRecord>,
    pub links: Vec<LinkRecord>,
    /// Directories the daemon writes to: their contents are its own.
    pub writable: Vec<PathBuf>,
    /// Device nodes, inside the jail.
    pub devices: Vec<PathBuf>,
    /// The root file system the sources were read from, when not `/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sysroot: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArtifactRecord {
    /// Relative to the output directory.
    pub file: PathBuf,
    pub sha256: String,
}

#[derive(Debug, Serialize)]
pub struct FileRecord {
    /// Inside the jail.
    pub path: PathBuf,
    /// On the build host; absent for a file the plan generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<PathBuf>,
    /// The SHA-256 of the contents the jail got.
    pub sha256: String,
    /// `executable`, `interpreter`, `library`, `file` for settings' and
    /// presets' files, `generated` for contents the plan made.
    pub role: String,
    /// The objects that need it, or the settings key that added it.
    pub needed_by: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct LinkRecord {
    pub path: PathBuf,
    pub target: PathBuf,
}

impl Manifest {
    pub fn new(plan: &Plan, artifacts: Vec<ArtifactRecord>) -> Self {
        let in_jail = |archive_path: &Path| -> PathBuf {
            let root = plan.jail_root.strip_prefix("/").unwrap_or(&plan.jail_root);
            Path::new("/").join(archive_path.strip_prefix(root).unwrap_or(archive_path))
        };
        let mut files = Vec::new();
        let mut links = Vec::new();
        let mut devices = Vec::new();
        for entry in &plan.entries {
            let path = in_jail(&entry.path);
            let sha256 = entry.sha256.clone().unwrap_or_default();
            match &entry.kind {
                EntryKind::File { source } => {
                    let known = plan.closure.files.iter().find(|f| f.path == path);
                    files.push(match known {
                        Some(file) => FileRecord {
                            path,
                            source: Some(source.clone()),
                            sha256,
                            role: role_name(&file.role).to_string(),
                            needed_by: file
                                .needed_by
                                .iter()
                                .map(|p| p.display().to_string())
                                .collect(),
                            found: Some(file.found.clone()),
                            moved_from: file.moved_from.clone(),
                        },
                        None => FileRecord {
                            path,
                            source: Some(source.clone()),
                            sha256,
                            role: "file".to_string(),
                            needed_by: vec![entry.origin.clone()],
                            found: None,
                            moved_from: None,
                        },
                    });
                }
                EntryKind::Symlink { target } => links.push(LinkRecord {
                    path,
                    target: target.clone(),
                }),
                EntryKind::Generated { .. } => files.push(FileRecord {
                    path,
                    source: None,
                    sha256,
                    role: "generated".to_string(),
                    needed_by: vec![entry.origin.clone()],
                    found: None,
                    moved_from: None,
                }),
                EntryKind::CharDevice { .. } => devices.push(path),
                EntryKind::Directory => {}
            }
        }
        Manifest {
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
            artifacts,
            files,
            links,
            writable: plan.writable.iter().map(|w| w.path.clone()).collect(),
            devices,
            sysroot: plan.sysroot.clone(),
        }
    }
}

fn role_name(role: &Role) -> &'static str {
    match role {
        Role::Executable => "executable",
        Role::Interpreter => "interpreter",
        Role::Library => "library",
    }
}
