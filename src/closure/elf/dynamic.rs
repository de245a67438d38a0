//! The dynamic section, read as the loader reads it: the entries of the
//! PT_DYNAMIC segment up to DT_NULL, their strings from DT_STRTAB, and the
//! symbol version tables DT_VERNEED and DT_VERDEF point at, each address
//! turned into a file offset through the PT_LOAD segment that maps it.

use super::image::{Image, PT_DYNAMIC, Parse, Segment};
use crate::closure::versions::{Version, VersionNeed};

const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;
const DT_FLAGS: u64 = 30;
const DT_FLAGS_1: u64 = 0x6fff_fffb;
const DT_VERDEF: u64 = 0x6fff_fffc;
const DT_VERDEFNUM: u64 = 0x6fff_fffd;
const DT_VERNEED: u64 = 0x6fff_fffe;
const DT_VERNEEDNUM: u64 = 0x6fff_ffff;

const DF_ORIGIN: u64 = 0x1;
const DF_1_ORIGIN: u64 = 0x80;
const DF_1_NODEFLIB: u64 = 0x800;
/// `VER_FLG_WEAK` in `vna_flags`.
const VER_FLG_WEAK: u16 = 0x2;
/// `VER_FLG_BASE` in `vd_flags`: the definition naming the file itself.
const VER_FLG_BASE: u16 = 0x1;
/// Version chains longer than this are refused: no real object comes
/// near, and a hostile `next` field could otherwise loop.
const MAX_VERSION_ENTRIES: usize = 1 << 16;

/// What the dynamic section says.
#[derive(Default)]
pub struct Dynamic {
    pub soname: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
    pub origin_flag: bool,
    pub nodeflib: bool,
    pub version_needs: Vec<VersionNeed>,
    pub version_definitions: Vec<Version>,
}

/// The dynamic section of `image`, or `None` when it has no PT_DYNAMIC
/// (a static executable).
pub fn read(image: &Image, segments: &[Segment]) -> Parse<Option<Dynamic>> {
    let Some(segment) = segments.iter().find(|s| s.kind == PT_DYNAMIC) else {
        return Ok(None);
    };
    let bytes = image.slice(segment.offset, segment.file_size, "the dynamic section")?;
    let entry = match image.class {
        super::Class::Elf64 => 16,
        super::Class::Elf32 => 8,
    };
    // Walked twice rather than collected: once for where the tables are,
    // once for what the entries name.
    let entries = || {
        (bytes.chunks_exact(entry))
            .map(|bytes| {
                let fields = image.fields(bytes);
                (fields.word(0), fields.word(entry / 2))
            })
            .take_while(|&(tag, _)| tag != DT_NULL)
    };
    let mut tables = [
        DT_STRTAB,
        DT_STRSZ,
        DT_VERNEED,
        DT_VERNEEDNUM,
        DT_VERDEF,
        DT_VERDEFNUM,
    ]
    .map(|tag| (tag, None));
    for (tag, value) in entries() {
        // The first entry of a tag counts.
        if let Some((_, slot @ None)) = tables.iter_mut().find(|(t, _)| *t == tag) {
            *slot = Some(value);
        }
    }
    let value = |tag: u64| tables.iter().find(|(t, _)| *t == tag).and_then(|(_, v)| *v);
    let strings = Strings::new(image, segments, value(DT_STRTAB), value(DT_STRSZ))?;

    let mut dynamic = Dynamic::default();
    for (tag, value) in entries() {
        match tag {
            DT_NEEDED => dynamic.needed.push(strings.get(value, "DT_NEEDED")?),
            DT_SONAME => dynamic.soname = Some(strings.get(value, "DT_SONAME")?),
            DT_RPATH => dynamic
                .rpath
                .extend(split(&strings.get(value, "DT_RPATH")?)),
            DT_RUNPATH => dynamic
                .runpath
                .extend(split(&strings.get(value, "DT_RUNPATH")?)),
            DT_FLAGS => dynamic.origin_flag |= value & DF_ORIGIN != 0,
            DT_FLAGS_1 => {
                dynamic.origin_flag |= value & DF_1_ORIGIN != 0;
                dynamic.nodeflib |= value & DF_1_NODEFLIB != 0;
            }
            _ => {}
        }
    }
    let table = |tag: u64, what: &str| -> Parse<Option<usize>> {
        let Some(vaddr) = value(tag) else {
            return Ok(None);
        };
        let offset = image
            .offset_of(segments, vaddr)
            .ok_or_else(|| format!("{what} at {vaddr:#x} is not in a loaded segment"))?;
        usize::try_from(offset)
            .map(Some)
            .map_err(|_| format!("{what} lies past the end"))
    };
    if let Some(offset) = table(DT_VERNEED, "DT_VERNEED")? {
        dynamic.version_needs = needs(image, &strings, offset, value(DT_VERNEEDNUM))?;
    }
    if let Some(offset) = table(DT_VERDEF, "DT_VERDEF")? {
        dynamic.version_definitions = definitions(image, &strings, offset, value(DT_VERDEFNUM))?;
    }
    Ok(Some(dynamic))
}

/// DT_RPATH and DT_RUNPATH, split at `:`, empty entries dropped.
fn split(list: &str) -> impl Iterator<Item = String> + '_ {
    list.split(':')
        .filter(|dir| !dir.is_empty())
        .map(str::to_string)
}

/// The longest name read: PATH_MAX.
const MAX_STRING: usize = 4096;
/// All the names of one object together, at most (real ones: a few KiB).
const MAX_STRINGS: usize = 1 << 20;

