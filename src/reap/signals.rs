//! Signal handling of the reaper. It has the host's pid, so a build system's
//! `kill` lands on it: it forwards the usual termination signals to the
//! archiver, and in the end dies by the signal that killed the archiver.

use std::io;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicI32, Ordering};

use libc::c_int;

/// Signals passed on to the archiver.
const FORWARDED: [c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// The archiver's pid while it may receive signals; 0 before it exists and
/// once it has ended (its pid may then be reused by an unrelated process).
static CHILD: AtomicI32 = AtomicI32::new(0);

pub fn set_child(pid: libc::pid_t) {
    CHILD.store(pid, Ordering::SeqCst);
}

pub fn forget_child() {
    CHILD.store(0, Ordering::SeqCst);
}

/// The forwarding handler: only async-signal-safe calls, errno preserved
/// (it may interrupt the waitpid whose errno we read).
extern "C" fn forward(sig: c_int) {
    // SAFETY: __errno_location returns this thread's errno slot; kill is
    // async-signal-safe and takes plain integers.
    unsafe {
        let errno = *libc::__errno_location();
        let pid = CHILD.load(Ordering::SeqCst);
        if pid > 0 {
            libc::kill(pid, sig);
        }
        *libc::__errno_location() = errno;
    }
}

fn sigaction(sig: c_int, handler: libc::sighandler_t, flags: c_int) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid value (empty mask, no flags);
    // sigemptyset and sigaction only touch the structs we pass.
    let rc = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        action.sa_flags = flags;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(sig, &action, std::ptr::null_mut())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn is_ignored(sig: c_int) -> bool {
    let mut old = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only queries; `old` is ours to fill.
    let rc = unsafe { libc::sigaction(sig, std::ptr::null(), old.as_mut_ptr()) };
    // SAFETY: zero-initialised, and filled by sigaction on success.
    rc == 0 && unsafe { old.assume_init() }.sa_sigaction == libc::SIG_IGN
}

/// An inherited `SIGCHLD` = `SIG_IGN` (or `SA_NOCLDWAIT`) makes the kernel
/// reap the archiver itself, and waitpid fail with ECHILD. (So in run mode
/// the archiver starts with SIGCHLD at its default even if the host ignored
/// it: posix_spawn can only reset dispositions, and ignoring it again after
/// the spawn would race with the archiver's exit.)
pub fn default_sigchld() {
    let _ = sigaction(libc::SIGCHLD, libc::SIG_DFL, 0);
}

/// Installs the forwarding handler. A signal the reaper inherited as ignored
/// stays ignored: the host ignored it too, and in run mode the archiver must
/// inherit that (a handler would be reset to the default action by exec).
pub fn forward_to_child() {
    for sig in FORWARDED {
        if !is_ignored(sig) {
            let _ = sigaction(
                sig,
                forward as *const () as libc::sighandler_t,
                libc::SA_RESTART,
            );
        }
    }
}

/// The forwarded signals blocked, and the mask to restore (and to give the
/// archiver: the library set it up for it).
pub struct Blocked {
    old: libc::sigset_t,
}

impl Blocked {
    /// Blocks the forwarded signals while the archiver is being spawned, so
    /// that one arriving before we know its pid is forwarded, not lost.
    pub fn forwarded() -> Blocked {
        // SAFETY: sigset operations on sets we own; sigprocmask fills `old`.
        unsafe {
            let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
            libc::sigemptyset(set.as_mut_ptr());
            for sig in FORWARDED {
                libc::sigaddset(set.as_mut_ptr(), sig);
            }
            let mut old = MaybeUninit::<libc::sigset_t>::zeroed();
            libc::sigprocmask(libc::SIG_BLOCK, set.as_ptr(), old.as_mut_ptr());
            Blocked {
                old: old.assume_init(),
            }
        }
    }

    /// The mask in effect before blocking.
    pub fn old_mask(&self) -> &libc::sigset_t {
        &self.old
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        // SAFETY: restores a mask sigprocmask gave us.
        unsafe { libc::sigprocmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

/// Dies by `sig`, so the host's parent sees the archiver's death; exits with
/// 128 + sig if the signal does not kill.
pub fn die_by(sig: c_int) -> ! {
    // No core dump of the reaper: it would overwrite the archiver's ("core"
    // in the same directory), or be reported as a second crash by
    // systemd-coredump. (So the parent never sees WCOREDUMP set.)
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads a struct we own.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
    let _ = sigaction(sig, libc::SIG_DFL, 0);
    // SAFETY: sigset operations on a set we own; raise and _exit take integers.
    unsafe {
        let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, set.as_ptr(), std::ptr::null_mut());
        libc::raise(sig);
        libc::_exit(128 + sig)
    }
}
