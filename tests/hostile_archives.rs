//! verify and doctor, as root, on archives and manifests made to escape:
//! each is refused (naming the entry) or runs as nobody; either way host
//! files outside the scratch folder (a canary) stay untouched and unread,
//! and the scratch folder is gone afterwards. A compressed bomb costs a few
//! MiB of memory, and SIGTERM ends a run promptly without leftovers.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tar::EntryType;

use crate::support::hostile::{
    Canary, HostileArchive, assert_empty, case_dir, manifest, own_tmpdir, write_manifest, xtask_in,
    zero_bomb,
};
use crate::support::{both, demo_jail, free_port, host_triple, skip_without_root, xtask_binary};

/// The identity verify must use whatever the manifest says.
const AS_NOBODY: &str = "(chroot as nobody, uid 65534, gid 65534)";

/// Runs verify and doctor on `archive` (its manifest beside it) with
/// `extra` flags, each with a TMPDIR of its own; asserts each run failed,
/// named `needles` in its report, never started the program, left
/// `canary` alone and left nothing in TMPDIR. Returns the reports.
fn refused(
    name: &str,
    archive: &Path,
    extra: &[&str],
    canary: &Canary,
    needles: &[&str],
) -> Vec<String> {
    let mut reports = Vec::new();
    for subcommand in ["verify", "doctor"] {
        let tmpdir = own_tmpdir(&format!("{name}-{subcommand}"));
        let mut args = vec![subcommand, archive.to_str().unwrap(), "--for", "2"];
        args.extend(extra);
        let (output, _) = xtask_in(&tmpdir, &args, false);
        let report = both(&output);
        assert_eq!(output.status.code(), Some(1), "{subcommand}: {report}");
        for needle in needles {
            assert!(
                report.contains(needle),
                "{subcommand}: no {needle:?} in:\n{report}"
            );
        }
        // The program never ran, so it used no identity at all.
        assert!(!report.contains(": ran "), "{subcommand} ran it:\n{report}");
        canary.assert_untouched(&report);
        assert_empty(&tmpdir, &report);
        reports.push(report);
    }
    reports
}

/// An archive in a folder of the case's own.
fn archive(name: &str) -> HostileArchive {
    HostileArchive::new(case_dir(name).join(format!("{name}.tar.gz")))
}

/// A manifest for a jail at /j whose program reads the canary.
fn reads(canary: &Canary) -> serde_json::Value {
    let files = canary.files();
    let mut args = vec!["-c", "200"];
    args.extend(files.iter().map(String::as_str));
    manifest("/j", "/usr/bin/head", &args, "daemon", "shadow", &[])
}

#[test]
fn the_symlinked_root_reproduction_is_refused() {
    if skip_without_root("the_symlinked_root_reproduction_is_refused") {
        return;
    }
    // As reported: the only entry is `j -> /`; the manifest names a host
    // account and group that may read /etc/shadow.
    let canary = Canary::new("shadow");
    let path = archive("root-link").symlink("j", "/").finish();
    write_manifest(
        &path,
        &manifest(
            "/j",
            "/usr/bin/head",
            &["-c", "60", "/etc/shadow"],
            "daemon",
            "shadow",
            &[],
        ),
    );
    let shadow = std::fs::read_to_string("/etc/shadow").unwrap_or_default();
    let first = shadow.lines().next().unwrap_or("");
    for report in refused(
        "root-link",
        &path,
        &[],
        &canary,
        &["refused entry j:", "jail root is a symlink"],
    ) {
        assert!(
            first.is_empty() || !report.contains(first),
            "/etc/shadow leaked:\n{report}"
        );
    }
}

#[test]
fn a_symlinked_root_cannot_read_host_files() {
    if skip_without_root("a_symlinked_root_cannot_read_host_files") {
        return;
    }
    let canary = Canary::new("root-link-read");
    let path = archive("root-link-read").symlink("j", "/").finish();
    write_manifest(&path, &reads(&canary));
    refused("root-link-read", &path, &[], &canary, &["refused entry j:"]);
}

#[test]
fn a_symlinked_root_cannot_write_host_files() {
    if skip_without_root("a_symlinked_root_cannot_write_host_files") {
        return;
    }
    let canary = Canary::new("root-link-write");
    let path = archive("root-link-write").symlink("j", "/").finish();
    let targets = canary.would_be_written();
    let args: Vec<&str> = targets.iter().map(String::as_str).collect();
    write_manifest(
        &path,
        &manifest("/j", "/usr/bin/touch", &args, "daemon", "daemon", &[]),
    );
    refused(
        "root-link-write",
        &path,
        &[],
        &canary,
        &["refused entry j:"],
    );
}

