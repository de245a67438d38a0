//! The demo daemon really runs in its extracted jail: as an unprivileged
//! user, answering over loopback, with name lookup and the time zone
//! working from the files the jail holds — and failing without them.

use std::path::{Path, PathBuf};

use crate::support::{
    Daemon, ZONE, demo_jail, extract, free_port, skip_without_root, zone_offset_now,
};

const JAIL_ROOT: &str = "var/jail/daytimed";

fn extracted(name: &str) -> PathBuf {
    extract(&demo_jail().archive, name).join(JAIL_ROOT)
}

fn listen_args(port: u16) -> [String; 2] {
    ["--listen".to_string(), format!("localhost:{port}")]
}

fn start(root: &Path, port: u16) -> Daemon {
    let args = listen_args(port);
    Daemon::start(root, &[&args[0], &args[1]])
}

#[test]
fn daemon_answers_from_inside_the_jail_with_the_jails_zone() {
    if skip_without_root("daemon_answers_from_inside_the_jail_with_the_jails_zone") {
        return;
    }
    let root = extracted("runs");
    let port = free_port();
    let mut daemon = start(&root, port);
    let answer = daemon.ask(port).expect("the jailed daemon answers");
    // "localhost" was resolved through nsswitch.conf + hosts inside the
    // jail, or it would not be listening; the offset comes from the zone file.
    let offset = zone_offset_now();
    assert!(answer.ends_with("\r\n"), "{answer:?}");
    assert!(
        answer.contains(&offset),
        "expected the {ZONE} offset {offset} in {answer:?}"
    );
}

#[test]
fn without_etc_hosts_the_name_lookup_fails() {
    if skip_without_root("without_etc_hosts_the_name_lookup_fails") {
        return;
    }
    let root = extracted("no-hosts");
    std::fs::remove_file(root.join("etc/hosts")).unwrap();
    let port = free_port();
    let mut daemon = start(&root, port);
    let (status, stderr) = daemon.wait_exit().expect("the daemon gives up");
    assert!(!status.success());
    assert!(
        stderr.contains("cannot resolve listen address localhost"),
        "{stderr}"
    );
}

#[test]
fn without_etc_localtime_the_time_is_utc() {
    if skip_without_root("without_etc_localtime_the_time_is_utc") {
        return;
    }
    let root = extracted("no-localtime");
    std::fs::remove_file(root.join("etc/localtime")).unwrap();
    let port = free_port();
    let mut daemon = start(&root, port);
    let answer = daemon.ask(port).expect("the daemon still answers");
    assert!(!answer.contains(&zone_offset_now()), "{answer:?}");
    assert!(answer.contains("+0000"), "{answer:?}");
}

#[test]
fn without_its_c_library_the_daemon_does_not_start() {
    if skip_without_root("without_its_c_library_the_daemon_does_not_start") {
        return;
    }
    let root = extracted("no-libc");
    let libc = std::fs::read_dir(root.join("usr/lib/x86_64-linux-gnu"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("libc.so")
        })
        .expect("the jail holds libc");
    std::fs::remove_file(libc).unwrap();
    let port = free_port();
    let mut daemon = start(&root, port);
    let (status, stderr) = daemon.wait_exit().expect("the loader gives up");
    assert!(!status.success());
    assert!(stderr.contains("libc.so"), "{stderr}");
}
