//! The build id (docs/DESIGN.md, "Conversion" 2): the library hands a host
//! over only to the `arshim-reap` of its own build. Both carry the id in an
//! ELF note (section `.note.arshim`, owner `arshim`): the reaper a note of
//! type [`REAPER`], the core one of type [`LIBRARY`]. The core reads the
//! candidate's program headers for it before anything irreversible; `arshim
//! doctor` compares the two files' notes.
//!
//! The id is a hash of the sources (build.rs), the same for every piece of
//! one build.

include!(concat!(env!("OUT_DIR"), "/build_id.rs"));

/// The note type of the reaper's note.
pub const REAPER: u32 = 1;
/// The note type of the core's note.
pub const LIBRARY: u32 = 2;

/// The note's owner, NUL-terminated, padded to 4 bytes.
const OWNER: [u8; 8] = *b"arshim\0\0";
/// `strlen("arshim") + 1`.
const OWNER_LEN: u32 = 7;
const ID_LEN: usize = 16;

/// An ELF note as the linker lays it out in a `SHT_NOTE` section: header,
/// owner and descriptor, each padded to 4 bytes.
#[repr(C, align(4))]
pub struct Note {
    namesz: u32,
    descsz: u32,
    kind: u32,
    name: [u8; 8],
    desc: [u8; ID_LEN],
}

/// The note of type `kind` carrying this build's id.
pub const fn note(kind: u32) -> Note {
    Note {
        namesz: OWNER_LEN,
        descsz: ID_LEN as u32,
        kind,
        name: OWNER,
        desc: BUILD_ID,
    }
}

/// A file read at offsets (`pread`).
pub trait ReadAt {
    /// Fills `buf` from `offset`; false if it cannot be filled.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> bool;
}

/// Bounds on what a well-formed small ELF file has.
const MAX_PHDRS: u64 = 256;
const MAX_NOTE_BYTES: u64 = 64 * 1024;

/// The id in the note of type `kind` of the ELF file `file`, read from its
/// `PT_NOTE` segments (kept by `strip`). `None` if it is not an ELF file of
/// this machine's byte order or carries no such note.
pub fn find(file: &mut impl ReadAt, kind: u32) -> Option<[u8; ID_LEN]> {
    let mut ident = [0u8; 64];
    if !file.read_at(0, &mut ident[..52]) || ident[..4] != *b"\x7fELF" {
        return None;
    }
    let native = if cfg!(target_endian = "little") { 1 } else { 2 };
    if ident[5] != native {
        return None;
    }
    let layout = Layout::of(ident[4])?;
    if layout.wide && !file.read_at(0, &mut ident) {
        return None;
    }
    let phoff = layout.word(&ident, if layout.wide { 0x20 } else { 0x1c });
    let (entsize, count) = if layout.wide {
        (u16_at(&ident, 0x36), u16_at(&ident, 0x38))
    } else {
        (u16_at(&ident, 0x2a), u16_at(&ident, 0x2c))
    };
    if u64::from(entsize) < layout.phdr_len() || u64::from(count) > MAX_PHDRS {
        return None;
    }
    (0..u64::from(count)).find_map(|i| {
        let mut phdr = [0u8; 56];
        let phdr = &mut phdr[..layout.phdr_len() as usize];
        let at = phoff.checked_add(i * u64::from(entsize))?;
        if !file.read_at(at, phdr) || u32_at(phdr, 0) != PT_NOTE {
            return None;
        }
        let segment = layout.segment(phdr);
        notes_in(file, segment, kind)
    })
}

const PT_NOTE: u32 = 4;

/// Where the fields are in the ELF class at hand.
struct Layout {
    /// ELFCLASS64.
    wide: bool,
}

/// A `PT_NOTE` segment: file offset, size, alignment.
struct Segment {
    offset: u64,
    size: u64,
    align: u64,
}

impl Layout {
    fn of(class: u8) -> Option<Layout> {
        match class {
            1 => Some(Layout { wide: false }),
            2 => Some(Layout { wide: true }),
            _ => None,
        }
    }

    fn phdr_len(&self) -> u64 {
        if self.wide {
            56
        } else {
            32
        }
    }

    fn word(&self, bytes: &[u8], at: usize) -> u64 {
        if self.wide {
            u64_at(bytes, at)
        } else {
            u64::from(u32_at(bytes, at))
        }
    }

    fn segment(&self, phdr: &[u8]) -> Segment {
        if self.wide {
            Segment {
                offset: u64_at(phdr, 8),
                size: u64_at(phdr, 32),
                align: u64_at(phdr, 48),
            }
        } else {
            Segment {
                offset: u64::from(u32_at(phdr, 4)),
                size: u64::from(u32_at(phdr, 16)),
                align: u64::from(u32_at(phdr, 28)),
            }
        }
    }
}

