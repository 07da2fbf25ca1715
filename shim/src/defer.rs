//! Deferred deletions (SPEC "Conversion" 4): while the host's cleanups run,
//! a deletion of one of the archiver's inputs, its output, or a directory
//! holding them is recorded and reported as done. The reaper performs it after
//! the archiver ended, relative to the directory fd opened here, so a symlink
//! swapped in place of a parent meanwhile is never followed.
//!
//! Off (the normal state) costs one atomic load per hooked call.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Mutex;

/// One deletion the host asked for, kept for the reaper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    /// An open directory fd (no FD_CLOEXEC: the reaper inherits it).
    pub dirfd: i32,
    /// A single path component inside `dirfd`.
    pub name: Vec<u8>,
    pub rmdir: bool,
    /// The absolute path, for the trace.
    pub path: Vec<u8>,
}

// ---------------------------------------------------------------------------
// Path reasoning (plain Rust)

/// `base` + `path`, with `.` and `..` resolved lexically.
pub fn absolute(base: &[u8], path: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    let joined = if path.first() == Some(&b'/') {
        vec![path]
    } else {
        vec![base, path]
    };
    for piece in joined {
        for c in piece.split(|&b| b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
    }
    let mut out = Vec::new();
    for p in &parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// Split an absolute normalized path into its directory and last component.
pub fn split_parent(abs: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = abs.iter().rposition(|&b| b == b'/')?;
    let name = &abs[i + 1..];
    if name.is_empty() {
        return None;
    }
    Some((if i == 0 { &b"/"[..] } else { &abs[..i] }, name))
}

/// Is deleting `target` deleting something the archiver needs: one of the
/// protected paths itself, or a directory on the way to one?
pub fn is_protected(target: &[u8], protected: &[Vec<u8>]) -> bool {
    protected.iter().any(|p| {
        p.as_slice() == target
            || (p.len() > target.len()
                && p.starts_with(target)
                && (target == b"/" || p[target.len()] == b'/'))
    })
}

/// The paths the archiver reads or writes: every operand of its command
/// line, as given relative to its working directory, and as the file system
/// resolves it (`canon`: realpath of the path, or of its directory).
pub fn protected_paths(
    args: &[Vec<u8>],
    cwd: &[u8],
    canon: impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for arg in args {
        if arg.is_empty() || arg[0] == b'-' {
            continue;
        }
        let arg = arg.strip_prefix(b"@").unwrap_or(arg);
        let abs = absolute(cwd, arg);
        if let Some(real) = canon(&abs) {
            out.push(real);
        }
        if let Some((dir, name)) = split_parent(&abs) {
            if let Some(mut real_dir) = canon(dir) {
                if real_dir != b"/" {
                    real_dir.push(b'/');
                }
                real_dir.extend_from_slice(name);
                out.push(real_dir);
            }
        }
        out.push(abs);
    }
    out.sort();
    out.dedup();
    out
}

// ---------------------------------------------------------------------------
// The live state, used only by the converting thread and the deletion hooks

static ACTIVE: AtomicBool = AtomicBool::new(false);
static OWNER_PID: AtomicI32 = AtomicI32::new(0);

struct Session {
    protected: Vec<Vec<u8>>,
    records: Vec<Deferred>,
    /// Directory fds already opened, by canonical path.
    dirs: Vec<(Vec<u8>, i32)>,
}

static SESSION: Mutex<Option<Session>> = Mutex::new(None);

/// One atomic load: the hooks' fast path.
#[inline(always)]
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Start deferring deletions of `protected` paths (before the cleanups).
pub fn begin(protected: Vec<Vec<u8>>) {
    if let Ok(mut s) = SESSION.lock() {
        *s = Some(Session {
            protected,
            records: Vec::new(),
            dirs: Vec::new(),
        });
        // SAFETY: getpid has no preconditions.
        OWNER_PID.store(unsafe { libc::getpid() }, Ordering::Relaxed);
        ACTIVE.store(true, Ordering::Release);
    }
}

/// Stop deferring; the deletions recorded, in order.
pub fn finish() -> Vec<Deferred> {
    ACTIVE.store(false, Ordering::Release);
    match SESSION.lock() {
        Ok(mut s) => s.take().map(|s| s.records).unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

fn canonical(path: &[u8]) -> Option<Vec<u8>> {
    let c = CString::new(path).ok()?;
    // SAFETY: realpath with a NULL buffer allocates the result, freed below.
    unsafe {
        let p = libc::realpath(c.as_ptr(), std::ptr::null_mut());
        if p.is_null() {
            return None;
        }
        let out = std::ffi::CStr::from_ptr(p).to_bytes().to_vec();
        libc::free(p.cast());
        Some(out)
    }
}

/// The protected set, resolved against the real file system.
pub fn protected_for(args: &[Vec<u8>], cwd: &[u8]) -> Vec<Vec<u8>> {
    protected_paths(args, cwd, canonical)
}

/// The directory `dirfd` refers to (AT_FDCWD: the working directory).
fn dir_of(dirfd: i32) -> Option<Vec<u8>> {
    if dirfd == libc::AT_FDCWD {
        return std::env::current_dir()
            .ok()
            .map(|p| p.into_os_string().into_encoded_bytes());
    }
    std::fs::read_link(format!("/proc/self/fd/{dirfd}"))
        .ok()
        .map(|p| p.into_os_string().into_encoded_bytes())
}

/// A deletion hook's question: defer this one? `true` means it was recorded
/// and the hook reports success without deleting.
pub fn consider(dirfd: i32, path: &[u8], rmdir: bool) -> bool {
    // SAFETY: getpid has no preconditions.
    if OWNER_PID.load(Ordering::Relaxed) != unsafe { libc::getpid() } {
        return false; // a child forked by a cleanup: never ours
    }
    let Some(base) = (if path.first() == Some(&b'/') {
        Some(Vec::new())
    } else {
        dir_of(dirfd)
    }) else {
        return false;
    };
    let abs = absolute(&base, path);
    let Some((dir, name)) = split_parent(&abs) else {
        return false;
    };
    let Some(real_dir) = canonical(dir) else {
        return false;
    };
    let mut target = real_dir.clone();
    if target != b"/" {
        target.push(b'/');
    }
    target.extend_from_slice(name);

    let Ok(mut guard) = SESSION.lock() else {
        return false;
    };
    let Some(session) = guard.as_mut() else {
        return false;
    };
    if !is_protected(&target, &session.protected) && !is_protected(&abs, &session.protected) {
        return false;
    }
    let fd = match session.dirs.iter().find(|(d, _)| *d == real_dir) {
        Some(&(_, fd)) => fd,
        None => {
            let Ok(c) = CString::new(real_dir.clone()) else {
                return false;
            };
            // SAFETY: open of a NUL-terminated path; without O_CLOEXEC on purpose
            // (the reaper inherits it across execve).
            let fd = unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                )
            };
            if fd < 0 {
                return false;
            }
            session.dirs.push((real_dir, fd));
            fd
        }
    };
    session.records.push(Deferred {
        dirfd: fd,
        name: name.to_vec(),
        rmdir,
        path: target,
    });
    true
}

/// Performs deletions in this process (when the handoff could not happen and
/// the host goes on after its wait).
pub fn perform_now(records: &[Deferred]) {
    for d in records {
        if let Ok(name) = CString::new(d.name.clone()) {
            let flags = if d.rmdir { libc::AT_REMOVEDIR } else { 0 };
            // SAFETY: unlinkat relative to a directory fd we opened.
            unsafe { libc::unlinkat(d.dirfd, name.as_ptr(), flags) };
        }
    }
    close_dirs(records);
}

pub fn close_dirs(records: &[Deferred]) {
    let mut fds: Vec<i32> = records.iter().map(|d| d.dirfd).collect();
    fds.sort();
    fds.dedup();
    for fd in fds {
        // SAFETY: closing fds we opened.
        unsafe { libc::close(fd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn absolute_paths() {
        assert_eq!(absolute(b"/w", b"a.o"), v("/w/a.o"));
        assert_eq!(absolute(b"/w/x", b"../a.o"), v("/w/a.o"));
        assert_eq!(absolute(b"/w", b"/t/./b//c.o"), v("/t/b/c.o"));
        assert_eq!(absolute(b"/", b".."), v("/"));
    }

    #[test]
    fn parents() {
        assert_eq!(split_parent(b"/t/a.o"), Some((&b"/t"[..], &b"a.o"[..])));
        assert_eq!(split_parent(b"/a"), Some((&b"/"[..], &b"a"[..])));
        assert_eq!(split_parent(b"/"), None);
    }

    #[test]
    fn protection_covers_files_and_their_directories() {
        let p = vec![v("/tmp/ld123/a.o"), v("/out/lib.a")];
        assert!(is_protected(b"/tmp/ld123/a.o", &p));
        assert!(
            is_protected(b"/tmp/ld123", &p),
            "the temp dir holding an input"
        );
        assert!(is_protected(b"/tmp", &p));
        assert!(
            !is_protected(b"/tmp/ld12", &p),
            "a prefix that is not a directory on the way"
        );
        assert!(!is_protected(b"/tmp/ld123/a.o.tmp", &p));
        assert!(
            !is_protected(b"/tmp/ld123/map.txt", &p),
            "other files in the temp dir go at once"
        );
        assert!(is_protected(b"/out/lib.a", &p));
    }

    #[test]
    fn operands_relative_to_the_archivers_directory() {
        let canon = |p: &[u8]| -> Option<Vec<u8>> {
            // /w/tmp is a symlink to /real/tmp
            p.strip_prefix(b"/w/tmp")
                .map(|rest| [&b"/real/tmp"[..], rest].concat())
        };
        let args = vec![
            v("rcs"),
            v("lib.a"),
            v("tmp/a.o"),
            v("--plugin=/x.so"),
            v("@list"),
        ];
        let p = protected_paths(&args, b"/w", canon);
        assert!(p.contains(&v("/w/lib.a")));
        assert!(p.contains(&v("/w/tmp/a.o")));
        assert!(p.contains(&v("/real/tmp/a.o")));
        assert!(p.contains(&v("/w/list")));
        assert!(
            !p.iter().any(|x| x.ends_with(b"x.so")),
            "options are not operands"
        );
    }
}
