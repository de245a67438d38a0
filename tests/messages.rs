//! `--message-format json`: every stdout line is a JSON object a release
//! job can read — the closure, each artifact with its digest, an error with
//! its kind, path and help — and the human lines stay on stderr.

use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{cargo_xtask_jail, scratch, xtask_jail};

fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn a_pipeline_reads_the_closure_and_every_artifact_from_stdout() {
    let out = scratch("messages");
    let output = cargo_xtask_jail(&out, &["--message-format", "json"]);
    assert!(output.status.success());
    let messages = lines(&output.stdout);
    let reasons: Vec<&str> = messages
        .iter()
        .map(|m| m["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.first(), Some(&"closure-resolved"));
    assert_eq!(reasons.last(), Some(&"finished"));
    assert_eq!(messages.last().unwrap()["success"], true);
    let closure = &messages[0];
    assert_eq!(closure["jail_root"], "/var/jail/daytimed");
    assert!(
        closure["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["role"] == "executable")
    );
    let artifacts: Vec<&Value> = messages
        .iter()
        .filter(|m| m["reason"] == "artifact")
        .collect();
    let kinds: Vec<&str> = artifacts
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "archive",
        "service",
        "install-notes",
        "manifest",
        "checksum",
    ] {
        assert!(kinds.contains(&kind), "no {kind} among {kinds:?}");
    }
    for artifact in &artifacts {
        let path = Path::new(artifact["path"].as_str().unwrap());
        assert!(path.is_absolute() && path.starts_with(&out), "{artifact}");
        let digest: String = Sha256::digest(std::fs::read(path).unwrap())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(artifact["sha256"], digest.as_str(), "{artifact}");
        assert!(artifact["target"].as_str().unwrap().contains("linux"));
    }
    // The human lines are still there, on stderr.
    assert!(String::from_utf8_lossy(&output.stderr).contains("Finished"));
}

#[test]
fn an_error_is_a_json_object_with_kind_path_and_help() {
    let dir = scratch("messages-error");
    let script = dir.join("d");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let output = xtask_jail(
        &[
            "--binary",
            script.to_str().unwrap(),
            "--message-format",
            "json",
            "--out-dir",
            dir.join("out").to_str().unwrap(),
        ],
        false,
    );
    assert_eq!(output.status.code(), Some(1));
    let messages = lines(&output.stdout);
    let error = messages
        .iter()
        .find(|m| m["reason"] == "error")
        .expect("an error message");
    assert_eq!(error["kind"], "elf");
    assert_eq!(error["path"], script.to_str().unwrap());
    assert!(
        error["message"].as_str().unwrap().contains("ELF"),
        "{error}"
    );
    assert_eq!(messages.last().unwrap()["success"], false);
    // A command line that cannot be understood exits 2.
    let output = xtask_jail(&["--message-format", "yaml"], false);
    assert_eq!(output.status.code(), Some(2));
    let output = xtask_jail(&["--out-dir", ""], false);
    assert_eq!(output.status.code(), Some(2), "an empty --out-dir");
}
