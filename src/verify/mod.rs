//! Stage 5, verify (optional): extracts a jail archive into a scratch folder
//! and runs the daemon inside it for a bounded time — with chroot as nobody
//! (or, when asked, the jail's own ordinary user) when root, in a user and
//! mount namespace when not — and reports whether it started and stayed up
//! (or, for a one-shot command, exited 0). Traced (`doctor`), the run also
//! tells which paths the program tried and could not find in the jail;
//! `--probe` runs the freshly built program outside any jail to learn its
//! runtime files.
//!
//! The archive and its manifest may be downloads, and verify runs as root:
//! nothing in them may reach outside the scratch folder, pick a host
//! account or host device, or take unbounded memory or disk (see
//! [`extract`], [`identity`], [`devices`], [`bounds`]). The scratch folder
//! goes on every way out, a signal included ([`signals`]).
//!
//! Linux archives only: the run uses Linux namespaces, and the daemon runs
//! natively.

pub mod bounds;
pub mod check;
pub mod devices;
pub mod doctor;
pub mod embedded;
pub mod extract;
pub mod identity;
mod members;
pub mod names;
pub mod needs;
pub mod nofollow;
pub mod run;
pub mod signals;
pub mod trace;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use self::identity::Identity;
pub use self::run::Ended;
use crate::closure::target::Os;
use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// Seconds a daemon must stay up when nothing else is said.
pub const DEFAULT_SECONDS: u64 = 3;

/// What to verify.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub archive: PathBuf,
    /// The manifest; default: `<archive without .tar.gz>.json` beside it.
    pub manifest: Option<PathBuf>,
    pub seconds: u64,
    /// Replaces the manifest's daemon arguments.
    pub args: Option<Vec<String>>,
    /// A one-shot command to run instead of the daemon: passes on exit 0.
    pub command: Option<Vec<String>>,
    /// Run under strace and collect the program's events.
    pub trace: bool,
    /// `--check`: a shell command run on the host while the daemon runs;
    /// the run passes only when it exits 0 in time.
    pub check: Option<String>,
    /// Keep the scratch folder (its path is in the outcome).
    pub keep: bool,
    /// `--max-size`: the most the archive may unpack to, in all and per
    /// file; default: from the sizes its manifest records.
    pub max_size: Option<u64>,
    /// `--as-jail-user`: as root, run as the jail's user when this host has
    /// it as an ordinary account, instead of nobody.
    pub as_jail_user: bool,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub passed: bool,
    pub info: Manifest,
    pub identity: Identity,
    /// The program and arguments run inside the jail.
    pub command: Vec<String>,
    /// True for a one-shot command (pass = exit 0), false for the daemon.
    pub one_shot: bool,
    pub seconds: u64,
    pub ended: Ended,
    pub elapsed: Duration,
    pub stdout: String,
    pub stderr: String,
    /// The program's own events, when traced.
    pub events: Option<Vec<trace::Event>>,
    /// What `--check` did.
    pub check: Option<check::Checked>,
    /// The scratch folder, when kept.
    pub kept: Option<PathBuf>,
}

/// `<archive without .tar.gz, .tgz, .tar.zst or .tar>.json`.
pub fn default_manifest(archive: &Path) -> PathBuf {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = name
        .strip_suffix(".tar.gz")
        .or_else(|| name.strip_suffix(".tgz"))
        .or_else(|| name.strip_suffix(".tar.zst"))
        .or_else(|| name.strip_suffix(".tar"))
        .unwrap_or(&name);
    archive.with_file_name(format!("{base}.json"))
}

/// Extracts and runs; an `Err` means verify itself could not do its job
/// (a bad or hostile archive, a missing tool, a signal), not that the
/// daemon failed.
pub fn verify(request: &Request) -> Result<Outcome> {
    let (info, manifest) = manifest_of(request)?;
    check_runnable(&info, &manifest)?;
    let paths = Paths::of(&info, &manifest)?;
    let identity = if run::effective_uid()? == 0 {
        identity::as_root(&info.user, request.as_jail_user)?
    } else {
        if request.as_jail_user {
            return Err(Error::Usage(
                "--as-jail-user needs root: without it the jail runs in a user namespace, as yourself"
                    .into(),
            ));
        }
        if let Err(why) = run::user_namespaces_work()? {
            return Err(Error::Tool {
                tool: "unshare".into(),
                message: format!(
                    "cannot make a user namespace ({why}); unprivileged user namespaces are disabled here (sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces, or a container policy): run verify as root"
                ),
            });
        }
        Identity::UserNamespace
    };
    // Before the scratch folder exists, so that no signal can leave it.
    let _handlers = signals::install()?;
    let scratch = Scratch::new("jailpack-verify-")?;
    let result = run_in(request, &info, &paths, &identity, scratch.path());
    let interrupted = matches!(result, Err(Error::Interrupted { .. }));
    let kept = (request.keep && !interrupted).then(|| scratch.keep());
    let mut outcome = result?;
    outcome.kept = kept;
    Ok(outcome)
}

