//! The library's one error type. Every variant names what failed, on which
//! file or setting, and (where there is one) what to do about it; the front
//! end prints the whole `source()` chain.

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One library the target's loader would not find.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MissingLibrary {
    pub name: String,
    /// The object that asked for it first, then the one that loaded that
    /// object, up to the executable.
    pub chain: Vec<PathBuf>,
    pub searched: Vec<PathBuf>,
}

impl MissingLibrary {
    /// The error for what a walk could not find: `None` when nothing.
    pub fn error(mut missing: Vec<MissingLibrary>) -> Option<Error> {
        match missing.len() {
            0 => None,
            1 => {
                let MissingLibrary {
                    name,
                    chain,
                    searched,
                } = missing.remove(0);
                Some(Error::LibraryNotFound {
                    name,
                    chain,
                    searched,
                })
            }
            _ => Some(Error::LibrariesNotFound { missing }),
        }
    }
}

/// One symbol version an object needs and its library lacks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MissingVersion {
    /// The object that needs it, inside the jail.
    pub object: PathBuf,
    /// The library's soname, and the file that answers it.
    pub library: String,
    pub library_file: PathBuf,
    pub version: String,
    /// The newest version of the same family the library does define
    /// (`GLIBC_2.36` for a missing `GLIBC_2.38`), if any.
    pub newest: Option<String>,
}

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

    /// Several libraries could not be found: every one of them, so that one
    /// run shows all that a sysroot or host lacks.
    #[error("{}", display_missing(.missing))]
    LibrariesNotFound { missing: Vec<MissingLibrary> },

    /// Objects need symbol versions their libraries do not define: the
    /// loader would refuse to start the program.
    #[error("{}", display_versions(.missing, .help))]
    VersionsNotFound {
        missing: Vec<MissingVersion>,
        /// The likely cause, one line per library.
        help: Vec<String>,
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

/// Each library with what needs it; the directories searched once when
/// they were the same for all (a sysroot that lacks them all), else each.
fn display_missing(missing: &[MissingLibrary]) -> String {
    let names: Vec<&str> = missing.iter().map(|m| m.name.as_str()).collect();
    let mut text = format!(
        "{} libraries not found: {}",
        missing.len(),
        names.join(", ")
    );
    let shared = missing.windows(2).all(|w| w[0].searched == w[1].searched);
    for m in missing {
        text.push_str(&format!(
            "\n  {}, needed by: {}",
            m.name,
            display_chain(&m.chain)
        ));
        if !shared {
            text.push_str(&format!("\n      searched: {}", display_dirs(&m.searched)));
        }
    }
    if shared {
        text.push_str(&format!(
            "\n  searched, for each: {}",
            display_dirs(&missing[0].searched)
        ));
    }
    text.push_str("\n  help: install them on the build host (or in the sysroot), or give the objects a RUNPATH that reaches them");
    text
}

fn display_versions(missing: &[MissingVersion], help: &[String]) -> String {
    let mut text = format!(
        "{} symbol version{} not found: the loader would refuse to start the program",
        missing.len(),
        if missing.len() == 1 { "" } else { "s" }
    );
    for m in missing {
        let defines = m
            .newest
            .as_ref()
            .map_or_else(String::new, |n| format!(", which defines up to {n}"));
        text.push_str(&format!(
            "\n  {} needs {} from {} ({}){defines}",
            m.object.display(),
            m.version,
            m.library,
            m.library_file.display()
        ));
    }
    for line in help {
        text.push_str(&format!("\n  help: {line}"));
    }
    text
}

fn display_dirs(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "(no directory)".to_string();
    }
    let parts: Vec<String> = dirs.iter().map(|p| p.display().to_string()).collect();
    parts.join(", ")
}

impl Error {
    /// The variant's name in kebab case (`library-not-found`), for
    /// machine-readable output.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Read { .. } => "read",
            Error::Write { .. } => "write",
            Error::Settings { .. } => "settings",
            Error::Usage(_) => "usage",
            Error::Cargo { .. } => "cargo",
            Error::Selection { .. } => "selection",
            Error::Elf { .. } => "elf",
            Error::UnsupportedTarget { .. } => "unsupported-target",
            Error::NotSupported { .. } => "not-supported",
            Error::LibraryNotFound { .. } | Error::LibrariesNotFound { .. } => "library-not-found",
            Error::VersionsNotFound { .. } => "version-not-found",
            Error::SymlinkLoop { .. } => "symlink-loop",
            Error::UnsafePath { .. } => "unsafe-path",
            Error::Conflict { .. } => "conflict",
            Error::SourceChanged { .. } => "source-changed",
            Error::Template { .. } => "template",
            Error::Hardening { .. } => "hardening",
            Error::Tool { .. } => "tool",
            Error::Input { .. } => "input",
            Error::Refused { .. } => "refused",
            Error::Scratch { .. } => "scratch",
            Error::Interrupted { .. } => "interrupted",
        }
    }

    /// The file the error is about, when there is one.
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            Error::Read { path, .. }
            | Error::Write { path, .. }
            | Error::Elf { path, .. }
            | Error::UnsupportedTarget { path, .. }
            | Error::NotSupported { path, .. }
            | Error::SymlinkLoop { path }
            | Error::SourceChanged { path }
            | Error::Input { path, .. }
            | Error::Scratch { path, .. } => Some(path.clone()),
            Error::Refused { archive, .. } => Some(archive.clone()),
            Error::Settings { manifest, .. } => Some(manifest.clone()),
            Error::LibraryNotFound { chain, .. } => chain.first().cloned(),
            Error::LibrariesNotFound { missing } => {
                missing.first().and_then(|m| m.chain.first().cloned())
            }
            Error::VersionsNotFound { missing, .. } => missing.first().map(|m| m.object.clone()),
            _ => None,
        }
    }

    /// The message and its `help:` lines apart, with the causes' chain
    /// appended to the message.
    pub fn message_and_help(&self) -> (String, Vec<String>) {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        let mut message = Vec::new();
        let mut help = Vec::new();
        for line in text.lines() {
            match line.trim_start().strip_prefix("help: ") {
                Some(rest) => help.push(rest.to_string()),
                None => message.push(line),
            }
        }
        (message.join("\n"), help)
    }
}
