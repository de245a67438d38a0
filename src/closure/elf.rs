//! What the resolver needs to know of one ELF file, read without running it.

use std::path::Path;

use goblin::elf::{Elf, dynamic, header};

use crate::error::{Error, Result};

/// Files bigger than this are refused rather than read: no executable or
/// library a jail holds comes near it, and a hostile size cannot exhaust memory.
const MAX_ELF_SIZE: u64 = 1 << 31;

/// The facts of one ELF object that decide how it is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfObject {
    pub class: Class,
    pub little_endian: bool,
    /// `e_machine`, e.g. 62 for x86-64.
    pub machine: u16,
    /// `e_type`: executable, shared object (PIE executables are these too), …
    pub file_type: u16,
    pub os_abi: u8,
    /// Names of the ELF notes the file carries (`OpenBSD`, `FreeBSD`, `GNU`, …).
    pub note_names: Vec<String>,
    /// Libraries the object declares it dlopen()s (`.note.dlopen`), each a
    /// list of alternative sonames; only `required` and `recommended` ones.
    pub dlopen: Vec<Vec<String>>,
    /// PT_INTERP, when the file has one.
    pub interpreter: Option<String>,
    pub soname: Option<String>,
    /// DT_NEEDED, in order.
    pub needed: Vec<String>,
    /// DT_RPATH and DT_RUNPATH, split at `:`.
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
    /// DF_ORIGIN or DF_1_ORIGIN: OpenBSD's ld.so expands `$ORIGIN` only then.
    pub origin_flag: bool,
    /// DF_1_NODEFLIB (`-z nodefaultlib`): glibc's loader searches neither
    /// the default directories nor cache entries inside them for the
    /// object's own dependencies.
    pub nodeflib: bool,
    /// DT_VERNEED: the symbol versions it needs, per library.
    pub version_needs: Vec<super::versions::VersionNeed>,
    /// DT_VERDEF: the symbol versions it defines.
    pub version_definitions: Vec<super::versions::Version>,
    /// Whether the file has a dynamic section at all (static executables do not).
    pub dynamic: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Elf32,
    Elf64,
}

