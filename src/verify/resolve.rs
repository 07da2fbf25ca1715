//! Finding the file a command name runs, as `execvp` does, so `arshim run`
//! can look up the verdict of the binary it is about to exec.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// glibc's execvp search path when PATH is unset.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// A name containing '/' is used as is; otherwise the first entry of
/// `path_var` (PATH) holding an executable regular file, an empty entry
/// meaning the current directory.
pub fn resolve(program: &OsStr, path_var: Option<&OsStr>) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.as_bytes().contains(&b'/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    let path_var = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    path_var
        .as_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            let dir = if dir.is_empty() { b"." } else { dir };
            Path::new(OsStr::from_bytes(dir)).join(program)
        })
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn searches_path_like_execvp() {
        let dir = std::env::temp_dir().join(format!("arshim-resolve-{}", std::process::id()));
        let (a, b) = (dir.join("a"), dir.join("b"));
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        fs::write(a.join("tool"), "").unwrap(); // not executable: skipped
        fs::write(b.join("tool"), "").unwrap();
        fs::set_permissions(b.join("tool"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir_all(a.join("dir")).unwrap(); // a directory: skipped

        let path = format!("{}:{}", a.display(), b.display());
        let found = resolve(OsStr::new("tool"), Some(OsStr::new(&path)));
        assert_eq!(found, Some(b.join("tool")));
        assert_eq!(resolve(OsStr::new("dir"), Some(OsStr::new(&path))), None);
        assert_eq!(
            resolve(OsStr::new("missing"), Some(OsStr::new(&path))),
            None
        );
        let direct = b.join("tool");
        assert_eq!(
            resolve(direct.as_os_str(), Some(OsStr::new(""))),
            Some(direct)
        );
        assert_eq!(resolve(OsStr::new(""), None), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unset_path_uses_glibcs_default() {
        assert_eq!(
            resolve(OsStr::new("sh"), None),
            Some(PathBuf::from("/bin/sh"))
        );
    }
}
