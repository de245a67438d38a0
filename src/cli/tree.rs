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
        children: &children,
        shown: FxHashSet::default(),
        lines: Vec::new(),
    };
    for root in closure.files.iter().filter(|f| f.role == Role::Executable) {
        tree.walk(root, 0, &describe);
    }
    tree.lines
}

struct Tree<'c, 'm> {
    children: &'m FxHashMap<&'c OsStr, Vec<&'c ClosureFile>>,
    shown: FxHashSet<&'c OsStr>,
    lines: Vec<String>,
}

impl<'c> Tree<'c, '_> {
    fn walk(
        &mut self,
        file: &'c ClosureFile,
        depth: usize,
        describe: &impl Fn(&ClosureFile) -> String,
    ) {
        let seen = !self.shown.insert(file.path.as_os_str());
        let mut line = "    ".repeat(depth);
        line.push_str(&file.path.to_string_lossy());
        line.push_str(&describe(file));
        if seen {
            line.push_str(" (see above)");
        }
        self.lines.push(line);
        if seen {
            return;
        }
        let children = self.children.get(file.path.as_os_str());
        for child in children.into_iter().flatten() {
            self.walk(child, depth + 1, describe);
        }
    }
}
