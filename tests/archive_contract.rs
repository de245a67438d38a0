//! The output contract of DESIGN.md, checked on the real artifacts of
//! `cargo xtask jail` with real readers: the `tar` crate, GNU tar,
//! Python's strict `tarfile` data filter and `sha256sum`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::support::{
    ArchivedEntry, REPO, archive_file_entries, cargo_xtask_jail, demo_jail, host_triple, scratch,
};

const JAIL_ROOT: &str = "var/jail/daytimed";

#[test]
fn entries_are_relative_sorted_root_owned_and_inside_the_jail() {
    let entries = archive_file_entries(&demo_jail().archive);
    assert_eq!(
        entries[0].path,
        Path::new(JAIL_ROOT),
        "the jail root comes first"
    );
    assert!(entries[0].kind.is_dir());
    let paths: Vec<&PathBuf> = entries.iter().map(|e| &e.path).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "entries are sorted");
    for entry in &entries {
        let shown = entry.path.display();
        assert!(entry.path.is_relative(), "{shown} is absolute");
        assert!(
            entry
                .path
                .components()
                .all(|c| matches!(c, Component::Normal(_))),
            "{shown} has . or .."
        );
        assert!(
            entry.path.starts_with(JAIL_ROOT),
            "{shown} is outside the jail root (var/ and var/jail/ must not be touched)"
        );
        assert_eq!(
            (
                entry.uid,
                entry.gid,
                entry.user.as_str(),
                entry.group.as_str()
            ),
            (0, 0, "root", "root"),
            "{shown}"
        );
        assert_eq!(
            entry.mtime,
            jailpack::plan::DEFAULT_MTIME,
            "{shown}: mtime without SOURCE_DATE_EPOCH"
        );
        assert_eq!(
            entry.mode & 0o7000,
            0,
            "{shown} is setuid, setgid or sticky"
        );
        let world_writable = entry.mode & 0o002 != 0;
        let allowed = entry.kind.is_character_special() && entry.path.ends_with("dev/null");
        assert!(
            !world_writable || allowed || entry.kind.is_symlink(),
            "{shown} is world-writable"
        );
    }
}

#[test]
fn symlinks_are_relative_and_resolve_inside_the_jail() {
    let entries = archive_file_entries(&demo_jail().archive);
    let links: Vec<&ArchivedEntry> = entries.iter().filter(|e| e.kind.is_symlink()).collect();
    assert!(
        links.iter().any(|l| l.path.ends_with("lib64")),
        "the merged-/usr link /lib64 is in the jail: {links:?}"
    );
    for link in links {
        let target = link.link.as_ref().unwrap();
        assert!(
            target.is_relative(),
            "{} -> {}",
            link.path.display(),
            target.display()
        );
        let mut depth = link.path.components().count() as i64 - 1;
        for component in target.components() {
            depth += if component == Component::ParentDir {
                -1
            } else {
                1
            };
            assert!(
                depth >= JAIL_ROOT.split('/').count() as i64,
                "{} -> {} leaves the jail",
                link.path.display(),
                target.display()
            );
        }
    }
}

#[test]
fn device_nodes_carry_linux_numbers() {
    let entries = archive_file_entries(&demo_jail().archive);
    let device = |name: &str| {
        let path = Path::new(JAIL_ROOT).join("dev").join(name);
        let entry = entries.iter().find(|e| e.path == path).unwrap();
        assert!(entry.kind.is_character_special(), "{name}");
        (entry.device.unwrap(), entry.mode)
    };
    assert_eq!(device("null"), ((1, 3), 0o666));
    assert_eq!(device("urandom"), ((1, 9), 0o644));
}

