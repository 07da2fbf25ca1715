//! `--trace FILE`: the same JSON lines as the library's `ARSHIM_TRACE`
//! (`"ts"`, `"pid"`, `"event"` first), each appended with a single `write`
//! so that lines from several processes stay whole.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::RawFd;

// The library's own event builder and file opener: one JSON writer for both
// ends of a handoff, and one rule for which files it writes.
pub use arshim_trace::Event;

/// The trace file, opened once; `None` when tracing is off or the file is not
/// one events may be appended to (tracing never changes what the reaper does).
pub struct Trace {
    fd: Option<RawFd>,
}

impl Trace {
    /// Opens `path` as the library does (a regular file only, never
    /// blocking, never through a final symlink: docs/DESIGN.md, "Trace
    /// events"). A path refused says so in one line, unless this process tree
    /// was warned already; then the archiver the reaper spawns stays quiet.
    pub fn open(path: Option<&OsStr>) -> Trace {
        let fd = path.and_then(|p| match arshim_trace::open_append(p.as_bytes()) {
            Ok(fd) => Some(fd),
            Err(why) => {
                warn_once_per_tree(&arshim_trace::warning(p.as_bytes(), why));
                None
            }
        });
        Trace { fd }
    }

    /// Appends the event `build` makes; it is not even built when tracing is
    /// off (formatting code stays unmapped in the common case).
    pub fn emit(&self, build: impl FnOnce() -> Event) {
        let Some(fd) = self.fd else { return };
        arshim_trace::write_once(fd, build().finish().as_bytes());
    }
}

/// The library's one-warning mark, `ARSHIM_WARNED`: read, and set for the
/// archiver the reaper spawns (run mode reads the environment afterwards).
fn warn_once_per_tree(message: &str) {
    // SAFETY: the reaper is single-threaded (it runs before Rust's runtime
    // starts any thread); getenv/setenv on C strings.
    unsafe {
        if !libc::getenv(c"ARSHIM_WARNED".as_ptr()).is_null() {
            return;
        }
        libc::setenv(c"ARSHIM_WARNED".as_ptr(), c"1".as_ptr(), 1);
    }
    let line = format!("arshim[{}]: reaper: {message}\n", std::process::id());
    // SAFETY: a buffer we own, to stderr; a failure is ignored. SIGPIPE is
    // ignored for the write only (a closed stderr must not end the process
    // that holds the host's pid) and put back: the archiver inherits it.
    unsafe {
        let old = libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::write(libc::STDERR_FILENO, line.as_ptr().cast(), line.len());
        libc::signal(libc::SIGPIPE, old);
    }
}
