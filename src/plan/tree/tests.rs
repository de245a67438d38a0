use std::os::unix::fs::{PermissionsExt, symlink};

use super::*;

fn setting(source: &Path) -> FileSetting {
    FileSetting {
        source: source.display().to_string(),
        dest: None,
        mode: None,
        dir_mode: None,
        exclude: Vec::new(),
        owner: None,
        allow_secret: false,
        allow_setid: false,
    }
}

fn located(dir: &Path) -> Located {
    Located {
        in_root: Some(dir.to_path_buf()),
        host: dir.to_path_buf(),
        is_dir: true,
    }
}

#[test]
fn a_tree_keeps_inner_links_follows_outer_files_and_excludes_globs() {
    let top = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let at = |p: &str| top.path().join(p);
    std::fs::create_dir_all(at("sub/doc")).unwrap();
    std::fs::write(at("a.so"), b"x").unwrap();
    std::fs::set_permissions(at("a.so"), std::fs::Permissions::from_mode(0o775)).unwrap();
    std::fs::write(at("sub/doc/readme"), b"x").unwrap();
    std::fs::write(at("sub/b.a"), b"x").unwrap();
    std::fs::write(outside.path().join("real.conf"), b"x").unwrap();
    symlink("../a.so", at("sub/a-link.so")).unwrap();
    symlink("../../elsewhere", at("sub/escapes")).unwrap();
    symlink(outside.path().join("real.conf"), at("out.conf")).unwrap();
    symlink(outside.path(), at("outdir")).unwrap();
    let mut file = setting(top.path());
    file.exclude = vec!["*.a".into(), "sub/doc/**".into()];
    let (items, warnings) = scan("files[0]", &file, &located(top.path()), &FsRoot::host()).unwrap();
    let rels: Vec<String> = items
        .iter()
        .map(|i| item_path(i).display().to_string())
        .collect();
    assert_eq!(
        rels,
        ["a.so", "out.conf", "sub", "sub/a-link.so", "sub/doc"],
        "{items:?}"
    );
    assert!(
        matches!(&items[0], Item::File { mode: 0o755, .. }),
        "{items:?}"
    );
    assert!(
        matches!(&items[1], Item::File { host, .. } if *host == outside.path().join("real.conf")),
        "{items:?}"
    );
    assert!(matches!(&items[3], Item::Link { target, .. } if target == Path::new("../a.so")));
    // The escaping link to nothing and the link to a directory are left out, said so.
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings.iter().any(|w| w.contains("outdir")),
        "{warnings:?}"
    );
}

#[test]
fn inner_links_are_told_from_escaping_ones() {
    assert!(stays_inside(Path::new("a/b"), Path::new("../c")));
    assert!(stays_inside(Path::new("b"), Path::new("c/d")));
    assert!(!stays_inside(Path::new("b"), Path::new("../c")));
    assert!(!stays_inside(Path::new("a/b"), Path::new("/etc/c")));
    assert!(!stays_inside(Path::new("a/b"), Path::new("x/../../../c")));
}