#[test]
fn a_symlink_above_the_jail_root_is_refused() {
    if skip_without_root("a_symlink_above_the_jail_root_is_refused") {
        return;
    }
    let canary = Canary::new("parent-link");
    let target = canary.dir.join("daemon").display().to_string();
    let path = archive("parent-link")
        .symlink("var", &target)
        .dir("var/j")
        .finish();
    let mut manifest = reads(&canary);
    manifest["jail_root"] = "/var/j".into();
    write_manifest(&path, &manifest);
    refused(
        "parent-link",
        &path,
        &[],
        &canary,
        &["refused entry var:", "above the jail root"],
    );
}

#[test]
fn files_through_symlinks_are_refused() {
    if skip_without_root("files_through_symlinks_are_refused") {
        return;
    }
    let canary = Canary::new("through-link");
    let absolute = canary.dir.join("daemon").display().to_string();
    for (name, link) in [
        ("abs", absolute.as_str()),
        ("rel", "../../../../../../../../.."),
    ] {
        let path = archive(&format!("through-link-{name}"))
            .dir("j")
            .symlink("j/etc", link)
            .file(b"j/etc/pwned", 0o644, b"written through a link")
            .finish();
        write_manifest(&path, &reads(&canary));
        refused(
            &format!("through-link-{name}"),
            &path,
            &[],
            &canary,
            &["refused entry j/etc/pwned:", "symlink"],
        );
    }
}

#[test]
fn dot_dot_absolute_and_newline_names_are_refused() {
    if skip_without_root("dot_dot_absolute_and_newline_names_are_refused") {
        return;
    }
    let canary = Canary::new("names");
    let escape = format!(
        "j/../../../../../../../..{}/daemon/pwned",
        canary.dir.display()
    );
    let absolute = format!("{}/daemon/pwned", canary.dir.display());
    for (name, entry, needle) in [
        ("dotdot", escape.as_bytes(), "`..`"),
        ("absolute", absolute.as_bytes(), "absolute"),
        ("newline", &b"j/etc/pass\nwd"[..], "control character"),
    ] {
        let path = archive(name).dir("j").file(entry, 0o644, b"x").finish();
        write_manifest(&path, &reads(&canary));
        for report in refused(name, &path, &[], &canary, &["refused entry", needle]) {
            // The name is shown escaped: no line of the report is forged.
            assert!(!report.contains("\nwd"), "{report}");
        }
    }
}

#[test]
fn hard_links_to_host_files_are_refused() {
    if skip_without_root("hard_links_to_host_files_are_refused") {
        return;
    }
    let canary = Canary::new("hard-link");
    let files = canary.files();
    for (name, target) in [("shadow", "/etc/shadow"), ("canary", files[0].as_str())] {
        let path = archive(&format!("hard-link-{name}"))
            .dir("j")
            .hard_link("j/secret", target)
            .finish();
        write_manifest(
            &path,
            &manifest("/j", "/usr/bin/head", &["/secret"], "daemon", "shadow", &[]),
        );
        refused(
            &format!("hard-link-{name}"),
            &path,
            &[],
            &canary,
            &["refused entry j/secret:", "hard link"],
        );
    }
}

#[test]
fn block_fifo_and_disguised_devices_are_refused() {
    if skip_without_root("block_fifo_and_disguised_devices_are_refused") {
        return;
    }
    let canary = Canary::new("devices");
    for (name, entry, kind, numbers, needle) in [
        (
            "block",
            "j/dev/sda",
            EntryType::Block,
            (8, 0),
            "block device",
        ),
        // The host's /dev/kmsg under an allowed name.
        (
            "kmsg-as-random",
            "j/dev/random",
            EntryType::Char,
            (1, 11),
            "1:11",
        ),
        (
            "fuse",
            "j/dev/fuse",
            EntryType::Char,
            (10, 229),
            "allow-list",
        ),
        (
            "null-elsewhere",
            "j/etc/null",
            EntryType::Char,
            (1, 3),
            "outside the jail's /dev",
        ),
    ] {
        let path = archive(name)
            .dir("j")
            .dir("j/dev")
            .dir("j/etc")
            .device(entry, kind, numbers.0, numbers.1)
            .finish();
        write_manifest(&path, &reads(&canary));
        refused(
            name,
            &path,
            &[],
            &canary,
            &[&format!("refused entry {entry}:"), needle],
        );
    }
    let path = archive("fifo")
        .dir("j")
        .dir("j/etc")
        .fifo("j/etc/hosts")
        .finish();
    write_manifest(&path, &reads(&canary));
    refused(
        "fifo",
        &path,
        &[],
        &canary,
        &["refused entry j/etc/hosts:", "FIFO"],
    );
}

