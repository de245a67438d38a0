//! `cargo xtask jail [OPTIONS]`: build, closure, plan and emit, with
//! cargo-style status lines and a closure summary.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use super::build_flags;
use super::messages::MessageFormat;
use super::progress::ProgressLine;
use super::{learn, status, sysroot, text, tree};
use crate::build::{self, BuildRequest};
use crate::closure::ClosureFile;
use crate::emit::compress::{self, Compression};
use crate::error::{Error, Result};
use crate::pipeline::{self, Planned};
use crate::plan::Plan;
use crate::settings::ServiceKind;

const HELP: &str = "\
cargo xtask jail: build a package and pack its binary into a chroot jail

Usage: cargo xtask jail [OPTIONS]
       cargo xtask jail --binary PATH [--settings FILE] [OPTIONS]
       cargo xtask jail closure [--sysroot DIR] [--json] PATH...
       cargo xtask jail verify ARCHIVE [-- COMMAND ARGS...]
       cargo xtask jail doctor ARCHIVE | --probe
       cargo xtask jail audit ROOT
Each subcommand has its own --help.

Package selection (as cargo):
  -p, --package NAME        the package to jail (default: the only one with
                            [package.metadata.jail], else the root package)
      --bin NAME            the binary to jail (default: the only one)
      --manifest-path PATH  the workspace's Cargo.toml
