//! The machine-readable manifest for release pipelines: artifacts with
//! their checksums, and every jailed file with its source and who needs it.
//! Key order is fixed by the struct order, so the JSON is stable.

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
    /// On the build host.
    pub source: PathBuf,
    /// `executable`, `interpreter`, `library`, or `file` for settings' files.
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
        for entry in &plan.entries {
            let path = in_jail(&entry.path);
            match &entry.kind {
                EntryKind::File { source } => {
                    let known = plan.closure.files.iter().find(|f| f.path == path);
                    files.push(match known {
                        Some(file) => FileRecord {
                            path,
                            source: source.clone(),
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
                            source: source.clone(),
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
                EntryKind::Directory | EntryKind::CharDevice { .. } => {}
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
