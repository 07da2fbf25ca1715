//! `arshim doctor CMD`: find CMD like execvp, gather the facts about the
//! file (and, for a script, about its interpreter), and let `classify`
//! judge them.

use std::ffi::{CString, OsStr};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Uid, User};

use super::classify::{self, Content, FileFacts, LibraryArch, Role};
use super::elf;
use super::report::{Finding, Status};
use crate::pathsearch::{self, Resolved};

/// Linux reads this much of a file to find a `#!` line.
const HEAD_BYTES: u64 = 256;

/// The findings for CMD, given the architecture the library was built for.
pub fn check(cmd: &OsStr, library: Option<LibraryArch>) -> Vec<Finding> {
    let shown = cmd.to_string_lossy();
    let path = match locate(Role::Command.check(), cmd) {
        Ok(path) => path,
        Err(finding) => return vec![finding],
    };
    let facts = match gather(&path) {
        Ok(facts) => facts,
        Err(reason) => return vec![Finding::new(Status::Problem, Role::Command.check(), reason)],
    };
    let mut out = classify::assess(Role::Command, &shown, &facts, library);
    if let Content::Script(shebang) = &facts.content {
        out.extend(interpreter(shebang, library));
    }
    out
}

/// The interpreter of a script: X on PATH for `#!/usr/bin/env X`, else the
/// path in the `#!` line. One level only: the kernel's own limit is deeper,
/// but a script run by a script is rare enough to just be named.
fn interpreter(shebang: &classify::Shebang, library: Option<LibraryArch>) -> Vec<Finding> {
    let env_program = shebang.env_program();
    if classify::basename(&shebang.interpreter) == "env" && env_program.is_none() {
        return Vec::new();
    }
    let name = env_program.unwrap_or(&shebang.interpreter);
    // The interpreter of a #! line is never searched on PATH; env's program is.
    let resolved = if env_program.is_some() {
        pathsearch::resolve(OsStr::new(name))
    } else {
        let path = PathBuf::from(name);
        match pathsearch::entry(&path) {
            pathsearch::Entry::Missing => Resolved::NotFound,
            pathsearch::Entry::Directory => Resolved::IsDirectory(path),
            pathsearch::Entry::File { executable: false } => Resolved::NotExecutable(path),
            pathsearch::Entry::File { executable: true } => Resolved::Found(path),
        }
    };
    let path = match explain(resolved, Role::Interpreter.check(), OsStr::new(name)) {
        Ok(path) => path,
        Err(finding) => {
            return vec![Finding {
                reason: format!("{}: the script cannot run", finding.reason),
                ..finding
            }]
        }
    };
    match gather(&path) {
        Ok(facts) => classify::assess(Role::Interpreter, name, &facts, library),
        Err(reason) => vec![Finding::new(
            Status::Problem,
            Role::Interpreter.check(),
            reason,
        )],
    }
}

fn locate(check: &'static str, name: &OsStr) -> Result<PathBuf, Finding> {
    explain(pathsearch::resolve(name), check, name)
}

fn explain(resolved: Resolved, check: &'static str, name: &OsStr) -> Result<PathBuf, Finding> {
    let shown = name.to_string_lossy();
    let reason = match resolved {
        Resolved::Found(path) => return Ok(path),
        Resolved::NotFound if name.as_bytes().contains(&b'/') => {
            format!("{shown}: no such file")
        }
        Resolved::NotFound => format!("{shown}: not found on PATH"),
        Resolved::IsDirectory(path) => format!("{} is a directory", path.display()),
        Resolved::NotExecutable(path) => format!(
            "{} is not executable (no execute permission for this user, or a noexec mount)",
            path.display()
        ),
    };
    Err(Finding::new(Status::Problem, check, reason))
}

/// Reads what `classify` needs about the executable file at `path`.
pub fn gather(path: &Path) -> Result<FileFacts, String> {
    let meta = fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut head = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(HEAD_BYTES).read_to_end(&mut head))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let content = if head.starts_with(b"\x7fELF") {
        match elf::read(path) {
            Ok(Some(facts)) => Content::Elf(facts),
            Ok(None) => Content::Other,
            Err(reason) => Content::BadElf(reason),
        }
    } else if let Some(shebang) = classify::parse_shebang(&head) {
        Content::Script(shebang)
    } else {
        Content::Other
    };
    let mut names = Vec::new();
    for p in [Some(path.to_path_buf()), fs::canonicalize(path).ok()]
        .into_iter()
        .flatten()
    {
        if let Some(name) = p.file_name() {
            let name = name.to_string_lossy().into_owned();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(FileFacts {
        path: path.to_path_buf(),
        names,
        mode: meta.mode(),
        owner: user_name(meta.uid()),
        capabilities: has_capabilities(path),
        content,
    })
}

/// The library's architecture: read from the library file when found, else
/// this companion's own (they are built together).
pub fn library_arch(library: Option<&Path>) -> Option<LibraryArch> {
    let own = std::env::current_exe().ok();
    [library.map(Path::to_path_buf), own]
        .into_iter()
        .flatten()
        .find_map(|p| elf::read(&p).ok().flatten())
        .map(|f| LibraryArch {
            class64: f.class64,
            machine: f.machine,
        })
}

/// Whether the file carries `security.capability` (set by `setcap`).
fn has_capabilities(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: raw libc, as nix does not wrap getxattr. Both strings are
    // NUL-terminated and ours; a NULL buffer of size 0 only asks for the
    // attribute's size.
    let size = unsafe {
        libc::getxattr(
            c.as_ptr(),
            c"security.capability".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    size > 0
}

/// The user name for `uid`, or the number when it has none.
fn user_name(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => format!("uid {uid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_a_name() {
        assert_eq!(user_name(0), "root");
    }

    #[test]
    fn missing_commands_are_problems() {
        let f = check(OsStr::new("/nonexistent/ld"), None);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, Status::Problem);
        assert!(f[0].reason.contains("no such file"), "{}", f[0]);
        let dir = std::env::temp_dir();
        let f = check(dir.as_os_str(), None);
        assert!(f[0].reason.contains("is a directory"), "{}", f[0]);
    }

    #[test]
    fn this_test_binary_is_a_dynamic_glibc_program() {
        let me = std::env::current_exe().unwrap();
        let f = check(me.as_os_str(), library_arch(None));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].status, Status::Ok, "{}", f[0]);
    }
}
