//! A round's fixes are kept only when the jail can still be made with
//! them. What doctor proposes comes from the trace alone, and the plan may
//! refuse it: the `passwd` preset for a user the build host does not know
//! (it needs a `uid`), the `pam` preset for a service whose configuration
//! reads the host's password hashes. Such a fix is not written (the
//! settings file stays one the next round can use) but handed back with
//! the plan's reason, for a person to decide; the others are kept.

use std::path::Path;

use super::edit::{self, Edited, Table};
use crate::error::Result;
use crate::pipeline;
use crate::verify::needs::Fix;

/// A fix the plan refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub fix: Fix,
    pub why: String,
}

/// Adds `fixes` to the settings in `path` as [`edit::apply`] does, then
/// plans the jail; if the plan fails, starts again from the text before
/// and adds them one at a time, leaving out each that the plan refuses.
pub fn apply(
    request: &pipeline::Request,
    path: &Path,
    table: Table,
    fixes: &[Fix],
    user: &str,
) -> Result<(Edited, Vec<Refused>)> {
    let all = edit::apply(path, table, fixes, user)?;
    if all.added.is_empty() || pipeline::plan(request).is_ok() {
        return Ok((all, Vec::new()));
    }
    edit::write_atomically(path, &all.before)?;
    let mut added = Vec::new();
    let mut refused = Vec::new();
    for fix in fixes {
        let one = edit::apply(path, table, std::slice::from_ref(fix), user)?;
        if one.added.is_empty() {
            continue;
        }
        match pipeline::plan(request) {
            Ok(_) => added.extend(one.added),
            Err(error) => {
                edit::write_atomically(path, &one.before)?;
                refused.push(Refused {
                    fix: fix.clone(),
                    why: error.to_string(),
                });
            }
        }
    }
    let after = std::fs::read_to_string(path).map_err(|source| crate::error::Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let edited = Edited {
        before: all.before,
        after,
        added,
    };
    Ok((edited, refused))
}
