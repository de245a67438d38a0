//! Running a program for a bounded time, in its jail or (for `--probe`)
//! outside it, optionally under strace. The system's own tools do the work:
//! unshare(1) for the mount, PID and (without root) user namespaces,
//! mount(8) to bind the host's device nodes onto the jail's placeholders,
//! chroot(8) to enter the jail and drop privileges, timeout(1) to bound the
//! run, strace(1) to trace it. The PID namespace (with `--kill-child`)
//! guarantees that nothing the daemon started outlives the run; the mount
//! namespace, private, keeps the bind mounts away from the host, so that
//! removing the scratch folder afterwards never reaches a host device.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::check::{self, Checked};
use super::devices::{self, DeviceNode};
use super::identity::Identity;
use super::signals;
use crate::error::{Error, Result};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Still running when the time was up; then stopped.
    StillRunning,
    Exited(i32),
    Signaled(i32),
}

/// One bounded run.
pub struct Run<'a> {
    /// The jail root (ignored for [`Identity::Host`]).
    pub root: &'a Path,
    pub devices: &'a [DeviceNode],
    pub identity: &'a Identity,
    /// The program and its arguments (in-jail path, or host path for Host).
    pub command: &'a [String],
    pub seconds: u64,
    /// strace's `-o` prefix: one file per process, `<prefix>.<pid>`.
    pub trace: Option<&'a Path>,
    pub stdout: &'a Path,
    pub stderr: &'a Path,
    /// `--check`: a shell command run on the host while the daemon runs.
    pub check: Option<&'a str>,
}

/// The exit status timeout(1) gives when it had to stop the program.
const TIMED_OUT: [i32; 2] = [124, 128 + 9];

/// What the shell inside the namespaces does before exec'ing the program:
/// bind each host device node onto its placeholder, then exec the rest.
const SETUP: &str = r#"
while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
    mount --bind "$1" "$2" || { echo "jailpack: cannot bind-mount $1 onto $2" >&2; exit 125; }
    shift 2
done
shift
exec "$@"
"#;

