//! Shared fixtures: the real `cargo xtask jail` run on the demo, once per
//! test binary, and helpers to extract and run what it made.

pub mod bsd;
pub mod hostile;

use std::io::{Read, Write};
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

/// A scratch folder at a fixed kind of place on the host, for what must be
/// seen there whatever folder the repository was cloned into: a jail root
/// the plan accepts (never inside /tmp, /home, /root… where a clone may
/// live) and a path a systemd-pid1 instance sees (it has a /tmp of its
/// own). Under /srv/jailpack-tests; root only (the tests that use it need
/// root anyway); removed when dropped.
pub struct HostScratch {
    pub path: PathBuf,
}

impl HostScratch {
    pub fn new(name: &str) -> HostScratch {
        let base = Path::new("/srv/jailpack-tests");
        std::fs::create_dir_all(base).unwrap();
        let path = tempfile::Builder::new()
            .prefix(&format!("{name}-"))
            .tempdir_in(base)
            .unwrap()
            .keep();
        HostScratch { path }
    }
}

impl Drop for HostScratch {
    fn drop(&mut self) {
        // A jail may hold read-only directories: open them up first.
        let _ = Command::new("chmod")
            .args(["-R", "u+rwX"])
            .arg(&self.path)
            .status();
        let _ = std::fs::remove_dir_all(&self.path);
    }
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
    let (dir, status) = tar_extract(archive, name, Stdio::inherit());
    assert!(status.success(), "tar -xzpf {} failed", archive.display());
    dir
}

/// [`extract`] as far as this user can: without root the device nodes
/// cannot be made (and everything is the test user's), the rest is there.
pub fn extract_what_we_may(archive: &Path, name: &str) -> PathBuf {
    let (dir, status) = tar_extract(archive, name, Stdio::null());
    assert!(status.success() || !is_root(), "tar -xzpf failed");
    dir
}

/// `tar -xzpf ARCHIVE -C <a new scratch folder>`, its stderr to `stderr`.
fn tar_extract(archive: &Path, name: &str, stderr: Stdio) -> (PathBuf, std::process::ExitStatus) {
    let dir = scratch(name);
    let status = Command::new("tar")
        .arg("-xzpf")
        .arg(archive)
        .arg("-C")
        .arg(&dir)
        .stderr(stderr)
        .status()
        .unwrap();
    (dir, status)
}

/// One entry of a jail archive, as the `tar` crate reads it.
#[derive(Debug)]
pub struct ArchivedEntry {
    /// As stored: relative, e.g. `var/jail/daytimed/usr`.
    pub path: PathBuf,
    pub kind: tar::EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Owner and group names (empty when the header has none).
    pub user: String,
    pub group: String,
    pub mtime: u64,
    /// A link's target.
    pub link: Option<PathBuf>,
    /// A character device's major and minor numbers.
    pub device: Option<(u32, u32)>,
}

/// The entries of a gzipped tar archive (a file or bytes in memory), in
/// archive order.
pub fn archive_entries(gzipped: impl Read) -> Vec<ArchivedEntry> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gzipped));
    let mut entries = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        entries.push(ArchivedEntry {
            path: entry.path().unwrap().into_owned(),
            kind: header.entry_type(),
            mode: header.mode().unwrap(),
            uid: header.uid().unwrap(),
            gid: header.gid().unwrap(),
            user: header.username().unwrap().unwrap_or_default().to_string(),
            group: header.groupname().unwrap().unwrap_or_default().to_string(),
            mtime: header.mtime().unwrap(),
            link: entry.link_name().unwrap().map(|l| l.into_owned()),
            device: header.entry_type().is_character_special().then(|| {
                (
                    header.device_major().unwrap().unwrap(),
                    header.device_minor().unwrap().unwrap(),
                )
            }),
        });
    }
    entries
}

