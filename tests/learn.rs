//! `cargo xtask jail --binary D --settings FILE --learn --check CMD`: real
//! C daemons from Debian's packages go from one generic settings file (the
//! resolver and time zone presets, the daemon's own configuration and
//! arguments) to a jail that answers a real request over loopback, with no
//! settings written by a person, in at most three rounds (four for the
//! bouncer, see bouncer.rs); a PAM daemon
//! stops with the diagnosis. Needs strace, nsd, dnsmasq and dig (and for
//! the submodules znc and ngircd; `.ci/run` installs them); skipped where
//! they are missing.

use std::path::{Path, PathBuf};

use crate::support::{both, free_port, scratch, xtask_jail};

mod bouncer;
mod irc_server;

/// The generic settings: nothing daemon-specific but its own files.
fn generic(dir: &Path, args: &[&str], files: &[(&str, &str)]) -> PathBuf {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    let files: Vec<String> = files
        .iter()
        .map(|(source, dest)| format!("    {{ source = {source:?}, dest = {dest:?} }},\n"))
        .collect();
    let text = format!(
        "# One generic settings file: the resolver and time zone presets,\n\
         # the daemon's own configuration and arguments.\n\
         presets = [\"resolver\", \"timezone\"]\n\
         args = [{}]\n\
         files = [\n{}]\n",
        args.join(", "),
        files.concat()
    );
    let path = dir.join("jail.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn have(tools: &[&str]) -> bool {
    let missing: Vec<&&str> = tools
        .iter()
        .filter(|t| {
            !["/usr/sbin", "/usr/bin"]
                .iter()
                .any(|d| Path::new(d).join(t).is_file())
        })
        .collect();
    if !missing.is_empty() {
        eprintln!("skipped: {missing:?} not installed (.ci/run installs them)");
    }
    missing.is_empty()
}

/// Runs `--learn` and returns whether it passed, its report and the
/// settings file after it.
fn learn(binary: &str, settings: &Path, check: &str, rounds: &str) -> (bool, String, String) {
    let out = settings.parent().unwrap().join("out");
    let output = xtask_jail(
        &[
            "--binary",
            binary,
            "--settings",
            settings.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
            "--learn",
            "--check",
            check,
            "--rounds",
            rounds,
        ],
        false,
    );
    let after = std::fs::read_to_string(settings).unwrap();
    (output.status.success(), both(&output), after)
}

fn dig(port: u16) -> String {
    format!(
        "dig @127.0.0.1 -p {port} www.example.test A +short +time=1 +tries=1 | grep -qx 192.0.2.1"
    )
}

#[test]
fn nsd_learns_its_state_temp_and_pidfile_directories() {
    if !have(&["nsd", "dig", "strace"]) {
        return;
    }
    let dir = scratch("learn-nsd");
    let port = free_port();
    crate::support::write_nsd_config(&dir, port);
    let settings = generic(
        &dir,
        &["-d", "-c", "/etc/nsd/nsd.conf"],
        &[
            ("nsd.conf", "/etc/nsd/nsd.conf"),
            ("example.test.zone", "/etc/nsd/example.test.zone"),
        ],
    );
    let (passed, report, after) = learn("/usr/sbin/nsd", &settings, &dig(port), "3");
    assert!(passed, "{report}\n{after}");
    assert!(report.contains("Finished round"), "{report}");
    // The first round's first line names a fatal need.
    assert!(
        report.contains("doctor: ") && report.contains("FATAL Writable"),
        "{report}"
    );
    for learnt in [
        r#"{ path = "/tmp", mode = "1777" }"#,
        r#"{ path = "/run/nsd" }"#,
        r#"{ path = "/var/lib/nsd" }"#,
    ] {
        assert!(after.contains(learnt), "no {learnt} in:\n{after}\n{report}");
    }
    // The person's comment and layout stay.
    assert!(after.starts_with("# One generic settings file"), "{after}");
}

#[test]
fn dnsmasq_learns_its_random_device_and_user_lookups() {
    if !have(&["dnsmasq", "dig", "strace"]) {
        return;
    }
    let dir = scratch("learn-dnsmasq");
    let port = free_port();
    std::fs::write(
        dir.join("dnsmasq.conf"),
        format!(
            "port={port}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\naddress=/www.example.test/192.0.2.1\n"
        ),
    )
    .unwrap();
    let settings = generic(
        &dir,
        &["-k", "-C", "/etc/dnsmasq.conf"],
        &[("dnsmasq.conf", "/etc/dnsmasq.conf")],
    );
    let (passed, report, after) = learn("/usr/sbin/dnsmasq", &settings, &dig(port), "3");
    assert!(passed, "{report}\n{after}");
    // Its random device first (/dev/null too, which it opens later).
    assert!(
        after.contains(r#"devices = ["urandom""#),
        "{after}\n{report}"
    );
    assert!(after.contains(r#""passwd""#), "{after}\n{report}");
}

/// A daemon that asks PAM about each client (`ok` when let in), built
/// here: no PAM headers needed, only libpam.so.0.
const PAMD: &str = r#"
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
struct pam_message { int style; const char *msg; };
struct pam_response { char *resp; int code; };
struct pam_conv { int (*conv)(int, const struct pam_message **, struct pam_response **, void *); void *data; };
int pam_start(const char *, const char *, const struct pam_conv *, void **);
int pam_authenticate(void *, int);
int pam_end(void *, int);
static int answer(int n, const struct pam_message **m, struct pam_response **r, void *d) {
    (void)m; (void)d;
    *r = calloc(n, sizeof **r);
    for (int i = 0; i < n; i++) (*r)[i].resp = strdup("secret");
    return 0;
}
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4)) return 1;
    for (;;) {
        int c = accept(s, 0, 0);
        if (c < 0) continue;
        struct pam_conv conv = { answer, 0 };
        void *h = 0;
        int rc = pam_start(argv[1], "someone", &conv, &h);
        if (rc == 0) rc = pam_authenticate(h, 0);
        if (h) pam_end(h, rc);
        write(c, rc == 0 ? "ok\n" : "no\n", 3);
        close(c);
    }
}
"#;

#[test]
fn a_pam_daemon_stops_at_pam_unix_with_the_two_ways_out() {
    let libpam = Path::new("/lib/x86_64-linux-gnu/libpam.so.0");
    let login = Path::new("/etc/pam.d/login");
    if !have(&["gcc", "strace"]) || !libpam.is_file() || !login.is_file() {
        return;
    }
    let dir = scratch("learn-pam");
    std::fs::write(dir.join("pamd.c"), PAMD).unwrap();
    let built = std::process::Command::new("gcc")
        .arg("-O2")
        .arg("-o")
        .arg(dir.join("pamd"))
        .arg(dir.join("pamd.c"))
        .arg(libpam)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", both(&built));
    let port = free_port().to_string();
    let settings = generic(&dir, &["login", &port], &[]);
    let check = format!("timeout 2 bash -c 'cat </dev/tcp/127.0.0.1/{port}' | grep -qx ok");
    let binary = dir.join("pamd");
    let (passed, report, after) = learn(binary.to_str().unwrap(), &settings, &check, "5");
    assert!(!passed, "{report}");
    // The plan refuses the pam preset for this service: learn leaves it
    // out of the settings (which stay a jail the next run can make) and
    // says it, with the line a person would write.
    assert!(
        report.contains(r#"if so, write: presets = ["pam"], pam-service = "login""#),
        "{report}"
    );
    assert!(!after.contains("pam-service"), "{after}\n{report}");
    for said in ["pam_unix.so", "/etc/shadow", "pam-config", "turn PAM off"] {
        assert!(report.contains(said), "no {said:?} in:\n{report}");
    }
}
