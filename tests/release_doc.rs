//! docs/release.md's workflow, run here: the `run:` lines of its steps, in
//! order, read from the document itself so that it cannot drift from what
//! jailpack does. Steps only GitHub can run are left out and named: actions
//! (`uses:`) and the upload (`gh`, which needs the release and a token).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{REPO, both, host_triple, is_root, scratch};

/// One step of the workflow's job.
#[derive(Debug)]
struct Step {
    name: String,
    uses: Option<String>,
    run: Option<String>,
}

/// The first fenced yaml block of `markdown` that has steps: the workflow.
fn workflow(markdown: &str) -> String {
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```yaml" {
            continue;
        }
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        if block.iter().any(|l| l.trim() == "steps:") {
            return block.join("\n");
        }
    }
    panic!("docs/release.md has no ```yaml block with steps");
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The steps under `steps:`, with `name`, `uses` and `run` (a `|` block
/// scalar dedented, or a plain one-line value). Enough YAML for a workflow
/// written as GitHub's documentation writes them.
fn steps(workflow: &str) -> Vec<Step> {
    let lines: Vec<&str> = workflow.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == "steps:")
        .expect("steps:");
    let mut steps: Vec<Step> = Vec::new();
    let mut step_indent = None;
    let mut i = start + 1;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line.trim().is_empty() {
            continue;
        }
        let at = indent(line);
        let step_at = *step_indent.get_or_insert(at);
        if at < step_at {
            break;
        }
        // A key of the step: the first one follows the "- " of a new step.
        let (key_at, text) = if at == step_at {
            let text = line
                .trim_start()
                .strip_prefix("- ")
                .expect("a step starts with -");
            steps.push(Step {
                name: String::new(),
                uses: None,
                run: None,
            });
            (at + 2, text)
        } else if at == step_at + 2 {
            (at, line.trim_start())
        } else {
            continue; // nested under `with:` and the like
        };
        let step = steps.last_mut().unwrap();
        let Some((key, value)) = text.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "name" => step.name = value.to_string(),
            "uses" => step.uses = Some(value.to_string()),
            "run" if value == "|" => {
                let mut block = Vec::new();
                while i < lines.len() && (lines[i].trim().is_empty() || indent(lines[i]) > key_at) {
                    block.push(lines[i]);
                    i += 1;
                }
                let body_at = block
                    .iter()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| indent(l))
                    .min()
                    .expect("a run block with lines");
                let text: Vec<&str> = block
                    .iter()
                    .map(|l| l.get(body_at..).unwrap_or(""))
                    .collect();
                step.run = Some(text.join("\n").trim_end().to_string() + "\n");
            }
            "run" => step.run = Some(format!("{value}\n")),
            _ => {}
        }
    }
    steps
}

/// The run line that calls GitHub's CLI: it needs the release and a token.
fn github_only(run: &str) -> bool {
    run.lines().any(|l| l.trim_start().starts_with("gh "))
}

#[test]
fn the_workflow_parser_reads_names_actions_and_run_blocks() {
    let yaml = "jobs:\n  j:\n    steps:\n      - uses: actions/checkout@v4\n\n      \
                - uses: x/y@v1\n        with:\n          run: not-a-step-key\n      \
                - name: Two lines\n        run: |\n          echo \"a: b\"\n\n            \
                indented\n      - name: One\n        run: echo one\n    other: 1\n";
    let steps = steps(yaml);
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["", "", "Two lines", "One"]);
    assert_eq!(steps[1].uses.as_deref(), Some("x/y@v1"));
    assert_eq!(steps[1].run, None);
    assert_eq!(
        steps[2].run.as_deref(),
        Some("echo \"a: b\"\n\n  indented\n")
    );
    assert_eq!(steps[3].run.as_deref(), Some("echo one\n"));
}

