//! Symbol versions checked at packaging time, against glibc's ld.so: a
//! binary needing a version its jail's libraries lack is refused with an
//! error naming the version and the library, where ld.so refuses to start
//! it; and the versions each file needs are in `closure --json`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use jailpack::Error;
use jailpack::closure::root::FsRoot;
use jailpack::closure::{Closure, Executable, Options, resolve};

use crate::closure_oracle::ldd_with_versions;
use crate::support::{REPO, both, scratch, xtask_jail};

fn resolved(path: &Path, options: &Options) -> Result<Closure, Error> {
    resolve(
        &[Executable {
            source: path.to_path_buf(),
            jail_path: "/usr/local/sbin/main".into(),
        }],
        options,
    )
}

fn gcc(dir: &Path, args: &[&str]) {
    let output = Command::new("gcc")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("gcc is installed");
    assert!(
        output.status.success(),
        "gcc {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The versions a resolver error names, or the error itself.
fn missing_versions(result: Result<Closure, Error>) -> BTreeSet<String> {
    match result {
        Err(Error::VersionsNotFound { missing, .. }) => {
            missing.into_iter().map(|m| m.version).collect()
        }
        Err(e) => panic!("another error: {e}"),
        Ok(_) => BTreeSet::new(),
    }
}

#[test]
fn a_version_need_glibc_lacks_is_refused_as_ld_so_refuses_it() {
    // Reproduction: /usr/bin/true with its GLIBC_2.4 need renamed
    // GLIBC_2.9 (hash unchanged): ld.so refuses, closure said all is well.
    let dir = scratch("versions-true");
    let bytes = std::fs::read("/usr/bin/true").unwrap();
    let (from, to) = (b"GLIBC_2.4\0", b"GLIBC_2.9\0");
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("true needs GLIBC_2.4");
    let mut changed = bytes.clone();
    changed[at..at + to.len()].copy_from_slice(to);
    let copy = dir.join("true");
    std::fs::write(&copy, changed).unwrap();
    let (_, loader) = ldd_with_versions(&copy);
    assert_eq!(loader, BTreeSet::from(["GLIBC_2.9".to_string()]));
    let err = resolved(&copy, &Options::default()).unwrap_err();
    let text = err.to_string();
    assert_eq!(
        missing_versions(Err(err)),
        loader,
        "jailpack and ld.so disagree"
    );
    assert!(
        text.contains("GLIBC_2.9") && text.contains("libc.so.6"),
        "{text}"
    );
    assert!(
        text.contains("defines up to GLIBC_2.") && text.contains("but not GLIBC_2.9"),
        "{text}"
    );
    // The front end refuses too, with the same words and a failing status.
    let output = xtask_jail(&["closure", copy.to_str().unwrap()], false);
    assert!(!output.status.success());
    assert!(both(&output).contains("GLIBC_2.9"), "{}", both(&output));
}

/// libtree's `06_symbol_versions`: two libv.so, one defining VER_1, the
/// other VER_1 and VER_2; `main` is linked against the second.
fn two_same_soname_libraries(dir: &Path) {
    for (sub, script, code) in [
        (
            "one",
            "VER_1 { global: f1; local: *; };",
            "int f1(void) { return 1; }",
        ),
        (
            "two",
            "VER_1 { global: f1; local: *; };\nVER_2 { global: f2; } VER_1;",
            "int f1(void) { return 1; }\nint f2(void) { return 2; }",
        ),
    ] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        std::fs::write(dir.join(format!("{sub}.map")), script).unwrap();
        std::fs::write(dir.join(format!("{sub}.c")), code).unwrap();
        gcc(
            dir,
            &[
                "-shared",
                "-fPIC",
                &format!("{sub}.c"),
                "-o",
                &format!("{sub}/libv.so"),
                "-Wl,-soname,libv.so",
                &format!("-Wl,--version-script,{sub}.map"),
            ],
        );
    }
    std::fs::write(
        dir.join("main.c"),
        "int f1(void);\nint f2(void);\nint main(void) { return f1() + f2() == 3 ? 0 : 1; }\n",
    )
    .unwrap();
}

fn link_main(dir: &Path, name: &str, search: &[&str]) -> PathBuf {
    let search: Vec<String> = search
        .iter()
        .map(|s| dir.join(s).display().to_string())
        .collect();
    gcc(
        dir,
        &[
            "main.c",
            "-o",
            name,
            "-Ltwo",
            "-lv",
            &format!("-Wl,--enable-new-dtags,-rpath,{}", search.join(":")),
        ],
    );
    dir.join(name)
}

#[test]
fn the_first_library_on_the_path_answers_even_without_the_version() {
    let dir = scratch("versions-same-soname");
    two_same_soname_libraries(&dir);
    let wrong_first = link_main(&dir, "main_wrong", &["one", "two"]);
    let (_, loader) = ldd_with_versions(&wrong_first);
    assert_eq!(loader, BTreeSet::from(["VER_2".to_string()]), "ld.so");
    match resolved(&wrong_first, &Options::default()) {
        Err(Error::VersionsNotFound { missing, .. }) => {
            assert_eq!(missing.len(), 1, "{missing:?}");
            assert_eq!(missing[0].version, "VER_2");
            assert_eq!(missing[0].library, "libv.so");
            assert_eq!(missing[0].library_file, dir.join("one/libv.so"));
            assert_eq!(missing[0].newest.as_deref(), Some("VER_1"));
        }
        other => panic!("expected the VER_2 error, got {other:?}"),
    }
    // The other order works for both, and the closure says what main needs.
    let right_first = link_main(&dir, "main_right", &["two", "one"]);
    assert!(ldd_with_versions(&right_first).1.is_empty());
    let closure = resolved(&right_first, &Options::default()).unwrap();
    let main = closure
        .files
        .iter()
        .find(|f| f.source == right_first)
        .unwrap();
    assert_eq!(main.versions.get("libv.so").unwrap(), ["VER_1", "VER_2"]);
}

#[test]
fn closure_json_shows_the_versions_each_file_needs() {
    let output = xtask_jail(&["closure", "--json", "/usr/bin/true"], false);
    assert!(output.status.success(), "{}", both(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let files = json["files"].as_array().unwrap();
    let true_file = files
        .iter()
        .find(|f| f["role"] == "executable")
        .expect("the executable");
    let glibc: Vec<&str> = true_file["versions"]["libc.so.6"]
        .as_array()
        .expect("versions of libc.so.6")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(glibc.contains(&"GLIBC_2.34"), "{glibc:?}");
}

#[test]
fn freebsd_versions_resolve_against_the_freebsd_sysroot() {
    let root = Path::new(REPO).join("../shared/fixtures/freebsd-14.0-amd64");
    let closure = resolve(
        &[Executable {
            source: root.join("bin/busybox"),
            jail_path: "/bin/busybox".into(),
        }],
        &Options {
            root: FsRoot::new(&root),
            ..Options::default()
        },
    )
    .unwrap();
    let busybox = closure
        .files
        .iter()
        .find(|f| f.path == Path::new("/bin/busybox"))
        .unwrap();
    let libc = &busybox.versions.get("libc.so.7").unwrap();
    assert!(
        libc.iter().all(|v| v.starts_with("FBSD_1.")) && !libc.is_empty(),
        "{libc:?}"
    );
}
