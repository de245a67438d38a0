//! `cargo xtask jail audit ROOT [--manifest FILE] [--sysroot DIR]`: what in
//! an installed jail has gone stale, or is not the jail's. Quiet, and exit
//! status 0, when nothing changed; for cron jobs and monitoring.

use std::ffi::OsString;
use std::process::ExitCode;

use super::text;
use crate::audit::{self, Request};
use crate::error::{Error, Result};

const HELP: &str = "\
cargo xtask jail audit: is an installed jail still what it was made from?

Usage: cargo xtask jail audit ROOT [OPTIONS]

ROOT is the installed jail's root directory (e.g. /var/jail/daytimed). Its
file list, /.jailpack.json inside the jail, says what each entry was and
where the build read each file. Reports files whose source has changed
since (stale: a security update the jail has not received), entries changed
or missing in the jail (contents, kind, mode, owner, link target, device
numbers), entries that could not be checked (unreadable), and entries the
list does not know (the insides of `writable` directories excepted). Never
follows a link in the jail and opens nothing there but regular files.
Prints nothing and exits 0 when nothing changed; exits 1 otherwise.

Options:
      --manifest FILE   the file list to use instead of ROOT/.jailpack.json
                        (e.g. the release's <name>-<version>-<target>.json)
      --sysroot DIR     read the sources under DIR instead of where the build
                        read them (for a jail made from a sysroot, audited on
                        the target itself: --sysroot /)
  -h, --help";

pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<ExitCode> {
    use lexopt::prelude::*;
    let mut request = Request::default();
    let mut root = None;
    let mut parser = lexopt::Parser::from_args(args);
    let usage = |e: lexopt::Error| Error::Usage(e.to_string());
    while let Some(arg) = parser.next().map_err(usage)? {
        match arg {
            Long("manifest") => request.manifest = Some(text(&mut parser)?.into()),
            Long("sysroot") => request.sysroot = Some(text(&mut parser)?.into()),
            Short('h') | Long("help") => {
                println!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            Value(value) if root.is_none() => root = Some(value.into()),
            other => return Err(Error::Usage(other.unexpected().to_string())),
        }
    }
    request.root = root.ok_or_else(|| {
        Error::Usage("give the installed jail's root directory, e.g. /var/jail/<name>".into())
    })?;
    let findings = audit::audit(&request)?;
    for finding in &findings {
        println!("{finding}");
    }
    Ok(if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
