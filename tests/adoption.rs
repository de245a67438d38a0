//! Adopting jailpack as README.md says, in a workspace that already has a
//! lockfile: its daemon depends on crates jailpack uses too, locked at versions
//! older than the newest, and jailpack comes in as a git dependency (cargo
//! keeps a lockfile's versions for git and registry dependencies; a path
//! dependency would hide the problem, since cargo unlocks for it). Adding
//! the xtask must need no `cargo update`: jailpack's requirements are its
//! real floors.

use std::path::Path;

use crate::support::{
    REPO, both, cargo_offline_first, free_port, git_snapshot, host_triple, is_root, scratch,
};

/// The daemon's locked versions: jailpack's floors, older than the newest
/// releases (and than the requirements jailpack had before, which forced a
/// `cargo update` here).
const LOCKED: &[(&str, &str)] = &[
    ("flate2", "1.0.0"),
    ("serde", "1.0.225"),
    ("serde_json", "1.0.142"),
    ("tar", "0.4.38"),
    ("tempfile", "3.20.0"),
    ("thiserror", "2.0.12"),
];

const DAEMON_MANIFEST: &str = r#"[package]
name = "hellod"
version = "0.1.0"
edition = "2024"
publish = false

# What a typical daemon shares with jailpack (declared, not used: only the
# lockfile matters here). tar without xattr: tar 0.4.38's xattr 0.2 no
# longer builds against today's libc.
[dependencies]
flate2 = "1"
serde = { version = "1", features = ["derive"] }
serde_json = "1"
tar = { version = "0.4", default-features = false }
tempfile = "3"
thiserror = "2"

[package.metadata.jail]
args = ["127.0.0.1:7913"]
foreground = true
"#;

const DAEMON_MAIN: &str = r#"use std::io::Write;
use std::net::TcpListener;

fn main() {
    let listen = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7913".to_string());
    let listener = TcpListener::bind(&listen).expect("cannot listen");
    eprintln!("hellod: listening on {listen}");
    for mut stream in listener.incoming().flatten() {
        let _ = stream.write_all(b"hello from the jail\n");
    }
}
"#;

/// README.md's xtask, as a user copies it.
const XTASK_MAIN: &str = r#"fn main() -> std::process::ExitCode {
    let mut args = std::env::args_os().skip(1);
    match args.next().as_ref().and_then(|a| a.to_str()) {
        Some("jail") => jailpack::cli::main(args),
        _ => std::process::ExitCode::FAILURE,
    }
}
"#;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_workspace_with_an_older_lockfile_adopts_jailpack_without_cargo_update() {
    let snapshot = git_snapshot();
    // Shared from run to run: only the first compiles jailpack's crates.
    let target_dir = Path::new(REPO).join("target/adoption/target");
    let workspace = scratch("adoption");
    let cargo = |args: &[&str]| {
        let output = cargo_offline_first(&workspace, &target_dir, args);
        assert!(
            output.status.success(),
            "cargo {args:?}:\n{}",
            both(&output)
        );
        output
    };

    // Before: a daemon and its lockfile.
    write(
        &workspace.join("Cargo.toml"),
        "[workspace]\nmembers = [\"hellod\"]\nresolver = \"3\"\n",
    );
    write(&workspace.join("hellod/Cargo.toml"), DAEMON_MANIFEST);
    write(&workspace.join("hellod/src/main.rs"), DAEMON_MAIN);
    cargo(&["generate-lockfile"]);
    for (name, version) in LOCKED {
        cargo(&["update", "--package", name, "--precise", version]);
    }

    // Adopting jailpack: an xtask member, the alias, README.md's main.rs.
    write(
        &workspace.join("Cargo.toml"),
        "[workspace]\nmembers = [\"hellod\", \"xtask\"]\nresolver = \"3\"\n",
    );
    write(
        &workspace.join("xtask/Cargo.toml"),
        &format!(
            "[package]\nname = \"xtask\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\njailpack = {{ git = \"file://{}\", rev = \"{}\" }}\n",
            snapshot.dir.display(),
            snapshot.commit
        ),
    );
    write(&workspace.join("xtask/src/main.rs"), XTASK_MAIN);
    write(
        &workspace.join(".cargo/config.toml"),
        "[alias]\nxtask = \"run --quiet --package xtask --\"\n",
    );

    // No `cargo update`, no --locked: cargo adds what jailpack needs to the
    // lockfile and keeps every version it already holds.
    let out = workspace.join("out");
    cargo(&["xtask", "jail", "--out-dir", out.to_str().unwrap()]);
    let archive = out.join(format!("hellod-0.1.0-{}.tar.gz", host_triple()));
    assert!(archive.is_file(), "no {}", archive.display());
    let lock = std::fs::read_to_string(workspace.join("Cargo.lock")).unwrap();
    for (name, version) in LOCKED {
        assert!(
            lock.contains(&format!("name = \"{name}\"\nversion = \"{version}\"\n")),
            "{name} {version} is no longer locked:\n{lock}"
        );
    }
    assert!(lock.contains("source = \"git+file://"), "{lock}");

    // And the jail it made runs.
    if !is_root() {
        eprintln!(
            "SKIPPED verify in a_workspace_with_an_older_lockfile_adopts_jailpack_without_cargo_update: needs root"
        );
        return;
    }
    let listen = format!("127.0.0.1:{}", free_port());
    let output = std::process::Command::new(target_dir.join("debug/xtask"))
        .args(["jail", "verify", archive.to_str().unwrap(), "--for", "2"])
        .args(["--arg", &listen])
        .output()
        .unwrap();
    let report = both(&output);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("hellod: listening on"), "{report}");
}
