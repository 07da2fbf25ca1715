//! `--trace FILE`: the same JSON lines as the library's `ARSHIM_TRACE`
//! (`"ts"`, `"pid"`, `"event"` first), each appended with a single `write`
//! so that lines from several processes stay whole.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::RawFd;

// The library's own event builder: one JSON writer for both ends of a handoff.
pub use arshim_trace::Event;

/// The trace file, opened once; `None` when tracing is off or the file cannot
/// be opened (tracing never changes what the reaper does).
pub struct Trace {
    fd: Option<RawFd>,
}

impl Trace {
    pub fn open(path: Option<&OsStr>) -> Trace {
        let fd = path
            .and_then(|p| CString::new(p.as_bytes()).ok())
            .and_then(|p| {
                // SAFETY: `p` is a valid C string. CLOEXEC: the archiver we
                // spawn must not inherit it.
                let fd = unsafe {
                    libc::open(
                        p.as_ptr(),
                        libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC,
                        0o644,
                    )
                };
                (fd >= 0).then_some(fd)
            });
        Trace { fd }
    }

    /// Appends the event `build` makes; it is not even built when tracing is
    /// off (formatting code stays unmapped in the common case).
    pub fn emit(&self, build: impl FnOnce() -> Event) {
        let Some(fd) = self.fd else { return };
        let line = build().finish();
        // SAFETY: writes a buffer we own to a descriptor we opened. A short or
        // failed write is ignored, as in the library.
        unsafe { libc::write(fd, line.as_ptr().cast(), line.len()) };
    }
}
