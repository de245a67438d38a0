//! Each hardening rule of the plan refuses a crafted setting, with an error
//! that names the setting and says what to do; the opt-ins let the same
//! thing through. Most run the plan stage on its own (fast); one goes
//! through the real front end.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use jailpack::build::{Built, Package};
use jailpack::closure::elf::Class;
use jailpack::closure::root::FsRoot;
use jailpack::closure::target::{Loader, Os, Target};
use jailpack::closure::{Closure, ClosureFile, Role};
use jailpack::plan::{EntryKind, Plan};
use jailpack::settings::Settings;
use serde_json::json;

use crate::support::{archive_entries, both, cargo_xtask_jail, demo_jail, scratch};

/// A Linux glibc x86-64 target (the plan only reads its fields).
pub fn linux() -> Target {
    Target {
        os: Os::Linux,
        loader: Loader::Glibc,
        class: Class::Elf64,
        little_endian: true,
        machine: 62,
    }
}

/// A package folder holding a stand-in executable, `exe`.
pub fn package(name: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::write(dir.join("exe"), b"\x7fELF stand-in").unwrap();
    std::fs::set_permissions(dir.join("exe"), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Plans a jail for `dir/exe` (and `more` closure files) with `settings`
/// (the `[package.metadata.jail]` table as JSON).
pub fn plan_with(
    dir: &Path,
    settings: serde_json::Value,
    target: Target,
    sysroot: Option<&Path>,
    more: Vec<ClosureFile>,
) -> jailpack::Result<Plan> {
    let manifest = dir.join("Cargo.toml");
    let settings = Settings::from_package_metadata(&json!({ "jail": settings }), &manifest)?;
    let executable = dir.join("exe");
    let built = Built {
        package: Package {
            name: "d".into(),
            version: "0.1.0".into(),
            description: None,
            manifest_path: manifest,
        },
        bin: "d".into(),
        executable: executable.clone(),
        settings,
        target_triple: Some("x86_64-unknown-linux-gnu".into()),
        target_directory: dir.join("target"),
        workspace_root: None,
        crates: Vec::new(),
    };
    let mut files = vec![ClosureFile {
        path: "/usr/local/sbin/d".into(),
        source: executable,
        role: Role::Executable,
        needed_by: Vec::new(),
        found: "given".into(),
        moved_from: None,
        versions: Default::default(),
    }];
    files.extend(more);
    let closure = Closure {
        target,
        files,
        links: Vec::new(),
        left_out: Vec::new(),
    };
    jailpack::plan::plan(&built, &closure, &FsRoot::of(sysroot), 0)
}

fn refused(dir: &Path, settings: serde_json::Value) -> String {
    match plan_with(dir, settings, linux(), None, Vec::new()) {
        Ok(_) => panic!("the plan accepted it"),
        Err(e) => e.to_string(),
    }
}

pub fn accepted(dir: &Path, settings: serde_json::Value) -> Plan {
    plan_with(dir, settings, linux(), None, Vec::new()).unwrap_or_else(|e| panic!("{e}"))
}

fn entry<'p>(plan: &'p Plan, in_jail: &str) -> &'p jailpack::plan::Entry {
    let path = Path::new("var/jail/d").join(in_jail.trim_start_matches('/'));
    plan.entries
        .iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("no {in_jail} in the plan"))
}

