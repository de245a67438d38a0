//! A porter's case: real C daemons from Debian's packages (installed by
//! .ci/run) jailed with `--binary`, started inside the extracted jail as an
//! unprivileged user, answering a request over loopback.

use std::path::Path;

use crate::support::{Daemon, free_port, jail_binary, skip_without_root};

fn installed(binary: &str) -> &Path {
    let path = Path::new(binary);
    assert!(path.is_file(), "{binary} is missing: .ci/run installs it");
    path
}

#[test]
fn memcached_answers_from_its_jail() {
    if skip_without_root("memcached_answers_from_its_jail") {
        return;
    }
    let root = jail_binary(installed("/usr/bin/memcached"), "memcached", &[]);
    let port = free_port().to_string();
    let args = ["-l", "127.0.0.1", "-p", &port, "-U", "0"];
    let mut daemon = Daemon::start_exec(&root, "/usr/local/sbin/memcached", &args);
    let answer = daemon
        .request(port.parse().unwrap(), b"version\r\n", "\r\n")
        .unwrap();
    assert!(answer.starts_with("VERSION 1."), "{answer:?}");
}

#[test]
fn redis_answers_from_its_jail() {
    if skip_without_root("redis_answers_from_its_jail") {
        return;
    }
    let root = jail_binary(installed("/usr/bin/redis-server"), "redis", &[]);
    let port = free_port().to_string();
    let args = [
        "--port",
        &port,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        "/",
    ];
    let mut daemon = Daemon::start_exec(&root, "/usr/local/sbin/redis-server", &args);
    let answer = daemon
        .request(port.parse().unwrap(), b"PING\r\n", "\r\n")
        .unwrap();
    assert_eq!(answer, "+PONG\r\n");
}
