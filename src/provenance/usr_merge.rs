//! Merged /usr: on Debian 12 `/lib` is a link to `usr/lib`, so the jail's
//! `/usr/lib/x86_64-linux-gnu/libc.so.6` is the file dpkg lists as
//! `/lib/x86_64-linux-gnu/libc.so.6`. A package database names a file by
//! the path its package shipped it under; this gives every name the root
//! knows for one file.

use std::path::{Path, PathBuf};

use crate::closure::root::FsRoot;

/// The top-level directories a merged /usr turns into links to `usr/<dir>`.
const MERGED: [&str; 7] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32"];

/// The directories of [`MERGED`] that are links into `/usr` in `root`.
pub(super) fn merged_dirs(root: &FsRoot) -> Vec<&'static str> {
    MERGED
        .into_iter()
        .filter(|dir| {
            let link = root.host_path(Path::new("/").join(dir).as_path());
            std::fs::read_link(link).is_ok_and(|target| {
                let target = target.to_string_lossy();
                target.trim_start_matches('/').trim_end_matches('/') == format!("usr/{dir}")
            })
        })
        .collect()
}

/// `path` itself, where it leads once its links are followed, and each of
/// those under its other merged-/usr name.
pub(super) fn aliases(root: &FsRoot, merged: &[&str], path: &Path) -> Vec<PathBuf> {
    let mut names = vec![path.to_path_buf()];
    if let Ok(Some(resolved)) = root.resolve(path) {
        names.push(resolved.path);
    }
    let mut more = Vec::new();
    for name in &names {
        for dir in merged {
            let short = Path::new("/").join(dir);
            let long = Path::new("/usr").join(dir);
            if let Ok(rest) = name.strip_prefix(&long) {
                more.push(short.join(rest));
            } else if let Ok(rest) = name.strip_prefix(&short) {
                more.push(long.join(rest));
            }
        }
    }
    names.extend(more);
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_library_has_its_lib_and_usr_lib_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("usr/lib/x")).unwrap();
        std::fs::write(dir.path().join("usr/lib/x/libc.so.6"), "").unwrap();
        std::os::unix::fs::symlink("usr/lib", dir.path().join("lib")).unwrap();
        let root = FsRoot::new(dir.path());
        let merged = merged_dirs(&root);
        assert_eq!(merged, ["lib"]);
        assert_eq!(
            aliases(&root, &merged, Path::new("/usr/lib/x/libc.so.6")),
            [
                PathBuf::from("/lib/x/libc.so.6"),
                PathBuf::from("/usr/lib/x/libc.so.6")
            ]
        );
    }
}
