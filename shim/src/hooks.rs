//! The exported interposers. Each mirrors one libc function, keeps its exact
//! signature and return convention, and when the shim is off or out of scope
//! costs one atomic load and a tail call to the real function.
//!
//! Compiled only into the cdylib: the crate's unit-test binary must not
//! interpose on itself.

use crate::convert::{self, Request};
use crate::real::{self, *};
use crate::handoff::{awaited_by_waitid, awaited_by_waitpid, Awaited};
use crate::{defer, mirror, state, wait};
use libc::{c_char, c_int, mode_t, pid_t, posix_spawn_file_actions_t, posix_spawnattr_t};
use std::ffi::CStr;

/// Both spawn calls: `posix_spawn` (path as given) and `posix_spawnp` (PATH search).
/// Edge cases kept: NULL file actions/attributes/envp are passed through
/// untouched; a forked child of the host (other pid) never decides; a
/// re-entrant call (from inside our decision) goes straight to the real call.
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
    if state::is_on() {
        if let (Some(config), Some(_guard)) = (state::scope_config(), state::Reentry::enter()) {
            convert::consider(config, &Request::Spawn { call, path, search, actions, attr, argv, envp });
        }
    }
    match real.get() {
        Some(f) => f(pid, path, actions, attr, argv, envp),
        None => real::enosys(),
    }
}

/// Mirrors glibc `posix_spawn` (returns an error number, never sets errno).
#[no_mangle]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut pid_t,
    path: *const c_char,
    actions: *const posix_spawn_file_actions_t,
    attr: *const posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    spawn(&POSIX_SPAWN, "posix_spawn", false, pid, path, actions, attr, argv, envp)
}

/// Mirrors glibc `posix_spawnp`: PATH from the caller's environment, default
/// `/bin:/usr/bin`, no shell retry for ENOEXEC.
#[no_mangle]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut pid_t,
    file: *const c_char,
    actions: *const posix_spawn_file_actions_t,
    attr: *const posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    spawn(&POSIX_SPAWNP, "posix_spawnp", true, pid, file, actions, attr, argv, envp)
}

/// Mirrors glibc `system`: `system(NULL)` asks whether a shell exists and is
/// passed through; a converted command runs as `/bin/sh -c CMD` in this pid.
/// glibc spawns it through an internal call that the posix_spawn hook cannot see.
#[no_mangle]
pub unsafe extern "C" fn system(command: *const c_char) -> c_int {
    if state::is_on() {
        if let (Some(config), Some(_guard)) = (state::scope_config(), state::Reentry::enter()) {
            convert::consider(config, &Request::System { command });
        }
    }
    match SYSTEM.get() {
        Some(f) => f(command),
        None => -1,
    }
}

