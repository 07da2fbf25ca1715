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
use super::trace::Event;

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

/// The script the claimed process ran, as the library found it in its own
/// argv and named it in its `load` event (docs/DESIGN.md, "Verdicts"): the
/// last in-scope `load` of the first claimed pid, as for the host. `None`
/// when that process named none (not an interpreter, or `-c`, `-m`, stdin,
/// options the library does not know).
pub fn host_script(events: &[Event]) -> Option<PathBuf> {
    let in_scope = |e: &&Event| e.event == "load" && e.bool("in_scope") == Some(true);
    let pid = events.iter().find(in_scope)?.pid;
    let last = events
        .iter()
        .rev()
        .filter(in_scope)
        .find(|e| e.pid == pid)?;
    last.str("script").map(PathBuf::from)
}

/// The script that keys the verdict of the interpreter at `host` (its
/// canonical path): `None` for any other program (a script it named does
/// not count) or an interpreter that ran no script file the library could
/// name; an error when the script cannot be read.
pub fn script_key(host: &Path, script: Option<&Path>) -> Result<Option<HostId>, String> {
    let name = host
        .file_name()
        .map(|n| n.as_encoded_bytes())
        .unwrap_or_default();
    if !arshim_common::names::is_interpreter(name) {
        return Ok(None);
    }
    script
        .map(|s| identify_script(s).map_err(|e| format!("{}: {e}", s.display())))
        .transpose()
}

/// The key of a script: its canonical path and the FNV-1a hash of its
/// bytes, whatever the file is (the library hashes a script the same way).
pub fn identify_script(path: &Path) -> io::Result<HostId> {
    let path = path.canonicalize()?;
    if !path.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let id = format!("fnv1a64:{:016x}", hash_file(&path)?);
    Ok(HostId { path, id })
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
    fn the_script_is_the_claimed_process_last_images() {
        let text = [
            r#"{"ts":1,"pid":9,"event":"load","exe":"/bin/dash","in_scope":false}"#,
            r#"{"ts":2,"pid":10,"event":"load","exe":"/usr/bin/env","in_scope":true}"#,
            r#"{"ts":3,"pid":10,"event":"load","exe":"/usr/bin/python3.11","script":"/s/a.py","in_scope":true}"#,
            r#"{"ts":4,"pid":11,"event":"load","exe":"/usr/bin/python3.11","script":"/s/b.py","in_scope":true}"#,
        ]
        .join("\n");
        let events = super::super::trace::parse(&text).0;
        assert_eq!(host_script(&events), Some(PathBuf::from("/s/a.py")));
        assert_eq!(host_script(&events[..2]), None, "env names no script");
        assert_eq!(host_script(&[]), None);
    }

    #[test]
    fn a_script_is_hashed_even_when_it_is_elf() {
        let exe = std::env::current_exe().unwrap();
        let id = identify_script(&exe).unwrap();
        assert!(id.id.starts_with("fnv1a64:"), "{}", id.id);
        assert!(identify_script(Path::new("/")).is_err(), "a directory");
    }

    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
