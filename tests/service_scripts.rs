//! The service scripts, INSTALL notes and PLIST fragment of real
//! `cargo xtask jail` runs: they agree with each other, with the manifest
//! and with the tarball; every artifact has its checksum; a project's own
//! template replaces the embedded one (and a missing one says which setting
//! and path); and on Linux the OpenBSD and FreeBSD rc.d scripts really
//! start the jailed demo, find it and stop it, with stand-ins for the BSD
//! tools they call:
//!
//! - rc.subr (OpenBSD): computes pexp as the real one does
//!   (`eval echo ${daemon}${daemon_flags:+ ${daemon_flags}}`), runs rc_start
//!   with rc_exec handing its command line to /bin/sh -c (as su(1) does),
//!   in the background for rc_bg=YES; check and stop are pgrep/pkill -xf.
//! - rc.subr (FreeBSD): run_rc_command's start (start_precmd, start_cmd),
//!   status and stop, finding the daemon from its pidfile and checking
//!   that the first word of its command line is procname (= command), as
//!   check_pidfile and _find_processes do (there are no jail IDs here).
//! - chroot(8): `[-u user] [-g group[,group]] [-G groups] newroot command`,
//!   names looked up on the host before the chroot, then GNU chroot with
//!   --userspec, which execs the command as the BSD one does.
//! - daemon(8): `-f -S -T tag -p pidfile`: runs the command in the
//!   background, writes its PID to the pidfile and waits for it.
//!
//! Paths on the target's host that the stand-ins write (the pidfile) are
//! placed under the test's scratch folder instead of /.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::{
    EXEC, ZONE, archive_file_entries, cargo_xtask_jail, free_port, scratch, skip_without_root,
};

// ---- runs of cargo xtask jail ----

/// What one `cargo xtask jail` run wrote.
struct Run {
    out_dir: PathBuf,
    manifest: serde_json::Value,
}

impl Run {
    fn file(&self, relative: &str) -> PathBuf {
        self.out_dir.join(relative)
    }

    fn read(&self, relative: &str) -> String {
        let path = self.file(relative);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    fn text(&self, key: &str) -> String {
        self.manifest[key]
            .as_str()
            .unwrap_or_else(|| panic!("manifest has no {key}: {}", self.manifest))
            .to_string()
    }

    fn name(&self) -> String {
        self.text("name")
    }

    /// The archive's file name, as the manifest lists it.
    fn archive(&self) -> String {
        self.artifacts()
            .into_keys()
            .find(|f| f.ends_with(".tar.gz"))
            .expect("an archive among the artifacts")
    }

    /// The manifest's artifacts: file → sha256.
    fn artifacts(&self) -> BTreeMap<String, String> {
        self.manifest["artifacts"]
            .as_array()
            .expect("artifacts")
            .iter()
            .map(|a| {
                (
                    a["file"].as_str().unwrap().to_string(),
                    a["sha256"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

/// Runs `cargo xtask jail ARGS` into a fresh folder and reads its manifest.
fn xtask(label: &str, args: &[&str]) -> Run {
    let out_dir = scratch(label);
    let output = cargo_xtask_jail(&out_dir, args);
    assert!(
        output.status.success(),
        "cargo xtask jail {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let manifest = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a manifest");
    let manifest = serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    Run { out_dir, manifest }
}

const ALL_FLAVOURS: [&str; 6] = [
    "--service",
    "openbsd",
    "--service",
    "freebsd",
    "--service",
    "systemd",
];

/// The demo with all three flavours, once, with a user, group and jail
/// root that differ from each other and from the name, so that no mix-up
/// between them goes unnoticed.
fn all_flavours() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let mut args = vec![
            "--timezone",
            ZONE,
            "--user",
            "_dt_user",
            "--group",
            "_dt_group",
            "--root",
            "/srv/jails/daytime",
        ];
        args.extend(ALL_FLAVOURS);
        xtask("services", &args)
    })
}

// ---- what the artifacts say ----

/// One program an INSTALL note runs, with its arguments.
#[derive(Debug, Clone, PartialEq)]
struct Invocation {
    program: String,
    args: Vec<String>,
}

/// The commands of `<flavour>/INSTALL` (the lines indented by four
/// spaces), run by /bin/sh from the output folder with every program they
/// call replaced by a stub that records its arguments.
fn install_commands(run: &Run, flavour: &str) -> Vec<Invocation> {
    let notes = run.read(&format!("{flavour}/INSTALL"));
    let commands: Vec<&str> = notes
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter(|l| !l.starts_with(' '))
        .collect();
    assert!(!commands.is_empty(), "no commands in:\n{notes}");
    let bin = scratch("install-stubs");
    let log = bin.join("log");
    for program in [
        "groupadd",
        "useradd",
        "pw",
        "tar",
        "install",
        "rcctl",
        "sysrc",
        "service",
        "systemctl",
        "sha256sum",
    ] {
        write_executable(
            &bin.join(program),
            "#!/bin/sh\nprintf '%s\\n' \"== ${0##*/}\" \"$@\" >> \"$STUB_LOG\"\n",
        );
    }
    let out = Command::new("/bin/sh")
        .arg("-ec")
        .arg(commands.join("\n"))
        .current_dir(&run.out_dir)
        .env_clear()
        .env("PATH", &bin)
        .env("STUB_LOG", &log)
        .output()
        .unwrap();
    assert_success(&out, &format!("the {flavour} INSTALL commands"));
    let log = std::fs::read_to_string(&log).unwrap();
    let mut calls: Vec<Invocation> = Vec::new();
    for line in log.lines() {
        match line.strip_prefix("== ") {
            Some(program) => calls.push(Invocation {
                program: program.to_string(),
                args: vec![],
            }),
            None => calls.last_mut().unwrap().args.push(line.to_string()),
        }
    }
    calls
}

fn call<'a>(calls: &'a [Invocation], program: &str, first: &str) -> &'a Invocation {
    calls
        .iter()
        .find(|c| c.program == program && c.args.first().map(String::as_str) == Some(first))
        .unwrap_or_else(|| panic!("no `{program} {first} …` among {calls:#?}"))
}

/// The value after `flag` in an argument list.
fn flag<'a>(args: &'a [String], flag: &str) -> &'a str {
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    &args[at + 1]
}

