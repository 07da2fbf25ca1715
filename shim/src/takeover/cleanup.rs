//! Running the host's pending cleanups, as `exit` would, but without exiting
//! (docs/DESIGN.md, "Conversion" 3): irreversible, the handlers run once.

use crate::takeover::defer::{self, Deferred};
use crate::takeover::python::{self, Host};

extern "C" {
    /// glibc: with NULL, runs every handler registered with `__cxa_atexit`
    /// (which is how glibc implements `atexit`), C++ static destructors, and
    /// the loader's `_dl_fini` (ELF destructors of every loaded object).
    fn __cxa_finalize(dso: *mut libc::c_void);
}

/// What the cleanups need, found while the host can still be returned to.
pub struct Cleanups {
    python: Option<python::Interpreter>,
}

/// `Err` when the host's cleanups cannot be run faithfully (an interpreter we
/// cannot drive): then the host must not be converted.
pub fn prepare() -> Result<Cleanups, &'static str> {
    match python::detect() {
        Host::NotPython => Ok(Cleanups { python: None }),
        Host::Python(i) => Ok(Cleanups { python: Some(i) }),
        Host::Unsupported => Err("CPython host without the C API to run its exit functions"),
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
        // SAFETY: __cxa_finalize(NULL) is what exit() does first; handlers run
        // once (glibc marks them done), so a later exit() would not repeat them.
        __cxa_finalize(std::ptr::null_mut());
        // SAFETY: fflush(NULL) flushes all open output streams.
        libc::fflush(std::ptr::null_mut());
        defer::finish()
    }
}