#[test]
fn the_release_workflow_in_docs_runs_here_step_by_step() {
    let doc = std::fs::read_to_string(Path::new(REPO).join("docs/release.md")).unwrap();
    let steps = steps(&workflow(&doc));

    // The document's shape: build, verify, gather with jq, upload, in order.
    let position = |needle: &str| {
        steps
            .iter()
            .position(|s| s.run.as_deref().is_some_and(|r| r.contains(needle)))
            .unwrap_or_else(|| panic!("no step runs {needle:?}: {steps:#?}"))
    };
    let order = [
        position("cargo xtask jail --locked --target"),
        position("jail verify"),
        position("jq -r 'select(.reason == \"artifact\") "),
        position("gh release upload"),
    ];
    assert!(order.is_sorted(), "steps out of order: {order:?}");

    let runner_temp = scratch("release-doc");
    let triple = host_triple();
    // As root, sudo is only a way to say so (and may not be installed).
    let bin = scratch("release-doc-bin");
    let mut path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .collect::<Vec<PathBuf>>();
    if let Some(cargo) = std::env::var_os("CARGO") {
        path.insert(0, Path::new(&cargo).parent().unwrap().to_path_buf());
    }
    let root = is_root();
    if root {
        use std::os::unix::fs::PermissionsExt;
        let sudo = bin.join("sudo");
        std::fs::write(&sudo, "#!/bin/sh\nexec \"$@\"\n").unwrap();
        std::fs::set_permissions(&sudo, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.insert(0, bin);
    }
    let path = std::env::join_paths(path).unwrap();

    for (number, step) in steps.iter().enumerate() {
        let Some(run) = &step.run else {
            eprintln!(
                "release doc: step {number} is GitHub's action {:?}",
                step.uses
            );
            continue;
        };
        assert!(
            !run.contains("${{"),
            "step {:?} uses a GitHub expression; give it to the job's env",
            step.name
        );
        if github_only(run) {
            eprintln!("release doc: step {:?} runs on GitHub only", step.name);
            continue;
        }
        if run.contains("sudo ") && !root {
            eprintln!(
                "SKIPPED release doc step {:?}: needs root (CI runs as root)",
                step.name
            );
            continue;
        }
        let script = runner_temp.join(format!("step-{number}.sh"));
        std::fs::write(&script, run).unwrap();
        // GitHub's `shell: bash`, in the checkout, with the job's env.
        let output = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .current_dir(REPO)
            .env("PATH", &path)
            .env("TARGET", &triple)
            .env("TAG", "v0.1.0")
            .env("RUNNER_TEMP", &runner_temp)
            // The end-to-end tests' target directory: xtask is built there.
            .env("CARGO_TARGET_DIR", Path::new(REPO).join("target/e2e"))
            .env_remove("SOURCE_DATE_EPOCH")
            .output()
            .expect("cannot run bash");
        assert!(
            output.status.success(),
            "step {:?} failed:\n{run}\n{}",
            step.name,
            both(&output)
        );
        eprintln!("release doc: step {:?} passed", step.name);
    }

    let messages = std::fs::read_to_string(runner_temp.join("jail.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(messages.lines().last().unwrap()).unwrap();
    assert_eq!(last["success"], true, "{messages}");
    let assets = runner_temp.join("assets");
    let names: BTreeSet<String> = std::fs::read_dir(&assets)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let base = format!("daytimed-0.1.0-{triple}");
    let expected: BTreeSet<String> = [
        format!("{base}.tar.gz"),
        format!("{base}.tar.gz.sha256"),
        format!("{base}.json"),
        format!("{base}.json.sha256"),
        format!("{base}.cdx.json"),
        format!("{base}.cdx.json.sha256"),
        format!("{base}.systemd.daytimed.service"),
        format!("{base}.systemd.INSTALL"),
    ]
    .into();
    assert_eq!(names, expected);
    // The checksums name the assets as attached.
    let output = Command::new("sha256sum")
        .arg("-c")
        .args([
            format!("{base}.tar.gz.sha256"),
            format!("{base}.json.sha256"),
            format!("{base}.cdx.json.sha256"),
        ])
        .current_dir(&assets)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", both(&output));
}
