//! The resolver against the host's real loader (`ldd`) and against sysroots
//! built from the host's own files.

use std::collections::BTreeSet;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::root::{FsRoot, normalize};
use super::*;

const TRUE: &str = "/usr/bin/true";

fn executable(source: &str) -> Executable {
    Executable {
        source: source.into(),
        jail_path: PathBuf::from("/usr/local/sbin/x"),
    }
}

/// The file of the closure named `name`, wherever the jail puts it.
fn named<'c>(closure: &'c Closure, name: &str) -> &'c ClosureFile {
    let found = closure
        .files
        .iter()
        .find(|f| f.path.file_name().is_some_and(|n| n == name));
    found.unwrap_or_else(|| panic!("no {name} in {:?}", closure.files))
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
        root: FsRoot::new(dir.path().to_path_buf()),
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
        root: FsRoot::new(dir.path().to_path_buf()),
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
        root: FsRoot::new(root.to_path_buf()),
        ..Options::default()
    };
    let closure = resolve(&[executable(TRUE)], &options).unwrap();
    let libc = named(&closure, "libc.so.6");
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
        root: FsRoot::new(root.to_path_buf()),
        ..Options::default()
    };
    let closure = resolve(&[executable(TRUE)], &options).unwrap();
    let libc = named(&closure, "libc.so.6");
    assert_eq!(libc.source, root.join("usr/lib/x86_64-linux-gnu/libc.so.6"));
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")
}

/// A writable OpenBSD 7.2 root made of the shared fixtures' /usr/lib. The
/// fixtures hold no ld.so: a copy of libutil stands in for it (the resolver
/// only needs an ELF file at PT_INTERP; nothing here runs).
fn openbsd_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("usr/lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::create_dir_all(dir.path().join("usr/libexec")).unwrap();
    for entry in std::fs::read_dir(fixtures().join("openbsd-7.2-amd64/usr/lib")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), lib.join(entry.file_name())).unwrap();
    }
    std::fs::copy(
        lib.join("libutil.so.16.0"),
        dir.path().join("usr/libexec/ld.so"),
    )
    .unwrap();
    dir
}

/// Resolves `source` (placed at `jail_path`) inside `root`, dlopen()ing `dlopen`.
fn resolve_in(root: &Path, source: PathBuf, jail_path: &str, dlopen: &[&str]) -> Result<Closure> {
    let options = Options {
        root: FsRoot::new(root.to_path_buf()),
        dlopen: dlopen.iter().map(|s| s.to_string()).collect(),
        ..Options::default()
    };
    let jail_path = jail_path.into();
    resolve(&[Executable { source, jail_path }], &options)
}

fn openbsd_hello(root: &Path, dlopen: &[&str]) -> Result<Closure> {
    let source = fixtures().join("openbsd-7.2-amd64/bin/openbsd-hello-x64");
    resolve_in(root, source, "/usr/local/bin/hello", dlopen)
}

fn jail_paths(closure: &Closure) -> Vec<&str> {
    closure
        .files
        .iter()
        .map(|f| f.path.to_str().unwrap())
        .collect()
}

#[test]
fn openbsd_executable_resolves_in_its_sysroot() {
    let dir = openbsd_root();
    let closure = openbsd_hello(dir.path(), &[]).unwrap();
    assert_eq!(closure.target.os, target::Os::OpenBsd);
    assert_eq!(
        jail_paths(&closure),
        [
            "/usr/lib/libc.so.96.2",
            "/usr/libexec/ld.so",
            "/usr/local/bin/hello"
        ]
    );
}

#[test]
fn openbsd_picks_the_highest_minor_of_the_major_asked_for() {
    let dir = openbsd_root();
    let lib = dir.path().join("usr/lib");
    for name in [
        "libc.so.96.1",
        "libc.so.96.5",
        "libc.so.97.0",
        "libc.so.95.9",
    ] {
        std::fs::copy(lib.join("libc.so.96.2"), lib.join(name)).unwrap();
    }
    let closure = openbsd_hello(dir.path(), &[]).unwrap();
    assert!(
        jail_paths(&closure).contains(&"/usr/lib/libc.so.96.5"),
        "{:?}",
        jail_paths(&closure)
    );
    // Only lower minors left: ld.so's second pass takes one, with a warning.
    for name in ["libc.so.96.2", "libc.so.96.5"] {
        std::fs::remove_file(lib.join(name)).unwrap();
    }
    let closure = openbsd_hello(dir.path(), &[]).unwrap();
    let libc = closure
        .files
        .iter()
        .find(|f| f.path.to_str().unwrap().starts_with("/usr/lib/libc.so"))
        .unwrap();
    assert_eq!(libc.path, Path::new("/usr/lib/libc.so.96.1"));
    assert!(libc.found.contains("lower minor"), "{}", libc.found);
}

