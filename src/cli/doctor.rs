//! `cargo xtask jail doctor ARCHIVE`: verify's run under strace, then every
//! path the program could not find (or was refused) in its jail, with the
//! settings line that adds it. `doctor --probe`: builds the package and runs
//! the program outside any jail under strace, to list its runtime files.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use super::verify::{RunFlags, parse, print_outcome};
use crate::build;
use crate::closure::root::FsRoot;
use crate::error::{Error, Result};
use crate::pipeline;
use crate::verify::names::printable_text;
use crate::verify::needs::{self, Fix, Need};
use crate::verify::{self, Ended, doctor};

const HELP: &str = "\
cargo xtask jail doctor: what a jailed program looked for and did not find

Usage: cargo xtask jail doctor ARCHIVE [OPTIONS] [-- COMMAND ARGS...]
       cargo xtask jail doctor --probe [BUILD OPTIONS] [--for SECONDS] [-- ARGS...]

The first form runs the jail as `verify` does (as nobody when root, with
the same refusals of hostile archives), under strace, and lists each
path the program tried to open, stat or exec inside the jail and could not
(ENOENT, EACCES), once, with the settings line or preset that adds it. The
loader's probing of places where it then found the file is left out; paths
the build host lacks too are listed apart, as probably optional. Exit
status: 0 when the run passed and nothing was missing.

--probe builds the package as `cargo xtask jail` does and runs the program
outside any jail, on this host, under strace, with the settings' arguments
(or ARGS): it lists the runtime files it opened that the ELF closure does
not hold, with the settings line for each.