/// The user, group, jail root, daemon path and arguments a script hands
/// to chroot(8), as one real shell sees them: `[-u U -g G ROOT EXEC ARGS…]`.
#[derive(Debug, PartialEq)]
struct Chroot {
    user: String,
    group: String,
    root: String,
    exec: String,
    args: Vec<String>,
}

impl Chroot {
    fn from_words(words: &[String]) -> Chroot {
        match words {
            [u, user, g, group, root, exec, args @ ..] if u == "-u" && g == "-g" => Chroot {
                user: user.clone(),
                group: group.clone(),
                root: root.clone(),
                exec: exec.clone(),
                args: args.to_vec(),
            },
            _ => panic!("not `chroot -u USER -g GROUP ROOT COMMAND…`: {words:?}"),
        }
    }
}

/// The stand-ins, written into a fresh folder.
struct StandIns {
    dir: PathBuf,
    chroot: PathBuf,
    daemon: PathBuf,
    openbsd_rc_subr: PathBuf,
    freebsd_rc_subr: PathBuf,
    log: PathBuf,
}

impl StandIns {
    fn new(label: &str) -> StandIns {
        let dir = scratch(label);
        let chroot = dir.join("chroot");
        write_executable(&chroot, CHROOT_STANDIN);
        let daemon = dir.join("daemon");
        write_executable(&daemon, DAEMON_STANDIN);
        let openbsd_rc_subr = dir.join("openbsd.rc.subr");
        std::fs::write(&openbsd_rc_subr, OPENBSD_RC_SUBR).unwrap();
        let freebsd_rc_subr = dir.join("freebsd.rc.subr");
        std::fs::write(&freebsd_rc_subr, FREEBSD_RC_SUBR).unwrap();
        let log = dir.join("rc.log");
        StandIns {
            dir,
            chroot,
            daemon,
            openbsd_rc_subr,
            freebsd_rc_subr,
            log,
        }
    }

    /// The rc.d script with its rc.subr replaced by the stand-in, named as
    /// installed (rc.subr takes the service name from $0).
    fn harness(&self, run: &Run, flavour: &str) -> PathBuf {
        let name = run.name();
        let script = run.read(&format!("{flavour}/{name}"));
        let (real, mock) = match flavour {
            "openbsd" => (". /etc/rc.d/rc.subr", &self.openbsd_rc_subr),
            "freebsd" => (". /etc/rc.subr", &self.freebsd_rc_subr),
            _ => unreachable!(),
        };
        assert!(script.contains(real), "{flavour} script sources no {real}");
        let harness = script.replace(real, &format!(". '{}'", mock.display()));
        let dir = self.dir.join(flavour);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(&name);
        write_executable(&path, &harness);
        path
    }

