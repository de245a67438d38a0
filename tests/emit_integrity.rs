//! What emit writes is what the plan recorded, or nothing: a source that
//! changes between the plan and the archive fails the run and leaves no
//! artifact at a final path.

use serde_json::json;

use crate::hardening::{linux, package, plan_with};

#[test]
fn a_source_changed_after_the_plan_fails_the_run_and_writes_nothing() {
    // Regression: the archive read each file again after the plan had
    // hashed it into the jail's own list, so the list could lie.
    let dir = package("emit-changed");
    std::fs::write(dir.join("conf"), b"as planned\n").unwrap();
    let plan = plan_with(
        &dir,
        json!({ "files": [{ "source": "conf", "dest": "/etc/d.conf" }] }),
        linux(),
        None,
        Vec::new(),
    )
    .unwrap();
    std::fs::write(dir.join("conf"), b"changed!!!\n").unwrap();
    let out = dir.join("out");
    let err = jailpack::emit::emit(&plan, &out).unwrap_err();
    assert!(
        matches!(&err, jailpack::Error::SourceChanged { path } if path.ends_with("conf")),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}
