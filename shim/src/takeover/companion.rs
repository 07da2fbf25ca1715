//! Where the reaper (the companion's small `arshim-reap`, or the companion's
//! own `__reap` mode) and this library live: looks only (the preload's path,
//! set once at load, and executables probed).

use crate::decide::resolve::{resolve_exact, Probe};
use crate::facts::fs::RealProbe;
use libc::c_char;
use std::ffi::CStr;
use std::sync::atomic::{AtomicPtr, Ordering};

/// The path the preload (`libarshim.so`) was loaded from, as the loader
/// keeps it (set once by `arshim_core_init`).
static LIBRARY: AtomicPtr<c_char> = AtomicPtr::new(std::ptr::null_mut());

pub fn set_library_path(path: &'static CStr) {
    LIBRARY.store(path.as_ptr().cast_mut(), Ordering::Release);
}

/// The preload's path: the entry the reaper takes out of `LD_PRELOAD`, and
/// the directory its companions are looked for in (the core sits there too).
pub fn library_path() -> Option<Vec<u8>> {
    let p = LIBRARY.load(Ordering::Acquire);
    // SAFETY: set from a `&'static CStr`.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes().to_vec())
}

/// Candidates in order: `arshim-reap` next to the library (the build tree's
/// target/release/, or an install's PREFIX/lib/arshim/), `arshim-reap` next to
/// `ARSHIM_COMPANION`, then the companion itself (`arshim __reap` works too,
/// but the whole companion is bigger while it waits): `ARSHIM_COMPANION`,
/// `arshim` next to the library, `../../bin/arshim` from it.
pub fn candidates(configured: Option<&[u8]>, library: Option<&[u8]>) -> Vec<Vec<u8>> {
    let dir_of = |p: &[u8]| match p.iter().rposition(|&b| b == b'/') {
        Some(i) => p[..i].to_vec(),
        None => b".".to_vec(),
    };
    let lib_dir = library.map(dir_of);
    let mut out = Vec::new();
    if let Some(dir) = &lib_dir {
        out.push([&dir[..], b"/arshim-reap"].concat());
    }
    if let Some(c) = configured {
        out.push([&dir_of(c)[..], b"/arshim-reap"].concat());
        out.push(c.to_vec());
    }
    if let Some(dir) = &lib_dir {
        out.push([&dir[..], b"/arshim"].concat());
        out.push([&dir[..], b"/../../bin/arshim"].concat());
    }
    out
}

/// The first candidate that is an executable ELF file.
pub fn find(configured: Option<&[u8]>) -> Option<Vec<u8>> {
    find_with(configured, library_path().as_deref(), &RealProbe)
}

fn find_with(
    configured: Option<&[u8]>,
    library: Option<&[u8]>,
    probe: &impl Probe,
) -> Option<Vec<u8>> {
    candidates(configured, library)
        .into_iter()
        .find(|c| c.first() == Some(&b'/') && resolve_exact(c, probe).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::resolve::Candidate;

    struct Only(&'static str);
    impl Probe for Only {
        fn candidate(&self, path: &[u8]) -> Candidate {
            if path == self.0.as_bytes() {
                Candidate::Elf
            } else {
                Candidate::Missing
            }
        }
    }

    #[test]
    fn order_of_places() {
        let lib = Some(&b"/usr/local/lib/arshim/libarshim.so"[..]);
        assert_eq!(
            candidates(Some(b"/opt/bin/arshim"), lib),
            vec![
                b"/usr/local/lib/arshim/arshim-reap".to_vec(),
                b"/opt/bin/arshim-reap".to_vec(),
                b"/opt/bin/arshim".to_vec(),
                b"/usr/local/lib/arshim/arshim".to_vec(),
                b"/usr/local/lib/arshim/../../bin/arshim".to_vec()
            ]
        );
        let installed = "/usr/local/lib/arshim/arshim-reap";
        assert_eq!(
            find_with(None, lib, &Only(installed)),
            Some(installed.as_bytes().to_vec())
        );
        let build = Some(&b"/w/target/release/libarshim.so"[..]);
        assert_eq!(
            find_with(None, build, &Only("/w/target/release/arshim")),
            Some(b"/w/target/release/arshim".to_vec()),
            "without arshim-reap, the companion's own __reap mode"
        );
        assert_eq!(find_with(Some(b"/missing"), lib, &Only("/nowhere")), None);
        assert_eq!(
            find_with(Some(b"relative/arshim"), None, &Only("relative/arshim")),
            None,
            "only absolute paths"
        );
    }
}
