//! The service scripts, INSTALL notes and PLIST fragment of real
//! `cargo xtask jail` runs: they agree with each other, with the manifest
//! and with the tarball; every artifact has its checksum; a project's own
//! template replaces the embedded one (and a missing one says which setting
//! and path); and on Linux the OpenBSD and FreeBSD rc.d scripts really
//! start the jailed demo, find it, restart it and stop it under the real
//! rc.subr of each system (see `support::bsd` for how, and
//! `support/standins/` for the commands Debian lacks).
//!
//! The agreement tests also read what the scripts hand chroot(8) and
//! daemon(8) in dry runs that need no root: minimal rc.subr stand-ins
//! (`support/standins/dry/`) that only run the script's start and record
//! the words.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::bsd::{self, Bsd, BsdHost};
use crate::support::{
    EXEC, HostScratch, ZONE, archive_file_entries, both, cargo_xtask_jail, free_port, scratch,
    skip_without_root,
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

/// The user, group, supplementary groups, jail root, daemon path and
/// arguments a script hands to chroot(8), as one real shell sees them:
/// `[-u U -g G [-G GROUPS] ROOT EXEC ARGS…]`.
#[derive(Debug, PartialEq)]
struct Chroot {
    user: String,
    group: String,
    groups: Option<String>,
    root: String,
    exec: String,
    args: Vec<String>,
}

impl Chroot {
    fn from_words(words: &[String]) -> Chroot {
        let (groups, rest) = match words {
            [_, _, _, _, big_g, groups, rest @ ..] if big_g == "-G" => (Some(groups.clone()), rest),
            [_, _, _, _, rest @ ..] => (None, rest),
            _ => panic!("not `chroot -u USER -g GROUP [-G GROUPS] ROOT COMMAND…`: {words:?}"),
        };
        match (words, rest) {
            ([u, user, g, group, ..], [root, exec, args @ ..]) if u == "-u" && g == "-g" => {
                Chroot {
                    user: user.clone(),
                    group: group.clone(),
                    groups,
                    root: root.clone(),
                    exec: exec.clone(),
                    args: args.to_vec(),
                }
            }
            _ => panic!("not `chroot -u USER -g GROUP [-G GROUPS] ROOT COMMAND…`: {words:?}"),
        }
    }
}

/// The dry-run stand-ins, written into a fresh folder.
struct StandIns {
    dir: PathBuf,
    record: PathBuf,
    openbsd_rc_subr: PathBuf,
    freebsd_rc_subr: PathBuf,
}

impl StandIns {
    fn new(label: &str) -> StandIns {
        let dir = scratch(label);
        let record = dir.join("record");
        write_executable(&record, include_str!("support/standins/dry/record"));
        let openbsd_rc_subr = dir.join("openbsd.rc.subr");
        std::fs::write(
            &openbsd_rc_subr,
            include_str!("support/standins/dry/openbsd.rc.subr"),
        )
        .unwrap();
        let freebsd_rc_subr = dir.join("freebsd.rc.subr");
        std::fs::write(
            &freebsd_rc_subr,
            include_str!("support/standins/dry/freebsd.rc.subr"),
        )
        .unwrap();
        StandIns {
            dir,
            record,
            openbsd_rc_subr,
            freebsd_rc_subr,
        }
    }

    /// The rc.d script with its rc.subr replaced by the dry-run one, named
    /// as installed.
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

    /// Runs `SHELL HARNESS ACTION` with the recorders in place, the words
    /// going to `words`, and `env`.
    fn rc(
        &self,
        shell: &str,
        harness: &Path,
        action: &str,
        words: &Path,
        env: &[(&str, &OsStr)],
    ) -> Output {
        let mut cmd = Command::new(shell);
        cmd.arg(harness)
            .arg(action)
            .env("CHROOT_STANDIN", &self.record)
            .env("DAEMON_STANDIN", &self.record)
            .env("STANDIN_WORDS", words)
            .stdin(std::process::Stdio::null());
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd.output().unwrap()
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
    let out = stand_ins.rc("mksh", &harness, "start", &words, &[]);
    assert_success(&out, "the OpenBSD script's start (dry)");
    let words = read_lines(&words);
    let out = stand_ins.rc("mksh", &harness, "pexp", Path::new("/dev/null"), &[]);
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
    /// `<name>_chroot`, `<name>_user`, `<name>_group` and `<name>_groups`
    /// by default.
    defaults: [String; 4],
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
    let words = stand_ins.dir.join("words");
    let out = stand_ins.rc("sh", &harness, "defaults", &words, &[]);
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
    let name = run.name();
    let out = stand_ins.rc(
        "sh",
        &harness,
        "start",
        &words,
        &[
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
        defaults: defaults.try_into().expect("four defaults"),
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
        groups: None,
        root: root.clone(),
        exec: exec.clone(),
        args: args.clone(),
    };
    if let Some((chroot, pexp)) = openbsd_dry_run(run) {
        // OpenBSD's chroot -g sets the groups: no -G there.
        assert_eq!(chroot, script, "OpenBSD rc_start");
        assert_eq!(pexp, format!("{exec} {}", args.join(" ")), "OpenBSD pexp");
    } else {
        println!("SKIPPED the OpenBSD script's part: mksh is not installed (Debian package: mksh)");
    }
    let freebsd = freebsd_dry_run(run);
    assert_eq!(
        freebsd.defaults,
        [root.clone(), user.clone(), group.clone(), group.clone()]
    );
    let chroot = Chroot {
        root: root.clone(),
        ..freebsd.chroot
    };
    // FreeBSD's chroot sets supplementary groups only with -G: the
    // daemon's group, not root's wheel and operator.
    let with_groups = Chroot {
        groups: Some(group.clone()),
        ..script
    };
    assert_eq!(chroot, with_groups, "FreeBSD start_cmd");
    let pidfile = format!("/var/run/{name}.pid");
    let supervisor_pidfile = format!("/var/run/{name}.daemon.pid");
    assert_eq!(
        freebsd.daemon_flags,
        [
            "-f",
            "-S",
            "-T",
            &name,
            "-t",
            &name,
            "-p",
            &pidfile,
            "-P",
            &supervisor_pidfile
        ]
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
/// jail root is under a scratch folder (which stands for the target's /,
/// where the INSTALL notes extract it), and the daemon runs as 65534 under
/// its names on this host.
struct Installed {
    run: Run,
    /// Holds the jail, at a root the plan accepts wherever the clone is.
    _host: HostScratch,
    jail_root: PathBuf,
    port: u16,
    uid: u32,
}

fn install_jail(label: &str) -> Installed {
    let host = HostScratch::new(label);
    let jail_root = host.path.join("var/jail/daytimed");
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
    Installed {
        run,
        _host: host,
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

/// A `/proc/PID/status` field's numbers, e.g. `Groups:`.
fn status_numbers(pid: u32, field: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("no process {pid}: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Skips (saying why) unless root with the tools the BSD runs need.
fn skip_bsd_run(test: &str) -> bool {
    if skip_without_root(test) {
        return true;
    }
    if let Some(why) = bsd::missing_tools() {
        eprintln!("SKIPPED {test}: {why}");
        return true;
    }
    false
}

#[test]
fn openbsd_rc_script_under_the_real_rc_subr_starts_checks_restarts_and_stops_the_jailed_daemon() {
    let test = "openbsd_rc_script_under_the_real_rc_subr_starts_checks_restarts_and_stops_the_jailed_daemon";
    if skip_bsd_run(test) {
        return;
    }
    let jail = install_jail("openbsd-run");
    let name = jail.run.name();
    let script = jail.run.read(&format!("openbsd/{name}"));
    let host = BsdHost::new("openbsd-host", Bsd::OpenBsd, &name, &script, "");
    let rc = |action: &str| host.rc(action);
    let ok = format!("{name}(ok)\n");
    let failed = format!("{name}(failed)\n");
    // rc.subr's pexp: the in-jail path and the arguments, as chroot(8)
    // leaves the daemon's command line.
    let pexp = format!("{EXEC} --listen localhost:{}", jail.port);
    let _cleanup = Cleanup(jail.jail_root.clone());
    assert!(pgrep(&pexp).is_empty(), "something already runs {pexp}");
    let out = rc("check");
    assert_eq!(
        out.status.code(),
        Some(1),
        "check before start: {}",
        both(&out)
    );
    assert_eq!(stdout(&out), failed);

    // start returns once rc_check finds the daemon; SIGALRM then ends the
    // shell su(1) ran, and the daemon, its child, lives on (rc_bg=YES).
    let out = rc("start");
    assert_success(&out, "start");
    assert_eq!(stdout(&out), ok);
    let answer = wait_for_answer(jail.port, &|| both(&out));
    assert!(answer.ends_with("\r\n"), "{answer:?}");
    let found = pgrep(&pexp);
    assert_eq!(found.len(), 1, "pgrep -xf {pexp:?} found {found:?}");
    assert_is_the_jailed_daemon(found[0], &jail);
    // chroot -g sets the group list: the daemon's group only, none of the
    // groups root started the script with.
    assert_eq!(status_numbers(found[0], "Groups:"), [jail.uid]);
    let runfile = host.var_run().join(format!("rc.d/{name}"));
    let saved = std::fs::read_to_string(&runfile)
        .unwrap_or_else(|e| panic!("no {}: {e}", runfile.display()));
    assert!(saved.contains(&format!("\npexp={pexp}\n")), "{saved}");
    let out = rc("check");
    assert_success(&out, "check while running");
    assert_eq!(stdout(&out), ok);

    // restart: stop, then start, each as its own run of the script.
    let out = rc("restart");
    assert_success(&out, "restart");
    assert_eq!(stdout(&out), format!("{ok}{ok}"));
    assert!(wait_gone(found[0]), "pid {} survived restart", found[0]);
    wait_for_answer(jail.port, &|| both(&out));
    let restarted = pgrep(&pexp);
    assert_eq!(restarted.len(), 1, "{restarted:?}");
    assert_ne!(restarted, found);
    assert_is_the_jailed_daemon(restarted[0], &jail);

    let out = rc("stop");
    assert_success(&out, "stop");
    assert_eq!(stdout(&out), ok);
    assert!(
        wait_gone(restarted[0]),
        "pid {} survived stop",
        restarted[0]
    );
    assert!(pgrep(&pexp).is_empty());
    assert!(!runfile.exists(), "stop leaves {}", runfile.display());
    let out = rc("check");
    assert_eq!(
        out.status.code(),
        Some(1),
        "check after stop: {}",
        both(&out)
    );
    assert_eq!(stdout(&out), failed);
    assert!(TcpStream::connect(("127.0.0.1", jail.port)).is_err());
}

/// The FreeBSD host for an installed jail: rc.conf enables the script.
/// The jail extracted here holds Linux device nodes in /dev, which on
/// FreeBSD only a devfs mounted by the script's start_precmd provides: a
/// bind mount of that /dev onto itself stands for the devfs (in the runs'
/// own mount namespaces), so that the script's stop_postcmd unmounts it.
fn freebsd_host(jail: &Installed) -> BsdHost {
    let name = jail.run.name();
    let script = jail.run.read(&format!("freebsd/{name}"));
    let mut host = BsdHost::new(
        "freebsd-host",
        Bsd::FreeBsd,
        &name,
        &script,
        &format!("{name}_enable=\"YES\"\n"),
    );
    let dev = jail.jail_root.join("dev");
    if dev.join("null").exists() {
        host.mount_devfs_stand_in(&dev);
    }
    host
}

/// The PID a pidfile names (the file must be there).
fn pidfile_pid(path: &Path, log: &dyn Fn() -> String) -> u32 {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no pidfile {}: {e}\n{}", path.display(), log()));
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{} holds {text:?}\n{}", path.display(), log()))
}

#[test]
fn freebsd_rc_script_under_the_real_rc_subr_starts_checks_restarts_and_stops_the_jailed_daemon() {
    let test = "freebsd_rc_script_under_the_real_rc_subr_starts_checks_restarts_and_stops_the_jailed_daemon";
    if skip_bsd_run(test) {
        return;
    }
    let jail = install_jail("freebsd-run");
    let name = jail.run.name();
    let host = freebsd_host(&jail);
    let rc = |action: &str| host.rc(action);
    let log = || format!("syslog:\n{}", host.syslog());
    let command_line = format!("{EXEC} --listen localhost:{}", jail.port);
    let pidfile = host.var_run().join(format!("{name}.pid"));
    let supervisor_pidfile = host.var_run().join(format!("{name}.daemon.pid"));
    let _cleanup = Cleanup(jail.jail_root.clone());
    let out = rc("status");
    assert_eq!(
        out.status.code(),
        Some(1),
        "status before start: {}",
        both(&out)
    );
    assert_eq!(stdout(&out), format!("{name} is not running.\n"));

    // start returns once the pidfile names the jailed daemon: status right
    // after it finds the daemon, a child of daemon(8), the supervisor.
    let out = rc("start");
    assert_success(&out, "start");
    assert_eq!(stdout(&out), format!("Starting {name}.\n"));
    let check_running = |what: &str| {
        let out = rc("status");
        assert_success(&out, &format!("status {what}"));
        let daemon = pidfile_pid(&pidfile, &log);
        assert_eq!(
            stdout(&out),
            format!("{name} is running as pid {daemon}.\n"),
            "status {what}"
        );
        assert_is_the_jailed_daemon(daemon, &jail);
        let supervisor = pidfile_pid(&supervisor_pidfile, &log);
        assert_eq!(status_numbers(daemon, "PPid:"), [supervisor], "{what}");
        let (_, _, title) = process(supervisor);
        assert_eq!(title[0], format!("daemon: {name}[{daemon}]"));
        // Root ran the script holding groups 0 and 5; chroot -G leaves the
        // daemon its own group only.
        assert_eq!(
            status_numbers(daemon, "Groups:"),
            [jail.uid],
            "the jailed daemon's groups {what}"
        );
        assert_eq!(pgrep(&command_line), [daemon]);
        (supervisor, daemon)
    };
    let (supervisor, daemon) = check_running("right after start");
    let answer = wait_for_answer(jail.port, &log);
    assert!(answer.ends_with("\r\n"), "{answer:?}");

    // restart: stop waits for the jailed daemon and then for daemon(8),
    // which removes its locked pidfiles before it exits, so the new
    // daemon(8) finds them free.
    let out = rc("restart");
    assert_success(&out, "restart");
    assert!(wait_gone(daemon), "pid {daemon} survived restart");
    assert!(
        wait_gone(supervisor),
        "daemon(8) {supervisor} survived restart"
    );
    let (supervisor, daemon) = check_running("right after restart");
    wait_for_answer(jail.port, &log);

    let out = rc("stop");
    assert_success(&out, "stop");
    assert!(wait_gone(daemon), "pid {daemon} survived stop");
    assert!(
        wait_gone(supervisor),
        "daemon(8) {supervisor} survived stop"
    );
    assert!(pgrep(&command_line).is_empty());
    for file in [&pidfile, &supervisor_pidfile] {
        assert!(!file.exists(), "stop leaves {}", file.display());
    }
    let out = rc("status");
    assert_eq!(
        out.status.code(),
        Some(1),
        "status after stop: {}",
        both(&out)
    );
    assert_eq!(stdout(&out), format!("{name} is not running.\n"));
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
