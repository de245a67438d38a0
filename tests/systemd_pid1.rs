//! The systemd unit under a real systemd 252 running as PID 1
//! (`../shared/tools/systemd-pid1`: private namespaces, the host's / seen
//! through a copy-on-write overlay, loopback-only network). The jail is
//! extracted on the host and bind-mounted read-only at its root inside the
//! instance; the unit is installed, the user and group created as the
//! INSTALL notes say, and the daemon started, asked over loopback,
//! restarted and stopped. Then the same jail, mounted writable, must come
//! out of a start and stop exactly as the archive made it: systemd found
//! every mount point it needed already there.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::support::{
    HostScratch, REPO, archive_file_entries, both, cargo_xtask_jail, demo_jail, scratch,
};

/// One systemd instance at a time (the tool keeps its state machine-wide).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A running instance, stopped when dropped, whatever the test did.
struct Instance {
    state: HostScratch,
    _lock: MutexGuard<'static, ()>,
}

impl Instance {
    fn tool() -> PathBuf {
        Path::new(REPO).join("../shared/tools/systemd-pid1")
    }

    /// Boots it, or says why it cannot (with the tool's own words and the
    /// start of systemd's console log) and fails: CI has all it needs.
    fn start(test: &str) -> Instance {
        let lock = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let state = HostScratch::new("systemd-pid1");
        let instance = Instance { state, _lock: lock };
        let out = instance.tool_command().arg("start").output();
        let out =
            out.unwrap_or_else(|e| panic!("{test}: cannot run {}: {e}", Self::tool().display()));
        if !out.status.success() {
            let console = std::fs::read_to_string(instance.state.path.join("console.log"))
                .unwrap_or_default();
            panic!(
                "{test}: systemd-pid1 cannot boot systemd on this machine (it needs root, \
                 cgroup v2, overlayfs, unshare/nsenter/script from util-linux), and CI must: \
                 {}\n--- console.log (start)\n{}",
                both(&out),
                console.chars().take(4000).collect::<String>()
            );
        }
        instance
    }

    fn tool_command(&self) -> Command {
        let mut command = Command::new(Self::tool());
        command
            .env("SYSTEMD_PID1_STATE", &self.state.path)
            .current_dir("/");
        command
    }

    /// `systemd-pid1 run bash -c SCRIPT` (working directory `/`).
    fn sh(&self, script: &str) -> Output {
        self.tool_command()
            .args(["run", "bash", "-c", &format!("cd / && {script}")])
            .output()
            .expect("cannot run systemd-pid1")
    }

