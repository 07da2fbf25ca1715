//! Flushing the host's pending cleanups, as `exit` would, but without exiting.

extern "C" {
    /// glibc: with NULL, runs every handler registered with `__cxa_atexit`
    /// (which is how glibc implements `atexit`), C++ static destructors, and
    /// the loader's `_dl_fini` (ELF destructors of every loaded object).
    fn __cxa_finalize(dso: *mut libc::c_void);
}

/// Runs the atexit handlers and destructors, then flushes every stdio stream.
///
/// # Safety
/// Only on the conversion path, after every allocation the conversion needs
/// has been made: the host's handlers may tear down anything of theirs.
pub unsafe fn run_pending() {
    // SAFETY: __cxa_finalize(NULL) is what exit() does first; handlers run once
    // (glibc marks them done), so a later exit() would not run them again.
    __cxa_finalize(std::ptr::null_mut());
    // SAFETY: fflush(NULL) flushes all open output streams.
    libc::fflush(std::ptr::null_mut());
}