#[test]
fn openbsd_unversioned_names_take_the_highest_version() {
    let dir = openbsd_root();
    let lib = dir.path().join("usr/lib");
    std::fs::copy(lib.join("libz.so.7.0"), lib.join("libz.so.8.1")).unwrap();
    let closure = openbsd_hello(dir.path(), &["libz.so"]).unwrap();
    assert!(
        jail_paths(&closure).contains(&"/usr/lib/libz.so.8.1"),
        "{:?}",
        jail_paths(&closure)
    );
}

#[test]
fn openbsd_follows_needed_and_names_what_is_missing() {
    let dir = openbsd_root();
    let closure = openbsd_hello(dir.path(), &["libedit.so.5.2"]).unwrap();
    let curses = closure
        .files
        .iter()
        .find(|f| f.path == Path::new("/usr/lib/libcurses.so.14.0"))
        .unwrap();
    assert_eq!(curses.needed_by, [PathBuf::from("/usr/lib/libedit.so.5.2")]);
    // libssl needs libcrypto.so.50.0, which the fixtures leave out.
    let err = openbsd_hello(dir.path(), &["libssl.so.53.0"]).unwrap_err();
    let Error::LibraryNotFound {
        name,
        chain,
        searched,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(name, "libcrypto.so.50.0");
    assert_eq!(
        chain,
        &[
            PathBuf::from("/usr/lib/libssl.so.53.0"),
            PathBuf::from("/usr/local/bin/hello")
        ]
    );
    assert!(
        searched.contains(&dir.path().join("usr/lib")),
        "{searched:?}"
    );
}

#[test]
fn openbsd_libraries_from_the_hints_directories_move_to_usr_lib() {
    let dir = openbsd_root();
    let local = dir.path().join("usr/local/lib");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::rename(
        dir.path().join("usr/lib/libz.so.7.0"),
        local.join("libz.so.7.0"),
    )
    .unwrap();
    let closure = openbsd_hello(dir.path(), &["libz.so.7.0"]).unwrap();
    let libz = named(&closure, "libz.so.7.0");
    assert_eq!(libz.path, Path::new("/usr/lib/libz.so.7.0"));
    assert_eq!(
        libz.moved_from.as_deref(),
        Some(Path::new("/usr/local/lib/libz.so.7.0"))
    );
}

#[test]
fn freebsd_root_resolves_with_rtld_rules() {
    let root = fixtures().join("freebsd-14.0-amd64");
    let options = Options {
        root: FsRoot::new(root.clone()),
        ..Options::default()
    };
    let closure = resolve(
        &[executable(root.join("bin/busybox").to_str().unwrap())],
        &options,
    )
    .unwrap();
    assert_eq!(closure.target.os, target::Os::FreeBsd);
    assert_eq!(
        jail_paths(&closure),
        [
            "/lib/libc.so.7",
            "/lib/libcrypt.so.5",
            "/lib/libm.so.5",
            "/libexec/ld-elf.so.1",
            "/usr/local/sbin/x"
        ]
    );
    assert!(
        closure
            .files
            .iter()
            .all(|f| f.source.starts_with(&root) || f.role == Role::Executable)
    );
}

/// A FreeBSD root from the fixtures, plus freebsd/pkg's test libraries
/// under their real names in /usr/local/lib/pkgtest.
fn freebsd_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let base = fixtures().join("freebsd-14.0-amd64");
    for sub in ["lib", "libexec"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(base.join(sub)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.path().join(sub).join(entry.file_name())).unwrap();
        }
    }
    let pkgtest = dir.path().join("usr/local/lib/pkgtest");
    std::fs::create_dir_all(&pkgtest).unwrap();
    for (fixture, name) in [
        ("libtest2fbsd.so.1in", "libtest2fbsd.so.1"),
        ("libfoo.so.1in", "libfoo.so.1"),
    ] {
        std::fs::copy(
            fixtures().join("freebsd-pkg").join(fixture),
            pkgtest.join(name),
        )
        .unwrap();
    }
    dir
}

fn freebsd_program(root: &Path, dlopen: &[&str]) -> Result<Closure> {
    let source = fixtures().join("freebsd-pkg/freebsd-amd64.binin");
    resolve_in(root, source, "/usr/local/sbin/prog", dlopen)
}

#[test]
fn freebsd_runpath_origin_finds_a_sibling_library() {
    let dir = freebsd_root();
    let closure =
        freebsd_program(dir.path(), &["/usr/local/lib/pkgtest/libtest2fbsd.so.1"]).unwrap();
    let foo = named(&closure, "libfoo.so.1");
    assert_eq!(foo.path, Path::new("/usr/local/lib/pkgtest/libfoo.so.1"));
    assert!(
        foo.found
            .starts_with("RUNPATH of /usr/local/lib/pkgtest/libtest2fbsd.so.1"),
        "{}",
        foo.found
    );
    assert_eq!(foo.moved_from, None);
}

