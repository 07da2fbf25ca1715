//! Doing a plan's steps in this process, right before `execve`: the fds,
//! working directory, session, process group, ids and signal state the
//! spawn's child would have had. Touches exactly those.
//!
//! Each step is one C library call that wraps a single system call (`dup2`,
//! `open`, `setsid`, `sigprocmask`, …; `close_range` through `syscall`), or
//! fills a signal set on the stack. That is safe after the host's cleanups
//! ran, when nothing of theirs may be relied upon: these calls keep no state
//! the cleanups could have torn down (no stdio, no lock, no heap — every path
//! became a C string in `prepare`, before the cleanups), and our hooks are off
//! by then, so the `open` interposed for observe mode goes straight to the
//! real one. Only a failing step allocates, for its message; the process then
//! exits 127.

use crate::decide::plan::Step;
use std::ffi::CString;

fn errno() -> i32 {
    // SAFETY: reading the thread's errno.
    unsafe { *libc::__errno_location() }
}

/// `Ok` if the call succeeded, else the error errno holds, named after the call.
fn done(succeeded: bool, what: &str) -> Result<(), String> {
    if succeeded {
        Ok(())
    } else {
        fail(what)
    }
}

fn fail(what: &str) -> Result<(), String> {
    Err(format!(
        "{what}: {}",
        std::io::Error::from_raw_os_error(errno())
    ))
}

fn sigset(mask: u64) -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset on a set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in 1..=64 {
            if mask & (1u64 << (sig - 1)) != 0 {
                libc::sigaddset(&mut set, sig);
            }
        }
        set
    }
}

/// A signal set as the plan's bit mask (bit n-1 = signal n).
pub fn mask_of(set: &libc::sigset_t) -> u64 {
    (1..=64)
        .filter(|&sig| unsafe { libc::sigismember(set, sig) } == 1)
        .fold(0, |m, sig| m | 1u64 << (sig - 1))
}

/// Paths are turned into C strings before the cleanups run.
pub struct Prepared {
    steps: Vec<(Step, Option<CString>)>,
}

impl Prepared {
    /// The host's fds the steps read: `dup2` sources, `fchdir` targets, fds
    /// kept open (the capture keeps them, docs/DESIGN.md, "Conversion" 11).
    pub fn reads(&self) -> Vec<i32> {
        let read = |(step, _): &(Step, Option<CString>)| match *step {
            Step::Dup2 { fd, .. } | Step::Fchdir(fd) | Step::KeepOpen(fd) => Some(fd),
            _ => None,
        };
        self.steps.iter().filter_map(read).collect()
    }

    /// The highest fd number a step names (a `closefrom` bound included), -1
    /// if none.
    pub fn highest_fd(&self) -> i32 {
        let named = |(step, _): &(Step, Option<CString>)| match *step {
            Step::Dup2 { fd, newfd } => Some(fd.max(newfd)),
            Step::Close(fd)
            | Step::KeepOpen(fd)
            | Step::Open { fd, .. }
            | Step::DevNull(fd)
            | Step::Fchdir(fd)
            | Step::Closefrom(fd) => Some(fd),
            _ => None,
        };
        self.steps.iter().filter_map(named).max().unwrap_or(-1)
    }
}

pub fn prepare(steps: &[Step]) -> Result<Prepared, String> {
    let mut out = Vec::with_capacity(steps.len());
    for step in steps {
        let path = match step {
            Step::Open { path, .. } | Step::Chdir(path) => {
                Some(CString::new(path.clone()).map_err(|_| "path with a NUL byte".to_string())?)
            }
            _ => None,
        };
        out.push((step.clone(), path));
    }
    Ok(Prepared { steps: out })
}

/// # Safety
/// Changes this process's fds, ids, group, signal state: call only right
/// before `execve`.
pub unsafe fn run(prepared: &Prepared) -> Result<(), String> {
    for (step, path) in &prepared.steps {
        let cpath = path
            .as_ref()
            .map(|p| p.as_ptr())
            .unwrap_or(std::ptr::null());
        match step {
            Step::SigDefault(_)
            | Step::SetSid
            | Step::SetPgid(_)
            | Step::ResetIds
            | Step::SigMask(_) => process_step(step)?,
            _ => file_step(step, cpath)?,
        }
    }
    Ok(())
}

