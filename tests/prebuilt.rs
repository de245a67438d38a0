//! `--binary` (no cargo build) with a settings file, and the `closure`
//! view, through the real front end.

use std::path::Path;
use std::process::Command;

use crate::support::{
    REPO, cargo_xtask_jail, chroot_as_nobody, extract, scratch, skip_without_root,
};

/// `cargo xtask jail closure ARGS...`, in the test target directory.
fn closure_view(args: &[&str]) -> std::process::Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    Command::new(cargo)
        .current_dir(REPO)
        .env("CARGO_TARGET_DIR", Path::new(REPO).join("target/e2e"))
        .args(["xtask", "jail", "closure"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn closure_json_lists_path_source_and_needed_by_for_several_paths() {
    let output = closure_view(&["--json", "/usr/bin/true", "/usr/bin/tar"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let files = json["files"].as_array().unwrap();
    let find = |suffix: &str| {
        files
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(suffix))
            .unwrap_or_else(|| panic!("no {suffix} in {json}"))
    };
    assert_eq!(find("/usr/bin/tar")["role"], "executable");
    let libc = find("/libc.so.6");
    assert!(libc["source"].as_str().unwrap().starts_with('/'));
    let needed_by: Vec<&str> = libc["needed_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        needed_by.contains(&"/usr/bin/true") && needed_by.contains(&"/usr/bin/tar"),
        "{needed_by:?}"
    );
    assert_eq!(json["target"]["os"], "linux");
}

#[test]
fn closure_tree_says_why_each_directory_was_chosen() {
    let sysroot = Path::new(REPO).join("../shared/fixtures/freebsd-14.0-amd64");
    let busybox = sysroot.join("bin/busybox");
    let output = closure_view(&[
        "--sysroot",
        sysroot.to_str().unwrap(),
        busybox.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).unwrap();
    assert!(tree.contains("x86_64-unknown-freebsd"), "{tree}");
    assert!(
        tree.contains("/libexec/ld-elf.so.1") && tree.contains("[PT_INTERP]"),
        "{tree}"
    );
    assert!(
        tree.contains("/lib/libcrypt.so.5") && tree.contains("[default directory /lib]"),
        "{tree}"
    );
}

#[test]
fn a_missing_library_fails_with_its_chain_and_no_artifact() {
    let sysroot = scratch("empty-sysroot");
    let out = sysroot.join("out");
    let output = cargo_xtask_jail(
        &out,
        &[
            "--binary",
            "/usr/bin/true",
            "--sysroot",
            sysroot.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("/lib64/ld-linux-x86-64.so.2 not found"),
        "{stderr}"
    );
    assert!(
        stderr.contains("needed by: /usr/local/sbin/true"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn a_file_that_is_not_elf_is_refused_clearly() {
    let dir = scratch("not-elf");
    let script = dir.join("daemon.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let output = cargo_xtask_jail(&dir.join("out"), &["--binary", script.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("not a usable ELF file") && stderr.contains("daemon.sh"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn settings_file_adds_executables_with_their_closures_and_files() {
    let dir = scratch("prebuilt-settings");
    std::fs::write(dir.join("motd"), "hello from the jail\n").unwrap();
    std::fs::write(
        dir.join("jail.toml"),
        "name = \"catd\"\nexecutables = [\"/usr/bin/cat\"]\nfiles = [{ source = \"motd\", dest = \"/etc/motd\" }]\n",
    )
    .unwrap();
    let out = dir.join("out");
    let settings = dir.join("jail.toml");
    let output = cargo_xtask_jail(
        &out,
        &[
            "--binary",
            "/usr/bin/true",
            "--settings",
            settings.to_str().unwrap(),
            "--version",
            "2.1",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let archive = out.join("catd-2.1-x86_64-unknown-linux-gnu.tar.gz");
    assert!(archive.is_file());
    if skip_without_root("settings_file_adds_executables_with_their_closures_and_files (jail run)")
    {
        return;
    }
    let root = extract(&archive, "catd").join("var/jail/catd");
    let run = chroot_as_nobody(&root, "/usr/bin/cat")
        .arg("/etc/motd")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "hello from the jail\n"
    );
}

#[test]
fn an_unknown_key_in_a_settings_file_names_key_and_file() {
    let dir = scratch("bad-toml");
    let settings = dir.join("jail.toml");
    std::fs::write(&settings, "nmae = \"x\"\n").unwrap();
    let output = cargo_xtask_jail(
        &dir.join("out"),
        &[
            "--binary",
            "/usr/bin/true",
            "--settings",
            settings.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("nmae") && stderr.contains("jail.toml"),
        "{stderr}"
    );
}

#[test]
fn closing_the_output_early_is_no_panic() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    // Far more output than a pipe buffers: a tree for each of 300 names.
    let dir = scratch("many-names");
    let names: Vec<String> = (0..300)
        .map(|i| {
            let link = dir.join(format!("ssh{i}"));
            std::os::unix::fs::symlink("/usr/bin/ssh", &link).unwrap();
            link.display().to_string()
        })
        .collect();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut child = Command::new(cargo)
        .current_dir(REPO)
        .env("CARGO_TARGET_DIR", Path::new(REPO).join("target/e2e"))
        .args(["xtask", "jail", "closure"])
        .args(&names)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line and go away, as `| head -1` does.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("target:"), "{first}");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_fifo_given_as_a_program_is_refused_not_waited_on() {
    // Reproduction: `closure FIFO` blocked for ever in open().
    let dir = scratch("prebuilt-fifo");
    let fifo = dir.join("d");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let fifo = fifo.to_str().unwrap();
    let out = dir.join("out");
    for args in [
        vec!["closure", fifo],
        vec!["--binary", fifo, "--out-dir", out.to_str().unwrap()],
    ] {
        let mut child = Command::new(crate::support::xtask_binary())
            .arg("jail")
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("{args:?} blocked on the FIFO");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert!(!status.success(), "{args:?}");
        assert!(
            stderr.contains("a FIFO, not a regular file"),
            "{args:?}: {stderr}"
        );
    }
    assert!(!out.exists(), "artifacts written for a FIFO");
}
