//! `cargo xtask jail audit ROOT [--manifest FILE] [--sysroot DIR]`: what in
//! an installed jail has gone stale, or is not the jail's; `audit --sbom
//! FILE`: which package updates a jail installed elsewhere lacks. Quiet, and exit
//! status 0, when nothing changed; for cron jobs and monitoring.

use std::ffi::OsString;
use std::process::ExitCode;

use super::text;
use crate::audit::{self, Request};
use crate::error::{Error, Result};

const HELP: &str = "\
cargo xtask jail audit: is an installed jail still what it was made from?

Usage: cargo xtask jail audit ROOT [OPTIONS]
       cargo xtask jail audit --sbom FILE [--sysroot DIR]

ROOT is the installed jail's root directory (e.g. /var/jail/daytimed). Its
file list, /.jailpack.json inside the jail, says what each entry was and
where the build read each file. Reports files whose source has changed
since (stale: a security update the jail has not received), entries changed
or missing in the jail (contents, kind, mode, owner, link target, device
numbers), entries that could not be checked (unreadable), and entries the
list does not know (the insides of `writable` directories excepted), and
packages the jail holds in another version than the host has now (update:
\"libssl3 3.0.19-1~deb12u2 in the jail, 3.0.19-1~deb12u3 on the host\"). Never
follows a link in the jail and opens nothing there but regular files.
Prints nothing and exits 0 when nothing changed; exits 1 otherwise.

Options:
      --manifest FILE   the file list to use instead of ROOT/.jailpack.json
                        (e.g. the release's <name>-<version>-<target>.json)
      --sysroot DIR     read the sources under DIR instead of where the build
                        read them (for a jail made from a sysroot, audited on
                        the target itself: --sysroot /), and ask its
                        package database for the versions it has now
      --sbom FILE       no ROOT: compare the package versions the jail's
                        SBOM (<name>-<version>-<target>.cdx.json) names with
                        this host's (for a jail installed elsewhere)
  -h, --help";

pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<ExitCode> {
    use lexopt::prelude::*;
    let mut request = Request::default();
    let mut root = None;
    let mut sbom = None;
    let mut parser = lexopt::Parser::from_args(args);
    let usage = |e: lexopt::Error| Error::Usage(e.to_string());
    while let Some(arg) = parser.next().map_err(usage)? {
        match arg {
            Long("manifest") => request.manifest = Some(text(&mut parser)?.into()),
            Long("sysroot") => request.sysroot = Some(text(&mut parser)?.into()),
            Long("sbom") => sbom = Some(std::path::PathBuf::from(text(&mut parser)?)),
            Short('h') | Long("help") => {
                println!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            Value(value) if root.is_none() => root = Some(value.into()),
            other => return Err(Error::Usage(other.unexpected().to_string())),
        }
    }
    let findings = match (root, sbom) {
        (Some(_), Some(_)) => {
            return Err(Error::Usage(
                "--sbom audits from the SBOM alone: give either ROOT or --sbom FILE".into(),
            ));
        }
        (None, Some(sbom)) => {
            if request.manifest.is_some() {
                return Err(Error::Usage(
                    "--manifest names an installed jail's list: it goes with ROOT, not --sbom"
                        .into(),
                ));
            }
            audit::audit_sbom(&sbom, request.sysroot.as_deref())?
        }
        (root, None) => {
            request.root = root.ok_or_else(|| {
                Error::Usage(
                    "give the installed jail's root directory, e.g. /var/jail/<name> (or --sbom FILE)"
                        .into(),
                )
            })?;
            audit::audit(&request)?
        }
    };
    for finding in &findings {
        println!("{finding}");
    }
    Ok(if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
