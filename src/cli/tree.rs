//! The closure as a tree: each executable, then what it needs, depth
//! first, under the object that first asked for it; a file reached again is
//! marked rather than repeated.

use std::path::Path;

use crate::closure::{Closure, ClosureFile, Role};

/// One line per file, indented by depth, with `describe`'s text after the path.
pub fn lines(closure: &Closure, describe: impl Fn(&ClosureFile) -> String) -> Vec<String> {
    let mut lines = Vec::new();
    let mut shown: Vec<&Path> = Vec::new();
    for root in closure.files.iter().filter(|f| f.role == Role::Executable) {
        walk(closure, root, 0, &describe, &mut shown, &mut lines);
    }
    lines
}

fn walk<'c>(
    closure: &'c Closure,
    file: &'c ClosureFile,
    depth: usize,
    describe: &impl Fn(&ClosureFile) -> String,
    shown: &mut Vec<&'c Path>,
    lines: &mut Vec<String>,
) {
    let indent = "    ".repeat(depth);
    let seen = shown.contains(&file.path.as_path());
    let again = if seen { " (see above)" } else { "" };
    lines.push(format!(
        "{indent}{}{}{again}",
        file.path.display(),
        describe(file)
    ));
    if seen {
        return;
    }
    shown.push(&file.path);
    for child in closure
        .files
        .iter()
        .filter(|f| f.needed_by.first() == Some(&file.path))
    {
        walk(closure, child, depth + 1, describe, shown, lines);
    }
}
