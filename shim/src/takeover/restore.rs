//! Capture, then clean up, then restore (docs/DESIGN.md, "Conversion" 11):
//! what the archiver's start depends on is taken before the host's cleanups
//! run and put back after them, before the spawn's own steps are replayed.
//! The cleanups may `chdir`, close or reopen fds, change the umask or ignore
//! signals; none of that reaches the archiver (or the reaper).
//!
//! Touches: before the cleanups, only copies of fds (high, close-on-exec);
//! after them, the working directory, the captured fd numbers, the umask,
//! the ignored signals and the signal mask — then closes its copies.

use crate::facts::fs::open_fds;
use crate::takeover::defer::{self, Deferred};

fn errno() -> i32 {
    // SAFETY: reading the thread's errno.
    unsafe { *libc::__errno_location() }
}

fn failed(what: &str) -> String {
    format!("{what}: {}", std::io::Error::from_raw_os_error(errno()))
}

/// The file behind an fd: (device, inode), or None if it is not open.
fn identity(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: fstat into a zeroed buffer we own.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then_some((st.st_dev, st.st_ino))
    }
}

/// One fd of the host, kept as a copy while the cleanups run.
struct Kept {
    fd: i32,
    copy: i32,
    /// The copy's file, to tell whether the cleanups replaced the copy itself.
    id: (u64, u64),
    cloexec: bool,
    /// The open file's status flags (`O_APPEND`, `O_NONBLOCK`, …).
    status: i32,
}

/// What exec inherits of the signal state: ignored dispositions and the mask.
struct Signals {
    /// Bit n-1: signal n was ignored.
    ignored: u128,
    mask: libc::sigset_t,
}

/// The state taken before the cleanups.
pub struct Captured {
    /// An `O_PATH` fd on the working directory.
    cwd: i32,
    fds: Vec<Kept>,
    /// Of fds 0–2, those that were closed: a cleanup may open something there.
    closed_std: Vec<i32>,
    umask: Option<libc::mode_t>,
    signals: Option<Signals>,
    /// Whether every other fd the archiver would inherit is closed after
    /// the restore: the cleanups', never the spawn's.
    close_strays: bool,
}

/// The lowest fd number the shim may use while the host is taken over: above
/// every fd the host has and every fd the spawn's steps name (`bound`).
fn floor_above(open: &[i32], bound: i32) -> i32 {
    open.iter().copied().chain([bound, 2]).max().unwrap_or(2) + 1
}

/// Before the cleanups of a spawn-time conversion: the working directory,
/// every fd the archiver inherits (0–2 and every fd without `FD_CLOEXEC`)
/// or the spawn's steps read (`reads`), the umask and the signal state.
/// `bound` is the highest fd number the steps name. `Err`: the real call.
pub fn for_spawn(reads: &[i32], bound: i32) -> Result<Captured, &'static str> {
    let mut open = open_fds();
    open.retain(|&fd| is_open(fd));
    open.sort_unstable();
    let floor = floor_above(&open, bound);
    let mut wanted: Vec<i32> = open
        .iter()
        .copied()
        .filter(|&fd| fd <= 2 || reads.contains(&fd) || !is_cloexec(fd))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut captured = capture(&wanted, floor)?;
    // SAFETY: umask has no preconditions; the value is put back at once.
    captured.umask = Some(unsafe {
        let mask = libc::umask(0);
        libc::umask(mask);
        mask
    });
    captured.signals = Some(signals());
    captured.close_strays = true;
    Ok(captured)
}

/// Before the cleanups of a wait-time handoff: what the reaper starts with
/// that the user sees — the working directory and fds 0–2.
pub fn for_reaper() -> Result<Captured, &'static str> {
    let open = open_fds();
    let floor = floor_above(&open, -1);
    let std: Vec<i32> = open
        .iter()
        .copied()
        .filter(|&fd| fd <= 2 && is_open(fd))
        .collect();
    capture(&std, floor)
}

/// Still open (the listing of /proc/self/fd names its own directory fd).
fn is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD on any fd number is harmless.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

fn is_cloexec(fd: i32) -> bool {
    // SAFETY: F_GETFD on any fd number is harmless.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    flags != -1 && flags & libc::FD_CLOEXEC != 0
}

/// The working directory and `fds`, copied at or above `floor`, where the
/// deferral's directory fds will live too.
fn capture(fds: &[i32], floor: i32) -> Result<Captured, &'static str> {
    let mut captured = Captured {
        cwd: -1,
        fds: Vec::with_capacity(fds.len()),
        closed_std: (0..=2).filter(|fd| !fds.contains(fd)).collect(),
        umask: None,
        signals: None,
        close_strays: false,
    };
    // SAFETY: open of a NUL-terminated path; the fd is ours.
    let cwd = unsafe {
        libc::open(
            c".".as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    captured.cwd = move_up(cwd, floor).ok_or("the working directory cannot be opened")?;
    for &fd in fds {
        match keep(fd, floor) {
            Some(kept) => captured.fds.push(kept),
            None => {
                captured.close_copies();
                return Err("an fd the archiver reads cannot be duplicated");
            }
        }
    }
    defer::keep_fds_from(floor);
    Ok(captured)
}

/// `fd` moved to the lowest free number at or above `floor`, close-on-exec.
fn move_up(fd: i32, floor: i32) -> Option<i32> {
    if fd < 0 {
        return None;
    }
    // SAFETY: duplicating and closing an fd we own.
    unsafe {
        let high = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, floor);
        libc::close(fd);
        (high >= 0).then_some(high)
    }
}