#[test]
fn strict_extractors_accept_it_and_the_interpreter_is_at_its_pt_interp_path() {
    let dest = scratch("python-data-filter");
    // Python's data filter refuses device nodes by design; everything else
    // must pass it unchanged in kind and path.
    let script = r#"
import sys, tarfile
archive, dest = sys.argv[1], sys.argv[2]
with tarfile.open(archive) as tar:
    members = [m for m in tar.getmembers() if not (m.ischr() or m.isblk())]
    for m in members:
        tarfile.data_filter(m, dest)
    tar.extractall(dest, members=members, filter="data")
print(len(members))
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&demo_jail().archive)
        .arg(&dest)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tarfile's data filter refused the archive: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let jail = dest.join(JAIL_ROOT);
    let interpreter = jail.join("lib64/ld-linux-x86-64.so.2");
    assert!(
        std::fs::metadata(&interpreter).is_ok_and(|m| m.is_file()),
        "{} does not lead to a file",
        interpreter.display()
    );
    assert!(jail.join("usr/local/sbin/daytimed").is_file());
    assert!(jail.join("etc/localtime").is_file());
    assert!(jail.join("etc/hosts").is_file());
}

#[test]
fn gnu_tar_lists_every_entry_under_the_jail_root() {
    let output = Command::new("tar")
        .arg("-tzf")
        .arg(&demo_jail().archive)
        .output()
        .unwrap();
    assert!(output.status.success());
    let listing = String::from_utf8(output.stdout).unwrap();
    assert!(listing.lines().count() > 10, "{listing}");
    assert!(
        listing.lines().all(|l| l.starts_with(JAIL_ROOT)),
        "{listing}"
    );
}

#[test]
fn checksums_and_manifest_describe_the_artifacts() {
    let jail = demo_jail();
    let base = format!("daytimed-0.1.0-{}", host_triple());
    for file in [
        format!("{base}.tar.gz"),
        format!("{base}.json"),
        "systemd/daytimed.service".to_string(),
    ] {
        let path = jail.out_dir.join(&file);
        let sums = format!("{}.sha256", path.display());
        let status = Command::new("sha256sum")
            .arg("-c")
            .arg(&sums)
            .current_dir(path.parent().unwrap())
            .output()
            .unwrap();
        assert!(status.status.success(), "sha256sum -c {sums}: {status:?}");
        assert!(
            jail.stderr.contains(&path.display().to_string()),
            "the run names {file} among what it wrote:\n{}",
            jail.stderr
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(jail.out_dir.join(format!("{base}.json"))).unwrap())
            .unwrap();
    let artifacts = manifest["artifacts"].as_array().unwrap();
    for artifact in artifacts {
        let file = jail.out_dir.join(artifact["file"].as_str().unwrap());
        let mut bytes = Vec::new();
        std::fs::File::open(&file)
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        let sums = std::fs::read_to_string(format!("{}.sha256", file.display())).unwrap();
        assert!(
            sums.starts_with(artifact["sha256"].as_str().unwrap()),
            "{sums}"
        );
    }
    let files: BTreeMap<&str, &serde_json::Value> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f))
        .collect();
    let exec = files["/usr/local/sbin/daytimed"];
    assert_eq!(exec["role"], "executable");
    assert!(
        exec["source"]
            .as_str()
            .unwrap()
            .ends_with("release/daytimed")
    );
    let libc = files
        .iter()
        .find(|(path, _)| path.ends_with("/libc.so.6"))
        .map(|(_, f)| *f)
        .expect("libc in the manifest");
    assert!(
        libc["needed_by"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "/usr/local/sbin/daytimed"),
        "{libc}"
    );
    assert_eq!(files["/etc/hosts"]["needed_by"][0], "files[1]");
    // The zone file under its name, and /etc/localtime a relative link to it.
    let zone = format!("/usr/share/zoneinfo/{}", crate::support::ZONE);
    assert_eq!(files[zone.as_str()]["needed_by"][0], "timezone");
    let localtime = manifest["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["path"] == "/etc/localtime")
        .expect("/etc/localtime is a link");
    assert_eq!(localtime["target"], format!("..{zone}"));
    assert_eq!(manifest["jail_root"], "/var/jail/daytimed");
}

