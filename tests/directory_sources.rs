//! A `files` entry naming a directory: the tree is copied, its ELF objects
//! get closures of their own (one whose library the root lacks is left out
//! with a warning), its files pass the hardening rules, and `owner` gives
//! the daemon a file inside a `writable` directory.

use std::os::unix::fs::symlink;
use std::path::Path;

use serde_json::json;

use crate::hardening::{accepted, package};
use crate::support::{archive_file_entries, cargo_xtask_jail, scratch};

/// A plugin of the host (it needs libcrypto) and a copy whose DT_NEEDED
/// names a library no root has (same length, so the ELF stays valid).
fn plugins(dir: &Path) -> Option<()> {
    let host = Path::new("/usr/lib/x86_64-linux-gnu/ossl-modules/legacy.so");
    let bytes = std::fs::read(host).ok()?;
    let from = b"libcrypto.so.3";
    let at = bytes.windows(from.len()).position(|w| w == from)?;
    let mut orphan = bytes.clone();
    orphan[at..at + from.len()].copy_from_slice(b"libcryptX.so.3");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("good.so"), &bytes).unwrap();
    std::fs::write(dir.join("orphan.so"), &orphan).unwrap();
    std::fs::write(dir.join("sub/notes.txt"), b"notes").unwrap();
    std::fs::write(dir.join("sub/static.a"), b"!<arch>").unwrap();
    symlink("../good.so", dir.join("sub/alias.so")).unwrap();
    Some(())
}

#[test]
fn a_directory_source_ships_its_tree_and_leaves_out_a_plugin_missing_a_library() {
    let dir = scratch("tree-source");
    let tree = dir.join("plugins");
    if plugins(&tree).is_none() {
        eprintln!("skipped: no OpenSSL legacy provider on this host");
        return;
    }
    let settings = dir.join("jail.toml");
    std::fs::write(
        &settings,
        format!(
            "files = [{{ source = {:?}, dest = \"/usr/lib/plugins\", exclude = [\"*.a\"] }}]\n",
            tree.display().to_string()
        ),
    )
    .unwrap();
    let out = scratch("tree-source-out");
    let output = cargo_xtask_jail(
        &out,
        &[
            "--binary",
            "/usr/bin/true",
            "--name",
            "treesrc",
            "--settings",
            settings.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("/usr/lib/plugins/orphan.so") && stderr.contains("libcryptX.so.3"),
        "{stderr}"
    );
    let archive = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .unwrap();
    let names: Vec<String> = archive_file_entries(&archive)
        .iter()
        .map(|e| e.path.display().to_string())
        .collect();
    let has = |suffix: &str| names.iter().any(|n| n.ends_with(suffix));
    for wanted in [
        "usr/lib/plugins/good.so",
        "usr/lib/plugins/sub/notes.txt",
        "usr/lib/plugins/sub/alias.so",
        "libcrypto.so.3",
    ] {
        assert!(has(wanted), "no {wanted} in {names:#?}");
    }
    for unwanted in ["orphan.so", "static.a"] {
        assert!(!has(unwanted), "{unwanted} shipped: {names:#?}");
    }
}

#[test]
fn every_file_of_a_tree_passes_the_hardening_rules() {
    let dir = package("tree-hardening");
    std::fs::create_dir_all(dir.join("site/.git")).unwrap();
    std::fs::write(dir.join("site/index.html"), b"hi").unwrap();
    std::fs::write(dir.join("site/.git/config"), b"[core]").unwrap();
    let files = json!([{ "source": "site", "dest": "/srv/site" }]);
    let err = crate::hardening::plan_with(
        &dir,
        json!({ "files": files }),
        crate::hardening::linux(),
        None,
        Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("files[0]") && err.contains(".git"), "{err}");
    // Left out by a glob, the rest ships.
    let plan = accepted(
        &dir,
        json!({ "files": [{ "source": "site", "dest": "/srv/site", "exclude": [".git"] }] }),
    );
    let paths: Vec<String> = plan
        .entries
        .iter()
        .map(|e| e.path.display().to_string())
        .collect();
    assert!(
        paths.iter().any(|p| p.ends_with("srv/site/index.html")),
        "{paths:?}"
    );
    assert!(!paths.iter().any(|p| p.contains(".git")), "{paths:?}");
}

#[test]
fn owner_gives_the_daemon_a_file_only_inside_a_writable_directory() {
    let dir = package("tree-owner");
    std::fs::write(dir.join("state.conf"), b"x").unwrap();
    let plan = accepted(
        &dir,
        json!({
            "writable": [{ "path": "/var/lib/d" }],
            "files": [{ "source": "state.conf", "dest": "/var/lib/d/state.conf", "owner": "d" }],
        }),
    );
    let entry = plan
        .entries
        .iter()
        .find(|e| e.path.ends_with("var/lib/d/state.conf"))
        .unwrap();
    assert_eq!(entry.owner.user, "d");
    let err = crate::hardening::plan_with(
        &dir,
        json!({ "files": [{ "source": "state.conf", "dest": "/etc/state.conf", "owner": "d" }] }),
        crate::hardening::linux(),
        None,
        Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("files[0].owner") && err.contains("writable"),
        "{err}"
    );
}