fn keep(fd: i32, floor: i32) -> Option<Kept> {
    // SAFETY: F_GETFL/F_GETFD/F_DUPFD_CLOEXEC on an open fd of the host;
    // the copy is ours.
    let (status, copy) = unsafe {
        (
            libc::fcntl(fd, libc::F_GETFL),
            libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, floor),
        )
    };
    let id = identity(copy);
    if status == -1 || copy < 0 || id.is_none() {
        close_quietly(copy);
        return None;
    }
    Some(Kept {
        fd,
        copy,
        id: id.unwrap_or_default(),
        cloexec: is_cloexec(fd),
        status,
    })
}

fn close_quietly(fd: i32) {
    if fd >= 0 {
        // SAFETY: closing an fd we own.
        unsafe { libc::close(fd) };
    }
}

/// The ignored signals and the mask of this thread.
fn signals() -> Signals {
    // SAFETY: sigaction and sigprocmask only read here, into buffers we own.
    unsafe {
        let mut ignored = 0u128;
        for sig in 1..=libc::SIGRTMAX() {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN
            {
                ignored |= 1u128 << (sig - 1);
            }
        }
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
        Signals { ignored, mask }
    }
}

impl Captured {
    /// After the cleanups: the state taken before them, exactly; then the
    /// copies are closed. Every step is a system call through libc (no
    /// stdio, no lock of the host's); the heap is used only to list the fds
    /// (as the tail's own steps use it, after the same cleanups) and for a
    /// failure's message.
    ///
    /// # Safety
    /// Changes this process's working directory, fds, umask and signal
    /// state: only in the takeover, after the cleanups.
    pub unsafe fn restore(&self, passed_on: &[Deferred]) -> Result<(), String> {
        let result = self.restore_fds(passed_on).and_then(|()| {
            if libc::fchdir(self.cwd) != 0 {
                return Err(failed("fchdir to the host's working directory"));
            }
            if let Some(mask) = self.umask {
                libc::umask(mask);
            }
            if let Some(signals) = &self.signals {
                restore_signals(signals);
            }
            Ok(())
        });
        self.close_copies();
        result
    }

    fn close_copies(&self) {
        close_quietly(self.cwd);
        for kept in &self.fds {
            close_quietly(kept.copy);
        }
    }

    /// Each captured fd back on its number (whatever the cleanups closed or
    /// reopened there), with its close-on-exec flag and status flags; fds
    /// 0–2 that were closed are closed again.
    unsafe fn restore_fds(&self, passed_on: &[Deferred]) -> Result<(), String> {
        for kept in &self.fds {
            if identity(kept.copy) != Some(kept.id) {
                return Err(format!("the cleanups closed the copy of fd {}", kept.fd));
            }
            let flags = if kept.cloexec { libc::O_CLOEXEC } else { 0 };
            if libc::dup3(kept.copy, kept.fd, flags) == -1 {
                return Err(failed(&format!("dup3 back onto fd {}", kept.fd)));
            }
            libc::fcntl(kept.fd, libc::F_SETFL, kept.status);
        }
        for &fd in &self.closed_std {
            libc::close(fd);
        }
        if self.close_strays {
            self.close_unkept_inheritable(passed_on);
        }
        Ok(())
    }
}

impl Captured {
    /// Every fd the archiver would inherit that is neither one put back here
    /// nor one the shim passes on (the deferral's directory fds, `passed_on`):
    /// the cleanups opened it (perhaps on a number a close-on-exec fd of the
    /// host had before: a number is not an identity), so the spawn would
    /// never have passed it on.
    fn close_unkept_inheritable(&self, passed_on: &[Deferred]) {
        for fd in open_fds() {
            let kept =
                self.fds.iter().any(|k| k.fd == fd) || passed_on.iter().any(|d| d.dirfd == fd);
            if !kept && is_open(fd) && !is_cloexec(fd) {
                close_quietly(fd);
            }
        }
    }
}

/// What exec inherits: each signal ignored exactly when it was (a caught one
/// is left alone: exec resets it), then the mask.
unsafe fn restore_signals(signals: &Signals) {
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let mut now: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, std::ptr::null(), &mut now) != 0 {
            continue; // glibc's internal signals
        }
        let was = signals.ignored & (1u128 << (sig - 1)) != 0;
        let is = now.sa_sigaction == libc::SIG_IGN;
        if was != is {
            let mut set: libc::sigaction = std::mem::zeroed();
            set.sa_sigaction = if was { libc::SIG_IGN } else { libc::SIG_DFL };
            libc::sigaction(sig, &set, std::ptr::null_mut());
        }
    }
    libc::sigprocmask(libc::SIG_SETMASK, &signals.mask, std::ptr::null_mut());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_above_every_fd_and_bound() {
        assert_eq!(floor_above(&[0, 1, 2], -1), 3);
        assert_eq!(floor_above(&[0, 1, 2, 7], 3), 8);
        assert_eq!(floor_above(&[0, 1, 2], 40), 41);
        assert_eq!(floor_above(&[], -1), 3);
    }
}
