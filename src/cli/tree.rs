//! The closure as a tree: each executable, then what it needs, depth
//! first, under the object that first asked for it; a file reached again is
//! marked rather than repeated.

use std::ffi::OsStr;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::closure::{Closure, ClosureFile, Role};

/// One line per file, indented by depth, with `describe`'s text after the path.
pub fn lines(closure: &Closure, describe: impl Fn(&ClosureFile) -> String) -> Vec<String> {
    // Each file under the first object that asked for it, in closure order.
    let mut children: FxHashMap<&OsStr, Vec<&ClosureFile>> = FxHashMap::default();
    for file in &closure.files {
        if let Some(parent) = file.needed_by.first() {
            children.entry(parent.as_os_str()).or_default().push(file);
        }
    }
    let mut tree = Tree {
        children,
        shown: FxHashSet::default(),
        lines: Vec::new(),
    };
    for root in closure.files.iter().filter(|f| f.role == Role::Executable) {
        tree.walk(root, 0, &describe);
    }
    tree.lines
}

struct Tree<'c> {
    children: FxHashMap<&'c OsStr, Vec<&'c ClosureFile>>,
    shown: FxHashSet<&'c OsStr>,
    lines: Vec<String>,
}

impl<'c> Tree<'c> {
    fn walk(
        &mut self,
        file: &'c ClosureFile,
        depth: usize,
        describe: &impl Fn(&ClosureFile) -> String,
    ) {
        let indent = "    ".repeat(depth);
        let seen = !self.shown.insert(file.path.as_os_str());
        let again = if seen { " (see above)" } else { "" };
        self.lines.push(format!(
            "{indent}{}{}{again}",
            file.path.display(),
            describe(file)
        ));
        if seen {
            return;
        }
        let children = self
            .children
            .get(file.path.as_os_str())
            .cloned()
            .unwrap_or_default();
        for child in children {
            self.walk(child, depth + 1, describe);
        }
    }
}
