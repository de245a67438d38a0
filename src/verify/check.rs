//! `--check 'SHELL COMMAND'`: a client run on the host while the daemon
//! runs in its jail (`dig`, `nc`, `curl` over loopback). It is tried again
//! until it exits 0 or the time is up, since a daemon takes a moment to
//! listen; the run passes only when it did exit 0 in time. The daemon is
//! then stopped through timeout(1), so that strace sees it exit and the
//! trace holds everything it did while serving the check.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::run::tool;
use crate::error::{Error, Result};

/// How long one try of the check may take, at most.
const TRY_SECONDS: u64 = 5;

/// What the check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub command: String,
    pub passed: bool,
    pub tries: u32,
    /// The last try's exit status (`None`: killed or not run).
    pub status: Option<i32>,
    /// The last try's output, stdout then stderr.
    pub output: String,
    /// The daemon ended before the check passed.
    pub daemon_ended: bool,
    /// When the first try began, in microseconds since the epoch (as the
    /// trace's times are).
    pub started: Option<u64>,
}

/// Runs `command` with `sh -c` until it exits 0, the daemon has ended, or
/// `deadline`. `ended` polls the daemon.
pub fn until_passed(
    command: &str,
    deadline: Instant,
    mut ended: impl FnMut() -> Result<bool>,
) -> Result<Checked> {
    let mut checked = Checked {
        command: command.to_string(),
        passed: false,
        tries: 0,
        status: None,
        output: String::new(),
        daemon_ended: false,
        started: None,
    };
    // Give the daemon a moment to start listening before the first try.
    std::thread::sleep(Duration::from_millis(300));
    while Instant::now() < deadline {
        if ended()? {
            checked.daemon_ended = true;
            return Ok(checked);
        }
        checked.tries += 1;
        if checked.started.is_none() {
            checked.started = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_micros() as u64);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let (status, output) = try_once(command, left.min(Duration::from_secs(TRY_SECONDS)))?;
        checked.status = status;
        checked.output = output;
        if status == Some(0) {
            checked.passed = true;
            return Ok(checked);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Ok(checked)
}

fn try_once(command: &str, limit: Duration) -> Result<(Option<i32>, String)> {
    let scratch = tempfile::tempfile().map_err(|source| Error::Scratch {
        path: std::env::temp_dir(),
        source,
    })?;
    let err = scratch.try_clone().map_err(|source| Error::Scratch {
        path: std::env::temp_dir(),
        source,
    })?;
    let mut child = Command::new(tool("sh", "dash")?)
        .args(["-c", command])
        .stdin(Stdio::null())
        .stdout(scratch.try_clone().map_err(|source| Error::Scratch {
            path: std::env::temp_dir(),
            source,
        })?)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::Tool {
            tool: "sh".into(),
            message: format!("cannot run the check {command:?}: {e}"),
        })?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(wait_error)? {
            break status.code();
        }
        if started.elapsed() > limit {
            kill_group(&mut child);
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok((status, read_back(scratch)))
}

use std::os::unix::process::CommandExt;

/// Ends a try that takes too long, with whatever it started.
fn kill_group(child: &mut Child) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) on the process group we made for the check.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    let _ = child.wait();
}

fn read_back(mut file: std::fs::File) -> String {
    use std::io::{Read, Seek};
    let mut bytes = Vec::new();
    let _ = file.rewind();
    let _ = file.take(64 << 10).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn wait_error(e: std::io::Error) -> Error {
    Error::Tool {
        tool: "wait".into(),
        message: e.to_string(),
    }
}

/// Stops a jailed run gently: SIGTERM to its timeout(1), which passes it
/// on to the daemon, so that strace sees the end and writes it out. The
/// run's processes are found from `top` (unshare) down, at most a few
/// levels. `false` when there was no timeout(1) to signal.
pub fn stop_gently(top: u32) -> bool {
    let mut level = vec![top];
    for _ in 0..5 {
        let mut next = Vec::new();
        for pid in level {
            if comm(pid).as_deref() == Some("timeout") {
                // SAFETY: kill(2) on a process of the run we started.
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGTERM);
                }
                return true;
            }
            next.extend(children(pid));
        }
        level = next;
    }
    false
}

fn comm(pid: u32) -> Option<String> {
    let text =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("comm")).ok()?;
    Some(text.trim().to_string())
}

fn children(pid: u32) -> Vec<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}
