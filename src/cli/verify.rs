//! `cargo xtask jail verify ARCHIVE [--for SECONDS] [-- COMMAND ARGS...]`:
//! runs the daemon inside its extracted jail for a while; the exit status
//! says whether it passed.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{build_flags, text};
use crate::build::BuildRequest;
use crate::error::{Error, Result};
use crate::verify::names::printable_text;
use crate::verify::{self, DEFAULT_SECONDS, Ended, Identity, Outcome, Request, bounds};

const HELP: &str = "\
cargo xtask jail verify: run a jail's daemon inside the jail for a while

Usage: cargo xtask jail verify ARCHIVE [OPTIONS] [-- COMMAND ARGS...]

Extracts ARCHIVE (a Linux jail) into a scratch folder and starts the daemon
inside it, with the path and arguments of the manifest beside the archive:
as root, with chroot as nobody (uid and gid 65534); otherwise in a user and
mount namespace, as yourself. Passes when the daemon is still running when
the time is up, or, given a COMMAND (a path inside the jail), when COMMAND
exits 0 in time. The exit status says which (130 when interrupted).

The archive and manifest are untrusted: an entry that could lead outside
the jail (a `..` or absolute name, a symlinked jail root, a file under a
symlink, a hard link), a device node other than null, zero, tty, urandom or
random with their own numbers at /dev/<name>, a FIFO, or more data than the
manifest records is refused before anything runs; setuid and setgid bits
are dropped. The scratch folder is removed on the way out, also on SIGINT,
SIGTERM or SIGHUP.