#[test]
fn freebsd_libmap_renames_a_request() {
    let dir = freebsd_root();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::write(
        dir.path().join("etc/libmap.conf"),
        "[/usr/local/sbin/prog]\nlibfoo.so.1 /usr/local/lib/pkgtest/libfoo.so.1\n",
    )
    .unwrap();
    let closure = freebsd_program(dir.path(), &["libfoo.so.1"]).unwrap();
    assert!(
        jail_paths(&closure).contains(&"/usr/local/lib/pkgtest/libfoo.so.1"),
        "{:?}",
        jail_paths(&closure)
    );
    // Without the map, libfoo.so.1 is in no directory rtld searches.
    std::fs::remove_file(dir.path().join("etc/libmap.conf")).unwrap();
    let err = freebsd_program(dir.path(), &["libfoo.so.1"]).unwrap_err();
    assert!(
        matches!(err, Error::LibraryNotFound { ref name, .. } if name == "libfoo.so.1"),
        "{err}"
    );
}

#[test]
fn freebsd_linker_scripts_are_not_libraries() {
    let dir = freebsd_root();
    std::fs::create_dir_all(dir.path().join("usr/lib")).unwrap();
    std::fs::write(
        dir.path().join("usr/lib/libc.so"),
        "/* GNU ld script */\nGROUP ( /lib/libc.so.7 )\n",
    )
    .unwrap();
    let err = freebsd_program(dir.path(), &["libc.so"]).unwrap_err();
    assert!(
        matches!(err, Error::LibraryNotFound { ref name, .. } if name == "libc.so"),
        "{err}"
    );
}