    /// Runs `SHELL HARNESS ACTION` with the stand-ins in place and `env`
    /// (HOST_ROOT: the folder that stands for the target's /, where the
    /// stand-ins write host files; STANDIN_WORDS: a dry run).
    fn rc(&self, shell: &str, harness: &Path, action: &str, env: &[(&str, &OsStr)]) -> Output {
        // Output goes to files, not pipes: a daemon started in the
        // background may hold them open for as long as it runs.
        let stdout = tempfile::NamedTempFile::new_in(&self.dir).unwrap();
        let stderr = tempfile::NamedTempFile::new_in(&self.dir).unwrap();
        let mut cmd = Command::new(shell);
        cmd.arg(harness)
            .arg(action)
            .env("CHROOT_STANDIN", &self.chroot)
            .env("DAEMON_STANDIN", &self.daemon)
            .env("RC_LOG", &self.log)
            .stdin(std::process::Stdio::null())
            .stdout(stdout.reopen().unwrap())
            .stderr(stderr.reopen().unwrap());
        for (key, value) in env {
            cmd.env(key, value);
        }
        let status = cmd.status().unwrap();
        Output {
            status,
            stdout: std::fs::read(stdout.path()).unwrap(),
            stderr: std::fs::read(stderr.path()).unwrap(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// What the OpenBSD script hands chroot(8), and its pexp, without running
/// anything in a jail.
fn openbsd_dry_run(run: &Run) -> Option<(Chroot, String)> {
    if !have("mksh") {
        return None;
    }
    let stand_ins = StandIns::new("openbsd-dry");
    let harness = stand_ins.harness(run, "openbsd");
    let words = stand_ins.dir.join("words");
    let out = stand_ins.rc(
        "mksh",
        &harness,
        "start",
        &[("STANDIN_WORDS", words.as_os_str())],
    );
    assert_success(&out, "the OpenBSD script's start (dry)");
    let words = read_lines(&words);
    let out = stand_ins.rc("mksh", &harness, "pexp", &[]);
    assert_success(&out, "the OpenBSD script's pexp");
    let pexp = String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string();
    Some((Chroot::from_words(&words), pexp))
}

/// The FreeBSD script as rc.subr reads it, without running anything in a
/// jail.
struct FreeBsdDryRun {
    /// `<name>_chroot`, `<name>_user` and `<name>_group` by default.
    defaults: [String; 3],
    /// daemon(8)'s options.
    daemon_flags: Vec<String>,
    /// The chroot(8) command line daemon(8) runs, for a jail moved (with
    /// `<name>_chroot`, as rc.conf can) to a folder holding only the daemon:
    /// start checks that it is there.
    chroot: Chroot,
}

fn freebsd_dry_run(run: &Run) -> FreeBsdDryRun {
    let stand_ins = StandIns::new("freebsd-dry");
    let harness = stand_ins.harness(run, "freebsd");
    let out = stand_ins.rc("sh", &harness, "defaults", &[]);
    assert_success(&out, "the FreeBSD script's defaults");
    let defaults: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let jail = stand_ins.dir.join("moved-jail");
    let exec = jail.join(run.text("exec").trim_start_matches('/'));
    std::fs::create_dir_all(exec.parent().unwrap()).unwrap();
    write_executable(&exec, "#!/bin/sh\n");
    let words = stand_ins.dir.join("words");
    let name = run.name();
    let out = stand_ins.rc(
        "sh",
        &harness,
        "start",
        &[
            ("STANDIN_WORDS", words.as_os_str()),
            (&format!("{name}_enable"), OsStr::new("YES")),
            (&format!("{name}_chroot"), jail.as_os_str()),
        ],
    );
    assert_success(&out, "the FreeBSD script's start (dry)");
    let words = read_lines(&words);
    let at = words
        .iter()
        .position(|w| w == "/usr/sbin/chroot")
        .unwrap_or_else(|| panic!("daemon(8) runs no /usr/sbin/chroot: {words:?}"));
    let chroot = Chroot::from_words(&words[at + 1..]);
    assert_eq!(
        Path::new(&chroot.root),
        jail,
        "{name}_chroot moves the jail"
    );
    FreeBsdDryRun {
        defaults: defaults.try_into().expect("three defaults"),
        daemon_flags: words[..at].to_vec(),
        chroot,
    }
}

/// `KEY=value` lines of a unit.
fn unit_setting(unit: &str, key: &str) -> String {
    let prefix = format!("{key}=");
    let values: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect();
    match values[..] {
        [one] => one.to_string(),
        _ => panic!("{key}= is set {} times in:\n{unit}", values.len()),
    }
}

/// A shell variable assignment at the start of a line: `name=value`.
fn assignment(script: &str, var: &str) -> String {
    let prefix = format!("{var}=");
    script
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {var}= in:\n{script}"))
        .to_string()
}

// ---- agreement ----

#[test]
fn install_notes_plist_and_scripts_agree_with_each_other_and_the_tarball() {
    let run = all_flavours();
    let name = run.name();
    let (user, group) = (run.text("user"), run.text("group"));
    let (root, exec) = (run.text("jail_root"), run.text("exec"));
    let args: Vec<String> = serde_json::from_value(run.manifest["args"].clone()).unwrap();
    let archive = run.archive();

    // The tarball: its first entry is the jail root, everything is under
    // it, and the daemon is at its path inside the jail.
    let entries = archive_file_entries(&run.file(&archive));
    let relative_root = root.strip_prefix('/').unwrap();
    assert_eq!(entries[0].path, Path::new(relative_root));
    assert!(entries.iter().all(|e| e.path.starts_with(relative_root)));
    let daemon_entry = Path::new(relative_root).join(exec.strip_prefix('/').unwrap());
    assert!(
        entries
            .iter()
            .any(|e| e.path == daemon_entry && e.kind.is_file()),
        "no {} in the archive",
        daemon_entry.display()
    );
    // Owners by name: root, or the daemon's own user (writable directories).
    assert!(
        entries.iter().all(|e| e.user == "root" || e.user == user),
        "{entries:?}"
    );

    // The scripts, as a shell reads them.
    let script = Chroot {
        user: user.clone(),
        group: group.clone(),
        root: root.clone(),
        exec: exec.clone(),
        args: args.clone(),
    };
    if let Some((chroot, pexp)) = openbsd_dry_run(run) {
        assert_eq!(chroot, script, "OpenBSD rc_start");
        assert_eq!(pexp, format!("{exec} {}", args.join(" ")), "OpenBSD pexp");
    } else {
        println!("SKIPPED the OpenBSD script's part: mksh is not installed (Debian package: mksh)");
    }
    let freebsd = freebsd_dry_run(run);
    assert_eq!(
        freebsd.defaults,
        [root.clone(), user.clone(), group.clone()]
    );
    let chroot = Chroot {
        root: root.clone(),
        ..freebsd.chroot
    };
    assert_eq!(chroot, script, "FreeBSD start_cmd");
    let pidfile = format!("/var/run/{name}.pid");
    assert_eq!(
        freebsd.daemon_flags,
        ["-f", "-S", "-T", &name, "-p", &pidfile]
    );
    let freebsd = run.read(&format!("freebsd/{name}"));
    assert_eq!(assignment(&freebsd, "name"), name);
    assert_eq!(assignment(&freebsd, "command"), exec);
    let unit = run.read(&format!("systemd/{name}.service"));
    assert_eq!(unit_setting(&unit, "RootDirectory"), root);
    assert_eq!(unit_setting(&unit, "User"), user);
    assert_eq!(unit_setting(&unit, "Group"), group);
    assert!(unit_setting(&unit, "ExecStart").starts_with(&format!("{exec} ")));

    // OpenBSD INSTALL: the same group, user, archive and script.
    let calls = install_commands(run, "openbsd");
    let programs: Vec<&str> = calls.iter().map(|c| c.program.as_str()).collect();
    assert_eq!(
        programs,
        ["groupadd", "useradd", "tar", "install", "rcctl", "rcctl"],
        "groups and users come before the extraction: {calls:#?}"
    );
    assert_eq!(calls[0].args, [group.as_str()]);
    let useradd = &calls[1].args;
    assert_eq!(useradd.last().unwrap(), &user);
    assert_eq!(flag(useradd, "-g"), group);
    assert_eq!(flag(useradd, "-s"), "/sbin/nologin");
    assert_eq!(calls[2].args, ["-xzpf", archive.as_str(), "-C", "/"]);
    assert_eq!(
        calls[3].args,
        [
            "-o",
            "root",
            "-g",
            "wheel",
            "-m",
            "0555",
            &format!("openbsd/{name}"),
            &format!("/etc/rc.d/{name}")
        ]
    );
    assert!(run.file(&calls[3].args[6]).is_file());
    assert_eq!(calls[4].args, ["enable", name.as_str()]);
    assert_eq!(calls[5].args, ["start", name.as_str()]);

    // FreeBSD INSTALL.
    let calls = install_commands(run, "freebsd");
    assert_eq!(
        call(&calls, "pw", "groupadd").args,
        ["groupadd", "-n", group.as_str()]
    );
    let useradd = &call(&calls, "pw", "useradd").args;
    assert_eq!(flag(useradd, "-n"), user);
    assert_eq!(flag(useradd, "-g"), group);
    assert_eq!(flag(useradd, "-s"), "/usr/sbin/nologin");
    assert_eq!(
        call(&calls, "tar", "-xzpf").args,
        ["-xzpf", archive.as_str(), "-C", "/"]
    );
    let install = &call(&calls, "install", "-o").args;
    assert_eq!(
        install[6..],
        [
            format!("freebsd/{name}"),
            format!("/usr/local/etc/rc.d/{name}")
        ]
    );
    assert_eq!(flag(install, "-m"), "0555");
    assert_eq!(
        call(&calls, "sysrc", &format!("{name}_enable=YES"))
            .args
            .len(),
        1
    );
    assert_eq!(
        call(&calls, "service", &name).args,
        [name.as_str(), "start"]
    );

    // systemd INSTALL.
    let calls = install_commands(run, "systemd");
    assert_eq!(calls[0].program, "sha256sum");
    assert_eq!(calls[0].args, ["-c", &format!("{archive}.sha256")]);
    assert!(run.file(&calls[0].args[1]).is_file());
    let groupadd = &call(&calls, "groupadd", "--system").args;
    assert_eq!(groupadd.last().unwrap(), &group);
    let useradd = &call(&calls, "useradd", "--system").args;
    assert_eq!(useradd.last().unwrap(), &user);
    assert_eq!(flag(useradd, "--gid"), group);
    assert!(useradd.contains(&"--no-create-home".to_string()));
    assert_eq!(
        call(&calls, "tar", "-xzpf").args,
        ["-xzpf", archive.as_str(), "-C", "/"]
    );
    let install = &call(&calls, "install", "-o").args;
    assert_eq!(
        install[6..],
        [
            format!("systemd/{name}.service"),
            format!("/etc/systemd/system/{name}.service")
        ]
    );
    assert_eq!(flag(install, "-m"), "0644");
    assert_eq!(call(&calls, "systemctl", "daemon-reload").args.len(), 1);
    assert_eq!(
        call(&calls, "systemctl", "enable").args,
        ["enable", "--now", &format!("{name}.service")]
    );

    // The PLIST fragment: the same group, user and rc.d script name.
    let plist = run.read("openbsd/PLIST");
    let annotations: Vec<&str> = plist
        .lines()
        .filter(|l| !l.starts_with("@comment"))
        .collect();
    assert_eq!(annotations.len(), 3, "{plist}");
    let newgroup: Vec<&str> = annotations[0]
        .strip_prefix("@newgroup ")
        .unwrap()
        .split(':')
        .collect();
    assert_eq!(
        newgroup,
        [group.as_str(), "<gid>"],
        "no gid in the demo's settings"
    );
    let newuser: Vec<&str> = annotations[1]
        .strip_prefix("@newuser ")
        .unwrap()
        .split(':')
        .collect();
    assert_eq!(newuser.len(), 7, "name:uid:group:class:comment:home:shell");
    assert_eq!(newuser[0], user);
    assert_eq!(newuser[1], "<uid>");
    assert_eq!(newuser[2], group);
    assert_eq!(newuser[5..], ["/var/empty", "/sbin/nologin"]);
    assert_eq!(annotations[2], format!("@rcscript ${{RCDIR}}/{name}"));
    assert!(
        plist.contains("@comment <uid> and <gid> are placeholders"),
        "{plist}"
    );
}

#[test]
fn every_artifact_has_its_checksum_and_a_place_in_the_manifest() {
    let run = all_flavours();
    let name = run.name();
    let mut files = Vec::new();
    for dir in [
        run.out_dir.clone(),
        run.file("openbsd"),
        run.file("freebsd"),
        run.file("systemd"),
    ] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push(
                    path.strip_prefix(&run.out_dir)
                        .unwrap()
                        .display()
                        .to_string(),
                );
            }
        }
    }
    files.sort();
    let (sums, artifacts): (Vec<String>, Vec<String>) =
        files.into_iter().partition(|f| f.ends_with(".sha256"));
    let manifest_file = artifacts
        .iter()
        .find(|f| f.ends_with(".json") && !f.ends_with(".cdx.json"))
        .expect("a manifest")
        .clone();
    let archive = run.archive();
    let sbom = manifest_file.replace(".json", ".cdx.json");
    let mut expected = vec![
        archive.clone(),
        sbom,
        "freebsd/INSTALL".to_string(),
        format!("freebsd/{name}"),
        manifest_file.clone(),
        "openbsd/INSTALL".to_string(),
        "openbsd/PLIST".to_string(),
        format!("openbsd/{name}"),
        "systemd/INSTALL".to_string(),
        format!("systemd/{name}.service"),
    ];
    expected.sort();
    assert_eq!(artifacts, expected);
    // Each has its .sha256, which sha256sum accepts from the file's folder.
    let with_sums: Vec<String> = sums
        .iter()
        .map(|s| s.trim_end_matches(".sha256").to_string())
        .collect();
    assert_eq!(with_sums, artifacts);
    for sum in &sums {
        let path = run.file(sum);
        let out = Command::new("sha256sum")
            .arg("-c")
            .arg(path.file_name().unwrap())
            .current_dir(path.parent().unwrap())
            .output()
            .unwrap();
        assert_success(&out, &format!("sha256sum -c {sum}"));
    }
    // The manifest lists every artifact but itself, with the same digest.
    let listed = run.artifacts();
    let mut without_manifest = artifacts.clone();
    without_manifest.retain(|f| *f != manifest_file);
    assert_eq!(listed.keys().cloned().collect::<Vec<_>>(), without_manifest);
    for (file, digest) in &listed {
        let line = run.read(&format!("{file}.sha256"));
        assert!(
            line.starts_with(&format!("{digest} ")),
            "{file}: {line} vs {digest}"
        );
    }
    // Scripts are executable, notes and the unit are not.
    for (file, mode) in [
        (format!("openbsd/{name}"), 0o555),
        (format!("freebsd/{name}"), 0o555),
        (format!("systemd/{name}.service"), 0o644),
        ("openbsd/INSTALL".to_string(), 0o644),
        ("openbsd/PLIST".to_string(), 0o644),
    ] {
        let meta = std::fs::metadata(run.file(&file)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
    }
}

#[test]
fn flags_with_spaces_quotes_and_dollars_survive_end_to_end() {
    // Each value reaches the jailed daemon as one argument, whatever it
    // holds. (pexp is rc.subr's and joins words with single spaces, so the
    // values here avoid runs of blanks, tabs and backslashes; see the
    // rendering tests in src/emit/service.rs for those.)
    let values = [
        "--listen",
        "localhost:8013",
        "two words",
        "it's",
        "say \"hi\"",
        "$HOME",
        "${PATH}",
        "`id`",
        "$(id)",
        "a;b",
        "| cat",
        "*",
        "100%",
        "%h",
        "#hash",
    ];
    let mut args: Vec<&str> = ALL_FLAVOURS.to_vec();
    for value in values {
        args.push("--arg");
        args.push(value);
    }
    args.extend(["--timezone", ZONE]);
    let run = xtask("hostile-flags", &args);
    let manifest_args: Vec<String> = serde_json::from_value(run.manifest["args"].clone()).unwrap();
    assert_eq!(manifest_args, values);
    if let Some((chroot, pexp)) = openbsd_dry_run(&run) {
        assert_eq!(chroot.args, values, "OpenBSD: the words chroot(8) gets");
        assert_eq!(
            pexp,
            format!("{} {}", run.text("exec"), values.join(" ")),
            "OpenBSD pexp"
        );
    } else {
        println!("SKIPPED the OpenBSD script's part: mksh is not installed (Debian package: mksh)");
    }
    let freebsd = freebsd_dry_run(&run);
    assert_eq!(
        freebsd.chroot.args, values,
        "FreeBSD: the words chroot(8) gets"
    );
    let unit = run.read(&format!("systemd/{}.service", run.name()));
    let exec_start = systemd_words(&unit_setting(&unit, "ExecStart"));
    assert_eq!(exec_start[0], run.text("exec"));
    assert_eq!(exec_start[1..], values, "systemd: ExecStart= words");
}

/// Splits an `ExecStart=` value into words as systemd does for what the
/// unit template writes: plain words, or double-quoted ones with `\\`,
/// `\"`, `\n`, `\t` escapes; `$$` is `$` and `%%` is `%`.
fn systemd_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next().expect("unterminated quote") {
                    '"' => break,
                    '\\' => match chars.next().expect("dangling backslash") {
                        'n' => word.push('\n'),
                        't' => word.push('\t'),
                        c => word.push(c),
                    },
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word.replace("$$", "$").replace("%%", "%"));
    }
    words
}

