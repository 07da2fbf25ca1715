//! The core's side of each hook, hand-written. The preload's `NAME` (an
//! interposer on the C library's `NAME`) jumps to `arshim_hook_NAME` once
//! this process is in scope: the export generated from the hook list
//! (`exports.rs`), which inlines the `NAME` here. Each mirrors one libc
//! function, keeps its exact signature and return convention, and while it
//! has nothing to do (the conversion under way, a forked child, observe mode
//! not yet recording) costs one atomic load and a tail call to the real
//! function.

use super::real::{Real, REAL};
use super::state;
use crate::decide::child::{awaited_by_waitid, awaited_by_waitpid, WaitCall};
use crate::execs::{self, Exec, Program};
use crate::record::{mirror, observe, temps};
use crate::takeover::convert::{self, Request};
use crate::takeover::defer;
use crate::takeover::hidden;
use crate::takeover::wait::{self, AtWait};
use arshim_common::hooks::prelude::no_such_function;
use libc::{c_char, c_int, mode_t, pid_t, posix_spawn_file_actions_t, posix_spawnattr_t};
use std::ffi::CStr;

/// `posix_spawn` and `posix_spawnp`.
type SpawnFn = unsafe extern "C" fn(
    *mut pid_t,
    *const c_char,
    *const posix_spawn_file_actions_t,
    *const posix_spawnattr_t,
    *const *mut c_char,
    *const *mut c_char,
) -> c_int;

/// The shape of every hook: when `quiet` holds (the shim has nothing to do
/// here) and the real function is already resolved, one or two loads and a
/// tail call — no register saved, nothing called first. Everything else (the
/// first resolution, the shim's own work) is in the out-of-line `slow` body.
macro_rules! fast_path {
    ($quiet:expr, $hook:ident, $f:ident($($arg:expr),*)) => {
        if $quiet {
            if let Some(real) = REAL.$hook.fast() {
                return real($($arg),*);
            }
        }
        return $f($($arg),*);
    };
}

/// Both spawn calls: `posix_spawn` (path as given) and `posix_spawnp` (PATH search).
/// Edge cases kept: NULL file actions/attributes/envp are passed through
/// untouched; a forked child of the host (other pid) never decides; a
/// re-entrant call (from inside our decision) goes straight to the real call.
#[allow(clippy::too_many_arguments)] // posix_spawn's six, plus which call it is
unsafe fn spawn(
    real: &Real<SpawnFn>,
    call: &'static str,
    search: bool,
    pid: *mut pid_t,
    path: *const c_char,
    actions: *const posix_spawn_file_actions_t,
    attr: *const posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    let Some(real_fn) = real.get() else {
        return libc::ENOSYS;
    };
    if !state::is_on() {
        return real_fn(pid, path, actions, attr, argv, envp);
    }
    let mut archiver = false;
    {
        if observe::recording() {
            observe::after(
                "spawn",
                if path.is_null() {
                    b""
                } else {
                    CStr::from_ptr(path).to_bytes()
                },
                call,
            );
        }
        if let (Some(config), Some(_guard)) = (state::scope_config(), state::Reentry::enter()) {
            archiver = convert::consider(
                config,
                &Request::Spawn {
                    call,
                    path,
                    search,
                    actions,
                    attr,
                    argv,
                    envp,
                },
            );
        }
    }
    let promises = promised_outputs(path, actions, argv);
    let rc = real_fn(pid, path, actions, attr, argv, envp);
    if rc == 0 {
        if let Some((since, files)) = promises {
            files.into_iter().for_each(|c| temps::promised(c, since));
        }
    }
    if rc == 0 && !pid.is_null() && state::scope_config().is_none() && !path.is_null() {
        // A descendant of the process in scope (observe mode, after the archiver).
        execs::note_descendant_spawn(*pid, call, CStr::from_ptr(path).to_bytes(), argv);
    }
    if rc == 0 && !pid.is_null() && state::scope_config().is_some() {
        if archiver {
            observe::note_archiver_pid(*pid);
        }
        // The child has exec'd by now: its record, for the wait.
        let start = crate::facts::proc::start_time(*pid).unwrap_or(0);
        execs::note_spawn(*pid, start, call, path, argv);
    }
    rc
}

/// In the process in scope with temps globs: the files the spawned child
/// is told to write under them, missing now (`record::temps::promise`), and
/// the time before they were looked up (docs/DESIGN.md, "Conversion" 12).
unsafe fn promised_outputs(
    path: *const c_char,
    actions: *const posix_spawn_file_actions_t,
    argv: *const *mut c_char,
) -> Option<((i64, u32), Vec<temps::Candidate>)> {
    if !temps::armed() || path.is_null() || state::scope_config().is_none() {
        return None;
    }
    let _guard = state::Reentry::enter()?;
    // The lookups below must not change what the host finds in errno.
    let errno = *libc::__errno_location();
    let found = promised_by(path, actions, argv);
    *libc::__errno_location() = errno;
    found
}

/// `promised_outputs`' work, errno not kept.
unsafe fn promised_by(
    path: *const c_char,
    actions: *const posix_spawn_file_actions_t,
    argv: *const *mut c_char,
) -> Option<((i64, u32), Vec<temps::Candidate>)> {
    let since = crate::facts::temps::coarse_now();
    let program = CStr::from_ptr(path).to_bytes();
    let cwd = std::env::current_dir().ok()?;
    let args = argv_words(argv);
    let out = crate::facts::indirect::promised_output(
        program,
        &args,
        std::os::unix::ffi::OsStrExt::as_bytes(cwd.as_os_str()),
    )?;
    if !actions.is_null() && !same_cwd(mirror::snapshot(actions as usize)?) {
        return None; // the child's working directory is not ours
    }
    Some((since, temps::promise(&out).into_iter().collect()))
}