#[test]
fn absolute_links_in_a_sysroot_never_reach_the_host() {
    let dir = sysroot_with_libc();
    let root = dir.path();
    // Both targets exist on the build host, not in the sysroot.
    std::fs::create_dir_all(root.join("etc")).unwrap();
    symlink("/etc/ld.so.conf.d/libc.conf", root.join("etc/ld.so.conf")).unwrap();
    let lib = root.join("usr/lib/x86_64-linux-gnu/libc.so.6");
    std::fs::remove_file(&lib).unwrap();
    symlink("/lib/x86_64-linux-gnu/libm.so.6", &lib).unwrap();
    let options = Options {
        root: FsRoot::new(root.to_path_buf()),
        ..Options::default()
    };
    let err = resolve(&[executable(TRUE)], &options).unwrap_err();
    let Error::LibraryNotFound { name, searched, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(name, "libc.so.6");
    assert!(searched.iter().all(|d| d.starts_with(root)), "{searched:?}");
    // The host's libc.conf names /usr/local/lib: read, it would be searched.
    assert!(
        !searched.contains(&root.join("usr/local/lib")),
        "{searched:?}"
    );
    assert!(Path::new("/etc/ld.so.conf.d/libc.conf").exists());
}

#[test]
fn musl_reads_its_path_file_and_the_jail_gets_the_library_in_lib() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for sub in ["lib", "etc", "opt/musl"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    // Stand-ins: any x86-64 shared object without dependencies will do.
    let stand_in = Path::new("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    std::fs::copy(stand_in, root.join("lib/ld-musl-x86_64.so.1")).unwrap();
    std::fs::copy(stand_in, root.join("opt/musl/libc.so.7")).unwrap();
    let musl = fixtures().join("freebsd-pkg/musl.binin");
    let options = Options {
        root: FsRoot::new(root.to_path_buf()),
        ..Options::default()
    };
    let err = resolve(&[executable(musl.to_str().unwrap())], &options).unwrap_err();
    let Error::LibraryNotFound { searched, .. } = &err else {
        panic!("{err}");
    };
    let defaults: Vec<PathBuf> = ["lib", "usr/local/lib", "usr/lib"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    assert_eq!(searched, &defaults);

    std::fs::write(root.join("etc/ld-musl-x86_64.path"), "/opt/musl\n").unwrap();
    // A root is a snapshot of one run: a new one sees the path file.
    let options = Options {
        root: FsRoot::new(root.to_path_buf()),
        ..Options::default()
    };
    let closure = resolve(&[executable(musl.to_str().unwrap())], &options).unwrap();
    assert_eq!(closure.target.loader, target::Loader::Musl);
    let libc = named(&closure, "libc.so.7");
    assert_eq!(libc.path, Path::new("/lib/libc.so.7"));
    assert_eq!(
        libc.moved_from.as_deref(),
        Some(Path::new("/opt/musl/libc.so.7"))
    );
}

#[test]
fn optional_dlopen_names_are_jailed_when_found_and_passed_over_when_not() {
    let dir = sysroot_with_libc();
    let lib = dir.path().join("usr/lib/x86_64-linux-gnu");
    // Any library without dependencies stands in for an NSS module.
    std::fs::copy(
        lib.join("ld-linux-x86-64.so.2"),
        lib.join("libnss_mymod.so.2"),
    )
    .unwrap();
    let options = Options {
        root: FsRoot::new(dir.path().to_path_buf()),
        optional_dlopen: vec!["libnss_missing.so.2".into(), "libnss_mymod.so.2".into()],
        ..Options::default()
    };
    let closure = resolve(&[executable(TRUE)], &options).unwrap();
    let module = named(&closure, "libnss_mymod.so.2");
    assert_eq!(module.needed_by, [PathBuf::from("/usr/local/sbin/x")]);
    assert!(
        !closure
            .files
            .iter()
            .any(|f| f.path.ends_with("libnss_missing.so.2"))
    );
    // The same name as a required dlopen() is an error when missing.
    let options = Options {
        dlopen: vec!["libnss_missing.so.2".into()],
        ..options
    };
    let err = resolve(&[executable(TRUE)], &options).unwrap_err();
    assert!(
        matches!(err, Error::LibraryNotFound { ref name, .. } if name == "libnss_missing.so.2"),
        "{err}"
    );
}

#[test]
fn the_first_problem_in_the_executables_order_is_the_one_reported() {
    // Two programs at one place in the jail (a conflict between the first
    // two walks), then a file that is no ELF file: the walks run at once,
    // but the conflict is reported, as a loop over them would meet it.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let at = |source: &Path| Executable {
        source: source.to_path_buf(),
        jail_path: PathBuf::from("/usr/bin/d"),
    };
    let executables = [
        at(Path::new(TRUE)),
        at(Path::new("/usr/bin/false")),
        at(&script),
    ];
    let err = resolve(&executables, &Options::default()).unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    // The failure alone, without the conflict before it, is reported.
    let err = resolve(&executables[1..], &Options::default()).unwrap_err();
    assert!(matches!(err, Error::Elf { .. }), "{err}");
}

#[test]
fn search_lists_with_the_same_directories_share_one_copy_and_its_answers() {
    // Each walk builds its own list for a program with a RUNPATH: the
    // answers found for one walk's list serve every walk's list alike.
    let resolver = Resolver::new(Options::default());
    let list = |dir: &str| -> search::SearchList {
        let owner = PathBuf::from("/usr/bin/x");
        vec![search::SearchDir::in_root(
            dir.into(),
            search::DirKind::Runpath(owner),
        )]
        .into()
    };
    let first = resolver.canonical(list("/opt/lib"));
    let again = resolver.canonical(list("/opt/lib"));
    let other = resolver.canonical(list("/opt/lib64"));
    assert!(Arc::ptr_eq(&first, &again));
    assert!(!Arc::ptr_eq(&first, &other));
    // The one copy given again is itself.
    assert!(Arc::ptr_eq(&resolver.canonical(Arc::clone(&first)), &first));
}

#[test]
fn an_executable_is_read_where_it_really_is_whichever_way_it_is_named() {
    // Named directly, through a link to the file, and through a linked
    // directory: each time the closure reads the one real file, and its
    // `$ORIGIN` is the real file's directory.
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::copy(TRUE, real.join("true")).unwrap();
    symlink(real.join("true"), dir.path().join("link")).unwrap();
    symlink(&real, dir.path().join("linked-dir")).unwrap();
    let real_file = std::fs::canonicalize(real.join("true")).unwrap();
    let doubled = format!("/{}", real.join("true").display()).replace('/', "//");
    for named in [
        real.join("true"),
        dir.path().join("link"),
        dir.path().join("linked-dir/true"),
        real.join("./true"),
        PathBuf::from(doubled),
    ] {
        let given = executable(named.to_str().unwrap());
        // Twice: the second walk must not take the first one's reading
        // for the real file.
        let closure = resolve(&[given.clone(), given], &Options::default()).unwrap();
        let program = closure.files.iter().find(|f| f.role == Role::Executable);
        // Byte for byte (`Path` equality passes over `.` and `//`).
        assert_eq!(
            program.map(|f| f.source.as_os_str()),
            Some(real_file.as_os_str()),
            "named {}",
            named.display()
        );
    }
    // A link is never opened as the program itself.
    let missing = dir.path().join("dangling");
    symlink(dir.path().join("nowhere"), &missing).unwrap();
    let err = resolve(
        &[executable(missing.to_str().unwrap())],
        &Options::default(),
    );
    assert!(err.is_err());
}
