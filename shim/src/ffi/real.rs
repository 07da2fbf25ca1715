//! The next definition of each function we interpose on: `dlsym(RTLD_NEXT)`
//! performed by the preload (`Preload::next`), which sits in the global
//! search order where the core, loaded with RTLD_LOCAL, does not.
//!
//! Not redhook's `hook!`/`real!`: redhook 2.0.0 resolves through `std::sync::Once`
//! and panics when a symbol is missing, and its `catch_unwind` calls the real
//! function a second time after a hook panicked (a second spawn). Here a
//! pointer is cached in an atomic: resolved eagerly at load when the shim is
//! on, lazily (one `dlsym`, no lock of ours) when it is off, and a missing
//! symbol is reported to the caller as ENOSYS instead of a panic.

use libc::{c_char, c_int, c_void, mode_t, pid_t, posix_spawn_file_actions_t, posix_spawnattr_t};
use std::ffi::CStr;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicPtr, Ordering};

/// The preload's `next`, set once by `init` before any hook is routed here.
static NEXT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

type NextFn = unsafe extern "C" fn(*const c_char) -> *mut c_void;

pub fn init(next: NextFn) {
    NEXT.store(next as *mut c_void, Ordering::Release);
}

/// The next definition of `name` after the preload's, or null.
fn next(name: &CStr) -> *mut c_void {
    let f = NEXT.load(Ordering::Acquire);
    if f.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: NEXT only ever holds a `NextFn` (see `init`), and the name is
    // NUL-terminated.
    unsafe { std::mem::transmute::<*mut c_void, NextFn>(f)(name.as_ptr()) }
}

pub struct Real<F> {
    ptr: AtomicPtr<c_void>,
    name: &'static CStr,
    _f: PhantomData<F>,
}

// SAFETY: the only state is an atomic pointer; F is a plain fn pointer type.
unsafe impl<F> Sync for Real<F> {}

impl<F: Copy> Real<F> {
    pub const fn new(name: &'static CStr) -> Self {
        Real {
            ptr: AtomicPtr::new(std::ptr::null_mut()),
            name,
            _f: PhantomData,
        }
    }

