//! The closure as a tree: each executable, then what it needs, depth
//! first, under the object that first asked for it; a file reached again is
//! marked rather than repeated.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::closure::{Closure, ClosureFile, Role};

/// One line per file, indented by depth, with `describe`'s text after the path.
pub fn lines(closure: &Closure, describe: impl Fn(&ClosureFile) -> String) -> Vec<String> {
    // Each file under the first object that asked for it, in closure order.
    let mut children: HashMap<&Path, Vec<&ClosureFile>> = HashMap::new();
    for file in &closure.files {
        if let Some(parent) = file.needed_by.first() {
            children.entry(parent.as_path()).or_default().push(file);
        }
    }
    let mut tree = Tree {
        children,
        shown: HashSet::new(),
        lines: Vec::new(),
    };
    for root in closure.files.iter().filter(|f| f.role == Role::Executable) {
        tree.walk(root, 0, &describe);
    }
    tree.lines
}

struct Tree<'c> {
    children: HashMap<&'c Path, Vec<&'c ClosureFile>>,
    shown: HashSet<&'c Path>,
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
        let seen = !self.shown.insert(&file.path);
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
            .get(file.path.as_path())
            .cloned()
            .unwrap_or_default();
        for child in children {
            self.walk(child, depth + 1, describe);
        }
    }
}
