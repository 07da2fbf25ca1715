//! The exported interposers: one per C library function the shim may need
//! to see, each with that function's exact C signature.
//!
//! Each is a trampoline through one slot: the next definition (the C
//! library's, resolved on first use with `dlsym(RTLD_NEXT)`) while the shim
//! has nothing to do in this process, the core's `arshim_hook_NAME` once the
//! core took the process in scope. The common path is one load, one test and
//! a tail jump: no register saved, nothing called first. What each hook does
//! when routed to the core, and which edge cases it keeps, is documented on
//! the core's hook (`shim/src/hooks.rs`).

use core::ffi::{c_char, c_int, c_void};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, Ordering};
use libc::{mode_t, pid_t, posix_spawn_file_actions_t as Fa, posix_spawnattr_t, FILE};

/// What a call to a function the C library lacks answers: errno ENOSYS and
/// the function's failure value. (A host calling it could not have run
/// without us; this keeps it from crashing inside our trampoline.)
fn no_such_function<T>(failure: T) -> T {
    // SAFETY: writing the calling thread's errno.
    unsafe { *libc::__errno_location() = libc::ENOSYS };
    failure
}

macro_rules! hooks {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty, missing: $missing:expr;)*) => {
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy)]
        enum Hook { $($name),* }

        pub const COUNT: usize = [$(Hook::$name),*].len();

        /// The C names, NUL-terminated.
        static NAMES: [&[u8]; COUNT] = [$(concat!(stringify!($name), "\0").as_bytes()),*];

        /// The core's counterparts (`common/src/preload_abi.rs`: `arshim_hook_NAME`).
        pub static CORE_SYMBOLS: [&[u8]; COUNT] =
            [$(concat!("arshim_hook_", stringify!($name), "\0").as_bytes()),*];

        /// Where each hook jumps: null until first resolved.
        static SLOTS: [AtomicPtr<c_void>; COUNT] = [const { AtomicPtr::new(null_mut()) }; COUNT];

        $(
            #[no_mangle]
            pub unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
                type Real = unsafe extern "C" fn($($ty),*) -> $ret;
                let target = SLOTS[Hook::$name as usize].load(Ordering::Acquire);
                if !target.is_null() {
                    // SAFETY: `target` is the next definition of this very C
                    // function, or the core's hook declared with the same
                    // signature; both are non-null function addresses.
                    let f: Real = core::mem::transmute(target);
                    return f($($arg),*);
                }
                return first_call($($arg),*);

                /// Out of line, so that the common path saves no register.
                #[cold]
                #[inline(never)]
                unsafe fn first_call($($arg: $ty),*) -> $ret {
                    let target = resolve(Hook::$name as usize);
                    if target.is_null() {
                        return $missing;
                    }
                    // SAFETY: as above.
                    let f: Real = core::mem::transmute(target);
                    f($($arg),*)
                }
            }
        )*
    };
}

/// The next definition of hook `i`, cached in its slot; null if the C
/// library has none. Racing threads store the same value; a slot the core
/// already took is left alone.
#[cold]
#[inline(never)]
fn resolve(i: usize) -> *mut c_void {
    // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT (relative to this
    // object, the caller) skips our own definition.
    let real = unsafe { libc::dlsym(libc::RTLD_NEXT, NAMES[i].as_ptr().cast()) };
    match SLOTS[i].compare_exchange(null_mut(), real, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => real,
        Err(current) => current,
    }
}

/// Routes every hook to the core. All-or-nothing: `targets` holds every
/// core counterpart (checked by the caller), stored before any hook is
/// used by the process in scope (we run in the constructor).
pub fn route_to_core(targets: &[*mut c_void; COUNT]) {
    for (slot, &target) in SLOTS.iter().zip(targets) {
        slot.store(target, Ordering::Release);
    }
}

