//! OpenBSD loader rules the real fixtures lack (RUNPATH against RPATH,
//! `$ORIGIN` only with DF_ORIGIN), on synthetic OpenBSD objects: gcc builds
//! them without any C library, with an `.note.openbsd.ident` note and
//! OpenBSD's interpreter, so they are OpenBSD files to the resolver.

use std::path::{Path, PathBuf};
use std::process::Command;

use jailpack::Error;
use jailpack::closure::root::FsRoot;
use jailpack::closure::{Closure, Executable, Options, resolve};

use crate::support::scratch;

/// The note OpenBSD's kernel and jailpack look for: name "OpenBSD", type 1.
const NOTE: &str = r#"
    .section .note.openbsd.ident, "a", @note
    .p2align 2
    .long 8, 4, 1
    .asciz "OpenBSD"
    .p2align 2
    .long 0
"#;

struct Sysroot {
    root: PathBuf,
    work: PathBuf,
}

impl Sysroot {
    /// A root with a stand-in /usr/libexec/ld.so (a synthetic object).
    fn new(name: &str) -> Sysroot {
        let work = scratch(name);
        let root = work.join("root");
        std::fs::create_dir_all(root.join("usr/libexec")).unwrap();
        std::fs::write(work.join("note.s"), NOTE).unwrap();
        let sysroot = Sysroot { root, work };
        sysroot.library("usr/libexec/ld.so", "ld.so", &[]);
        sysroot
    }

    fn gcc(&self, args: &[&str]) {
        let output = Command::new("gcc")
            .current_dir(&self.work)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "gcc {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A shared object at `path` (in the root) with soname `soname`.
    fn library(&self, path: &str, soname: &str, extra: &[&str]) {
        let out = self.root.join(path);
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        std::fs::write(self.work.join("stub.c"), "int stub(void) { return 0; }\n").unwrap();
        let soname_flag = format!("-Wl,-soname,{soname}");
        let mut args = vec![
            "-shared",
            "-fPIC",
            "-nostdlib",
            "-o",
            out.to_str().unwrap(),
            "stub.c",
            "note.s",
            &soname_flag,
            "-Wl,--no-as-needed",
        ];
        args.extend(extra);
        self.gcc(&args);
    }

    /// An executable at `path` (in the root) using OpenBSD's interpreter.
    fn program(&self, path: &str, extra: &[&str]) -> PathBuf {
        let out = self.root.join(path);
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        std::fs::write(
            self.work.join("start.c"),
            "void _start(void) { for (;;) {} }\n",
        )
        .unwrap();
        let mut args = vec![
            "-nostdlib",
            "-fPIE",
            "-pie",
            "-o",
            out.to_str().unwrap(),
            "start.c",
            "note.s",
            "-Wl,--dynamic-linker=/usr/libexec/ld.so",
            "-Wl,--no-as-needed",
        ];
        args.extend(extra);
        self.gcc(&args);
        out
    }

    fn resolve(&self, program: &Path) -> Result<Closure, Error> {
        let options = Options {
            root: FsRoot::new(self.root.clone()),
            ..Options::default()
        };
        let jail_path = Path::new("/").join(program.strip_prefix(&self.root).unwrap());
        resolve(
            &[Executable {
                source: program.to_path_buf(),
                jail_path,
            }],
            &options,
        )
    }
}

fn has(closure: &Closure, path: &str) -> bool {
    closure.files.iter().any(|f| f.path == Path::new(path))
}

#[test]
fn origin_is_expanded_only_for_objects_flagged_df_origin() {
    let sysroot = Sysroot::new("openbsd-origin");
    sysroot.library("opt/app/lib/libfoo.so.1.0", "libfoo.so.1.0", &[]);
    let link = format!("-L{}", sysroot.root.join("opt/app/lib").display());
    let flagged = sysroot.program(
        "opt/app/bin/flagged",
        &[
            &link,
            "-l:libfoo.so.1.0",
            "-Wl,-rpath,$ORIGIN/../lib",
            "-Wl,-z,origin",
        ],
    );
    let closure = sysroot.resolve(&flagged).unwrap();
    assert_eq!(closure.target.os, jailpack::closure::target::Os::OpenBsd);
    assert!(has(&closure, "/opt/app/lib/libfoo.so.1.0"));

    let unflagged = sysroot.program(
        "opt/app/bin/unflagged",
        &[&link, "-l:libfoo.so.1.0", "-Wl,-rpath,$ORIGIN/../lib"],
    );
    let err = sysroot.resolve(&unflagged).unwrap_err();
    assert!(
        matches!(&err, Error::LibraryNotFound { name, .. } if name == "libfoo.so.1.0"),
        "{err}"
    );
}

#[test]
fn the_executables_rpath_serves_dependencies_unless_they_have_a_runpath() {
    let sysroot = Sysroot::new("openbsd-rpath");
    sysroot.library("opt/x/libb.so.1.0", "libb.so.1.0", &[]);
    let b_dir = format!("-L{}", sysroot.root.join("opt/x").display());
    // liba (in /usr/lib) needs libb, which only /opt/x has.
    sysroot.library(
        "usr/lib/liba.so.1.0",
        "liba.so.1.0",
        &[&b_dir, "-l:libb.so.1.0"],
    );
    sysroot.library(
        "usr/lib/liba-runpath/liba.so.1.0",
        "liba.so.1.0",
        &[
            &b_dir,
            "-l:libb.so.1.0",
            "-Wl,--enable-new-dtags,-rpath,/nowhere",
        ],
    );
    let a_dir = format!("-L{}", sysroot.root.join("usr/lib").display());
    let rpath = "-Wl,--disable-new-dtags,-rpath,/opt/x";
    let rpath_link = format!("-Wl,-rpath-link,{}", sysroot.root.join("opt/x").display());
    let program = sysroot.program(
        "usr/bin/prog",
        &[&a_dir, "-l:liba.so.1.0", rpath, &rpath_link],
    );
    let closure = sysroot.resolve(&program).unwrap();
    assert!(has(&closure, "/opt/x/libb.so.1.0"), "{:?}", closure.files);

    // The same liba with a RUNPATH of its own: the executable's RPATH no
    // longer applies to its requests.
    std::fs::rename(
        sysroot.root.join("usr/lib/liba-runpath/liba.so.1.0"),
        sysroot.root.join("usr/lib/liba.so.1.0"),
    )
    .unwrap();
    let err = sysroot.resolve(&program).unwrap_err();
    let Error::LibraryNotFound { name, chain, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(name, "libb.so.1.0");
    assert_eq!(chain[0], Path::new("/usr/lib/liba.so.1.0"));
}
