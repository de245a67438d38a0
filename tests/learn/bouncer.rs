//! ZNC, Debian's IRC bouncer: a daemon that needs a device node, a plugin
//! directory and a writable state directory together. From the generic
//! settings (its own configuration and arguments only) `--learn` finds,
//! one round each, as each stops ZNC before the next can show:
//! 1. `/dev/random` and `/dev/urandom` (its TLS library's `access()` of
//!    them: without either, "Could not initialize Csocket!");
//! 2. `/usr/lib/znc`, the module directory it lists and dlopen()s from
//!    ("No modules found"): a directory source;
//! 3. its configuration, which it opens read-write to lock it ("Can not
//!    open config file"): the file becomes the daemon's (`owner`) and its
//!    data directory `writable`, where it then makes `moddata/`, `users/`;
//!
//! and the fourth round answers an IRC client over loopback.

use super::{generic, have, learn};
use crate::support::{free_port, scratch};

/// A listener on loopback, one user whose modules must load (a module
/// that fails to load is a fatal configuration error for ZNC).
fn config(port: u16) -> String {
    format!(
        "Version = 1.8.2\n\
         <Listener l>\n    Port = {port}\n    IPv4 = true\n    IPv6 = false\n    SSL = false\n    Host = 127.0.0.1\n</Listener>\n\
         LoadModule = webadmin\n\
         <User alice>\n    Pass = plain#secret\n    Admin = true\n    Nick = alice\n    AltNick = alice_\n    Ident = alice\n    LoadModule = chansaver\n    LoadModule = controlpanel\n</User>\n"
    )
}

/// An IRC client: logs in and waits for ZNC's welcome (001).
fn client(port: u16) -> String {
    format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port} || exit 1\n\
         printf 'PASS alice:secret\\r\\nNICK alice\\r\\nUSER alice 0 * :a\\r\\n' >&3\n\
         timeout 3 grep -m1 -q ' 001 alice ' <&3\n"
    )
}

#[test]
fn znc_learns_its_devices_module_directory_and_data_directory() {
    if !have(&["znc", "bash", "strace"]) {
        return;
    }
    let dir = scratch("learn-znc");
    let port = free_port();
    std::fs::write(dir.join("znc.conf"), config(port)).unwrap();
    std::fs::write(dir.join("client.sh"), client(port)).unwrap();
    let settings = generic(
        &dir,
        &["-f", "-d", "/var/lib/znc"],
        &[("znc.conf", "/var/lib/znc/configs/znc.conf")],
    );
    let check = format!("bash {}", dir.join("client.sh").display());
    let (passed, report, after) = learn("/usr/bin/znc", &settings, &check, "4");
    assert!(passed, "{report}\n{after}");
    assert!(report.contains("Finished round"), "{report}");
    // The first round's first doctor line names the fatal device.
    let first = report.lines().find(|l| l.starts_with("doctor: ")).unwrap();
    assert!(first.contains("fatal: /dev/"), "{first}\n{report}");
    for learnt in [
        r#""urandom""#,
        // The module directory, whole, as a directory source.
        r#"{ source = "/usr/lib/znc" }"#,
        // Its data directory, and its configuration its own inside it.
        r#"writable = [{ path = "/var/lib/znc" }]"#,
        r#"dest = "/var/lib/znc/configs/znc.conf", owner = "znc" }"#,
    ] {
        assert!(after.contains(learnt), "no {learnt} in:\n{after}\n{report}");
    }
    assert!(report.contains("the check passed"), "{report}");
}
