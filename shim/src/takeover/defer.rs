//! Deferred deletions (docs/DESIGN.md, "Conversion" 4): while the host's
//! cleanups run, a deletion of one of the archiver's inputs, its output, or a directory
//! holding them is recorded and reported as done. The reaper performs it after
//! the archiver ended, relative to the directory fd opened here, so a symlink
//! swapped in place of a parent meanwhile is never followed.
//!
//! Off (the normal state) costs one atomic load per hooked call. Touches the
//! session below, the directory fds it opens, and (`perform_now`, when a
//! handoff failed) the deletions themselves.

use crate::decide::arglimit::deferral_cost;
use crate::decide::protect::{absolute, is_protected, protected_paths, split_parent};
use crate::facts::fs::canonical;
use crate::facts::proc::dir_of;
use crate::facts::temps::Identity;
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
    /// A host's temporary (docs/DESIGN.md, "Conversion" 12): deleted only
    /// while the name is still this file, never by the library itself.
    pub same: Option<Identity>,
}

// The live state, used only by the converting thread and the deletion hooks.

static ACTIVE: AtomicBool = AtomicBool::new(false);
static OWNER_PID: AtomicI32 = AtomicI32::new(0);
/// The lowest number a directory fd may take (0: any): above every fd of the
/// host and of the spawn's steps, so that putting the host's fds back after
/// the cleanups never lands on one (docs/DESIGN.md, "Conversion" 11).
static FD_FLOOR: AtomicI32 = AtomicI32::new(0);

/// Directory fds opened from now on live at or above `floor`.
pub fn keep_fds_from(floor: i32) {
    FD_FLOOR.store(floor, Ordering::Relaxed);
}

/// The lowest fd number the shim's own fds use in a takeover (0: not set).
pub fn fd_floor() -> i32 {
    FD_FLOOR.load(Ordering::Relaxed)
}

struct Session {
    protected: Vec<Vec<u8>>,
    records: Vec<Deferred>,
    /// Bytes the reaper's arguments can still take (`arglimit::deferral_cost`
    /// per record), measured before the cleanups (docs/DESIGN.md,
    /// "Conversion" 1).
    room: u64,
    /// Directory fds already opened, by canonical path.
    dirs: Vec<(Vec<u8>, i32)>,
}

static SESSION: Mutex<Option<Session>> = Mutex::new(None);

/// One atomic load: the hooks' fast path.
#[inline(always)]
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Start deferring deletions of `protected` paths (before the cleanups),
/// as many as `room` bytes of the reaper's arguments hold.
pub fn begin(protected: Vec<Vec<u8>>, room: u64) {
    if let Ok(mut s) = SESSION.lock() {
        *s = Some(Session {
            protected,
            records: Vec::new(),
            room,
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

/// The protected set, resolved against the real file system.
pub fn protected_for(args: &[Vec<u8>], cwd: &[u8]) -> Vec<Vec<u8>> {
    protected_paths(args, cwd, canonical)
}

/// A deletion hook's question: defer this one? `true` means it was recorded
/// and the hook reports success without deleting.
pub fn consider(dirfd: i32, path: &[u8], rmdir: bool) -> bool {
    // SAFETY: getpid has no preconditions.
    if OWNER_PID.load(Ordering::Relaxed) != unsafe { libc::getpid() } {
        return false; // a child forked by a cleanup: never ours
    }
    let Some(doomed) = Doomed::of(dirfd, path) else {
        return false;
    };
    let Ok(mut guard) = SESSION.lock() else {
        return false;
    };
    let Some(session) = guard.as_mut() else {
        return false;
    };
    if !is_protected(&doomed.target, &session.protected)
        && !is_protected(&doomed.abs, &session.protected)
    {
        return false;
    }
    let Some(fd) = session.dir_fd(&doomed.real_dir) else {
        return false;
    };
    let record = Deferred {
        dirfd: fd,
        name: doomed.name,
        rmdir,
        path: doomed.target,
        same: None,
    };
    session.keep(record)
}

/// What a deletion would delete, named both ways.
struct Doomed {
    /// As given, made absolute lexically.
    abs: Vec<u8>,
    /// Its directory, every symlink resolved.
    real_dir: Vec<u8>,
    /// Its last component.
    name: Vec<u8>,
    /// `real_dir/name`.
    target: Vec<u8>,
}

impl Doomed {
    fn of(dirfd: i32, path: &[u8]) -> Option<Doomed> {
        let base = if path.first() == Some(&b'/') {
            Vec::new()
        } else {
            dir_of(dirfd)?
        };
        let abs = absolute(&base, path);
        let (dir, name) = split_parent(&abs)?;
        let real_dir = canonical(dir)?;
        let mut target = real_dir.clone();
        if target != b"/" {
            target.push(b'/');
        }
        target.extend_from_slice(name);
        let name = name.to_vec();
        Some(Doomed {
            abs,
            real_dir,
            name,
            target,
        })
    }
}

impl Session {
    /// Records a deletion once; false when the reaper's arguments would not
    /// hold it (then the deletion is not deferred: the reaper's `execve`
    /// must not fail with E2BIG after the cleanups). Within the reserve the
    /// conversion was checked for (`arglimit::deferral_reserve`), it always fits.
    fn keep(&mut self, record: Deferred) -> bool {
        let same = |r: &Deferred| {
            r.dirfd == record.dirfd && r.name == record.name && r.rmdir == record.rmdir
        };
        if self.records.iter().any(same) {
            return true;
        }
        let cost = deferral_cost(&record.name);
        if cost > self.room {
            return false;
        }
        self.room -= cost;
        self.records.push(record);
        true
    }

    /// An fd on `real_dir`, opened once per directory.
    fn dir_fd(&mut self, real_dir: &[u8]) -> Option<i32> {
        if let Some(&(_, fd)) = self.dirs.iter().find(|(d, _)| *d == real_dir) {
            return Some(fd);
        }
        let c = CString::new(real_dir).ok()?;
        // SAFETY: open of a NUL-terminated path; without O_CLOEXEC on purpose
        // (the reaper inherits it across execve).
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            )
        };
        let fd = above_floor(fd)?;
        self.dirs.push((real_dir.to_vec(), fd));
        Some(fd)
    }
}

/// `fd` moved at or above the floor (without `FD_CLOEXEC`), or None. If
/// the fd limit leaves no room up there, `fd` stays where it is: the
/// deletion is deferred all the same (never done under the archiver), at
/// worst the restore closes that fd and the reaper reports it as bad.
fn above_floor(fd: i32) -> Option<i32> {
    let floor = fd_floor();
    if fd < 0 || fd >= floor {
        return (fd >= 0).then_some(fd);
    }
    // SAFETY: duplicating and closing an fd we opened.
    unsafe {
        let high = libc::fcntl(fd, libc::F_DUPFD, floor);
        if high < 0 {
            return Some(fd);
        }
        libc::close(fd);
        Some(high)
    }
}

/// Performs deletions in this process (when the handoff could not happen and
/// the host goes on after its wait).
pub fn perform_now(records: &[Deferred]) {
    // The host's temporaries are its own main code's to delete: it goes on.
    for d in records.iter().filter(|d| d.same.is_none()) {
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
