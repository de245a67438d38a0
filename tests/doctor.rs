//! `cargo xtask jail doctor`: with /etc/hosts taken out of the demo's jail,
//! the traced run names /etc/hosts and the settings line that puts it back
//! (and, with it there, does not); `--probe` lists the demo's runtime files
//! before any jail exists.

use std::process::Command;

use crate::support::{REPO, both, free_port, is_root, repacked_demo, xtask_binary, xtask_jail};

const HOSTS_LINE: &str = "  /etc/hosts (ENOENT";

#[test]
fn doctor_names_the_missing_hosts_file_and_the_line_that_adds_it() {
    let broken = repacked_demo("doctor-no-hosts", |root| {
        std::fs::remove_file(root.join("etc/hosts")).unwrap();
    });
    let intact = repacked_demo("doctor-intact", |_| {});
    let as_users: &[bool] = if is_root() { &[false, true] } else { &[true] };
    for &as_nobody in as_users {
        let output = xtask_jail(
            &["doctor", broken.to_str().unwrap(), "--for", "2"],
            as_nobody,
        );
        let report = both(&output);
        assert!(!output.status.success(), "{report}");
        assert!(report.contains("cannot resolve listen address"), "{report}");
        let at = report
            .find(HOSTS_LINE)
            .unwrap_or_else(|| panic!("{report}"));
        let advice = &report[at..];
        assert!(
            advice.contains(r#"add: presets = ["resolver"]"#),
            "{report}"
        );
        assert!(
            advice.contains(r#"or: files = [{ source = "/etc/hosts" }]"#),
            "{report}"
        );
        // Only what was never found: not the loader's search for libc.
        assert!(!report.contains("libc.so.6 (ENOENT"), "{report}");
        assert!(!report.contains("glibc-hwcaps"), "{report}");
        // Nor chroot(8)'s own user lookups inside the jail before the exec.
        assert!(!report.contains("  /etc/passwd ("), "{report}");

        let port = format!("localhost:{}", free_port());
        let output = xtask_jail(
            &[
                "doctor",
                intact.to_str().unwrap(),
                "--for",
                "2",
                "--arg",
                "--listen",
                "--arg",
                &port,
            ],
            as_nobody,
        );
        let report = both(&output);
        assert!(report.contains("PASS"), "{report}");
        assert!(!report.contains(HOSTS_LINE), "{report}");
    }
}

#[test]
fn probe_lists_the_runtime_files_before_any_jail_exists() {
    // Builds the demo as `cargo xtask jail` does, in the tests' target dir.
    let port = format!("localhost:{}", free_port());
    let output = Command::new(xtask_binary())
        .current_dir(REPO)
        .env(
            "CARGO_TARGET_DIR",
            std::path::Path::new(REPO).join("target/e2e"),
        )
        .args([
            "jail", "doctor", "--probe", "--locked", "--for", "2", "--", "--listen",
        ])
        .arg(&port)
        .output()
        .unwrap();
    let report = both(&output);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("outside any jail"), "{report}");
    for (file, fix) in [
        ("/etc/hosts", r#"presets = ["resolver"]"#),
        ("/etc/nsswitch.conf", r#"presets = ["resolver"]"#),
        ("/etc/localtime", r#"presets = ["timezone"]"#),
    ] {
        let at = report
            .find(&format!("\n  {file}\n"))
            .unwrap_or_else(|| panic!("{file} not listed:\n{report}"));
        assert!(report[at..].contains(fix), "{file}: {report}");
    }
    // The C library is the ELF closure's, not a runtime file to add.
    assert!(report.contains("in the ELF closure already"), "{report}");
    assert!(
        !report.contains("\n  /lib/x86_64-linux-gnu/libc.so.6\n"),
        "{report}"
    );
}