Options:
      --for SECONDS     how long to run (default 3)
      --arg VALUE       a daemon argument (repeat; replaces the manifest's)
      --manifest FILE   default: the archive's name with .json for .tar.gz,
                        else (none there) the jail's own /.jailpack.json
      --as-jail-user    as root, run as the jail's user instead of nobody
                        (see verify --help)
      --max-size BYTES  the most the archive may unpack to (see verify --help)
      --sysroot DIR     where the jail's files came from (default /), to
                        tell missing files from optional ones
      --check 'COMMAND' a shell command run on this host while the daemon
                        runs (see verify --help); the trace covers what the
                        daemon did while serving it
      --keep            keep the scratch folder and say where it is
Build options (--probe): -p/--package, --bin, --manifest-path, --profile,
      --target, -F/--features, --all-features, --no-default-features, --locked
  -h, --help

Needs strace.";

pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<ExitCode> {
    let flags = parse(args, true)?;
    if flags.help {
        println!("{HELP}");
        return Ok(ExitCode::SUCCESS);
    }
    if flags.probe {
        probe(flags)
    } else {
        diagnose(flags)
    }
}

fn diagnose(flags: RunFlags) -> Result<ExitCode> {
    let mut request = flags.request;
    request.trace = true;
    let outcome = verify::verify(&request)?;
    print_outcome(&outcome, &request);
    let host = flags
        .sysroot
        .as_deref()
        .map_or_else(FsRoot::host, FsRoot::new);
    let events = outcome.events.as_deref().unwrap_or_default();
    let diagnosis = doctor::diagnose(events, &host);
    let failed_check = needs::failed_check(outcome.check.as_ref());
    let needs = needs::needs(events, &diagnosis, &host, failed_check);
    print_needs(&needs);
    let from = flags
        .sysroot
        .as_ref()
        .map_or_else(|| "the build host".to_string(), |s| s.display().to_string());
    if diagnosis.missing.is_empty() {
        println!("doctor: the program found every file it looked for in the jail");
    } else {
        println!(
            "doctor: {} missing in the jail (present on {from}):",
            count(diagnosis.missing.len())
        );
        // Paths come from what the jailed program did: escaped, as a
        // name with a newline or an escape sequence could forge the report.
        for finding in &diagnosis.missing {
            println!(
                "  {} ({}: {})",
                printable_text(&finding.what, false),
                finding.errno,
                finding.syscalls.join(", ")
            );
            if !finding.tried.is_empty() {
                println!(
                    "      tried: {}",
                    printable_text(&finding.tried.join(", "), false)
                );
            }
            for (index, fix) in finding.fixes.iter().enumerate() {
                let label = if index == 0 { "add" } else { " or" };
                println!("      {label}: {}", printable_text(fix, false));
            }
        }
    }
    if !diagnosis.optional.is_empty() {
        println!("doctor: also tried, but absent on {from} too (probably optional):");
        for finding in &diagnosis.optional {
            println!("  {}", printable_text(&finding.what, false));
        }
    }
    if !diagnosis.kernel.is_empty() {
        let paths: Vec<&str> = diagnosis.kernel.iter().map(|f| f.what.as_str()).collect();
        println!(
            "doctor: also tried kernel file systems a jail does not have (usually harmless): {}",
            printable_text(&paths.join(", "), false)
        );
    }
    let ok = outcome.passed && diagnosis.missing.is_empty() && needs.is_empty();
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn probe(flags: RunFlags) -> Result<ExitCode> {
    if flags.sysroot.is_some() {
        return Err(Error::Usage(
            "doctor --probe runs the program on this host: --sysroot does not apply".into(),
        ));
    }
    let built = build::build(&flags.build)?;
    let closure = pipeline::closure_of(&built, &FsRoot::host())?;
    let sources: BTreeSet<PathBuf> = closure
        .files
        .iter()
        .map(|f| std::fs::canonicalize(&f.source).unwrap_or_else(|_| f.source.clone()))
        .collect();
    let args = flags
        .request
        .command
        .or(flags.request.args)
        .unwrap_or_else(|| built.settings.args.clone());
    let seconds = flags.request.seconds;
    let (events, ended, stderr) = verify::probe_run(&built.executable, &args, seconds)?;
    let probe = doctor::probe(&events, &built.executable, &sources);
    let program = built.executable.display();
    let how = match ended {
        Ended::StillRunning => format!("ran for {seconds} s"),
        Ended::Exited(code) => format!("exited with status {code}"),
        Ended::Signaled(signal) => format!("was killed by signal {signal}"),
    };
    println!(
        "doctor --probe: {program} {} {how}, outside any jail",
        args.join(" ")
    );
    if !stderr.trim().is_empty() {
        println!("doctor --probe: its stderr:");
        for line in stderr.lines() {
            println!("  {line}");
        }
    }
    if probe.opened.is_empty() {
        println!("doctor --probe: it opened no runtime file beyond its ELF closure");
    } else {
        println!(
            "doctor --probe: {} it opened that the ELF closure does not hold:",
            count(probe.opened.len())
        );
        for opened in &probe.opened {
            println!("  {}", opened.path);
            for (index, fix) in opened.fixes.iter().enumerate() {
                let label = if index == 0 { "add" } else { " or" };
                println!("      {label}: {fix}");
            }
        }
    }
    if !probe.in_closure.is_empty() {
        println!(
            "doctor --probe: in the ELF closure already: {}",
            probe.in_closure.join(", ")
        );
    }
    if !probe.absent.is_empty() {
        println!(
            "doctor --probe: tried, absent on this host (probably optional): {}",
            probe.absent.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Every need, fatal first, with the settings line that meets it. The
/// first line names the most pressing one. Paths come from what the jailed
/// program did: escaped, so that a name cannot forge the report.
pub fn print_needs(needs: &[Need]) {
    let Some(first) = needs.first() else {
        return;
    };
    let fatal = needs.iter().filter(|n| n.fatal).count();
    let said = if first.fatal { "fatal" } else { "first" };
    println!(
        "doctor: {} ({fatal} fatal); {said}: {} ({}) -> {}",
        count_needs(needs.len()),
        printable_text(&first.what, false),
        first.failed,
        printable_text(&first.fix.line(), false)
    );
    for need in needs {
        let label = if need.fatal { "FATAL" } else { "soft " };
        println!(
            "  {label} {:?} {} ({})",
            need.kind,
            printable_text(&need.what, false),
            need.failed
        );
        match &need.fix {
            Fix::Decide { line, why } => {
                println!("      a person must decide: {}", printable_text(why, false));
                if !line.is_empty() {
                    println!(
                        "      the line they would write: {}",
                        printable_text(line, false)
                    );
                }
            }
            fix => println!("      add: {}", printable_text(&fix.line(), false)),
        }
    }
}

fn count_needs(n: usize) -> String {
    if n == 1 {
        "1 need".to_string()
    } else {
        format!("{n} needs")
    }
}

/// The build flags `doctor --probe` passes on, as `cargo xtask jail` reads them.
fn count(n: usize) -> String {
    if n == 1 {
        "1 file".to_string()
    } else {
        format!("{n} files")
    }
}
