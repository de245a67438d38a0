//! Shared fixtures: the real `cargo xtask jail` run on the demo, once per
//! test binary, and helpers to extract and run what it made.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The zone the end-to-end jail is built with: an odd offset (+1245 or
/// +1345) that neither the build host's UTC nor a missing zone file can fake.
pub const ZONE: &str = "Pacific/Chatham";

/// Where the demo lives inside its jail (the default `exec`).
pub const EXEC: &str = "/usr/local/sbin/daytimed";

/// What one `cargo xtask jail` run wrote.
pub struct Jail {
    pub out_dir: PathBuf,
    pub archive: PathBuf,
    pub stderr: String,
}

/// Runs `cargo xtask jail` with `args` into `out_dir`, in a target
/// directory of its own so it never waits on the test run's cargo lock.
pub fn cargo_xtask_jail(out_dir: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    Command::new(cargo)
        .current_dir(REPO)
        .env("CARGO_TARGET_DIR", Path::new(REPO).join("target/e2e"))
        .env_remove("SOURCE_DATE_EPOCH")
        .args(["xtask", "jail", "--locked", "--out-dir"])
        .arg(out_dir)
        .args(args)
        .output()
        .expect("cannot run cargo")
}

/// The demo's jail, built once per test binary with the test zone.
pub fn demo_jail() -> &'static Jail {
    static JAIL: OnceLock<Jail> = OnceLock::new();
    JAIL.get_or_init(|| {
        let out_dir = scratch("demo-jail");
        let output = cargo_xtask_jail(&out_dir, &["--timezone", ZONE]);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            output.status.success(),
            "cargo xtask jail failed:\n{stderr}"
        );
        let archive = out_dir.join(format!("daytimed-0.1.0-{}.tar.gz", host_triple()));
        assert!(
            archive.is_file(),
            "no {} after:\n{stderr}",
            archive.display()
        );
        Jail {
            out_dir,
            archive,
            stderr,
        }
    })
}

pub fn host_triple() -> String {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host")
}

/// A fresh, empty directory under cargo's temporary folder for tests (on
/// the build's file system: /tmp may be mounted nodev).
pub fn scratch(name: &str) -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(base).unwrap();
    tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir_in(base)
        .unwrap()
        .keep()
}

pub fn is_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

/// Says why a test that needs root did not run; never passes silently.
pub fn skip_without_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("SKIPPED {test}: needs root for chroot and device nodes (CI runs as root)");
    true
}

/// Extracts the archive the way an admin installs it: `tar -xzpf FILE -C DIR`.
pub fn extract(archive: &Path, name: &str) -> PathBuf {
    let dir = scratch(name);
    let status = Command::new("tar")
        .arg("-xzpf")
        .arg(archive)
        .arg("-C")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success(), "tar -xzpf {} failed", archive.display());
    dir
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The daemon started in its jail as nobody (65534), with an empty
/// environment, so no TZ from the test run can stand in for the zone file.
pub struct Daemon {
    child: Child,
}

impl Daemon {
    pub fn start(jail_root: &Path, args: &[&str]) -> Daemon {
        let child = Command::new("chroot")
            .arg("--userspec=65534:65534")
            .arg(jail_root)
            .arg(EXEC)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run chroot");
        Daemon { child }
    }

    /// Connects once the daemon listens and returns its answer; if it
    /// exits first, returns what it said instead.
    pub fn ask(&mut self, port: u16) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((status, stderr)) = self.exited() {
                return Err(format!("daemon exited with {status}: {stderr}"));
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut answer = String::new();
                stream.read_to_string(&mut answer).unwrap();
                return Ok(answer);
            }
            assert!(
                Instant::now() < deadline,
                "the daemon never listened on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (bounded) for the daemon to exit on its own.
    pub fn wait_exit(&mut self) -> Option<(ExitStatus, String)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(exit) = self.exited() {
                return Some(exit);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn exited(&mut self) -> Option<(ExitStatus, String)> {
        let status = self.child.try_wait().unwrap()?;
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).unwrap();
        }
        Some((status, stderr))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `%z` of the test zone now, from the host's own C library.
pub fn zone_offset_now() -> String {
    let output = Command::new("date")
        .env("TZ", ZONE)
        .arg("+%z")
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
