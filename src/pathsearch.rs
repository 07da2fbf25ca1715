//! Finding a program the way `execvp` does (glibc): a name with a `/` is
//! used as is; otherwise each `PATH` entry is tried in order (an empty entry
//! is the current directory, an unset `PATH` is `/bin:/usr/bin`); an entry
//! that exists but cannot be executed is skipped, and reported only if
//! nothing later runs.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::unistd::{access, AccessFlags};

/// What is at one candidate path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Missing,
    Directory,
    File { executable: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Found(PathBuf),
    /// Exists (the first such candidate) but this user may not execute it.
    NotExecutable(PathBuf),
    IsDirectory(PathBuf),
    NotFound,
}

/// glibc's default when `PATH` is unset (`confstr(_CS_PATH)`).
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Resolves `name` like execvp; `entry` tells what is at a path (injected so
/// the rules are testable).
pub fn resolve_with(
    name: &OsStr,
    path_var: Option<&OsStr>,
    entry: impl Fn(&Path) -> Entry,
) -> Resolved {
    if name.is_empty() {
        return Resolved::NotFound;
    }
    if name.as_bytes().contains(&b'/') {
        let path = PathBuf::from(name);
        return match entry(&path) {
            Entry::Missing => Resolved::NotFound,
            Entry::Directory => Resolved::IsDirectory(path),
            Entry::File { executable: false } => Resolved::NotExecutable(path),
            Entry::File { executable: true } => Resolved::Found(path),
        };
    }
    let path_var = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    let mut denied = None;
    for dir in path_var.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(name);
        match entry(&candidate) {
            Entry::File { executable: true } => return Resolved::Found(candidate),
            // execve fails with EACCES for both: execvp goes on.
            Entry::File { executable: false } | Entry::Directory => {
                denied.get_or_insert(candidate);
            }
            Entry::Missing => {}
        }
    }
    denied.map_or(Resolved::NotFound, Resolved::NotExecutable)
}

/// What is really at `path`, for this user.
pub fn entry(path: &Path) -> Entry {
    match std::fs::metadata(path) {
        Err(_) => Entry::Missing,
        Ok(m) if m.is_dir() => Entry::Directory,
        Ok(_) => Entry::File {
            executable: executable(path),
        },
    }
}

/// `access(X_OK)`: the kernel's answer for this user (root needs one x bit).
pub fn executable(path: &Path) -> bool {
    access(path, AccessFlags::X_OK).is_ok()
}

/// Resolves `name` against this process's `PATH` and filesystem.
pub fn resolve(name: &OsStr) -> Resolved {
    resolve_with(name, std::env::var_os("PATH").as_deref(), entry)
}

/// The executable `name` runs, if any (what `arshim run` will exec).
pub fn found(name: &OsStr) -> Option<PathBuf> {
    match resolve(name) {
        Resolved::Found(path) => Some(path),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(files: &'static [(&'static str, Entry)]) -> impl Fn(&Path) -> Entry {
        move |p| {
            files
                .iter()
                .find(|(f, _)| Path::new(f) == p)
                .map_or(Entry::Missing, |(_, e)| *e)
        }
    }

    const X: Entry = Entry::File { executable: true };
    const NOX: Entry = Entry::File { executable: false };

    #[test]
    fn a_name_with_a_slash_is_not_searched() {
        let r = resolve_with(
            OsStr::new("./ld"),
            Some(OsStr::new("/bin")),
            fs(&[("./ld", X), ("/bin/ld", X)]),
        );
        assert_eq!(r, Resolved::Found("./ld".into()));
        let r = resolve_with(OsStr::new("/x/ld"), None, fs(&[("/x/ld", NOX)]));
        assert_eq!(r, Resolved::NotExecutable("/x/ld".into()));
        let r = resolve_with(OsStr::new("/x"), None, fs(&[("/x", Entry::Directory)]));
        assert_eq!(r, Resolved::IsDirectory("/x".into()));
        assert_eq!(
            resolve_with(OsStr::new("/nope"), None, fs(&[])),
            Resolved::NotFound
        );
    }

    #[test]
    fn path_entries_in_order_skipping_what_cannot_run() {
        let files = fs(&[
            ("/a/ld", NOX),
            ("/b/ld", Entry::Directory),
            ("/c/ld", X),
            ("/d/ld", X),
        ]);
        let r = resolve_with(OsStr::new("ld"), Some(OsStr::new("/a:/b:/c:/d")), &files);
        assert_eq!(r, Resolved::Found("/c/ld".into()));
        let r = resolve_with(OsStr::new("ld"), Some(OsStr::new("/a:/b")), &files);
        assert_eq!(
            r,
            Resolved::NotExecutable("/a/ld".into()),
            "the first denied one is reported"
        );
        let r = resolve_with(OsStr::new("ld"), Some(OsStr::new("/z")), &files);
        assert_eq!(r, Resolved::NotFound);
    }

    #[test]
    fn empty_entry_is_the_current_directory_and_unset_path_is_the_default() {
        let files = fs(&[("./ld", X), ("/usr/bin/ar", X)]);
        let r = resolve_with(OsStr::new("ld"), Some(OsStr::new("/z::/y")), &files);
        assert_eq!(r, Resolved::Found("./ld".into()));
        let r = resolve_with(OsStr::new("ar"), None, &files);
        assert_eq!(r, Resolved::Found("/usr/bin/ar".into()));
        assert_eq!(
            resolve_with(OsStr::new(""), None, &files),
            Resolved::NotFound
        );
    }
}
