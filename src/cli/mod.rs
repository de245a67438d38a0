//! The front end behind `cargo xtask jail`: one module per subcommand, each
//! a thin layer of flags over the library's stages.

mod audit;
mod build_flags;
mod closure;
mod doctor;
mod learn;
mod messages;
mod pack;
mod progress;
mod tree;
mod verify;

use std::ffi::OsString;
use std::process::ExitCode;

use crate::error::{Error, Result};

/// Runs the front end on the arguments after `jail`; prints an error with
/// its whole chain of causes and exits non-zero.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    // Die quietly of SIGPIPE like other Unix tools (`closure ... | head`)
    // instead of panicking in println! when the reader goes away.
    // SAFETY: resetting a signal to its default action, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let mut args: Vec<OsString> = args.into_iter().collect();
    let subcommand = args.first().and_then(|a| a.to_str()).map(str::to_string);
    let result = match subcommand.as_deref() {
        Some("closure") => closure::run(args.drain(1..)),
        Some("verify") => verify::run(args.drain(1..)),
        Some("doctor") => doctor::run(args.drain(1..)),
        Some("audit") => audit::run(args.drain(1..)),
        _ => pack::run(std::mem::take(&mut args)),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            match error {
                Error::Usage(_) => ExitCode::from(2),
                // As a shell reports a command stopped by Ctrl-C.
                Error::Interrupted { .. } => ExitCode::from(130),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// A cargo-style status line on stderr.
fn status(verb: &str, message: &str) {
    eprintln!("{verb:>12} {message}");
}

/// `--sysroot DIR`, made absolute so every path reported is too.
fn sysroot(parser: &mut lexopt::Parser) -> Result<std::path::PathBuf> {
    let dir = text(parser)?;
    std::fs::canonicalize(&dir).map_err(|source| Error::Read {
        path: dir.into(),
        source,
    })
}

/// The value of the flag just read, as UTF-8.
fn text(parser: &mut lexopt::Parser) -> Result<String> {
    use lexopt::ValueExt;
    let usage = |e: lexopt::Error| Error::Usage(e.to_string());
    parser.value().map_err(usage)?.string().map_err(usage)
}
