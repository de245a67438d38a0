//! Snapshot tests: every rendered file (the three service scripts, the three
//! INSTALL notes, the PLIST fragment) for the demo and for a settings set
//! that uses every option, compared byte for byte with `snapshots/`.
//!
//! After an intended change to a template, regenerate them with
//! `JAILPACK_BLESS=1 cargo test --lib snapshots` and review the diff.

use std::path::{Path, PathBuf};

use super::install::{install_notes, plist_fragment};
use super::service::{ServiceContext, ServiceKind, WritableDir, render};

fn demo() -> ServiceContext {
    ServiceContext {
        name: "daytimed".into(),
        description: "A tiny RFC 867 daytime server, jailpack's demo daemon".into(),
        jail_root: "/var/jail/daytimed".into(),
        exec: "/usr/local/sbin/daytimed".into(),
        args: vec!["--listen".into(), "localhost:8013".into()],
        user: "_daytimed".into(),
        group: "_daytimed".into(),
        foreground: true,
        writable: vec![],
        needs_devices: false,
        private_tmp: true,
        runtime_directory_mode: None,
        version: "0.1.0".into(),
        archive: "daytimed-0.1.0-x86_64-unknown-openbsd.tar.gz".into(),
        uid: None,
        gid: None,
    }
}

/// Every option away from its default: a forking daemon, devices, writable
/// directories (one with a blank and a quote in its path, one owned by
/// another account, one under /run), something below /tmp, a group of its own, numeric IDs, and arguments and a
/// description that need quoting.
fn everything() -> ServiceContext {
    ServiceContext {
        name: "timekeeper".into(),
        description: "Keeps \"time\" for $USER at 100% (RFC 867)\nsecond line".into(),
        jail_root: "/srv/jails/timekeeper".into(),
        exec: "/opt/bin/timekeeperd".into(),
        args: vec![
            "--listen".into(),
            "[::1]:8013".into(),
            "--motd".into(),
            "it's $(not) a `command`; 50% off".into(),
            String::new(),
        ],
        user: "_timekeeper".into(),
        group: "_clocks".into(),
        foreground: false,
        writable: vec![
            WritableDir {
                path: "/var/db/time keeper's".into(),
                owner: "_timekeeper".into(),
                group: "_clocks".into(),
                mode: "0750".into(),
                runtime_directory: None,
            },
            WritableDir {
                path: "/var/log/timekeeper".into(),
                owner: "_log".into(),
                group: "_clocks".into(),
                mode: "0770".into(),
                runtime_directory: None,
            },
            WritableDir {
                path: "/run/timekeeper".into(),
                owner: "_timekeeper".into(),
                group: "_clocks".into(),
                mode: "0750".into(),
                runtime_directory: Some("timekeeper".into()),
            },
        ],
        needs_devices: true,
        // The jail holds something below /tmp.
        private_tmp: false,
        runtime_directory_mode: Some("0750".into()),
        version: "2.0.0-rc.1".into(),
        archive: "timekeeper-2.0.0-rc.1-aarch64-unknown-freebsd.tar.gz".into(),
        uid: Some(812),
        gid: Some(813),
    }
}

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/emit/snapshots")
}

/// Every rendered file for `ctx`, named `<label>.<flavour>.<file>`.
fn rendered(label: &str, ctx: &ServiceContext) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for kind in ServiceKind::ALL {
        let script = render(kind, ctx, None).unwrap_or_else(|e| panic!("{kind} script: {e:?}"));
        files.push((
            format!("{label}.{kind}.{}", kind.file_name(&ctx.name)),
            script,
        ));
        let notes = install_notes(kind, ctx).unwrap_or_else(|e| panic!("{kind} INSTALL: {e:?}"));
        files.push((format!("{label}.{kind}.INSTALL"), notes));
    }
    let plist = plist_fragment(ctx).unwrap_or_else(|e| panic!("PLIST: {e:?}"));
    files.push((format!("{label}.openbsd.PLIST"), plist));
    files
}

#[test]
fn rendered_files_match_their_snapshots() {
    let dir = snapshot_dir();
    let bless = std::env::var_os("JAILPACK_BLESS").is_some();
    let mut stale = Vec::new();
    for (label, ctx) in [("demo", demo()), ("everything", everything())] {
        for (file, text) in rendered(label, &ctx) {
            let path = dir.join(&file);
            if bless {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(expected) if expected == text => {}
                Ok(expected) => {
                    let first = expected
                        .lines()
                        .zip(text.lines())
                        .position(|(a, b)| a != b)
                        .unwrap_or(expected.lines().count().min(text.lines().count()));
                    stale.push(format!(
                        "{file}: first difference at line {}:\n  snapshot: {:?}\n  rendered: {:?}",
                        first + 1,
                        expected.lines().nth(first).unwrap_or("<end>"),
                        text.lines().nth(first).unwrap_or("<end>")
                    ));
                }
                Err(e) => stale.push(format!("{file}: {e}")),
            }
        }
    }
    assert!(
        stale.is_empty(),
        "rendered files differ from src/emit/snapshots/ (JAILPACK_BLESS=1 regenerates them):\n{}",
        stale.join("\n")
    );
}
