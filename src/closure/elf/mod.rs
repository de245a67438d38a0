//! What the resolver needs to know of one ELF file, read without running
//! it: the loader's view (file header, program headers, dynamic section,
//! symbol version tables) and the notes, nothing more.

mod dynamic;
mod image;
pub mod machine;
mod notes;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use self::image::{Image, PT_DYNAMIC, PT_INTERP, PT_LOAD, PT_NOTE, Parse, Parts};
use self::machine::{ET_DYN, ET_EXEC};
use crate::error::{Error, Result};

/// Files bigger than this are refused rather than read: no executable or
/// library a jail holds comes near it, and a hostile size cannot exhaust memory.
const MAX_ELF_SIZE: u64 = 1 << 31;
/// What is read first: the file header, the program headers, the
/// interpreter's name and, in most files, the notes.
const HEAD: u64 = 1 << 10;
/// Each later read: at least this much from where a miss starts (version
/// tables are chains whose length the first entry does not tell), and
/// misses closer than this to each other are read together.
const PART: u64 = 1 << 10;
/// Parses made with the parts read so far before the file is mapped whole
/// instead. Each round reads what the last one missed, and one part may
/// only be found through another: most files take two (the names and
/// version tables the dynamic section points to, then their names), glibc's
/// libc four (the rest of its version chains).
const MAX_ROUNDS: usize = 10;
/// Bytes read in parts before the file is mapped whole instead (a dynamic
/// string table megabytes long, or a hostile size).
const MAX_PARTS: u64 = 4 << 20;

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
    /// Shared: a closure lists them for each file that is this object.
    pub version_needs: std::sync::Arc<[super::versions::VersionNeed]>,
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
    /// Reads and parses `path`. Only what parsing asks for is read: the
    /// first pages, then each part it missed (the dynamic section, its
    /// strings and version tables, the notes), so a huge binary costs no
    /// more than a small one. Read with `pread`, not mapped: unmapping a
    /// file in a process whose walks run on several cores makes every core
    /// flush its TLB.
    pub fn read(path: &Path) -> Result<Self> {
        Self::read_with(path, crate::regular::open_regular_with_metadata)
    }

    /// [`ElfObject::read`] of a path the caller has seen to be a regular
    /// file (see [`crate::regular::open_seen_regular`]).
    pub fn read_seen_regular(path: &Path) -> Result<Self> {
        Self::read_with(path, crate::regular::open_seen_regular)
    }

    /// [`ElfObject::read`] of a regular file at `path` itself, not through
    /// a link (see [`crate::regular::open_regular_not_a_link`]).
    pub fn read_not_a_link(path: &Path) -> Result<Self> {
        Self::read_with(path, crate::regular::open_regular_not_a_link)
    }

    fn read_with(
        path: &Path,
        open: fn(&Path) -> std::io::Result<(File, std::fs::Metadata)>,
    ) -> Result<Self> {
        let read_error = |source| Error::Read {
            path: path.to_path_buf(),
            source,
        };
        let (file, metadata) = open(path).map_err(read_error)?;
        let size = metadata.len();
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
        let parsed = match Self::read_parts(&file, size).map_err(read_error)? {
            Some((parsed, _)) => parsed,
            None => {
                // SAFETY: a private read-only map of a regular file. Like
                // every mmap reader, it assumes nobody truncates the file
                // while we parse.
                let bytes = unsafe { memmap2::Mmap::map(&file) }.map_err(read_error)?;
                Self::parse(&bytes)
            }
        };
        parsed.map_err(|reason| Error::Elf {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses `file` from the parts of it parsing asks for, read one round
    /// of misses at a time; `None` when it needs more rounds or bytes than
    /// a mapping of the whole file would cost. With the result, the bytes
    /// read.
    fn read_parts(file: &File, size: u64) -> std::io::Result<Option<(Parse<Self>, u64)>> {
        // Every part goes into one buffer per thread, kept from file to
        // file: memory a process touches for the first time costs a page
        // fault per page, and fresh buffers for each of a thousand files
        // cost more in faults than in reading.
        thread_local! {
            static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUFFER.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut buffer) => Self::read_parts_into(file, size, &mut buffer),
            Err(_) => Self::read_parts_into(file, size, &mut Vec::new()),
        })
    }

    fn read_parts_into(
        file: &File,
        size: u64,
        buffer: &mut Vec<u8>,
    ) -> std::io::Result<Option<(Parse<Self>, u64)>> {
        buffer.clear();
        // Each part: its offset in the file and its place in `buffer`.
        let mut parts = vec![(0, read_into(file, 0, HEAD.min(size), buffer)?)];
        let mut read = HEAD.min(size);
        // The first round asks without parsing: what the program headers
        // point at, read before any parse.
        let mut misses = {
            let image = view(&parts, buffer, size);
            Self::ask_for_what_the_headers_point_at(&image);
            image.misses()
        };
        for _ in 0..MAX_ROUNDS {
            // Each run of misses closer than PART to each other in one read.
            misses.sort_unstable();
            let mut runs: Vec<(u64, u64)> = Vec::new();
            for (start, end) in misses {
                let end = end.max(start + PART).min(size);
                match runs.last_mut() {
                    Some(last) if start <= last.1 + PART => last.1 = last.1.max(end),
                    _ => runs.push((start, end)),
                }
            }
            for (from, to) in runs {
                read += to - from;
                if read > MAX_PARTS {
                    return Ok(None);
                }
                parts.push((from, read_into(file, from, to - from, buffer)?));
            }
            let image = view(&parts, buffer, size);
            let parsed = Self::parse_parts(&image);
            misses = image.misses();
            if misses.is_empty() {
                return Ok(Some((parsed, read)));
            }
        }
        Ok(None)
    }

    /// Notes as missed, without parsing further, the parts a parse asks
    /// for first: the dynamic section, the interpreter's name and the note
    /// segments. (Whatever fails here, the parse meets again and reports.)
    fn ask_for_what_the_headers_point_at(parts: &Parts<'_>) {
        let Ok((image, header)) = Image::open(parts) else {
            return;
        };
        let Ok(segments) = image.segments(&header) else {
            return;
        };
        for segment in segments
            .iter()
            .filter(|s| matches!(s.kind, PT_DYNAMIC | PT_INTERP | PT_NOTE))
        {
            let _ = image.slice(segment.offset, segment.file_size, "");
        }
    }

    /// Parses an ELF image held in memory. Every field is read through
    /// a bounds check: hostile input is an error, never a panic.
    pub fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        Self::parse_parts(&Parts::whole(bytes))
    }

    fn parse_parts(parts: &Parts<'_>) -> Parse<Self> {
        let (image, header) = Image::open(parts)?;
        let segments = image.segments(&header)?;
        // A loadable segment past the end is a truncated file: the loader
        // would map bytes that are not there.
        for segment in segments.iter().filter(|s| s.kind == PT_LOAD) {
            image.in_file(segment.offset, segment.file_size, "a loadable segment")?;
        }
        if !segments.iter().any(|s| s.kind == PT_LOAD) {
            return Err("no loadable segment: nothing a loader could run or load".to_string());
        }
        let interpreter = match segments.iter().find(|s| s.kind == PT_INTERP) {
            Some(s) => {
                let bytes = image.slice(s.offset, s.file_size, "the interpreter's name")?;
                let name = bytes.split(|b| *b == 0).next().unwrap_or(bytes);
                if name.is_empty() {
                    return Err("its PT_INTERP names no interpreter".to_string());
                }
                Some(
                    String::from_utf8(name.to_vec())
                        .map_err(|_| "the interpreter's name is not UTF-8".to_string())?,
                )
            }
            None => None,
        };
        // The notes before the dynamic section's `?`: a reader in parts
        // learns what both miss in one round.
        let notes = notes::read(&image, &segments);
        let dynamic = dynamic::read(&image, &segments)?;
        let has_dynamic = dynamic.is_some();
        let dynamic = dynamic.unwrap_or_default();
        Ok(ElfObject {
            class: image.class,
            little_endian: image.little_endian,
            machine: header.machine,
            file_type: header.file_type,
            os_abi: header.os_abi,
            note_names: notes.names,
            dlopen: notes.dlopen,
            interpreter,
            soname: dynamic.soname,
            needed: dynamic.needed,
            rpath: dynamic.rpath,
            runpath: dynamic.runpath,
            origin_flag: dynamic.origin_flag,
            nodeflib: dynamic.nodeflib,
            version_needs: dynamic.version_needs.into(),
            version_definitions: dynamic.version_definitions,
            dynamic: has_dynamic,
        })
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
        self.file_type == ET_EXEC || (self.file_type == ET_DYN && self.interpreter.is_some())
    }

    /// A short description for messages, e.g. `ELF64 x86-64`.
    pub fn describe(&self) -> String {
        let bits = match self.class {
            Class::Elf32 => "ELF32",
            Class::Elf64 => "ELF64",
        };
        format!("{bits} {}", machine::name(self.machine))
    }
}

/// The parts read into `buffer`, as a parse sees them.
fn view<'a>(parts: &[(u64, std::ops::Range<usize>)], buffer: &'a [u8], size: u64) -> Parts<'a> {
    let held = parts
        .iter()
        .map(|(at, range)| (*at, &buffer[range.clone()]));
    Parts::new(held.collect(), size)
}

/// Reads `len` bytes of `file` from `offset` onto the end of `buffer`;
/// where they are in it.
fn read_into(
    file: &File,
    offset: u64,
    len: u64,
    buffer: &mut Vec<u8>,
) -> std::io::Result<std::ops::Range<usize>> {
    let start = buffer.len();
    buffer.resize(start + len as usize, 0);
    file.read_exact_at(&mut buffer[start..], offset)?;
    Ok(start..buffer.len())
}

#[cfg(test)]
mod tests;