#[test]
fn setuid_bits_are_dropped_and_the_program_runs_as_nobody() {
    if skip_without_root("setuid_bits_are_dropped_and_the_program_runs_as_nobody") {
        return;
    }
    let canary = Canary::new("setuid");
    let path = archive("setuid")
        .dir("j")
        .dir("j/bin")
        .file(b"j/bin/su", 0o6755, b"#!/nonexistent\n")
        .finish();
    write_manifest(
        &path,
        &manifest("/j", "/bin/su", &[], "root", "root", &[("/bin/su", 15)]),
    );
    for subcommand in ["verify", "doctor"] {
        let tmpdir = own_tmpdir(&format!("setuid-{subcommand}"));
        let (output, _) = xtask_in(
            &tmpdir,
            &[subcommand, path.to_str().unwrap(), "--for", "1", "--keep"],
            false,
        );
        let report = both(&output);
        // It ran (and failed: no interpreter), as nobody though the manifest says root.
        assert!(report.contains(AS_NOBODY), "{report}");
        assert!(report.contains("FAIL"), "{report}");
        canary.assert_untouched(&report);
        let kept = report
            .lines()
            .find_map(|l| l.strip_prefix("verify: kept the scratch folder "))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("{report}"));
        let mode = std::fs::metadata(kept.join("extracted/j/bin/su"))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o7777,
            0o755,
            "{report}"
        );
        std::fs::remove_dir_all(&kept).unwrap();
        assert_empty(&tmpdir, &report);
    }
}

/// The demo's jail, its archive copied beside `edit`ed manifest.
fn demo_with_manifest(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let jail = demo_jail();
    let dir = case_dir(name);
    let archive = dir.join(format!("{name}.tar.gz"));
    std::fs::copy(&jail.archive, &archive).unwrap();
    let json = jail
        .archive
        .with_file_name(format!("daytimed-0.1.0-{}.json", host_triple()));
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    edit(&mut manifest);
    write_manifest(&archive, &manifest);
    archive
}

#[test]
fn manifests_naming_host_accounts_run_as_nobody() {
    if skip_without_root("manifests_naming_host_accounts_run_as_nobody") {
        return;
    }
    let canary = Canary::new("accounts");
    for (user, group) in [("daemon", "shadow"), ("root", "root")] {
        let name = format!("account-{user}");
        let archive = demo_with_manifest(&name, |m| {
            m["user"] = user.into();
            m["group"] = group.into();
        });
        for subcommand in ["verify", "doctor"] {
            let tmpdir = own_tmpdir(&format!("{name}-{subcommand}"));
            let listen = format!("localhost:{}", free_port());
            let args = [
                subcommand,
                archive.to_str().unwrap(),
                "--for",
                "1",
                "--arg",
                "--listen",
                "--arg",
                &listen,
            ];
            let (output, _) = xtask_in(&tmpdir, &args, false);
            let report = both(&output);
            assert!(report.contains(AS_NOBODY), "{user}:{group}: {report}");
            assert!(report.contains("PASS: still running"), "{report}");
            canary.assert_untouched(&report);
            assert_empty(&tmpdir, &report);
        }
        // Asking for the jail's user does not make a system account usable.
        let (output, _) = xtask_in(
            &own_tmpdir(&name),
            &["verify", archive.to_str().unwrap(), "--as-jail-user"],
            false,
        );
        let report = both(&output);
        assert!(!output.status.success(), "{report}");
        assert!(
            report.contains("--as-jail-user") && report.contains("system account"),
            "{report}"
        );
        assert!(!report.contains(": ran "), "{report}");
    }
}

#[test]
fn odd_exec_paths_and_jail_roots_are_refused() {
    if skip_without_root("odd_exec_paths_and_jail_roots_are_refused") {
        return;
    }
    let canary = Canary::new("exec");
    for (index, (field, value, needle)) in [
        ("exec", "../../bin/sh", "not an absolute path"),
        ("exec", "bin/sh", "not an absolute path"),
        ("exec", "/usr/local/sbin/../../../bin/sh", "`..`"),
        ("exec", "/usr/local/sbin/day\ntimed", "control character"),
        ("exec", "/usr/bin/head", "does not hold it"),
        ("exec", "/etc", "not a regular file"),
        ("jail_root", "/../../..", "`..`"),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("odd-{field}-{index}");
        let archive = demo_with_manifest(&name, |m| m[field] = value.into());
        refused(&name, &archive, &[], &canary, &[field, needle]);
    }
}

