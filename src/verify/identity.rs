//! Which host binary a verdict belongs to: its canonical path plus an
//! identity of its contents — the ELF build-id (cheap: only the ELF and
//! program headers and the note segments are read, which matters because
//! `arshim run` computes it on every run), else an FNV-1a hash of the bytes
//! (scripts, binaries linked without a build-id).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use object::elf::{FileHeader32, FileHeader64, ELF_NOTE_GNU, NT_GNU_BUILD_ID};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, FileKind, ReadCache};

use super::archive::hash_file;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostId {
    /// Canonical (symlinks resolved): one binary, one key, however it is called.
    pub path: PathBuf,
    /// `build-id:HEX` or `fnv1a64:HEX`.
    pub id: String,
}

pub fn identify(path: &Path) -> io::Result<HostId> {
    let path = path.canonicalize()?;
    let id = match build_id(&path) {
        Some(id) => format!("build-id:{}", hex(&id)),
        None => format!("fnv1a64:{:016x}", hash_file(&path)?),
    };
    Ok(HostId { path, id })
}

/// The GNU build-id note of an ELF file, if it has one.
pub fn build_id(path: &Path) -> Option<Vec<u8>> {
    let cache = ReadCache::new(File::open(path).ok()?);
    match FileKind::parse(&cache).ok()? {
        FileKind::Elf32 => note_build_id::<FileHeader32<Endianness>>(&cache),
        FileKind::Elf64 => note_build_id::<FileHeader64<Endianness>>(&cache),
        _ => None,
    }
}

fn note_build_id<Elf: FileHeader<Endian = Endianness>>(data: &ReadCache<File>) -> Option<Vec<u8>> {
    let header = Elf::parse(data).ok()?;
    let endian = header.endian().ok()?;
    for segment in header.program_headers(endian, data).ok()? {
        // `notes` is Ok(None) for segments that are not PT_NOTE.
        let Ok(Some(mut notes)) = segment.notes(endian, data) else {
            continue;
        };
        while let Ok(Some(note)) = notes.next() {
            if note.name() == ELF_NOTE_GNU && note.n_type(endian) == NT_GNU_BUILD_ID {
                return Some(note.desc().to_vec());
            }
        }
    }
    None
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_binary_has_a_stable_identity() {
        let exe = std::env::current_exe().unwrap();
        let a = identify(&exe).unwrap();
        let b = identify(&exe).unwrap();
        assert_eq!(a, b);
        assert!(a.path.is_absolute());
        assert!(
            a.id.starts_with("build-id:") || a.id.starts_with("fnv1a64:"),
            "{}",
            a.id
        );
    }

    #[test]
    fn system_binaries_carry_a_build_id() {
        // Debian and most distributions link everything with --build-id.
        let id = build_id(Path::new("/bin/sh")).expect("/bin/sh has no build-id");
        assert!(id.len() >= 8, "{id:?}");
    }

    #[test]
    fn non_elf_files_are_hashed() {
        let dir = std::env::temp_dir().join(format!("arshim-identity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("s.sh");
        std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
        let id = identify(&script).unwrap();
        assert!(id.id.starts_with("fnv1a64:"), "{}", id.id);
        std::fs::write(&script, "#!/bin/sh\necho ho\n").unwrap();
        assert_ne!(
            identify(&script).unwrap().id,
            id.id,
            "new contents, new identity"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(identify(&script).is_err());
    }

    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
