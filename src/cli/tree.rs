//! The closure as a tree: each executable, then what it needs, depth
//! first, under the object that first asked for it; a file reached again is
//! marked rather than repeated.

use std::ffi::OsStr;

use rustc_hash::FxHashMap;

use crate::closure::{Closure, ClosureFile, Role};

/// One line per file, indented by depth, with `describe`'s text after the path.
pub fn lines(closure: &Closure, describe: impl Fn(&ClosureFile) -> String) -> Vec<String> {
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
    let mut tree = Tree {
        files,
        children: &children,
        shown: vec![false; files.len()],
        lines: Vec::with_capacity(files.len()),
    };
    for (i, _) in (files.iter().enumerate()).filter(|(_, f)| f.role == Role::Executable) {
        tree.walk(i, 0, &describe);
    }
    tree.lines
}

struct Tree<'c> {
    files: &'c [ClosureFile],
    children: &'c [Vec<usize>],
    shown: Vec<bool>,
    lines: Vec<String>,
}

impl Tree<'_> {
    fn walk(&mut self, index: usize, depth: usize, describe: &impl Fn(&ClosureFile) -> String) {
        let file = &self.files[index];
        let seen = std::mem::replace(&mut self.shown[index], true);
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
        for &child in &self.children[index] {
            self.walk(child, depth + 1, describe);
        }
    }
}

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
        let lines = lines(&closure, |f| format!(" {:?}", f.role));
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
