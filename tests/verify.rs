//! `cargo xtask jail verify`: the demo's jail passes, as root (chroot) and
//! as an unprivileged user (user namespace); a jail without its C library
//! fails both ways; a one-shot command passes on exit 0 only; `--check`
//! from the host decides the verdict; archives for other systems are refused.

use std::path::Path;

use crate::support::{
    both, demo_jail, free_port, is_root, repacked_demo, shared_scratch, xtask_jail,
};

fn listen(port: u16) -> String {
    format!("localhost:{port}")
}

fn verify(archive: &Path, extra: &[&str], as_nobody: bool) -> (bool, String) {
    let mut args = vec!["verify", archive.to_str().unwrap(), "--for", "2"];
    args.extend(extra);
    let output = xtask_jail(&args, as_nobody);
    (output.status.success(), both(&output))
}

#[test]
fn the_demo_jail_passes_with_chroot_as_root() {
    if crate::support::skip_without_root("the_demo_jail_passes_with_chroot_as_root") {
        return;
    }
    let port = free_port();
    let archive = &demo_jail().archive;
    let (passed, report) = verify(
        archive,
        &["--arg", "--listen", "--arg", &listen(port)],
        false,
    );
    assert!(passed, "{report}");
    assert!(report.contains("PASS: still running after 2 s"), "{report}");
    assert!(report.contains("chroot as "), "{report}");
    // The daemon's own stderr is part of the report.
    assert!(
        report.contains(&format!("listening on 127.0.0.1:{port}")),
        "{report}"
    );
}

#[test]
fn the_demo_jail_passes_for_an_unprivileged_user_in_a_user_namespace() {
    let archive = repacked_demo("verify-nobody", |_| {});
    let port = listen(free_port());
    let (passed, report) = verify(&archive, &["--arg", "--listen", "--arg", &port], true);
    assert!(passed, "{report}");
    assert!(report.contains("a user namespace"), "{report}");
    assert!(report.contains("listening on"), "{report}");
}

#[test]
fn a_jail_without_its_c_library_fails_as_root_and_as_a_user() {
    let archive = repacked_demo("verify-no-libc", |root| {
        std::fs::remove_file(root.join("usr/lib/x86_64-linux-gnu/libc.so.6")).unwrap();
    });
    let as_users: &[bool] = if is_root() { &[false, true] } else { &[true] };
    for &as_nobody in as_users {
        let port = listen(free_port());
        let (passed, report) = verify(&archive, &["--arg", "--listen", "--arg", &port], as_nobody);
        assert!(!passed, "a jail without libc passed:\n{report}");
        assert!(report.contains("FAIL: exited with status 127"), "{report}");
        assert!(report.contains("libc.so.6"), "{report}");
    }
}

#[test]
fn a_one_shot_command_passes_on_exit_0_only() {
    let archive = repacked_demo("verify-one-shot", |_| {});
    // The jail's own loader is a program that exits 0.
    let (passed, report) = verify(
        &archive,
        &["--", "/lib64/ld-linux-x86-64.so.2", "--version"],
        true,
    );
    assert!(passed, "{report}");
    assert!(report.contains("PASS: the command exited 0"), "{report}");
    let (passed, report) = verify(
        &archive,
        &["--", "/usr/local/sbin/daytimed", "--bogus"],
        true,
    );
    assert!(!passed, "{report}");
    assert!(report.contains("FAIL: exited with status 1"), "{report}");
    assert!(report.contains("unknown argument"), "{report}");
}

#[test]
fn archives_for_other_systems_are_refused() {
    let dir = shared_scratch("verify-openbsd");
    let archive = dir.join("d.tar.gz");
    std::fs::copy(&demo_jail().archive, &archive).unwrap();
    let manifest = demo_jail().archive.with_file_name(format!(
        "daytimed-0.1.0-{}.json",
        crate::support::host_triple()
    ));
    let text = std::fs::read_to_string(manifest)
        .unwrap()
        .replace("\"os\": \"linux\"", "\"os\": \"openbsd\"");
    std::fs::write(dir.join("d.json"), text).unwrap();
    let (passed, report) = verify(&archive, &[], false);
    assert!(!passed, "{report}");
    assert!(
        report.contains("openbsd") && report.contains("verify runs Linux jails"),
        "{report}"
    );
}

/// A client on the host that reads the demo's answer over loopback.
fn ask(port: u16) -> String {
    format!("timeout 2 bash -c 'cat </dev/tcp/127.0.0.1/{port}' | grep -q .")
}

#[test]
fn a_check_from_outside_decides_the_verdict() {
    let archive = repacked_demo("verify-check", |_| {});
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let served = ask(port);
    let args = ["--arg", "--listen", "--arg", &listen, "--for", "10"];
    let mut with_check = args.to_vec();
    with_check.extend(["--check", &served]);
    let (passed, report) = verify(&archive, &with_check, true);
    assert!(passed, "{report}");
    assert!(report.contains("PASS: the check exited 0"), "{report}");
    // Still running is not enough when the check fails: a wrong port.
    let wrong = ask(free_port());
    let mut failing = args.to_vec();
    failing.extend(["--for", "3", "--check", &wrong]);
    let (passed, report) = verify(&archive, &failing, true);
    assert!(!passed, "{report}");
    assert!(
        report.contains("FAIL: the check did not exit 0"),
        "{report}"
    );
}

#[test]
fn an_archive_alone_is_checked_from_its_own_manifest_whoever_packed_it() {
    let dir = shared_scratch("verify-alone");
    let renamed = dir.join("download.tar.gz");
    std::fs::copy(repacked_demo("verify-alone-src", |_| {}), &renamed).unwrap();
    let port = listen(free_port());
    let (passed, report) = verify(&renamed, &["--arg", "--listen", "--arg", &port], true);
    assert!(passed, "{report}");
    // Repacked by GNU tar in pax format, with `./` prefixes.
    let tree = dir.join("tree");
    std::fs::create_dir(&tree).unwrap();
    let untar = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&renamed)
        .arg("-C")
        .arg(&tree)
        .status()
        .unwrap();
    assert!(untar.success());
    let pax = dir.join("pax.tar.gz");
    let retar = std::process::Command::new("tar")
        .args(["--format=pax", "-czf"])
        .arg(&pax)
        .arg("-C")
        .arg(&tree)
        .arg("./var")
        .status()
        .unwrap();
    assert!(retar.success());
    let port = listen(free_port());
    let (passed, report) = verify(&pax, &["--arg", "--listen", "--arg", &port], true);
    assert!(passed, "{report}");
}