Options:
      --for SECONDS     how long the daemon must stay up (default 3)
      --arg VALUE       a daemon argument (repeat; replaces the manifest's)
      --manifest FILE   default: the archive's name with .json for .tar.gz,
                        else (none there) the jail's own /.jailpack.json
      --as-jail-user    as root, run as the jail's user instead of nobody,
                        if this host has it as an ordinary account (uid
                        1000 or more), with that account's own primary
                        group; only then do file permissions show as the
                        installed jail's user sees them
      --max-size BYTES  the most the archive may unpack to, in all and per
                        file (K, M, G suffixes; default: the sizes its
                        manifest records, at most 1G)
      --check 'COMMAND' a shell command run on this host while the daemon
                        runs (a client over loopback: dig, nc, curl),
                        tried until it exits 0 or the time is up; the run
                        passes only when it did (give --for the time it
                        may take, e.g. 10)
      --keep            keep the scratch folder and say where it is
  -h, --help";

/// The flags verify and doctor share.
#[derive(Debug, Default)]
pub(super) struct RunFlags {
    pub request: Request,
    pub sysroot: Option<PathBuf>,
    pub probe: bool,
    pub help: bool,
    /// `doctor --probe`'s build, from cargo's build flags.
    pub build: BuildRequest,
    /// The first build flag given, for the error when it comes without
    /// `--probe`.
    pub build_flag: Option<String>,
}

pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<ExitCode> {
    let flags = parse(args, false)?;
    if flags.help {
        println!("{HELP}");
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = verify::verify(&flags.request)?;
    print_outcome(&outcome, &flags.request);
    Ok(if outcome.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Parses verify's flags (and doctor's, with `doctor` set): everything
/// after `--` is the one-shot command (for `doctor --probe`: the program's
/// arguments).
pub(super) fn parse(args: impl IntoIterator<Item = OsString>, doctor: bool) -> Result<RunFlags> {
    use lexopt::prelude::*;
    let mut args: Vec<OsString> = args.into_iter().collect();
    let after = args.iter().position(|a| a == "--").map(|at| {
        let tail: Vec<OsString> = args.drain(at..).skip(1).collect();
        tail
    });
    let mut flags = RunFlags::default();
    flags.request.seconds = DEFAULT_SECONDS;
    let mut parser = lexopt::Parser::from_args(args);
    let usage = |e: lexopt::Error| Error::Usage(e.to_string());
    let mut archive: Option<PathBuf> = None;
    while let Some(arg) = parser.next().map_err(usage)? {
        // `doctor --probe` builds the package as `cargo xtask jail` does.
        if let Some(flag) = build_flags::build_flag(&arg).filter(|_| doctor) {
            build_flags::parse(&flag, &mut parser, &mut flags.build)?;
            flags.build_flag.get_or_insert(flag);
            continue;
        }
        match arg {
            Long("for") => {
                let value = text(&mut parser)?;
                flags.request.seconds = value.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    Error::Usage(format!("--for {value:?}: give a whole number of seconds"))
                })?;
            }
            Long("arg") => flags
                .request
                .args
                .get_or_insert_with(Vec::new)
                .push(text(&mut parser)?),
            Long("manifest") => flags.request.manifest = Some(text(&mut parser)?.into()),
            Long("keep") => flags.request.keep = true,
            Long("check") => flags.request.check = Some(text(&mut parser)?),
            Long("as-jail-user") => flags.request.as_jail_user = true,
            Long("max-size") => {
                let value = text(&mut parser)?;
                flags.request.max_size = Some(bounds::parse_size(&value).map_err(Error::Usage)?);
            }
            Long("sysroot") if doctor => flags.sysroot = Some(super::sysroot(&mut parser)?),
            Long("probe") if doctor => flags.probe = true,
            Short('h') | Long("help") => flags.help = true,
            Value(value) if archive.is_none() => archive = Some(value.into()),
            other => return Err(Error::Usage(other.unexpected().to_string())),
        }
    }
    if let Some(tail) = after {
        let tail: Vec<String> = tail
            .into_iter()
            .map(|a| {
                a.into_string()
                    .map_err(|a| Error::Usage(format!("{a:?} is not UTF-8")))
            })
            .collect::<Result<_>>()?;
        flags.request.command = Some(tail);
    }
    if flags.help {
        return Ok(flags);
    }
    if flags.probe {
        if archive.is_some() {
            return Err(Error::Usage(
                "doctor --probe builds the package and takes no ARCHIVE".into(),
            ));
        }
    } else {
        if let Some(flag) = &flags.build_flag {
            return Err(Error::Usage(format!(
                "{flag} only goes with doctor --probe"
            )));
        }
        flags.request.archive = archive
            .ok_or_else(|| Error::Usage("give the jail archive (a .tar.gz) to run".into()))?;
    }
    Ok(flags)
}

/// The verdict on stdout, then what the program printed.
pub(super) fn print_outcome(outcome: &Outcome, request: &Request) {
    let how = match &outcome.identity {
        Identity::Chroot { uid, gid, name } => {
            format!(
                "chroot as {}, uid {uid}, gid {gid}",
                printable_text(name, false)
            )
        }
        Identity::UserNamespace => "a user namespace, as yourself".to_string(),
        Identity::Host => "no jail".to_string(),
    };
    let archive = request
        .archive
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    // The command and the program's output come from the archive and its
    // manifest: control characters are shown escaped, never sent to the terminal.
    println!(
        "verify: {}: ran {} ({how})",
        printable_text(&archive, false),
        printable_text(&outcome.command.join(" "), false)
    );
    let seconds = outcome.seconds;
    let took = format!("{:.1} s", outcome.elapsed.as_secs_f64());
    let verdict = match (outcome.ended, outcome.one_shot) {
        (Ended::StillRunning, false) => {
            format!("PASS: still running after {seconds} s (then stopped)")
        }
        (Ended::StillRunning, true) => {
            format!("FAIL: the command was still running after {seconds} s (then stopped)")
        }
        (Ended::Exited(0), true) => format!("PASS: the command exited 0 after {took}"),
        (Ended::Exited(0), false) => format!(
            "FAIL: the daemon exited 0 after {took} instead of staying up (does it fork itself away? pass a foreground flag with --arg)"
        ),
        (Ended::Exited(code), _) => {
            let hint = match code {
                125 => " (the jail could not be entered)",
                126 => " (the program is not executable in the jail)",
                127 => " (the program or its loader is missing in the jail)",
                _ => "",
            };
            format!("FAIL: exited with status {code}{hint} after {took}")
        }
        (Ended::Signaled(signal), _) => format!("FAIL: killed by signal {signal} after {took}"),
    };
    let verdict = match &outcome.check {
        None => verdict,
        Some(checked) if checked.passed => format!(
            "PASS: the check exited 0 (try {}) while the daemon ran",
            checked.tries
        ),
        Some(checked) if checked.daemon_ended => {
            format!("FAIL: the daemon ended before the check passed; {verdict}")
        }
        Some(checked) => format!(
            "FAIL: the check did not exit 0 within {seconds} s ({} tries, last status {})",
            checked.tries,
            checked
                .status
                .map_or_else(|| "none: stopped".to_string(), |s| s.to_string())
        ),
    };
    println!("verify: {verdict}");
    if let Some(checked) = outcome.check.as_ref().filter(|c| !c.passed) {
        if !checked.output.trim().is_empty() {
            println!("verify: the check's last output:");
            for line in printable_text(&checked.output, true).lines() {
                println!("  {line}");
            }
        }
    }
    for (name, text) in [("stdout", &outcome.stdout), ("stderr", &outcome.stderr)] {
        if text.trim().is_empty() {
            continue;
        }
        println!("verify: the program's {name}:");
        for line in printable_text(text, true).lines() {
            println!("  {line}");
        }
    }
    if let Some(kept) = &outcome.kept {
        println!("verify: kept the scratch folder {}", kept.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str], doctor: bool) -> Result<RunFlags> {
        parse(args.iter().map(OsString::from), doctor)
    }

    #[test]
    fn archive_time_args_and_command() {
        let flags = parse_strs(
            &[
                "a.tar.gz", "--for", "5", "--arg", "--listen", "--arg", "x:1", "--", "/bin/t", "-v",
            ],
            false,
        )
        .unwrap();
        let r = &flags.request;
        assert_eq!(r.archive, PathBuf::from("a.tar.gz"));
        assert_eq!(r.seconds, 5);
        assert_eq!(
            r.args.as_deref(),
            Some(&["--listen".to_string(), "x:1".to_string()][..])
        );
        assert_eq!(
            r.command.as_deref(),
            Some(&["/bin/t".to_string(), "-v".to_string()][..])
        );
        assert!(parse_strs(&[], false).is_err());
        assert!(parse_strs(&["a", "--for", "soon"], false).is_err());
        assert!(parse_strs(&["a", "--probe"], false).is_err());
        assert!(parse_strs(&["a", "--locked"], false).is_err());
        let flags = parse_strs(&["a", "--max-size", "64M", "--as-jail-user"], false).unwrap();
        assert_eq!(flags.request.max_size, Some(64 << 20));
        assert!(flags.request.as_jail_user);
        assert!(parse_strs(&["a", "--max-size", "lots"], false).is_err());
    }

    #[test]
    fn probe_takes_build_flags_and_no_archive() {
        let flags = parse_strs(
            &[
                "--probe", "-p", "daytimed", "--locked", "--", "--listen", "x",
            ],
            true,
        )
        .unwrap();
        assert!(flags.probe);
        assert_eq!(flags.build.package.as_deref(), Some("daytimed"));
        assert!(flags.build.locked);
        assert_eq!(flags.build_flag.as_deref(), Some("-p"));
        assert!(parse_strs(&["--probe", "a.tar.gz"], true).is_err());
        assert!(parse_strs(&["a.tar.gz", "--locked"], true).is_err());
    }
}
