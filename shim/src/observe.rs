//! Observe mode's evidence for `arshim verify`: is the archiver spawn final?
//!
//! Once the host has waited for its archiver (`archiver_done`), everything it
//! still does that a conversion would lose is recorded as an `after` event:
//! spawns and forks, files opened for writing, writes to files and to
//! stdout/stderr, renames and links (deletions are recorded too, as allowed).
//! Writes that glibc's stdio makes internally (out of our hooks' sight) are
//! caught at exit by comparing the sizes of the files the host had open.
//!
//! Before that point every hook here costs one atomic load.

use crate::config::Mode;
use crate::trace::Event;
use crate::{state, sys};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Mutex;

static AFTER: AtomicBool = AtomicBool::new(false);
static ARCHIVER_PIDS: [AtomicI32; 8] = [const { AtomicI32::new(0) }; 8];
/// fds already reported as written to (0..1024), so a loop of writes is one event.
static WRITTEN: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];

/// Regular files open when the archiver ended: (fd, dev, ino, size).
static SNAPSHOT: Mutex<Vec<(i32, u64, u64, i64)>> = Mutex::new(Vec::new());

/// A spawn-time archiver's pid, to recognise its wait.
pub fn note_archiver_pid(pid: i32) {
    for slot in &ARCHIVER_PIDS {
        if slot
            .compare_exchange(0, pid, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
    }
}

pub fn is_archiver_pid(pid: i32) -> bool {
    pid > 0
        && ARCHIVER_PIDS
            .iter()
            .any(|s| s.load(Ordering::Relaxed) == pid)
}

/// Recording, in the observed process itself (never in a forked child:
/// the events allocate).
#[inline(always)]
pub fn recording() -> bool {
    AFTER.load(Ordering::Relaxed) && state::scope_config().is_some()
}

fn trace_path() -> Option<&'static [u8]> {
    state::scope_config().and_then(|c| c.trace.as_deref())
}

fn fstat(fd: i32) -> Option<libc::stat> {
    // SAFETY: zeroed stat is a valid out-buffer.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then_some(st)
    }
}

fn fd_path(fd: i32) -> Vec<u8> {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map(|p| p.into_os_string().into_encoded_bytes())
        .unwrap_or_default()
}

fn is_regular(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFREG
}

/// The host waited for its archiver: from now on, record.
pub fn archiver_done(child: i32, status: Option<i32>) {
    let Some(config) = state::scope_config() else {
        return;
    };
    if config.mode != Mode::Observe || AFTER.load(Ordering::Relaxed) {
        return;
    }
    Event::new("archiver_done")
        .int("child", child as i64)
        .wait_status(status)
        .emit(config.trace.as_deref());
    // Pending stdio output was written before the archiver ended, as far as
    // the user can tell: flush it now so it does not count as "after".
    // SAFETY: fflush(NULL) flushes all output streams.
    unsafe { libc::fflush(std::ptr::null_mut()) };
    let snapshot = sys::open_fds()
        .into_iter()
        .filter_map(|fd| {
            fstat(fd)
                .filter(is_regular)
                .map(|st| (fd, st.st_dev, st.st_ino, st.st_size))
        })
        .collect();
    if let Ok(mut s) = SNAPSHOT.lock() {
        *s = snapshot;
    }
    AFTER.store(true, Ordering::Release);
}

/// One `after` event. Nothing when re-entered: our own writes (log, trace)
/// are not the host's.
pub fn after(what: &str, path: &[u8], detail: &str) {
    let Some(_guard) = state::Reentry::enter() else {
        return;
    };
    let e = Event::new("after").str("what", what).str("path", path);
    let e = if detail.is_empty() {
        e
    } else {
        e.str("detail", detail)
    };
    e.emit(trace_path());
}

/// A write(2)-family call on `fd`: reported once per fd, for regular files
/// and for stdout/stderr whatever they are.
pub fn wrote(fd: i32, call: &str) {
    if state::Reentry::is_inside() {
        return;
    }
    if (0..1024).contains(&fd) {
        let bit = 1u64 << (fd % 64);
        if WRITTEN[(fd / 64) as usize].fetch_or(bit, Ordering::Relaxed) & bit != 0 {
            return;
        }
    }
    let Some(st) = fstat(fd) else { return };
    if fd == 1 || fd == 2 || is_regular(&st) {
        after("write", &fd_path(fd), &format!("{call} on fd {fd}"));
    }
}

/// At exit: flush stdio (exit would, right after us), then any file that
/// was open when the archiver ended and has grown was written to after it.
pub fn at_exit() {
    if !AFTER.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: fflush(NULL) flushes all output streams.
    unsafe { libc::fflush(std::ptr::null_mut()) };
    let snapshot = SNAPSHOT.lock().map(|s| s.clone()).unwrap_or_default();
    for (fd, dev, ino, size) in snapshot {
        if let Some(st) = fstat(fd) {
            if st.st_dev == dev && st.st_ino == ino && st.st_size > size {
                after(
                    "write",
                    &fd_path(fd),
                    &format!("fd {fd} grew from {size} to {} bytes", st.st_size),
                );
            }
        }
    }
}

/// open/creat flags that write or create.
pub fn writes(flags: i32) -> bool {
    let acc = flags & libc::O_ACCMODE;
    acc == libc::O_WRONLY || acc == libc::O_RDWR || flags & (libc::O_CREAT | libc::O_TRUNC) != 0
}

/// fopen modes that write or create.
pub fn mode_writes(mode: &[u8]) -> bool {
    mode.iter().any(|&c| matches!(c, b'w' | b'a' | b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_flags() {
        assert!(!writes(libc::O_RDONLY | libc::O_CLOEXEC));
        assert!(writes(libc::O_WRONLY));
        assert!(writes(libc::O_RDWR));
        assert!(writes(libc::O_RDONLY | libc::O_CREAT));
        assert!(mode_writes(b"w"));
        assert!(mode_writes(b"r+"));
        assert!(mode_writes(b"ab"));
        assert!(!mode_writes(b"rb"));
        assert!(!mode_writes(b"re"));
    }

    #[test]
    fn archiver_pids() {
        note_archiver_pid(4242);
        assert!(is_archiver_pid(4242));
        assert!(!is_archiver_pid(4243));
        assert!(!is_archiver_pid(0));
    }
}
