//! The library's one error type. Every variant names what failed, on which
//! file or setting, and (where there is one) what to do about it; the front
//! end prints the whole `source()` chain.

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading an input file or directory failed.
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Writing an output file failed; nothing was left at the final path.
    #[error(
        "cannot write {path}; check that the output directory exists and is writable (or pass --out-dir)"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A `[package.metadata.jail]` table (or a flag overriding it) is invalid.
    #[error("invalid jail settings in {manifest}: {message}")]
    Settings { manifest: PathBuf, message: String },

    /// The command line could not be understood.
    #[error("{0}\n  run `cargo xtask jail --help` for the flags")]
    Usage(String),

    /// cargo, cargo metadata or rustc failed or said something unexpected.
    #[error("cargo failed: {message}")]
    Cargo { message: String },

    /// Package or binary selection found nothing, or too much.
    #[error("{message}")]
    Selection { message: String },

    /// A file is not an ELF object jailpack can read.
    #[error("{path}: not a usable ELF file: {reason}")]
    Elf { path: PathBuf, reason: String },

    /// The executable is for an OS or loader jailpack does not support.
    #[error(
        "{path}: unsupported target ({found}); jailpack supports OpenBSD, FreeBSD and Linux (glibc, musl)"
    )]
    UnsupportedTarget { path: PathBuf, found: String },

    /// A feature for a target that this version cannot handle yet.
    #[error("{path}: {what} is not supported yet")]
    NotSupported { path: PathBuf, what: String },

    /// A dependency could not be found where the target's loader would look.
    #[error(
        "library {name} not found\n  needed by: {}\n  searched: {}\n  help: install it on the build host (or in the sysroot), or give the object a RUNPATH that reaches it",
        display_chain(.chain), display_dirs(.searched)
    )]
    LibraryNotFound {
        name: String,
        /// The object that asked for it first, then the one that loaded that object, up to the executable.
        chain: Vec<PathBuf>,
        searched: Vec<PathBuf>,
    },

    /// Symbolic links that never reach a file.
    #[error("too many levels of symbolic links while resolving {path} (a symlink loop?)")]
    SymlinkLoop { path: PathBuf },

    /// A path in the settings (or reached through a link) that could escape the jail.
    #[error("unsafe path {path:?} in {field}: {reason}")]
    UnsafePath {
        field: String,
        path: String,
        reason: String,
    },

    /// Two things want the same place in the jail.
    #[error("conflict in the jail at {path}: {first} and {second}")]
    Conflict {
        path: String,
        first: String,
        second: String,
    },

    /// A source file changed between the plan hashing it and emit writing it.
    #[error(
        "{path} changed while the jail was being made: the jail's file list would not match its contents; run again once nothing is writing it"
    )]
    SourceChanged { path: PathBuf },

    /// A service-script template failed to render.
    #[error("cannot render service template {template}")]
    Template {
        template: String,
        #[source]
        source: minijinja::Error,
    },

    /// A hardening rule of the plan refused something; `setting` names the
    /// settings line (or preset) it came from, `help` the fix or opt-in.
    #[error("hardening: {subject}: {problem}\n  from: {setting}\n  help: {help}")]
    Hardening {
        setting: String,
        subject: String,
        problem: String,
        help: String,
    },

    /// An external program verify, doctor or audit needs is missing or failed.
    #[error("{tool}: {message}")]
    Tool { tool: String, message: String },

    /// An archive or manifest given to verify, doctor or audit is unusable.
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },

    /// verify or doctor refused an archive entry that could reach outside
    /// the scratch folder or the jail, or that passes a bound; nothing of
    /// the archive was run.
    #[error("{archive}: refused entry {entry}: {problem}\n  help: {help}")]
    Refused {
        archive: PathBuf,
        /// The entry's name as the archive gives it, control characters escaped.
        entry: String,
        problem: String,
        help: String,
    },

    /// verify's or doctor's scratch folder could not be written.
    #[error(
        "cannot write {path} in the scratch folder; check that TMPDIR (default /tmp) exists, is writable and has room"
    )]
    Scratch {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A signal stopped verify or doctor; the run was ended and the
    /// scratch folder removed.
    #[error("interrupted by {signal}: the run was stopped and its scratch folder removed")]
    Interrupted { signal: String },
}

fn display_chain(chain: &[PathBuf]) -> String {
    let parts: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
    parts.join(" <- ")
}

fn display_dirs(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "(no directory)".to_string();
    }
    let parts: Vec<String> = dirs.iter().map(|p| p.display().to_string()).collect();
    parts.join(", ")
}
