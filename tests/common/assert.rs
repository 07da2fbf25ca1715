//! Verdicts on a run: converted or not, the archive right, the host's
//! cleanups not lost, the library silent.

use super::command::HOST_MIB;
use super::dirs::TestDir;
use super::records::{ar_members, single_standin_call, started_host_pid, StandinCall};
use super::run::Outcome;
use std::path::Path;

/// A host that still holds its memory while ar runs shows at least this.
pub const HELD_KIB: u64 = (HOST_MIB - 16) * 1024;
/// A converted host (now the archiver) must be below this while ar runs.
pub const FREED_KIB: u64 = 50 * 1024;

pub fn assert_archive_ok(archive: &Path, run: &Outcome) {
    assert!(
        archive.is_file(),
        "archive {} was not created\n{}",
        archive.display(),
        run.describe()
    );
    assert_eq!(
        ar_members(archive),
        ["one.o", "two.o"],
        "archive members\n{}",
        run.describe()
    );
}

/// `needles` all occur in `hay`, in this order.
pub fn assert_in_order(hay: &str, needles: &[&str], what: &str, run: &Outcome) {
    let mut from = 0;
    for n in needles {
        match hay[from..].find(n) {
            Some(i) => from += i + n.len(),
            None => panic!(
                "{what}: expected {needles:?} in this order; {n:?} missing (after byte {from})\n{}",
                run.describe()
            ),
        }
    }
}

/// Lines of stderr written by the library (its log lines name arshim).
pub fn library_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("arshim"))
        .collect()
}

/// The run was converted: the stand-in ran with the host's pid (the pid the
/// test started: `arshim run` execs the host), and that process no longer held
/// the host's memory while ar ran.
pub fn assert_converted(dir: &TestDir, run: &Outcome) -> StandinCall {
    let host = started_host_pid(dir, run);
    let call = single_standin_call(dir, run);
    assert_eq!(
        call.pid,
        host,
        "not converted: the archiver ran as pid {} (parent {}), the host is pid {host}\n{}",
        call.pid,
        call.ppid,
        run.describe()
    );
    assert!(
        call.self_rss_kib < FREED_KIB,
        "converted, but the host's pid still held {} KiB while ar ran (limit {FREED_KIB} KiB)\n{}",
        call.self_rss_kib,
        run.describe()
    );
    call
}

/// The run was not converted: the archiver was a separate process, a child
/// (posix_spawn*) or grandchild (system: sh -c) of the host, which still held
/// its memory while ar ran.
pub fn assert_not_converted(dir: &TestDir, run: &Outcome, host: u32) -> StandinCall {
    let call = single_standin_call(dir, run);
    assert_ne!(
        call.pid,
        host,
        "the archiver ran as the host's pid: converted\n{}",
        run.describe()
    );
    let rss = call.ancestor_rss_kib(host).unwrap_or_else(|| {
        panic!(
            "the host (pid {host}) is neither the archiver's parent nor grandparent: {call:?}\n{}",
            run.describe()
        )
    });
    assert!(
        rss >= HELD_KIB,
        "the host held only {rss} KiB while ar ran (it touched {HOST_MIB} MiB)\n{}",
        run.describe()
    );
    call
}

/// The host's buffered stdout line and its atexit output are not lost.
pub fn assert_cleanups_ran(run: &Outcome) {
    assert_in_order(
        &run.stdout,
        &["host: buffered line", "host: atexit ran"],
        "host's stdout",
        run,
    );
}

/// A conversion or handoff: the host's cleanups (its buffered line, then
/// its atexit output) came out before the archiver's output.
pub fn assert_cleanups_before_archiver(run: &Outcome) {
    assert_in_order(
        &run.stdout,
        &[
            "host: buffered line\n",
            "host: atexit ran\n",
            "standin: archiving\n",
        ],
        "stdout",
        run,
    );
}

pub fn assert_silent(run: &Outcome) {
    let lines = library_lines(&run.stderr);
    assert!(
        lines.is_empty(),
        "a conversion is silent at the default log level, got {lines:?}\n{}",
        run.describe()
    );
}