/// The dynamic string table, read one name at a time: a C++ library's
/// table is megabytes of symbol names, of which a loader reads a few.
struct Strings<'i, 'a> {
    image: &'i Image<'a>,
    /// Where the table starts in the file, and its size.
    offset: u64,
    size: u64,
    /// The bytes of the names read so far.
    total: std::cell::Cell<usize>,
}

impl<'i, 'a> Strings<'i, 'a> {
    fn new(
        image: &'i Image<'a>,
        segments: &[Segment],
        vaddr: Option<u64>,
        size: Option<u64>,
    ) -> Parse<Self> {
        let (offset, size) = match (vaddr, size) {
            (Some(vaddr), Some(size)) => {
                let offset = image
                    .offset_of(segments, vaddr)
                    .ok_or_else(|| format!("DT_STRTAB at {vaddr:#x} is not in a loaded segment"))?;
                image.in_file(offset, size, "the dynamic string table")?;
                (offset, size)
            }
            // No string table: any string asked for is an error below.
            _ => (0, 0),
        };
        Ok(Strings {
            image,
            offset,
            size,
            total: std::cell::Cell::new(0),
        })
    }

    /// The string at `offset`, up to its NUL. A name longer than a path
    /// may be (PATH_MAX) is refused, and so is more than [`MAX_STRINGS`]
    /// of them in all: hostile tables pointing many entries at one huge
    /// string must not cost memory by the gigabyte.
    ///
    /// A string the parts read so far do not hold is empty: its bytes are
    /// noted as missed, so this parse is thrown away and made again once
    /// they are read, and the other names missed are noted in the same
    /// round rather than one round each.
    fn get(&self, offset: u64, what: &str) -> Parse<String> {
        if offset >= self.size {
            return Err(format!(
                "{what} names string {offset}, past the string table"
            ));
        }
        let window = (self.size - offset).min(MAX_STRING as u64 + 1);
        let Some(bytes) = self.image.bytes.until_nul(self.offset + offset, window) else {
            return Ok(String::new());
        };
        if bytes.len() as u64 == window {
            return Err(format!(
                "{what}'s string is not terminated within {MAX_STRING} bytes"
            ));
        }
        let total = self.total.get() + bytes.len();
        if total > MAX_STRINGS {
            return Err(format!(
                "the dynamic section names more than {MAX_STRINGS} bytes of strings"
            ));
        }
        self.total.set(total);
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what}'s string is not UTF-8"))
    }
}

/// DT_VERNEED's entries: for each library, the versions needed from it.
fn needs(
    image: &Image,
    strings: &Strings,
    mut at: usize,
    count: Option<u64>,
) -> Parse<Vec<VersionNeed>> {
    let mut needs = Vec::new();
    let mut seen = 0;
    loop {
        let fields = image.entry(at, 16, "a DT_VERNEED entry")?;
        let (aux_count, file, aux, next) =
            (fields.u16(2), fields.u32(4), fields.u32(8), fields.u32(12));
        // Sized by the count the entry gives (at most a table's worth).
        let mut versions = Vec::with_capacity(usize::from(aux_count).min(64));
        let mut aux_at = at.checked_add(aux as usize).ok_or("DT_VERNEED overflows")?;
        for _ in 0..aux_count {
            seen += 1;
            if seen > MAX_VERSION_ENTRIES {
                return Err("DT_VERNEED has too many entries".to_string());
            }
            let fields = image.entry(aux_at, 16, "a DT_VERNEED entry")?;
            let (hash, flags, name, aux_next) =
                (fields.u32(0), fields.u16(4), fields.u32(8), fields.u32(12));
            versions.push(Version {
                name: strings.get(name.into(), "a version need")?,
                hash,
                weak: flags & VER_FLG_WEAK != 0,
            });
            if aux_next == 0 {
                break;
            }
            aux_at = aux_at
                .checked_add(aux_next as usize)
                .ok_or("DT_VERNEED overflows")?;
        }
        needs.push(VersionNeed {
            library: strings.get(file.into(), "a version need's library")?,
            versions,
        });
        seen += 1;
        if next == 0 || count.is_some_and(|c| needs.len() as u64 >= c) || seen > MAX_VERSION_ENTRIES
        {
            break;
        }
        at = at
            .checked_add(next as usize)
            .ok_or("DT_VERNEED overflows")?;
    }
    Ok(needs)
}

/// DT_VERDEF's entries, without the base definition naming the file.
fn definitions(
    image: &Image,
    strings: &Strings,
    mut at: usize,
    count: Option<u64>,
) -> Parse<Vec<Version>> {
    let mut definitions = Vec::new();
    for read in 1.. {
        if read > MAX_VERSION_ENTRIES {
            return Err("DT_VERDEF has too many entries".to_string());
        }
        let fields = image.entry(at, 20, "a DT_VERDEF entry")?;
        let (flags, aux_count, hash, aux, next) = (
            fields.u16(2),
            fields.u16(6),
            fields.u32(8),
            fields.u32(12),
            fields.u32(16),
        );
        if flags & VER_FLG_BASE == 0 && aux_count > 0 {
            let aux_at = at.checked_add(aux as usize).ok_or("DT_VERDEF overflows")?;
            let name = image.entry(aux_at, 8, "a DT_VERDEF entry")?.u32(0);
            definitions.push(Version {
                name: strings.get(name.into(), "a version definition")?,
                hash,
                weak: false,
            });
        }
        if next == 0 || count.is_some_and(|c| read as u64 >= c) {
            break;
        }
        at = at.checked_add(next as usize).ok_or("DT_VERDEF overflows")?;
    }
    Ok(definitions)
}
