//! The `e_machine` and `e_type` values the resolver tells apart, and the
//! machine names messages use.

pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;

pub const EM_SPARC: u16 = 2;
pub const EM_386: u16 = 3;
pub const EM_MIPS: u16 = 8;
pub const EM_PPC: u16 = 20;
pub const EM_PPC64: u16 = 21;
pub const EM_S390: u16 = 22;
pub const EM_ARM: u16 = 40;
pub const EM_SPARCV9: u16 = 43;
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;
pub const EM_RISCV: u16 = 243;
pub const EM_LOONGARCH: u16 = 258;

/// The machine's name as `readelf` and `file` spell it.
pub fn name(machine: u16) -> String {
    match machine {
        EM_SPARC => "SPARC".into(),
        EM_386 => "x86".into(),
        EM_MIPS => "MIPS".into(),
        EM_PPC => "PowerPC".into(),
        EM_PPC64 => "PowerPC64".into(),
        EM_S390 => "S/390".into(),
        EM_ARM => "ARM".into(),
        EM_SPARCV9 => "SPARC V9".into(),
        EM_X86_64 => "x86-64".into(),
        EM_AARCH64 => "AArch64".into(),
        EM_RISCV => "RISC-V".into(),
        EM_LOONGARCH => "LoongArch".into(),
        other => format!("machine {other}"),
    }
}