Prebuilt (no cargo build, a porter's case):
      --binary PATH         jail this existing ELF executable
      --settings FILE       TOML with the [package.metadata.jail] keys
      --version VERSION     the version in artifact names (default 0.0.0)
Build (passed to cargo build):
      --profile NAME        default: release
      --target TRIPLE       cross-compile for TRIPLE
  -F, --features LIST       --all-features, --no-default-features also work
      --locked
Jail (override [package.metadata.jail]):
      --name NAME           jail and service name
      --root PATH           where the jail lives on the target
      --user NAME, --group NAME
      --arg VALUE           a daemon argument (repeat; replaces `args`)
      --timezone ZONE       `host` or a zone name such as Europe/Paris
      --service KIND        openbsd, freebsd or systemd (repeat for several)
      --sysroot DIR         resolve libraries and files in DIR instead of /
Learning (run the jail under strace, add what doctor finds, again):
      --learn               until the daemon passes, a round adds nothing,
                            or the rounds are spent; each round's additions
                            to the settings source ([package.metadata.jail]
                            edited in place, or the --settings file) are
                            printed as a diff. Never adds a host secret, a
                            setuid file or a world-writable directory
                            without the sticky bit: those are reported
      --check 'COMMAND'     a shell command run on this host while the
                            daemon runs (a client over loopback); a round
                            passes only when it exits 0 in time
      --rounds N            at most N rounds (default 5)
      --for SECONDS         how long each run may take (default 10 with
                            --check, else 3)
Output:
      --out-dir DIR         default: <cargo target dir>/jail
      --compression KIND    gzip (default, .tar.gz), zstd (.tar.zst; Linux and
                            FreeBSD jails: OpenBSD's tar reads only gzip) or
                            none (.tar)
      --compression-level N gzip 1-9 (default 6), zstd 1-19 (default 3)
      --message-format FMT  human (default) or json: one JSON object a line
                            on stdout (reasons closure-resolved, artifact,
                            error, finished); human lines stay on stderr
  -h, --help

Environment: SOURCE_DATE_EPOCH sets every archive entry's mtime.
Exit status: 0 when the jail was written, 1 on any error (nothing is then
left at a final path), 2 when the command line cannot be understood.";

/// What the command line asked for.
#[derive(Debug, Default)]
struct Flags {
    request: BuildRequest,
    /// `--binary`: no cargo build.
    prebuilt: Option<build::Prebuilt>,
    out_dir: Option<PathBuf>,
    sysroot: Option<PathBuf>,
    compression: compress::Settings,
    format: MessageFormat,
    help: bool,
    /// `--learn`.
    learn: bool,
    /// `--learn`'s flags.
    learning: learn::LearnFlags,
    /// `--check`, `--rounds` or `--for` seen (they need `--learn`).
    learn_flag: Option<&'static str>,
}

pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<ExitCode> {
    let flags = parse(args)?;
    if flags.help {
        println!("{HELP}");
        return Ok(ExitCode::SUCCESS);
    }
    if flags.learn {
        let request = pipeline::Request {
            build: flags.request,
            prebuilt: flags.prebuilt,
            sysroot: flags.sysroot,
            mtime: pipeline::source_date_epoch()?,
            compression: flags.compression,
        };
        return learn::run(&request, flags.out_dir.as_deref(), &flags.learning);
    }
    let format = flags.format;
    let packed = pipeline::source_date_epoch().and_then(|mtime| {
        let request = pipeline::Request {
            build: flags.request,
            prebuilt: flags.prebuilt,
            sysroot: flags.sysroot,
            mtime,
            compression: flags.compression,
        };
        let mut line = ProgressLine::new();
        let packed = pipeline::pack_with_progress(&request, flags.out_dir.as_deref(), &mut |p| {
            line.update(p)
        });
        line.clear();
        packed
    });
    let (Planned { plan, .. }, emitted) = match packed {
        Ok(packed) => packed,
        Err(error) => {
            format.error(&error);
            format.finished(false);
            return Err(error);
        }
    };
    format.closure(&plan);
    status(
        "Resolved",
        &format!(
            "{} files for {} ({}, {})",
            plan.closure.files.len(),
            plan.triple,
            plan.target.os,
            plan.target.loader
        ),
    );
    print_summary(&plan);
    for warning in &plan.warnings {
        status("Warning", warning);
    }
    format.artifacts(&plan, &emitted);
    format.finished(true);
    for artifact in &emitted.artifacts {
        status(
            "Wrote",
            &emitted.out_dir.join(&artifact.file).display().to_string(),
        );
    }
    status(
        "Finished",
        &format!(
            "jail {} for {} at {}",
            plan.name,
            plan.jail_root.display(),
            plan.triple
        ),
    );
    Ok(ExitCode::SUCCESS)
}

fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Flags> {
    use lexopt::prelude::*;
    let mut flags = Flags::default();
    let mut parser = lexopt::Parser::from_args(args);
    let usage = |e: lexopt::Error| Error::Usage(e.to_string());
    while let Some(arg) = parser.next().map_err(usage)? {
        if let Some(flag) = build_flags::build_flag(&arg) {
            build_flags::parse(&flag, &mut parser, &mut flags.request)?;
            continue;
        }
        let overrides = &mut flags.request.overrides;
        match arg {
            Long("name") => overrides.name = Some(text(&mut parser)?),
            Long("root") => overrides.root = Some(text(&mut parser)?),
            Long("user") => overrides.user = Some(text(&mut parser)?),
            Long("group") => overrides.group = Some(text(&mut parser)?),
            Long("arg") => overrides
                .args
                .get_or_insert_with(Vec::new)
                .push(text(&mut parser)?),
            Long("timezone") => overrides.timezone = Some(text(&mut parser)?),
            Long("service") => {
                let value = text(&mut parser)?;
                let kind = ServiceKind::parse(&value).ok_or_else(|| {
                    Error::Usage(format!(
                        "--service {value:?}: use openbsd, freebsd or systemd"
                    ))
                })?;
                overrides.services.push(kind);
            }
            Long("sysroot") => flags.sysroot = Some(sysroot(&mut parser)?),
            Long("out-dir") => {
                let dir = text(&mut parser)?;
                if dir.is_empty() {
                    return Err(Error::Usage(
                        "--out-dir \"\": give a directory (default: <cargo target dir>/jail)"
                            .into(),
                    ));
                }
                flags.out_dir = Some(dir.into());
            }
            Long("compression") => {
                let value = text(&mut parser)?;
                flags.compression.compression = Compression::parse(&value).ok_or_else(|| {
                    Error::Usage(format!("--compression {value:?}: use gzip, zstd or none"))
                })?;
            }
            Long("compression-level") => {
                let value = text(&mut parser)?;
                let level = value.parse().map_err(|_| {
                    Error::Usage(format!("--compression-level {value:?}: give a number"))
                })?;
                flags.compression.level = Some(level);
            }
            Long("message-format") => {
                let value = text(&mut parser)?;
                flags.format = MessageFormat::parse(&value).ok_or_else(|| {
                    Error::Usage(format!("--message-format {value:?}: use human or json"))
                })?;
            }
            Long("binary") => {
                flags.prebuilt.get_or_insert_with(Default::default).binary =
                    text(&mut parser)?.into()
            }
            Long("settings") => {
                flags
                    .prebuilt
                    .get_or_insert_with(Default::default)
                    .settings_file = Some(text(&mut parser)?.into())
            }
            Long("version") => {
                flags.prebuilt.get_or_insert_with(Default::default).version =
                    Some(text(&mut parser)?)
            }
            Long("learn") => flags.learn = true,
            Long("check") => {
                flags.learn_flag.get_or_insert("--check");
                flags.learning.check = Some(text(&mut parser)?);
            }
            Long("rounds") => {
                flags.learn_flag.get_or_insert("--rounds");
                let value = text(&mut parser)?;
                let rounds = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::Usage(format!("--rounds {value:?}: give a whole number of rounds"))
                })?;
                flags.learning.rounds = Some(rounds);
            }
            Long("for") => {
                flags.learn_flag.get_or_insert("--for");
                let value = text(&mut parser)?;
                let seconds = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::Usage(format!("--for {value:?}: give a whole number of seconds"))
                })?;
                flags.learning.seconds = Some(seconds);
            }
            Short('h') | Long("help") => flags.help = true,
            other => return Err(Error::Usage(other.unexpected().to_string())),
        }
    }
    if let (Some(flag), false) = (flags.learn_flag, flags.learn) {
        return Err(Error::Usage(format!("{flag} only goes with --learn")));
    }
    // --learn's rounds print their diffs and diagnoses on stdout, which
    // JSON lines must have to themselves: refused rather than mixed.
    if flags.learn && flags.format == MessageFormat::Json {
        return Err(Error::Usage(
            "--learn prints its rounds for a person and has no --message-format json; learn the settings first, then make the jail with --message-format json".to_string(),
        ));
    }
    flags.compression.check().map_err(Error::Usage)?;
    if let Some(prebuilt) = &flags.prebuilt {
        if prebuilt.binary.as_os_str().is_empty() {
            return Err(Error::Usage(
                "--settings and --version go with --binary PATH".into(),
            ));
        }
    }
    Ok(flags)
}