// ---- a project's own templates ----

/// A throwaway package (one empty binary) with `settings` as its
/// `[package.metadata.jail]` and `files` beside its Cargo.toml.
fn package(label: &str, settings: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = scratch(label);
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"tinyd\"\nversion = \"1.2.3\"\nedition = \"2024\"\n\n\
             [workspace]\n\n[package.metadata.jail]\n{settings}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("Cargo.lock"),
        "version = 4\n\n[[package]]\nname = \"tinyd\"\nversion = \"1.2.3\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn xtask_package(package: &Path, out_dir: &Path) -> Output {
    let manifest = package.join("Cargo.toml");
    cargo_xtask_jail(out_dir, &["--manifest-path", manifest.to_str().unwrap()])
}

#[test]
fn a_projects_own_template_replaces_the_embedded_one() {
    let template = "#!/bin/ksh\n# {{ name }} {{ version }}, our own script\n\
                    daemon=\"{{ exec | sh_quote | sh_dq }}\"\n\
                    daemon_flags=\"{{ args | map('sh_quote') | join(' ') | sh_dq }}\"\n\
                    . /etc/rc.d/rc.subr\nrc_cmd $1\n";
    let dir = package(
        "own-template",
        "services = [\"openbsd\", \"systemd\"]\nargs = [\"-v\", \"a b\"]\nuid = 812\n\
         templates = { openbsd = \"jail/openbsd.rc\" }",
        &[("jail/openbsd.rc", template)],
    );
    let out_dir = scratch("own-template-out");
    let output = xtask_package(&dir, &out_dir);
    assert_success(&output, "cargo xtask jail with templates.openbsd");
    let script = std::fs::read_to_string(out_dir.join("openbsd/tinyd")).unwrap();
    assert_eq!(
        script,
        "#!/bin/ksh\n# tinyd 1.2.3, our own script\n\
         daemon=\"/usr/local/sbin/tinyd\"\ndaemon_flags=\"-v 'a b'\"\n\
         . /etc/rc.d/rc.subr\nrc_cmd $1\n"
    );
    // The unit still comes from the embedded template.
    let unit = std::fs::read_to_string(out_dir.join("systemd/tinyd.service")).unwrap();
    assert!(unit.contains("generated by jailpack for tinyd"), "{unit}");
    // The custom script is an artifact like the others.
    let json = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let listed = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["file"] == "openbsd/tinyd")
        .expect("openbsd/tinyd in the manifest")
        .clone();
    let sum = std::fs::read_to_string(out_dir.join("openbsd/tinyd.sha256")).unwrap();
    assert_eq!(
        sum,
        format!("{} *tinyd\n", listed["sha256"].as_str().unwrap())
    );
    // uid (and gid, as the group is named after the user) reach the notes
    // and the fragment.
    let plist = std::fs::read_to_string(out_dir.join("openbsd/PLIST")).unwrap();
    assert!(
        plist.contains("\n@newgroup tinyd:812\n@newuser tinyd:812:tinyd::tinyd daemon:"),
        "{plist}"
    );
    assert!(!plist.contains("placeholder"), "{plist}");
    let notes = std::fs::read_to_string(out_dir.join("openbsd/INSTALL")).unwrap();
    assert!(
        notes.contains("\n    groupadd -g 812 tinyd\n    useradd -u 812 -g tinyd "),
        "{notes}"
    );
}