pub fn run(run: &Run) -> Result<(Ended, Duration, Option<Checked>)> {
    let timeout = tool("timeout", "coreutils")?;
    let mut inner: Vec<OsString> = Vec::new();
    if let Some(prefix) = run.trace {
        inner.push(tool("strace", "strace")?.into());
        // -ttt: each call's time, to tell what the daemon did while a
        // failed check was being served.
        for arg in [
            "-ff",
            "-qq",
            "-ttt",
            "-e",
            "trace=%file,%process,bind",
            "-o",
        ] {
            inner.push(arg.into());
        }
        inner.push(prefix.into());
    }
    inner.push(timeout.into());
    for arg in ["-k", "2"] {
        inner.push(arg.into());
    }
    inner.push(run.seconds.to_string().into());
    let mut command = match run.identity {
        Identity::Host => {
            inner.extend(run.command.iter().map(OsString::from));
            let mut command = Command::new(&inner[0]);
            command.args(&inner[1..]).current_dir("/");
            command
        }
        Identity::Chroot { .. } | Identity::UserNamespace => {
            inner.push(tool("chroot", "coreutils")?.into());
            if let Identity::Chroot { uid, gid, .. } = run.identity {
                // `+` makes chroot(8) take the numbers as they are: without
                // it, still root, it looks them up in the jail's own
                // /etc/passwd and /etc/group, which the archive wrote.
                inner.push(format!("--userspec=+{uid}:+{gid}").into());
                inner.push(format!("--groups=+{gid}").into());
            }
            inner.push(run.root.into());
            inner.extend(run.command.iter().map(OsString::from));
            let mut command = Command::new(tool("unshare", "util-linux")?);
            if *run.identity == Identity::UserNamespace {
                command.args(["--user", "--map-root-user"]);
            }
            command
                .args(["--mount", "--propagation", "private"])
                .args(["--pid", "--fork", "--kill-child", "--"])
                .arg(tool("sh", "dash")?)
                .args(["-c", SETUP, "sh"]);
            for device in run.devices {
                command.arg(devices::host_node(device)?).arg(&device.path);
            }
            command.arg("--").args(&inner);
            command
        }
    };
    let output = |path: &Path| {
        std::fs::File::create(path).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })
    };
    command
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stdout(output(run.stdout)?)
        .stderr(output(run.stderr)?);
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| Error::Tool {
        tool: format!("{:?}", command.get_program()),
        message: format!("cannot start it: {e}"),
    })?;
    let mut checked = None;
    if let Some(command) = run.check {
        let check_deadline = started + Duration::from_secs(run.seconds);
        let result = check::until_passed(command, check_deadline, || {
            signals::check()?;
            child
                .try_wait()
                .map(|s| s.is_some())
                .map_err(|e| Error::Tool {
                    tool: "wait".into(),
                    message: e.to_string(),
                })
        });
        let done = match result {
            Ok(done) => done,
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(error);
            }
        };
        // Served (or failed) in time: the daemon has done its part.
        if child.try_wait().ok().flatten().is_none() && !check::stop_gently(child.id()) {
            let _ = child.kill();
        }
        checked = Some(done);
    }
    // timeout(1) bounds the run; this bounds timeout(1), should it hang.
    let deadline = started + Duration::from_secs(run.seconds + 30);
    let status = loop {
        let polled = child.try_wait().map_err(|e| Error::Tool {
            tool: "wait".into(),
            message: e.to_string(),
        })?;
        if let Some(status) = polled {
            break status;
        }
        if let Err(interrupted) = signals::check() {
            // SIGKILL to unshare: --kill-child takes the namespace down too.
            let _ = child.kill();
            let _ = child.wait();
            return Err(interrupted);
        }
        if Instant::now() > deadline {
            // SIGKILL to unshare: --kill-child takes the namespace down too.
            let _ = child.kill();
            let _ = child.wait();
            return Ok((Ended::StillRunning, started.elapsed(), checked));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    // Stopped by us after the check: it was running until then.
    let stopped = checked.as_ref().is_some_and(|c| !c.daemon_ended);
    let ended = match (status.code(), status.signal()) {
        _ if stopped => Ended::StillRunning,
        (Some(code), _)
            if TIMED_OUT.contains(&code)
                && elapsed + Duration::from_millis(200) >= Duration::from_secs(run.seconds) =>
        {
            Ended::StillRunning
        }
        (Some(code), _) => Ended::Exited(code),
        (None, Some(signal)) => Ended::Signaled(signal),
        (None, None) => Ended::Exited(-1),
    };
    Ok((ended, elapsed, checked))
}

/// A system program, by absolute path (the run's PATH is not ours).
pub fn tool(name: &str, package: &str) -> Result<PathBuf> {
    for dir in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let path = Path::new(dir).join(name);
        if path.is_file() {
            return Ok(path);
        }
    }
    Err(Error::Tool {
        tool: name.into(),
        message: format!("not found in /usr/bin, /bin, /usr/sbin or /sbin; install {package}"),
    })
}

/// Whether user namespaces work for us (they may be disabled by a sysctl
/// or a container's seccomp policy).
pub fn user_namespaces_work() -> Result<std::result::Result<(), String>> {
    let output = Command::new(tool("unshare", "util-linux")?)
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "--pid",
            "--fork",
            "true",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Tool {
            tool: "unshare".into(),
            message: e.to_string(),
        })?;
    if output.status.success() {
        Ok(Ok(()))
    } else {
        Ok(Err(String::from_utf8_lossy(&output.stderr)
            .trim()
            .to_string()))
    }
}

/// The effective user ID of this process.
pub fn effective_uid() -> Result<u32> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|source| Error::Read {
        path: "/proc/self/status".into(),
        source,
    })?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| Error::Input {
            path: "/proc/self/status".into(),
            message: "no effective user ID in it".into(),
        })
}
