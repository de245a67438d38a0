//! The `exclude` globs of a directory source: `*` and `?` within one path
//! component, `**` across components. A glob without `/` matches a name at
//! any depth (`*.a`), as .gitignore does; one with `/` matches the whole
//! path relative to the source (`doc/**`).

use std::path::Path;

/// Whether `relative` (a path inside the source) matches `glob`.
pub(super) fn matches(glob: &str, relative: &Path) -> bool {
    let path = relative.to_string_lossy();
    if glob.contains('/') {
        let glob = glob.trim_start_matches('/');
        return wild(glob.as_bytes(), path.as_bytes());
    }
    relative
        .components()
        .any(|c| wild(glob.as_bytes(), c.as_os_str().as_encoded_bytes()))
}

/// `**` may cross `/`, `*` and `?` may not. Recursive: globs and paths
/// are short, and each star tries each split once.
fn wild(glob: &[u8], text: &[u8]) -> bool {
    if let Some(rest) = glob.strip_prefix(b"**") {
        // `**/` also matches no directory at all.
        let no_dir = rest.strip_prefix(b"/");
        return (0..=text.len())
            .any(|i| wild(rest, &text[i..]) || no_dir.is_some_and(|r| wild(r, &text[i..])));
    }
    match glob.first() {
        None => text.is_empty(),
        Some(b'*') => {
            let within = text.iter().position(|&c| c == b'/').unwrap_or(text.len());
            (0..=within).any(|i| wild(&glob[1..], &text[i..]))
        }
        Some(b'?') => text.first().is_some_and(|&c| c != b'/') && wild(&glob[1..], &text[1..]),
        Some(&c) => text.first() == Some(&c) && wild(&glob[1..], &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_anywhere_paths_from_the_top() {
        let yes = |g: &str, p: &str| assert!(matches(g, Path::new(p)), "{g} {p}");
        let no = |g: &str, p: &str| assert!(!matches(g, Path::new(p)), "{g} {p}");
        yes("*.a", "libx.a");
        yes("*.a", "sub/dir/libx.a");
        no("*.a", "libx.so");
        yes("doc/**", "doc/a/b.txt");
        no("doc/**", "src/doc/a");
        yes("**/*.pyc", "a/b/c.pyc");
        yes("**/*.pyc", "c.pyc");
        no("lib/*.so", "lib/sub/x.so");
        yes("lib/*.so", "lib/x.so");
        yes("modul?", "module");
        no("mod", "module");
    }
}