/// Mirror hooks: call the real function first and record only what it accepted.
macro_rules! mirrored {
    ($(#[$doc:meta])* $name:ident, $real:ident, ($($arg:ident : $ty:ty),*), |$fa:ident| $record:expr) => {
        $(#[$doc])*
        #[no_mangle]
        pub unsafe extern "C" fn $name(fa: *mut posix_spawn_file_actions_t $(, $arg: $ty)*) -> c_int {
            let rc = match $real.get() {
                Some(f) => f(fa $(, $arg)*),
                None => return real::enosys(),
            };
            if rc == 0 && state::is_on() {
                let $fa = fa as usize;
                $record;
            }
            rc
        }
    };
}

mirrored!(
    /// Mirrors `posix_spawn_file_actions_init`: starts a fresh mirror entry.
    posix_spawn_file_actions_init, FA_INIT, (), |fa| mirror::init(fa)
);
mirrored!(
    /// Mirrors `posix_spawn_file_actions_destroy`: forgets the entry.
    posix_spawn_file_actions_destroy, FA_DESTROY, (), |fa| mirror::destroy(fa)
);
mirrored!(
    /// Mirrors `posix_spawn_file_actions_addclose`.
    posix_spawn_file_actions_addclose, FA_ADDCLOSE, (fd: c_int), |fa| mirror::close(fa, fd)
);
mirrored!(
    /// Mirrors `posix_spawn_file_actions_adddup2` (fd == newfd clears FD_CLOEXEC).
    posix_spawn_file_actions_adddup2, FA_ADDDUP2, (fd: c_int, newfd: c_int), |fa| mirror::dup2(fa, fd, newfd)
);
mirrored!(
    /// Mirrors `posix_spawn_file_actions_addopen` (glibc copies the path; so do we).
    posix_spawn_file_actions_addopen, FA_ADDOPEN, (fd: c_int, path: *const c_char, oflag: c_int, mode: mode_t),
    |fa| mirror::open(fa, fd, CStr::from_ptr(path).to_bytes(), oflag, mode)
);
mirrored!(
    /// Mirrors `posix_spawn_file_actions_addchdir_np`.
    posix_spawn_file_actions_addchdir_np, FA_ADDCHDIR, (path: *const c_char),
    |fa| mirror::chdir(fa, CStr::from_ptr(path).to_bytes())
);
mirrored!(
    /// Mirrors `posix_spawn_file_actions_addfchdir_np`.
    posix_spawn_file_actions_addfchdir_np, FA_ADDFCHDIR, (fd: c_int), |fa| mirror::fchdir(fa, fd)
);
mirrored!(
    /// Mirrors `posix_spawn_file_actions_addclosefrom_np`.
    posix_spawn_file_actions_addclosefrom_np, FA_ADDCLOSEFROM, (from: c_int), |fa| mirror::closefrom(fa, from)
);
mirrored!(
    /// Mirrors `posix_spawn_file_actions_addtcsetpgrp_np`: recorded so that a
    /// spawn using it falls back (not replayed).
    posix_spawn_file_actions_addtcsetpgrp_np, FA_ADDTCSETPGRP, (fd: c_int), |fa| { let _ = fd; mirror::tcsetpgrp(fa) }
);

/// The wait-time handoff around one real wait call.
unsafe fn around_wait(awaited: Option<Awaited>, real_wait: impl FnOnce() -> (i32, Option<i32>)) -> i32 {
    let mut after = None;
    let mut scope = None;
    if state::is_on() {
        if let (Some(config), Some(_guard)) = (state::scope_config(), state::Reentry::enter()) {
            scope = Some(config);
            after = wait::at_wait(config, awaited);
        }
    }
    let (result, status) = real_wait();
    if let (Some(after), Some(config)) = (after, scope) {
        let saved = *libc::__errno_location();
        after.finish(config, result, status);
        *libc::__errno_location() = saved;
    }
    result
}

unsafe fn status_of(result: i32, status: *mut c_int) -> Option<i32> {
    (result > 0 && !status.is_null()).then(|| *status)
}

/// Mirrors `waitpid`. Taken over only for a blocking wait (no WNOHANG) on
/// one child, or on -1 with exactly one child, that runs an archiver.
#[no_mangle]
pub unsafe extern "C" fn waitpid(pid: pid_t, status: *mut c_int, options: c_int) -> pid_t {
    let Some(real) = WAITPID.get() else { return real::enosys_errno() };
    around_wait(awaited_by_waitpid(pid, options), || {
        let r = real(pid, status, options);
        (r, status_of(r, status))
    })
}

/// Mirrors `wait` (= waitpid(-1, status, 0)).
#[no_mangle]
pub unsafe extern "C" fn wait(status: *mut c_int) -> pid_t {
    let Some(real) = WAIT.get() else { return real::enosys_errno() };
    around_wait(awaited_by_waitpid(-1, 0), || {
        let r = real(status);
        (r, status_of(r, status))
    })
}

/// Mirrors `wait3` (= wait4(-1, …)); the rusage is the real call's.
#[no_mangle]
pub unsafe extern "C" fn wait3(status: *mut c_int, options: c_int, usage: *mut libc::rusage) -> pid_t {
    let Some(real) = WAIT3.get() else { return real::enosys_errno() };
    around_wait(awaited_by_waitpid(-1, options), || {
        let r = real(status, options, usage);
        (r, status_of(r, status))
    })
}

/// Mirrors `wait4`.
#[no_mangle]
pub unsafe extern "C" fn wait4(pid: pid_t, status: *mut c_int, options: c_int, usage: *mut libc::rusage) -> pid_t {
    let Some(real) = WAIT4.get() else { return real::enosys_errno() };
    around_wait(awaited_by_waitpid(pid, options), || {
        let r = real(pid, status, options, usage);
        (r, status_of(r, status))
    })
}

/// Mirrors `waitid`: only P_PID / P_ALL with WEXITED, blocking, consuming.
#[no_mangle]
pub unsafe extern "C" fn waitid(idtype: libc::idtype_t, id: libc::id_t, info: *mut libc::siginfo_t, options: c_int) -> c_int {
    let Some(real) = WAITID.get() else { return real::enosys_errno() };
    around_wait(awaited_by_waitid(idtype, id, options), || (real(idtype, id, info, options), None))
}

/// The deletion hooks: off, one atomic load and the real call. While a
/// conversion runs the host's cleanups, a deletion of the archiver's files
/// is recorded for the reaper and reported as done (0).
unsafe fn deletion(dirfd: c_int, path: *const c_char, rmdir: bool, real: impl FnOnce() -> c_int) -> c_int {
    if defer::is_active() && !path.is_null() && defer::consider(dirfd, CStr::from_ptr(path).to_bytes(), rmdir) {
        return 0;
    }
    real()
}

/// Mirrors `unlink`.
#[no_mangle]
pub unsafe extern "C" fn unlink(path: *const c_char) -> c_int {
    let Some(real) = UNLINK.get() else { return real::enosys_errno() };
    deletion(libc::AT_FDCWD, path, false, || real(path))
}

/// Mirrors `unlinkat`, AT_REMOVEDIR included.
#[no_mangle]
pub unsafe extern "C" fn unlinkat(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    let Some(real) = UNLINKAT.get() else { return real::enosys_errno() };
    deletion(dirfd, path, flags & libc::AT_REMOVEDIR != 0, || real(dirfd, path, flags))
}

/// Mirrors `rmdir`.
#[no_mangle]
pub unsafe extern "C" fn rmdir(path: *const c_char) -> c_int {
    let Some(real) = RMDIR.get() else { return real::enosys_errno() };
    deletion(libc::AT_FDCWD, path, true, || real(path))
}

/// Mirrors `remove`: glibc's calls unlink/rmdir internally, out of our sight,
/// so it is hooked by name; a directory is an rmdir.
#[no_mangle]
pub unsafe extern "C" fn remove(path: *const c_char) -> c_int {
    let Some(real) = REMOVE.get() else { return real::enosys_errno() };
    let is_dir = || {
        let mut st: libc::stat = std::mem::zeroed();
        libc::lstat(path, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFDIR
    };
    if defer::is_active() && !path.is_null() {
        let rmdir = is_dir();
        return deletion(libc::AT_FDCWD, path, rmdir, || real(path));
    }
    real(path)
}
