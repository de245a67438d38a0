//! The last step of the plan: every file's SHA-256, and the jail's own file
//! list, shipped inside the jail as [`INDEX_PATH`] so that `audit ROOT`
//! needs nothing but the installed jail to tell what went stale. The list
//! is the release manifest without its artifacts (which hold the archive's
//! own checksum, unknown while the archive is being made).

use std::path::Path;

use super::paths::archive_path;
use super::{Entry, EntryKind, Owner, Plan};
use crate::emit::checksum::sha256_hex;
use crate::emit::manifest::Manifest;
use crate::error::{Error, Result};

/// Where the file list lives inside every jail.
pub const INDEX_PATH: &str = "/.jailpack.json";

pub(super) fn finish(plan: &mut Plan) -> Result<()> {
    for entry in &mut plan.entries {
        entry.sha256 = match &entry.kind {
            EntryKind::File { source } => {
                let bytes = std::fs::read(source).map_err(|e| Error::Read {
                    path: source.clone(),
                    source: e,
                })?;
                Some(sha256_hex(&bytes))
            }
            EntryKind::Generated { contents } => Some(sha256_hex(contents)),
            _ => None,
        };
    }
    let path = archive_path(&plan.jail_root.join(archive_path(Path::new(INDEX_PATH))));
    if let Some(taken) = plan.entries.iter().find(|e| e.path == path) {
        return Err(Error::Conflict {
            path: INDEX_PATH.to_string(),
            first: "the jail's file list (for `audit`)".to_string(),
            second: format!("an entry from {}", taken.origin),
        });
    }
    let mut json =
        serde_json::to_vec_pretty(&Manifest::new(plan, Vec::new())).map_err(|e| Error::Write {
            path: INDEX_PATH.into(),
            source: e.into(),
        })?;
    json.push(b'\n');
    let entry = Entry {
        path,
        sha256: Some(sha256_hex(&json)),
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
