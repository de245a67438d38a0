//! The reader against real files and against images made here byte by byte:
//! each class and byte order, and the hostile values a fuzzer would try.

use super::notes::parse_dlopen_note;
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
fn reading_in_parts_finds_what_the_whole_file_holds() {
    // The host's programs and libraries, small and large: in the larger
    // ones the dynamic section, its strings and the version tables lie far
    // past the first read.
    let mut compared = 0;
    let mut past_the_head = 0;
    for dir in ["/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        paths.sort();
        for path in paths.iter().filter(|p| p.is_file()).take(150) {
            let Ok(whole) = std::fs::read(path) else {
                continue;
            };
            let Ok(expected) = ElfObject::parse(&whole) else {
                continue;
            };
            assert_eq!(
                ElfObject::read(path).unwrap(),
                expected,
                "{}",
                path.display()
            );
            compared += 1;
            past_the_head += usize::from(whole.len() as u64 > 4 * HEAD);
        }
    }
    assert!(
        compared > 100 && past_the_head > 20,
        "{compared} {past_the_head}"
    );
}

#[test]
fn a_large_library_costs_a_few_small_reads() {
    // What the loader reads of libc (2 MB, most of it code and a string
    // table of thousands of symbol names) lies in a few places: a reader
    // that fetched whole tables, or pages, would read many times more.
    let path = [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib/aarch64-linux-gnu/libc.so.6",
    ]
    .into_iter()
    .map(Path::new)
    .find(|p| p.exists())
    .expect("the host's glibc");
    let file = File::open(path).unwrap();
    let size = file.metadata().unwrap().len();
    let (parsed, read) = ElfObject::read_parts(&file, size)
        .unwrap()
        .expect("read in parts, not mapped whole");
    let whole = ElfObject::parse(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(parsed.unwrap(), whole);
    assert!(
        whole.version_definitions.len() > 30 && read < 16 << 10,
        "{read} bytes"
    );
}

#[test]
fn a_string_past_the_parts_read_is_a_miss_until_it_is_read() {
    let file = b"\x7fELFlibc.so.6\0libm.so.6\0";
    // Held up to the middle of the second name: the first is read, the
    // second is missed for at least the rest of its bytes.
    let parts = image::Parts::new(vec![(0, &file[..18])], file.len() as u64);
    assert_eq!(parts.until_nul(4, 20), Some(&b"libc.so.6"[..]));
    assert_eq!(parts.until_nul(14, 20), None);
    let missed = parts.misses();
    assert!(
        missed
            .iter()
            .any(|&(from, to)| from <= 14 && to as usize >= file.len()),
        "{missed:?}"
    );
    // Read whole: found, and a window without a NUL comes back whole.
    let parts = image::Parts::whole(file);
    assert_eq!(parts.until_nul(14, 20), Some(&b"libm.so.6"[..]));
    assert_eq!(parts.until_nul(14, 3), Some(&b"lib"[..]));
    assert!(parts.misses().is_empty());
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

/// A minimal shared object: one PT_LOAD mapping the whole file at address
/// 0x1000, a PT_DYNAMIC, a string table, DT_NEEDED `libc.so.7`, DT_SONAME
/// `libx.so.1`, DT_RUNPATH `$ORIGIN:/opt/lib`, DT_FLAGS_1 NODEFLIB|ORIGIN,
/// one DT_VERNEED (libc.so.7: V_1, weak V_2) and one DT_VERDEF (base, V_3).
fn image(class: Class, little: bool) -> Vec<u8> {
    let wide = class == Class::Elf64;
    let mut out = vec![0u8; 0x400];
    let put = |out: &mut Vec<u8>, at: usize, value: u64, size: usize| {
        let bytes = if little {
            value.to_le_bytes()
        } else {
            value.to_be_bytes()
        };
        let field = if little {
            &bytes[..size]
        } else {
            &bytes[8 - size..]
        };
        out[at..at + size].copy_from_slice(field);
    };
    let word = if wide { 8 } else { 4 };
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = if wide { 2 } else { 1 };
    out[5] = if little { 1 } else { 2 };
    out[6] = 1;
    put(&mut out, 16, 3, 2); // ET_DYN
    put(&mut out, 18, 62, 2);
    let (phoff_at, phentsize_at, phnum_at, ph) = if wide {
        (32, 54, 56, 56)
    } else {
        (28, 42, 44, 32)
    };
    put(&mut out, phoff_at, 0x40, word);
    put(&mut out, phentsize_at, ph as u64, 2);
    put(&mut out, phnum_at, 2, 2);
    let strings: &[u8] = b"\0libc.so.7\0libx.so.1\0$ORIGIN:/opt/lib\0V_1\0V_2\0V_3\0";
    let (strtab, dynamic, verneed, verdef) = (0x200usize, 0x100usize, 0x300usize, 0x340usize);
    out[strtab..strtab + strings.len()].copy_from_slice(strings);
    let offset = |name: &str| {
        strings
            .windows(name.len())
            .position(|w| w == name.as_bytes())
            .unwrap() as u64
    };
    // Program headers: PT_LOAD (offset 0, vaddr 0x1000), PT_DYNAMIC.
    for (index, (kind, off, size)) in [(1u64, 0u64, 0x400u64), (2, dynamic as u64, 0x100)]
        .into_iter()
        .enumerate()
    {
        let at = 0x40 + index * ph;
        put(&mut out, at, kind, 4);
        if wide {
            put(&mut out, at + 8, off, 8);
            put(&mut out, at + 16, 0x1000 + off, 8);
            put(&mut out, at + 32, size, 8);
        } else {
            put(&mut out, at + 4, off, 4);
            put(&mut out, at + 8, 0x1000 + off, 4);
            put(&mut out, at + 16, size, 4);
        }
    }
    let entries = [
        (1u64, offset("libc.so.7")),
        (14, offset("libx.so.1")),
        (29, offset("$ORIGIN")),
        (0x6fff_fffb, 0x800 | 0x80),
        (5, 0x1000 + strtab as u64),
        (10, strings.len() as u64),
        (0x6fff_fffe, 0x1000 + verneed as u64),
        (0x6fff_ffff, 1),
        (0x6fff_fffc, 0x1000 + verdef as u64),
        (0x6fff_fffd, 2),
        (0, 0),
    ];
    for (index, (tag, value)) in entries.into_iter().enumerate() {
        let at = dynamic + index * 2 * word;
        put(&mut out, at, tag, word);
        put(&mut out, at + word, value, word);
    }
    // Verneed: 1 entry, 2 aux at +16 and +32.
    put(&mut out, verneed, 1, 2);
    put(&mut out, verneed + 2, 2, 2);
    put(&mut out, verneed + 4, offset("libc.so.7"), 4);
    put(&mut out, verneed + 8, 16, 4);
    for (index, (name, hash, flags)) in [("V_1", 11u64, 0u64), ("V_2", 22, 2)]
        .into_iter()
        .enumerate()
    {
        let at = verneed + 16 + index * 16;
        put(&mut out, at, hash, 4);
        put(&mut out, at + 4, flags, 2);
        put(&mut out, at + 8, offset(name), 4);
        put(&mut out, at + 12, if index == 0 { 16 } else { 0 }, 4);
    }
    // Verdef: the base definition, then V_3; each with one aux at +20.
    for (index, (flags, hash, name)) in [(1u64, 1u64, "libx.so.1"), (0, 33, "V_3")]
        .into_iter()
        .enumerate()
    {
        let at = verdef + index * 28;
        put(&mut out, at, 1, 2);
        put(&mut out, at + 2, flags, 2);
        put(&mut out, at + 6, 1, 2);
        put(&mut out, at + 8, hash, 4);
        put(&mut out, at + 12, 20, 4);
        put(&mut out, at + 16, if index == 0 { 28 } else { 0 }, 4);
        put(&mut out, at + 20, offset(name), 4);
    }
    out
}

#[test]
fn reads_every_class_and_byte_order_alike() {
    for class in [Class::Elf32, Class::Elf64] {
        for little in [true, false] {
            let object = ElfObject::parse(&image(class, little))
                .unwrap_or_else(|e| panic!("{class:?} little={little}: {e}"));
            let case = format!("{class:?} little-endian={little}");
            assert_eq!(
                (object.class, object.little_endian),
                (class, little),
                "{case}"
            );
            assert_eq!(object.machine, machine::EM_X86_64, "{case}");
            assert_eq!(object.needed, ["libc.so.7"], "{case}");
            assert_eq!(object.soname.as_deref(), Some("libx.so.1"), "{case}");
            assert_eq!(object.runpath, ["$ORIGIN", "/opt/lib"], "{case}");
            assert!(object.rpath.is_empty(), "{case}");
            assert!(object.nodeflib && object.origin_flag, "{case}");
            assert!(object.dynamic && !object.is_executable(), "{case}");
            let need = &object.version_needs[0];
            assert_eq!(need.library, "libc.so.7", "{case}");
            let names: Vec<(&str, u32, bool)> = need
                .versions
                .iter()
                .map(|v| (v.name.as_str(), v.hash, v.weak))
                .collect();
            assert_eq!(names, [("V_1", 11, false), ("V_2", 22, true)], "{case}");
            let defined: Vec<&str> = object
                .version_definitions
                .iter()
                .map(|v| v.name.as_str())
                .collect();
            assert_eq!(defined, ["V_3"], "the base definition is left out ({case})");
        }
    }
}

#[test]
fn hostile_tables_are_errors_never_panics() {
    let good = image(Class::Elf64, true);
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut with = |what: &'static str, at: usize, bytes: &[u8]| {
        let mut image = good.clone();
        image[at..at + bytes.len()].copy_from_slice(bytes);
        cases.push((what, image));
    };
    // DT_STRSZ (entry 5's value) far past the end.
    with(
        "string table past the end",
        0x100 + 5 * 16 + 8,
        &u64::MAX.to_le_bytes(),
    );
    // DT_NEEDED naming a string past the table.
    with(
        "string past the table",
        0x100 + 8,
        &0xffff_u64.to_le_bytes(),
    );
    // DT_STRTAB outside every loaded segment.
    with(
        "unmapped string table",
        0x100 + 4 * 16 + 8,
        &0x9999_9999_u64.to_le_bytes(),
    );
    // phnum huge: the table runs past the end.
    with("program headers past the end", 56, &u16::MAX.to_le_bytes());
    // Verdef aux offset past the end.
    with(
        "verdef aux past the end",
        0x340 + 28 + 12,
        &u32::MAX.to_le_bytes(),
    );
    for (what, image) in &cases[..3] {
        assert!(ElfObject::parse(image).is_err(), "{what} was accepted");
    }
    for (what, image) in &cases[3..] {
        assert!(ElfObject::parse(image).is_err(), "{what} was accepted");
    }

    // Without DT_VERNEEDNUM (entry 7 turned into DT_DEBUG, 21) the chain
    // ends at vn_next 0; a vn_next leaving the file is an error. The
    // offsets only grow, so no chain can loop.
    let mut chain = good.clone();
    chain[0x100 + 7 * 16..0x100 + 7 * 16 + 8].copy_from_slice(&21u64.to_le_bytes());
    let object = ElfObject::parse(&chain).unwrap();
    assert_eq!(object.version_needs.len(), 1, "vn_next 0 ends the chain");
    chain[0x300 + 12..0x300 + 16].copy_from_slice(&(u32::MAX - 15).to_le_bytes());
    assert!(
        ElfObject::parse(&chain).is_err(),
        "a chain leaving the file"
    );
}

#[test]
fn a_truncated_loadable_segment_is_an_error() {
    let whole = image(Class::Elf64, true);
    let err = ElfObject::parse(&whole[..0x3f0]).unwrap_err();
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn offsets_near_the_end_of_the_address_space_are_errors_not_overflows() {
    let mut bytes = image(Class::Elf64, true);
    // e_shoff at offset 40: the section header table "at" 2^64 - 2.
    bytes[40..48].copy_from_slice(&(u64::MAX - 1).to_le_bytes());
    // e_shentsize 64, e_shnum 0 (the count "in section header 0").
    bytes[58..60].copy_from_slice(&64u16.to_le_bytes());
    bytes[60..62].copy_from_slice(&0u16.to_le_bytes());
    // The loader reads no section header here: the object still parses.
    assert!(ElfObject::parse(&bytes).is_ok());
    // With e_phnum PN_XNUM, the program header count lives in section
    // header 0, which the loader reads: unreadable, an error.
    bytes[56..58].copy_from_slice(&0xffffu16.to_le_bytes());
    assert!(
        ElfObject::parse(&bytes)
            .unwrap_err()
            .contains("past the end")
    );
}

#[test]
fn names_are_bounded_so_a_small_file_cannot_cost_gigabytes() {
    // DT_NEEDED pointing at a string with no NUL for longer than PATH_MAX.
    let mut bytes = image(Class::Elf64, true);
    let long = vec![b'a'; 0x100];
    let mut tail = long.clone();
    tail.extend(std::iter::repeat_n(b'b', 8192));
    // Grow the file and the loaded segment, and point the string table
    // and DT_NEEDED at the unterminated run.
    let at = bytes.len();
    bytes.extend(&tail);
    let size = bytes.len() as u64;
    bytes[0x40 + 32..0x40 + 40].copy_from_slice(&size.to_le_bytes());
    bytes[0x100 + 4 * 16 + 8..0x100 + 4 * 16 + 16]
        .copy_from_slice(&(0x1000 + at as u64).to_le_bytes());
    bytes[0x100 + 5 * 16 + 8..0x100 + 5 * 16 + 16]
        .copy_from_slice(&(tail.len() as u64).to_le_bytes());
    bytes[0x100 + 8..0x100 + 16].copy_from_slice(&0u64.to_le_bytes());
    let err = ElfObject::parse(&bytes).unwrap_err();
    assert!(err.contains("not terminated within 4096 bytes"), "{err}");
}

#[test]
fn an_empty_interpreter_name_is_an_error() {
    let mut bytes = image(Class::Elf64, true);
    // Turn the PT_DYNAMIC header into a PT_INTERP over a NUL byte.
    bytes[0x40 + 56..0x40 + 60].copy_from_slice(&3u32.to_le_bytes());
    bytes[0x40 + 56 + 8..0x40 + 56 + 16].copy_from_slice(&0x3ffu64.to_le_bytes());
    bytes[0x40 + 56 + 32..0x40 + 56 + 40].copy_from_slice(&1u64.to_le_bytes());
    let err = ElfObject::parse(&bytes).unwrap_err();
    assert!(err.contains("PT_INTERP"), "{err}");
}

#[test]
fn a_dlopen_note_of_many_entries_is_read_in_bounded_time() {
    // One note declaring 100,000 libraries, each once: a list scanned for
    // repeats would take minutes; the first 1,024 are kept, in order.
    let area = note_of_many_libraries("libx");
    // Read twice, as a note both in a segment and in a section is.
    let notes = notes_of(&area, 2);
    assert_eq!(notes.dlopen.len(), 1024);
    assert_eq!(notes.dlopen[0], ["libx0.so.1"]);
    assert_eq!(notes.dlopen[1023], ["libx1023.so.1"]);
}

#[test]
fn many_note_segments_over_one_large_dlopen_note_cost_a_few_parses() {
    // A hostile file's PT_NOTE segments, a hundred of them, all over one
    // note of 100,000 declared libraries (4.6 MB of JSON): its payload is
    // parsed while the object's budget of payload bytes lasts (a few
    // times), not once a segment (a minute).
    let area = note_of_many_libraries("liby");
    let notes = notes_of(&area, 100);
    assert_eq!(notes.dlopen.len(), 1024);
    assert_eq!(notes.dlopen[0], ["liby0.so.1"]);
    // A payload past the budget is passed over, as a malformed one is.
    let padding = " ".repeat(17 << 20);
    let large = dlopen_note(&format!(r#"[{{"soname":["libz.so.1"]}}{padding}]"#));
    assert!(notes_of(&large, 1).dlopen.is_empty());
}

/// A `.note.dlopen` note declaring 100,000 libraries, `{prefix}{n}.so.1`.
fn note_of_many_libraries(prefix: &str) -> Vec<u8> {
    let list: Vec<String> = (0..100_000)
        .map(|n| format!(r#"{{"soname":["{prefix}{n}.so.1"],"priority":"required"}}"#))
        .collect();
    dlopen_note(&format!("[{}]", list.join(",")))
}

/// A note area holding one `.note.dlopen` note of `json`.
fn dlopen_note(json: &str) -> Vec<u8> {
    let desc = format!("{json}\0");
    let mut area = Vec::new();
    area.extend(4u32.to_le_bytes());
    area.extend((desc.len() as u32).to_le_bytes());
    area.extend(0x407c_0c0au32.to_le_bytes());
    area.extend(b"FDO\0");
    area.extend(desc.as_bytes());
    area
}

/// The notes of a note area read `times` over, checked to take seconds
/// at most.
fn notes_of(area: &[u8], times: usize) -> notes::Notes {
    let whole = image(Class::Elf64, true);
    let parts = image::Parts::whole(&whole);
    let image = image::Image {
        bytes: &parts,
        class: Class::Elf64,
        little_endian: true,
    };
    let started = std::time::Instant::now();
    let mut notes = notes::Notes::default();
    let mut budget = 1024;
    for _ in 0..times {
        notes::read_area(&image, area, 4, &mut notes, &mut budget);
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    notes
}

#[test]
fn a_flood_of_notes_is_read_in_bounded_time() {
    // 200,000 notes, each with a name of its own: read in linear time,
    // the first ones only.
    let mut area = Vec::new();
    for n in 0..200_000u32 {
        let name = format!("{:07}\0", n % 10_000_000);
        area.extend(8u32.to_le_bytes());
        area.extend(0u32.to_le_bytes());
        area.extend(1u32.to_le_bytes());
        area.extend(name.as_bytes());
    }
    assert_eq!(notes_of(&area, 1).names.len(), 1024);
}

#[test]
fn an_object_without_a_loadable_segment_is_an_error() {
    let mut bytes = image(Class::Elf64, true);
    // The PT_LOAD header turned into PT_NULL.
    bytes[0x40..0x44].copy_from_slice(&0u32.to_le_bytes());
    let err = ElfObject::parse(&bytes).unwrap_err();
    assert!(err.contains("no loadable segment"), "{err}");
}