#[test]
fn a_missing_template_names_the_setting_and_the_path() {
    let dir = package(
        "missing-template",
        "services = [\"freebsd\"]\ntemplates = { freebsd = \"jail/nope.rc\" }",
        &[],
    );
    let out_dir = scratch("missing-template-out");
    let output = xtask_package(&dir, &out_dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("templates.freebsd"), "{stderr}");
    assert!(
        stderr.contains(&dir.join("jail/nope.rc").display().to_string()),
        "{stderr}"
    );
    assert!(
        stderr.contains(&dir.join("Cargo.toml").display().to_string()),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(&out_dir).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn an_undefined_variable_in_a_template_fails_the_run() {
    let dir = package(
        "undefined-in-template",
        "services = [\"systemd\"]\ntemplates = { systemd = \"unit.in\" }",
        &[(
            "unit.in",
            "[Service]\nExecStart={{ exec }} {{ no_such_setting }}\n",
        )],
    );
    let out_dir = scratch("undefined-in-template-out");
    let output = xtask_package(&dir, &out_dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("templates.systemd"), "{stderr}");
    assert!(stderr.contains("unit.in"), "{stderr}");
    assert!(stderr.contains("undefined"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(&out_dir).unwrap().count(),
        0,
        "nothing written"
    );
}

// ---- the scripts start, find and stop the jailed daemon ----

/// A demo jail for a behavioural test: the scripts carry a free port, the
/// jail root is under a scratch folder (`host_root`, which stands for the
/// target's /), and the daemon runs as 65534 under its names on this host.
struct Installed {
    run: Run,
    host_root: PathBuf,
    jail_root: PathBuf,
    port: u16,
    uid: u32,
}

fn install_jail(label: &str) -> Installed {
    let host_root = scratch(label);
    let jail_root = host_root.join("var/jail/daytimed");
    let user = account_name("passwd", 65534);
    let group = account_name("group", 65534);
    let port = free_port();
    let listen = format!("localhost:{port}");
    let mut args: Vec<&str> = ALL_FLAVOURS.to_vec();
    let root = jail_root.to_str().unwrap();
    args.extend([
        "--root",
        root,
        "--user",
        &user,
        "--group",
        &group,
        "--timezone",
        ZONE,
        "--arg",
        "--listen",
        "--arg",
        &listen,
    ]);
    let run = xtask(&format!("{label}-out"), &args);
    // Extract as the INSTALL notes say (tar -xzpf ARCHIVE -C /), after
    // checking that every entry is under the jail root, which is ours.
    let archive = run.archive();
    let relative_root = root.strip_prefix('/').unwrap();
    for entry in archive_file_entries(&run.file(&archive)) {
        assert!(
            entry.path.starts_with(relative_root),
            "{} is outside the jail",
            entry.path.display()
        );
    }
    let calls = install_commands(&run, "openbsd");
    let tar = call(&calls, "tar", "-xzpf");
    assert_eq!(tar.args, ["-xzpf", archive.as_str(), "-C", "/"]);
    let out = Command::new("tar")
        .args(&tar.args)
        .current_dir(&run.out_dir)
        .output()
        .unwrap();
    assert_success(&out, "tar -xzpf as the INSTALL notes say");
    assert!(jail_root.join(EXEC.strip_prefix('/').unwrap()).is_file());
    std::fs::create_dir_all(host_root.join("var/run")).unwrap();
    Installed {
        run,
        host_root,
        jail_root,
        port,
        uid: 65534,
    }
}

/// The name of user or group `id` on this host.
fn account_name(database: &str, id: u32) -> String {
    let out = Command::new("getent")
        .arg(database)
        .arg(id.to_string())
        .output()
        .unwrap();
    assert_success(&out, &format!("getent {database} {id}"));
    String::from_utf8(out.stdout)
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string()
}

/// Kills whatever still runs inside the test's jail (whatever its command
/// line) when the test ends, passed or failed.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(jail) = self.0.canonicalize() else {
            return;
        };
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if std::fs::read_link(entry.path().join("root")).is_ok_and(|root| root == jail) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

/// The daemon answers on `port` (or the test fails with the rc log).
fn wait_for_answer(port: u16, log: &dyn Fn() -> String) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for host in ["127.0.0.1", "::1"] {
            if let Ok(mut stream) = TcpStream::connect((host, port)) {
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut answer = String::new();
                stream.read_to_string(&mut answer).unwrap();
                return answer;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the jailed daemon never answered on port {port}; log:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `pgrep -xf PATTERN`: the PIDs whose whole command line is PATTERN.
fn pgrep(pattern: &str) -> Vec<u32> {
    let out = Command::new("pgrep")
        .args(["-xf", pattern])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

/// What /proc says about a process: its root, its real uid, its argv.
fn process(pid: u32) -> (PathBuf, u32, Vec<String>) {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let root = std::fs::read_link(proc.join("root")).unwrap();
    let status = std::fs::read_to_string(proc.join("status")).unwrap();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let cmdline = std::fs::read(proc.join("cmdline")).unwrap();
    let argv = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (root, uid, argv)
}

/// Waits until `pid` has exited (gone, or a zombie nobody reaped yet).
fn wait_gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat)
                if stat
                    .rsplit(')')
                    .next()
                    .unwrap()
                    .trim_start()
                    .starts_with('Z') =>
            {
                return true;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    false
}

/// The one jailed daemon the scripts must find: in the jail, as 65534, with
/// the in-jail path and the script's arguments as its command line.
fn assert_is_the_jailed_daemon(pid: u32, jail: &Installed) {
    let (root, uid, argv) = process(pid);
    assert_eq!(
        root,
        jail.jail_root.canonicalize().unwrap(),
        "pid {pid}'s root"
    );
    assert_eq!(uid, jail.uid, "pid {pid}'s uid");
    let listen = format!("localhost:{}", jail.port);
    assert_eq!(
        argv,
        [EXEC, "--listen", listen.as_str()],
        "pid {pid}'s argv"
    );
}

/// Whether `program` is on the PATH.
fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

#[test]
fn openbsd_rc_script_starts_finds_and_stops_the_jailed_daemon() {
    let test = "openbsd_rc_script_starts_finds_and_stops_the_jailed_daemon";
    if skip_without_root(test) {
        return;
    }
    for program in ["mksh", "pgrep", "pkill"] {
        if !have(program) {
            eprintln!("SKIPPED {test}: {program} is not installed (Debian packages: mksh, procps)");
            return;
        }
    }
    let jail = install_jail("openbsd-run");
    let stand_ins = StandIns::new("openbsd-run-standins");
    let harness = stand_ins.harness(&jail.run, "openbsd");
    let rc = |action: &str| stand_ins.rc("mksh", &harness, action, &[]);

    // pexp as rc.subr computes it from daemon and daemon_flags.
    let out = rc("pexp");
    assert_success(&out, "pexp");
    let pexp = String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string();
    assert_eq!(pexp, format!("{EXEC} --listen localhost:{}", jail.port));
    let _cleanup = Cleanup(jail.jail_root.clone());
    assert!(pgrep(&pexp).is_empty(), "something already runs {pexp}");
    assert_eq!(rc("check").status.code(), Some(1), "check before start");

    // Start: rc_start's chroot(8) command line, in the background (rc_bg).
    let out = rc("start");
    assert_success(&out, "start");
    let answer = wait_for_answer(jail.port, &|| stand_ins.log());
    assert!(answer.ends_with("\r\n"), "{answer:?}");

    // pgrep -xf "$pexp" finds exactly the jailed daemon.
    let found = pgrep(&pexp);
    assert_eq!(found.len(), 1, "pgrep -xf {pexp:?} found {found:?}");
    assert_is_the_jailed_daemon(found[0], &jail);
    assert_success(&rc("check"), "check while running");

    // pkill -xf "$pexp" stops it.
    let out = Command::new("pkill").args(["-xf", &pexp]).output().unwrap();
    assert_success(&out, "pkill -xf pexp");
    assert!(wait_gone(found[0]), "pid {} survived pkill", found[0]);
    assert!(pgrep(&pexp).is_empty());
    assert_eq!(rc("check").status.code(), Some(1), "check after stop");
    assert!(TcpStream::connect(("127.0.0.1", jail.port)).is_err());

    // And through the script: start again, then its stop action.
    assert_success(&rc("start"), "start again");
    wait_for_answer(jail.port, &|| stand_ins.log());
    let found = pgrep(&pexp);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_success(&rc("stop"), "stop");
    assert!(wait_gone(found[0]), "pid {} survived rc_stop", found[0]);
}

#[test]
fn freebsd_rc_script_finds_and_stops_the_jailed_daemon_through_its_pidfile() {
    let test = "freebsd_rc_script_finds_and_stops_the_jailed_daemon_through_its_pidfile";
    if skip_without_root(test) {
        return;
    }
    for program in ["ps", "pgrep", "pkill"] {
        if !have(program) {
            eprintln!("SKIPPED {test}: {program} is not installed (Debian package: procps)");
            return;
        }
    }
    let jail = install_jail("freebsd-run");
    let stand_ins = StandIns::new("freebsd-run-standins");
    let harness = stand_ins.harness(&jail.run, "freebsd");
    let name = jail.run.name();
    let enable = format!("{name}_enable");
    let rc = |action: &str| {
        stand_ins.rc(
            "sh",
            &harness,
            action,
            &[
                ("HOST_ROOT", jail.host_root.as_os_str()),
                (&enable, OsStr::new("YES")),
            ],
        )
    };
    let command_line = format!("{EXEC} --listen localhost:{}", jail.port);
    let _cleanup = Cleanup(jail.jail_root.clone());
    let out = rc("status");
    assert_eq!(out.status.code(), Some(1), "status before start");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{name} is not running.\n")
    );

    let out = rc("start");
    assert_success(&out, "start");
    let answer = wait_for_answer(jail.port, &|| stand_ins.log());
    assert!(answer.ends_with("\r\n"), "{answer:?}");

    // The pidfile (on the host) holds the jailed daemon's own PID: chroot(8)
    // execs it, so the PID daemon(8) wrote is the daemon's.
    let pidfile = jail.host_root.join(format!("var/run/{name}.pid"));
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap_or_else(|e| panic!("no pidfile {}: {e}\n{}", pidfile.display(), stand_ins.log()))
        .trim()
        .parse()
        .unwrap();
    assert_is_the_jailed_daemon(pid, &jail);
    assert_eq!(pgrep(&command_line), [pid]);

    // status finds it through the pidfile and procname (= command).
    let out = rc("status");
    assert_success(&out, "status");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{name} is running as pid {pid}.\n")
    );

    // stop signals that PID and waits for it.
    let out = rc("stop");
    assert_success(&out, "stop");
    assert!(wait_gone(pid), "pid {pid} survived stop");
    assert!(pgrep(&command_line).is_empty());
    let out = rc("status");
    assert_eq!(out.status.code(), Some(1), "status after stop");
    assert!(TcpStream::connect(("127.0.0.1", jail.port)).is_err());
}

// ---- helpers ----

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .map(str::to_string)
        .collect()
}

fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- the stand-ins ----

/// chroot(8) of OpenBSD and FreeBSD, on Linux. With STANDIN_WORDS set it
/// only writes its arguments there, one a line.
const CHROOT_STANDIN: &str = r#"#!/bin/sh
# chroot [-u user] [-g group[,group...]] [-G group,...] newroot command [arg ...]
# The BSD chroot(8)s look user and group up on the host, before chroot(2),
# then exec the command; GNU chroot does the rest with numeric IDs.
if [ -n "$STANDIN_WORDS" ]; then
	printf '%s\n' "$@" > "$STANDIN_WORDS"
	exit 0
fi
user= group= groups=
while getopts u:g:G: opt; do
	case $opt in
	u) user=$OPTARG ;;
	g) group=${OPTARG%%,*}
	   case $OPTARG in *,*) groups=${OPTARG#*,} ;; esac ;;
	G) groups=$OPTARG ;;
	*) exit 125 ;;
	esac
