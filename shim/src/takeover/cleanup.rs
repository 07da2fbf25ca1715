//! Running the host's pending cleanups, as `exit` would, but without exiting
//! (docs/DESIGN.md, "Conversion" 3): irreversible, the handlers run once.

use crate::takeover::defer::{self, Deferred};
use crate::takeover::python::{self, Host};
use std::sync::atomic::{AtomicBool, Ordering};

extern "C" {
    /// glibc: with NULL, runs every handler registered with `__cxa_atexit`
    /// (which is how glibc implements `atexit`), C++ static destructors, and
    /// the loader's `_dl_fini` (ELF destructors of every loaded object).
    /// Not `on_exit` handlers: those only `exit` runs.
    fn __cxa_finalize(dso: *mut libc::c_void);
}

/// glibc's `__call_tls_dtors` (GLIBC_PRIVATE, so looked up by name): the
/// calling thread's C++ `thread_local` destructors, which `exit` runs before
/// the atexit handlers.
type TlsDtors = unsafe extern "C" fn();

/// The process in scope registered an `on_exit` handler (ffi's hook).
static ON_EXIT: AtomicBool = AtomicBool::new(false);

pub fn note_on_exit() {
    ON_EXIT.store(true, Ordering::Relaxed);
}

/// What the cleanups need, found while the host can still be returned to.
pub struct Cleanups {
    python: Option<python::Interpreter>,
    tls_dtors: Option<TlsDtors>,
}

/// `Err` when the host's cleanups cannot be run faithfully (an interpreter we
/// cannot drive, an `on_exit` handler): then the host must not be converted.
pub fn prepare() -> Result<Cleanups, &'static str> {
    if ON_EXIT.load(Ordering::Relaxed) {
        return Err("the host registered an on_exit handler, which a conversion does not run");
    }
    let tls_dtors = tls_dtors();
    match python::detect() {
        Host::NotPython => Ok(Cleanups {
            python: None,
            tls_dtors,
        }),
        Host::Python(i) => Ok(Cleanups {
            python: Some(i),
            tls_dtors,
        }),
        Host::Unsupported => Err("CPython host without the C API to run its exit functions"),
    }
}

/// `__cxa_finalize`'s neighbour in glibc, or `None` in a C library without
/// it (none then has `thread_local` destructors of this kind to run).
fn tls_dtors() -> Option<TlsDtors> {
    // SAFETY: dlsym with a NUL-terminated name; the symbol, when found, is
    // glibc's `void __call_tls_dtors(void)`.
    unsafe {
        let f = libc::dlsym(libc::RTLD_DEFAULT, c"__call_tls_dtors".as_ptr());
        (!f.is_null()).then(|| std::mem::transmute::<*mut libc::c_void, TlsDtors>(f))
    }
}

impl Cleanups {
    /// Runs the interpreter's exit functions (CPython hosts), the atexit
    /// handlers and destructors, then flushes every stdio stream — with
    /// deletions of `protected` paths deferred, as many as `room` bytes of the
    /// reaper's arguments hold. Returns those deletions.
    ///
    /// # Safety
    /// Only on the conversion path, after every allocation the conversion
    /// needs has been made: the host's handlers may tear down anything of theirs.
    pub unsafe fn run(self, protected: Vec<Vec<u8>>, room: u64) -> Vec<Deferred> {
        defer::begin(protected, room);
        if let Some(py) = &self.python {
            py.run_exit_functions();
        }
        // As `exit` does first: this thread's `thread_local` destructors
        // (glibc's __run_exit_handlers), each run once (glibc unlinks it).
        if let Some(tls_dtors) = self.tls_dtors {
            tls_dtors();
        }
        // SAFETY: __cxa_finalize(NULL) is what exit() does first; handlers run
        // once (glibc marks them done), so a later exit() would not repeat them.
        __cxa_finalize(std::ptr::null_mut());
        // SAFETY: fflush(NULL) flushes all open output streams.
        libc::fflush(std::ptr::null_mut());
        defer::finish()
    }
}
