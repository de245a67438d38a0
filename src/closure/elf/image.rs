//! An ELF image read the way a loader reads it: the file header, the
//! program headers and what they point at, every field read through a
//! bounds check so a hostile or truncated file is an error, never a panic
//! or a read past its end. Nothing else is parsed: no symbol table, no
//! relocation, no string that is not asked for, so the cost of a file is
//! the few pages its headers and dynamic section sit on.

use std::cell::RefCell;

use super::Class;

/// `p_type` of the program headers the reader uses.
pub const PT_LOAD: u32 = 1;
pub const PT_DYNAMIC: u32 = 2;
pub const PT_INTERP: u32 = 3;
pub const PT_NOTE: u32 = 4;
/// `e_phnum` when the real count is in section header 0's `sh_info`.
const PN_XNUM: u16 = 0xffff;
/// What is read first for a string not yet held: most names are short.
const SHORT_STRING: u64 = 256;

pub type Parse<T> = std::result::Result<T, String>;

/// The parts of one file read so far, each at its offset, and the file's
/// size. A read that no part holds but the file does is a miss: it fails
/// like a read past the end, and is noted so that the reader can fetch
/// those bytes and parse again (see `ElfObject::read`).
pub struct Parts<'a> {
    parts: Vec<(u64, &'a [u8])>,
    size: u64,
    misses: RefCell<Vec<(u64, u64)>>,
}

impl<'a> Parts<'a> {
    /// A file held whole in memory.
    pub fn whole(bytes: &'a [u8]) -> Self {
        Parts::new(vec![(0, bytes)], bytes.len() as u64)
    }

    pub fn new(parts: Vec<(u64, &'a [u8])>, size: u64) -> Self {
        Parts {
            parts,
            size,
            misses: RefCell::default(),
        }
    }

    /// The ranges asked for that lie in the file but in no part.
    pub fn misses(&self) -> Vec<(u64, u64)> {
        self.misses.take()
    }

    /// The bytes from `start` up to the first NUL among the next `window`
    /// bytes, or all `window` of them when none is NUL (the caller tells
    /// that apart). `None` when no part holds that much from `start`: the
    /// bytes are noted as missed, first a short string's worth, then the
    /// whole window.
    pub fn until_nul(&self, start: u64, window: u64) -> Option<&'a [u8]> {
        let mut longest: &[u8] = &[];
        for &(offset, bytes) in &self.parts {
            if start >= offset && start < offset + bytes.len() as u64 {
                let held = &bytes[(start - offset) as usize..];
                let held = &held[..held.len().min(window as usize)];
                if let Some(end) = memchr::memchr(0, held) {
                    return Some(&held[..end]);
                }
                if held.len() as u64 == window {
                    return Some(held);
                }
                if held.len() > longest.len() {
                    longest = held;
                }
            }
        }
        let want = if (longest.len() as u64) < SHORT_STRING {
            SHORT_STRING.min(window)
        } else {
            window
        };
        self.misses
            .borrow_mut()
            .push((start, (start + want).min(self.size)));
        None
    }

    fn get(&self, start: usize, len: usize) -> Option<&'a [u8]> {
        let (start, end) = (start as u64, (start as u64).checked_add(len as u64)?);
        for &(offset, bytes) in &self.parts {
            if start >= offset && end <= offset + bytes.len() as u64 {
                let from = (start - offset) as usize;
                return bytes.get(from..from + len);
            }
        }
        if end <= self.size {
            self.misses.borrow_mut().push((start, end));
        }
        None
    }
}

/// The bytes of one ELF file and how to read its fields.
pub struct Image<'a> {
    pub bytes: &'a Parts<'a>,
    pub class: Class,
    pub little_endian: bool,
}

/// The file header's fields the reader uses.
pub struct Header {
    pub file_type: u16,
    pub machine: u16,
    pub os_abi: u8,
    phoff: u64,
    phentsize: u16,
    phnum: u16,
    shoff: u64,
    shentsize: u16,
}

/// A program header.
#[derive(Clone, Copy)]
pub struct Segment {
    pub kind: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub file_size: u64,
    pub align: u64,
}

impl<'a> Image<'a> {
    /// Checks the identification bytes and reads the file header.
    pub fn open(bytes: &'a Parts<'a>) -> Parse<(Self, Header)> {
        if bytes.get(0, 4) != Some(b"\x7fELF") {
            return Err("no ELF magic (is it a script or a linker script?)".to_string());
        }
        let Some(ident) = bytes.get(0, 16) else {
            return Err("truncated: the identification bytes are cut short".to_string());
        };
        let class = match ident[4] {
            1 => Class::Elf32,
            2 => Class::Elf64,
            other => return Err(format!("unknown ELF class {other}")),
        };
        let little_endian = match ident[5] {
            1 => true,
            2 => false,
            other => return Err(format!("unknown ELF byte order {other}")),
        };
        let image = Image {
            bytes,
            class,
            little_endian,
        };
        let header = image
            .header()
            .map_err(|e| format!("truncated file header: {e}"))?;
        Ok((image, header))
    }

    fn header(&self) -> Parse<Header> {
        let wide = self.class == Class::Elf64;
        let fields = self.entry(0, if wide { 64 } else { 52 }, "the file header")?;
        // The 32-bit header's offsets after e_entry are 12 bytes earlier.
        let at = |offset64: usize| if wide { offset64 } else { offset64 - 12 };
        let mut header = Header {
            file_type: fields.u16(16),
            machine: fields.u16(18),
            os_abi: fields.bytes[7],
            phoff: fields.word(if wide { 32 } else { 28 }),
            shoff: fields.word(if wide { 40 } else { 32 }),
            phentsize: fields.u16(at(54)),
            phnum: fields.u16(at(56)),
            shentsize: fields.u16(at(58)),
        };
        // Extended numbering: a program header count too large for the
        // header lives in section header 0's sh_info, the one section
        // header a loader reads.
        if header.shoff != 0 && header.phnum == PN_XNUM {
            let info = self.first_section(&header)?.u32(if wide { 44 } else { 28 });
            header.phnum = u16::try_from(info).unwrap_or(u16::MAX);
        }
        Ok(header)
    }