done
shift $((OPTIND - 1))
if [ -z "$user" ] || [ -z "$group" ]; then
	echo "chroot stand-in: give both -u and -g" >&2
	exit 125
fi
uid=$(id -u "$user") || exit 125
gid=$(getent group "$group" | cut -d: -f3)
if [ -z "$gid" ]; then
	echo "chroot stand-in: no group $group on this host" >&2
	exit 125
fi
exec chroot --userspec="$uid:$gid" ${groups:+--groups="$groups"} -- "$@"
"#;

/// FreeBSD's daemon(8), for `-f -S -T tag -p pidfile -P pidfile command`:
/// runs the command, writes its PID to the -p pidfile and its own to the
/// -P one (under HOST_ROOT), waits for it and removes the pidfiles. With
/// STANDIN_WORDS set it only writes its arguments there.
const DAEMON_STANDIN: &str = r#"#!/bin/sh
if [ -n "$STANDIN_WORDS" ]; then
	printf '%s\n' "$@" > "$STANDIN_WORDS"
	exit 0
fi
pidfile= supervisor_pidfile=
while getopts fST:p:P: opt; do
	case $opt in
	p) pidfile=$HOST_ROOT$OPTARG ;;
	P) supervisor_pidfile=$HOST_ROOT$OPTARG ;;
	f|S|T) ;;  # output to /dev/null and syslog: not emulated
	*) echo "daemon stand-in: option not emulated" >&2; exit 1 ;;
	esac
