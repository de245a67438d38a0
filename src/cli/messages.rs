//! `--message-format json`, cargo's convention: one JSON object a line on
//! stdout, each with a `reason` — `closure-resolved`, `artifact`, `error`,
//! and last `finished` — while the human lines go to stderr as always.

use std::path::Path;

use serde_json::{Value, json};

use crate::emit::Emitted;
use crate::error::Error;
use crate::plan::Plan;

/// The human lines only, or JSON lines on stdout too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MessageFormat {
    #[default]
    Human,
    Json,
}

impl MessageFormat {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "human" => Some(MessageFormat::Human),
            "json" => Some(MessageFormat::Json),
            _ => None,
        }
    }

    fn emit(self, message: Value) {
        if self == MessageFormat::Json {
            println!("{message}");
        }
    }

    /// What the closure holds: the target and each file.
    pub fn closure(self, plan: &Plan) {
        let files: Vec<Value> = plan
            .closure
            .files
            .iter()
            .map(|f| json!({ "path": f.path, "source": f.source, "role": f.role }))
            .collect();
        self.emit(json!({
            "reason": "closure-resolved",
            "name": plan.name,
            "target": plan.triple,
            "os": plan.target.os,
            "loader": plan.target.loader,
            "jail_root": plan.jail_root,
            "files": files,
        }));
    }

    /// Each file written, with its absolute path.
    pub fn artifacts(self, plan: &Plan, emitted: &Emitted) {
        for written in &emitted.written {
            self.emit(json!({
                "reason": "artifact",
                "path": absolute(&emitted.out_dir.join(&written.file)),
                "kind": written.kind,
                "sha256": written.sha256,
                "target": plan.triple,
                "jail_root": plan.jail_root,
            }));
        }
    }

    pub fn error(self, error: &Error) {
        let (message, help) = error.message_and_help();
        self.emit(json!({
            "reason": "error",
            "kind": error.kind(),
            "path": error.path(),
            "message": message,
            "help": help,
        }));
    }

    pub fn finished(self, success: bool) {
        self.emit(json!({ "reason": "finished", "success": success }));
    }
}

fn absolute(path: &Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