    /// Like `sh`, failing the test (with systemd's log) when it fails.
    fn ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "inside systemd-pid1: {script}\n{}\n--- console.log (end)\n{}",
            both(&out),
            self.console_tail()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn console_tail(&self) -> String {
        let log = std::fs::read_to_string(self.state.path.join("console.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.tool_command().arg("stop").output();
    }
}

/// A jail built by `cargo xtask jail`: its archive, unit and INSTALL notes.
struct Built {
    name: String,
    archive: PathBuf,
    unit: PathBuf,
    install: String,
}

impl Built {
    fn from_out_dir(out_dir: &Path, name: &str) -> Built {
        let archive = std::fs::read_dir(out_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
            .expect("an archive");
        let install = std::fs::read_to_string(out_dir.join("systemd/INSTALL")).unwrap();
        Built {
            name: name.to_string(),
            archive,
            unit: out_dir.join(format!("systemd/{name}.service")),
            install,
        }
    }

    /// The jail root (`var/jail/<name>`) and the entries under it, as the
    /// archive lists them, relative to it.
    fn archived(&self) -> BTreeSet<String> {
        let root = format!("var/jail/{}", self.name);
        archive_file_entries(&self.archive)
            .iter()
            .filter_map(|e| {
                let rest = e.path.strip_prefix(&root).ok()?;
                (!rest.as_os_str().is_empty()).then(|| rest.display().to_string())
            })
            .collect()
    }

    /// The daemon's user, as the unit's `User=` names it.
    fn user(&self) -> String {
        let unit = std::fs::read_to_string(&self.unit).unwrap();
        unit.lines()
            .find_map(|l| l.strip_prefix("User="))
            .expect("a User= line")
            .to_string()
    }

    /// The `groupadd` and `useradd` lines of the INSTALL notes.
    fn account_commands(&self) -> String {
        let lines: Vec<&str> = self
            .install
            .lines()
            .filter_map(|l| l.strip_prefix("    "))
            .filter(|l| l.starts_with("groupadd ") || l.starts_with("useradd "))
            .collect();
        assert_eq!(
            lines.len(),
            2,
            "no groupadd and useradd in:\n{}",
            self.install
        );
        lines.join(" && ")
    }
}

/// What one service exchange looks like: a client's shell command run
/// inside the instance and a check of what it printed.
struct Probe<'a> {
    script: String,
    check: &'a dyn Fn(&str) -> bool,
}

impl<'a> Probe<'a> {
    /// `request` sent by bash over `/dev/tcp` to `port`, the first line back checked.
    fn tcp(port: u16, request: &str, check: &'a dyn Fn(&str) -> bool) -> Self {
        let script = format!(
            "exec 3<>/dev/tcp/127.0.0.1/{port} && printf {request} >&3 && IFS= read -r -t 5 line <&3 && printf '%s\\n' \"$line\"",
            request = shell_quote(request),
        );
        Probe { script, check }
    }
}

/// Asks the daemon over loopback inside the instance until it answers
/// (bounded), and returns the answer.
fn ask(instance: &Instance, probe: &Probe) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = instance.sh(&probe.script);
        let answer = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && (probe.check)(&answer) {
            return answer;
        }
        if Instant::now() >= deadline {
            let journal = instance.sh("journalctl --no-pager -n 40");
            panic!(
                "no answer to {:?} inside the instance: {}\n--- console.log\n{}\n--- journal\n{}",
                probe.script,
                both(&out),
                instance.console_tail(),
                String::from_utf8_lossy(&journal.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The exposure score `systemd-analyze security UNIT` gives.
fn exposure(instance: &Instance, unit: &str) -> f64 {
    let text = instance.ok(&format!("systemd-analyze security --no-pager {unit}"));
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall exposure level in:\n{text}"));
    let score = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score in {line:?}"));
    eprintln!("systemd-analyze security {unit}: {}", line.trim());
    score
}

/// The whole life of a unit over its jail, read-only then writable. A
/// daemon that `writes` in directories of its jail (paths relative to the
/// jail root) runs over the writable jail only, and what it wrote there is
/// its own; each `RuntimeDirectory=` of the unit must exist while it runs
/// and be gone after it stops.
fn run_unit(test: &str, built: &Built, probe: &Probe, max_exposure: f64, writes: &[&str]) {
    // Outside /tmp, which the instance has a private one of.
    let host = HostScratch::new(&format!("{}-host", built.name));
    let unit_copy = host.path.join(format!("{}.service", built.name));
    std::fs::copy(&built.unit, &unit_copy).unwrap();
    let archive_copy = host.path.join("jail.tar.gz");
    std::fs::copy(&built.archive, &archive_copy).unwrap();
    let extracted = host.path.join(format!("var/jail/{}", built.name));
    let root = format!("/var/jail/{}", built.name);
    let unit = format!("{}.service", built.name);
    let instance = Instance::start(test);

    // As the INSTALL notes say: the accounts first, then the archive, so
    // that tar gives the writable directories to the daemon's user.
    instance.ok(&built.account_commands());
    instance.ok(&format!(
        "tar -xzpf {} -C {}",
        shell_quote(&archive_copy.display().to_string()),
        shell_quote(&host.path.display().to_string())
    ));
    let read_only = if writes.is_empty() { "ro" } else { "rw" };
    instance.ok(&format!(
        "mkdir -p {root} && mount --bind {src} {root} && mount -o remount,bind,{read_only} {root}",
        src = shell_quote(&extracted.display().to_string()),
    ));
    let unit_text = std::fs::read_to_string(&built.unit).unwrap();
    let runtime: Vec<&str> = unit_text
        .lines()
        .filter_map(|l| l.strip_prefix("RuntimeDirectory="))
        .collect();
    instance.ok(&format!(
        "install -m 0644 {} /etc/systemd/system/ && systemctl daemon-reload",
        shell_quote(&unit_copy.display().to_string())
    ));

    // Read-only: starts, answers, shows as running, scores, restarts, stops.
    instance.ok(&format!("systemctl start {unit}"));
    let answer = ask(&instance, probe);
    eprintln!("{test}: the daemon answered {:?}", answer.trim_end());
    let status = instance.ok(&format!("systemctl status --no-pager {unit}"));
    assert!(status.contains("Active: active (running)"), "{status}");
    for dir in &runtime {
        let owner = instance.ok(&format!("stat -c %U /run/{dir}"));
        assert_eq!(owner.trim(), built.user(), "/run/{dir} while {unit} runs");
    }
    let score = exposure(&instance, &unit);
    assert!(
        score <= max_exposure,
        "exposure {score} above {max_exposure} for {unit}"
    );
    let main_pid = |instance: &Instance| {
        instance
            .ok(&format!("systemctl show -p MainPID --value {unit}"))
            .trim()
            .to_string()
    };
    let before = main_pid(&instance);
    instance.ok(&format!("systemctl restart {unit}"));
    ask(&instance, probe);
    assert_ne!(main_pid(&instance), before, "restart kept the same process");
    instance.ok(&format!("systemctl stop {unit}"));
    let state = instance.sh(&format!("systemctl is-active {unit}"));
    assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "inactive");
    for dir in &runtime {
        let gone = instance.sh(&format!("test ! -e /run/{dir}"));
        assert!(gone.status.success(), "/run/{dir} is left after stop");
    }

    // Writable: systemd creates nothing in the jail.
    instance.ok(&format!("mount -o remount,bind,rw {root}"));
    instance.ok(&format!("systemctl start {unit}"));
    ask(&instance, probe);
    instance.ok(&format!("systemctl stop {unit}"));
    let listing = instance.ok(&format!("find {root} -mindepth 1 -printf '%P\\n'"));
    // What the daemon wrote in its own directories is not systemd's doing.
    let found: BTreeSet<String> = listing
        .lines()
        .filter(|p| !writes.iter().any(|w| p.starts_with(&format!("{w}/"))))
        .map(str::to_string)
        .collect();
    let archived = built.archived();
    assert_eq!(
        found.difference(&archived).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "systemd added these to the jail"
    );
    assert_eq!(found, archived, "the jail differs from its archive");
}

#[test]
fn the_demo_unit_runs_under_systemd_over_a_read_only_jail() {
    let test = "the_demo_unit_runs_under_systemd_over_a_read_only_jail";
    if crate::support::skip_without_root(test) {
        return;
    }
    let jail = demo_jail();
    let built = Built::from_out_dir(&jail.out_dir, "daytimed");
    // The demo's default address (demo/Cargo.toml): localhost:8013.
    let check = |answer: &str| answer.ends_with("\r\n") || answer.trim_end().len() > 10;
    let probe = Probe::tcp(8013, "", &check);
    run_unit(test, &built, &probe, 2.0, &[]);
}

#[test]
fn a_debian_daemon_jailed_with_binary_runs_under_systemd() {
    let test = "a_debian_daemon_jailed_with_binary_runs_under_systemd";
    if crate::support::skip_without_root(test) {
        return;
    }
    let binary = Path::new("/usr/bin/memcached");
    assert!(
        binary.is_file(),
        "{} is missing: .ci/run installs it",
        binary.display()
    );
    let out_dir = scratch("memcached-systemd");
    let args = [
        "--binary",
        "/usr/bin/memcached",
        "--name",
        "memcached",
        "--arg",
        "-l",
        "--arg",
        "127.0.0.1",
        "--arg",
        "-p",
        "--arg",
        "11211",
        "--arg",
        "-U",
        "--arg",
        "0",
    ];
    let output = cargo_xtask_jail(&out_dir, &args);
    assert!(output.status.success(), "{}", both(&output));
    let built = Built::from_out_dir(&out_dir, "memcached");
    let check = |answer: &str| answer.starts_with("VERSION 1.");
    let probe = Probe::tcp(11211, "version\r\n", &check);
    // The same unit template: it must score as well as the demo's.
    run_unit(test, &built, &probe, 2.0, &[]);
}

#[test]
fn a_daemon_with_state_runtime_and_temp_directories_runs_under_systemd() {
    let test = "a_daemon_with_state_runtime_and_temp_directories_runs_under_systemd";
    if crate::support::skip_without_root(test) {
        return;
    }
    for tool in ["/usr/sbin/nsd", "/usr/bin/dig"] {
        assert!(
            Path::new(tool).is_file(),
            "{tool} is missing: .ci/run installs it"
        );
    }
    // NSD with the directories `--learn` finds it needs (tests/learn.rs):
    // its pidfile's /run/nsd, its state in /var/lib/nsd, a world /tmp.
    // Under systemd, /run is the unit's own empty tmpfs: /run/nsd must be
    // its RuntimeDirectory=, or the unit fails at 226/NAMESPACE.
    let out_dir = scratch("nsd-systemd");
    let port = 10053;
    crate::support::write_nsd_config(&out_dir, port);
    let settings = out_dir.join("jail.toml");
    std::fs::write(
        &settings,
        // Debian's nsd package made an `nsd` account on the host already.
        "user = \"nsd-jailed\"\n\
         args = [\"-d\", \"-c\", \"/etc/nsd/nsd.conf\"]\n\
         writable = [{ path = \"/tmp\", mode = \"1777\" }, { path = \"/run/nsd\" }, { path = \"/var/lib/nsd\" }]\n\
         files = [\n\
         { source = \"nsd.conf\", dest = \"/etc/nsd/nsd.conf\" },\n\
         { source = \"example.test.zone\", dest = \"/etc/nsd/example.test.zone\" },\n\
         ]\n",
    )
    .unwrap();
    let args = [
        "--binary",
        "/usr/sbin/nsd",
        "--settings",
        settings.to_str().unwrap(),
    ];
    let output = cargo_xtask_jail(&out_dir, &args);
    assert!(output.status.success(), "{}", both(&output));
    let built = Built::from_out_dir(&out_dir, "nsd");
    let unit = std::fs::read_to_string(&built.unit).unwrap();
    for line in ["RuntimeDirectory=nsd", "PrivateTmp=yes"] {
        assert!(unit.lines().any(|l| l == line), "no {line} in:\n{unit}");
    }
    assert!(
        !unit.contains("/run/nsd"),
        "/run/nsd as a host path:\n{unit}"
    );
    let check = |answer: &str| answer.trim() == "192.0.2.1";
    let probe = Probe {
        script: format!("dig @127.0.0.1 -p {port} www.example.test A +short +time=1 +tries=1"),
        check: &check,
    };
    run_unit(test, &built, &probe, 2.5, &["var/lib/nsd", "tmp"]);
}
