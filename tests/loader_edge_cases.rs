//! Loader rules that lddtree-like tools get wrong, each built here with gcc
//! and checked against glibc's real loader (`ldd`), and where a jail is
//! involved by running the program inside an extracted jail.

use std::collections::BTreeSet;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use jailpack::Error;
use jailpack::closure::root::FsRoot;
use jailpack::closure::{Closure, ClosureFile, Executable, Options, Resolver, Role, resolve};

use crate::closure_oracle::{Loaded, ldd};
use crate::support::{chroot_as_nobody, jail_binary, scratch, skip_without_root};

const LIB_B: &str = "int b(void) { return 2; }\n";
const LIB_A: &str = "int b(void);\nint a(void) { return b() + 1; }\n";
const MAIN_A: &str =
    "#include <stdio.h>\nint a(void);\nint main(void) { printf(\"%d\\n\", a()); return 0; }\n";
const MAIN_B: &str =
    "#include <stdio.h>\nint b(void);\nint main(void) { printf(\"%d\\n\", b()); return 0; }\n";

/// A scratch directory where C sources are compiled.
struct Lab {
    dir: PathBuf,
}

impl Lab {
    fn new(name: &str) -> Lab {
        Lab { dir: scratch(name) }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// Writes `code` to `name` and runs gcc with `args` (paths relative to the lab).
    fn gcc(&self, name: &str, code: &str, args: &[&str]) {
        std::fs::write(self.path(name), code).unwrap();
        let output = Command::new("gcc")
            .current_dir(&self.dir)
            .arg(name)
            .args(args)
            .output()
            .expect("gcc is installed");
        assert!(
            output.status.success(),
            "gcc {name} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn mkdir(&self, relative: &str) -> PathBuf {
        let dir = self.path(relative);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Libraries b (in `b_dir`) and a (in `a_dir`, needing b).
    fn libs(&self, a_dir: &str, b_dir: &str, a_flags: &[&str]) {
        self.mkdir(a_dir);
        self.mkdir(b_dir);
        self.gcc(
            "b.c",
            LIB_B,
            &["-shared", "-fPIC", "-o", &format!("{b_dir}/libb.so")],
        );
        let mut args = vec!["-shared", "-fPIC", "-o"];
        let a_out = format!("{a_dir}/liba.so");
        let b_link = format!("-L{b_dir}");
        args.extend([a_out.as_str(), b_link.as_str(), "-lb"]);
        args.extend(a_flags);
        self.gcc("a.c", LIB_A, &args);
    }
}

fn resolved(path: &Path, options: &Options) -> Result<Closure, Error> {
    resolve(
        &[Executable {
            source: path.to_path_buf(),
            jail_path: "/usr/local/sbin/main".into(),
        }],
        options,
    )
}

/// The file of the closure named `name`, wherever the jail puts it.
fn named<'c>(closure: &'c Closure, name: &str) -> &'c ClosureFile {
    let found = closure
        .files
        .iter()
        .find(|f| f.path.file_name().is_some_and(|n| n == name));
    found.unwrap_or_else(|| panic!("no {name} in {:?}", closure.files))
}

fn sources(closure: &Closure) -> BTreeSet<PathBuf> {
    closure
        .files
        .iter()
        .filter(|f| f.role != Role::Executable)
        .map(|f| f.source.clone())
        .collect()
}

fn loaded_files(path: &Path) -> BTreeSet<PathBuf> {
    match ldd(path) {
        Loaded::Files(files) => files,
        Loaded::Missing(names) => panic!("ld.so misses {names:?} for {}", path.display()),
        Loaded::Nothing => panic!("ldd lists nothing for {}", path.display()),
    }
}

/// Packs `binary` with `cargo xtask jail --binary`, extracts it and runs
/// it inside the jail as nobody; returns its stdout.
fn run_in_jail(binary: &Path, extra: &[&str]) -> String {
    let root = jail_binary(binary, "main", extra);
    let run = chroot_as_nobody(&root, "/usr/local/sbin/main")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "in the jail: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8_lossy(&run.stdout).trim().to_string()
}

#[test]
fn rpath_is_inherited_by_dependencies_and_runpath_is_not() {
    let lab = Lab::new("rpath");
    lab.libs("A", "B", &[]);
    let (a, b) = (lab.path("A"), lab.path("B"));
    let search = format!("-Wl,-rpath,{}:{}", a.display(), b.display());
    let rpath_link = format!("-Wl,-rpath-link,{}", b.display());
    for (out, dtags) in [
        ("rpath/main", "-Wl,--disable-new-dtags"),
        ("runpath/main", "-Wl,--enable-new-dtags"),
    ] {
        lab.mkdir(out.split('/').next().unwrap());
        lab.gcc(
            "main.c",
            MAIN_A,
            &["-o", out, "-LA", "-la", dtags, &search, &rpath_link],
        );
    }
    let with_rpath = resolved(&lab.path("rpath/main"), &Options::default()).unwrap();
    assert_eq!(sources(&with_rpath), loaded_files(&lab.path("rpath/main")));
    assert!(sources(&with_rpath).contains(&b.join("libb.so")));

    assert!(
        matches!(ldd(&lab.path("runpath/main")), Loaded::Missing(names) if names.contains("libb.so"))
    );
    let err = resolved(&lab.path("runpath/main"), &Options::default()).unwrap_err();
    let Error::LibraryNotFound { name, chain, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(name, "libb.so");
    assert_eq!(
        chain,
        &[a.join("liba.so"), PathBuf::from("/usr/local/sbin/main")]
    );

    if !skip_without_root("rpath_is_inherited_by_dependencies_and_runpath_is_not (jail run)") {
        assert_eq!(run_in_jail(&lab.path("rpath/main"), &[]), "3");
    }
}

#[test]
fn origin_is_the_directory_of_the_symlink_a_library_was_found_through() {
    let lab = Lab::new("origin");
    // liba lives in real/, is reached through links/liba.so, and finds
    // libb through $ORIGIN/deps: only links/deps has it.
    lab.libs(
        "real",
        "links/deps",
        &["-Wl,--enable-new-dtags,-rpath,$ORIGIN/deps"],
    );
    symlink("../real/liba.so", lab.path("links/liba.so")).unwrap();
    let links = lab.path("links");
    let search = format!("-Wl,--enable-new-dtags,-rpath,{}", links.display());
    let rpath_link = format!("-Wl,-rpath-link,{}", lab.path("links/deps").display());
    lab.gcc(
        "main.c",
        MAIN_A,
        &["-o", "main", "-Llinks", "-la", &search, &rpath_link],
    );
    let closure = resolved(&lab.path("main"), &Options::default()).unwrap();
    assert_eq!(sources(&closure), loaded_files(&lab.path("main")));
    let libb = named(&closure, "libb.so");
    assert_eq!(libb.path, links.join("deps/libb.so"));
    if !skip_without_root("origin_is_the_directory_of_the_symlink (jail run)") {
        assert_eq!(run_in_jail(&lab.path("main"), &[]), "3");
    }
}

#[test]
fn lib_token_expands_like_the_loader() {
    let lab = Lab::new("lib-token");
    let lib = lab.mkdir("lib/x86_64-linux-gnu");
    lab.gcc(
        "b.c",
        LIB_B,
        &["-shared", "-fPIC", "-o", "lib/x86_64-linux-gnu/libb.so"],
    );
    let search = format!("-Wl,--enable-new-dtags,-rpath,{}/$LIB", lab.dir.display());
    lab.gcc(
        "main.c",
        MAIN_B,
        &["-o", "main", "-Llib/x86_64-linux-gnu", "-lb", &search],
    );
    let closure = resolved(&lab.path("main"), &Options::default()).unwrap();
    assert_eq!(sources(&closure), loaded_files(&lab.path("main")));
    assert!(sources(&closure).contains(&lib.join("libb.so")));
}

#[test]
fn a_glibc_hwcaps_copy_is_jailed_beside_the_plain_one() {
    let lab = Lab::new("hwcaps");
    lab.mkdir("D/glibc-hwcaps/x86-64-v2");
    lab.gcc("b.c", LIB_B, &["-shared", "-fPIC", "-o", "D/libb.so"]);
    lab.gcc(
        "b.c",
        LIB_B,
        &[
            "-shared",
            "-fPIC",
            "-O2",
            "-o",
            "D/glibc-hwcaps/x86-64-v2/libb.so",
        ],
    );
    let search = format!("-Wl,--enable-new-dtags,-rpath,{}", lab.path("D").display());
    lab.gcc("main.c", MAIN_B, &["-o", "main", "-LD", "-lb", &search]);
    let ours = sources(&resolved(&lab.path("main"), &Options::default()).unwrap());
    let real = loaded_files(&lab.path("main"));
    // This CPU's loader maps one of the two copies; the jail holds both.
    assert!(
        real.is_subset(&ours),
        "loader: {real:?}, resolver: {ours:?}"
    );
    for copy in ["D/libb.so", "D/glibc-hwcaps/x86-64-v2/libb.so"] {
        assert!(
            ours.contains(&lab.path(copy)),
            "{copy} missing from {ours:?}"
        );
    }
    if !skip_without_root("a_glibc_hwcaps_copy_is_jailed_beside_the_plain_one (jail run)") {
        assert_eq!(run_in_jail(&lab.path("main"), &[]), "2");
    }
}

#[test]
fn a_library_of_another_class_earlier_in_the_path_is_skipped() {
    let lab = Lab::new("class");
    lab.mkdir("D1");
    lab.mkdir("D2");
    lab.gcc("b.c", LIB_B, &["-shared", "-fPIC", "-o", "D2/libb.so"]);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/freebsd-pkg/freebsd-i386.binin");
    std::fs::copy(fixture, lab.path("D1/libb.so")).unwrap();
    let search = format!(
        "-Wl,--enable-new-dtags,-rpath,{}:{}",
        lab.path("D1").display(),
        lab.path("D2").display()
    );
    lab.gcc("main.c", MAIN_B, &["-o", "main", "-LD2", "-lb", &search]);
    let closure = resolved(&lab.path("main"), &Options::default()).unwrap();
    assert_eq!(sources(&closure), loaded_files(&lab.path("main")));
    assert!(sources(&closure).contains(&lab.path("D2/libb.so")));
}

/// A root holding the host's loader and C library (merged /usr), a
/// program that needs libb, and libb only in /opt/lib, known through
/// /etc/ld.so.conf.
fn root_with_ld_so_conf(lab: &Lab) -> PathBuf {
    let root = lab.mkdir("root");
    let lib = lab.mkdir("root/usr/lib/x86_64-linux-gnu");
    lab.mkdir("root/usr/lib64");
    lab.mkdir("root/usr/bin");
    lab.mkdir("root/opt/lib");
    lab.mkdir("root/etc");
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
        "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        root.join("usr/lib64/ld-linux-x86-64.so.2"),
    )
    .unwrap();
    lab.gcc(
        "b.c",
        LIB_B,
        &["-shared", "-fPIC", "-o", "root/opt/lib/libb.so"],
    );
    lab.gcc(
        "main.c",
        MAIN_B,
        &["-o", "root/usr/bin/main", "-Lroot/opt/lib", "-lb"],
    );
    std::fs::write(root.join("etc/ld.so.conf"), "/opt/lib\n").unwrap();
    root
}

#[test]
fn a_library_known_only_through_ld_so_conf_is_moved_where_the_jail_finds_it() {
    let lab = Lab::new("ld-so-conf");
    let root = root_with_ld_so_conf(&lab);
    let options = Options {
        root: FsRoot::new(root.clone()),
        ..Options::default()
    };
    let closure = resolved(&root.join("usr/bin/main"), &options).unwrap();
    let libb = named(&closure, "libb.so");
    assert_eq!(
        libb.moved_from.as_deref(),
        Some(Path::new("/opt/lib/libb.so"))
    );
    assert_eq!(libb.path, Path::new("/usr/lib/x86_64-linux-gnu/libb.so"));

    if skip_without_root("a_library_known_only_through_ld_so_conf (loader runs)") {
        return;
    }
    let run = |root: &Path| chroot_as_nobody(root, "/usr/bin/main").output().unwrap();
    // The real loader finds libb through the cache ldconfig builds...
    let ldconfig = Command::new("ldconfig")
        .arg("-r")
        .arg(&root)
        .status()
        .unwrap();
    assert!(ldconfig.success());
    let with_cache = run(&root);
    assert_eq!(String::from_utf8_lossy(&with_cache.stdout).trim(), "2");
    // ...and not without it, as inside a jail.
    std::fs::remove_file(root.join("etc/ld.so.cache")).unwrap();
    assert!(
        !run(&root).status.success(),
        "the loader found libb without a cache"
    );
    // The jail has no cache either, yet runs: libb was moved.
    let output = run_in_jail(
        &root.join("usr/bin/main"),
        &["--sysroot", root.to_str().unwrap()],
    );
    assert_eq!(output, "2");
}

#[test]
fn libraries_that_need_each_other_end_the_walk() {
    let lab = Lab::new("cycle");
    lab.mkdir("L");
    // liba needs libb and libb needs liba: build liba once without it.
    lab.gcc(
        "a.c",
        LIB_A,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "L/liba.so",
            "-Wl,--unresolved-symbols=ignore-all",
        ],
    );
    let origin = "-Wl,--enable-new-dtags,-rpath,$ORIGIN";
    lab.gcc(
        "b.c",
        LIB_B,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "L/libb.so",
            "-Wl,--no-as-needed",
            "-LL",
            "-la",
            origin,
        ],
    );
    lab.gcc(
        "a.c",
        LIB_A,
        &["-shared", "-fPIC", "-o", "L/liba.so", "-LL", "-lb", origin],
    );
    let search = format!("-Wl,--enable-new-dtags,-rpath,{}", lab.path("L").display());
    lab.gcc("main.c", MAIN_A, &["-o", "main", "-LL", "-la", &search]);
    let closure = resolved(&lab.path("main"), &Options::default()).unwrap();
    assert_eq!(sources(&closure), loaded_files(&lab.path("main")));
    let liba = named(&closure, "liba.so");
    assert!(liba.needed_by.contains(&lab.path("L/libb.so")), "{liba:?}");
}

