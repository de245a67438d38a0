//! `cargo xtask jail audit ROOT`: quiet and 0 on a fresh jail; a library
//! changed in the sysroot after the jail was made, a file changed in the
//! jail and a file the jail's list does not know are each reported, with a
//! non-zero exit. A tampered jail (links, FIFOs, devices, sparse files,
//! setuid bits, owners, directories swapped for links to the host's) is
//! reported entry by entry, and audit never follows, blocks or reads
//! without bound: each run is killed, and the test failed, past a deadline.

use std::fs::File;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    ZONE, both, cargo_xtask_jail, demo_jail, extract_what_we_may, host_triple, is_root, scratch,
    skip_without_root, xtask_binary,
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

/// How long one audit may take: a few hundred milliseconds do the demo's
/// jail; a run that blocked on a FIFO or read a device would never end.
const DEADLINE: Duration = Duration::from_secs(20);

/// `xtask jail audit ROOT EXTRA...`: (success, stdout, the whole report).
/// Killed, and the test failed, past [`DEADLINE`], so that a hang fails
/// the test instead of stalling the suite; its output goes to files, so a
/// long report cannot block it on a full pipe either.
fn audit(root: &Path, extra: &[&str]) -> (bool, String, String) {
    let logs = scratch("audit-run");
    let (out, err) = (logs.join("stdout"), logs.join("stderr"));
    let mut child = Command::new(xtask_binary())
        .args(["jail", "audit"])
        .arg(root)
        .args(extra)
        .current_dir("/")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .expect("cannot run xtask");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "audit {} still ran after {DEADLINE:?}: it blocked, or read without bound\n--- stdout so far\n{}",
                root.display(),
                std::fs::read_to_string(&out).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&out).unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    let report = format!("status {status}\n--- stdout\n{stdout}--- stderr\n{stderr}");
    (status.success(), stdout, report)
}

/// `archive` installed the way an admin does (`tar -xzpf FILE -C DIR`)
/// into a fresh folder; returns the jail's root.
fn install(archive: &Path, name: &str) -> PathBuf {
    extract_what_we_may(archive, name).join("var/jail/daytimed")
}

#[test]
fn audit_reports_a_library_changed_after_the_jail_was_made() {
    // A clean report needs an installed jail: root's, with its devices.
    if skip_without_root("audit_reports_a_library_changed_after_the_jail_was_made") {
        return;
    }
    let sysroot = demo_sysroot();
    let out = scratch("audit-out");
    let output = cargo_xtask_jail(
        &out,
        &["--sysroot", sysroot.to_str().unwrap(), "--timezone", ZONE],
    );
    assert!(output.status.success(), "{}", both(&output));
    let archive = out.join(format!("daytimed-0.1.0-{}.tar.gz", host_triple()));
    let root = install(&archive, "audit-installed");

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
}

// A tampered jail: the demo's, installed, then changed as a compromised
// daemon (or a careless admin) could.

/// Installs the demo's jail, lets `tamper` change it (given its root),
/// audits it and checks that each `expected` line is reported, with exit
/// status 1, in time. As root (a faithful install) nothing else may be
/// reported but stale lines (another test may rebuild the daemon, the
/// source of its copy). Returns audit's stdout.
fn tampered(name: &str, tamper: impl FnOnce(&Path), expected: &[String]) -> String {
    let root = install(&demo_jail().archive, name);
    tamper(&root);
    let (ok, stdout, report) = audit(&root, &[]);
    assert!(!ok, "a tampered jail passed:\n{report}");
    for line in expected {
        assert!(
            stdout.lines().any(|l| l == line),
            "no {line:?} in:\n{report}"
        );
    }
    if is_root() {
        let others: Vec<&str> = stdout
            .lines()
            .filter(|l| !l.starts_with("stale") && !expected.iter().any(|e| e == l))
            .collect();
        assert!(others.is_empty(), "more than {expected:?}:\n{report}");
    }
    stdout
}