done
shift $((OPTIND - 1))
if [ "$1" = /usr/sbin/chroot ]; then
	shift
	set -- "$CHROOT_STANDIN" "$@"
fi
"$@" &
child=$!
[ -z "$pidfile" ] || echo "$child" > "$pidfile"
[ -z "$supervisor_pidfile" ] || echo "$$" > "$supervisor_pidfile"
wait "$child"
rm -f "$pidfile" "$supervisor_pidfile"
"#;

/// OpenBSD's rc.subr, for a script that sets daemon and daemon_flags,
/// maybe rc_bg and rc_pre, and overrides rc_start with rc_exec.
const OPENBSD_RC_SUBR: &str = r#"# OpenBSD rc.subr stand-in (see the test module's documentation).
_name=${0##*/}

# <name>_flags from rc.conf.local replaces daemon_flags (here: from the
# environment).
eval _rcflags=\${${_name}_flags}
[ -n "${_rcflags}" ] && daemon_flags=${_rcflags}

# rc.subr's default pexp: daemon and daemon_flags with the shell's quotes
# removed, as the started process will see its arguments.
pexp="$(eval echo ${daemon}${daemon_flags:+ ${daemon_flags}})"

# rc.subr hands the command line to su(1), which runs /bin/sh -c with it.
# OpenBSD's chroot(8) is the stand-in.
rc_exec() {
	_cmd="$*"
	case $_cmd in
	"/usr/sbin/chroot "*) _cmd="'$CHROOT_STANDIN' ${_cmd#/usr/sbin/chroot }" ;;
	*) echo "rc_exec: not a chroot(8) command line: $_cmd" >&2; return 1 ;;
	esac
	/bin/sh -c "$_cmd"
}