#[test]
fn two_runs_give_identical_bytes_and_source_date_epoch_sets_mtimes() {
    let first = demo_jail();
    let again = scratch("again");
    let output = cargo_xtask_jail(&again, &["--timezone", crate::support::ZONE]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut compared = 0;
    for entry in walk(&first.out_dir) {
        let relative = entry.strip_prefix(&first.out_dir).unwrap();
        let other = again.join(relative);
        assert_eq!(
            std::fs::read(&entry).unwrap(),
            std::fs::read(&other).unwrap(),
            "{} differs between two runs",
            relative.display()
        );
        compared += 1;
    }
    assert!(compared >= 6, "only {compared} files compared");

    let dated = scratch("dated");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .current_dir(REPO)
        .env("CARGO_TARGET_DIR", Path::new(REPO).join("target/e2e"))
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["xtask", "jail", "--locked", "--out-dir"])
        .arg(&dated)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let archive = dated.join(first.archive.file_name().unwrap());
    assert!(
        archive_file_entries(&archive)
            .iter()
            .all(|e| e.mtime == 1_700_000_000)
    );
}

#[test]
fn openbsd_script_on_request_names_the_same_jail_and_user() {
    let out = scratch("openbsd-script");
    let output = cargo_xtask_jail(&out, &["--service", "openbsd", "--service", "systemd"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rc = std::fs::read_to_string(out.join("openbsd/daytimed")).unwrap();
    assert!(rc.contains("/var/jail/daytimed"), "{rc}");
    assert!(rc.contains("daemon=\"/usr/local/sbin/daytimed\""), "{rc}");
    let unit = std::fs::read_to_string(out.join("systemd/daytimed.service")).unwrap();
    assert!(unit.contains("RootDirectory=/var/jail/daytimed"), "{unit}");
    assert!(unit.contains("User=daytimed"), "{unit}");
}

#[test]
fn an_unknown_settings_key_is_an_error_naming_key_and_file() {
    let dir = scratch("bad-settings");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"bad\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n\n[package.metadata.jail]\nnmae = \"typo\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    let out = dir.join("out");
    let manifest = dir.join("Cargo.toml");
    let output = cargo_xtask_jail(&out, &["--manifest-path", manifest.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("nmae"), "{stderr}");
    assert!(stderr.contains(&manifest.display().to_string()), "{stderr}");
    assert!(!out.exists(), "a failed run wrote {}", out.display());
}

#[test]
fn an_unwritable_output_directory_fails_cleanly() {
    let dir = scratch("unwritable");
    let blocker = dir.join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let output = cargo_xtask_jail(&blocker.join("out"), &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&blocker).unwrap(),
        "not a directory"
    );
}

/// A copy of this repository's working tree (the files git knows, and new
/// ones it does not ignore), as a second checkout would hold it.
fn checkout_copy(dest: &Path) {
    let listed = Command::new("git")
        .current_dir(REPO)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .expect("git is installed");
    assert!(listed.status.success(), "git ls-files failed");
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = Path::new(std::str::from_utf8(name).unwrap());
        let from = Path::new(REPO).join(name);
        if !from.is_file() {
            continue;
        }
        let to = dest.join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
}

#[test]
fn two_checkouts_under_two_umasks_give_identical_artifacts() {
    // Reproduction: the jail's own file list recorded the absolute path of
    // the build, so the tarball's digest depended on where one cloned.
    let mut outputs = Vec::new();
    for (name, umask) in [("checkout-one", "022"), ("checkout-two/deeper", "077")] {
        let repo = scratch("reproducible").join(name).join("jailpack");
        checkout_copy(&repo);
        let out = repo.join("out");
        let output = Command::new("sh")
            .args(["-c", &format!("umask {umask} && exec \"$0\" \"$@\"")])
            .arg(crate::support::xtask_binary())
            .args(["jail", "--locked", "--timezone", crate::support::ZONE])
            .arg("--manifest-path")
            .arg(repo.join("Cargo.toml"))
            .arg("--out-dir")
            .arg(&out)
            .current_dir(&repo)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("SOURCE_DATE_EPOCH")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        outputs.push((repo, out));
    }
    let (first_repo, first) = &outputs[0];
    let (_, second) = &outputs[1];
    let files = walk(first);
    assert!(files.len() >= 6, "only {} artifacts", files.len());
    for file in files {
        let relative = file.strip_prefix(first).unwrap();
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(
            bytes,
            std::fs::read(second.join(relative)).unwrap(),
            "{} differs between the two checkouts",
            relative.display()
        );
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(first_repo.to_str().unwrap()),
            "{} names the checkout",
            relative.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}