/// The id of our note of type `kind` among the notes of `segment`.
fn notes_in(file: &mut impl ReadAt, segment: Segment, kind: u32) -> Option<[u8; ID_LEN]> {
    if segment.size > MAX_NOTE_BYTES {
        return None;
    }
    // Notes are padded to 4 bytes, or to 8 in a segment aligned to 8 (GNU).
    let pad = |n: u64| {
        if segment.align == 8 {
            (n + 7) & !7
        } else {
            (n + 3) & !3
        }
    };
    let end = segment.offset.checked_add(segment.size)?;
    let mut at = segment.offset;
    while at.checked_add(12)? <= end {
        let mut header = [0u8; 12];
        if !file.read_at(at, &mut header) {
            return None;
        }
        let (namesz, descsz) = (u32_at(&header, 0), u32_at(&header, 4));
        let name_at = at + 12;
        let desc_at = name_at.checked_add(pad(namesz.into()))?;
        let next = desc_at.checked_add(pad(descsz.into()))?;
        if next > end {
            return None;
        }
        if namesz == OWNER_LEN && descsz == ID_LEN as u32 && u32_at(&header, 8) == kind {
            let (mut name, mut desc) = ([0u8; 8], [0u8; ID_LEN]);
            let name = &mut name[..OWNER_LEN as usize];
            if file.read_at(name_at, name)
                && *name == OWNER[..OWNER_LEN as usize]
                && file.read_at(desc_at, &mut desc)
            {
                return Some(desc);
            }
        }
        at = next;
    }
    None
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_ne_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    impl ReadAt for &[u8] {
        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> bool {
            let Ok(at) = usize::try_from(offset) else {
                return false;
            };
            match self.get(at..at + buf.len()) {
                Some(src) => {
                    buf.copy_from_slice(src);
                    true
                }
                None => false,
            }
        }
    }

    fn note_bytes(n: &Note) -> Vec<u8> {
        let mut out = Vec::new();
        for w in [n.namesz, n.descsz, n.kind] {
            out.extend(w.to_ne_bytes());
        }
        out.extend(n.name);
        out.extend(n.desc);
        out
    }

    /// A minimal ELF64 file: header, one `PT_NOTE` header, the notes.
    fn elf64(notes: &[u8], align: u64) -> Vec<u8> {
        let mut f = std::vec![0u8; 64 + 56];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = if cfg!(target_endian = "little") { 1 } else { 2 };
        f[0x20..0x28].copy_from_slice(&64u64.to_ne_bytes());
        f[0x36..0x38].copy_from_slice(&56u16.to_ne_bytes());
        f[0x38..0x3a].copy_from_slice(&1u16.to_ne_bytes());
        let ph = &mut f[64..];
        ph[..4].copy_from_slice(&PT_NOTE.to_ne_bytes());
        ph[8..16].copy_from_slice(&120u64.to_ne_bytes());
        ph[32..40].copy_from_slice(&(notes.len() as u64).to_ne_bytes());
        ph[48..56].copy_from_slice(&align.to_ne_bytes());
        f.extend(notes);
        f
    }

    #[test]
    fn finds_the_note_after_others() {
        // A GNU build-id note first (owner "GNU", 20-byte id).
        let mut notes = Vec::new();
        for w in [4u32, 20, 3] {
            notes.extend(w.to_ne_bytes());
        }
        notes.extend(b"GNU\0");
        notes.extend([9u8; 20]);
        notes.extend(note_bytes(&note(REAPER)));
        let file = elf64(&notes, 4);
        assert_eq!(find(&mut file.as_slice(), REAPER), Some(BUILD_ID));
        assert_eq!(find(&mut file.as_slice(), LIBRARY), None);
    }

    #[test]
    fn another_id_is_reported_as_it_is() {
        let mut other = note(LIBRARY);
        other.desc[0] ^= 0xff;
        let file = elf64(&note_bytes(&other), 4);
        let found = find(&mut file.as_slice(), LIBRARY).unwrap();
        assert_ne!(found, BUILD_ID);
        assert_eq!(found[1..], BUILD_ID[1..]);
    }

    #[test]
    fn not_elf_or_truncated_or_wrong_owner() {
        assert_eq!(find(&mut &b"#!/bin/sh\n"[..], REAPER), None);
        let file = elf64(&note_bytes(&note(REAPER)), 4);
        let cut = &file[..file.len() - 1];
        assert_eq!(find(&mut &cut[..], REAPER), None);
        let mut renamed = note(REAPER);
        renamed.name = *b"arshiX\0\0";
        let file = elf64(&note_bytes(&renamed), 4);
        assert_eq!(find(&mut file.as_slice(), REAPER), None);
    }
}
