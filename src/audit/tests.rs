//! The checks on small jails made in a temporary folder (the end-to-end
//! cases, on the demo's installed jail, are in tests/audit.rs).

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use super::check::{Audit, in_root};
use super::findings::Finding;
use super::walk::Dir;
use crate::checksum::sha256_hex;
use crate::closure::target::{Loader, Os};
use crate::manifest::{DirectoryRecord, FileRecord, LinkRecord, Manifest, Mode, WritableRecord};

#[test]
fn sources_stay_under_the_sysroot() {
    assert_eq!(
        in_root(Path::new("/j"), Path::new("/../etc/../x")),
        Path::new("/j/etc/x")
    );
}

fn manifest() -> Manifest {
    let file = |path: &str, contents: &[u8]| FileRecord {
        path: path.into(),
        source: None,
        sha256: sha256_hex(contents),
        role: "generated".into(),
        needed_by: Vec::new(),
        found: None,
        moved_from: None,
        size: contents.len() as u64,
        mode: Mode(0o644),
        versions: Default::default(),
        package: None,
    };
    let directory = |path: &str| DirectoryRecord {
        path: path.into(),
        mode: Mode(0o755),
    };
    Manifest {
        name: "t".into(),
        version: "1".into(),
        target: "x86_64-unknown-linux-gnu".into(),
        os: Os::Linux,
        loader: Loader::Glibc,
        jail_root: "/var/jail/t".into(),
        exec: "/bin/t".into(),
        args: Vec::new(),
        user: "t".into(),
        group: "t".into(),
        artifacts: Vec::new(),
        files: vec![
            file("/etc/hosts", b"hosts"),
            file("/usr/lib/libc.so", b"libc"),
            file("/../outside", b""),
        ],
        links: vec![LinkRecord {
            path: "/lib".into(),
            target: "usr/lib".into(),
        }],
        writable: vec![WritableRecord {
            path: "/var/db".into(),
            owner: "no-such-user-here".into(),
            group: "no-such-group-here".into(),
            mode: Mode(0o750),
        }],
        devices: Vec::new(),
        sysroot: None,
        directories: ["/etc", "/usr", "/usr/lib", "/var"].map(directory).to_vec(),
    }
}

/// A jail as `manifest()` describes it, with modes set (not the umask's).
fn jail() -> tempfile::TempDir {
    let jail = tempfile::tempdir().unwrap();
    let at = |p: &str| jail.path().join(p);
    for dir in ["etc", "usr/lib", "var/db"] {
        std::fs::create_dir_all(at(dir)).unwrap();
    }
    std::fs::write(at("etc/hosts"), "hosts").unwrap();
    std::fs::write(at("usr/lib/libc.so"), "libc").unwrap();
    symlink("usr/lib", at("lib")).unwrap();
    let mode =
        |p: &str, m| std::fs::set_permissions(at(p), std::fs::Permissions::from_mode(m)).unwrap();
    for dir in ["", "etc", "usr", "usr/lib", "var"] {
        mode(dir, 0o755);
    }
    mode("var/db", 0o750);
    mode("etc/hosts", 0o644);
    mode("usr/lib/libc.so", 0o644);
    jail
}

/// The findings as printed; ownership left out unless root made the jail.
fn audit(jail: &Path, manifest: &Manifest) -> Vec<String> {
    let root = Dir::open_root(jail).unwrap();
    // SAFETY: geteuid cannot fail.
    let as_root = unsafe { libc::geteuid() } == 0;
    Audit::new(root, manifest, None)
        .run()
        .iter()
        .filter(|f| as_root || !matches!(f, Finding::OwnerChanged { .. }))
        .map(|f| f.to_string())
        .collect()
}

#[test]
fn a_jail_as_listed_is_clean_but_for_a_path_no_entry_can_have() {
    let jail = jail();
    std::fs::write(jail.path().join("var/db/state"), "the daemon's").unwrap();
    let findings = audit(jail.path(), &manifest());
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert!(
        findings[0].starts_with("invalid  \"/../outside\""),
        "{findings:#?}"
    );
}

#[test]
fn a_replaced_directory_is_reported_once_and_not_entered() {
    let jail = jail();
    let usr = jail.path().join("usr");
    std::fs::remove_dir_all(&usr).unwrap();
    symlink("/usr", &usr).unwrap();
    std::fs::write(jail.path().join("etc/extra"), "x").unwrap();
    let mut manifest = manifest();
    manifest.files.pop();
    assert_eq!(
        audit(jail.path(), &manifest),
        [
            "unknown  /etc/extra: not in the jail's file list",
            "modified /usr: a symbolic link where a directory belongs",
        ]
    );
}