/// [`archive_entries`] of the archive at `path`.
pub fn archive_file_entries(path: &Path) -> Vec<ArchivedEntry> {
    let file =
        std::fs::File::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    archive_entries(file)
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
        Daemon::start_exec(jail_root, EXEC, args)
    }

    /// Starts `exec` (an in-jail path) with `args` in the jail at `jail_root`.
    pub fn start_exec(jail_root: &Path, exec: &str, args: &[&str]) -> Daemon {
        let child = chroot_as_nobody(jail_root, exec)
            .args(args)
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
        self.request(port, b"", "")
    }

    /// Like `ask`, sending `request` first and reading until the answer
    /// holds `until` (or the daemon closes the connection).
    pub fn request(&mut self, port: u16, request: &[u8], until: &str) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((status, stderr)) = self.exited() {
                return Err(format!("daemon exited with {status}: {stderr}"));
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                stream.write_all(request).unwrap();
                let mut answer = String::new();
                let mut buf = [0u8; 512];
                while until.is_empty() || !answer.contains(until) {
                    let n = stream.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    answer.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
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

/// `chroot --userspec=65534:65534 ROOT EXEC` with an empty environment
/// but PATH: the jailed program as an unprivileged user.
pub fn chroot_as_nobody(root: &Path, exec: &str) -> Command {
    let mut command = Command::new("chroot");
    command
        .arg("--userspec=65534:65534")
        .arg(root)
        .arg(exec)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    command
}

/// `cargo xtask jail --binary BINARY ARGS...` into a fresh folder; returns
/// the root of the jail `name` it made, extracted with tar.
pub fn jail_binary(binary: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = scratch(name);
    let mut all = vec!["--binary", binary.to_str().unwrap(), "--name", name];
    all.extend(args);
    let output = cargo_xtask_jail(&out, &all);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let archive = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .expect("an archive was written");
    extract(&archive, name).join("var/jail").join(name)
}

// verify, doctor and audit: the xtask binary run directly (so that an
// unprivileged user can run it too), and archives edited after the fact.

/// The xtask binary `cargo xtask` built for the end-to-end tests.
pub fn xtask_binary() -> PathBuf {
    demo_jail();
    let path = Path::new(REPO).join("target/e2e/debug/xtask");
    assert!(path.is_file(), "no {}", path.display());
    path
}

/// `xtask jail ARGS...` with a clean environment; with `as_nobody`, and
/// when root, as 65534 through setpriv (a normal user otherwise anyway).
pub fn xtask_jail(args: &[&str], as_nobody: bool) -> Output {
    let mut command = if as_nobody && is_root() {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(xtask_binary());
        command
    } else {
        Command::new(xtask_binary())
    };
    command
        .arg("jail")
        .args(args)
        .current_dir("/")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("TMPDIR", "/tmp")
        .output()
        .expect("cannot run xtask")
}

/// stdout and stderr of a run, for assertion messages.
pub fn both(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A fresh folder anyone may read (and so an unprivileged run may use).
pub fn shared_scratch(name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch(name);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// The demo's archive, extracted, changed by `edit` (given the jail root)
/// and packed again with `tar -czf`, beside a copy of its manifest, in a
/// folder anyone may read. Returns the new archive.
pub fn repacked_demo(name: &str, edit: impl FnOnce(&Path)) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let jail = demo_jail();
    let dir = extract_what_we_may(&jail.archive, name);
    edit(&dir.join("var/jail/daytimed"));
    let out = shared_scratch(&format!("{name}-out"));
    let archive = out.join(format!("{name}.tar.gz"));
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&dir)
        .arg("var/jail/daytimed")
        .status()
        .unwrap();
    assert!(status.success(), "tar -czf failed");
    let manifest = jail
        .archive
        .with_file_name(format!("daytimed-0.1.0-{}.json", host_triple()));
    std::fs::copy(manifest, out.join(format!("{name}.json"))).unwrap();
    for file in [&archive, &out.join(format!("{name}.json"))] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    archive
}

// Adoption: jailpack as another workspace sees it, through git.

/// `git ARGS...` in `dir` with a fixed identity and dates and no user or
/// system configuration; returns stdout, panicking with stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=jailpack tests",
            "-c",
            "user.email=tests@invalid",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_DATE", "2000-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2000-01-01T00:00:00Z")
        .output()
        .expect("cannot run git");
    assert!(
        output.status.success(),
        "git {args:?} in {}:\n{}",
        dir.display(),
        both(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A commit of this repository as it is now.
pub struct Snapshot {
    /// The repository holding it.
    pub dir: PathBuf,
    /// Its hash: a dependency on it names it (`rev`), or an offline cargo
    /// would take whatever commit its git cache fetched last.
    pub commit: String,
}

/// This repository as it is now — tracked files and new ones git does not
/// ignore, uncommitted changes included — committed alone in a repository of
/// its own at `target/adoption/jailpack`, for a `git = "file://…"`
/// dependency. The same files give the same commit (fixed identity and
/// dates), so cargo's git cache serves the next run.
pub fn git_snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let repo = Path::new(REPO);
        let snapshot = repo.join("target/adoption/jailpack");
        if snapshot.exists() {
            std::fs::remove_dir_all(&snapshot).unwrap();
        }
        std::fs::create_dir_all(&snapshot).unwrap();
        let files = git(
            repo,
            &[
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
        );
        for name in files.split('\0').filter(|n| !n.is_empty()) {
            let from = repo.join(name);
            let to = snapshot.join(name);
            // Deleted in the working tree but not yet in git: left out.
            let Ok(meta) = std::fs::symlink_metadata(&from) else {
                continue;
            };
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&from).unwrap();
                std::os::unix::fs::symlink(target, &to).unwrap();
            } else {
                std::fs::copy(&from, &to).unwrap();
            }
        }
        git(&snapshot, &["init", "-q"]);
        git(&snapshot, &["add", "-A"]);
        git(
            &snapshot,
            &["commit", "-q", "-m", "jailpack as the tests found it"],
        );
        let commit = git(&snapshot, &["rev-parse", "HEAD"]).trim().to_string();
        Snapshot {
            dir: snapshot,
            commit,
        }
    })
}

