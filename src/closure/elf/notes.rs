//! ELF notes: the names of the notes an object carries (`OpenBSD`,
//! `FreeBSD`, `GNU`: how the target's system is told apart) and the
//! libraries a `.note.dlopen` note declares, read from the PT_NOTE
//! segments. The dlopen metadata specification makes `.note.dlopen` an
//! allocated note section, and linkers (bfd, gold, lld, mold) put every
//! allocated note section in a PT_NOTE segment: the section header table,
//! which no loader reads and which lies at the far end of the file, is
//! not read either.

use rustc_hash::FxHashSet;

use super::image::{Image, PT_NOTE, Segment};

/// The `.note.dlopen` note type (https://systemd.io/ELF_DLOPEN_METADATA/).
const NT_FDO_DLOPEN: u32 = 0x407c_0c0a;
/// Notes read from one object at most: real ones carry a handful, and a
/// hostile file must not make the reading quadratic.
const MAX_NOTES: usize = 1024;
/// dlopen() dependencies kept from one object at most: real notes declare
/// a few dozen, and a note's list has no length of its own.
const MAX_DLOPEN: usize = 1024;
/// Bytes of `.note.dlopen` payload parsed from one object at most, all
/// its notes together: real payloads are kilobytes, and a hostile file
/// whose thousand PT_NOTE segments all point at one note of megabytes
/// must cost a few parses, not a thousand (33 s, before this bound).
const MAX_DLOPEN_BYTES: usize = 16 << 20;

/// The notes of one object.
#[derive(Default)]
pub struct Notes {
    /// Each name once, in the order first seen.
    pub names: Vec<String>,
    /// Each declared dlopen() dependency: its alternative sonames.
    pub dlopen: Vec<Vec<String>>,
    /// The same, to tell a repeated one in constant time.
    dlopen_seen: FxHashSet<Vec<String>>,
    /// Payload bytes parsed so far (see [`MAX_DLOPEN_BYTES`]).
    dlopen_bytes: usize,
}

/// Reads every note of `image`. A malformed note area is passed over, as
/// the loader passes over notes it cannot read.
pub fn read(image: &Image, segments: &[Segment]) -> Notes {
    let areas = segments.iter().filter(|s| s.kind == PT_NOTE);
    let mut notes = Notes::default();
    let mut budget = MAX_NOTES;
    for &Segment {
        offset,
        file_size: size,
        align,
        ..
    } in areas
    {
        let Ok(bytes) = image.slice(offset, size, "a note") else {
            continue;
        };
        // Notes are padded to 4 bytes, or to 8 in an area aligned so
        // (GNU property notes).
        let align = if align == 8 { 8 } else { 4 };
        read_area(image, bytes, align, &mut notes, &mut budget);
    }
    notes
}

pub(super) fn read_area(
    image: &Image,
    bytes: &[u8],
    align: usize,
    notes: &mut Notes,
    budget: &mut usize,
) {
    let word = |at: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if image.little_endian {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let pad = |n: usize| n.checked_add(align - 1).map(|n| n & !(align - 1));
    let mut at = 0;
    while let (Some(name_size), Some(desc_size), Some(kind)) =
        (word(at), word(at + 4), word(at + 8))
    {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let name_at = at + 12;
        let Some(desc_at) = pad(name_size as usize).and_then(|n| name_at.checked_add(n)) else {
            return;
        };
        let Some(end) = pad(desc_size as usize).and_then(|n| desc_at.checked_add(n)) else {
            return;
        };
        let (Some(name), Some(desc)) = (
            bytes.get(name_at..name_at + name_size as usize),
            bytes.get(desc_at..desc_at + desc_size as usize),
        ) else {
            return;
        };
        // Borrowed: a name is copied only the first time it is seen.
        let name = String::from_utf8_lossy(name);
        let name = name.trim_end_matches('\0');
        let within_budget = notes.dlopen_bytes + desc.len() <= MAX_DLOPEN_BYTES;
        if name == "FDO" && kind == NT_FDO_DLOPEN && within_budget {
            notes.dlopen_bytes += desc.len();
            // A note both in a segment and in a section is read twice.
            for sonames in parse_dlopen_note(desc) {
                if notes.dlopen.len() == MAX_DLOPEN {
                    break;
                }
                if notes.dlopen_seen.insert(sonames.clone()) {
                    notes.dlopen.push(sonames);
                }
            }
        }
        if !notes.names.iter().any(|known| known == name) {
            notes.names.push(name.to_string());
        }
        if end <= at {
            return;
        }
        at = end;
    }
}

/// The sonames a `.note.dlopen` payload (a JSON array of objects) declares
/// as `required` or `recommended`; `suggested` ones would bloat a jail.
/// A payload that is not valid JSON is ignored, as the loader ignores notes.
pub(super) fn parse_dlopen_note(desc: &[u8]) -> Vec<Vec<String>> {
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