/// Signals, session, process group, ids.
unsafe fn process_step(step: &Step) -> Result<(), String> {
    match *step {
        Step::SigDefault(mask) => {
            for sig in (1..=64).filter(|s| mask & (1u64 << (s - 1)) != 0) {
                // SIGKILL/SIGSTOP and the reserved ones refuse: as in glibc, ignored.
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        }
        Step::SetSid => done(libc::setsid() != -1, "setsid"),
        Step::SetPgid(pgid) => done(libc::setpgid(0, pgid) != -1, "setpgid"),
        // glibc's order: effective uid, then effective gid.
        Step::ResetIds => done(
            libc::seteuid(libc::getuid()) == 0 && libc::setegid(libc::getgid()) == 0,
            "POSIX_SPAWN_RESETIDS",
        ),
        Step::SigMask(mask) => {
            let set = sigset(mask);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        }
        _ => Ok(()), // a file action: `file_step`
    }
}

/// The file actions: fds and the working directory. `path` is the step's
/// path, NUL-terminated, or NULL.
unsafe fn file_step(step: &Step, path: *const libc::c_char) -> Result<(), String> {
    match *step {
        Step::Close(fd) => done(libc::close(fd) == 0 || errno() == libc::EBADF, "close"),
        Step::Dup2 { fd, newfd } => done(libc::dup2(fd, newfd) != -1, "dup2"),
        Step::KeepOpen(fd) => {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            let kept =
                flags != -1 && libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) != -1;
            done(kept, "fcntl")
        }
        Step::Open {
            fd, oflag, mode, ..
        } => open_onto(path, oflag, mode, fd),
        Step::DevNull(fd) => open_onto(c"/dev/null".as_ptr(), libc::O_RDONLY, 0, fd),
        Step::Chdir(_) => done(libc::chdir(path) != -1, "chdir"),
        Step::Fchdir(fd) => done(libc::fchdir(fd) != -1, "fchdir"),
        Step::Closefrom(low) => {
            close_from(low);
            Ok(())
        }
        _ => Ok(()), // signals, session, group, ids: `process_step`
    }
}

unsafe fn open_onto(
    path: *const libc::c_char,
    oflag: i32,
    mode: u32,
    fd: i32,
) -> Result<(), String> {
    let new = libc::open(path, oflag, mode as libc::c_uint);
    if new == -1 {
        return fail("open");
    }
    if new != fd {
        if libc::dup2(new, fd) == -1 {
            return fail("dup2");
        }
        libc::close(new);
    }
    Ok(())
}

/// Closes `low` and up, but for the shim's own fds, which live at or above
/// `defer::fd_floor` (above every fd a step names): the deferral's directory
/// fds that the reaper needs (docs/DESIGN.md, "Conversion" 4 and 10).
unsafe fn close_from(low: i32) {
    let floor = crate::takeover::defer::fd_floor();
    let last = if floor > low {
        (floor - 1) as libc::c_uint
    } else {
        libc::c_uint::MAX
    };
    if libc::syscall(libc::SYS_close_range, low as libc::c_uint, last, 0) == 0 {
        return;
    }
    let mut rl: libc::rlimit = std::mem::zeroed();
    let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
        rl.rlim_cur.min(1 << 20) as i32
    } else {
        1024
    };
    let end = if floor > low { max.min(floor) } else { max };
    for fd in low..end {
        libc::close(fd);
    }
}

/// A forked child does not inherit interval timers, but an exec'd image does:
/// a host's SIGALRM/SIGPROF ticker would kill the archiver (exec resets the handler).
pub unsafe fn disarm_timers() {
    let zero: libc::itimerval = std::mem::zeroed();
    for which in [libc::ITIMER_REAL, libc::ITIMER_VIRTUAL, libc::ITIMER_PROF] {
        libc::setitimer(which, &zero, std::ptr::null_mut());
    }
}