    /// The program headers, checked to lie inside the file.
    pub fn segments(&self, header: &Header) -> Parse<Vec<Segment>> {
        let wide = self.class == Class::Elf64;
        let size = if wide { 56 } else { 32 };
        if header.phnum > 0 && usize::from(header.phentsize) < size {
            return Err(format!(
                "program header size {} is too small",
                header.phentsize
            ));
        }
        let mut segments = Vec::with_capacity(header.phnum.into());
        for index in 0..u64::from(header.phnum) {
            let base = header
                .phoff
                .checked_add(index * u64::from(header.phentsize))
                .and_then(|o| usize::try_from(o).ok())
                .ok_or("program header offset overflows")?;
            let fields = self.entry(base, size, "a program header")?;
            let segment = if wide {
                Segment {
                    kind: fields.u32(0),
                    offset: fields.u64(8),
                    vaddr: fields.u64(16),
                    file_size: fields.u64(32),
                    align: fields.u64(48),
                }
            } else {
                Segment {
                    kind: fields.u32(0),
                    offset: fields.u32(4).into(),
                    vaddr: fields.u32(8).into(),
                    file_size: fields.u32(16).into(),
                    align: fields.u32(28).into(),
                }
            };
            segments.push(segment);
        }
        Ok(segments)
    }

    /// Section header 0's bytes.
    fn first_section(&self, header: &Header) -> Parse<Entry<'a>> {
        let wide = self.class == Class::Elf64;
        let size = if wide { 64 } else { 40 };
        if usize::from(header.shentsize) < size {
            return Err(format!(
                "section header size {} is too small",
                header.shentsize
            ));
        }
        let base = usize::try_from(header.shoff)
            .map_err(|_| "section header offset overflows".to_string())?;
        self.entry(base, size, "a section header")
    }

    /// The `len` bytes of a table entry at `offset`, checked once to lie
    /// inside the file: its fields are read at offsets below `len`.
    pub fn entry(&self, offset: usize, len: usize, what: &str) -> Parse<Entry<'a>> {
        match self.bytes.get(offset, len) {
            Some(bytes) => Ok(self.fields(bytes)),
            None => Err(format!("truncated: {what} lies past the end of the file")),
        }
    }

    /// Fields of `bytes` (part of this image) in its byte order and class.
    pub fn fields(&self, bytes: &'a [u8]) -> Entry<'a> {
        Entry {
            bytes,
            class: self.class,
            little_endian: self.little_endian,
        }
    }

    /// Checks that `[offset, offset + len)` lies inside the file, without
    /// reading it.
    pub fn in_file(&self, offset: u64, len: u64, what: &str) -> Parse<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.bytes.size => Ok(()),
            _ => Err(format!("truncated: {what} lies past the end of the file")),
        }
    }

    /// The file bytes `[offset, offset + len)`, or an error naming `what`.
    pub fn slice(&self, offset: u64, len: u64, what: &str) -> Parse<&'a [u8]> {
        let start = usize::try_from(offset).map_err(|_| format!("{what} lies past the end"))?;
        let len = usize::try_from(len).map_err(|_| format!("{what} is too large"))?;
        self.bytes
            .get(start, len)
            .ok_or_else(|| format!("truncated: {what} lies past the end of the file"))
    }

    /// The file offset of virtual address `vaddr`, through the PT_LOAD
    /// segment that maps it, as the loader finds the dynamic section's
    /// tables (section headers may be stripped or lie).
    pub fn offset_of(&self, segments: &[Segment], vaddr: u64) -> Option<u64> {
        segments
            .iter()
            .filter(|s| s.kind == PT_LOAD)
            .find(|s| vaddr >= s.vaddr && vaddr - s.vaddr < s.file_size)
            .map(|s| vaddr - s.vaddr + s.offset)
    }
}

/// One entry of a table (a program header, a dynamic entry, a version
/// record), its size checked against the file once, so that reading its
/// fields at the fixed offsets of its layout needs no further check.
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    bytes: &'a [u8],
    class: Class,
    little_endian: bool,
}

impl Entry<'_> {
    /// The `N` bytes at `at`. Every offset passed is a constant of an ELF
    /// layout below the entry's checked size; one past it would be a bug
    /// here, read as zeros.
    fn array<const N: usize>(&self, at: usize) -> [u8; N] {
        debug_assert!(
            at + N <= self.bytes.len(),
            "field {at}+{N} of {}",
            self.bytes.len()
        );
        (self.bytes.get(at..at + N))
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; N])
    }

    pub fn u16(&self, at: usize) -> u16 {
        let b = self.array(at);
        if self.little_endian {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    }

    pub fn u32(&self, at: usize) -> u32 {
        let b = self.array(at);
        if self.little_endian {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    }

    pub fn u64(&self, at: usize) -> u64 {
        let b = self.array(at);
        if self.little_endian {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        }
    }

    /// An address-sized field: 8 bytes in ELF64, 4 in ELF32.
    pub fn word(&self, at: usize) -> u64 {
        match self.class {
            Class::Elf64 => self.u64(at),
            Class::Elf32 => self.u32(at).into(),
        }
    }
}
