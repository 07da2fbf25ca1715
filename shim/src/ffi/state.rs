//! The process-wide state every hook reads first: one atomic load decides
//! whether a hook does anything at all. Touches its own atomics and the
//! configuration, written once at load.

use crate::decide::config::{Config, Mode};
use std::cell::Cell;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

const OFF: u8 = 0;
const OBSERVE: u8 = 1;
const EXEC: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(OFF);
/// The pid that was decided in scope; a forked child has another one.
static SCOPE_PID: AtomicI32 = AtomicI32::new(0);
static mut CONFIG: Option<Config> = None;

/// The wait and signal hooks' one atomic (docs/DESIGN.md, "Conversion" 2,
/// the archiver hidden from the cleanups): `QUIET` when they have nothing to
/// do, `WATCHING` while the process is in scope (MODE on), or the pid of the
/// archiver a wait-time takeover hides from the host's cleanups.
static CHILD_HOOKS: AtomicI32 = AtomicI32::new(QUIET);
const QUIET: i32 = 0;
const WATCHING: i32 = -1;

/// Called once, from the constructor, before any hook can see a mode other than off.
pub fn activate(config: Config, pid: i32) {
    let mode = match config.mode {
        Mode::Off => return,
        Mode::Observe => OBSERVE,
        Mode::Exec => EXEC,
    };
    // SAFETY: single-threaded (the loader runs constructors before main) and
    // written before MODE is published with Release; readers Acquire MODE first.
    unsafe { *std::ptr::addr_of_mut!(CONFIG) = Some(config) };
    SCOPE_PID.store(pid, Ordering::Relaxed);
    CHILD_HOOKS.store(WATCHING, Ordering::Relaxed);
    MODE.store(mode, Ordering::Release);
}

/// Off from now on: used when a conversion starts, so that whatever the
/// cleanups spawn goes straight to the real calls.
pub fn deactivate() {
    MODE.store(OFF, Ordering::Release);
    CHILD_HOOKS.store(QUIET, Ordering::Release);
}

/// From now on (the hooks being off) the wait and signal hooks act as if
/// `archiver` had been reaped: the host's cleanups of a wait-time takeover
/// run while it still runs (docs/DESIGN.md, "Conversion" 2).
pub fn hide_child(archiver: i32) {
    if archiver > 0 {
        CHILD_HOOKS.store(archiver, Ordering::Release);
    }
}

/// The cleanups are over: the archiver is a child like any other again
/// (the host goes on to its own wait if the reaper's execve fails).
pub fn unhide_child() {
    CHILD_HOOKS.store(QUIET, Ordering::Release);
}

/// The wait hooks' one load: nothing to do (out of scope, or converted and
/// hiding nothing).
#[inline(always)]
pub fn waits_quiet() -> bool {
    CHILD_HOOKS.load(Ordering::Relaxed) == QUIET
}

/// The signal hooks' one load: no archiver hidden.
#[inline(always)]
pub fn signals_quiet() -> bool {
    CHILD_HOOKS.load(Ordering::Relaxed) <= QUIET
}

/// The archiver hidden from the cleanups, when this is the process that
/// hides it (a child forked by a cleanup inherits the value, but its calls
/// are its own: they go to the real functions).
pub fn hidden_child() -> Option<i32> {
    let archiver = CHILD_HOOKS.load(Ordering::Acquire);
    // SAFETY: getpid has no preconditions.
    (archiver > 0 && unsafe { libc::getpid() } == SCOPE_PID.load(Ordering::Relaxed))
        .then_some(archiver)
}

/// The one atomic load of a hook that is off.
#[inline(always)]
pub fn is_on() -> bool {
    MODE.load(Ordering::Relaxed) != OFF
}

/// The configuration, if this process is in scope.
pub fn config() -> Option<&'static Config> {
    if MODE.load(Ordering::Acquire) == OFF {
        return None;
    }
    // SAFETY: CONFIG was written before MODE was published and never changes.
    unsafe { (*std::ptr::addr_of!(CONFIG)).as_ref() }
}

/// In scope for a decision: on, and this is still the process that was
/// decided in scope (not a forked child of it).
pub fn scope_config() -> Option<&'static Config> {
    let config = config()?;
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    (pid == SCOPE_PID.load(Ordering::Relaxed)).then_some(config)
}

/// The pid of the process in scope (0 before activation). A child of it
/// reads the value it inherited.
pub fn scope_pid() -> i32 {
    SCOPE_PID.load(Ordering::Relaxed)
}

pub fn is_exec(config: &Config) -> bool {
    config.mode == Mode::Exec
}

thread_local! {
    // const-initialised and without destructor: a plain TLS slot, no lazy set-up.
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread as inside a hook for the guard's lifetime; `None` if it
/// already was (a re-entry, e.g. through something the host's code calls
/// from inside our decision): the caller then goes straight to the real call.
pub struct Reentry(());

impl Reentry {
    pub fn is_inside() -> bool {
        IN_HOOK.with(|f| f.get())
    }

    pub fn enter() -> Option<Reentry> {
        IN_HOOK.with(|f| {
            if f.replace(true) {
                None
            } else {
                Some(Reentry(()))
            }
        })
    }
}

impl Drop for Reentry {
    fn drop(&mut self) {
        IN_HOOK.with(|f| f.set(false));
    }
}