#[test]
fn setuid_and_setgid_sources_are_refused_unless_the_line_opts_in() {
    let dir = package("hardening-setid");
    std::fs::write(dir.join("helper"), "#!/bin/sh\n").unwrap();
    for bits in [0o4755, 0o2755] {
        std::fs::set_permissions(dir.join("helper"), std::fs::Permissions::from_mode(bits))
            .unwrap();
        let err = refused(
            &dir,
            json!({ "files": [{ "source": "helper", "dest": "/bin/helper" }] }),
        );
        assert!(
            err.contains("hardening:") && err.contains("files[0]"),
            "{err}"
        );
        assert!(err.contains("setuid") || err.contains("setgid"), "{err}");
        assert!(err.contains("allow-setid = true"), "{err}");
    }
    let plan = accepted(
        &dir,
        json!({ "files": [{ "source": "helper", "dest": "/bin/helper", "mode": "0755", "allow-setid": true }] }),
    );
    assert_eq!(
        entry(&plan, "/bin/helper").mode,
        0o755,
        "shipped without the bits"
    );
    // The closure has no opt-in: a setuid executable is refused.
    std::fs::set_permissions(dir.join("exe"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    let err = refused(&dir, json!({}));
    assert!(
        err.contains("the closure") && err.contains("setuid"),
        "{err}"
    );
}

#[test]
fn world_writable_directories_are_refused_except_a_sticky_tmp() {
    let dir = package("hardening-world-writable");
    let err = refused(
        &dir,
        json!({ "writable": [{ "path": "/tmp", "mode": "0777" }] }),
    );
    assert!(
        err.contains("writable[0].mode") && err.contains("world-writable"),
        "{err}"
    );
    assert!(err.contains("1777"), "{err}");
    let err = refused(
        &dir,
        json!({ "writable": [{ "path": "/tmp", "mode": "4777" }] }),
    );
    assert!(err.contains("01777"), "{err}");
    let err = refused(
        &dir,
        json!({ "files": [{ "source": "exe", "dest": "/etc/x", "mode": "0666" }] }),
    );
    assert!(err.contains("files[0].mode"), "{err}");

    let plan = accepted(
        &dir,
        json!({ "writable": [{ "path": "/tmp", "mode": "1777" }] }),
    );
    assert_eq!(entry(&plan, "/tmp").mode, 0o1777);
    // The archive keeps the sticky bit (and only that special bit).
    let bytes = jailpack::emit::archive::write_tar_gz(&plan, Vec::new()).unwrap();
    let tmp = archive_entries(&bytes[..])
        .into_iter()
        .find(|e| e.path == Path::new("var/jail/d/tmp"))
        .expect("tmp in the archive");
    assert_eq!(tmp.mode, 0o1777);
}

#[test]
fn directories_above_files_stay_root_owned_and_read_only_for_the_daemon() {
    let dir = package("hardening-tree");
    let err = refused(
        &dir,
        json!({
            "writable": [{ "path": "/var/db/d" }],
            "files": [{ "source": "exe", "dest": "/var/db/d/seed" }],
        }),
    );
    assert!(
        err.contains("writable[0]") && err.contains("/var/db/d/seed"),
        "{err}"
    );
    assert!(err.contains("could replace it"), "{err}");
    // A group-writable directory of the daemon's group is the same.
    let err = refused(
        &dir,
        json!({
            "writable": [{ "path": "/usr/local", "owner": "root", "mode": "0775" }],
        }),
    );
    assert!(
        err.contains("writable[0]") && err.contains("/usr/local/sbin/d"),
        "{err}"
    );
    // The jail root itself can never be handed over, nor the daemon be root.
    let err = refused(&dir, json!({ "writable": [{ "path": "/" }] }));
    assert!(err.contains("jail root"), "{err}");
    let err = refused(&dir, json!({ "user": "root" }));
    assert!(
        err.contains("hardening:") && err.contains(r#"user = "root""#),
        "{err}"
    );
    assert!(err.contains("leave its chroot"), "{err}");
    // Beside the files, it is fine.
    accepted(
        &dir,
        json!({
            "writable": [{ "path": "/var/db/d" }],
            "files": [{ "source": "exe", "dest": "/var/db/seed" }],
        }),
    );
}

#[test]
fn host_secrets_are_refused_unless_the_line_names_and_allows_them() {
    let dir = package("hardening-secrets");
    std::fs::create_dir_all(dir.join(".ssh")).unwrap();
    std::fs::write(dir.join(".ssh/id_ed25519"), "key").unwrap();
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::write(dir.join("etc/shadow"), "root:*:1::::::\n").unwrap();
    std::fs::write(
        dir.join("tls.pem"),
        "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::write(dir.join("motd"), "hello\n").unwrap();
    for (source, why) in [
        (".ssh/id_ed25519", ".ssh"),
        ("etc/shadow", "shadow"),
        ("tls.pem", "private key"),
    ] {
        let settings = json!({ "files": [{ "source": source, "dest": "/etc/x" }] });
        let err = refused(&dir, settings);
        assert!(
            err.contains("host secret") && err.contains(why),
            "{source}: {err}"
        );
        assert!(
            err.contains("files[0]") && err.contains("allow-secret = true"),
            "{err}"
        );
        accepted(
            &dir,
            json!({ "files": [{ "source": source, "dest": "/etc/x", "allow-secret": true }] }),
        );
    }
    accepted(
        &dir,
        json!({ "files": [{ "source": "motd", "dest": "/etc/motd" }] }),
    );
}

#[test]
fn device_nodes_come_only_from_the_allow_list() {
    let dir = package("hardening-devices");
    let err = refused(&dir, json!({ "devices": ["sda"] }));
    assert!(
        err.contains("devices") && err.contains("sda") && err.contains("urandom"),
        "{err}"
    );
    let plan = accepted(&dir, json!({ "devices": ["null"] }));
    assert_eq!(
        entry(&plan, "/dev/null").kind,
        EntryKind::CharDevice { major: 1, minor: 3 }
    );
}

#[test]
fn the_front_end_prints_the_refusal_and_writes_nothing() {
    let dir = scratch("hardening-front-end");
    std::fs::write(
        dir.join("server.key.pem"),
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("jail.toml"),
        "files = [{ source = \"server.key.pem\", dest = \"/etc/tls/key.pem\" }]\n",
    )
    .unwrap();
    demo_jail();
    let binary = Path::new(crate::support::REPO).join("target/e2e/release/daytimed");
    let out = dir.join("out");
    let output = cargo_xtask_jail(
        &out,
        &[
            "--binary",
            binary.to_str().unwrap(),
            "--settings",
            dir.join("jail.toml").to_str().unwrap(),
        ],
    );
    let report = both(&output);
    assert!(!output.status.success(), "{report}");
    assert!(
        report.contains("hardening:") && report.contains("files[0]"),
        "{report}"
    );
    assert!(report.contains("allow-secret = true"), "{report}");
    assert!(!out.exists(), "a refused jail wrote {}", out.display());
}

#[test]
fn a_jail_root_is_never_a_system_directory() {
    // Reproduction: root = "/etc" with a file at /passwd made an archive
    // whose documented install replaced the host's /etc/passwd.
    let dir = package("hardening-roots");
    std::fs::write(dir.join("evilpasswd"), "root::0:0::/:/bin/sh\n").unwrap();
    for root in [
        "/etc",
        "/etc/cron.d",
        "/usr/lib",
        "/var/spool/cron",
        "/",
        "/var/jail",
    ] {
        let err = refused(
            &dir,
            json!({ "root": root, "files": [{ "source": "evilpasswd", "dest": "/passwd" }] }),
        );
        assert!(
            err.contains("in root") && err.contains("system directory"),
            "{root}: {err}"
        );
    }
    for root in ["/var/www", "/var/jail/d", "/srv/d", "/usr/local/jails/d"] {
        let plan = accepted(&dir, json!({ "root": root }));
        assert_eq!(plan.jail_root, Path::new(root));
    }
}

#[test]
fn kernel_files_are_never_jailed() {
    // Reproduction: /proc/self/environ shipped the packager's environment.
    let dir = package("hardening-proc");
    for source in ["/proc/self/environ", "/proc/self/maps", "/dev/kmsg"] {
        let err = refused(
            &dir,
            json!({ "files": [{ "source": source, "dest": "/x" }] }),
        );
        assert!(
            err.contains("files[0].source") && err.contains("kernel"),
            "{source}: {err}"
        );
    }
}

#[test]
fn a_template_must_be_a_small_file_of_the_package() {
    // Reproduction: templates = { systemd = "/etc/shadow" } published the
    // host's shadow file as the "unit"; /proc/self/environ the environment.
    let dir = package("hardening-templates");
    for template in [
        "/etc/shadow",
        "/proc/self/environ",
        "../../../../etc/passwd",
    ] {
        let err = refused(&dir, json!({ "templates": { "systemd": template } }));
        assert!(
            err.contains("templates.systemd") && err.contains("under its directory"),
            "{template}: {err}"
        );
    }
    std::fs::write(dir.join("unit.in"), "[Service]\n").unwrap();
    accepted(&dir, json!({ "templates": { "systemd": "unit.in" } }));
}

#[test]
fn the_daemons_group_is_never_root_s_and_system_directories_are_never_its() {
    let dir = package("hardening-group");
    for group in ["root", "wheel"] {
        let err = refused(&dir, json!({ "group": group }));
        assert!(err.contains("hardening:") && err.contains("group"), "{err}");
    }
    for path in [
        "/etc",
        "/dev",
        "/proc",
        "/usr/lib",
        "/usr/lib/x86_64-linux-gnu",
    ] {
        let err = refused(&dir, json!({ "writable": [{ "path": path }] }));
        assert!(err.contains("writable[0].path"), "{path}: {err}");
    }
    accepted(
        &dir,
        json!({ "writable": [{ "path": "/var/db/d" }, { "path": "/etc/d" }] }),
    );
}

#[test]
fn kernel_files_are_never_executables_either() {
    let dir = package("hardening-proc-exe");
    std::fs::write(
        dir.join("jail.toml"),
        "executables = [\"/proc/self/exe\"]\n",
    )
    .unwrap();
    let output = crate::support::xtask_jail(
        &[
            "--binary",
            "/usr/bin/true",
            "--settings",
            dir.join("jail.toml").to_str().unwrap(),
            "--out-dir",
            dir.join("out").to_str().unwrap(),
        ],
        false,
    );
    assert!(!output.status.success());
    let text = both(&output);
    assert!(
        text.contains("executables[0]") && text.contains("/proc"),
        "{text}"
    );
    assert!(!dir.join("out").exists());
}