/// The in-jail path of the demo's libc, and its recorded mode.
fn demo_libc(root: &Path) -> (String, u32) {
    let list: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join(".jailpack.json")).unwrap()).unwrap();
    let libc = list["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("/libc.so.6"))
        .expect("the demo's jail holds libc.so.6");
    let mode = u32::from_str_radix(libc["mode"].as_str().unwrap(), 8).unwrap();
    (libc["path"].as_str().unwrap().to_string(), mode)
}

/// The jail's entry at an in-jail path.
fn at(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// Removes whatever is at `path` (file, link or directory).
fn remove(path: &Path) {
    if path.symlink_metadata().unwrap().is_dir() {
        std::fs::remove_dir_all(path).unwrap();
    } else {
        std::fs::remove_file(path).unwrap();
    }
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().unwrap();
    assert!(status.success(), "{program} {args:?} failed");
}

fn replaced(path: &str, found: &str, expected: &str) -> String {
    format!("modified {path}: {found} where {expected} belongs")
}

#[test]
fn audit_reports_a_file_replaced_by_a_link_to_its_host_source() {
    let tamper = |root: &Path| {
        remove(&at(root, "/etc/hosts"));
        symlink("/etc/hosts", at(root, "/etc/hosts")).unwrap();
    };
    let link = replaced("/etc/hosts", "a symbolic link", "a regular file");
    tampered("audit-host-link", tamper, &[link]);
}

#[test]
fn audit_reports_a_fifo_in_place_of_a_file_without_blocking() {
    let tamper = |root: &Path| {
        let path = at(root, "/etc/nsswitch.conf");
        remove(&path);
        run("mkfifo", &["-m", "0644", path.to_str().unwrap()]);
    };
    let fifo = replaced("/etc/nsswitch.conf", "a FIFO", "a regular file");
    tampered("audit-fifo", tamper, &[fifo]);
}

#[test]
fn audit_reports_a_link_to_dev_zero_without_reading_it() {
    let tamper = |root: &Path| {
        remove(&at(root, "/etc/hosts"));
        symlink("/dev/zero", at(root, "/etc/hosts")).unwrap();
    };
    let link = replaced("/etc/hosts", "a symbolic link", "a regular file");
    tampered("audit-dev-zero", tamper, &[link]);
}

#[test]
fn audit_reports_a_sparse_100_gb_file_without_reading_it() {
    let zone = format!("/usr/share/zoneinfo/{ZONE}");
    let tamper = |root: &Path| {
        let file = File::create(at(root, &zone)).unwrap();
        file.set_len(100 << 30).unwrap();
    };
    let line = format!("modified {zone}: differs from what the jail was given");
    tampered("audit-sparse", tamper, &[line]);
}

#[test]
fn audit_reports_a_symlink_loop_and_goes_on() {
    let tamper = |root: &Path| {
        remove(&at(root, "/etc/hosts"));
        symlink("hosts", at(root, "/etc/hosts")).unwrap();
        std::fs::write(at(root, "/usr/local/sbin/extra"), "x").unwrap();
    };
    let expected = [
        replaced("/etc/hosts", "a symbolic link", "a regular file"),
        "unknown  /usr/local/sbin/extra: not in the jail's file list".to_string(),
    ];
    tampered("audit-loop", tamper, &expected);
}

#[test]
fn audit_reports_a_library_made_setuid() {
    let root = install(&demo_jail().archive, "audit-libc-mode");
    let (libc, mode) = demo_libc(&root);
    let tamper = |root: &Path| {
        let permissions = std::fs::Permissions::from_mode(mode | 0o4000);
        std::fs::set_permissions(at(root, &libc), permissions).unwrap();
    };
    let line = format!(
        "modified {libc}: mode {:04o} where {mode:04o} belongs (setuid)",
        mode | 0o4000
    );
    tampered("audit-setuid", tamper, &[line]);
}

#[test]
fn audit_reports_a_directory_opened_to_others() {
    let tamper = |root: &Path| {
        let permissions = std::fs::Permissions::from_mode(0o777);
        std::fs::set_permissions(at(root, "/etc"), permissions).unwrap();
    };
    let line =
        "modified /etc: mode 0777 where 0755 belongs (writable by anyone, writable by its group)";
    tampered("audit-dir-mode", tamper, &[line.to_string()]);
}

#[test]
fn audit_reports_a_directory_replaced_by_a_link_to_the_host_s() {
    let root = install(&demo_jail().archive, "audit-libdir");
    let (libc, _) = demo_libc(&root);
    let libdir = Path::new(&libc)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    for (name, dir) in [("audit-etc-link", "/etc"), ("audit-lib-link", &*libdir)] {
        let tamper = |root: &Path| {
            remove(&at(root, dir));
            symlink(dir, at(root, dir)).unwrap();
        };
        let line = replaced(dir, "a symbolic link", "a directory");
        let stdout = tampered(name, tamper, &[line]);
        // Nothing of the host's directory was looked at.
        assert!(!stdout.contains("passwd"), "{stdout}");
        assert!(!stdout.contains("libm.so"), "{stdout}");
    }
}

#[test]
fn audit_reports_a_file_and_a_directory_chowned_away_from_root() {
    if skip_without_root("audit_reports_a_file_and_a_directory_chowned_away_from_root") {
        return;
    }
    let tamper = |root: &Path| {
        std::os::unix::fs::chown(at(root, "/etc/hosts"), Some(1000), Some(1000)).unwrap();
        std::os::unix::fs::chown(at(root, "/usr/local/sbin"), Some(1000), None).unwrap();
    };
    let expected = [
        "modified /etc/hosts: owned by 1000:1000 where root (0:0) belongs".to_string(),
        "modified /usr/local/sbin: owned by 1000:0 where root (0:0) belongs".to_string(),
    ];
    tampered("audit-chown", tamper, &expected);
}

#[test]
fn audit_reports_a_block_device_in_place_of_dev_null() {
    if skip_without_root("audit_reports_a_block_device_in_place_of_dev_null") {
        return;
    }
    let tamper = |root: &Path| {
        let null = at(root, "/dev/null");
        remove(&null);
        // loop0's numbers: a disk-like node, never opened by audit.
        run(
            "mknod",
            &["-m", "0666", null.to_str().unwrap(), "b", "7", "0"],
        );
    };
    let line = replaced("/dev/null", "a block device", "a character device");
    tampered("audit-block-device", tamper, &[line]);
}

/// Installs the demo's jail, lets `tamper` change its file list, and checks
/// that audit refuses the list, saying why and what to use instead.
fn refused(name: &str, tamper: impl FnOnce(&Path), problem: &str) {
    let root = install(&demo_jail().archive, name);
    tamper(&at(&root, "/.jailpack.json"));
    let (ok, stdout, report) = audit(&root, &[]);
    assert!(!ok, "{report}");
    assert_eq!(stdout, "", "{report}");
    assert!(report.contains(problem), "{report}");
    assert!(report.contains("--manifest"), "{report}");
}

#[test]
fn audit_refuses_a_jail_file_list_it_cannot_trust() {
    let host_copy = scratch("audit-list-copy").join("list.json");
    let link = |list: &Path| {
        std::fs::copy(list, &host_copy).unwrap();
        remove(list);
        symlink(&host_copy, list).unwrap();
    };
    refused(
        "audit-list-link",
        link,
        "a symbolic link where the jail's file list belongs",
    );
    let fifo = |list: &Path| {
        remove(list);
        run("mkfifo", &["-m", "0644", list.to_str().unwrap()]);
    };
    refused(
        "audit-list-fifo",
        fifo,
        "a FIFO where the jail's file list belongs",
    );
    let writable = |list: &Path| {
        std::fs::set_permissions(list, std::fs::Permissions::from_mode(0o666)).unwrap();
    };
    refused(
        "audit-list-writable",
        writable,
        "the jail's daemon may have rewritten it",
    );
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

/// `demo_sysroot()` with a dpkg database of its own: the host's status
/// file and the file lists of the packages the demo's jail takes files
/// from; returns it with the host's dpkg architecture.
fn demo_sysroot_with_dpkg() -> (PathBuf, String) {
    let sysroot = demo_sysroot();
    let output = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .unwrap();
    let arch = String::from_utf8_lossy(&output.stdout).trim().to_string();
    std::fs::create_dir_all(sysroot.join("var/lib/dpkg/info")).unwrap();
    std::fs::copy("/var/lib/dpkg/status", sysroot.join("var/lib/dpkg/status")).unwrap();
    for list in [
        format!("libc6:{arch}.list"),
        format!("libgcc-s1:{arch}.list"),
        "tzdata.list".to_string(),
    ] {
        std::fs::copy(
            Path::new("/var/lib/dpkg/info").join(&list),
            sysroot.join("var/lib/dpkg/info").join(&list),
        )
        .unwrap();
    }
    std::fs::create_dir_all(sysroot.join("etc")).unwrap();
    std::fs::copy("/etc/os-release", sysroot.join("etc/os-release")).unwrap();
    (sysroot, arch)
}

/// Gives the sysroot's `package` (of `arch`) another version in its dpkg
/// status, as an upgrade would; returns (old, new).
fn upgrade_in_status(sysroot: &Path, package: &str, arch: &str) -> (String, String) {
    let path = sysroot.join("var/lib/dpkg/status");
    let status = std::fs::read_to_string(&path).unwrap();
    let mut versions = None;
    let stanzas: Vec<String> = status
        .split("\n\n")
        .map(|stanza| {
            let ours = stanza.lines().any(|l| l == format!("Package: {package}"))
                && stanza.lines().any(|l| l == format!("Architecture: {arch}"));
            if !ours {
                return stanza.to_string();
            }
            stanza
                .lines()
                .map(|line| match line.strip_prefix("Version: ") {
                    Some(old) => {
                        let new = format!("{old}+security1");
                        versions = Some((old.to_string(), new.clone()));
                        format!("Version: {new}")
                    }
                    None => line.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    std::fs::write(&path, stanzas.join("\n\n")).unwrap();
    versions.expect("the package is in the status file")
}

#[test]
fn audit_names_the_package_version_in_the_jail_and_on_the_host() {
    if skip_without_root("audit_names_the_package_version_in_the_jail_and_on_the_host") {
        return;
    }
    let (sysroot, arch) = demo_sysroot_with_dpkg();
    let out = scratch("audit-update-out");
    let output = cargo_xtask_jail(
        &out,
        &["--sysroot", sysroot.to_str().unwrap(), "--timezone", ZONE],
    );
    assert!(output.status.success(), "{}", both(&output));
    let base = format!("daytimed-0.1.0-{}", host_triple());
    let root = install(
        &out.join(format!("{base}.tar.gz")),
        "audit-update-installed",
    );
    let (ok, stdout, report) = audit(&root, &[]);
    assert!(
        ok && stdout.is_empty(),
        "a fresh jail is not clean:\n{report}"
    );

    // An update of libc6 lands in the sysroot: a new libc.so.6, a new version.
    let libc = sysroot.join("usr/lib/x86_64-linux-gnu/libc.so.6");
    let mut bytes = std::fs::read(&libc).unwrap();
    bytes.extend_from_slice(b"update");
    std::fs::write(&libc, bytes).unwrap();
    let (old, new) = upgrade_in_status(&sysroot, "libc6", &arch);
    let update = format!(
        "update   /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2: libc6 {old} in the jail, {new} on the host; rebuild and reinstall the jail"
    );
    let (ok, stdout, report) = audit(&root, &[]);
    assert!(!ok, "{report}");
    assert!(stdout.lines().any(|l| l == update), "{report}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("stale    /usr/lib/x86_64-linux-gnu/libc.so.6")),
        "{report}"
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("update")).count(),
        1,
        "{report}"
    );

    // The SBOM alone says the same, without the jail.
    let output = Command::new(xtask_binary())
        .args(["jail", "audit", "--sbom"])
        .arg(out.join(format!("{base}.cdx.json")))
        .arg("--sysroot")
        .arg(&sysroot)
        .output()
        .unwrap();
    assert!(!output.status.success(), "{}", both(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("{update}\n"),
        "{}",
        both(&output)
    );
}
