//! The service scripts' quoting, checked by the programs that read them:
//! hostile arguments through a real sh (dash) and mksh (for OpenBSD's ksh)
//! with stand-in rc.subr files, the systemd unit's `ExecStart=` word by
//! word, and every branch of the templates through shellcheck, `sh -n`,
//! `mksh -n` and `systemd-analyze verify`. A missing program is reported as
//! SKIPPED with its Debian package.

use std::path::{Path, PathBuf};
use std::process::Command;

use jailpack::emit::service::{ServiceContext, ServiceKind, WritableDir, render};

/// The demo daemon's context, with one writable directory.
fn demo() -> ServiceContext {
    ServiceContext {
        name: "daytimed".into(),
        description: "Tells the time of day (RFC 867)".into(),
        jail_root: "/var/jail/daytimed".into(),
        exec: "/usr/local/sbin/daytimed".into(),
        args: vec!["--listen".into(), "localhost:8013".into()],
        user: "_daytimed".into(),
        group: "_daytimed".into(),
        foreground: true,
        writable: vec![WritableDir {
            path: "/var/run/daytimed".into(),
            owner: "_daytimed".into(),
            group: "_daytimed".into(),
            mode: "0750".into(),
            runtime_directory: None,
        }],
        needs_devices: false,
        private_tmp: true,
        runtime_directory_mode: None,
        version: "0.1.0".into(),
        archive: "daytimed-0.1.0-x86_64-unknown-openbsd.tar.gz".into(),
        uid: None,
        gid: None,
    }
}

/// Arguments that a careless template would split, expand or execute.
fn hostile_args() -> Vec<String> {
    [
        "--listen",
        "localhost:8013",
        "two words",
        "it's",
        "say \"hi\"",
        "$HOME",
        "${HOME}",
        "`id`",
        "$(id)",
        "a;b",
        "&",
        "| cat",
        "*",
        "~",
        "{a,b}",
        "100%",
        "%h",
        "back\\slash",
        "#hash",
        "tab\there",
        "-n",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn render_ok(kind: ServiceKind, ctx: &ServiceContext) -> String {
    match render(kind, ctx, None) {
        Ok(text) => text,
        Err(e) => panic!(
            "{kind} template failed: {e}: {:?}",
            std::error::Error::source(&e)
        ),
    }
}

/// Runs a program if it is installed; `None` (after saying so) if not.
fn run(program: &str, args: &[&str]) -> Option<std::process::Output> {
    match Command::new(program).args(args).output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!(
                "SKIPPED: {program} is not installed (Debian package: {})",
                debian_package(program)
            );
            None
        }
        Err(e) => panic!("cannot run {program}: {e}"),
    }
}

fn debian_package(program: &str) -> &'static str {
    match program {
        "shellcheck" => "shellcheck",
        "mksh" => "mksh",
        "systemd-analyze" => "systemd",
        _ => "dash",
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path
}

fn stdout_lines(out: &std::process::Output, what: &str) -> Vec<String> {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

// ---- quoting through real shells ----

/// The shells to run the BSD scripts' quoting through: dash as /bin/sh,
/// and mksh for OpenBSD's ksh when installed.
fn shells() -> Vec<&'static str> {
    let mut found = vec![];
    for shell in ["sh", "mksh"] {
        if run(shell, &["-c", ":"]).is_some() {
            found.push(shell);
        }
    }
    found
}

