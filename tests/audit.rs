//! `cargo xtask jail audit ROOT`: quiet and 0 on a fresh jail; a library
//! changed in the sysroot after the jail was made, a file changed in the
//! jail and a file the jail's list does not know are each reported, with a
//! non-zero exit.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{
    REPO, ZONE, both, cargo_xtask_jail, demo_jail, host_triple, is_root, scratch, xtask_jail,
};

/// A sysroot holding copies of everything the demo's jail took from the
/// host, and the links it passed through.
fn demo_sysroot() -> PathBuf {
    let manifest = demo_jail()
        .archive
        .with_file_name(format!("daytimed-0.1.0-{}.json", host_triple()));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    let root = scratch("audit-sysroot");
    let inside = |path: &str| root.join(path.trim_start_matches('/'));
    for file in manifest["files"].as_array().unwrap() {
        let Some(source) = file["source"].as_str() else {
            continue;
        };
        if file["role"] == "executable" {
            continue;
        }
        std::fs::create_dir_all(inside(source).parent().unwrap()).unwrap();
        std::fs::copy(source, inside(source)).unwrap();
    }
    for link in manifest["links"].as_array().unwrap() {
        let path = inside(link["path"].as_str().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        symlink(link["target"].as_str().unwrap(), path).unwrap();
    }
    root
}

fn audit(root: &Path, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["audit", root.to_str().unwrap()];
    args.extend(extra);
    let output = xtask_jail(&args, false);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        both(&output),
    )
}

#[test]
fn audit_reports_a_library_changed_after_the_jail_was_made() {
    let sysroot = demo_sysroot();
    let out = scratch("audit-out");
    let output = cargo_xtask_jail(
        &out,
        &["--sysroot", sysroot.to_str().unwrap(), "--timezone", ZONE],
    );
    assert!(output.status.success(), "{}", both(&output));
    let archive = out.join(format!("daytimed-0.1.0-{}.tar.gz", host_triple()));
    let installed = scratch("audit-installed");
    let status = Command::new("tar")
        .arg("-xzpf")
        .arg(&archive)
        .arg("-C")
        .arg(&installed)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    // Without root the device nodes cannot be made; audit does not need them.
    assert!(status.success() || !is_root());
    let root = installed.join("var/jail/daytimed");

    let (ok, stdout, report) = audit(&root, &[]);
    assert!(ok, "a fresh jail is not clean:\n{report}");
    assert_eq!(stdout, "", "a clean audit prints nothing");

    // A security update lands in the sysroot's libc.
    let libc = sysroot.join("usr/lib/x86_64-linux-gnu/libc.so.6");
    let mut bytes = std::fs::read(&libc).unwrap();
    bytes.extend_from_slice(b"update");
    std::fs::write(&libc, bytes).unwrap();
    let (ok, stdout, report) = audit(&root, &[]);
    assert!(!ok, "{report}");
    let stale: Vec<&str> = stdout.lines().filter(|l| l.starts_with("stale")).collect();
    assert_eq!(stale.len(), 1, "{report}");
    assert!(
        stale[0].contains("/usr/lib/x86_64-linux-gnu/libc.so.6"),
        "{report}"
    );
    assert!(stale[0].contains(&libc.display().to_string()), "{report}");
    assert!(stale[0].contains("rebuild"), "{report}");

    // The release manifest works as the list too, and --sysroot re-roots
    // the sources: a copy of the sysroot with the old libc is clean again.
    let release = out.join(format!("daytimed-0.1.0-{}.json", host_triple()));
    let fresh = demo_sysroot();
    let (ok, _, report) = audit(
        &root,
        &[
            "--manifest",
            release.to_str().unwrap(),
            "--sysroot",
            fresh.to_str().unwrap(),
        ],
    );
    assert!(ok, "{report}");

    // Files the list does not know, and a changed copy in the jail.
    std::fs::write(root.join("etc/extra.conf"), "x").unwrap();
    std::fs::write(root.join("etc/hosts"), "127.0.0.2 localhost\n").unwrap();
    let (ok, stdout, report) = audit(&root, &["--sysroot", fresh.to_str().unwrap()]);
    assert!(!ok, "{report}");
    assert!(stdout.contains("unknown  /etc/extra.conf"), "{report}");
    assert!(stdout.contains("modified /etc/hosts"), "{report}");
    assert!(!stdout.contains("stale"), "{report}");
    let _ = REPO;
}

#[test]
fn audit_knows_the_mount_points_a_systemd_jail_ships() {
    // A Linux jail carries the empty directories its unit's RootDirectory=
    // and PrivateTmp= mount on; they are in its list, so audit is quiet.
    // (memcached's jail: it ships no device nodes, which this test leaves
    // to the other audit tests.)
    let out = scratch("audit-mount-points-out");
    let args = ["--binary", "/usr/bin/memcached", "--name", "memcached"];
    let output = cargo_xtask_jail(&out, &args);
    assert!(output.status.success(), "{}", both(&output));
    let archive = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .expect("an archive");
    let installed = scratch("audit-mount-points");
    let status = Command::new("tar")
        .arg("-xzpf")
        .arg(&archive)
        .arg("-C")
        .arg(&installed)
        .status()
        .unwrap();
    assert!(status.success());
    let root = installed.join("var/jail/memcached");
    for dir in ["proc", "sys", "dev", "run", "tmp", "var/tmp", "root"] {
        let path = root.join(dir);
        assert!(path.is_dir(), "no {}", path.display());
        assert_eq!(
            std::fs::read_dir(&path).unwrap().count(),
            0,
            "{dir} is not empty"
        );
    }
    let (ok, stdout, report) = audit(&root, &[]);
    assert!(ok, "{report}");
    assert_eq!(stdout, "", "{report}");
}