    /// The next definition, or `None` if the C library has none. The hot
    /// path is one load; resolving is out of line.
    #[inline(always)]
    pub fn get(&self) -> Option<F> {
        let p = self.ptr.load(Ordering::Relaxed);
        if p.is_null() {
            return self.resolve();
        }
        // SAFETY: F is the C signature of the symbol named `name`, a fn pointer
        // of pointer size, and `p` is that symbol's address.
        Some(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
    }

    /// The cached pointer only (`None` before the first resolution): for the
    /// hooks' fast path, which must not call anything before its tail call.
    #[inline(always)]
    pub fn fast(&self) -> Option<F> {
        let p = self.ptr.load(Ordering::Relaxed);
        // SAFETY: as in `get`.
        (!p.is_null()).then(|| unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
    }

    #[cold]
    #[inline(never)]
    fn resolve(&self) -> Option<F> {
        let p = next(self.name);
        if p.is_null() {
            return None;
        }
        // Racing threads store the same value.
        self.ptr.store(p, Ordering::Relaxed);
        debug_assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
        // SAFETY: as in `get`.
        Some(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
    }
}

type Pa = *const posix_spawn_file_actions_t;
type PaMut = *mut posix_spawn_file_actions_t;
type Argv = *const *mut c_char;

pub type SpawnFn = unsafe extern "C" fn(
    *mut pid_t,
    *const c_char,
    Pa,
    *const posix_spawnattr_t,
    Argv,
    Argv,
) -> c_int;
pub type SystemFn = unsafe extern "C" fn(*const c_char) -> c_int;
pub type FaFn = unsafe extern "C" fn(PaMut) -> c_int;
pub type FaFdFn = unsafe extern "C" fn(PaMut, c_int) -> c_int;
pub type FaDup2Fn = unsafe extern "C" fn(PaMut, c_int, c_int) -> c_int;
pub type FaOpenFn = unsafe extern "C" fn(PaMut, c_int, *const c_char, c_int, mode_t) -> c_int;
pub type FaPathFn = unsafe extern "C" fn(PaMut, *const c_char) -> c_int;

pub type WaitpidFn = unsafe extern "C" fn(pid_t, *mut c_int, c_int) -> pid_t;
pub type WaitFn = unsafe extern "C" fn(*mut c_int) -> pid_t;
pub type Wait3Fn = unsafe extern "C" fn(*mut c_int, c_int, *mut libc::rusage) -> pid_t;
pub type Wait4Fn = unsafe extern "C" fn(pid_t, *mut c_int, c_int, *mut libc::rusage) -> pid_t;
pub type WaitidFn =
    unsafe extern "C" fn(libc::idtype_t, libc::id_t, *mut libc::siginfo_t, c_int) -> c_int;
pub type PathFn = unsafe extern "C" fn(*const c_char) -> c_int;
pub type UnlinkatFn = unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int;

pub static WAITPID: Real<WaitpidFn> = Real::new(c"waitpid");
pub static WAIT: Real<WaitFn> = Real::new(c"wait");
pub static WAIT3: Real<Wait3Fn> = Real::new(c"wait3");
pub static WAIT4: Real<Wait4Fn> = Real::new(c"wait4");
pub static WAITID: Real<WaitidFn> = Real::new(c"waitid");
pub static UNLINK: Real<PathFn> = Real::new(c"unlink");
pub static UNLINKAT: Real<UnlinkatFn> = Real::new(c"unlinkat");
pub static RMDIR: Real<PathFn> = Real::new(c"rmdir");
pub static REMOVE: Real<PathFn> = Real::new(c"remove");
pub type ForkFn = unsafe extern "C" fn() -> pid_t;
pub type PopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE;
pub type OpenFn = unsafe extern "C" fn(*const c_char, c_int, mode_t) -> c_int;
pub type OpenatFn = unsafe extern "C" fn(c_int, *const c_char, c_int, mode_t) -> c_int;
pub type Open2Fn = unsafe extern "C" fn(*const c_char, c_int) -> c_int;
pub type CreatFn = unsafe extern "C" fn(*const c_char, mode_t) -> c_int;
pub type FopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE;
pub type FreopenFn =
    unsafe extern "C" fn(*const c_char, *const c_char, *mut libc::FILE) -> *mut libc::FILE;
pub type WriteFn = unsafe extern "C" fn(c_int, *const c_void, libc::size_t) -> libc::ssize_t;
pub type PwriteFn =
    unsafe extern "C" fn(c_int, *const c_void, libc::size_t, libc::off_t) -> libc::ssize_t;
pub type Pwrite64Fn =
    unsafe extern "C" fn(c_int, *const c_void, libc::size_t, libc::off64_t) -> libc::ssize_t;
pub type WritevFn = unsafe extern "C" fn(c_int, *const libc::iovec, c_int) -> libc::ssize_t;
pub type PwritevFn =
    unsafe extern "C" fn(c_int, *const libc::iovec, c_int, libc::off_t) -> libc::ssize_t;
pub type RenameFn = unsafe extern "C" fn(*const c_char, *const c_char) -> c_int;
pub type RenameatFn = unsafe extern "C" fn(c_int, *const c_char, c_int, *const c_char) -> c_int;
pub type Renameat2Fn =
    unsafe extern "C" fn(c_int, *const c_char, c_int, *const c_char, libc::c_uint) -> c_int;
pub type LinkatFn =
    unsafe extern "C" fn(c_int, *const c_char, c_int, *const c_char, c_int) -> c_int;
pub type SymlinkatFn = unsafe extern "C" fn(*const c_char, c_int, *const c_char) -> c_int;

pub static FORK: Real<ForkFn> = Real::new(c"fork");
pub static POPEN: Real<PopenFn> = Real::new(c"popen");
pub static OPEN: Real<OpenFn> = Real::new(c"open");
pub static OPEN64: Real<OpenFn> = Real::new(c"open64");
pub static OPENAT: Real<OpenatFn> = Real::new(c"openat");
pub static OPENAT64: Real<OpenatFn> = Real::new(c"openat64");
pub static OPEN_2: Real<Open2Fn> = Real::new(c"__open_2");
pub static OPEN64_2: Real<Open2Fn> = Real::new(c"__open64_2");
pub static CREAT: Real<CreatFn> = Real::new(c"creat");
pub static CREAT64: Real<CreatFn> = Real::new(c"creat64");
pub static FOPEN: Real<FopenFn> = Real::new(c"fopen");
pub static FOPEN64: Real<FopenFn> = Real::new(c"fopen64");
pub static FREOPEN: Real<FreopenFn> = Real::new(c"freopen");
pub static WRITE: Real<WriteFn> = Real::new(c"write");
pub static PWRITE: Real<PwriteFn> = Real::new(c"pwrite");
pub static PWRITE64: Real<Pwrite64Fn> = Real::new(c"pwrite64");
pub static WRITEV: Real<WritevFn> = Real::new(c"writev");
pub static PWRITEV: Real<PwritevFn> = Real::new(c"pwritev");
pub static RENAME: Real<RenameFn> = Real::new(c"rename");
pub static RENAMEAT: Real<RenameatFn> = Real::new(c"renameat");
pub static RENAMEAT2: Real<Renameat2Fn> = Real::new(c"renameat2");
pub static LINK: Real<RenameFn> = Real::new(c"link");
pub static LINKAT: Real<LinkatFn> = Real::new(c"linkat");
pub static SYMLINK: Real<RenameFn> = Real::new(c"symlink");
pub static SYMLINKAT: Real<SymlinkatFn> = Real::new(c"symlinkat");
pub static POSIX_SPAWN: Real<SpawnFn> = Real::new(c"posix_spawn");
pub static POSIX_SPAWNP: Real<SpawnFn> = Real::new(c"posix_spawnp");
pub static SYSTEM: Real<SystemFn> = Real::new(c"system");
pub static FA_INIT: Real<FaFn> = Real::new(c"posix_spawn_file_actions_init");
pub static FA_DESTROY: Real<FaFn> = Real::new(c"posix_spawn_file_actions_destroy");
pub static FA_ADDCLOSE: Real<FaFdFn> = Real::new(c"posix_spawn_file_actions_addclose");
pub static FA_ADDDUP2: Real<FaDup2Fn> = Real::new(c"posix_spawn_file_actions_adddup2");
pub static FA_ADDOPEN: Real<FaOpenFn> = Real::new(c"posix_spawn_file_actions_addopen");
pub static FA_ADDCHDIR: Real<FaPathFn> = Real::new(c"posix_spawn_file_actions_addchdir_np");
pub static FA_ADDFCHDIR: Real<FaFdFn> = Real::new(c"posix_spawn_file_actions_addfchdir_np");
pub static FA_ADDCLOSEFROM: Real<FaFdFn> = Real::new(c"posix_spawn_file_actions_addclosefrom_np");
pub static FA_ADDTCSETPGRP: Real<FaFdFn> = Real::new(c"posix_spawn_file_actions_addtcsetpgrp_np");

/// Resolve everything now (the shim is on): no `dlsym` later, when the host
/// may be in the middle of its cleanups.
pub fn resolve_all() {
    POSIX_SPAWN.get();
    POSIX_SPAWNP.get();
    SYSTEM.get();
    FA_INIT.get();
    FA_DESTROY.get();
    FA_ADDCLOSE.get();
    FA_ADDDUP2.get();
    FA_ADDOPEN.get();
    FA_ADDCHDIR.get();
    FA_ADDFCHDIR.get();
    FA_ADDCLOSEFROM.get();
    FA_ADDTCSETPGRP.get();
    WAITPID.get();
    WAIT.get();
    WAIT3.get();
    WAIT4.get();
    WAITID.get();
    UNLINK.get();
    UNLINKAT.get();
    RMDIR.get();
    REMOVE.get();
}

/// What a call to a function the C library does not have returns
/// (posix_spawn family: an error number).
pub fn enosys() -> c_int {
    libc::ENOSYS
}

/// The same for the errno-style functions: -1 with errno = ENOSYS.
pub fn enosys_errno() -> c_int {
    // SAFETY: writing the thread's errno.
    unsafe { *libc::__errno_location() = libc::ENOSYS };
    -1
}