rc_check() {
	pgrep -xf "${pexp}" >/dev/null
}

rc_stop() {
	pkill -xf "${pexp}"
}

rc_cmd() {
	case $1 in
	pexp)
		printf '%s\n' "${pexp}"
		;;
	start)
		rc_check && exit 0
		# A dry run (STANDIN_WORDS) leaves the file system alone.
		if type rc_pre >/dev/null 2>&1 && [ -z "${STANDIN_WORDS}" ]; then
			rc_pre || exit 1
		fi
		if [ X"${rc_bg}" = X"YES" ] && [ -z "${STANDIN_WORDS}" ]; then
			rc_start </dev/null >>"${RC_LOG}" 2>&1 &
		else
			rc_start </dev/null >>"${RC_LOG}" 2>&1 || exit 1
		fi
		;;
	check)
		rc_check
		;;
	stop)
		rc_check || exit 0
		rc_stop
		;;
	*)
		echo "usage: $0 pexp|start|check|stop" >&2
		exit 1
		;;
	esac
}
"#;

/// FreeBSD's rc.subr: run_rc_command's start, status and stop for a
/// script with command, pidfile, start_cmd and start_precmd/stop_postcmd.
const FREEBSD_RC_SUBR: &str = r#"# FreeBSD rc.subr stand-in (see the test module's documentation).
load_rc_config() { :; }
warn() { echo "$0: WARNING: $*" >&2; }
startmsg() { echo "$*"; }
checkyesno() {
	eval _value=\$$1
	case $_value in
	[Yy][Ee][Ss]|[Tt][Rr][Uu][Ee]|[Oo][Nn]|1) return 0 ;;
	*) return 1 ;;
	esac
}
devfs_domount() { echo "devfs_domount is not emulated: $*" >&2; return 1; }
# The test jail ships its own device nodes: there is no devfs to unmount.
umount() { echo "umount $*" >>"$RC_LOG"; }
limits() {
	[ "$1" = -C ] && shift 2
	if [ "$1" != /usr/sbin/daemon ]; then
		echo "limits: not a daemon(8) command line: $*" >&2
		return 1
	fi
	shift
	if [ -n "$STANDIN_WORDS" ]; then
		"$DAEMON_STANDIN" "$@"
	else
		"$DAEMON_STANDIN" "$@" </dev/null >>"$RC_LOG" 2>&1 &
	fi
}

# check_pidfile: the PID in the pidfile, if that process's first word is
# procname, its basename, or one of the forms daemons rename themselves to.
_check_pidfile() {
	[ -f "$1" ] || return 0
	read _pid _junk < "$1"
	[ -n "$_pid" ] || return 0
	_bn=${2##*/}
	ps -ww -o pid= -o args= -p "$_pid" 2>/dev/null |
	while read _npid _arg0 _argv; do
		case $_arg0 in
		"$2"|"$_bn"|"$_bn:"|"($_bn)"|"[$_bn]") printf '%s' "$_npid" ;;
		esac
	done
}

run_rc_command() {
	rc_arg=$1
	_procname=${procname:-$command}
	eval rc_flags=\$${name}_flags
	rc_pid=
	if [ -n "$pidfile" ]; then
		rc_pid=$(_check_pidfile "$HOST_ROOT$pidfile" "$_procname")
	fi
	case $rc_arg in
	start)
		if ! checkyesno "$rcvar"; then
			echo "Cannot 'start' $name. Set $rcvar to YES."
			return 0
		fi
		if [ -n "$rc_pid" ]; then
			echo "$name already running? (pid=$rc_pid)." >&2
			return 1
		fi
		# A dry run (STANDIN_WORDS) leaves the file system alone.
		if [ -n "$start_precmd" ] && [ -z "$STANDIN_WORDS" ]; then
			eval "$start_precmd" || return 1
		fi
		if [ -z "$start_cmd" ]; then
			echo "rc.subr stand-in: only start_cmd is emulated" >&2
			return 1
		fi
		eval "$start_cmd"
		;;
	defaults)
		eval "_c=\$${name}_chroot _u=\$${name}_user _g=\$${name}_group"
		printf '%s\n' "$_c" "$_u" "$_g"
		;;
	status)
		if [ -n "$rc_pid" ]; then
			echo "$name is running as pid $rc_pid."
		else
			echo "$name is not running."
			return 1
		fi
		;;
	stop)
		if [ -z "$rc_pid" ]; then
			echo "$name not running? (check $pidfile)." >&2
			return 1
		fi
		echo "Stopping $name."
		kill -TERM "$rc_pid" || return 1
		_waited=0
		while kill -0 "$rc_pid" 2>/dev/null; do
			[ "$_waited" -lt 200 ] || return 1
			sleep 0.1
			_waited=$((_waited + 1))
		done
		if [ -n "$stop_postcmd" ]; then
			eval "$stop_postcmd"
		fi
		;;
	*)
		echo "usage: $0 defaults|start|status|stop" >&2
		return 1
		;;
	esac
}
"#;
