//! Editing `LD_PRELOAD` so our library loads first, exactly once.
//!
//! ld.so splits `LD_PRELOAD` on ':' and on ' ' (glibc `handle_preload_list`),
//! ignores empty entries and loads the rest in order. We put our library first
//! so its interposers win, keep the user's entries in their order, and drop
//! earlier copies of ours so a nested `arshim run` does not stack them.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::failure::Failure;

/// The bytes ld.so treats as entry separators in `LD_PRELOAD`.
const SEPARATORS: &[u8] = b": ";

/// The entries of an `LD_PRELOAD` value as ld.so sees them (empty ones dropped).
pub fn entries(value: &OsStr) -> impl Iterator<Item = &Path> {
    value
        .as_bytes()
        .split(|b| SEPARATORS.contains(b))
        .filter(|e| !e.is_empty())
        .map(|e| Path::new(OsStr::from_bytes(e)))
}

/// Our library path cannot be written into `LD_PRELOAD` without ld.so splitting it.
pub fn check_preloadable(library: &Path) -> Result<(), Failure> {
    if library
        .as_os_str()
        .as_bytes()
        .iter()
        .any(|b| SEPARATORS.contains(b))
    {
        return Err(Failure::usage(format!(
            "{}: LD_PRELOAD cannot hold a path containing ':' or ' '; \
             install the library elsewhere or point ARSHIM_LIB at a copy",
            library.display()
        )));
    }
    Ok(())
}

/// The new `LD_PRELOAD`: `library` first, then the `existing` entries in order,
/// minus empty ones and those `is_same_library` recognises as ours; ':'-joined.
pub fn with_library_first(
    library: &Path,
    existing: &OsStr,
    is_same_library: impl Fn(&Path) -> bool,
) -> Result<OsString, Failure> {
    check_preloadable(library)?;
    let mut value = library.as_os_str().as_bytes().to_vec();
    for entry in entries(existing) {
        if entry == library || is_same_library(entry) {
            continue;
        }
        value.push(b':');
        value.extend_from_slice(entry.as_os_str().as_bytes());
    }
    Ok(OsString::from_vec(value))
}

/// Recognises `library` under another spelling (symlink, `..`, relative path):
/// two paths are the same library when they canonicalise to the same file.
/// Entries without a '/' are left alone: ld.so looks those up in the library
/// search path, not relative to the current directory.
pub fn same_library_as(library: &Path) -> impl Fn(&Path) -> bool {
    let canonical: Option<PathBuf> = library.canonicalize().ok();
    move |entry: &Path| {
        let has_slash = entry.as_os_str().as_bytes().contains(&b'/');
        match (&canonical, has_slash) {
            (Some(ours), true) => entry.canonicalize().is_ok_and(|e| &e == ours),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB: &str = "/opt/arshim/lib/libarshim.so";

    fn edit(existing: &str) -> String {
        let v = with_library_first(Path::new(LIB), OsStr::new(existing), |_| false).unwrap();
        v.into_string().unwrap()
    }

    #[test]
    fn unset_or_empty_gives_just_ours() {
        assert_eq!(edit(""), LIB);
        assert_eq!(edit(": :  ::"), LIB);
    }

    #[test]
    fn existing_entries_follow_in_order() {
        assert_eq!(edit("/a.so:/b.so"), format!("{LIB}:/a.so:/b.so"));
    }

    #[test]
    fn spaces_are_separators_too_and_are_normalised_to_colons() {
        assert_eq!(
            edit("/a.so /b.so  /c.so:/d.so"),
            format!("{LIB}:/a.so:/b.so:/c.so:/d.so")
        );
    }

    #[test]
    fn duplicates_of_ours_are_dropped() {
        assert_eq!(edit(&format!("{LIB}:{LIB} {LIB}")), LIB);
    }

    #[test]
    fn ours_in_the_middle_moves_to_the_front() {
        assert_eq!(
            edit(&format!("/a.so:{LIB}:/b.so")),
            format!("{LIB}:/a.so:/b.so")
        );
    }

    #[test]
    fn other_duplicates_are_not_our_business() {
        assert_eq!(edit("/a.so:/a.so"), format!("{LIB}:/a.so:/a.so"));
    }

    #[test]
    fn same_library_predicate_is_consulted() {
        let v = with_library_first(Path::new(LIB), OsStr::new("/x/alias.so:/a.so"), |p| {
            p == Path::new("/x/alias.so")
        })
        .unwrap();
        assert_eq!(v, OsString::from(format!("{LIB}:/a.so")));
    }

    #[test]
    fn unpreloadable_library_path_is_refused() {
        for bad in ["/with space/libarshim.so", "/with:colon/libarshim.so"] {
            let err = with_library_first(Path::new(bad), OsStr::new(""), |_| false).unwrap_err();
            assert_eq!(err.code, 2);
            assert!(err.message.contains("':' or ' '"), "{}", err.message);
        }
    }

    #[test]
    fn same_library_sees_through_symlinks_and_dotdot() {
        let dir = std::env::temp_dir().join(format!("arshim-preload-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let lib = dir.join("libarshim.so");
        let other = dir.join("other.so");
        let link = dir.join("link.so");
        std::fs::write(&lib, b"").unwrap();
        std::fs::write(&other, b"").unwrap();
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&lib, &link).unwrap();

        let same = same_library_as(&lib);
        assert!(same(&link));
        assert!(same(&dir.join("sub/../libarshim.so")));
        assert!(!same(&other));
        assert!(
            !same(Path::new("libarshim.so")),
            "bare names are searched by ld.so, not in cwd"
        );
        assert!(!same(&dir.join("missing.so")));

        let existing = format!("{}:{}", link.display(), other.display());
        let v = with_library_first(&lib, OsStr::new(&existing), same_library_as(&lib)).unwrap();
        assert_eq!(
            v,
            OsString::from(format!("{}:{}", lib.display(), other.display()))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
