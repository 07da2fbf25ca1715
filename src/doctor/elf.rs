//! The facts of an ELF file that decide whether `LD_PRELOAD` can apply,
//! read with the `object` crate (only the headers and the dynamic section
//! are read, not the whole file: linkers can be hundreds of MiB).

use std::fs::File;
use std::path::Path;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, ReadCache};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfFacts {
    pub class64: bool,
    pub machine: u16,
    /// `ET_EXEC`, `ET_DYN`, ...
    pub e_type: u16,
    /// `PT_INTERP`: the dynamic loader the kernel starts first.
    pub interp: Option<String>,
    /// `DT_NEEDED` sonames (empty without a dynamic section, or when the
    /// section headers were stripped away).
    pub needed: Vec<String>,
    /// Built by the Go toolchain (its build-id note or build-info section).
    pub go: bool,
}

impl ElfFacts {
    /// The kind of machine code, as users know it.
    pub fn arch(&self) -> String {
        let name = match (self.machine, self.class64) {
            (elf::EM_X86_64, true) => "x86-64",
            (elf::EM_X86_64, false) => "x32",
            (elf::EM_386, _) => "32-bit x86",
            (elf::EM_AARCH64, _) => "aarch64",
            (elf::EM_ARM, _) => "32-bit arm",
            (elf::EM_RISCV, true) => "riscv64",
            (elf::EM_RISCV, false) => "riscv32",
            (elf::EM_PPC64, _) => "ppc64",
            (elf::EM_PPC, _) => "32-bit powerpc",
            (elf::EM_S390, _) => "s390x",
            (elf::EM_MIPS, true) => "mips64",
            (elf::EM_MIPS, false) => "32-bit mips",
            (elf::EM_LOONGARCH, _) => "loongarch64",
            (m, true) => return format!("64-bit ELF machine {m}"),
            (m, false) => return format!("32-bit ELF machine {m}"),
        };
        name.to_string()
    }
}

/// `Ok(None)` when the file is not ELF at all; `Err` with a reason when it
/// claims to be ELF but cannot be read as such.
pub fn read(path: &Path) -> Result<Option<ElfFacts>, String> {
    let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let data = ReadCache::new(file);
    let bad = |e: object::read::Error| format!("{}: not a valid ELF file ({e})", path.display());
    use object::ReadRef;
    let ident = match (&data).read_bytes_at(0, 16) {
        Ok(ident) if ident.starts_with(&elf::ELFMAG) => ident,
        _ => return Ok(None),
    };
    // EI_CLASS: 32- or 64-bit.
    match ident[4] {
        elf::ELFCLASS64 => facts::<elf::FileHeader64<Endianness>>(&data).map_err(bad),
        elf::ELFCLASS32 => facts::<elf::FileHeader32<Endianness>>(&data).map_err(bad),
        other => Err(format!("{}: unknown ELF class {other}", path.display())),
    }
    .map(Some)
}

fn facts<Elf: FileHeader<Endian = Endianness>>(
    data: &ReadCache<File>,
) -> object::read::Result<ElfFacts> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let mut interp = None;
    for ph in header.program_headers(endian, data)? {
        if let Some(path) = ph.interpreter(endian, data)? {
            interp = Some(String::from_utf8_lossy(path).into_owned());
        }
    }
    let sections = header.sections(endian, data)?;
    let dynamic = sections.dynamic_table(endian, data)?;
    let needed = dynamic
        .iter()
        .filter(|d| d.tag == elf::DT_NEEDED)
        .filter_map(|d| dynamic.string(d).ok())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    let go = [&b".note.go.buildid"[..], b".go.buildinfo"]
        .iter()
        .any(|name| sections.section_by_name(endian, name).is_some());
    Ok(ElfFacts {
        class64: header.is_class_64(),
        machine: header.e_machine(endian),
        e_type: header.e_type(endian),
        interp,
        needed,
        go,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_test_binary() {
        // Built by cargo for the host: dynamically linked against glibc.
        let me = std::env::current_exe().unwrap();
        let facts = read(&me).unwrap().expect("an ELF file");
        assert!(
            facts.interp.as_deref().is_some_and(|i| i.contains("ld-")),
            "{facts:?}"
        );
        assert!(facts.needed.iter().any(|n| n == "libc.so.6"), "{facts:?}");
        assert!(!facts.go);
        assert_eq!(facts.class64, cfg!(target_pointer_width = "64"));
    }

    #[test]
    fn a_text_file_is_not_elf() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        assert_eq!(read(&here), Ok(None));
    }

    #[test]
    fn arch_names() {
        let f = |machine, class64| ElfFacts {
            class64,
            machine,
            e_type: elf::ET_DYN,
            interp: None,
            needed: vec![],
            go: false,
        };
        assert_eq!(f(elf::EM_X86_64, true).arch(), "x86-64");
        assert_eq!(f(elf::EM_386, false).arch(), "32-bit x86");
        assert_eq!(f(9999, true).arch(), "64-bit ELF machine 9999");
    }
}
