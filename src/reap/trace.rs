//! `--trace FILE`: the same JSON lines as the library's `ARSHIM_TRACE`
//! (`"ts"`, `"pid"`, `"event"` first), each appended with a single `write`
//! so that lines from several processes stay whole.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::RawFd;

// The library's own event builder, shared as source: one JSON writer for
// both ends of a handoff.
#[allow(dead_code)] // its `emit` (path per event) is the library's; the reaper keeps one fd
#[path = "../../shim/src/record/trace.rs"]
mod shared;
pub use shared::Event;

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

/// One JSON object, built field by field.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_json_object_per_line_with_escapes() {
        let line = Event::new("delete")
            .str("op", "unlink")
            .str("name", b"q\"b\\n\nt\tc\x01r\r\xff")
            .int("child", -3)
            .bool("ok", false)
            .null("path")
            .finish();
        assert!(line.starts_with("{\"ts\":"), "{line}");
        assert!(line.ends_with("}\n") && line.matches('\n').count() == 1);
        assert!(line.contains(&format!(",\"pid\":{},", std::process::id())));
        assert!(line.contains(r#""event":"delete","op":"unlink""#), "{line}");
        assert!(
            line.contains("\"name\":\"q\\\"b\\\\n\\nt\\tc\\u0001r\\r\u{fffd}\""),
            "{line}"
        );
        assert!(
            line.contains(r#","child":-3,"ok":false,"path":null}"#),
            "{line}"
        );
    }

    #[test]
    fn timestamp_is_seconds_with_a_fraction() {
        let line = Event::new("x").finish();
        let ts = line
            .strip_prefix("{\"ts\":")
            .and_then(|rest| rest.split(',').next())
            .unwrap();
        let (secs, frac) = ts.split_once('.').unwrap();
        assert!(secs.parse::<u64>().unwrap() > 1_600_000_000);
        assert_eq!(frac.len(), 6);
    }
}
