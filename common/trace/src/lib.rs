//! `ARSHIM_TRACE`: one JSON object per line (`"ts"`, `"pid"`, `"event"`
//! first), appended with a single `write` (O_APPEND keeps lines from several
//! processes whole). One writer for both ends of a handoff: the core's
//! events and the reaper's (`src/reap/trace.rs`); one way to open the file
//! for both (`file`: a regular file only, never blocking, never through a
//! final symlink).
//!
//! `no_std` with a heap (`alloc`): nothing of std is needed.

// Unit tests run with std (the harness needs it).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

mod file;

pub use file::{open_append, warning, write_once, Unusable, QUOTED_MAX};

use alloc::string::String;
use core::fmt::Write as _;

pub struct Event {
    line: String,
}

impl Event {
    pub fn new(event: &str) -> Event {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes into the timespec we own.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        let mut line = String::with_capacity(256);
        let _ = write!(
            line,
            "{{\"ts\":{}.{:06},\"pid\":{},\"event\":",
            ts.tv_sec,
            ts.tv_nsec / 1000,
            pid
        );
        push_str(&mut line, event.as_bytes());
        Event { line }
    }

    pub fn str(mut self, key: &str, value: impl AsRef<[u8]>) -> Event {
        self.key(key);
        push_str(&mut self.line, value.as_ref());
        self
    }

    pub fn int(mut self, key: &str, value: i64) -> Event {
        self.key(key);
        let _ = write!(self.line, "{value}");
        self
    }

    /// A wait status as `status` (exit code) or `signal`.
    pub fn wait_status(self, status: Option<i32>) -> Event {
        match status {
            Some(st) if libc::WIFEXITED(st) => self.int("status", libc::WEXITSTATUS(st) as i64),
            Some(st) if libc::WIFSIGNALED(st) => self.int("signal", libc::WTERMSIG(st) as i64),
            _ => self,
        }
    }

    pub fn null(mut self, key: &str) -> Event {
        self.key(key);
        self.line.push_str("null");
        self
    }

    pub fn bool(mut self, key: &str, value: bool) -> Event {
        self.key(key);
        self.line.push_str(if value { "true" } else { "false" });
        self
    }

    pub fn list<'a>(mut self, key: &str, items: impl IntoIterator<Item = &'a [u8]>) -> Event {
        self.key(key);
        self.line.push('[');
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.line.push(',');
            }
            push_str(&mut self.line, item);
        }
        self.line.push(']');
        self
    }

    fn key(&mut self, key: &str) {
        self.line.push(',');
        push_str(&mut self.line, key.as_bytes());
        self.line.push(':');
    }

    pub fn finish(mut self) -> String {
        self.line.push_str("}\n");
        self.line
    }

    /// Appends the event to `path` (the core's way: the path is opened per
    /// event, so a host that closes descriptors cannot lose or reuse it; the
    /// reaper keeps one descriptor), only if it is a regular file
    /// ([`open_append`]). Errors are ignored: tracing never changes what the
    /// host sees.
    pub fn emit(self, path: Option<&[u8]>) {
        let Some(path) = path else { return };
        file::append(path, self.finish().as_bytes());
    }
}

/// A JSON string; bytes that are not UTF-8 become U+FFFD.
fn push_str(out: &mut String, raw: &[u8]) {
    out.push('"');
    for c in String::from_utf8_lossy(raw).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_json_object_per_line() {
        let line = Event::new("spawn")
            .str("call", "posix_spawnp")
            .list("argv", [&b"ar"[..], b"rc\"s", b"a\nb", b"\xff"])
            .bool("archiver", true)
            .finish();
        assert!(line.ends_with("}\n") && line.matches('\n').count() == 1);
        assert!(line.contains(r#""event":"spawn""#));
        assert!(
            line.contains("\"argv\":[\"ar\",\"rc\\\"s\",\"a\\nb\",\"\u{fffd}\"]"),
            "{line}"
        );
        assert!(line.contains(r#","archiver":true}"#));
    }

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
