//! Where the preload library and the companion itself live.
//!
//! Lookup order: `$ARSHIM_LIB`, then `libarshim.so` next to this binary (the
//! `target/release/` layout), then `<bindir>/../lib/arshim/libarshim.so` (the
//! `make install` layout).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::failure::Failure;
use crate::settings::var;

pub const LIBRARY_FILE: &str = "libarshim.so";

/// The shim's core, loaded by the library from its own directory.
pub use arshim_common::preload_abi::CORE_FILE;

/// Why no library could be chosen.
#[derive(Debug, PartialEq, Eq)]
pub enum LocateError {
    /// `$ARSHIM_LIB` names something that is not a file: the user asked for
    /// exactly that library, so silently using another one would be wrong.
    OverrideMissing(PathBuf),
    NotFound {
        looked_in: Vec<PathBuf>,
    },
}

impl From<LocateError> for Failure {
    fn from(e: LocateError) -> Failure {
        match e {
            LocateError::OverrideMissing(path) => Failure::usage(format!(
                "{}={}: no such file; point it at libarshim.so or unset it",
                var::LIB,
                path.display()
            )),
            LocateError::NotFound { looked_in } => {
                let list: Vec<String> = looked_in.iter().map(|p| p.display().to_string()).collect();
                Failure::usage(format!(
                    "cannot find {LIBRARY_FILE} (looked in: {}); set {} or run `make`",
                    list.join(", "),
                    var::LIB
                ))
            }
        }
    }
}

/// The default places for the library, given the directory of the companion binary.
pub fn library_candidates(bin_dir: &Path) -> Vec<PathBuf> {
    let mut candidates = vec![bin_dir.join(LIBRARY_FILE)];
    // Lexical `..`: bin_dir comes from /proc/self/exe, so it has no symlinks to undo.
    if let Some(prefix) = bin_dir.parent() {
        candidates.push(prefix.join("lib").join("arshim").join(LIBRARY_FILE));
    }
    candidates
}

/// Chooses the library: the override if set (it must be a file), else the first
/// candidate that is a file. `is_file` is injected so the decision is testable.
/// An empty override counts as unset, as for most variables.
pub fn choose_library(
    override_path: Option<&OsStr>,
    candidates: &[PathBuf],
    is_file: impl Fn(&Path) -> bool,
) -> Result<PathBuf, LocateError> {
    if let Some(path) = override_path.filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if is_file(&path) {
            Ok(path)
        } else {
            Err(LocateError::OverrideMissing(path))
        };
    }
    candidates
        .iter()
        .find(|c| is_file(c))
        .cloned()
        .ok_or_else(|| LocateError::NotFound {
            looked_in: candidates.to_vec(),
        })
}

/// The absolute path of this companion binary (exported as `ARSHIM_COMPANION`).
pub fn companion() -> Result<PathBuf, Failure> {
    std::env::current_exe().map_err(|e| {
        Failure::usage(format!(
            "cannot determine the path of the arshim binary: {e}"
        ))
    })
}

/// The absolute path of the library to preload, from the real environment and filesystem.
pub fn library() -> Result<PathBuf, Failure> {
    let exe = companion()?;
    let bin_dir = exe.parent().unwrap_or(Path::new("/"));
    let chosen = choose_library(
        std::env::var_os(var::LIB).as_deref(),
        &library_candidates(bin_dir),
        Path::is_file,
    )?;
    // LD_PRELOAD entries are resolved against the cwd of every process that
    // loads them, so a relative $ARSHIM_LIB must be made absolute now.
    std::path::absolute(&chosen)
        .map_err(|e| Failure::usage(format!("cannot make {} absolute: {e}", chosen.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(existing: &'static [&'static str]) -> impl Fn(&Path) -> bool {
        move |p| existing.iter().any(|e| Path::new(e) == p)
    }

    #[test]
    fn candidates_are_next_to_binary_then_installed_layout() {
        assert_eq!(
            library_candidates(Path::new("/opt/x/bin")),
            vec![
                PathBuf::from("/opt/x/bin/libarshim.so"),
                PathBuf::from("/opt/x/lib/arshim/libarshim.so")
            ]
        );
    }

    #[test]
    fn candidates_at_root_have_no_parent_layout() {
        assert_eq!(
            library_candidates(Path::new("/")),
            vec![PathBuf::from("/libarshim.so")]
        );
    }

    #[test]
    fn override_wins_when_it_exists() {
        let c = library_candidates(Path::new("/b/bin"));
        let got = choose_library(
            Some(OsStr::new("/x/lib.so")),
            &c,
            only(&["/x/lib.so", "/b/bin/libarshim.so"]),
        );
        assert_eq!(got, Ok(PathBuf::from("/x/lib.so")));
    }

    #[test]
    fn missing_override_is_an_error_not_a_fallback() {
        let c = library_candidates(Path::new("/b/bin"));
        let got = choose_library(
            Some(OsStr::new("/nowhere.so")),
            &c,
            only(&["/b/bin/libarshim.so"]),
        );
        assert_eq!(
            got,
            Err(LocateError::OverrideMissing(PathBuf::from("/nowhere.so")))
        );
        let msg = Failure::from(got.unwrap_err()).to_string();
        assert!(msg.contains("ARSHIM_LIB=/nowhere.so"), "{msg}");
    }

    #[test]
    fn empty_override_counts_as_unset() {
        let c = library_candidates(Path::new("/b/bin"));
        let got = choose_library(Some(OsStr::new("")), &c, only(&["/b/bin/libarshim.so"]));
        assert_eq!(got, Ok(PathBuf::from("/b/bin/libarshim.so")));
    }

    #[test]
    fn next_to_binary_beats_installed_layout() {
        let c = library_candidates(Path::new("/b/bin"));
        let got = choose_library(
            None,
            &c,
            only(&["/b/lib/arshim/libarshim.so", "/b/bin/libarshim.so"]),
        );
        assert_eq!(got, Ok(PathBuf::from("/b/bin/libarshim.so")));
    }

    #[test]
    fn installed_layout_is_the_fallback() {
        let c = library_candidates(Path::new("/b/bin"));
        let got = choose_library(None, &c, only(&["/b/lib/arshim/libarshim.so"]));
        assert_eq!(got, Ok(PathBuf::from("/b/lib/arshim/libarshim.so")));
    }

    #[test]
    fn nothing_found_lists_every_place_looked() {
        let c = library_candidates(Path::new("/b/bin"));
        let err = choose_library(None, &c, only(&[])).unwrap_err();
        assert_eq!(err, LocateError::NotFound { looked_in: c });
        let f = Failure::from(err);
        assert_eq!(f.code, 2);
        assert_eq!(
            f.to_string(),
            "arshim: cannot find libarshim.so (looked in: /b/bin/libarshim.so, \
             /b/lib/arshim/libarshim.so); set ARSHIM_LIB or run `make`"
        );
    }
}