/// `--manifest`, else the one beside the archive, else (none there) the
/// jail's own inside the archive; with where it was read.
fn manifest_of(request: &Request) -> Result<(Manifest, PathBuf)> {
    if let Some(path) = &request.manifest {
        return Ok((Manifest::read(path)?, path.clone()));
    }
    let beside = default_manifest(&request.archive);
    match std::fs::symlink_metadata(&beside) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => embedded::read(&request.archive),
        _ => Ok((Manifest::read(&beside)?, beside)),
    }
}

/// The manifest's paths, checked: plain absolute names only.
struct Paths {
    manifest: PathBuf,
    jail_root: Vec<OsString>,
}

impl Paths {
    fn of(info: &Manifest, manifest: &Path) -> Result<Paths> {
        let bad = |field: &str, path: &Path, problem: String| Error::Input {
            path: manifest.to_path_buf(),
            message: format!(
                "{field} {:?}: {problem}; a manifest jailpack wrote never has that: give the manifest `cargo xtask jail` wrote beside the archive",
                names::shown(path.as_os_str().as_bytes())
            ),
        };
        let jail_root = names::absolute_components(info.jail_root.as_os_str().as_bytes())
            .map_err(|p| bad("jail_root", &info.jail_root, p))?;
        let exec = names::absolute_components(info.exec.as_os_str().as_bytes())
            .map_err(|p| bad("exec", &info.exec, p))?;
        if exec.is_empty() {
            return Err(bad("exec", &info.exec, "it names no file".into()));
        }
        Ok(Paths {
            manifest: manifest.to_path_buf(),
            jail_root,
        })
    }
}

/// The scratch folder: removed when dropped — after a run, an error or a
/// panic's unwind — once its read-only directories are made removable
/// (without following the links a daemon may have left there).
struct Scratch {
    dir: Option<tempfile::TempDir>,
}

impl Scratch {
    fn new(prefix: &str) -> Result<Scratch> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .map_err(|source| Error::Scratch {
                path: std::env::temp_dir(),
                source,
            })?;
        Ok(Scratch { dir: Some(dir) })
    }

    fn path(&self) -> &Path {
        self.dir.as_ref().expect("present until dropped").path()
    }

    fn keep(mut self) -> PathBuf {
        self.dir.take().expect("present until dropped").keep()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            nofollow::make_removable(dir.path());
            drop(dir);
        }
    }
}

fn run_in(
    request: &Request,
    info: &Manifest,
    paths: &Paths,
    identity: &Identity,
    scratch: &Path,
) -> Result<Outcome> {
    let owner = match identity {
        Identity::Chroot { uid, gid, .. } => Some((*uid, *gid)),
        Identity::UserNamespace | Identity::Host => None,
    };
    let dest = scratch.join("extracted");
    std::fs::create_dir(&dest).map_err(|source| Error::Scratch {
        path: dest.clone(),
        source,
    })?;
    let extracted = extract::extract(&extract::Extraction {
        archive: &request.archive,
        dest: &dest,
        jail_root: &paths.jail_root,
        owner,
        bounds: bounds::Bounds::new(info, request.max_size),
    })?;
    let (command, one_shot) = match &request.command {
        Some(command) if !command.is_empty() => (command.clone(), true),
        _ => {
            check_program(&extracted.root, &info.exec, &paths.manifest)?;
            let mut command = vec![info.exec.display().to_string()];
            command.extend(request.args.clone().unwrap_or_else(|| info.args.clone()));
            (command, false)
        }
    };
    let trace_prefix = scratch.join("trace").join("t");
    if request.trace {
        std::fs::create_dir(scratch.join("trace")).map_err(|source| Error::Scratch {
            path: scratch.join("trace"),
            source,
        })?;
    }
    let (stdout, stderr) = (scratch.join("stdout"), scratch.join("stderr"));
    let seconds = request.seconds.max(1);
    let (ended, elapsed, checked) = run::run(&run::Run {
        root: &extracted.root,
        devices: &extracted.devices,
        identity,
        command: &command,
        seconds,
        trace: request.trace.then_some(trace_prefix.as_path()),
        stdout: &stdout,
        stderr: &stderr,
        check: request.check.as_deref().filter(|_| !one_shot),
    })?;
    signals::check()?;
    let events = if request.trace {
        Some(trace::read(&trace_prefix, trace::Start::Chroot)?)
    } else {
        None
    };
    let passed = match (ended, &checked) {
        (_, Some(checked)) => checked.passed,
        (ended, None) => still_up(ended, one_shot),
    };
    Ok(Outcome {
        passed,
        info: info.clone(),
        identity: identity.clone(),
        command,
        one_shot,
        seconds,
        ended,
        elapsed,
        stdout: read_output(&stdout),
        stderr: read_output(&stderr),
        events,
        check: checked,
        kept: None,
    })
}

/// Without a check: a daemon passes by staying up, a command by exiting 0.
fn still_up(ended: Ended, one_shot: bool) -> bool {
    match ended {
        Ended::StillRunning => !one_shot,
        Ended::Exited(0) => one_shot,
        Ended::Exited(_) | Ended::Signaled(_) => false,
    }
}

