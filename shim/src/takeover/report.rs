//! What a takeover tells the trace file and the log when it gives up (the
//! `fallback` event, docs/DESIGN.md, "Conversion" 9) and what its cleanups
//! deferred (`defer` events). Touches the trace file and stderr only.

use crate::decide::config::Config;
use crate::record::logging::info;
use crate::record::trace::Event;
use crate::takeover::defer::Deferred;
use std::fmt;

/// Which attempt gave up, as the trace and the log line name it.
pub enum Attempt<'a> {
    /// A spawn call (`posix_spawn`, `posix_spawnp`, `system`) of `program`.
    Spawn { call: &'a str, program: &'a [u8] },
    /// A wait for child `pid`, which runs the archiver `program`.
    Wait { pid: i32, program: &'a [u8] },
    /// A wait for child `pid`, which had not finished an exec: `exe` is
    /// whatever its image was when we gave up.
    WaitBeforeExec { pid: i32, exe: &'a [u8] },
}

impl Attempt<'_> {
    fn call(&self) -> &str {
        match self {
            Attempt::Spawn { call, .. } => call,
            Attempt::Wait { .. } | Attempt::WaitBeforeExec { .. } => "wait",
        }
    }

    fn program(&self) -> &[u8] {
        match self {
            Attempt::Spawn { program, .. } | Attempt::Wait { program, .. } => program,
            Attempt::WaitBeforeExec { exe, .. } => exe,
        }
    }
}

/// The log line's subject: "CALL of PROGRAM: not converted", "wait for
/// PROGRAM (pid N): not handed off", "wait for pid N: not handed off".
impl fmt::Display for Attempt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Attempt::Spawn { call, program } => write!(
                f,
                "{call} of {}: not converted",
                String::from_utf8_lossy(program)
            ),
            Attempt::Wait { pid, program } => write!(
                f,
                "wait for {} (pid {pid}): not handed off",
                String::from_utf8_lossy(program)
            ),
            Attempt::WaitBeforeExec { pid, .. } => write!(f, "wait for pid {pid}: not handed off"),
        }
    }
}

/// The host's own call goes ahead, unchanged: why, in the trace and at `info`.
pub fn fallback(config: &Config, attempt: &Attempt<'_>, reason: &str) {
    Event::new("fallback")
        .str("call", attempt.call())
        .str("program", attempt.program())
        .str("reason", reason)
        .emit(config.trace.as_deref());
    info!("{attempt}: {reason}");
}

/// The deletions the cleanups asked for, left to the reaper.
pub fn deferred(config: &Config, deferred: &[Deferred]) {
    for d in deferred {
        Event::new("defer")
            .str("op", if d.rmdir { "rmdir" } else { "unlink" })
            .str("path", &d.path)
            .emit(config.trace.as_deref());
        info!(
            "deferred {} of {} until the archiver ends",
            if d.rmdir { "rmdir" } else { "unlink" },
            String::from_utf8_lossy(&d.path)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_fallback_names() {
        let cases = [
            (
                Attempt::Spawn {
                    call: "posix_spawnp",
                    program: b"ar",
                },
                ("posix_spawnp", "ar", "posix_spawnp of ar: not converted"),
            ),
            (
                Attempt::Wait {
                    pid: 7,
                    program: b"/usr/bin/ar",
                },
                (
                    "wait",
                    "/usr/bin/ar",
                    "wait for /usr/bin/ar (pid 7): not handed off",
                ),
            ),
            (
                Attempt::WaitBeforeExec {
                    pid: 7,
                    exe: b"/usr/bin/ld",
                },
                ("wait", "/usr/bin/ld", "wait for pid 7: not handed off"),
            ),
        ];
        for (attempt, (call, program, subject)) in cases {
            assert_eq!(attempt.call(), call);
            assert_eq!(attempt.program(), program.as_bytes());
            assert_eq!(attempt.to_string(), subject);
        }
    }
}