/// `argv` after the program name, copied.
///
/// # Safety
/// `argv` must be null or a NULL-terminated array of C strings.
unsafe fn argv_words(argv: *const *mut c_char) -> Vec<Vec<u8>> {
    let mut words = Vec::new();
    if argv.is_null() {
        return words;
    }
    let mut i = 1;
    while !(*argv).is_null() && !(*argv.add(i)).is_null() {
        words.push(CStr::from_ptr(*argv.add(i)).to_bytes().to_vec());
        i += 1;
    }
    words
}

/// No file action moves the child to another working directory.
fn same_cwd(actions: Vec<crate::decide::plan::FileAction>) -> bool {
    use crate::decide::plan::FileAction;
    !actions
        .iter()
        .any(|a| matches!(a, FileAction::Chdir(_) | FileAction::Fchdir(_)))
}

/// The two spawn hooks differ only in the real function and the PATH search.
macro_rules! spawn_hook {
    ($(#[$doc:meta])* $name:ident, search: $search:literal) => {
        $(#[$doc])*
        #[inline(always)]
        pub unsafe extern "C" fn $name(
            pid: *mut pid_t,
            path: *const c_char,
            actions: *const posix_spawn_file_actions_t,
            attr: *const posix_spawnattr_t,
            argv: *const *mut c_char,
            envp: *const *mut c_char,
        ) -> c_int {
            fast_path!(!state::is_on(), $name, slow(pid, path, actions, attr, argv, envp));
            #[cold]
            #[inline(never)]
            unsafe fn slow(
                pid: *mut pid_t,
                path: *const c_char,
                actions: *const posix_spawn_file_actions_t,
                attr: *const posix_spawnattr_t,
                argv: *const *mut c_char,
                envp: *const *mut c_char,
            ) -> c_int {
                spawn(&REAL.$name, stringify!($name), $search, pid, path, actions, attr, argv, envp)
            }
        }
    };
}

spawn_hook!(
    /// Mirrors glibc `posix_spawn` (returns an error number, never sets errno).
    posix_spawn, search: false
);
spawn_hook!(
    /// Mirrors glibc `posix_spawnp`: PATH from the caller's environment,
    /// default `/bin:/usr/bin`, no shell retry for ENOEXEC.
    posix_spawnp, search: true
);

/// Mirrors glibc `system`: `system(NULL)` asks whether a shell exists and is
/// passed through; a converted command runs as `/bin/sh -c CMD` in this pid.
/// glibc spawns it through an internal call that the posix_spawn hook cannot see.
#[inline(always)]
pub unsafe extern "C" fn system(command: *const c_char) -> c_int {
    fast_path!(!state::is_on(), system, system_slow(command));
}

#[cold]
#[inline(never)]
unsafe fn system_slow(command: *const c_char) -> c_int {
    let mut archiver = false;
    if state::is_on() {
        if observe::recording() && !command.is_null() {
            observe::after("spawn", CStr::from_ptr(command).to_bytes(), "system");
        }
        execs::note_descendant_shell("system", command);
        if let (Some(config), Some(_guard)) = (state::scope_config(), state::Reentry::enter()) {
            archiver = convert::consider(config, &Request::System { command });
        }
    }
    let rc = match REAL.system.get() {
        Some(f) => f(command),
        None => -1,
    };
    if archiver {
        // system() waited for it internally, out of our hooks' sight.
        observe::archiver_done(0, (rc != -1).then_some(rc));
    }
    rc
}

/// Mirror hooks: call the real function first and record only what it accepted.
macro_rules! mirrored {
    ($(#[$doc:meta])* $name:ident, ($($arg:ident : $ty:ty),*), |$fa:ident| $record:expr) => {
        $(#[$doc])*
        #[inline(always)]
        pub unsafe extern "C" fn $name(fa: *mut posix_spawn_file_actions_t $(, $arg: $ty)*) -> c_int {
            fast_path!(!state::is_on(), $name, slow(fa $(, $arg)*));
            #[cold]
            #[inline(never)]
            unsafe fn slow(fa: *mut posix_spawn_file_actions_t $(, $arg: $ty)*) -> c_int {
            let rc = match REAL.$name.get() {
                Some(f) => f(fa $(, $arg)*),
                None => return libc::ENOSYS,
            };
            if rc == 0 && state::is_on() {
                let $fa = fa as usize;
                $record;
            }
            rc
            }
        }
    };
}

mirrored!(
    /// Mirrors `posix_spawn_file_actions_init`: starts a fresh mirror entry.
    posix_spawn_file_actions_init, (), |fa| mirror::init(fa)
);
mirrored!(
    /// Mirrors `posix_spawn_file_actions_destroy`: forgets the entry.
    posix_spawn_file_actions_destroy, (), |fa| mirror::destroy(fa)
);
mirrored!(
    /// Mirrors `posix_spawn_file_actions_addclose`.
    posix_spawn_file_actions_addclose, (fd: c_int), |fa| mirror::close(fa, fd)
);
mirrored!(
    /// Mirrors `posix_spawn_file_actions_adddup2` (fd == newfd clears FD_CLOEXEC).
    posix_spawn_file_actions_adddup2, (fd: c_int, newfd: c_int), |fa| mirror::dup2(fa, fd, newfd)
);
mirrored!(
    /// Mirrors `posix_spawn_file_actions_addopen` (glibc copies the path; so do we).
    posix_spawn_file_actions_addopen, (fd: c_int, path: *const c_char, oflag: c_int, mode: mode_t),
    |fa| mirror::open(fa, fd, CStr::from_ptr(path).to_bytes(), oflag, mode)
);
mirrored!(
    /// Mirrors `posix_spawn_file_actions_addchdir_np`.
    posix_spawn_file_actions_addchdir_np, (path: *const c_char),
    |fa| mirror::chdir(fa, CStr::from_ptr(path).to_bytes())
);
mirrored!(
    /// Mirrors `posix_spawn_file_actions_addfchdir_np`.
    posix_spawn_file_actions_addfchdir_np, (fd: c_int), |fa| mirror::fchdir(fa, fd)
);
mirrored!(
    /// Mirrors `posix_spawn_file_actions_addclosefrom_np`.
    posix_spawn_file_actions_addclosefrom_np, (from: c_int), |fa| mirror::closefrom(fa, from)
);
mirrored!(
    /// Mirrors `posix_spawn_file_actions_addtcsetpgrp_np`: recorded so that a
    /// spawn using it falls back (not replayed).
    posix_spawn_file_actions_addtcsetpgrp_np, (fd: c_int), |fa| { let _ = fd; mirror::tcsetpgrp(fa) }
);

/// The wait-time handoff around one real wait call.
unsafe fn around_wait(
    call: Option<WaitCall>,
    real_wait: impl FnOnce() -> (i32, Option<i32>),
) -> i32 {
    let blocking = call.is_some();
    let mut after = None;
    let mut scope = None;
    if state::is_on() {
        if let (Some(config), Some(_guard)) = (state::scope_config(), state::Reentry::enter()) {
            scope = Some(config);
            match wait::at_wait(config, call) {
                AtWait::Real(a) => after = a,
                AtWait::Interrupted => {
                    *libc::__errno_location() = libc::EINTR;
                    return -1;
                }
            }
        }
    }
    let (result, status) = real_wait();
    if blocking && observe::recording() {
        // What descendants exec'd meanwhile (observe mode, after the
        // archiver). Not at a WNOHANG poll, which a SIGCHLD handler may make:
        // this allocates (the exit reads what is left).
        let saved = *libc::__errno_location();
        observe::emit_later_execs(false);
        *libc::__errno_location() = saved;
    }
    if scope.is_some() || observe::is_archiver_pid(result) {
        let saved = *libc::__errno_location();
        if scope.is_some() && result > 0 {
            if blocking {
                wait::promise_reaped(result); // before its record goes
            }
            execs::table::free(result); // reaped: its record is done with
        }
        if let (Some(after), Some(config)) = (after, scope) {
            after.finish(config, result, status);
        } else if observe::is_archiver_pid(result) {
            observe::archiver_done(result, status);
        }
        *libc::__errno_location() = saved;
    }
    result
}

unsafe fn status_of(result: i32, status: *mut c_int) -> Option<i32> {
    (result > 0 && !status.is_null()).then(|| *status)
}

/// Mirrors `waitpid`. Taken over only for a blocking wait (no WNOHANG) on
/// one child, or on -1 with exactly one child, that runs an archiver.
#[inline(always)]
pub unsafe extern "C" fn waitpid(pid: pid_t, status: *mut c_int, options: c_int) -> pid_t {
    fast_path!(
        state::waits_quiet(),
        waitpid,
        waitpid_slow(pid, status, options)
    );
}

#[cold]
#[inline(never)]
unsafe fn waitpid_slow(pid: pid_t, status: *mut c_int, options: c_int) -> pid_t {
    let Some(real) = REAL.waitpid.get() else {
        return no_such_function(-1);
    };
    if let Some(archiver) = state::hidden_child() {
        let one = |c| real(c, status, options | libc::WNOHANG);
        let nohang = options & libc::WNOHANG != 0;
        let awaited = hidden::Awaited::of_waitpid(pid);
        return hidden::wait(archiver, awaited, nohang, one, || {
            real(pid, status, options)
        });
    }
    if !state::is_on() {
        return real(pid, status, options);
    }
    around_wait(awaited_by_waitpid(pid, options), || {
        let r = real(pid, status, options);
        (r, status_of(r, status))
    })
}

/// Mirrors `wait` (= waitpid(-1, status, 0)).
#[inline(always)]
pub unsafe extern "C" fn wait(status: *mut c_int) -> pid_t {
    fast_path!(state::waits_quiet(), wait, wait_slow(status));
}

#[cold]
#[inline(never)]
unsafe fn wait_slow(status: *mut c_int) -> pid_t {
    let Some(real) = REAL.wait.get() else {
        return no_such_function(-1);
    };
    if let Some(archiver) = state::hidden_child() {
        return hidden_wait4(archiver, -1, status, 0, std::ptr::null_mut(), || {
            real(status)
        });
    }
    if !state::is_on() {
        return real(status);
    }
    around_wait(awaited_by_waitpid(-1, 0), || {
        let r = real(status);
        (r, status_of(r, status))
    })
}

/// Mirrors `wait3` (= wait4(-1, …)); the rusage is the real call's.
#[inline(always)]
pub unsafe extern "C" fn wait3(
    status: *mut c_int,
    options: c_int,
    usage: *mut libc::rusage,
) -> pid_t {
    fast_path!(
        state::waits_quiet(),
        wait3,
        wait3_slow(status, options, usage)
    );
}

#[cold]
#[inline(never)]
unsafe fn wait3_slow(status: *mut c_int, options: c_int, usage: *mut libc::rusage) -> pid_t {
    let Some(real) = REAL.wait3.get() else {
        return no_such_function(-1);
    };
    if let Some(archiver) = state::hidden_child() {
        let real_call = || real(status, options, usage);
        return hidden_wait4(archiver, -1, status, options, usage, real_call);
    }
    if !state::is_on() {
        return real(status, options, usage);
    }
    around_wait(awaited_by_waitpid(-1, options), || {
        let r = real(status, options, usage);
        (r, status_of(r, status))
    })
}

/// Mirrors `wait4`.
#[inline(always)]
pub unsafe extern "C" fn wait4(
    pid: pid_t,
    status: *mut c_int,
    options: c_int,
    usage: *mut libc::rusage,
) -> pid_t {
    fast_path!(
        state::waits_quiet(),
        wait4,
        wait4_slow(pid, status, options, usage)
    );
}

#[cold]
#[inline(never)]
unsafe fn wait4_slow(
    pid: pid_t,
    status: *mut c_int,
    options: c_int,
    usage: *mut libc::rusage,
) -> pid_t {
    let Some(real) = REAL.wait4.get() else {
        return no_such_function(-1);
    };
    if let Some(archiver) = state::hidden_child() {
        let real_call = || real(pid, status, options, usage);
        return hidden_wait4(archiver, pid, status, options, usage, real_call);
    }
    if !state::is_on() {
        return real(pid, status, options, usage);
    }
    around_wait(awaited_by_waitpid(pid, options), || {
        let r = real(pid, status, options, usage);
        (r, status_of(r, status))
    })
}

/// Mirrors `waitid`: only P_PID / P_ALL with WEXITED, blocking, consuming.
#[inline(always)]
pub unsafe extern "C" fn waitid(
    idtype: libc::idtype_t,
    id: libc::id_t,
    info: *mut libc::siginfo_t,
    options: c_int,
) -> c_int {
    fast_path!(
        state::waits_quiet(),
        waitid,
        waitid_slow(idtype, id, info, options)
    );
}

#[cold]
#[inline(never)]
unsafe fn waitid_slow(
    idtype: libc::idtype_t,
    id: libc::id_t,
    info: *mut libc::siginfo_t,
    options: c_int,
) -> c_int {
    let Some(real) = REAL.waitid.get() else {
        return no_such_function(-1);
    };
    if let Some(archiver) = state::hidden_child() {
        // One child by P_PID, into our own siginfo (the host's `info` may be
        // NULL): si_pid 0 means none was ready.
        let one = |c: i32| {
            let mut got: libc::siginfo_t = std::mem::zeroed();
            match real(
                libc::P_PID,
                c as libc::id_t,
                &mut got,
                options | libc::WNOHANG,
            ) {
                0 if got.si_pid() != 0 => {
                    if !info.is_null() {
                        *info = got;
                    }
                    got.si_pid()
                }
                r => r,
            }
        };
        let awaited = hidden::Awaited::of_waitid(idtype, id);
        let nohang = options & libc::WNOHANG != 0;
        let mut as_asked = false;
        let r = hidden::wait(archiver, awaited, nohang, one, || {
            as_asked = true;
            real(idtype, id, info, options)
        });
        if r == 0 && !as_asked && !info.is_null() {
            *info = std::mem::zeroed(); // WNOHANG, none ready: si_pid 0, as the kernel's
        }
        return r.min(0); // waitid answers 0 or -1
    }
    if !state::is_on() {
        return real(idtype, id, info, options);
    }
    around_wait(awaited_by_waitid(idtype, id, options), || {
        (real(idtype, id, info, options), None)
    })
}

/// `wait`, `wait3` and `wait4` while the archiver is hidden from the
/// cleanups (takeover/hidden.rs): one child at a time through the real `wait4`.
unsafe fn hidden_wait4(
    archiver: pid_t,
    pid: pid_t,
    status: *mut c_int,
    options: c_int,
    usage: *mut libc::rusage,
    real_call: impl FnOnce() -> pid_t,
) -> pid_t {
    let Some(wait4) = REAL.wait4.get() else {
        return real_call();
    };
    let one = |c| wait4(c, status, options | libc::WNOHANG, usage);
    let nohang = options & libc::WNOHANG != 0;
    let awaited = hidden::Awaited::of_waitpid(pid);
    hidden::wait(archiver, awaited, nohang, one, real_call)
}

// ---------------------------------------------------------------------------
// The signal hooks: one atomic load, except while a wait-time takeover hides
// its archiver from the host's cleanups (takeover/hidden.rs): then a signal
// to the archiver's pid, or to a group holding it, is sent as if it had been
// reaped already.

/// Mirrors `kill`.
#[inline(always)]
pub unsafe extern "C" fn kill(pid: pid_t, sig: c_int) -> c_int {
    fast_path!(state::signals_quiet(), kill, kill_slow(pid, sig));
}

#[cold]
#[inline(never)]
unsafe fn kill_slow(pid: pid_t, sig: c_int) -> c_int {
    let Some(real) = REAL.kill.get() else {
        return no_such_function(-1);
    };
    match state::hidden_child() {
        Some(archiver) => hidden::kill(archiver, pid, sig, |p, s| real(p, s)),
        None => real(pid, sig),
    }
}

/// Mirrors `killpg` (glibc's calls its internal kill, out of the kill hook's
/// sight): `kill(-pgrp, sig)`, EINVAL for a negative group.
#[inline(always)]
pub unsafe extern "C" fn killpg(pgrp: pid_t, sig: c_int) -> c_int {
    fast_path!(state::signals_quiet(), killpg, killpg_slow(pgrp, sig));
}

#[cold]
#[inline(never)]
unsafe fn killpg_slow(pgrp: pid_t, sig: c_int) -> c_int {
    let Some(real) = REAL.killpg.get() else {
        return no_such_function(-1);
    };
    let (Some(archiver), Some(kill)) = (state::hidden_child(), REAL.kill.get()) else {
        return real(pgrp, sig);
    };
    if pgrp < 0 || pgrp == 1 {
        // EINVAL as glibc's; group 1 (init's) is not kill(-1).
        return real(pgrp, sig);
    }
    hidden::kill(archiver, pgrp.saturating_neg(), sig, |p, s| {
        if p == pgrp.saturating_neg() {
            real(pgrp, s) // the group as asked (it does not hold the archiver)
        } else {
            kill(p, s)
        }
    })
}

/// Mirrors `sigqueue`: one pid, never a group.
#[inline(always)]
pub unsafe extern "C" fn sigqueue(pid: pid_t, sig: c_int, value: libc::sigval) -> c_int {
    fast_path!(
        state::signals_quiet(),
        sigqueue,
        sigqueue_slow(pid, sig, value)
    );
}

#[cold]
#[inline(never)]
unsafe fn sigqueue_slow(pid: pid_t, sig: c_int, value: libc::sigval) -> c_int {
    let Some(real) = REAL.sigqueue.get() else {
        return no_such_function(-1);
    };
    match state::hidden_child() {
        Some(archiver) if pid == archiver => {
            *libc::__errno_location() = libc::ESRCH;
            -1
        }
        _ => real(pid, sig, value),
    }
}

/// The deletion hooks: off, one atomic load and the real call. While a
/// conversion runs the host's cleanups, a deletion of the archiver's files
/// is recorded for the reaper and reported as done (0).
unsafe fn deletion(
    dirfd: c_int,
    path: *const c_char,
    rmdir: bool,
    real: impl FnOnce() -> c_int,
) -> c_int {
    if observe::recording() && !path.is_null() {
        observe::after_delete(dirfd, CStr::from_ptr(path), rmdir);
    }
    if defer::is_active()
        && !path.is_null()
        && defer::consider(dirfd, CStr::from_ptr(path).to_bytes(), rmdir)
    {
        return 0;
    }
    real()
}

/// The deletion hooks' fast-path test: nothing to defer, nothing to record.
#[inline(always)]
fn deletions_quiet() -> bool {
    !defer::is_active() && observe::quiet()
}

/// `unlink` and `rmdir` differ only in the real function and whether the
/// path is a directory.
macro_rules! path_deletion_hook {
    ($(#[$doc:meta])* $name:ident, rmdir: $rmdir:literal) => {
        $(#[$doc])*
        #[inline(always)]
        pub unsafe extern "C" fn $name(path: *const c_char) -> c_int {
            fast_path!(deletions_quiet(), $name, slow(path));
            #[cold]
            #[inline(never)]
            unsafe fn slow(path: *const c_char) -> c_int {
                let Some(real) = REAL.$name.get() else {
                    return no_such_function(-1);
                };
                deletion(libc::AT_FDCWD, path, $rmdir, || real(path))
            }
        }
    };
}

path_deletion_hook!(
    /// Mirrors `unlink`.
    unlink, rmdir: false
);

/// Mirrors `unlinkat`, AT_REMOVEDIR included.
#[inline(always)]
pub unsafe extern "C" fn unlinkat(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    fast_path!(
        deletions_quiet(),
        unlinkat,
        unlinkat_slow(dirfd, path, flags)
    );
}

#[cold]
#[inline(never)]
unsafe fn unlinkat_slow(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    let Some(real) = REAL.unlinkat.get() else {
        return no_such_function(-1);
    };
    deletion(dirfd, path, flags & libc::AT_REMOVEDIR != 0, || {
        real(dirfd, path, flags)
    })
}

path_deletion_hook!(
    /// Mirrors `rmdir`.
    rmdir, rmdir: true
);

/// Mirrors `remove`: glibc's calls unlink/rmdir internally, out of our sight,
/// so it is hooked by name; a directory is an rmdir.
#[inline(always)]
pub unsafe extern "C" fn remove(path: *const c_char) -> c_int {
    fast_path!(deletions_quiet(), remove, remove_slow(path));
}

#[cold]
#[inline(never)]
unsafe fn remove_slow(path: *const c_char) -> c_int {
    let Some(real) = REAL.remove.get() else {
        return no_such_function(-1);
    };
    let is_dir = || {
        let mut st: libc::stat = std::mem::zeroed();
        libc::lstat(path, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFDIR
    };
    if (defer::is_active() || observe::recording()) && !path.is_null() {
        let rmdir = is_dir();
        return deletion(libc::AT_FDCWD, path, rmdir, || real(path));
    }
    real(path)
}

// ---------------------------------------------------------------------------
// Observe mode's witnesses (see observe.rs): one atomic load until the host
// has waited for its archiver; after that, in observe mode, what the host
// still does is recorded. Behaviour is never changed.

/// Mirrors `fork` (only watched: a process forked after the archiver).
#[inline(always)]
pub unsafe extern "C" fn fork() -> pid_t {
    fast_path!(observe::quiet(), fork, fork_slow());
}

#[cold]
#[inline(never)]
unsafe fn fork_slow() -> pid_t {
    if observe::recording() {
        observe::after("fork", b"", "fork");
    }
    match REAL.fork.get() {
        Some(f) => f(),
        None => no_such_function(-1),
    }
}

// ---------------------------------------------------------------------------
// The exec family (docs/DESIGN.md, "Conversion" 2): a child of the process in
// scope tells, as it execs, what it execs. These run between fork (or vfork)
// and exec: the slow path is `execs::before_exec`, the real call and, if that
// returned, `execs::exec_failed` — no heap, no lock, no logging, and no
// `dlsym`: the real function is the one `resolve_all` cached when the shim
// was turned on (`fast`, never `get`); a C library without it answers ENOSYS.
// No `state::Reentry` either: the core itself never execs through these
// (the takeover calls the real `execve`, takeover/exec.rs), and its
// thread-local may need the loader to allocate in a thread new to it.

/// The real exec, recorded around: `before_exec`, the call, and, if it
/// returned (it failed), `exec_failed` with the caller's errno kept.
#[inline(always)]
unsafe fn recorded_exec(exec: &Exec, real: impl FnOnce() -> c_int) -> c_int {
    let pending = execs::before_exec(exec);
    let rc = real();
    if let Some(pending) = pending {
        let errno = *libc::__errno_location();
        execs::exec_failed(pending);
        *libc::__errno_location() = errno;
    }
    rc
}

/// The host's own exec after the archiver, in observe mode (only the
/// process in scope gets here: it may allocate).
#[cold]
#[inline(never)]
unsafe fn own_exec(exec: &Exec) {
    let (program, argv) = execs::described(exec);
    observe::exec_self(exec.call, &program, &argv);
}

/// One exec hook: its C signature, the `Program` and argv it names, and the real call.
macro_rules! exec_hook {
    ($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*), $program:expr, $argv:expr) => {
        $(#[$doc])*
        #[inline(always)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
            fast_path!(!state::is_on(), $name, slow($($arg),*));
            #[cold]
            #[inline(never)]
            unsafe fn slow($($arg: $ty),*) -> c_int {
                let Some(real) = REAL.$name.fast() else {
                    return no_such_function(-1);
                };
                let exec = Exec {
                    call: stringify!($name),
                    program: $program,
                    argv: $argv,
                };
                if observe::recording() {
                    own_exec(&exec); // the host itself, never a child
                }
                recorded_exec(&exec, || real($($arg),*))
            }
        }
    };
}

exec_hook!(
    /// Mirrors `execve`: the path as given, the given environment.
    execve(path: *const c_char, argv: *const *mut c_char, envp: *const *mut c_char),
    Program::Path(path),
    argv
);
exec_hook!(
    /// Mirrors `execv`: `execve` with `environ` (the preload's `execl` comes here).
    execv(path: *const c_char, argv: *const *mut c_char),
    Program::Path(path),
    argv
);
exec_hook!(
    /// Mirrors `execvp`: glibc's PATH search and ENOEXEC retry with /bin/sh
    /// (the preload's `execlp` comes here).
    execvp(file: *const c_char, argv: *const *mut c_char),
    Program::Search(file),
    argv
);
exec_hook!(
    /// Mirrors `execvpe`: as `execvp`, with the given environment.
    execvpe(file: *const c_char, argv: *const *mut c_char, envp: *const *mut c_char),
    Program::Search(file),
    argv
);
exec_hook!(
    /// Mirrors `fexecve`: an open file.
    fexecve(fd: c_int, argv: *const *mut c_char, envp: *const *mut c_char),
    Program::Fd(fd),
    argv
);
exec_hook!(
    /// Mirrors `execveat` (glibc 2.34 and later; ENOSYS where it is missing).
    execveat(dirfd: c_int, path: *const c_char, argv: *const *mut c_char, envp: *const *mut c_char, flags: c_int),
    Program::At { dirfd, path, flags },
    argv
);

/// Mirrors `on_exit`: registered as asked. `exit` runs such a handler, a
/// conversion does not (docs/DESIGN.md, "Conversion" 3): the process in
/// scope notes it, so that it is not converted (`takeover/cleanup.rs`) and
/// `verify` is told (observe mode).
#[inline(always)]
pub unsafe extern "C" fn on_exit(
    func: arshim_common::hooks::prelude::OnExitFn,
    arg: *mut libc::c_void,
) -> c_int {
    fast_path!(!state::is_on(), on_exit, on_exit_slow(func, arg));
}

#[cold]
#[inline(never)]
unsafe fn on_exit_slow(
    func: arshim_common::hooks::prelude::OnExitFn,
    arg: *mut libc::c_void,
) -> c_int {
    let Some(real) = REAL.on_exit.get() else {
        return no_such_function(-1);
    };
    let rc = real(func, arg);
    if rc == 0 && state::scope_config().is_some() {
        crate::takeover::cleanup::note_on_exit();
        observe::on_exit_registered();
    }
    rc
}

/// Mirrors `popen` (glibc spawns its shell internally).
#[inline(always)]
pub unsafe extern "C" fn popen(command: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    fast_path!(
        observe::quiet() && !execs::later::is_recording(),
        popen,
        popen_slow(command, mode)
    );
}

#[cold]
#[inline(never)]
unsafe fn popen_slow(command: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    if observe::recording() && !command.is_null() {
        observe::after("spawn", CStr::from_ptr(command).to_bytes(), "popen");
    }
    execs::note_descendant_shell("popen", command);
    match REAL.popen.get() {
        Some(f) => f(command, mode),
        None => no_such_function(std::ptr::null_mut()),
    }
}

unsafe fn watch_open(path: *const c_char, flags: c_int, call: &str) {
    if observe::recording() && !path.is_null() && observe::writes(flags) {
        let path = CStr::from_ptr(path).to_bytes();
        observe::after_open(path, call, observe::truncates(flags));
    }
}

macro_rules! watched_open {
    ($(#[$doc:meta])* $name:ident, ($($arg:ident : $ty:ty),*), |$dirfd:ident, $path:ident, $flags:ident| $watch:expr) => {
        $(#[$doc])*
        #[inline(always)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
            fast_path!(observe::quiet() && !temps::armed(), $name, slow($($arg),*));
            #[cold]
            #[inline(never)]
            unsafe fn slow($($arg: $ty),*) -> c_int {
            let ($dirfd, $path, $flags) = $watch;
            if observe::recording() {
                watch_open($path, $flags, stringify!($name));
            }
            let Some(f) = REAL.$name.get() else {
                return no_such_function(-1);
            };
            let created = open_creates($dirfd, $path, $flags);
            let fd = f($($arg),*);
            if fd >= 0 {
                temps::created_fd(created, fd);
            }
            fd
            }
        }
    };
}

/// A temp an `open` with these flags is about to create (docs/DESIGN.md,
/// "Conversion" 12): only with `O_CREAT`.
unsafe fn open_creates(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
) -> Option<temps::Candidate> {
    if !temps::armed() || flags & libc::O_CREAT == 0 {
        return None;
    }
    temps::before(dirfd, path, flags & libc::O_EXCL != 0)
}

// The mode argument of open/openat is variadic in C; on the x86_64 and
// aarch64 Linux ABIs a variadic int travels like a named one, so declaring
// it and passing it on is exact (the real call ignores it without O_CREAT/O_TMPFILE).
watched_open!(
    /// Mirrors `open`.
    open, (path: *const c_char, flags: c_int, mode: mode_t), |d, p, f| (libc::AT_FDCWD, path, flags)
);
watched_open!(
    /// Mirrors `open64`.
    open64, (path: *const c_char, flags: c_int, mode: mode_t), |d, p, f| (libc::AT_FDCWD, path, flags)
);
watched_open!(
    /// Mirrors `openat`.
    openat, (dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t), |d, p, f| (dirfd, path, flags)
);
watched_open!(
    /// Mirrors `openat64`.
    openat64, (dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t), |d, p, f| (dirfd, path, flags)
);
watched_open!(
    /// Mirrors `__open_2` (the _FORTIFY_SOURCE entry point of open; never O_CREAT).
    __open_2, (path: *const c_char, flags: c_int), |d, p, f| (libc::AT_FDCWD, path, flags)
);
watched_open!(
    /// Mirrors `__open64_2`.
    __open64_2, (path: *const c_char, flags: c_int), |d, p, f| (libc::AT_FDCWD, path, flags)
);
watched_open!(
    /// Mirrors `creat` (= open with O_CREAT|O_WRONLY|O_TRUNC).
    creat, (path: *const c_char, mode: mode_t), |d, p, f| (libc::AT_FDCWD, path, libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC)
);
watched_open!(
    /// Mirrors `creat64`.
    creat64, (path: *const c_char, mode: mode_t), |d, p, f| (libc::AT_FDCWD, path, libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC)
);

macro_rules! watched_fopen {
    ($(#[$doc:meta])* $name:ident, ($path:ident, $mode:ident $(, $arg:ident : $ty:ty)*), creates: $creates:literal) => {
        $(#[$doc])*
        #[inline(always)]
        pub unsafe extern "C" fn $name($path: *const c_char, $mode: *const c_char $(, $arg: $ty)*) -> *mut libc::FILE {
            fast_path!(observe::quiet() && !($creates && temps::armed()), $name, slow($path, $mode $(, $arg)*));
            #[cold]
            #[inline(never)]
            unsafe fn slow($path: *const c_char, $mode: *const c_char $(, $arg: $ty)*) -> *mut libc::FILE {
            if observe::recording()
                && !$path.is_null()
                && !$mode.is_null()
                && observe::mode_writes(CStr::from_ptr($mode).to_bytes())
            {
                let mode = CStr::from_ptr($mode).to_bytes();
                observe::after_open(CStr::from_ptr($path).to_bytes(), stringify!($name), observe::mode_truncates(mode));
            }
            let Some(f) = REAL.$name.get() else {
                return no_such_function(std::ptr::null_mut());
            };
            let created = if $creates { fopen_creates($path, $mode) } else { None };
            let file = f($path, $mode $(, $arg)*);
            if !file.is_null() && created.is_some() {
                temps::created_fd(created, libc::fileno(file));
            }
            file
            }
        }
    };
}

/// A temp an `fopen` in this mode is about to create (`w`, `a`; `x` is
/// exclusive): glibc opens through its internal `open`, out of the open
/// hooks' sight (docs/DESIGN.md, "Conversion" 12).
unsafe fn fopen_creates(path: *const c_char, mode: *const c_char) -> Option<temps::Candidate> {
    if !temps::armed() || mode.is_null() {
        return None;
    }
    let exclusive = crate::decide::temps::fopen_creates(CStr::from_ptr(mode).to_bytes())?;
    temps::before(libc::AT_FDCWD, path, exclusive)
}

watched_fopen!(
    /// Mirrors `fopen` (glibc opens internally, out of the open hooks' sight).
    fopen, (path, mode), creates: true
);
watched_fopen!(
    /// Mirrors `fopen64`.
    fopen64, (path, mode), creates: true
);
watched_fopen!(
    /// Mirrors `freopen`.
    freopen, (path, mode, stream: *mut libc::FILE), creates: false
);

macro_rules! watched_write {
    ($(#[$doc:meta])* $name:ident, ($fd:ident : c_int $(, $arg:ident : $ty:ty)*)) => {
        $(#[$doc])*
        #[inline(always)]
        pub unsafe extern "C" fn $name($fd: c_int $(, $arg: $ty)*) -> libc::ssize_t {
            fast_path!(observe::quiet(), $name, slow($fd $(, $arg)*));
            #[cold]
            #[inline(never)]
            unsafe fn slow($fd: c_int $(, $arg: $ty)*) -> libc::ssize_t {
                if observe::recording() {
                    observe::wrote($fd, stringify!($name));
                }
                match REAL.$name.get() {
                    Some(f) => f($fd $(, $arg)*),
                    None => no_such_function(-1),
                }
            }
        }
    };
}

watched_write!(
    /// Mirrors `write`.
    write, (fd: c_int, buf: *const libc::c_void, count: libc::size_t)
);
watched_write!(
    /// Mirrors `pwrite`.
    pwrite, (fd: c_int, buf: *const libc::c_void, count: libc::size_t, offset: libc::off_t)
);
watched_write!(
    /// Mirrors `pwrite64`.
    pwrite64, (fd: c_int, buf: *const libc::c_void, count: libc::size_t, offset: libc::off64_t)
);
watched_write!(
    /// Mirrors `writev`.
    writev, (fd: c_int, iov: *const libc::iovec, count: c_int)
);
watched_write!(
    /// Mirrors `pwritev`.
    pwritev, (fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off_t)
);

macro_rules! watched_path_op {
    ($(#[$doc:meta])* $name:ident, $what:literal, ($($arg:ident : $ty:ty),*), $watched:ident) => {
        $(#[$doc])*
        #[inline(always)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
            fast_path!(observe::quiet(), $name, slow($($arg),*));
            #[cold]
            #[inline(never)]
            unsafe fn slow($($arg: $ty),*) -> c_int {
                if observe::recording() && !$watched.is_null() {
                    observe::after($what, CStr::from_ptr($watched).to_bytes(), stringify!($name));
                }
                match REAL.$name.get() {
                    Some(f) => f($($arg),*),
                    None => no_such_function(-1),
                }
            }
        }
    };
}

/// The rename calls: watched like the other path operations, and in the
/// process in scope with temps globs, a temporary renamed under them is
/// recorded under its new name (`record::temps::before_rename`).
macro_rules! renaming_op {
    ($(#[$doc:meta])* $name:ident, ($($arg:ident : $ty:ty),*), $olddir:expr, $old:ident, $newdir:expr, $new:ident) => {
        $(#[$doc])*
        #[inline(always)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
            fast_path!(observe::quiet() && !temps::armed(), $name, slow($($arg),*));
            #[cold]
            #[inline(never)]
            unsafe fn slow($($arg: $ty),*) -> c_int {
                if observe::recording() && !$new.is_null() {
                    observe::after("rename", CStr::from_ptr($new).to_bytes(), stringify!($name));
                }
                let moved = match temps::armed() {
                    true => temps::before_rename($olddir, $old, $newdir, $new),
                    false => None,
                };
                let rc = match REAL.$name.get() {
                    Some(f) => f($($arg),*),
                    None => no_such_function(-1),
                };
                if rc == 0 {
                    temps::renamed(moved);
                }
                rc
            }
        }
    };
}

renaming_op!(
    /// Mirrors `rename` (the destination is recorded).
    rename, (old: *const c_char, new: *const c_char), libc::AT_FDCWD, old, libc::AT_FDCWD, new
);
renaming_op!(
    /// Mirrors `renameat`.
    renameat, (olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char), olddir, old, newdir, new
);
renaming_op!(
    /// Mirrors `renameat2`.
    renameat2, (olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char, flags: libc::c_uint), olddir, old, newdir, new
);
watched_path_op!(
    /// Mirrors `link`.
    link, "link", (old: *const c_char, new: *const c_char), new
);
watched_path_op!(
    /// Mirrors `linkat`.
    linkat, "link", (olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char, flags: c_int), new
);
watched_path_op!(
    /// Mirrors `symlink`.
    symlink, "link", (target: *const c_char, new: *const c_char), new
);
watched_path_op!(
    /// Mirrors `symlinkat`.
    symlinkat, "link", (target: *const c_char, newdir: c_int, new: *const c_char), new
);

// ---------------------------------------------------------------------------
// The host's temporaries (docs/DESIGN.md, "Conversion" 12): directories and
// files it creates under its temps globs, recorded heap-free in the process
// in scope. Without globs, one atomic load and the real call.

/// Mirrors `mkdir`.
#[inline(always)]
pub unsafe extern "C" fn mkdir(path: *const c_char, mode: mode_t) -> c_int {
    fast_path!(!temps::armed(), mkdir, mkdir_slow(path, mode));
}

#[cold]
#[inline(never)]
unsafe fn mkdir_slow(path: *const c_char, mode: mode_t) -> c_int {
    let Some(real) = REAL.mkdir.get() else {
        return no_such_function(-1);
    };
    made_dir(libc::AT_FDCWD, path, real(path, mode))
}

/// Mirrors `mkdirat`.
#[inline(always)]
pub unsafe extern "C" fn mkdirat(dirfd: c_int, path: *const c_char, mode: mode_t) -> c_int {
    fast_path!(!temps::armed(), mkdirat, mkdirat_slow(dirfd, path, mode));
}

#[cold]
#[inline(never)]
unsafe fn mkdirat_slow(dirfd: c_int, path: *const c_char, mode: mode_t) -> c_int {
    let Some(real) = REAL.mkdirat.get() else {
        return no_such_function(-1);
    };
    made_dir(dirfd, path, real(dirfd, path, mode))
}

/// A successful `mkdir` created its directory: recorded if under the globs.
unsafe fn made_dir(dirfd: c_int, path: *const c_char, result: c_int) -> c_int {
    if result == 0 {
        let candidate = temps::before(dirfd, path, true);
        temps::created_at(candidate, dirfd, path);
    }
    result
}

/// Mirrors `mkdtemp` (glibc makes the directory with its internal `mkdir`).
#[inline(always)]
pub unsafe extern "C" fn mkdtemp(template: *mut c_char) -> *mut c_char {
    fast_path!(!temps::armed(), mkdtemp, mkdtemp_slow(template));
}

#[cold]
#[inline(never)]
unsafe fn mkdtemp_slow(template: *mut c_char) -> *mut c_char {
    let Some(real) = REAL.mkdtemp.get() else {
        return no_such_function(std::ptr::null_mut());
    };
    let dir = real(template);
    if !dir.is_null() {
        temps::created_named(dir, None);
    }
    dir
}

/// The `mkstemp` family: the file is created (`O_EXCL`) under the name the
/// call writes into the template.
macro_rules! temp_file_hook {
    ($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*)) => {
        $(#[$doc])*
        #[inline(always)]
        pub unsafe extern "C" fn $name(template: *mut c_char $(, $arg: $ty)*) -> c_int {
            fast_path!(!temps::armed(), $name, slow(template $(, $arg)*));
            #[cold]
            #[inline(never)]
            unsafe fn slow(template: *mut c_char $(, $arg: $ty)*) -> c_int {
                let Some(real) = REAL.$name.get() else {
                    return no_such_function(-1);
                };
                let fd = real(template $(, $arg)*);
                if fd >= 0 {
                    temps::created_named(template, Some(fd));
                }
                fd
            }
        }
    };
}

temp_file_hook!(
    /// Mirrors `mkstemp`.
    mkstemp()
);
temp_file_hook!(
    /// Mirrors `mkstemp64`.
    mkstemp64()
);
temp_file_hook!(
    /// Mirrors `mkostemp`.
    mkostemp(flags: c_int)
);
temp_file_hook!(
    /// Mirrors `mkostemp64`.
    mkostemp64(flags: c_int)
);
temp_file_hook!(
    /// Mirrors `mkstemps`.
    mkstemps(suffixlen: c_int)
);
temp_file_hook!(
    /// Mirrors `mkostemps`.
    mkostemps(suffixlen: c_int, flags: c_int)
);
