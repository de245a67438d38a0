//! ngircd, Debian's IRC server, built with PAM: with PAM on (its default)
//! it starts but refuses every client, as libpam falls back to `other`,
//! whose `common-auth` uses pam_unix, which reads /etc/shadow. `--learn`
//! ships /etc/pam.d, then finds the service (`ngircd`, read through
//! `other`) and stops with the diagnosis and both ways out; with PAM
//! turned off in ngircd's own configuration, the same generic settings
//! reach a server that welcomes the client.

use super::{generic, have, learn};
use crate::support::{free_port, scratch};

/// ngircd's configuration: loopback only; no DNS or IDENT lookups of the
/// client, which would only make the check wait.
fn config(port: u16, pam: Option<&str>) -> String {
    let pam = pam.map_or_else(String::new, |p| format!("    PAM = {p}\n"));
    format!(
        "[Global]\n    Name = irc.example.test\n    Info = a jailed test server\n    Listen = 127.0.0.1\n    Ports = {port}\n\
         [Options]\n    DNS = no\n    Ident = no\n{pam}"
    )
}

/// An IRC client: registers and waits for the welcome (001).
fn client(port: u16) -> String {
    format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port} || exit 1\n\
         printf 'NICK bob\\r\\nUSER bob 0 * :b\\r\\n' >&3\n\
         timeout 3 grep -m1 -q ' 001 bob ' <&3\n"
    )
}

/// `--learn` on ngircd with its configuration's PAM line (`None`: the
/// default, on).
fn learn_ngircd(name: &str, pam: Option<&str>) -> (bool, String, String) {
    let dir = scratch(name);
    let port = free_port();
    std::fs::write(dir.join("ngircd.conf"), config(port, pam)).unwrap();
    std::fs::write(dir.join("client.sh"), client(port)).unwrap();
    let settings = generic(
        &dir,
        &["-n", "-f", "/etc/ngircd/ngircd.conf"],
        &[("ngircd.conf", "/etc/ngircd/ngircd.conf")],
    );
    let check = format!("bash {}", dir.join("client.sh").display());
    learn("/usr/sbin/ngircd", &settings, &check, "5")
}

#[test]
fn ngircd_with_pam_stops_at_pam_unix_with_the_two_ways_out() {
    if !have(&["ngircd", "bash", "strace"]) || !std::path::Path::new("/etc/pam.d/other").is_file() {
        return;
    }
    let (passed, report, after) = learn_ngircd("learn-ngircd-pam", None);
    assert!(!passed, "{report}");
    assert!(report.contains("adds nothing"), "{report}");
    // The server stays up: what it met serving the failed check (the
    // PAM service it asked for) is the fatal need doctor names first.
    assert!(
        report.contains("fatal: /etc/pam.d/ngircd (openat: ENOENT)"),
        "{report}"
    );
    // It learnt the PAM configuration directory, then the service.
    assert!(after.contains(r#"{ source = "/etc/pam.d" }"#), "{after}");
    assert!(
        report.contains(r#"if so, write: presets = ["pam"], pam-service = "ngircd""#),
        "{report}"
    );
    assert!(!after.contains("pam-service"), "{after}\n{report}");
    for said in ["pam_unix.so", "/etc/shadow", "pam-config", "turn PAM off"] {
        assert!(report.contains(said), "no {said:?} in:\n{report}");
    }
}

#[test]
fn ngircd_with_pam_off_in_its_own_configuration_welcomes_a_client() {
    if !have(&["ngircd", "bash", "strace"]) {
        return;
    }
    let (passed, report, after) = learn_ngircd("learn-ngircd-nopam", Some("no"));
    assert!(passed, "{report}\n{after}");
    assert!(report.contains("the check passed"), "{report}");
    // No PAM is learnt when the daemon does not use it.
    assert!(!after.contains("pam"), "{after}");
}
