//! The one list of the C library functions the shim interposes on. From it
//! are generated the preload's trampolines (`preload/src/hooks.rs`), the
//! core's real-function slots (`shim/src/ffi/real.rs`) and the core's exports
//! `arshim_hook_NAME`, each checked at compile time against the entry's exact
//! C signature (`shim/src/ffi/exports.rs`). Adding a hook is adding a line
//! here and writing the core's body for it; forgetting the body does not build.

/// What the entries of [`for_each_hook!`] name: the C types of the
/// signatures and the failure values. Import it whole (`use
/// arshim_common::hooks::prelude::*;`) where a callback expands.
pub mod prelude {
    pub use core::ffi::{c_char, c_int, c_uint, c_void};
    pub use core::ptr::null_mut;
    pub use libc::{
        id_t, idtype_t, iovec, mode_t, off64_t, off_t, pid_t, posix_spawnattr_t, rusage, siginfo_t,
        sigval, size_t, ssize_t, ENOSYS, FILE,
    };

    /// A `posix_spawn_file_actions_t`.
    pub type Fa = libc::posix_spawn_file_actions_t;

    /// An `on_exit` handler, `void (*)(int status, void *arg)`.
    pub type OnExitFn = Option<unsafe extern "C" fn(c_int, *mut c_void)>;

    /// What a call to a function the C library lacks answers, for the
    /// functions that report errors in `errno`: errno ENOSYS and the
    /// function's failure value. (A host calling it could not have run
    /// without us; this keeps it from crashing inside our hook.)
    pub fn no_such_function<T>(failure: T) -> T {
        // SAFETY: writing the calling thread's errno.
        unsafe { *libc::__errno_location() = libc::ENOSYS };
        failure
    }
}

