//! The closure as a tree: each executable, then what it needs, depth
//! first, under the object that first asked for it; a file reached again is
//! marked rather than repeated.

use std::ffi::OsStr;

use rustc_hash::FxHashMap;

use crate::closure::{Closure, ClosureFile, Role};

/// Each file in the tree's order, with its depth and whether it was shown
/// already (then its children are not visited again).
pub fn visit(closure: &Closure, mut line: impl FnMut(usize, &ClosureFile, bool)) {
    let files = &closure.files;
    // Files by their place in the closure: the paths are hashed once, to
    // find each file's first asker, and the walk below hashes nothing.
    let place: FxHashMap<&OsStr, usize> = (files.iter().enumerate())
        .map(|(i, file)| (file.path.as_os_str(), i))
        .collect();
    // Each file under the first object that asked for it, in closure order.
    let mut children = vec![Vec::new(); files.len()];
    for (i, file) in files.iter().enumerate() {
        let asker = file.needed_by.first();
        if let Some(&parent) = asker.and_then(|p| place.get(p.as_os_str())) {
            children[parent].push(i);
        }
    }
    let mut shown = vec![false; files.len()];
    for (i, _) in (files.iter().enumerate()).filter(|(_, f)| f.role == Role::Executable) {
        walk(files, &children, &mut shown, i, 0, &mut line);
    }
}

fn walk(
    files: &[ClosureFile],
    children: &[Vec<usize>],
    shown: &mut [bool],
    index: usize,
    depth: usize,
    line: &mut impl FnMut(usize, &ClosureFile, bool),
) {
    let seen = std::mem::replace(&mut shown[index], true);
    line(depth, &files[index], seen);
    if !seen {
        for &child in &children[index] {
            walk(files, children, shown, child, depth + 1, line);
        }
    }
}

/// The indentation and path that start a file's line.
pub fn indented(depth: usize, file: &ClosureFile) -> String {
    let mut line = "    ".repeat(depth);
    line.push_str(&file.path.to_string_lossy());
    line
}

/// What ends the line of a file shown already.
pub const SEEN: &str = " (see above)";

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::closure::elf::Class;
    use crate::closure::target::{Loader, Os, Target};

    fn file(path: &str, role: Role, needed_by: &[&str]) -> ClosureFile {
        ClosureFile {
            path: path.into(),
            source: path.into(),
            role,
            needed_by: needed_by.iter().map(PathBuf::from).collect(),
            found: String::new(),
            moved_from: None,
            versions: Default::default(),
        }
    }

    #[test]
    fn each_file_is_shown_once_under_its_first_asker() {
        let files = vec![
            file("/bin/a", Role::Executable, &[]),
            // An executable another one also needs: a root, and reached again.
            file("/bin/b", Role::Executable, &["/lib/libx.so"]),
            file("/lib/libx.so", Role::Library, &["/bin/a", "/bin/b"]),
            file("/lib/liby.so", Role::Library, &["/lib/libx.so", "/bin/b"]),
        ];
        let closure = Closure {
            target: Target {
                os: Os::Linux,
                loader: Loader::Glibc,
                class: Class::Elf64,
                little_endian: true,
                machine: 62,
            },
            files,
            links: Vec::new(),
            left_out: Vec::new(),
        };
        let mut lines = Vec::new();
        visit(&closure, |depth, file, seen| {
            let end = if seen { SEEN } else { "" };
            lines.push(format!("{} {:?}{end}", indented(depth, file), file.role));
        });
        assert_eq!(
            lines,
            [
                "/bin/a Executable",
                "    /lib/libx.so Library",
                "        /bin/b Executable",
                "        /lib/liby.so Library",
                "/bin/b Executable (see above)",
            ]
        );
    }
}
