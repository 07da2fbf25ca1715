//! Signal handling of the reaper. It has the host's pid, so a build system's
//! `kill` lands on it: it forwards the usual termination signals to the
//! archiver, and in the end dies by the signal that killed the archiver.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicI32, Ordering};

use libc::c_int;
use nix::errno::Errno;
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::unistd::Pid;

/// Signals passed on to the archiver.
const FORWARDED: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// The archiver's pid while it may receive signals; 0 before it exists and
/// once it has ended (its pid may then be reused by an unrelated process).
static CHILD: AtomicI32 = AtomicI32::new(0);

pub fn set_child(pid: libc::pid_t) {
    CHILD.store(pid, Ordering::SeqCst);
}

pub fn forget_child() {
    CHILD.store(0, Ordering::SeqCst);
}

/// The forwarding handler: only async-signal-safe calls (an atomic load,
/// kill), errno preserved (it may interrupt the waitpid whose errno we read).
extern "C" fn forward(sig: c_int) {
    let errno = Errno::last_raw();
    let pid = CHILD.load(Ordering::SeqCst);
    if let (true, Ok(sig)) = (pid > 0, Signal::try_from(sig)) {
        let _ = signal::kill(Pid::from_raw(pid), sig);
    }
    Errno::set_raw(errno);
}

/// Sets the disposition of `sig`; a failure leaves the old one, which is
/// all the reaper could do about it.
fn set_disposition(sig: Signal, handler: SigHandler, flags: SaFlags) {
    let action = SigAction::new(handler, flags, SigSet::empty());
    // SAFETY: the handlers installed are the default action or `forward`,
    // which makes only async-signal-safe calls.
    let _ = unsafe { signal::sigaction(sig, &action) };
}

fn is_ignored(sig: Signal) -> bool {
    let mut old = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: raw libc because nix's `sigaction` always installs an action
    // and cannot only ask. A null new action only queries; `old` is ours to
    // fill, zero-initialised, and filled by sigaction on success.
    unsafe {
        libc::sigaction(sig as c_int, std::ptr::null(), old.as_mut_ptr()) == 0
            && old.assume_init().sa_sigaction == libc::SIG_IGN
    }
}

/// An inherited `SIGCHLD` = `SIG_IGN` (or `SA_NOCLDWAIT`) makes the kernel
/// reap the archiver itself, and waitpid fail with ECHILD. (So in run mode
/// the archiver starts with SIGCHLD at its default even if the host ignored
/// it: posix_spawn can only reset dispositions, and ignoring it again after
/// the spawn would race with the archiver's exit.)
pub fn default_sigchld() {
    set_disposition(Signal::SIGCHLD, SigHandler::SigDfl, SaFlags::empty());
}

/// Installs the forwarding handler. A signal the reaper inherited as ignored
/// stays ignored: the host ignored it too, and in run mode the archiver must
/// inherit that (a handler would be reset to the default action by exec).
pub fn forward_to_child() {
    for sig in FORWARDED {
        if !is_ignored(sig) {
            set_disposition(sig, SigHandler::Handler(forward), SaFlags::SA_RESTART);
        }
    }
}

/// The forwarded signals blocked, and the mask to restore (and to give the
/// archiver: the library set it up for it).
pub struct Blocked {
    old: SigSet,
}

impl Blocked {
    /// Blocks the forwarded signals while the archiver is being spawned, so
    /// that one arriving before we know its pid is forwarded, not lost.
    pub fn forwarded() -> Blocked {
        let mut set = SigSet::empty();
        for sig in FORWARDED {
            set.add(sig);
        }
        let mut old = SigSet::empty();
        let _ = signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old));
        Blocked { old }
    }

    /// The mask in effect before blocking.
    pub fn old_mask(&self) -> &SigSet {
        &self.old
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        let _ = signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}

/// Dies by `sig`, so the host's parent sees the archiver's death; exits with
/// 128 + sig if the signal does not kill.
pub fn die_by(sig: c_int) -> ! {
    // No core dump of the reaper: it would overwrite the archiver's ("core"
    // in the same directory), or be reported as a second crash by
    // systemd-coredump. (So the parent never sees WCOREDUMP set.)
    let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
    // SAFETY: raw libc because `sig` may be a real-time signal, which nix's
    // `Signal` cannot name. A zeroed sigaction is the default action with
    // an empty mask; the sigset operations touch sets we own; raise and
    // _exit take integers.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(sig, &action, std::ptr::null_mut());
        let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, set.as_ptr(), std::ptr::null_mut());
        libc::raise(sig);
        libc::_exit(128 + sig)
    }
}
