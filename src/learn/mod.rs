//! `--learn`: the loop a person used to run by hand. Make the jail, run it
//! under the tracer with the check, add what doctor proposes to the
//! settings source, and go again, until the run passes, a round adds
//! nothing, or the rounds are spent. Only [`needs`](crate::verify::needs)
//! decide what is added, from the trace and the check: nothing here knows
//! a particular daemon. What must be a person's decision (a host secret, a
//! setuid file, a device off the list) is reported, never written.

pub mod diff;
pub mod edit;
pub mod feasible;

use std::path::PathBuf;

use crate::build::Built;
use crate::error::{Error, Result};

/// Where the settings live, to be edited in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsSource {
    pub path: PathBuf,
    pub table: edit::Table,
}

/// The package's `[package.metadata.jail]`, or the `--settings` file.
pub fn settings_source(
    built: &Built,
    prebuilt: bool,
    settings_file: Option<&PathBuf>,
) -> Result<SettingsSource> {
    match (prebuilt, settings_file) {
        (true, Some(file)) => Ok(SettingsSource {
            path: file.clone(),
            table: edit::Table::TopLevel,
        }),
        (true, None) => Err(Error::Usage(
            "--learn with --binary needs --settings FILE: the file it adds what it learns to (it may start empty)".into(),
        )),
        (false, _) => Ok(SettingsSource {
            path: built.package.manifest_path.clone(),
            table: edit::Table::PackageMetadata,
        }),
    }
}