#[test]
fn a_soname_already_loaded_satisfies_a_request_no_search_would() {
    let lab = Lab::new("loaded");
    // liba needs libb but has no RUNPATH to find it; the executable loads
    // libb first (breadth-first), so ld.so never searches for liba's request.
    lab.libs("D", "D", &[]);
    let search = format!("-Wl,--enable-new-dtags,-rpath,{}", lab.path("D").display());
    lab.gcc(
        "main.c",
        MAIN_A,
        &[
            "-o",
            "main",
            "-Wl,--no-as-needed",
            "-LD",
            "-la",
            "-lb",
            &search,
        ],
    );
    let closure = resolved(&lab.path("main"), &Options::default()).unwrap();
    assert_eq!(sources(&closure), loaded_files(&lab.path("main")));
    let libb = named(&closure, "libb.so");
    assert!(libb.needed_by.contains(&lab.path("D/liba.so")), "{libb:?}");
}

/// A library of the default directories that the test executables do not
/// load themselves (zlib: dpkg needs it, so every Debian has it).
fn default_dir_library() -> PathBuf {
    let output = Command::new("gcc")
        .arg("-print-multiarch")
        .output()
        .unwrap();
    let triplet = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let path = Path::new("/usr/lib").join(triplet).join("libz.so.1");
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

#[test]
fn nodefaultlib_keeps_a_library_from_the_default_directories() {
    // Regression: a library linked with -z nodefaultlib whose dependency is
    // only in a default directory was reported found there; ld.so refuses.
    let lab = Lab::new("nodeflib");
    lab.mkdir("D");
    let zlib = default_dir_library();
    let zlib = zlib.to_str().unwrap();
    let code = "int nda(void) { return 7; }\n";
    for (name, flags) in [("nda", "-Wl,-z,nodefaultlib"), ("plain", "-Wl,-z,defs")] {
        let out = format!("D/lib{name}.so");
        lab.gcc(
            &format!("{name}.c"),
            code,
            &[
                "-shared",
                "-fPIC",
                "-o",
                &out,
                "-Wl,--no-as-needed",
                zlib,
                flags,
            ],
        );
        let main = format!("main_{name}");
        let rpath = format!("-Wl,--enable-new-dtags,-rpath,{}", lab.path("D").display());
        let library = format!("-l{name}");
        lab.gcc(
            "main.c",
            "int nda(void);\nint main(void) { return nda() == 7 ? 0 : 1; }\n",
            &["-o", &main, "-LD", &library, &rpath],
        );
        let loader = ldd(&lab.path(&main));
        let ours = resolved(&lab.path(&main), &Options::default());
        match name {
            "nda" => {
                assert!(
                    matches!(&loader, Loaded::Missing(names) if names.contains("libz.so.1")),
                    "ld.so finds libz for a -z nodefaultlib library"
                );
                let err = ours.expect_err("jailpack found libz where ld.so cannot");
                assert!(
                    matches!(&err, Error::LibraryNotFound { name, .. } if name == "libz.so.1"),
                    "{err}"
                );
            }
            _ => assert_eq!(sources(&ours.unwrap()), loaded_files(&lab.path(&main))),
        }
    }
}

#[test]
fn every_missing_library_is_named_in_one_error() {
    // Reproduction: a binary needing four libraries the root lacks got an
    // error about the first; fixing it showed the next.
    let lab = Lab::new("four-missing");
    lab.mkdir("L");
    let mut link = vec!["-o", "main", "-Wl,--no-as-needed", "-LL"];
    let names = ["jpw", "jpx", "jpy", "jpz"];
    for name in names {
        lab.gcc(
            &format!("{name}.c"),
            &format!("int {name}(void) {{ return 1; }}\n"),
            &["-shared", "-fPIC", "-o", &format!("L/lib{name}.so")],
        );
    }
    let flags: Vec<String> = names.iter().map(|n| format!("-l{n}")).collect();
    link.extend(flags.iter().map(String::as_str));
    lab.gcc("main.c", "int main(void) { return 0; }\n", &link);
    let expected: BTreeSet<String> = names.iter().map(|n| format!("lib{n}.so")).collect();
    assert!(
        matches!(ldd(&lab.path("main")), Loaded::Missing(ref m) if *m == expected),
        "ld.so misses other libraries"
    );
    let err = resolved(&lab.path("main"), &Options::default()).unwrap_err();
    let Error::LibrariesNotFound { missing } = &err else {
        panic!("not one error for all four: {err}");
    };
    let ours: BTreeSet<String> = missing.iter().map(|m| m.name.clone()).collect();
    assert_eq!(ours, expected);
    let text = err.to_string();
    assert!(text.starts_with("4 libraries not found"), "{text}");
    assert!(text.contains("searched, for each:"), "{text}");
    for m in missing {
        assert_eq!(m.chain, [PathBuf::from("/usr/local/sbin/main")]);
    }
    // `closure --json` gives the same as data.
    let output = crate::support::xtask_jail(
        &["closure", "--json", lab.path("main").to_str().unwrap()],
        false,
    );
    assert!(!output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let listed: BTreeSet<String> = json["error"]["missing_libraries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(json["error"]["kind"], "library-not-found");
}

#[test]
fn a_dlopen_note_as_sd_elf_note_dlopen_writes_it_brings_its_required_library() {
    // The layout of systemd's SD_ELF_NOTE_DLOPEN: an allocated note
    // section `.note.dlopen` (gcc makes a `.note*` section SHT_NOTE), which
    // the linker puts in a PT_NOTE segment, where the reader finds it.
    const PROGRAM: &str = r#"
#define PAYLOAD "[{\"feature\":\"z\",\"soname\":[\"libz.so.1\"],\"priority\":\"required\"},{\"feature\":\"s\",\"soname\":[\"libsuggested-only.so.1\"],\"priority\":\"suggested\"}]"
__attribute__((used, section(".note.dlopen"), aligned(4))) static const struct {
    unsigned namesz, descsz, type;
    char name[4];
    char desc[(sizeof(PAYLOAD) + 3) & ~3];
} note = {4, sizeof(note.desc), 0x407c0c0a, "FDO", PAYLOAD};
int main(void) { return 0; }
"#;
    let lab = Lab::new("dlopen-note");
    lab.gcc("main.c", PROGRAM, &["-o", "main"]);
    let closure = resolved(&lab.path("main"), &Options::default()).unwrap();
    let zlib = std::fs::canonicalize(default_dir_library()).unwrap();
    let libz = named(&closure, zlib.file_name().and_then(|n| n.to_str()).unwrap());
    assert_eq!(libz.needed_by, [PathBuf::from("/usr/local/sbin/main")]);
    // ld.so knows nothing of the note: the program alone does not load it.
    assert!(!loaded_files(&lab.path("main")).contains(&libz.source));
    assert!(
        !closure
            .files
            .iter()
            .any(|f| f.path.to_string_lossy().contains("suggested")),
        "a suggested library was jailed"
    );
}

#[test]
fn programs_resolved_together_get_each_what_it_gets_alone() {
    // Programs that ask for the same libraries share the walk past
    // themselves, made once. Each must still get what its own loader
    // gives it: one with an RPATH its own copy, one linked with
    // -z nodefaultlib its own failure, one needing a version the others
    // do not its own refusal.
    let lab = Lab::new("together");
    let zlib = default_dir_library();
    let zlib_name = zlib.file_name().unwrap().to_str().unwrap().to_string();
    let own = lab.mkdir("own");
    std::fs::copy(&zlib, own.join(&zlib_name)).unwrap();
    let code = "int main(void) { return 0; }\n";
    let with_zlib = ["-Wl,--no-as-needed", zlib.to_str().unwrap()];
    for dir in ["plain", "rpath", "nodeflib"] {
        lab.mkdir(dir);
    }
    let rpath = format!("-Wl,--disable-new-dtags,-rpath,{}", own.display());
    for (out, flags) in [
        ("plain/a", vec![]),
        ("plain/b", vec![]),
        ("rpath/main", vec![rpath.as_str()]),
        ("nodeflib/main", vec!["-Wl,-z,nodefaultlib"]),
    ] {
        let mut args = vec!["-o", out];
        args.extend(with_zlib);
        args.extend(flags);
        lab.gcc("main.c", code, &args);
    }
    // /usr/bin/true, and a copy whose GLIBC_2.4 need says GLIBC_2.9.
    let bytes = std::fs::read("/usr/bin/true").unwrap();
    let (from, to) = (b"GLIBC_2.4\0", b"GLIBC_2.9\0");
    let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
    let mut changed = bytes.clone();
    changed[at..at + to.len()].copy_from_slice(to);
    std::fs::write(lab.path("true"), &bytes).unwrap();
    std::fs::write(lab.path("true29"), changed).unwrap();

    let at_its_path = |relative: &str| Executable {
        source: lab.path(relative),
        jail_path: lab.path(relative),
    };
    // One resolver throughout: what it made for the programs before, it
    // has for those after.
    let resolver = Resolver::new(Options::default());
    let together = ["plain/a", "rpath/main", "plain/b", "true"].map(at_its_path);
    let merged = resolver.resolve(&together).unwrap();
    for program in &together {
        let alone = resolve(std::slice::from_ref(program), &Options::default()).unwrap();
        for file in &alone.files {
            let there = merged.files.iter().find(|f| f.path == file.path);
            let there = there.unwrap_or_else(|| panic!("{:?} is missing", file.path));
            assert_eq!(there.source, file.source, "{}", program.source.display());
            for asker in &file.needed_by {
                assert!(there.needed_by.contains(asker), "{file:?} in {there:?}");
            }
        }
    }
    let rpath_alone = resolved(&lab.path("rpath/main"), &Options::default()).unwrap();
    assert_eq!(sources(&rpath_alone), loaded_files(&lab.path("rpath/main")));
    let libz = merged
        .files
        .iter()
        .find(|f| f.source == own.join(&zlib_name));
    assert_eq!(libz.unwrap().needed_by, [lab.path("rpath/main")]);

    // Refused together as alone and as by ld.so, with its own error.
    let err = resolver
        .resolve(&[at_its_path("nodeflib/main")])
        .unwrap_err();
    let Error::LibrariesNotFound { missing } = &err else {
        panic!("{err}");
    };
    let names: BTreeSet<String> = missing.iter().map(|m| m.name.clone()).collect();
    assert!(names.contains(&zlib_name), "{err}");
    assert!(
        matches!(ldd(&lab.path("nodeflib/main")), Loaded::Missing(m) if m == names),
        "ld.so misses other libraries than {names:?}"
    );
    for m in missing {
        assert_eq!(m.chain, [lab.path("nodeflib/main")]);
    }
    let err = resolver.resolve(&[at_its_path("true29")]).unwrap_err();
    let Error::VersionsNotFound { missing, .. } = &err else {
        panic!("{err}");
    };
    let missing: Vec<_> = missing.iter().map(|m| (&m.object, &m.version)).collect();
    assert_eq!(missing, [(&lab.path("true29"), &"GLIBC_2.9".to_string())]);
}

#[test]
fn a_search_directory_that_is_a_link_loop_is_passed_over() {
    // Regression: a RUNPATH entry whose directory is a symlink loop failed
    // the whole closure; ld.so's open() fails there and it searches on.
    let lab = Lab::new("runpath-loop");
    lab.mkdir("real");
    lab.gcc("b.c", LIB_B, &["-shared", "-fPIC", "-o", "real/libb.so"]);
    symlink("loop", lab.path("loop")).unwrap();
    let runpath = format!(
        "-Wl,--enable-new-dtags,-rpath,{}:{}",
        lab.path("loop").display(),
        lab.path("real").display()
    );
    lab.gcc("main.c", MAIN_B, &["-o", "main", "-Lreal", "-lb", &runpath]);
    let closure = resolved(&lab.path("main"), &Options::default()).unwrap();
    assert_eq!(sources(&closure), loaded_files(&lab.path("main")));
    assert!(sources(&closure).contains(&lab.path("real/libb.so")));
}

#[test]
fn origin_in_ld_library_path_is_the_program_s_directory() {
    // Regression: `$ORIGIN` in LD_LIBRARY_PATH was each requester's own
    // directory; glibc expands it once, for the main program, so a library
    // beside the program's libraries is found for them too.
    let lab = Lab::new("llp-origin");
    lab.libs("lib", "lib", &[]);
    lab.gcc(
        "main.c",
        MAIN_A,
        &["-o", "main", "-Llib", "-la", "-Wl,-rpath-link,lib"],
    );
    let output = Command::new("ldd")
        .arg(lab.path("main"))
        .env("LD_LIBRARY_PATH", "$ORIGIN/lib")
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&output.stdout);
    assert!(
        listing.contains("libb.so => ") && !listing.contains("not found"),
        "{listing}"
    );
    let options = Options {
        ld_library_path: vec!["$ORIGIN/lib".into()],
        ..Options::default()
    };
    let closure = resolved(&lab.path("main"), &options).unwrap();
    let libb = named(&closure, "libb.so");
    assert_eq!(libb.source, lab.path("lib/libb.so"));
    assert!(libb.found.starts_with("LD_LIBRARY_PATH"), "{}", libb.found);
}

#[test]
fn a_program_that_asks_for_itself_lends_no_walk() {
    // Found by review: a shared object with an interpreter and no soname
    // (a program, to the resolver) asking for itself by name left its walk
    // for the next program of the same names, which then lost its own
    // library's glibc-hwcaps copy and who asked for it.
    let lab = Lab::new("asks-for-itself");
    lab.mkdir("lib/glibc-hwcaps/x86-64-v3");
    lab.mkdir("bin");
    let foo = "#include <unistd.h>\nint foo(void) { return 1; }\nvoid entry(void) { _exit(0); }\n";
    lab.gcc(
        "foo.c",
        foo,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "libfoo.so.1",
            "-Wl,-soname,libfoo.so.1",
        ],
    );
    let interp =
        "const char i[] __attribute__((section(\".interp\"))) = \"/lib64/ld-linux-x86-64.so.2\";\n";
    std::fs::write(lab.path("interp.c"), interp).unwrap();
    lab.gcc(
        "foo.c",
        foo,
        &[
            "interp.c",
            "-shared",
            "-fPIC",
            "-o",
            "lib/libfoo.so.1",
            "-Wl,-e,entry",
            "-Wl,--no-as-needed",
            "-L.",
            "-l:libfoo.so.1",
        ],
    );
    lab.gcc(
        "main.c",
        "int foo(void);\nint main(void) { return foo() - 1; }\n",
        &[
            "-o",
            "bin/main",
            "-Wl,--no-as-needed",
            "-L.",
            "-l:libfoo.so.1",
        ],
    );
    std::fs::copy(
        lab.path("libfoo.so.1"),
        lab.path("lib/glibc-hwcaps/x86-64-v3/libfoo.so.1"),
    )
    .unwrap();
    let options = Options {
        ld_library_path: vec![lab.path("lib").to_str().unwrap().to_string()],
        ..Options::default()
    };
    let at_its_path = |relative: &str| Executable {
        source: lab.path(relative),
        jail_path: lab.path(relative),
    };
    let resolver = Resolver::new(options.clone());
    resolver.resolve(&[at_its_path("lib/libfoo.so.1")]).unwrap();
    let after = resolver.resolve(&[at_its_path("bin/main")]).unwrap();
    let alone = resolve(&[at_its_path("bin/main")], &options).unwrap();
    let json = |closure: &Closure| serde_json::to_string(closure).unwrap();
    assert_eq!(json(&after), json(&alone));
    assert!(
        alone
            .files
            .iter()
            .any(|f| f.path.ends_with("x86-64-v3/libfoo.so.1")),
        "{:?}",
        alone.files
    );
}
