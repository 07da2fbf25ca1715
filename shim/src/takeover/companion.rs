//! Where the reaper lives and whether it is ours: `arshim-reap` of this
//! library's build, next to the library or next to `ARSHIM_COMPANION`, never
//! another program (docs/DESIGN.md, "Conversion" 2). Looks only: the
//! preload's path, set once at load, and the candidates' files.

use crate::decide::resolve::{resolve_exact, Probe};
use crate::facts::fs::RealProbe;
use arshim_common::build_id::{self, Note, ReadAt};
use libc::c_char;
use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicPtr, Ordering};

/// This build's id, for `arshim doctor` to compare with the reaper's
/// (common/src/build_id.rs). A `.note*` section becomes an ELF note that the
/// linker keeps and maps in a `PT_NOTE` segment.
#[used]
#[link_section = ".note.arshim"]
static BUILD_NOTE: Note = build_id::note(build_id::LIBRARY);

/// The path the preload (`libarshim.so`) was loaded from, as the loader
/// keeps it (set once by `arshim_core_init`).
static LIBRARY: AtomicPtr<c_char> = AtomicPtr::new(std::ptr::null_mut());

pub fn set_library_path(path: &'static CStr) {
    LIBRARY.store(path.as_ptr().cast_mut(), Ordering::Release);
}

/// The preload's path: the entry the reaper takes out of `LD_PRELOAD`, and
/// the directory its reaper is looked for in (the core sits there too).
pub fn library_path() -> Option<Vec<u8>> {
    let p = LIBRARY.load(Ordering::Acquire);
    // SAFETY: set from a `&'static CStr`.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes().to_vec())
}

/// Candidates in order: `arshim-reap` next to the library (the build tree's
/// target/release/, or an install's PREFIX/lib/arshim/), then `arshim-reap`
/// next to `ARSHIM_COMPANION` (the `arshim` that `arshim run` exports).
pub fn candidates(configured: Option<&[u8]>, library: Option<&[u8]>) -> Vec<Vec<u8>> {
    let reaper_next_to = |p: &[u8]| match p.iter().rposition(|&b| b == b'/') {
        Some(i) => [&p[..i], b"/arshim-reap"].concat(),
        None => b"./arshim-reap".to_vec(),
    };
    library
        .into_iter()
        .chain(configured)
        .map(reaper_next_to)
        .collect()
}

/// Why no reaper can be handed a host.
#[derive(Debug, PartialEq, Eq)]
pub enum NoReaper {
    /// No candidate is an executable ELF file.
    Missing,
    /// This candidate is one, but does not carry this build's id.
    NotOurs(Vec<u8>),
}

/// The first candidate that is an executable ELF file carrying this build's
/// id; else why there is none.
pub fn find(configured: Option<&[u8]>) -> Result<Vec<u8>, NoReaper> {
    find_with(
        configured,
        library_path().as_deref(),
        &RealProbe,
        reaper_id_of,
    )
}

fn find_with(
    configured: Option<&[u8]>,
    library: Option<&[u8]>,
    probe: &impl Probe,
    id_of: impl Fn(&[u8]) -> Option<[u8; 16]>,
) -> Result<Vec<u8>, NoReaper> {
    let mut foreign = None;
    for c in candidates(configured, library) {
        if c.first() != Some(&b'/') || resolve_exact(&c, probe).is_err() {
            continue;
        }
        if id_of(&c) == Some(build_id::BUILD_ID) {
            return Ok(c);
        }
        foreign.get_or_insert(c);
    }
    Err(foreign.map_or(NoReaper::Missing, NoReaper::NotOurs))
}

/// An open file read with `pread`.
struct Opened(std::fs::File);

impl ReadAt for Opened {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> bool {
        self.0.read_exact_at(buf, offset).is_ok()
    }
}

/// The build id in the reaper note of the file at `path`, if any.
fn reaper_id_of(path: &[u8]) -> Option<[u8; 16]> {
    let file = std::fs::File::open(OsStr::from_bytes(path)).ok()?;
    build_id::find(&mut Opened(file), build_id::REAPER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::resolve::Candidate;

    struct Only(&'static [&'static str]);
    impl Probe for Only {
        fn candidate(&self, path: &[u8]) -> Candidate {
            if self.0.iter().any(|p| p.as_bytes() == path) {
                Candidate::Elf
            } else {
                Candidate::Missing
            }
        }
    }

    /// Files named `*ours*` carry this build's id, the others another one.
    fn id(path: &[u8]) -> Option<[u8; 16]> {
        let ours = path.windows(4).any(|w| w == b"ours");
        let mut other = build_id::BUILD_ID;
        other[0] ^= 1;
        Some(if ours { build_id::BUILD_ID } else { other })
    }

    #[test]
    fn only_arshim_reap_next_to_the_library_or_the_companion() {
        let lib = Some(&b"/usr/local/lib/arshim/libarshim.so"[..]);
        assert_eq!(
            candidates(Some(b"/opt/bin/arshim"), lib),
            vec![
                b"/usr/local/lib/arshim/arshim-reap".to_vec(),
                b"/opt/bin/arshim-reap".to_vec(),
            ]
        );
        assert_eq!(
            candidates(Some(b"arshim"), None),
            vec![b"./arshim-reap".to_vec()]
        );
    }

    #[test]
    fn the_first_candidate_of_this_build() {
        let lib = Some(&b"/ours/lib/libarshim.so"[..]);
        let found = find_with(None, lib, &Only(&["/ours/lib/arshim-reap"]), id);
        assert_eq!(found, Ok(b"/ours/lib/arshim-reap".to_vec()));
        let other = Some(&b"/other/lib/libarshim.so"[..]);
        let found = find_with(
            Some(b"/ours/bin/arshim"),
            other,
            &Only(&["/other/lib/arshim-reap", "/ours/bin/arshim-reap"]),
            id,
        );
        assert_eq!(
            found,
            Ok(b"/ours/bin/arshim-reap".to_vec()),
            "a foreign reaper is skipped"
        );
    }

    #[test]
    fn a_foreign_or_missing_reaper_is_refused() {
        let lib = Some(&b"/x/lib/libarshim.so"[..]);
        assert_eq!(
            find_with(Some(b"/bin/true"), lib, &Only(&["/bin/true"]), id),
            Err(NoReaper::Missing),
            "ARSHIM_COMPANION itself is never a candidate"
        );
        assert_eq!(
            find_with(None, lib, &Only(&["/x/lib/arshim-reap"]), id),
            Err(NoReaper::NotOurs(b"/x/lib/arshim-reap".to_vec()))
        );
        assert_eq!(
            find_with(None, lib, &Only(&["/x/lib/arshim-reap"]), |_| None),
            Err(NoReaper::NotOurs(b"/x/lib/arshim-reap".to_vec())),
            "an ELF without the note"
        );
        assert_eq!(
            find_with(Some(b"rel/arshim"), None, &Only(&["rel/arshim-reap"]), id),
            Err(NoReaper::Missing),
            "only absolute paths"
        );
    }
}
