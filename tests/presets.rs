//! Runtime presets: resolved per target OS against the sysroot, the NSS
//! modules nsswitch.conf names handed to the closure,
//! a generated passwd; and a jail made with presets instead of a `files`
//! list really runs.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use jailpack::build::{Built, Package};
use jailpack::closure::root::FsRoot;
use jailpack::closure::target::Os;
use jailpack::closure::{ClosureFile, Role};
use jailpack::plan::presets::Dlopen;
use jailpack::plan::{EntryKind, Plan};
use jailpack::settings::Settings;
use serde_json::json;

use crate::hardening::{linux, package, plan_with};
use crate::support::{ZONE, both, cargo_xtask_jail, demo_jail, free_port, scratch, xtask_jail};

const MULTIARCH: &str = "usr/lib/x86_64-linux-gnu";

/// A sysroot with the files every preset wants, `lib` merged into `usr`.
fn sysroot(name: &str) -> PathBuf {
    let root = scratch(name);
    for dir in ["etc/ssl/certs", "usr/share/zoneinfo/Europe", MULTIARCH] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    symlink("usr/lib", root.join("lib")).unwrap();
    let write = |path: &str, text: &str| std::fs::write(root.join(path), text).unwrap();
    write("etc/hosts", "127.0.0.1 localhost\n");
    write("etc/resolv.conf", "nameserver 192.0.2.53\n");
    write(
        "etc/nsswitch.conf",
        "passwd: files\nhosts: files mymod [NOTFOUND=return] missing dns\n",
    );
    write("etc/services", "daytime 13/tcp\n");
    write("usr/share/zoneinfo/Europe/Paris", "TZif-stand-in");
    symlink(
        "/usr/share/zoneinfo/Europe/Paris",
        root.join("etc/localtime"),
    )
    .unwrap();
    write(
        "etc/ssl/certs/ca-certificates.crt",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    write(
        "etc/passwd",
        "root:x:0:0::/root:/bin/sh\nd:x:901:902::/var/empty:/bin/false\n",
    );
    write("etc/group", "root:x:0:\nd:x:902:\n");
    root
}

/// A real glibc library of this host, to copy into sysroots.
fn host_library(name: &str) -> PathBuf {
    let path = Path::new("/usr/lib/x86_64-linux-gnu").join(name);
    assert!(
        path.is_file(),
        "this test wants the host's {}",
        path.display()
    );
    path
}

fn on_x86_64_glibc(test: &str) -> bool {
    let ok = cfg!(all(
        target_arch = "x86_64",
        target_os = "linux",
        target_env = "gnu"
    ));
    if !ok {
        eprintln!("SKIPPED {test}: written for an x86_64 glibc host");
    }
    ok
}

/// `presets::dlopen` for this test binary (a glibc executable).
fn dlopen(settings: serde_json::Value, sysroot: &Path) -> jailpack::Result<Dlopen> {
    let manifest = sysroot.join("Cargo.toml");
    let built = Built {
        package: Package {
            name: "d".into(),
            version: "0.1.0".into(),
            description: None,
            manifest_path: manifest.clone(),
        },
        bin: "d".into(),
        executable: std::env::current_exe().unwrap(),
        settings: Settings::from_package_metadata(&json!({ "jail": settings }), &manifest)?,
        target_triple: None,
        target_directory: sysroot.join("target"),
        workspace_root: None,
        crates: Vec::new(),
    };
    jailpack::plan::presets::dlopen(&built, &FsRoot::new(sysroot))
}

#[test]
fn nss_modules_are_the_ones_the_sysroots_nsswitch_names() {
    if !on_x86_64_glibc("nss_modules_are_the_ones_the_sysroots_nsswitch_names") {
        return;
    }
    let root = sysroot("presets-nss");
    let settings = json!({ "presets": ["resolver"], "libraries": ["libz.so.1"] });
    // hosts: files mymod [NOTFOUND=return] missing dns — the closure jails
    // those its loader finds (closure::tests pins that part).
    assert_eq!(
        dlopen(settings, &root).unwrap(),
        Dlopen {
            required: vec!["libz.so.1".into()],
            optional: ["files", "mymod", "missing", "dns"]
                .map(|s| format!("libnss_{s}.so.2"))
                .to_vec(),
        }
    );
    // Without the preset, nothing is added; an unknown preset is an error.
    assert_eq!(dlopen(json!({}), &root).unwrap(), Dlopen::default());
    let err = dlopen(json!({ "presets": ["dns"] }), &root)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`dns`") && err.contains("resolver"), "{err}");
}

fn generated(plan: &Plan, in_jail: &str) -> String {
    let path = Path::new("var/jail/d").join(in_jail.trim_start_matches('/'));
    match &plan.entries.iter().find(|e| e.path == path).unwrap().kind {
        EntryKind::Generated { contents } => String::from_utf8(contents.clone()).unwrap(),
        other => panic!("{in_jail} is {other:?}"),
    }
}

fn source(plan: &Plan, in_jail: &str) -> Option<PathBuf> {
    let path = Path::new("var/jail/d").join(in_jail.trim_start_matches('/'));
    plan.entries
        .iter()
        .find(|e| e.path == path)
        .and_then(|e| match &e.kind {
            EntryKind::File { source } => Some(source.clone()),
            _ => None,
        })
}

#[test]
fn every_preset_resolves_in_the_sysroot() {
    if !on_x86_64_glibc("every_preset_resolves_in_the_sysroot") {
        return;
    }
    let root = sysroot("presets-all");
    std::fs::copy(
        host_library("libgcc_s.so.1"),
        root.join(MULTIARCH).join("libnss_mymod.so.2"),
    )
    .unwrap();
    // The executable is this test binary, a real glibc one.
    let dir = scratch("presets-all-package");
    symlink(std::env::current_exe().unwrap(), dir.join("exe")).unwrap();
    let settings = json!({ "presets": ["resolver", "timezone", "certificates", "passwd"] });
    let nss_module = ClosureFile {
        path: "/usr/lib/x86_64-linux-gnu/libnss_mymod.so.2".into(),
        source: root.join(MULTIARCH).join("libnss_mymod.so.2"),
        role: Role::Library,
        needed_by: vec!["/usr/local/sbin/d".into()],
        found: "dlopen".into(),
        moved_from: None,
        versions: Default::default(),
    };
    let plan = plan_with(&dir, settings, linux(), Some(&root), vec![nss_module])
        .unwrap_or_else(|e| panic!("{e}"));
    for (in_jail, from) in [
        ("/etc/hosts", "etc/hosts"),
        ("/etc/resolv.conf", "etc/resolv.conf"),
        ("/etc/nsswitch.conf", "etc/nsswitch.conf"),
        ("/etc/services", "etc/services"),
        (
            "/usr/share/zoneinfo/Europe/Paris",
            "usr/share/zoneinfo/Europe/Paris",
        ),
        (
            "/etc/ssl/certs/ca-certificates.crt",
            "etc/ssl/certs/ca-certificates.crt",
        ),
    ] {
        assert_eq!(source(&plan, in_jail), Some(root.join(from)), "{in_jail}");
    }
    // /etc/localtime links to the zone by name, as on the host.
    let localtime = Path::new("var/jail/d/etc/localtime");
    match &plan
        .entries
        .iter()
        .find(|e| e.path == localtime)
        .unwrap()
        .kind
    {
        EntryKind::Symlink { target } => {
            assert_eq!(target, Path::new("../usr/share/zoneinfo/Europe/Paris"))
        }
        other => panic!("/etc/localtime is {other:?}"),
    }
    // Only what the sysroot has: no gai.conf there, none in the jail.
    assert_eq!(source(&plan, "/etc/gai.conf"), None);
    assert_eq!(
        generated(&plan, "/etc/passwd"),
        "d:*:901:902:d:/:/usr/sbin/nologin\n"
    );
    assert_eq!(generated(&plan, "/etc/group"), "d:*:902:\n");
    // `uid`/`gid` settings win over the sysroot's database.
    let plan = plan_with(
        &dir,
        json!({ "presets": ["passwd"], "uid": 5000, "gid": 5001 }),
        linux(),
        Some(&root),
        Vec::new(),
    )
    .unwrap();
    assert_eq!(generated(&plan, "/etc/group"), "d:*:5001:\n");
}

#[test]
fn presets_refuse_what_they_cannot_do() {
    let root = sysroot("presets-refusals");
    let dir = package("presets-refusals-package");
    let mut openbsd = linux();
    openbsd.os = Os::OpenBsd;
    openbsd.loader = jailpack::closure::target::Loader::OpenBsd;
    let err = plan_with(
        &dir,
        json!({ "presets": ["passwd"] }),
        openbsd,
        Some(&root),
        Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("pwd.db"), "{err}");
    std::fs::remove_file(root.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    let err = plan_with(
        &dir,
        json!({ "presets": ["certificates"] }),
        linux(),
        Some(&root),
        Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("presets.certificates") && err.contains("ca-certificates"),
        "{err}"
    );
    let err = plan_with(
        &dir,
        json!({ "presets": ["passwd"], "user": "nosuch" }),
        linux(),
        Some(&root),
        Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("nosuch") && err.contains("`uid`"), "{err}");
}

#[test]
fn a_jail_made_with_presets_instead_of_files_runs() {
    demo_jail();
    let binary = Path::new(crate::support::REPO).join("target/e2e/release/daytimed");
    let dir = crate::support::shared_scratch("presets-run");
    std::fs::write(
        dir.join("jail.toml"),
        format!("presets = [\"resolver\", \"timezone\"]\ntimezone = \"{ZONE}\"\n"),
    )
    .unwrap();
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
    assert!(output.status.success(), "{}", both(&output));
    let archive = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .expect("an archive");
    let listing = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(&archive)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    for file in ["etc/hosts", "etc/nsswitch.conf", "etc/localtime"] {
        assert!(
            listing.contains(&format!("/daytimed/{file}\n")),
            "{file}:\n{listing}"
        );
    }
    assert!(
        listing.contains(&format!("usr/share/zoneinfo/{ZONE}\n")),
        "{listing}"
    );
    let port = format!("localhost:{}", free_port());
    use std::os::unix::fs::PermissionsExt;
    for file in std::fs::read_dir(&out).unwrap() {
        let file = file.unwrap().path();
        let mode = if file.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = xtask_jail(
        &[
            "verify",
            archive.to_str().unwrap(),
            "--for",
            "2",
            "--arg",
            "--listen",
            "--arg",
            &port,
        ],
        true,
    );
    let report = both(&output);
    assert!(output.status.success(), "{report}");
    // Name lookup and the zone both worked from the presets' files.
    assert!(report.contains("listening on 127.0.0.1"), "{report}");
    assert!(
        report.contains("+1245") || report.contains("+1345"),
        "{report}"
    );
}
