//! Running a program for a bounded time, in its jail or (for `--probe`)
//! outside it, optionally under strace. The system's own tools do the work:
//! unshare(1) for the mount, PID and (without root) user namespaces,
//! mount(8) to bind the host's device nodes onto the jail's placeholders,
//! chroot(8) to enter the jail and drop privileges, timeout(1) to bound the
//! run, strace(1) to trace it. The PID namespace (with `--kill-child`)
//! guarantees that nothing the daemon started outlives the run.

use std::ffi::OsString;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::extract::DeviceNode;
use crate::error::{Error, Result};

/// Whom the program runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// We are root: chroot(2), then setgid/setuid to these.
    Chroot { uid: u32, gid: u32, name: String },
    /// We are not root: a user namespace in which we are root (and the
    /// program runs with our own, unprivileged, IDs on the host).
    UserNamespace,
    /// Outside any jail, as ourselves (`doctor --probe`).
    Host,
}

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

pub fn run(run: &Run) -> Result<(Ended, Duration)> {
    let timeout = tool("timeout", "coreutils")?;
    let mut inner: Vec<OsString> = Vec::new();
    if let Some(prefix) = run.trace {
        inner.push(tool("strace", "strace")?.into());
        for arg in ["-ff", "-qq", "-e", "trace=%file,%process", "-o"] {
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
                inner.push(format!("--userspec={uid}:{gid}").into());
                inner.push(format!("--groups={gid}").into());
            }
            inner.push(run.root.into());
            inner.extend(run.command.iter().map(OsString::from));
            let mut command = Command::new(tool("unshare", "util-linux")?);
            if *run.identity == Identity::UserNamespace {
                command.args(["--user", "--map-root-user"]);
            }
            command
                .args(["--mount", "--pid", "--fork", "--kill-child", "--"])
                .arg(tool("sh", "dash")?)
                .args(["-c", SETUP, "sh"]);
            for device in run.devices {
                command.arg(host_device(device)?).arg(&device.path);
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
        if Instant::now() > deadline {
            // SIGKILL to unshare: --kill-child takes the namespace down too.
            let _ = child.kill();
            let _ = child.wait();
            return Ok((Ended::StillRunning, started.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let ended = match (status.code(), status.signal()) {
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
    Ok((ended, elapsed))
}

/// The host's node with the numbers the archive gives: /dev/<same name>
/// when it matches, else any node directly under /dev that does.
fn host_device(device: &DeviceNode) -> Result<PathBuf> {
    let matches = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|m| {
            m.file_type().is_char_device() && split_dev(m.rdev()) == (device.major, device.minor)
        })
    };
    if let Some(name) = device.path.file_name() {
        let same = Path::new("/dev").join(name);
        if matches(&same) {
            return Ok(same);
        }
    }
    if let Ok(entries) = std::fs::read_dir("/dev") {
        for entry in entries.flatten() {
            if matches(&entry.path()) {
                return Ok(entry.path());
            }
        }
    }
    Err(Error::Tool {
        tool: "verify".into(),
        message: format!(
            "this host has no character device {},{} to stand in for {}",
            device.major,
            device.minor,
            device.path.display()
        ),
    })
}

/// glibc's major()/minor() of a dev_t.
fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_split_like_glibc() {
        assert_eq!(split_dev(0x103), (1, 3));
        assert_eq!(split_dev(0x109), (1, 9));
        // glibc's makedev(): large numbers use the high bits.
        let makedev = |major: u64, minor: u64| {
            ((major & 0xfff) << 8)
                | ((major & !0xfff) << 32)
                | (minor & 0xff)
                | ((minor & !0xff) << 12)
        };
        assert_eq!(split_dev(makedev(259, 65536)), (259, 65536));
        assert_eq!(split_dev(makedev(4096, 7)), (4096, 7));
    }
}