impl ElfObject {
    /// Reads and parses `path`. The file is mapped, not read: parsing
    /// touches only the headers, the dynamic section and the notes, so a
    /// huge binary costs no more than a small one.
    pub fn read(path: &Path) -> Result<Self> {
        let read_error = |source| Error::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = crate::regular::open_regular(path).map_err(read_error)?;
        let size = file.metadata().map_err(read_error)?.len();
        if size > MAX_ELF_SIZE {
            return Err(Error::Elf {
                path: path.to_path_buf(),
                reason: format!("{size} bytes is larger than any loadable object"),
            });
        }
        if size == 0 {
            return Err(Error::Elf {
                path: path.to_path_buf(),
                reason: "empty file".to_string(),
            });
        }
        // SAFETY: a private read-only map of a regular file. Like every
        // mmap reader, it assumes nobody truncates the file while we parse.
        let bytes = unsafe { memmap2::Mmap::map(&file) }.map_err(read_error)?;
        Self::parse(&bytes).map_err(|reason| Error::Elf {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses an ELF image held in memory.
    pub fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
            return Err("no ELF magic (is it a script or a linker script?)".to_string());
        }
        // A parser bug on hostile input must become an error, not a crash.
        let parsed = std::panic::catch_unwind(|| {
            Elf::parse(bytes).map(|elf| Self::from_goblin(&elf, bytes))
        });
        match parsed {
            Ok(Ok(object)) => Ok(object),
            Ok(Err(e)) => Err(format!("malformed or truncated: {e}")),
            Err(_) => Err("malformed: the ELF parser gave up on it".to_string()),
        }
    }

    fn from_goblin(elf: &Elf, bytes: &[u8]) -> Self {
        let split = |list: &[&str]| -> Vec<String> {
            list.iter()
                .flat_map(|entry| entry.split(':'))
                .filter(|dir| !dir.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut note_names = Vec::new();
        let notes = elf
            .iter_note_headers(bytes)
            .into_iter()
            .chain(elf.iter_note_sections(bytes, None))
            .flatten();
        let mut dlopen = Vec::new();
        for note in notes.flatten() {
            let name = note.name.trim_end_matches('\0').to_string();
            if name == "FDO" && note.n_type == NT_FDO_DLOPEN {
                dlopen.extend(parse_dlopen_note(note.desc));
            }
            if !note_names.contains(&name) {
                note_names.push(name);
            }
        }
        let (origin_flag, nodeflib, dynamic) = match &elf.dynamic {
            Some(d) => (
                d.info.flags & dynamic::DF_ORIGIN != 0
                    || d.info.flags_1 & dynamic::DF_1_ORIGIN != 0,
                d.info.flags_1 & dynamic::DF_1_NODEFLIB != 0,
                true,
            ),
            None => (false, false, false),
        };
        ElfObject {
            class: if elf.is_64 {
                Class::Elf64
            } else {
                Class::Elf32
            },
            little_endian: elf.little_endian,
            machine: elf.header.e_machine,
            file_type: elf.header.e_type,
            os_abi: elf.header.e_ident[header::EI_OSABI],
            note_names,
            dlopen,
            interpreter: elf.interpreter.map(str::to_string),
            soname: elf.soname.map(str::to_string),
            needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
            rpath: split(&elf.rpaths),
            runpath: split(&elf.runpaths),
            origin_flag,
            nodeflib,
            version_needs: super::versions::needs(elf),
            version_definitions: super::versions::definitions(elf),
            dynamic,
        }
    }

    /// Whether a loader running this object's program would accept `other`
    /// as a library: same class, byte order and machine.
    pub fn compatible(&self, other: &ElfObject) -> bool {
        self.class == other.class
            && self.little_endian == other.little_endian
            && self.machine == other.machine
    }

    /// e_type ET_EXEC or ET_DYN with an interpreter: something one can run.
    pub fn is_executable(&self) -> bool {
        self.file_type == header::ET_EXEC
            || (self.file_type == header::ET_DYN && self.interpreter.is_some())
    }

    /// A short description for messages, e.g. `ELF64 x86-64`.
    pub fn describe(&self) -> String {
        let bits = match self.class {
            Class::Elf32 => "ELF32",
            Class::Elf64 => "ELF64",
        };
        format!("{bits} {}", header::machine_to_str(self.machine))
    }
}

/// The `.note.dlopen` note type (https://systemd.io/ELF_DLOPEN_METADATA/).
const NT_FDO_DLOPEN: u32 = 0x407c_0c0a;

/// The sonames a `.note.dlopen` payload (a JSON array of objects) declares
/// as `required` or `recommended`; `suggested` ones would bloat a jail.
/// A payload that is not valid JSON is ignored, as the loader ignores notes.
fn parse_dlopen_note(desc: &[u8]) -> Vec<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        soname: Vec<String>,
        #[serde(default)]
        priority: Option<String>,
    }
    let text = desc.split(|b| *b == 0).next().unwrap_or(desc);
    let entries: Vec<Entry> = serde_json::from_slice(text).unwrap_or_default();
    entries
        .into_iter()
        .filter(|e| {
            matches!(
                e.priority.as_deref(),
                None | Some("required") | Some("recommended")
            )
        })
        .map(|e| e.soname)
        .filter(|sonames| !sonames.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_object(path: &str) -> ElfObject {
        ElfObject::read(Path::new(path)).unwrap()
    }

    #[test]
    fn reads_a_host_executable() {
        let sh = host_object("/bin/sh");
        assert_eq!(sh.class, Class::Elf64);
        assert!(sh.is_executable());
        assert!(sh.interpreter.as_deref().unwrap().contains("ld-linux"));
        assert!(
            sh.needed.iter().any(|n| n == "libc.so.6"),
            "{:?}",
            sh.needed
        );
    }

    #[test]
    fn refuses_non_elf_and_truncated_files() {
        assert!(
            ElfObject::parse(b"#!/bin/sh\n")
                .unwrap_err()
                .contains("no ELF magic")
        );
        assert!(ElfObject::parse(b"").is_err());
        let whole = std::fs::read("/bin/sh").unwrap();
        for cut in [5, 20, 63, 64, 200, 1000] {
            let err = ElfObject::parse(&whole[..cut]);
            assert!(err.is_err(), "a file cut at {cut} bytes parsed");
        }
    }

    #[test]
    fn dlopen_notes_keep_required_and_recommended_sonames() {
        let payload =
            br#"[{"feature":"a","soname":["libfoo.so.2","libfoo.so.1"],"priority":"required"},
            {"feature":"b","soname":["libbar.so.1"],"priority":"suggested"},
            {"feature":"c","soname":["libbaz.so.3"]}]"#;
        let mut desc = payload.to_vec();
        desc.extend([0, 0, 0]);
        assert_eq!(
            parse_dlopen_note(&desc),
            [
                vec!["libfoo.so.2".to_string(), "libfoo.so.1".to_string()],
                vec!["libbaz.so.3".to_string()]
            ]
        );
        assert!(parse_dlopen_note(b"not json").is_empty());
    }

    #[test]
    fn absurd_header_values_are_errors() {
        let mut bytes = std::fs::read("/bin/sh").unwrap();
        // e_phoff (offset 32 in ELF64) pointing far past the end of the file.
        bytes[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(ElfObject::parse(&bytes).is_err());
    }
}