/// The command line the OpenBSD script gives su(1) (which hands it to
/// `/bin/sh -c`) and rc.subr's default pexp, printed word by word by a
/// stand-in rc.subr, with dash and mksh (for OpenBSD's ksh) on both sides.
#[test]
fn openbsd_quoting_survives_a_real_shell() {
    let dir = tempfile::tempdir().unwrap();
    // A stand-in rc.subr: rc_exec hands its command string to a shell,
    // as su -c does, and prints the words that shell sees; rc_cmd runs
    // rc_start, then prints rc.subr's default pexp, built as rc.subr
    // builds it (daemon and daemon_flags through `eval echo`).
    let mock = write(
        dir.path(),
        "rc.subr",
        "rc_exec() {\n\
         \t\"$INNER_SH\" -c \"_words() { for _w; do printf '%s\\n' \\\"\\$_w\\\"; done; }; _words $1\"\n\
         }\n\
         rc_cmd() {\n\
         \trc_start\n\
         \tprintf 'pexp=%s\\n' \"$(eval echo ${daemon}${daemon_flags:+ ${daemon_flags}})\"\n\
         }\n",
    );
    // pgrep -xf compares pexp with the jailed process's argv joined by
    // spaces. rc.subr's unquoted `eval echo` loses empty arguments,
    // turns tabs and runs of blanks into one space, brace-expands in
    // ksh, and some shells' echo rewrites backslashes, so pexp is
    // checked on arguments without those (an rc.subr limitation, not
    // the script's: the daemon itself gets every argument intact).
    let representable: Vec<String> = hostile_args()
        .into_iter()
        .filter(|a| !a.is_empty() && !a.contains(['\\', '\t', '\n', '{']) && !a.contains("  "))
        .collect();
    for (args, check_pexp) in [(hostile_args(), false), (representable, true)] {
        let mut ctx = demo();
        ctx.args = args;
        let script = render_ok(ServiceKind::OpenBsd, &ctx);
        let harness = script.replace(". /etc/rc.d/rc.subr", &format!(". {}", mock.display()));
        assert_ne!(harness, script, "the script must source /etc/rc.d/rc.subr");
        let harness = write(dir.path(), "daytimed", &harness);

        let mut expected: Vec<String> = [
            "/usr/sbin/chroot",
            "-u",
            "_daytimed",
            "-g",
            "_daytimed",
            "/var/jail/daytimed",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        expected.push(ctx.exec.clone());
        expected.extend(ctx.args.iter().cloned());
        let expected_pexp = format!("pexp={}", expected[6..].join(" "));

        for outer in shells() {
            for inner in shells() {
                let inner_path = if inner == "sh" { "/bin/sh" } else { inner };
                let out = Command::new(outer)
                    .arg(&harness)
                    .arg("start")
                    .env("INNER_SH", inner_path)
                    .output()
                    .unwrap();
                let what = format!("{outer} running the OpenBSD script, {inner} as su's shell");
                let mut words = stdout_lines(&out, &what);
                let pexp = words.pop().expect("pexp line");
                assert_eq!(words, expected, "argv seen by chroot(8): {what}");
                if check_pexp {
                    assert_eq!(pexp, expected_pexp, "{what}");
                }
            }
        }
    }
}

/// The FreeBSD script's arguments as rc.subr evaluates them: through the
/// script's own daemon(8) start for a foreground daemon, through
/// rc.subr's built-in `chroot -u -g` command line for a forking one.
#[test]
fn freebsd_quoting_survives_a_real_shell() {
    let dir = tempfile::tempdir().unwrap();
    // A jail on this machine, so the script's `-x ${chroot}${command}` check passes.
    let jail = dir.path().join("jail");
    let sbin = jail.join("usr/local/sbin");
    std::fs::create_dir_all(&sbin).unwrap();
    let daemon = write(&sbin, "daytimed", "#!/bin/sh\n");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&daemon, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let jail = jail.to_str().unwrap().to_string();
    // A stand-in rc.subr: limits(1) prints the command line it was
    // given; check_pidfile pretends the daemon started; run_rc_command
    // runs start_cmd, or else evaluates rc.subr's own chroot command line
    // (`chroot -u -g -G $_chroot $command $rc_flags $command_args`, all
    // expanded inside one eval).
    let mock = write(
        dir.path(),
        "rc.subr",
        "load_rc_config() { :; }\n\
         warn() { echo \"warning: $*\" >&2; }\n\
         startmsg() { :; }\n\
         check_pidfile() { echo 1; }\n\
         limits() { for _w; do printf '%s\\n' \"$_w\"; done; }\n\
         run_rc_command() {\n\
         \teval \"rc_flags=\\${${name}_flags}\"\n\
         \tif [ -n \"${start_cmd}\" ]; then\n\
         \t\teval \"${start_cmd}\"\n\
         \telse\n\
         \t\teval \"_chroot=\\${${name}_chroot} _user=\\${${name}_user} _group=\\${${name}_group} _groups=\\${${name}_groups}\"\n\
         \t\teval \"limits -C daemon chroot -u $_user -g $_group -G $_groups $_chroot $command $rc_flags $command_args\"\n\
         \tfi\n\
         }\n",
    );
    for foreground in [true, false] {
        let mut ctx = demo();
        ctx.args = hostile_args();
        ctx.jail_root = jail.clone();
        ctx.foreground = foreground;
        let script = render_ok(ServiceKind::FreeBsd, &ctx);
        let harness = script.replace(". /etc/rc.subr", &format!(". {}", mock.display()));
        assert_ne!(harness, script, "the script must source /etc/rc.subr");
        let harness = write(dir.path(), "daytimed", &harness);
        let mut expected: Vec<String> = vec!["-C".into(), "daemon".into()];
        if foreground {
            for w in [
                "/usr/sbin/daemon",
                "-f",
                "-S",
                "-T",
                "daytimed",
                "-t",
                "daytimed",
                "-p",
                "/var/run/daytimed.pid",
                "-P",
                "/var/run/daytimed.daemon.pid",
                "/usr/sbin/chroot",
            ] {
                expected.push(w.into());
            }
        } else {
            expected.push("chroot".into());
        }
        for w in [
            "-u",
            "_daytimed",
            "-g",
            "_daytimed",
            "-G",
            "_daytimed",
            &jail,
            "/usr/local/sbin/daytimed",
        ] {
            expected.push(w.into());
        }
        for shell in shells() {
            // An admin's extra flags from rc.conf come first, then the
            // built-in arguments, each word intact.
            for admin_flags in [None, Some("-v --name 'x y'")] {
                let mut cmd = Command::new(shell);
                cmd.arg(&harness).arg("start");
                let mut want = expected.clone();
                if let Some(flags) = admin_flags {
                    cmd.env("daytimed_flags", flags);
                    want.extend(["-v", "--name", "x y"].iter().map(|s| s.to_string()));
                }
                want.extend(ctx.args.iter().cloned());
                let out = cmd.output().unwrap();
                let words = stdout_lines(
                    &out,
                    &format!("{shell} running the FreeBSD script (foreground: {foreground})"),
                );
                assert_eq!(
                    words, want,
                    "{shell}, foreground: {foreground}, flags: {admin_flags:?}"
                );
            }
        }
    }
}

#[test]
fn systemd_exec_start_keeps_every_argument_intact() {
    let mut ctx = demo();
    ctx.args = hostile_args();
    let text = render_ok(ServiceKind::Systemd, &ctx);
    let exec_start = text
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("ExecStart line");
    assert_eq!(
        exec_start,
        "ExecStart=/usr/local/sbin/daytimed --listen localhost:8013 \"two words\" \"it's\" \
         \"say \\\"hi\\\"\" \"$$HOME\" \"$${HOME}\" \"`id`\" \"$$(id)\" \"a;b\" \"&\" \"| cat\" \"*\" \"~\" \
         \"{a,b}\" \"100%%\" \"%%h\" \"back\\\\slash\" \"#hash\" \"tab\\there\" -n \"\""
    );
}

// ---- linters ----

/// Contexts that between them reach every branch of the templates.
fn variants() -> Vec<(&'static str, ServiceContext)> {
    let mut hostile = demo();
    hostile.args = hostile_args();
    hostile.description = "Line one\nline \"two\" with $HOME and `id` and 100%".into();
    hostile.writable.push(WritableDir {
        path: "/var/db/day timed's".into(),
        owner: "_daytimed".into(),
        group: "wheel".into(),
        mode: "0700".into(),
        runtime_directory: None,
    });
    hostile.writable.push(WritableDir {
        path: "/run/day timed's".into(),
        owner: "_daytimed".into(),
        group: "wheel".into(),
        mode: "0700".into(),
        runtime_directory: Some("day timed's".into()),
    });
    hostile.runtime_directory_mode = Some("0700".into());
    hostile.private_tmp = false;
    let mut forking = demo();
    forking.foreground = false;
    forking.needs_devices = true;
    let mut bare = demo();
    bare.args.clear();
    bare.writable.clear();
    bare.description.clear();
    vec![
        ("demo", demo()),
        ("hostile", hostile),
        ("forking", forking),
        ("bare", bare),
    ]
}

fn lint(program: &str, args: &[&str], file: &Path) -> Option<()> {
    let mut all: Vec<&str> = args.to_vec();
    let file = file.to_str().unwrap();
    all.push(file);
    let out = run(program, &all)?;
    assert!(
        out.status.success(),
        "{program} {args:?} found problems in {file}:\n{}{}\n--- the script:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
    Some(())
}

#[test]
fn shellcheck_and_shells_accept_the_rc_scripts() {
    let dir = tempfile::tempdir().unwrap();
    for (label, ctx) in variants() {
        let openbsd = write(
            dir.path(),
            &format!("{label}.openbsd"),
            &render_ok(ServiceKind::OpenBsd, &ctx),
        );
        let freebsd = write(
            dir.path(),
            &format!("{label}.freebsd"),
            &render_ok(ServiceKind::FreeBsd, &ctx),
        );
        lint("shellcheck", &["-s", "ksh"], &openbsd);
        lint("shellcheck", &["-s", "sh"], &freebsd);
        lint("mksh", &["-n"], &openbsd);
        lint("mksh", &["-n"], &freebsd);
        lint("sh", &["-n"], &freebsd);
    }
}

/// `systemd-analyze verify` of the rendered unit. systemd 252 checks
/// that the ExecStart= binary exists on the host, not under
/// RootDirectory=, so the unit is verified with `--root` set to a jail
/// holding the binary, the unit and a copy of the host's units.
#[test]
fn systemd_analyze_verifies_the_unit() {
    if run("systemd-analyze", &["--version"]).is_none() {
        return;
    }
    let host_units = ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.join("multi-user.target").exists());
    let Some(host_units) = host_units else {
        println!("SKIPPED: systemd-analyze verify: no systemd unit directory on this machine");
        return;
    };
    for (label, ctx) in variants() {
        let dir = tempfile::tempdir().unwrap();
        let jail = dir.path().join("jail");
        let mut ctx = ctx;
        ctx.jail_root = jail.to_str().unwrap().to_string();
        let sbin = jail.join("usr/local/sbin");
        std::fs::create_dir_all(&sbin).unwrap();
        std::fs::copy("/bin/true", sbin.join("daytimed")).unwrap();
        let units = jail.join("usr/lib/systemd/system");
        std::fs::create_dir_all(&units).unwrap();
        for entry in std::fs::read_dir(host_units).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), units.join(entry.file_name())).unwrap();
            }
        }
        let etc = jail.join("etc/systemd/system");
        std::fs::create_dir_all(&etc).unwrap();
        let unit = render_ok(ServiceKind::Systemd, &ctx);
        write(&etc, "daytimed.service", &unit);
        let out = run(
            "systemd-analyze",
            &[
                "verify",
                "--man=no",
                "--generators=no",
                "--root",
                jail.to_str().unwrap(),
                "daytimed.service",
            ],
        )
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "systemd-analyze verify ({label}) failed ({}):\n{stderr}\n--- the unit:\n{unit}",
            out.status
        );
    }
}