/// Calls the macro `$callback` with every hook, one entry each:
/// `NAME(ARG: TYPE, …) -> RET, missing: FAILURE;` — the C function's name,
/// its exact C signature, and what a call answers when the C library has no
/// such function (an error number for the posix_spawn family, otherwise
/// [`prelude::no_such_function`]). The types are those of [`prelude`], which
/// must be in scope where `$callback` expands.
///
/// The mode argument of open/openat is variadic in C; on the x86_64 and
/// aarch64 Linux ABIs a variadic int travels like a named one, so declaring
/// it and passing it on is exact (the real call ignores it without
/// O_CREAT/O_TMPFILE).
#[macro_export]
macro_rules! for_each_hook {
    ($callback:ident) => {
        $callback! {
            posix_spawn(pid: *mut pid_t, path: *const c_char, actions: *const Fa, attr: *const posix_spawnattr_t,
                argv: *const *mut c_char, envp: *const *mut c_char) -> c_int, missing: ENOSYS;
            posix_spawnp(pid: *mut pid_t, path: *const c_char, actions: *const Fa, attr: *const posix_spawnattr_t,
                argv: *const *mut c_char, envp: *const *mut c_char) -> c_int, missing: ENOSYS;
            system(command: *const c_char) -> c_int, missing: no_such_function(-1);
            posix_spawn_file_actions_init(fa: *mut Fa) -> c_int, missing: ENOSYS;
            posix_spawn_file_actions_destroy(fa: *mut Fa) -> c_int, missing: ENOSYS;
            posix_spawn_file_actions_addclose(fa: *mut Fa, fd: c_int) -> c_int, missing: ENOSYS;
            posix_spawn_file_actions_adddup2(fa: *mut Fa, fd: c_int, newfd: c_int) -> c_int, missing: ENOSYS;
            posix_spawn_file_actions_addopen(fa: *mut Fa, fd: c_int, path: *const c_char, oflag: c_int, mode: mode_t)
                -> c_int, missing: ENOSYS;
            posix_spawn_file_actions_addchdir_np(fa: *mut Fa, path: *const c_char) -> c_int, missing: ENOSYS;
            posix_spawn_file_actions_addfchdir_np(fa: *mut Fa, fd: c_int) -> c_int, missing: ENOSYS;
            posix_spawn_file_actions_addclosefrom_np(fa: *mut Fa, from: c_int) -> c_int, missing: ENOSYS;
            posix_spawn_file_actions_addtcsetpgrp_np(fa: *mut Fa, fd: c_int) -> c_int, missing: ENOSYS;
            waitpid(pid: pid_t, status: *mut c_int, options: c_int) -> pid_t, missing: no_such_function(-1);
            wait(status: *mut c_int) -> pid_t, missing: no_such_function(-1);
            wait3(status: *mut c_int, options: c_int, usage: *mut rusage) -> pid_t, missing: no_such_function(-1);
            wait4(pid: pid_t, status: *mut c_int, options: c_int, usage: *mut rusage) -> pid_t,
                missing: no_such_function(-1);
            waitid(idtype: idtype_t, id: id_t, info: *mut siginfo_t, options: c_int) -> c_int,
                missing: no_such_function(-1);
            kill(pid: pid_t, sig: c_int) -> c_int, missing: no_such_function(-1);
            killpg(pgrp: pid_t, sig: c_int) -> c_int, missing: no_such_function(-1);
            sigqueue(pid: pid_t, sig: c_int, value: sigval) -> c_int, missing: no_such_function(-1);
            unlink(path: *const c_char) -> c_int, missing: no_such_function(-1);
            unlinkat(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int, missing: no_such_function(-1);
            rmdir(path: *const c_char) -> c_int, missing: no_such_function(-1);
            remove(path: *const c_char) -> c_int, missing: no_such_function(-1);
            fork() -> pid_t, missing: no_such_function(-1);
            execve(path: *const c_char, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int,
                missing: no_such_function(-1);
            execv(path: *const c_char, argv: *const *mut c_char) -> c_int, missing: no_such_function(-1);
            execvp(file: *const c_char, argv: *const *mut c_char) -> c_int, missing: no_such_function(-1);
            execvpe(file: *const c_char, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int,
                missing: no_such_function(-1);
            fexecve(fd: c_int, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int,
                missing: no_such_function(-1);
            execveat(dirfd: c_int, path: *const c_char, argv: *const *mut c_char, envp: *const *mut c_char,
                flags: c_int) -> c_int, missing: no_such_function(-1);
            popen(command: *const c_char, mode: *const c_char) -> *mut FILE, missing: no_such_function(null_mut());
            open(path: *const c_char, flags: c_int, mode: mode_t) -> c_int, missing: no_such_function(-1);
            open64(path: *const c_char, flags: c_int, mode: mode_t) -> c_int, missing: no_such_function(-1);
            openat(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int,
                missing: no_such_function(-1);
            openat64(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int,
                missing: no_such_function(-1);
            __open_2(path: *const c_char, flags: c_int) -> c_int, missing: no_such_function(-1);
            __open64_2(path: *const c_char, flags: c_int) -> c_int, missing: no_such_function(-1);
            creat(path: *const c_char, mode: mode_t) -> c_int, missing: no_such_function(-1);
            creat64(path: *const c_char, mode: mode_t) -> c_int, missing: no_such_function(-1);
            fopen(path: *const c_char, mode: *const c_char) -> *mut FILE, missing: no_such_function(null_mut());
            fopen64(path: *const c_char, mode: *const c_char) -> *mut FILE, missing: no_such_function(null_mut());
            freopen(path: *const c_char, mode: *const c_char, stream: *mut FILE) -> *mut FILE,
                missing: no_such_function(null_mut());
            write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t, missing: no_such_function(-1);
            pwrite(fd: c_int, buf: *const c_void, count: size_t, offset: off_t) -> ssize_t,
                missing: no_such_function(-1);
            pwrite64(fd: c_int, buf: *const c_void, count: size_t, offset: off64_t) -> ssize_t,
                missing: no_such_function(-1);
            writev(fd: c_int, iov: *const iovec, count: c_int) -> ssize_t, missing: no_such_function(-1);
            pwritev(fd: c_int, iov: *const iovec, count: c_int, offset: off_t) -> ssize_t,
                missing: no_such_function(-1);
            rename(old: *const c_char, new: *const c_char) -> c_int, missing: no_such_function(-1);
            renameat(olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char) -> c_int,
                missing: no_such_function(-1);
            renameat2(olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char, flags: c_uint) -> c_int,
                missing: no_such_function(-1);
            link(old: *const c_char, new: *const c_char) -> c_int, missing: no_such_function(-1);
            linkat(olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char, flags: c_int) -> c_int,
                missing: no_such_function(-1);
            symlink(target: *const c_char, new: *const c_char) -> c_int, missing: no_such_function(-1);
            symlinkat(target: *const c_char, newdir: c_int, new: *const c_char) -> c_int,
                missing: no_such_function(-1);
            on_exit(func: OnExitFn, arg: *mut c_void) -> c_int, missing: no_such_function(-1);
            mkdir(path: *const c_char, mode: mode_t) -> c_int, missing: no_such_function(-1);
            mkdirat(dirfd: c_int, path: *const c_char, mode: mode_t) -> c_int, missing: no_such_function(-1);
            mkdtemp(template: *mut c_char) -> *mut c_char, missing: no_such_function(null_mut());
            mkstemp(template: *mut c_char) -> c_int, missing: no_such_function(-1);
            mkstemp64(template: *mut c_char) -> c_int, missing: no_such_function(-1);
            mkostemp(template: *mut c_char, flags: c_int) -> c_int, missing: no_such_function(-1);
            mkostemp64(template: *mut c_char, flags: c_int) -> c_int, missing: no_such_function(-1);
            mkstemps(template: *mut c_char, suffixlen: c_int) -> c_int, missing: no_such_function(-1);
            mkostemps(template: *mut c_char, suffixlen: c_int, flags: c_int) -> c_int,
                missing: no_such_function(-1);
        }
    };
}

macro_rules! count {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty, missing: $missing:expr;)*) => {
        [$(stringify!($name)),*].len()
    };
}

/// How many hooks there are: the length of the preload's tables and of the
/// core's, which are typed `[_; COUNT]` so that one not filled from the list
/// does not build.
pub const COUNT: usize = for_each_hook!(count);