// The mode argument of open/openat is variadic in C; on the x86_64 and
// aarch64 Linux ABIs a variadic int travels like a named one, so declaring
// it and passing it on is exact (the real call ignores it without
// O_CREAT/O_TMPFILE).
hooks! {
    posix_spawn(pid: *mut pid_t, path: *const c_char, actions: *const Fa, attr: *const posix_spawnattr_t,
        argv: *const *mut c_char, envp: *const *mut c_char) -> c_int, missing: libc::ENOSYS;
    posix_spawnp(pid: *mut pid_t, path: *const c_char, actions: *const Fa, attr: *const posix_spawnattr_t,
        argv: *const *mut c_char, envp: *const *mut c_char) -> c_int, missing: libc::ENOSYS;
    system(command: *const c_char) -> c_int, missing: no_such_function(-1);
    posix_spawn_file_actions_init(fa: *mut Fa) -> c_int, missing: libc::ENOSYS;
    posix_spawn_file_actions_destroy(fa: *mut Fa) -> c_int, missing: libc::ENOSYS;
    posix_spawn_file_actions_addclose(fa: *mut Fa, fd: c_int) -> c_int, missing: libc::ENOSYS;
    posix_spawn_file_actions_adddup2(fa: *mut Fa, fd: c_int, newfd: c_int) -> c_int, missing: libc::ENOSYS;
    posix_spawn_file_actions_addopen(fa: *mut Fa, fd: c_int, path: *const c_char, oflag: c_int, mode: mode_t)
        -> c_int, missing: libc::ENOSYS;
    posix_spawn_file_actions_addchdir_np(fa: *mut Fa, path: *const c_char) -> c_int, missing: libc::ENOSYS;
    posix_spawn_file_actions_addfchdir_np(fa: *mut Fa, fd: c_int) -> c_int, missing: libc::ENOSYS;
    posix_spawn_file_actions_addclosefrom_np(fa: *mut Fa, from: c_int) -> c_int, missing: libc::ENOSYS;
    posix_spawn_file_actions_addtcsetpgrp_np(fa: *mut Fa, fd: c_int) -> c_int, missing: libc::ENOSYS;
    waitpid(pid: pid_t, status: *mut c_int, options: c_int) -> pid_t, missing: no_such_function(-1);
    wait(status: *mut c_int) -> pid_t, missing: no_such_function(-1);
    wait3(status: *mut c_int, options: c_int, usage: *mut libc::rusage) -> pid_t, missing: no_such_function(-1);
    wait4(pid: pid_t, status: *mut c_int, options: c_int, usage: *mut libc::rusage) -> pid_t,
        missing: no_such_function(-1);
    waitid(idtype: libc::idtype_t, id: libc::id_t, info: *mut libc::siginfo_t, options: c_int) -> c_int,
        missing: no_such_function(-1);
    unlink(path: *const c_char) -> c_int, missing: no_such_function(-1);
    unlinkat(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int, missing: no_such_function(-1);
    rmdir(path: *const c_char) -> c_int, missing: no_such_function(-1);
    remove(path: *const c_char) -> c_int, missing: no_such_function(-1);
    fork() -> pid_t, missing: no_such_function(-1);
    popen(command: *const c_char, mode: *const c_char) -> *mut FILE, missing: no_such_function(null_mut());
    open(path: *const c_char, flags: c_int, mode: mode_t) -> c_int, missing: no_such_function(-1);
    open64(path: *const c_char, flags: c_int, mode: mode_t) -> c_int, missing: no_such_function(-1);
    openat(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int, missing: no_such_function(-1);
    openat64(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int, missing: no_such_function(-1);
    __open_2(path: *const c_char, flags: c_int) -> c_int, missing: no_such_function(-1);
    __open64_2(path: *const c_char, flags: c_int) -> c_int, missing: no_such_function(-1);
    creat(path: *const c_char, mode: mode_t) -> c_int, missing: no_such_function(-1);
    creat64(path: *const c_char, mode: mode_t) -> c_int, missing: no_such_function(-1);
    fopen(path: *const c_char, mode: *const c_char) -> *mut FILE, missing: no_such_function(null_mut());
    fopen64(path: *const c_char, mode: *const c_char) -> *mut FILE, missing: no_such_function(null_mut());
    freopen(path: *const c_char, mode: *const c_char, stream: *mut FILE) -> *mut FILE,
        missing: no_such_function(null_mut());
    write(fd: c_int, buf: *const c_void, count: libc::size_t) -> libc::ssize_t, missing: no_such_function(-1);
    pwrite(fd: c_int, buf: *const c_void, count: libc::size_t, offset: libc::off_t) -> libc::ssize_t,
        missing: no_such_function(-1);
    pwrite64(fd: c_int, buf: *const c_void, count: libc::size_t, offset: libc::off64_t) -> libc::ssize_t,
        missing: no_such_function(-1);
    writev(fd: c_int, iov: *const libc::iovec, count: c_int) -> libc::ssize_t, missing: no_such_function(-1);
    pwritev(fd: c_int, iov: *const libc::iovec, count: c_int, offset: libc::off_t) -> libc::ssize_t,
        missing: no_such_function(-1);
    rename(old: *const c_char, new: *const c_char) -> c_int, missing: no_such_function(-1);
    renameat(olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char) -> c_int,
        missing: no_such_function(-1);
    renameat2(olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char, flags: libc::c_uint) -> c_int,
        missing: no_such_function(-1);
    link(old: *const c_char, new: *const c_char) -> c_int, missing: no_such_function(-1);
    linkat(olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char, flags: c_int) -> c_int,
        missing: no_such_function(-1);
    symlink(target: *const c_char, new: *const c_char) -> c_int, missing: no_such_function(-1);
    symlinkat(target: *const c_char, newdir: c_int, new: *const c_char) -> c_int, missing: no_such_function(-1);
}
