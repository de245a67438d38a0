//! The resolver against the host's real loader (`ldd`) and against sysroots
//! built from the host's own files.

use std::collections::BTreeSet;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

const TRUE: &str = "/usr/bin/true";

fn executable(source: &str) -> Executable {
    Executable {
        source: source.into(),
        jail_path: PathBuf::from("/usr/local/sbin/x"),
    }
}

/// The real paths of what `ldd` says the loader maps, vdso aside.
fn ldd(path: &str) -> BTreeSet<PathBuf> {
    let output = Command::new("ldd").arg(path).output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let mut files = BTreeSet::new();
    for line in text.lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.trim().split(' ').next().unwrap_or(""),
            None => line.trim().split(' ').next().unwrap_or(""),
        };
        if path.starts_with('/') {
            files.insert(std::fs::canonicalize(path).unwrap());
        }
    }
    files
}

#[test]
fn host_binaries_resolve_to_what_the_real_loader_loads() {
    let mut compared = 0;
    for binary in [
        "/usr/bin/true",
        "/usr/bin/tar",
        "/usr/bin/git",
        "/usr/bin/python3",
        "/usr/bin/ssh",
    ] {
        if !Path::new(binary).exists() {
            continue;
        }
        let closure = resolve(&[executable(binary)], &Options::default()).unwrap();
        let ours: BTreeSet<PathBuf> = closure
            .files
            .iter()
            .filter(|f| f.role != Role::Executable)
            .map(|f| f.source.clone())
            .collect();
        assert_eq!(ours, ldd(binary), "{binary}");
        compared += 1;
    }
    assert!(compared >= 2, "only {compared} host binaries compared");
}

#[test]
fn the_interpreter_is_kept_at_its_pt_interp_path_through_merged_usr_links() {
    let closure = resolve(&[executable(TRUE)], &Options::default()).unwrap();
    let interpreter = closure
        .files
        .iter()
        .find(|f| f.role == Role::Interpreter)
        .unwrap();
    let object = ElfObject::read(Path::new(TRUE)).unwrap();
    let pt_interp = PathBuf::from(object.interpreter.unwrap());
    // Replaying the recorded links from PT_INTERP must reach the file.
    let mut reached = pt_interp.clone();
    for _ in 0..10 {
        let Some(link) = closure.links.iter().find(|l| reached.starts_with(&l.path)) else {
            break;
        };
        let rest = reached.strip_prefix(&link.path).unwrap().to_path_buf();
        reached = normalize(&link.path.parent().unwrap().join(&link.target).join(rest));
    }
    assert_eq!(reached, interpreter.path, "links: {:?}", closure.links);
    assert!(closure.links.iter().all(|l| l.target.is_relative()));
}

/// A sysroot holding copies of the host's loader and C library in a
/// merged-/usr layout.
fn sysroot_with_libc() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let lib = root.join("usr/lib/x86_64-linux-gnu");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::create_dir_all(root.join("usr/lib64")).unwrap();
    symlink("usr/lib", root.join("lib")).unwrap();
    symlink("usr/lib64", root.join("lib64")).unwrap();
    for name in ["ld-linux-x86-64.so.2", "libc.so.6"] {
        std::fs::copy(
            Path::new("/lib/x86_64-linux-gnu").join(name),
            lib.join(name),
        )
        .unwrap();
    }
    symlink(
        "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        root.join("usr/lib64/ld-linux-x86-64.so.2"),
    )
    .unwrap();
    dir
}

#[test]
fn a_sysroot_provides_every_file_and_nothing_leaks_from_the_host() {
    let dir = sysroot_with_libc();
    let options = Options {
        sysroot: Some(dir.path().to_path_buf()),
        ..Options::default()
    };
    let closure = resolve(&[executable(TRUE)], &options).unwrap();
    let libraries: Vec<&ClosureFile> = closure
        .files
        .iter()
        .filter(|f| f.role != Role::Executable)
        .collect();
    assert_eq!(libraries.len(), 2, "{libraries:?}");
    for file in libraries {
        assert!(
            file.source.starts_with(dir.path()),
            "{} leaked in from the host",
            file.source.display()
        );
    }
}

#[test]
fn a_missing_library_names_the_chain_and_every_directory_searched() {
    let dir = sysroot_with_libc();
    std::fs::remove_file(dir.path().join("usr/lib/x86_64-linux-gnu/libc.so.6")).unwrap();
    let options = Options {
        sysroot: Some(dir.path().to_path_buf()),
        ..Options::default()
    };
    let err = resolve(&[executable(TRUE)], &options).unwrap_err();
    let Error::LibraryNotFound {
        name,
        chain,
        searched,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(name, "libc.so.6");
    assert_eq!(chain, &[PathBuf::from("/usr/local/sbin/x")]);
    assert!(
        searched.iter().all(|d| d.starts_with(dir.path())),
        "{searched:?}"
    );
    assert!(
        searched.contains(&dir.path().join("lib/x86_64-linux-gnu")),
        "{searched:?}"
    );
    assert!(
        err.to_string().contains("needed by: /usr/local/sbin/x"),
        "{err}"
    );
}

#[test]
fn a_library_found_through_ld_so_conf_moves_to_a_default_directory() {
    let dir = sysroot_with_libc();
    let root = dir.path();
    std::fs::create_dir_all(root.join("opt/lib")).unwrap();
    std::fs::create_dir_all(root.join("etc/ld.so.conf.d")).unwrap();
    std::fs::write(
        root.join("etc/ld.so.conf"),
        "include /etc/ld.so.conf.d/*.conf\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/ld.so.conf.d/opt.conf"), "/opt/lib\n").unwrap();
    std::fs::rename(
        root.join("usr/lib/x86_64-linux-gnu/libc.so.6"),
        root.join("opt/lib/libc.so.6"),
    )
    .unwrap();
    let options = Options {
        sysroot: Some(root.to_path_buf()),
        ..Options::default()
    };
    let closure = resolve(&[executable(TRUE)], &options).unwrap();
    let libc = closure
        .files
        .iter()
        .find(|f| f.path.ends_with("libc.so.6"))
        .unwrap();
    assert_eq!(
        libc.moved_from.as_deref(),
        Some(Path::new("/opt/lib/libc.so.6"))
    );
    assert_eq!(libc.path, Path::new("/usr/lib/x86_64-linux-gnu/libc.so.6"));
    assert_eq!(libc.source, root.join("opt/lib/libc.so.6"));
}

#[test]
fn a_library_of_the_wrong_class_is_passed_over() {
    let dir = sysroot_with_libc();
    let root = dir.path();
    // An ELF file of another machine earlier in the search order.
    std::fs::create_dir_all(root.join("opt/lib")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/ld.so.conf"), "/opt/lib\n").unwrap();
    let foreign = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/freebsd-pkg/freebsd-aarch64.binin");
    std::fs::copy(foreign, root.join("opt/lib/libc.so.6")).unwrap();
    let options = Options {
        sysroot: Some(root.to_path_buf()),
        ..Options::default()
    };
    let closure = resolve(&[executable(TRUE)], &options).unwrap();
    let libc = closure
        .files
        .iter()
        .find(|f| f.path.ends_with("libc.so.6"))
        .unwrap();
    assert_eq!(libc.source, root.join("usr/lib/x86_64-linux-gnu/libc.so.6"));
}

#[test]
fn a_bsd_executable_is_refused_clearly_for_now() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/openbsd-7.2-amd64/bin/openbsd-hello-x64");
    let err = resolve(
        &[Executable {
            source: path,
            jail_path: "/x".into(),
        }],
        &Options::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("OpenBSD"), "{err}");
}