/// `cargo ARGS...` in `dir` with `target_dir`, offline first (everything
/// is usually in the local cache already), then online when offline mode
/// was what stopped it.
pub fn cargo_offline_first(dir: &Path, target_dir: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let run = |offline: bool| {
        Command::new(&cargo)
            .current_dir(dir)
            .args(args)
            .env("CARGO_TARGET_DIR", target_dir)
            .env("CARGO_NET_OFFLINE", if offline { "true" } else { "false" })
            .env_remove("SOURCE_DATE_EPOCH")
            .output()
            .expect("cannot run cargo")
    };
    let output = run(true);
    if output.status.success() || !String::from_utf8_lossy(&output.stderr).contains("offline") {
        return output;
    }
    run(false)
}

/// NSD's configuration for the tests, `nsd.conf` and the zone it serves
/// (`www.example.test A 192.0.2.1`) written in `dir`: on 127.0.0.1:`port`,
/// one server process, the zone files in /etc/nsd, no privilege drop of
/// its own (`username: ""`: the jail's user is already its own).
pub fn write_nsd_config(dir: &Path, port: u16) {
    std::fs::write(
        dir.join("nsd.conf"),
        format!(
            "server:\n    ip-address: 127.0.0.1\n    port: {port}\n    server-count: 1\n    zonesdir: \"/etc/nsd\"\n    username: \"\"\nremote-control:\n    control-enable: no\nzone:\n    name: example.test\n    zonefile: example.test.zone\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("example.test.zone"),
        "$ORIGIN example.test.\n$TTL 3600\n@ IN SOA ns admin 1 3600 900 604800 300\n@ IN NS ns\nns IN A 127.0.0.1\nwww IN A 192.0.2.1\n",
    )
    .unwrap();
}
