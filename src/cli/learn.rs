//! `cargo xtask jail --learn [--check CMD] [--rounds N]`: rounds of make
//! the jail → run it traced with the check → add doctor's fixes to the
//! settings source, printed as a diff, until the run passes, a round adds
//! nothing, or N rounds are spent (see [`crate::learn`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::doctor::print_needs;
use super::status;
use super::verify::print_outcome;
use crate::closure::root::FsRoot;
use crate::emit::Emitted;
use crate::error::{Error, Result};
use crate::learn::{self, diff, feasible};
use crate::pipeline;
use crate::verify::names::printable_text;
use crate::verify::needs::{self, Fix};
use crate::verify::{self, doctor};

/// Rounds when `--rounds` is not given.
pub(super) const DEFAULT_ROUNDS: u32 = 5;

/// `--learn`'s own flags.
#[derive(Debug, Clone, Default)]
pub(super) struct LearnFlags {
    pub check: Option<String>,
    pub rounds: Option<u32>,
    pub seconds: Option<u64>,
}

pub(super) fn run(
    request: &pipeline::Request,
    out_dir: Option<&Path>,
    flags: &LearnFlags,
) -> Result<ExitCode> {
    let rounds = flags.rounds.unwrap_or(DEFAULT_ROUNDS);
    // A daemon answering a check needs a moment to start.
    let default_seconds = if flags.check.is_some() { 10 } else { 3 };
    let seconds = flags.seconds.unwrap_or(default_seconds);
    let root = FsRoot::of(request.sysroot.as_deref());
    let settings_file = request
        .prebuilt
        .as_ref()
        .and_then(|p| p.settings_file.clone());
    let mut source = None;
    let mut decisions: Vec<(String, String, String)> = Vec::new();
    for round in 1..=rounds {
        status("Learning", &format!("round {round} of {rounds}"));
        let (planned, emitted) = pipeline::pack(request, out_dir).inspect_err(|_| {
            status(
                "Stopped",
                &format!("round {round}: the jail cannot be made with these settings (below)"),
            );
        })?;
        for warning in &planned.plan.warnings {
            status("Warning", warning);
        }
        let source = match &source {
            Some(source) => source,
            None => source.insert(learn::settings_source(
                &planned.built,
                request.prebuilt.is_some(),
                settings_file.as_ref(),
            )?),
        };
        let (archive, manifest) = archive_and_manifest(&emitted)?;
        let verify_request = verify::Request {
            archive: archive.clone(),
            manifest: Some(manifest),
            seconds,
            trace: true,
            check: flags.check.clone(),
            ..verify::Request::default()
        };
        let outcome = verify::verify(&verify_request)?;
        print_outcome(&outcome, &verify_request);
        let events = outcome.events.as_deref().unwrap_or_default();
        let diagnosis = doctor::diagnose(events, &root);
        let failed_check = needs::failed_check(outcome.check.as_ref());
        let needs = needs::needs(events, &diagnosis, &root, failed_check);
        if outcome.passed {
            for artifact in &emitted.artifacts {
                status(
                    "Wrote",
                    &emitted.out_dir.join(&artifact.file).display().to_string(),
                );
            }
            let how = match &flags.check {
                Some(_) => "the check passed",
                None => "the daemon stayed up",
            };
            status(
                "Finished",
                &format!(
                    "round {round}: {how}; the settings are in {}",
                    source.path.display()
                ),
            );
            return Ok(ExitCode::SUCCESS);
        }
        print_needs(&needs);
        for need in &needs {
            if let Fix::Decide { line, why } = &need.fix {
                let entry = (need.what.clone(), why.clone(), line.clone());
                if !decisions.contains(&entry) {
                    decisions.push(entry);
                }
            }
        }
        let fixes: Vec<Fix> = needs
            .iter()
            .filter(|n| !matches!(n.fix, Fix::Decide { .. }))
            .map(|n| n.fix.clone())
            .collect();
        let (edited, refused) = feasible::apply(
            request,
            &source.path,
            source.table,
            &fixes,
            &planned.plan.user,
        )?;
        for refused in refused {
            let what = needs
                .iter()
                .find(|n| n.fix == refused.fix)
                .map_or_else(String::new, |n| n.what.clone());
            let why = format!("the jail cannot be made with it: {}", refused.why);
            let entry = (what, why, refused.fix.line());
            if !decisions.contains(&entry) {
                decisions.push(entry);
            }
        }
        if edited.added.is_empty() {
            status(
                "Stopped",
                &format!(
                    "round {round} adds nothing: the run still fails ({}), and doctor proposes nothing new",
                    failure(&outcome)
                ),
            );
            print_decisions(&decisions);
            return Ok(ExitCode::FAILURE);
        }
        println!("learn: round {round} adds to {}:", source.path.display());
        for line in diff::lines(&edited.before, &edited.after) {
            println!("  {}", printable_text(&line, false));
        }
    }
    status(
        "Stopped",
        &format!(
            "{rounds} rounds spent and the run still fails; run again with more --rounds, or read the needs above"
        ),
    );
    print_decisions(&decisions);
    Ok(ExitCode::FAILURE)
}

fn failure(outcome: &verify::Outcome) -> String {
    match &outcome.check {
        Some(checked) if !checked.passed => "the check did not pass".into(),
        _ => "the daemon did not stay up".into(),
    }
}

/// What jailpack leaves to a person, with the line they would write.
fn print_decisions(decisions: &[(String, String, String)]) {
    for (what, why, line) in decisions {
        // A plan's refusal spans lines (what, from, help): each its own.
        let mut lines = why.lines();
        println!(
            "learn: {} needs a person's decision: {}",
            printable_text(what, false),
            printable_text(lines.next().unwrap_or_default(), false)
        );
        for more in lines {
            println!("      {}", printable_text(more.trim_start(), false));
        }
        if !line.is_empty() {
            println!("      if so, write: {}", printable_text(line, false));
        }
    }
}

/// The archive and the manifest emit wrote.
fn archive_and_manifest(emitted: &Emitted) -> Result<(PathBuf, PathBuf)> {
    let find = |wanted: &dyn Fn(&str) -> bool| {
        emitted
            .artifacts
            .iter()
            .map(|a| a.file.to_string_lossy().into_owned())
            .find(|f| wanted(f))
            .map(|f| emitted.out_dir.join(f))
    };
    let archive = find(&|f| f.ends_with(".tar.gz"));
    let manifest = find(&|f| f.ends_with(".json") && !f.ends_with(".cdx.json"));
    match (archive, manifest) {
        (Some(a), Some(m)) => Ok((a, m)),
        _ => Err(Error::Input {
            path: emitted.out_dir.clone(),
            message: "emit wrote no archive and manifest to run".into(),
        }),
    }
}