#[test]
fn more_entries_than_the_manifest_accounts_for_are_refused() {
    if skip_without_root("more_entries_than_the_manifest_accounts_for_are_refused") {
        return;
    }
    let canary = Canary::new("many");
    let mut archive = archive("many").dir("j");
    for n in 0..200 {
        archive = archive.file(format!("j/{n}").as_bytes(), 0o644, b"");
    }
    let path = archive.finish();
    write_manifest(&path, &reads(&canary));
    refused("many", &path, &[], &canary, &["more than", "entries"]);
}

/// A gigabyte of zeros in a few MiB, built once. 3 GiB took ~19 s to
/// compress in the unoptimised test build on a 2-core machine (more with
/// the rest of the suite running), so the bomb is 1 GiB and the tests that
/// stream it lower --max-size below it or raise it above.
fn bomb() -> &'static Path {
    static BOMB: OnceLock<PathBuf> = OnceLock::new();
    BOMB.get_or_init(|| {
        let path = case_dir("bomb").join("bomb.tar.gz");
        zero_bomb(&path, BOMB_SIZE);
        path
    })
}

const BOMB_SIZE: u64 = 1 << 30;

/// The most a verify run on a bomb may take: the binary itself and a
/// fixed copy buffer (it was the whole file before: over 3 GiB for 3 GiB).
const MAX_RSS_KIB: u64 = 64 << 10;

/// A copy of the bomb with `manifest` beside it.
fn bomb_with(name: &str, manifest: serde_json::Value) -> PathBuf {
    let path = case_dir(name).join(format!("{name}.tar.gz"));
    std::fs::copy(bomb(), &path).unwrap();
    write_manifest(&path, &manifest);
    path
}

#[test]
fn a_compressed_bomb_is_refused_in_bounded_memory() {
    if skip_without_root("a_compressed_bomb_is_refused_in_bounded_memory") {
        return;
    }
    let canary = Canary::new("bomb");
    // The manifest owns up to the size; a lowered --max-size refuses it.
    let honest = bomb_with(
        "bomb-honest",
        manifest(
            "/j",
            "/zero",
            &[],
            "daemon",
            "shadow",
            &[("/zero", BOMB_SIZE)],
        ),
    );
    // The manifest hides it: the default bound, from its records, refuses it.
    let hiding = bomb_with(
        "bomb-hiding",
        manifest("/j", "/zero", &[], "daemon", "shadow", &[("/zero", 10)]),
    );
    for (archive, extra, needle) in [
        (
            &honest,
            &["--max-size", "64M"][..],
            "that is the --max-size given",
        ),
        (&hiding, &[][..], "sizes the manifest records"),
    ] {
        for subcommand in ["verify", "doctor"] {
            let tmpdir = own_tmpdir(&format!("bomb-{subcommand}"));
            let mut args = vec![subcommand, archive.to_str().unwrap()];
            args.extend(extra);
            let started = Instant::now();
            let (output, rss) = xtask_in(&tmpdir, &args, true);
            let report = both(&output);
            let rss = rss.unwrap();
            eprintln!(
                "{subcommand} {extra:?} on a 1 GiB bomb: peak RSS {rss} KiB, {:?}",
                started.elapsed()
            );
            assert_eq!(output.status.code(), Some(1), "{report}");
            assert!(
                report.contains("refused entry j/zero:") && report.contains(needle),
                "{report}"
            );
            assert!(rss < MAX_RSS_KIB, "peak RSS {rss} KiB:\n{report}");
            assert!(started.elapsed() < Duration::from_secs(20), "{report}");
            canary.assert_untouched(&report);
            assert_empty(&tmpdir, &report);
        }
    }
}

#[test]
fn a_large_file_allowed_by_max_size_streams_in_bounded_memory() {
    if skip_without_root("a_large_file_allowed_by_max_size_streams_in_bounded_memory") {
        return;
    }
    // Allowed, the gigabyte is written to the scratch folder through the
    // copy buffer; the program it names is missing, so the run never starts.
    let archive = bomb_with(
        "bomb-allowed",
        manifest(
            "/j",
            "/missing",
            &[],
            "daemon",
            "shadow",
            &[("/zero", BOMB_SIZE)],
        ),
    );
    for subcommand in ["verify", "doctor"] {
        let tmpdir = own_tmpdir(&format!("bomb-allowed-{subcommand}"));
        let started = Instant::now();
        let args = [subcommand, archive.to_str().unwrap(), "--max-size", "2G"];
        let (output, rss) = xtask_in(&tmpdir, &args, true);
        let report = both(&output);
        let rss = rss.unwrap();
        eprintln!(
            "{subcommand} extracting a 1 GiB file: peak RSS {rss} KiB, {:?}",
            started.elapsed()
        );
        assert!(
            report.contains("exec \"/missing\"") && report.contains("does not hold it"),
            "{report}"
        );
        assert!(rss < MAX_RSS_KIB, "peak RSS {rss} KiB:\n{report}");
        assert_empty(&tmpdir, &report);
    }
}

