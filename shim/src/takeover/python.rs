//! Running a CPython host's own exit functions (irreversible, part of the
//! cleanups), found by `dlsym` while the host can still be returned to.
//!
//! A CPython host keeps `print()` output in its own buffers and runs its own
//! `atexit` functions at interpreter shutdown, which a conversion skips. When
//! the host is CPython, run those through its C API (holding the GIL) before
//! the C-level cleanups; when the API is incomplete, do not convert.

use libc::{c_char, c_int};

type IsInitialized = unsafe extern "C" fn() -> c_int;
type GilEnsure = unsafe extern "C" fn() -> c_int;
type GilRelease = unsafe extern "C" fn(c_int);
type RunString = unsafe extern "C" fn(*const c_char, *mut libc::c_void) -> c_int;

/// The interpreter's entry points, found in the process (RTLD_DEFAULT).
pub struct Interpreter {
    ensure: GilEnsure,
    release: GilRelease,
    run: RunString,
}

fn lookup(name: &std::ffi::CStr) -> *mut libc::c_void {
    // SAFETY: dlsym on the global scope with a NUL-terminated name.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }
}

pub enum Host {
    NotPython,
    Python(Interpreter),
    /// CPython is running but we cannot drive it: never convert.
    Unsupported,
}

pub fn detect() -> Host {
    let is_init = lookup(c"Py_IsInitialized");
    if is_init.is_null() {
        return Host::NotPython;
    }
    // SAFETY: Py_IsInitialized takes nothing and only reads a flag.
    let running =
        unsafe { std::mem::transmute::<*mut libc::c_void, IsInitialized>(is_init)() } != 0;
    if !running {
        return Host::NotPython; // libpython loaded but no interpreter: plain C host
    }
    let (ensure, release, run) = (
        lookup(c"PyGILState_Ensure"),
        lookup(c"PyGILState_Release"),
        lookup(c"PyRun_SimpleStringFlags"),
    );
    if ensure.is_null() || release.is_null() || run.is_null() {
        return Host::Unsupported;
    }
    // SAFETY: these are the documented C signatures of the symbols just found.
    unsafe {
        Host::Python(Interpreter {
            ensure: std::mem::transmute::<*mut libc::c_void, GilEnsure>(ensure),
            release: std::mem::transmute::<*mut libc::c_void, GilRelease>(release),
            run: std::mem::transmute::<*mut libc::c_void, RunString>(run),
        })
    }
}

/// What interpreter shutdown would have done for the output: the `atexit`
/// functions, then every open writable file object flushed, stdout/stderr last.
const FLUSH: &std::ffi::CStr = c"def _arshim_flush():
    import atexit, gc, io, sys
    try:
        atexit._run_exitfuncs()
    except BaseException:
        pass
    for o in gc.get_objects():
        try:
            if isinstance(o, io.IOBase) and not o.closed and o.writable():
                o.flush()
        except BaseException:
            pass
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except BaseException:
            pass
_arshim_flush()
del _arshim_flush
";

impl Interpreter {
    /// # Safety
    /// Call from a thread the interpreter knows or may adopt (PyGILState handles both).
    pub unsafe fn run_exit_functions(&self) -> bool {
        let gil = (self.ensure)();
        let rc = (self.run)(FLUSH.as_ptr(), std::ptr::null_mut());
        (self.release)(gil);
        rc == 0
    }
}