/// The manifest's program must be a regular file of the extracted jail,
/// found as the chroot will find it (links followed only inside the jail).
/// Only this side looks: the chroot itself resolves it in the jail.
fn check_program(root: &Path, exec: &Path, manifest: &Path) -> Result<()> {
    let bad = |problem: String| Error::Input {
        path: manifest.to_path_buf(),
        message: format!(
            "exec {:?}: {problem}; give the archive and the manifest `cargo xtask jail` wrote together",
            names::shown(exec.as_os_str().as_bytes())
        ),
    };
    let dir = nofollow::Dir::open(root).map_err(|source| Error::Scratch {
        path: root.to_path_buf(),
        source,
    })?;
    match nofollow::kind_in_root(&dir, exec.as_os_str().as_bytes()) {
        Ok(nofollow::Kind::File) => Ok(()),
        Ok(kind) => Err(bad(format!(
            "it is not a regular file in the jail ({kind:?})"
        ))),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            Err(bad("the archive does not hold it".into()))
        }
        Err(e) => Err(bad(format!("cannot be followed in the jail: {e}"))),
    }
}

/// Linux archives for this machine's architecture only.
fn check_runnable(info: &Manifest, manifest: &Path) -> Result<()> {
    if info.os != Os::Linux {
        return Err(Error::NotSupported {
            path: manifest.to_path_buf(),
            what: format!(
                "verifying a jail for {} ({}): verify runs Linux jails, natively, on Linux; check an OpenBSD or FreeBSD jail on such a machine",
                info.os, info.target
            ),
        });
    }
    if !cfg!(target_os = "linux") {
        return Err(Error::NotSupported {
            path: manifest.to_path_buf(),
            what: "verify on a host other than Linux".into(),
        });
    }
    let arch = info.target.split('-').next().unwrap_or("");
    let host = std::env::consts::ARCH;
    let same = arch == host
        || (arch == "i686" && host == "x86")
        || (arch.starts_with("arm") && host == "arm");
    if !same {
        return Err(Error::NotSupported {
            path: manifest.to_path_buf(),
            what: format!(
                "verifying a jail for {} on this {host} machine (the daemon runs natively)",
                info.target
            ),
        });
    }
    Ok(())
}

/// The most of the program's stdout or stderr kept for the report: a
/// daemon can write without end.
const MAX_OUTPUT: u64 = 64 << 10;

/// What the program wrote, up to [`MAX_OUTPUT`] bytes.
fn read_output(path: &Path) -> String {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    else {
        return String::new();
    };
    let total = file.metadata().map_or(0, |m| m.len());
    let mut bytes = Vec::new();
    let _ = file.take(MAX_OUTPUT).read_to_end(&mut bytes);
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if total > MAX_OUTPUT {
        text.push_str(&format!(
            "\n[{} more bytes not shown]\n",
            total - MAX_OUTPUT
        ));
    }
    text
}

/// `doctor --probe`: runs `executable` with `args` outside any jail, under
/// strace, for `seconds`, and returns its events from the exec on, with how
/// the run ended and what it wrote on stderr.
pub fn probe_run(
    executable: &Path,
    args: &[String],
    seconds: u64,
) -> Result<(Vec<trace::Event>, Ended, String)> {
    let _handlers = signals::install()?;
    let scratch = Scratch::new("jailpack-probe-")?;
    let executable = std::path::absolute(executable).map_err(|source| Error::Read {
        path: executable.to_path_buf(),
        source,
    })?;
    let mut command = vec![executable.display().to_string()];
    command.extend(args.iter().cloned());
    let prefix = scratch.path().join("t");
    let (stdout, stderr) = (scratch.path().join("stdout"), scratch.path().join("stderr"));
    let (ended, _, _) = run::run(&run::Run {
        root: Path::new("/"),
        devices: &[],
        identity: &Identity::Host,
        command: &command,
        seconds: seconds.max(1),
        trace: Some(&prefix),
        stdout: &stdout,
        stderr: &stderr,
        check: None,
    })?;
    let events = trace::read(&prefix, trace::Start::Exec(&command[0]))?;
    Ok((events, ended, read_output(&stderr)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_sits_beside_the_archive() {
        assert_eq!(
            default_manifest(Path::new("out/d-0.1.0-x86_64-unknown-linux-gnu.tar.gz")),
            Path::new("out/d-0.1.0-x86_64-unknown-linux-gnu.json")
        );
    }

    #[test]
    fn other_targets_are_refused_clearly() {
        let info: Manifest = serde_json::from_value(serde_json::json!({
            "name": "d", "version": "1", "target": "x86_64-unknown-openbsd",
            "os": "openbsd", "loader": "openbsd", "jail_root": "/var/jail/d",
            "exec": "/usr/local/sbin/d", "user": "_d", "group": "_d", "files": [],
        }))
        .unwrap();
        let err = check_runnable(&info, Path::new("d.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("openbsd") && err.contains("Linux"), "{err}");
    }
}