#[test]
fn a_long_name_record_bomb_is_refused_in_bounded_memory() {
    if skip_without_root("a_long_name_record_bomb_is_refused_in_bounded_memory") {
        return;
    }
    // The tar crate reads long-name records whole: 128 MiB of "name".
    let canary = Canary::new("long-name");
    let path = archive("long-name")
        .dir("j")
        .record(EntryType::GNULongName, 128 << 20)
        .file(b"j/x", 0o644, b"")
        .finish();
    write_manifest(
        &path,
        &manifest("/j", "/x", &[], "daemon", "shadow", &[("/x", 0)]),
    );
    for subcommand in ["verify", "doctor"] {
        let tmpdir = own_tmpdir(&format!("long-name-{subcommand}"));
        let args = [subcommand, path.to_str().unwrap(), "--max-size", "1G"];
        let (output, rss) = xtask_in(&tmpdir, &args, true);
        let report = both(&output);
        let rss = rss.unwrap();
        assert!(report.contains("long-name or pax record"), "{report}");
        assert!(rss < MAX_RSS_KIB, "peak RSS {rss} KiB:\n{report}");
        canary.assert_untouched(&report);
        assert_empty(&tmpdir, &report);
    }
}

#[test]
fn pax_headers_and_dot_slash_names_from_gnu_tar_are_accepted() {
    if skip_without_root("pax_headers_and_dot_slash_names_from_gnu_tar_are_accepted") {
        return;
    }
    // The demo's jail repacked by GNU tar as pax, with ./ before each name.
    let jail = demo_jail();
    let unpacked = crate::support::extract(&jail.archive, "pax-unpacked");
    let dir = case_dir("pax");
    let archive = dir.join("pax.tar.gz");
    let status = Command::new("tar")
        .args(["--format=pax", "-czf"])
        .arg(&archive)
        .arg("-C")
        .arg(&unpacked)
        .arg("./var/jail/daytimed")
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::copy(
        jail.archive
            .with_file_name(format!("daytimed-0.1.0-{}.json", host_triple())),
        dir.join("pax.json"),
    )
    .unwrap();
    let tmpdir = own_tmpdir("pax");
    let listen = format!("localhost:{}", free_port());
    let (output, _) = xtask_in(
        &tmpdir,
        &[
            "verify",
            archive.to_str().unwrap(),
            "--for",
            "1",
            "--arg",
            "--listen",
            "--arg",
            &listen,
        ],
        false,
    );
    let report = both(&output);
    assert!(output.status.success(), "{report}");
    assert!(report.contains(AS_NOBODY), "{report}");
    assert_empty(&tmpdir, &report);
}

#[test]
fn sigterm_ends_verify_promptly_and_leaves_no_scratch_folder() {
    // As root a chroot, otherwise a user namespace: the same wait loop.
    let archive = &demo_jail().archive;
    let tmpdir = own_tmpdir("sigterm");
    let port = free_port();
    let listen = format!("localhost:{port}");
    let mut child = Command::new(xtask_binary())
        .args(["jail", "verify"])
        .arg(archive)
        .args(["--for", "30", "--arg", "--listen", "--arg", &listen])
        .current_dir("/")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("TMPDIR", &tmpdir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Started: the jailed daemon answers.
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "verify ended before the daemon listened"
        );
        assert!(
            Instant::now() < deadline,
            "the jailed daemon never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        std::fs::read_dir(&tmpdir).unwrap().next().is_some(),
        "no scratch folder while running"
    );
    let signalled = Instant::now();
    // SAFETY: signals our own child, which has not been waited for yet.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("verify still running 10 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().unwrap();
    let report = both(&output);
    assert_eq!(status.code(), Some(130), "{report}");
    assert!(report.contains("interrupted by SIGTERM"), "{report}");
    assert_empty(&tmpdir, &report);
    // The daemon went with the run's namespace.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the daemon outlived verify"
    );
}
