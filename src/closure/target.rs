//! Which OS and loader an ELF file is for, decided from the file itself.
//! EI_OSABI alone is unreliable (PLATFORMS.md): notes and the interpreter
//! come first, then the OSABI byte, then the libraries the file asks for.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::elf::{Class, ElfObject};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    OpenBsd,
    FreeBsd,
}

/// The run-time loader whose search rules the closure follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loader {
    Glibc,
    Musl,
    OpenBsd,
    FreeBsd,
}

/// The target every file in one jail must share.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Target {
    pub os: Os,
    pub loader: Loader,
    #[serde(skip)]
    pub class: Class,
    #[serde(skip)]
    pub little_endian: bool,
    pub machine: u16,
}

const OSABI_NETBSD: u8 = 2;
const OSABI_GNU: u8 = 3;
const OSABI_SOLARIS: u8 = 6;
const OSABI_FREEBSD: u8 = 9;
const OSABI_OPENBSD: u8 = 12;

impl Target {
    /// Decides the target of the executable at `path`.
    pub fn detect(path: &Path, object: &ElfObject) -> Result<Target> {
        let has_note = |name: &str| object.note_names.iter().any(|n| n == name);
        let interp = object.interpreter.as_deref().unwrap_or("");
        let asks_for = |prefix: &str| object.needed.iter().any(|n| n.starts_with(prefix));
        let unsupported = |found: String| Error::UnsupportedTarget {
            path: path.to_path_buf(),
            found,
        };

        // DragonFly shares FreeBSD's `.note.tag` section and ld-elf name
        // (ld-elf.so.2), so it is ruled out first, by its note.
        let os = if has_note("DragonFly") {
            return Err(unsupported("DragonFly BSD".to_string()));
        } else if has_note("OpenBSD")
            || interp == "/usr/libexec/ld.so"
            || object.os_abi == OSABI_OPENBSD
        {
            Os::OpenBsd
        } else if has_note("FreeBSD")
            || matches!(interp, "/libexec/ld-elf.so.1" | "/libexec/ld-elf32.so.1")
            || object.os_abi == OSABI_FREEBSD
        {
            Os::FreeBsd
        } else if has_note("NetBSD")
            || interp == "/usr/libexec/ld.elf_so"
            || object.os_abi == OSABI_NETBSD
        {
            return Err(unsupported("NetBSD".to_string()));
        } else if object.os_abi == OSABI_SOLARIS || has_note("SUNW Solaris") {
            return Err(unsupported("Solaris".to_string()));
        } else if interp.contains("/ld-linux")
            || interp.contains("/ld-musl")
            || has_note("GNU")
            || object.os_abi == OSABI_GNU
        {
            Os::Linux
        } else if asks_for("libthr.so.") || object.needed.iter().any(|n| n == "libc.so.7") {
            Os::FreeBsd
        } else if asks_for("libc.so.6") {
            Os::Linux
        } else {
            return Err(unsupported(format!(
                "{} with EI_OSABI {}, interpreter {:?} and no OS note",
                object.describe(),
                object.os_abi,
                interp
            )));
        };
        let loader = match os {
            Os::OpenBsd => Loader::OpenBsd,
            Os::FreeBsd => Loader::FreeBsd,
            Os::Linux if interp.contains("/ld-musl") => Loader::Musl,
            Os::Linux => Loader::Glibc,
        };
        Ok(Target {
            os,
            loader,
            class: object.class,
            little_endian: object.little_endian,
            machine: object.machine,
        })
    }
}

impl Target {
    /// The Rust target triple naming this target, for a prebuilt binary's
    /// artifacts (e.g. `x86_64-unknown-openbsd`).
    pub fn rust_triple(&self) -> String {
        use crate::closure::elf::machine::*;
        let arch = match (self.machine, self.class, self.little_endian) {
            (EM_X86_64, _, _) => "x86_64",
            (EM_386, _, _) => "i686",
            (EM_AARCH64, _, _) => "aarch64",
            (EM_ARM, _, _) => "armv7",
            (EM_RISCV, Class::Elf64, _) => "riscv64gc",
            (EM_PPC64, _, true) => "powerpc64le",
            (EM_PPC64, _, false) => "powerpc64",
            (EM_PPC, _, _) => "powerpc",
            (EM_SPARCV9, _, _) => "sparc64",
            (EM_MIPS, Class::Elf64, _) => "mips64",
            _ => "unknown",
        };
        let system = match (self.os, self.loader, self.machine) {
            (Os::OpenBsd, _, _) => "unknown-openbsd",
            (Os::FreeBsd, _, _) => "unknown-freebsd",
            (Os::Linux, Loader::Musl, _) => "unknown-linux-musl",
            (Os::Linux, _, EM_ARM) => "unknown-linux-gnueabihf",
            (Os::Linux, _, _) => "unknown-linux-gnu",
        };
        format!("{arch}-{system}")
    }
}

impl fmt::Display for Loader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Loader::Glibc => "glibc ld.so",
            Loader::Musl => "musl ld.so",
            Loader::OpenBsd => "OpenBSD ld.so",
            Loader::FreeBsd => "FreeBSD rtld",
        })
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Os::Linux => "Linux",
            Os::OpenBsd => "OpenBSD",
            Os::FreeBsd => "FreeBSD",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = "../shared/fixtures";

    fn detect(relative: &str) -> Result<Target> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(FIXTURES)
            .join(relative);
        let object = ElfObject::read(&path).unwrap();
        Target::detect(&path, &object)
    }

    #[test]
    fn host_executables_are_linux_glibc() {
        let target = Target::detect(
            Path::new("/bin/sh"),
            &ElfObject::read(Path::new("/bin/sh")).unwrap(),
        )
        .unwrap();
        assert_eq!((target.os, target.loader), (Os::Linux, Loader::Glibc));
    }

    #[test]
    fn openbsd_is_known_by_its_note_despite_osabi_zero() {
        let target = detect("openbsd-7.2-amd64/bin/openbsd-hello-x64").unwrap();
        assert_eq!(target.os, Os::OpenBsd);
        assert_eq!(target.machine, crate::closure::elf::machine::EM_X86_64);
    }

    #[test]
    fn freebsd_is_known_with_and_without_a_note() {
        for file in [
            "freebsd-14.0-amd64/bin/busybox",
            "freebsd-pkg/freebsd-riscv64.binin",
            "freebsd-pkg/freebsd-aarch64.binin",
        ] {
            assert_eq!(detect(file).unwrap().os, Os::FreeBsd, "{file}");
        }
    }

    #[test]
    fn musl_and_linux_controls() {
        assert_eq!(
            detect("freebsd-pkg/musl.binin").unwrap().loader,
            Loader::Musl
        );
        assert_eq!(
            detect("freebsd-pkg/linux.binin").unwrap().loader,
            Loader::Glibc
        );
    }

    #[test]
    fn triples_name_the_target() {
        assert_eq!(
            detect("openbsd-7.2-amd64/bin/openbsd-hello-x64")
                .unwrap()
                .rust_triple(),
            "x86_64-unknown-openbsd"
        );
        assert_eq!(
            detect("freebsd-pkg/freebsd-aarch64.binin")
                .unwrap()
                .rust_triple(),
            "aarch64-unknown-freebsd"
        );
        assert_eq!(
            detect("freebsd-pkg/musl.binin").unwrap().rust_triple(),
            "x86_64-unknown-linux-musl"
        );
    }

    #[test]
    fn dragonfly_is_refused_by_name() {
        let err = detect("freebsd-pkg/dfly.binin").unwrap_err().to_string();
        assert!(err.contains("DragonFly"), "{err}");
    }
}