/// The closure as a tree under the executable, with sizes.
fn print_summary(plan: &Plan) {
    let closure = &plan.closure;
    let size = |file: &ClosureFile| std::fs::metadata(&file.source).map_or(0, |m| m.len());
    let total: u64 = closure.files.iter().map(size).sum();
    let describe = |file: &ClosureFile| match &file.moved_from {
        Some(from) => format!(
            " ({}, moved from {}: the jail has no loader cache)",
            human_size(size(file)),
            from.display()
        ),
        None => format!(" ({})", human_size(size(file))),
    };
    tree::visit(closure, |depth, file, seen| {
        let end = if seen { tree::SEEN } else { "" };
        let line = tree::indented(depth, file);
        eprintln!("{:>12} {line}{}{end}", "", describe(file));
    });
    eprintln!(
        "{:>12} {} files, {} in the closure; {} entries in the jail",
        "",
        closure.files.len(),
        human_size(total),
        plan.entries.len()
    );
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse_strs(args: &[&str]) -> Result<Flags> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn learn_refuses_json_messages_rather_than_mixing_them_with_its_rounds() {
        let Err(err) = parse_strs(&["--learn", "--message-format", "json"]) else {
            panic!("--learn with json messages was accepted");
        };
        assert!(err.to_string().contains("--learn"), "{err}");
        assert!(parse_strs(&["--learn", "--message-format", "human"]).is_ok());
        assert!(parse_strs(&["--message-format", "json"]).is_ok());
    }

    #[test]
    fn flags_fill_the_request_and_overrides() {
        let flags = parse_strs(&[
            "-p",
            "daytimed",
            "--bin",
            "d",
            "--profile",
            "dev",
            "--target",
            "x86_64-unknown-linux-musl",
            "-F",
            "a",
            "--features",
            "b",
            "--locked",
            "--service",
            "openbsd",
            "--service",
            "systemd",
            "--arg",
            "--listen",
            "--arg",
            "127.0.0.1:1",
            "--out-dir",
            "out",
            "--sysroot",
            "/usr",
        ])
        .unwrap();
        let r = &flags.request;
        assert_eq!(r.package.as_deref(), Some("daytimed"));
        assert_eq!(r.overrides.bin.as_deref(), Some("d"));
        assert_eq!(r.profile, "dev");
        assert_eq!(r.features, ["a", "b"]);
        assert!(r.locked);
        assert_eq!(
            r.overrides.services,
            [ServiceKind::OpenBsd, ServiceKind::Systemd]
        );
        assert_eq!(
            r.overrides.args.as_deref(),
            Some(&["--listen".to_string(), "127.0.0.1:1".to_string()][..])
        );
        assert_eq!(flags.out_dir.as_deref(), Some(Path::new("out")));
        assert_eq!(flags.sysroot.as_deref(), Some(Path::new("/usr")));
    }

    #[test]
    fn unknown_flags_are_usage_errors() {
        let err = parse_strs(&["--frobnicate"]).unwrap_err().to_string();
        assert!(
            err.contains("--frobnicate") && err.contains("--help"),
            "{err}"
        );
        assert!(
            parse_strs(&["--bin"]).is_err(),
            "a flag missing its value was accepted"
        );
    }
}
