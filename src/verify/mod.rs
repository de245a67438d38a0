//! Stage 5, verify (optional): extracts a jail archive into a scratch folder
//! and runs the daemon inside it for a bounded time — with chroot and the
//! jail's user (else nobody) when root, in a user and mount namespace when
//! not — and reports whether it started and stayed up (or, for a one-shot
//! command, exited 0). Traced (`doctor`), the run also tells which paths
//! the program tried and could not find in the jail; `--probe` runs the
//! freshly built program outside any jail to learn its runtime files.
//!
//! Linux archives only: the run uses Linux namespaces, and the daemon runs
//! natively.

pub mod doctor;
pub mod extract;
pub mod run;
pub mod trace;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use self::run::{Ended, Identity};
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
    /// Keep the scratch folder (its path is in the outcome).
    pub keep: bool,
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
    /// The scratch folder, when kept.
    pub kept: Option<PathBuf>,
}

/// `<archive without .tar.gz or .tgz>.json`.
pub fn default_manifest(archive: &Path) -> PathBuf {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = name
        .strip_suffix(".tar.gz")
        .or_else(|| name.strip_suffix(".tgz"))
        .unwrap_or(&name);
    archive.with_file_name(format!("{base}.json"))
}

/// Extracts and runs; an `Err` means verify itself could not do its job
/// (a bad archive, a missing tool), not that the daemon failed.
pub fn verify(request: &Request) -> Result<Outcome> {
    let manifest = request
        .manifest
        .clone()
        .unwrap_or_else(|| default_manifest(&request.archive));
    let info = Manifest::read(&manifest)?;
    check_runnable(&info, &manifest)?;
    let identity = if run::effective_uid()? == 0 {
        run_as(&info.user, &info.group)
    } else {
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
    let scratch = tempfile::Builder::new()
        .prefix("jailpack-verify-")
        .tempdir()
        .map_err(|source| Error::Write {
            path: std::env::temp_dir(),
            source,
        })?;
    let result = run_in(request, &info, &identity, scratch.path());
    let kept = if request.keep {
        Some(scratch.keep())
    } else {
        extract::make_removable(scratch.path());
        drop(scratch);
        None
    };
    let mut outcome = result?;
    outcome.kept = kept;
    Ok(outcome)
}

fn run_in(
    request: &Request,
    info: &Manifest,
    identity: &Identity,
    scratch: &Path,
) -> Result<Outcome> {
    let owner = match identity {
        Identity::Chroot { uid, gid, .. } => Some((*uid, *gid)),
        Identity::UserNamespace | Identity::Host => None,
    };
    let dest = scratch.join("extracted");
    std::fs::create_dir(&dest).map_err(|source| Error::Write {
        path: dest.clone(),
        source,
    })?;
    let extracted = extract::extract(&request.archive, &dest, &info.jail_root, owner)?;
    let (command, one_shot) = match &request.command {
        Some(command) if !command.is_empty() => (command.clone(), true),
        _ => {
            let mut command = vec![info.exec.display().to_string()];
            command.extend(request.args.clone().unwrap_or_else(|| info.args.clone()));
            (command, false)
        }
    };
    let trace_prefix = scratch.join("trace").join("t");
    if request.trace {
        std::fs::create_dir(scratch.join("trace")).map_err(|source| Error::Write {
            path: scratch.join("trace"),
            source,
        })?;
    }
    let (stdout, stderr) = (scratch.join("stdout"), scratch.join("stderr"));
    let seconds = request.seconds.max(1);
    let (ended, elapsed) = run::run(&run::Run {
        root: &extracted.root,
        devices: &extracted.devices,
        identity,
        command: &command,
        seconds,
        trace: request.trace.then_some(trace_prefix.as_path()),
        stdout: &stdout,
        stderr: &stderr,
    })?;
    let events = if request.trace {
        Some(trace::read(&trace_prefix, trace::Start::Chroot)?)
    } else {
        None
    };
    let passed = match ended {
        Ended::StillRunning => !one_shot,
        Ended::Exited(0) => one_shot,
        Ended::Exited(_) | Ended::Signaled(_) => false,
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
        stdout: read_lossy(&stdout),
        stderr: read_lossy(&stderr),
        events,
        kept: None,
    })
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

/// The jail's user when this host has one (never root), else nobody.
fn run_as(user: &str, group: &str) -> Identity {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let field = |text: &str, name: &str, index: usize| -> Option<u32> {
        text.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&name))
                .then(|| fields.get(index)?.parse().ok())
                .flatten()
        })
    };
    match field(&passwd, user, 2).filter(|uid| *uid != 0) {
        Some(uid) => {
            let gid = field(&groups, group, 2)
                .or_else(|| field(&passwd, user, 3))
                .filter(|gid| *gid != 0)
                .unwrap_or(65534);
            Identity::Chroot {
                uid,
                gid,
                name: user.to_string(),
            }
        }
        None => Identity::Chroot {
            uid: 65534,
            gid: 65534,
            name: format!("nobody (this host has no user {user})"),
        },
    }
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// `doctor --probe`: runs `executable` with `args` outside any jail, under
/// strace, for `seconds`, and returns its events from the exec on, with how
/// the run ended and what it wrote on stderr.
pub fn probe_run(
    executable: &Path,
    args: &[String],
    seconds: u64,
) -> Result<(Vec<trace::Event>, Ended, String)> {
    let scratch = tempfile::Builder::new()
        .prefix("jailpack-probe-")
        .tempdir()
        .map_err(|source| Error::Write {
            path: std::env::temp_dir(),
            source,
        })?;
    let executable = std::path::absolute(executable).map_err(|source| Error::Read {
        path: executable.to_path_buf(),
        source,
    })?;
    let mut command = vec![executable.display().to_string()];
    command.extend(args.iter().cloned());
    let prefix = scratch.path().join("t");
    let (stdout, stderr) = (scratch.path().join("stdout"), scratch.path().join("stderr"));
    let (ended, _) = run::run(&run::Run {
        root: Path::new("/"),
        devices: &[],
        identity: &Identity::Host,
        command: &command,
        seconds: seconds.max(1),
        trace: Some(&prefix),
        stdout: &stdout,
        stderr: &stderr,
    })?;
    let events = trace::read(&prefix, trace::Start::Exec(&command[0]))?;
    Ok((events, ended, read_lossy(&stderr)))
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
