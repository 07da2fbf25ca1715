//! The core capability, with real hosts compiled at test time: a "legacy
//! linker" (tests/hosts/host.c, tests/hosts/rust_host.rs) holding ~96 MiB whose
//! last act is `ar rcs lib.a one.o two.o` through `posix_spawn`,
//! `posix_spawnp` or `system`. Under `arshim run` the archiver must run *as*
//! the host (same pid, the host's memory gone), after the host's pending
//! cleanups (atexit handlers, stdio buffers) — and whenever it cannot, the run
//! must be exactly what it is without the library.
//!
//! The stand-in `ar` (first on PATH) records its pid, its parent's and its own
//! memory, prints "standin: archiving" (stdout) and "standin: note on stderr",
//! then execs the real ar. The `baseline_*` tests run without the library and
//! check that the harness measures what it claims.

use common::*;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug)]
enum Call {
    Spawn,
    Spawnp,
    System,
}

impl Call {
    fn arg(self) -> &'static str {
        match self {
            Call::Spawn => "spawn",
            Call::Spawnp => "spawnp",
            Call::System => "system",
        }
    }

    /// How the host names the archiver: posix_spawn gets the stand-in's path,
    /// posix_spawnp and system find `ar` on PATH.
    fn tool(self) -> OsString {
        match self {
            Call::Spawn => fixtures().standin.clone().into(),
            Call::Spawnp | Call::System => "ar".into(),
        }
    }

    /// A name that matches the default ARSHIM_TOOLS but resolves to nothing.
    fn missing_tool(self) -> OsString {
        match self {
            Call::Spawn => "/nonexistent/ar".into(),
            Call::Spawnp | Call::System => "missing-ar".into(),
        }
    }
}

/// `CALL IO TOOL ARCHIVE one.o two.o`
fn host_args(call: Call, io: &str, tool: OsString, archive: &Path) -> Vec<OsString> {
    common::host_args(call.arg(), io, tool, archive)
}

fn archive_in(dir: &TestDir) -> PathBuf {
    dir.join("lib.a")
}

// ---------------------------------------------------------------------------
// Baseline: no library. The host holds its memory while the archiver runs.

fn baseline(call: Call) {
    let dir = TestDir::new(&format!("baseline-{}", call.arg()));
    let archive = archive_in(&dir);
    let mut cmd = command(&fixtures().host, &dir);
    cmd.args(host_args(call, "plain", call.tool(), &archive));
    let run = run(cmd, &dir, "baseline");
    run.assert_code(0);
    assert_eq!(host_pid(&dir, "host", &run), run.pid);
    assert_not_converted(&dir, &run, run.pid);
    assert_archive_ok(&archive, &run);
    assert_cleanups_ran(&run);
    assert!(
        run.stdout.contains("standin: archiving\n"),
        "{}",
        run.describe()
    );
    assert_eq!(
        run.stderr,
        "standin: note on stderr\n",
        "{}",
        run.describe()
    );
}

#[test]
fn baseline_posix_spawn_host_holds_memory_while_ar_runs() {
    baseline(Call::Spawn);
}

#[test]
fn baseline_posix_spawnp_host_holds_memory_while_ar_runs() {
    baseline(Call::Spawnp);
}

#[test]
fn baseline_system_host_holds_memory_while_ar_runs() {
    baseline(Call::System);
}

// ---------------------------------------------------------------------------
// 1. Converted: same pid, memory gone, archive right, cleanups flushed first.

fn converted(call: Call) {
    let dir = TestDir::new(&format!("converted-{}", call.arg()));
    let archive = archive_in(&dir);
    let mut cmd = arshim_run(&[], &fixtures().host, &dir);
    cmd.args(host_args(call, "plain", call.tool(), &archive));
    let run = run(cmd, &dir, "converted");
    run.assert_code(0);
    assert_converted(&dir, &run);
    assert_archive_ok(&archive, &run);
    // The cleanups are flushed before the exec: their output precedes ar's.
    assert_cleanups_before_archiver(&run);
    assert!(
        run.stderr.contains("standin: note on stderr\n"),
        "{}",
        run.describe()
    );
    assert_silent(&run);
}

#[test]
fn converted_posix_spawn() {
    converted(Call::Spawn);
}

#[test]
fn converted_posix_spawnp() {
    converted(Call::Spawnp);
}

#[test]
fn converted_system() {
    converted(Call::System);
}

// ---------------------------------------------------------------------------
// 2. Output capture and stdin pipes: no deadlock, nothing lost.

fn baseline_capture(call: Call) {
    let dir = TestDir::new(&format!("baseline-capture-{}", call.arg()));
    let archive = archive_in(&dir);
    let mut cmd = command(&fixtures().host, &dir);
    cmd.args(host_args(call, "capture", call.tool(), &archive));
    let run = run(cmd, &dir, "baseline-capture");
    run.assert_code(0);
    assert_not_converted(&dir, &run, run.pid);
    assert_archive_ok(&archive, &run);
    assert!(
        run.stdout
            .contains("host: child said: standin: archiving\n"),
        "{}",
        run.describe()
    );
    assert!(
        run.stdout
            .contains("host: child said: standin: note on stderr\n"),
        "{}",
        run.describe()
    );
    assert_cleanups_ran(&run);
    assert_eq!(run.stderr, "", "{}", run.describe());
}

#[test]
fn baseline_capture_posix_spawn() {
    baseline_capture(Call::Spawn);
}

#[test]
fn baseline_capture_posix_spawnp() {
    baseline_capture(Call::Spawnp);
}

fn capture(call: Call) {
    let dir = TestDir::new(&format!("capture-{}", call.arg()));
    let archive = archive_in(&dir);
    let mut cmd = arshim_run(&[], &fixtures().host, &dir);
    cmd.args(host_args(call, "capture", call.tool(), &archive));
    let run = run(cmd, &dir, "capture"); // fails on a hang
    run.assert_code(0);
    assert_converted(&dir, &run);
    assert_archive_ok(&archive, &run);
    assert_cleanups_ran(&run);
    // The archiver's output is not lost: it reaches the run's own stdout/stderr.
    assert!(
        run.stdout.contains("standin: archiving\n"),
        "the archiver's stdout line is lost\n{}",
        run.describe()
    );
    assert!(
        run.stdout.contains("standin: note on stderr\n")
            || run.stderr.contains("standin: note on stderr\n"),
        "the archiver's stderr line is lost\n{}",
        run.describe()
    );
    assert_silent(&run);
}

#[test]
fn capture_posix_spawn_no_hang_output_kept() {
    capture(Call::Spawn);
}

#[test]
fn capture_posix_spawnp_no_hang_output_kept() {
    capture(Call::Spawnp);
}

fn baseline_stdin(call: Call) {
    let dir = TestDir::new(&format!("baseline-stdin-{}", call.arg()));
    let archive = archive_in(&dir);
    let mut cmd = command(&fixtures().host, &dir);
    cmd.env("STANDIN_READ_STDIN", "1")
        .args(host_args(call, "stdin", call.tool(), &archive));
    let run = run(cmd, &dir, "baseline-stdin");
    run.assert_code(0);
    let call = single_standin_call(&dir, &run);
    assert_ne!(
        call.pid,
        run.pid,
        "converted at the spawn\n{}",
        run.describe()
    );
    assert_archive_ok(&archive, &run);
    assert!(
        run.stdout.contains("standin: read 1 stdin lines\n"),
        "{}",
        run.describe()
    );
    assert_cleanups_ran(&run);
}

#[test]
fn baseline_stdin_pipe_posix_spawn() {
    baseline_stdin(Call::Spawn);
}

#[test]
fn baseline_stdin_pipe_posix_spawnp() {
    baseline_stdin(Call::Spawnp);
}

/// The stand-in is a script that reads the stdin the host feeds: never
/// converted at the spawn (docs/DESIGN.md, "Conversion" 5), it reads what
/// the host wrote, as without the library. (At the wait the host has
/// written and closed its end: a handoff there is fine.)
fn stdin_pipe(call: Call) {
    let dir = TestDir::new(&format!("stdin-{}", call.arg()));
    let archive = archive_in(&dir);
    let mut cmd = arshim_run(&[], &fixtures().host, &dir);
    cmd.env("STANDIN_READ_STDIN", "1")
        .args(host_args(call, "stdin", call.tool(), &archive));
    let run = run(cmd, &dir, "stdin"); // fails on a hang
    run.assert_code(0);
    let call = single_standin_call(&dir, &run);
    assert_ne!(
        call.pid,
        run.pid,
        "converted at the spawn\n{}",
        run.describe()
    );
    assert_archive_ok(&archive, &run);
    assert!(
        run.stdout.contains("standin: read 1 stdin lines\n"),
        "the archiver did not read what the host wrote\n{}",
        run.describe()
    );
    assert_cleanups_ran(&run);
    assert_silent(&run);
}

#[test]
fn stdin_pipe_posix_spawn_no_hang() {
    stdin_pipe(Call::Spawn);
}

#[test]
fn stdin_pipe_posix_spawnp_no_hang() {
    stdin_pipe(Call::Spawnp);
}

// ---------------------------------------------------------------------------
// 3. A failing archiver: its status is the run's status.

fn failing(call: Call) {
    let dir = TestDir::new(&format!("failing-{}", call.arg()));
    let archive = archive_in(&dir);
    let mut cmd = arshim_run(&[], &fixtures().host, &dir);
    cmd.env("STANDIN_EXIT", "7")
        .args(host_args(call, "plain", call.tool(), &archive));
    let run = run(cmd, &dir, "failing");
    assert_ne!(
        run.code(),
        Some(0),
        "a failing archiver must fail the run\n{}",
        run.describe()
    );
    run.assert_code(7);
    assert_converted(&dir, &run);
    assert!(!archive.exists(), "{}", run.describe());
    assert_cleanups_ran(&run);
}

#[test]
fn failing_archiver_posix_spawn_exit_status() {
    failing(Call::Spawn);
}

#[test]
fn failing_archiver_posix_spawnp_exit_status() {
    failing(Call::Spawnp);
}

#[test]
fn failing_archiver_system_exit_status() {
    failing(Call::System);
}

// ---------------------------------------------------------------------------
// 4. An archiver that cannot be resolved: the real call, unchanged.

fn unresolvable(call: Call) {
    let dir = TestDir::new(&format!("unresolvable-{}", call.arg()));
    let archive = archive_in(&dir);
    let fx = fixtures();

    let mut cmd = command(&fx.host, &dir);
    cmd.args(host_args(call, "plain", call.missing_tool(), &archive));
    let base = run(cmd, &dir, "without-library");
    assert_ne!(
        base.code(),
        Some(0),
        "the baseline should fail to run the archiver\n{}",
        base.describe()
    );
    assert_cleanups_ran(&base);

    let trace = dir.join("trace.jsonl");
    let trace_opt = trace.to_str().unwrap().to_string();
    let mut cmd = arshim_run(&["--trace", &trace_opt], &fx.host, &dir);
    cmd.args(host_args(call, "plain", call.missing_tool(), &archive));
    let shim = run(cmd, &dir, "with-library");

    let both = format!("{}\n{}", base.describe(), shim.describe());
    assert_eq!(
        shim.code(),
        base.code(),
        "exit status differs from the run without the library\n{both}"
    );
    assert_eq!(
        shim.stdout, base.stdout,
        "stdout differs from the run without the library\n{both}"
    );
    assert_eq!(
        shim.stderr, base.stderr,
        "stderr differs from the run without the library\n{both}"
    );
    assert!(standin_calls(&dir).is_empty());
    assert!(!archive.exists());

    let fallbacks = trace_events(&trace, "fallback");
    assert!(
        !fallbacks.is_empty(),
        "the trace has no \"fallback\" event; trace:\n{}\n{both}",
        trace_lines(&trace).join("\n")
    );
    assert!(
        fallbacks.iter().all(|l| l.contains("\"reason\"")),
        "a fallback event without a \"reason\": {fallbacks:?}"
    );
}

#[test]
fn unresolvable_archiver_posix_spawn_falls_back() {
    unresolvable(Call::Spawn);
}

#[test]
fn unresolvable_archiver_posix_spawnp_falls_back() {
    unresolvable(Call::Spawnp);
}

#[test]
fn unresolvable_archiver_system_falls_back() {
    unresolvable(Call::System);
}

// ---------------------------------------------------------------------------
// 5. ARSHIM off (unset, `off`, `0`) or garbage with LD_PRELOAD set directly.

fn preloaded_run(call: Call, arshim: Option<&str>) -> (TestDir, Outcome) {
    let label = arshim.unwrap_or("unset");
    let dir = TestDir::new(&format!("arshim-{label}-{}", call.arg()));
    let archive = archive_in(&dir);
    let mut cmd = preloaded(&fixtures().host, &dir);
    cmd.args(host_args(call, "plain", call.tool(), &archive));
    if let Some(v) = arshim {
        cmd.env("ARSHIM", v);
    }
    let run = run(cmd, &dir, &format!("ARSHIM={label}"));
    assert_archive_ok(&archive, &run);
    (dir, run)
}

fn baseline_run(call: Call, name: &str) -> (TestDir, Outcome) {
    let dir = TestDir::new(&format!("{name}-{}", call.arg()));
    let archive = archive_in(&dir);
    let mut cmd = command(&fixtures().host, &dir);
    cmd.args(host_args(call, "plain", call.tool(), &archive));
    let run = run(cmd, &dir, "without-library");
    run.assert_code(0);
    (dir, run)
}

fn off_values(call: Call) {
    let (_bdir, base) = baseline_run(call, "off-baseline");
    for value in [None, Some("off"), Some("0")] {
        let (dir, run) = preloaded_run(call, value);
        let both = format!("{}\n{}", base.describe(), run.describe());
        assert_eq!(run.code(), base.code(), "exit status differs\n{both}");
        assert_eq!(run.stdout, base.stdout, "stdout differs\n{both}");
        assert_eq!(run.stderr, base.stderr, "stderr differs\n{both}");
        assert_eq!(host_pid(&dir, "host", &run), run.pid);
        assert_not_converted(&dir, &run, run.pid);
    }
}

#[test]
fn arshim_off_is_pass_through_posix_spawn() {
    off_values(Call::Spawn);
}

#[test]
fn arshim_off_is_pass_through_posix_spawnp() {
    off_values(Call::Spawnp);
}

#[test]
fn arshim_off_is_pass_through_system() {
    off_values(Call::System);
}

fn garbage(call: Call) {
    let (_bdir, base) = baseline_run(call, "garbage-baseline");
    let (dir, run) = preloaded_run(call, Some("bogus"));
    let both = format!("{}\n{}", base.describe(), run.describe());
    assert_eq!(run.code(), base.code(), "exit status differs\n{both}");
    assert_eq!(run.stdout, base.stdout, "stdout differs\n{both}");
    let warnings: Vec<&str> = run.stderr.lines().filter(|l| l.contains("bogus")).collect();
    assert_eq!(
        warnings.len(),
        1,
        "expected exactly one warning naming the value `bogus`\n{both}"
    );
    assert!(
        warnings[0].contains("ARSHIM"),
        "the warning should name ARSHIM: {:?}",
        warnings[0]
    );
    let rest: String = run
        .stderr
        .lines()
        .filter(|l| !l.contains("bogus"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        rest, base.stderr,
        "besides the one warning, stderr differs\n{both}"
    );
    assert_eq!(host_pid(&dir, "host", &run), run.pid);
    assert_not_converted(&dir, &run, run.pid);
}

#[test]
fn arshim_garbage_warns_once_posix_spawn() {
    garbage(Call::Spawn);
}

#[test]
fn arshim_garbage_warns_once_posix_spawnp() {
    garbage(Call::Spawnp);
}

#[test]
fn arshim_garbage_warns_once_system() {
    garbage(Call::System);
}

// ---------------------------------------------------------------------------
// 7. A Rust host (std::process::Command::status: posix_spawnp with signal
// attributes, Rust runtime initialised around the library's constructor).

fn rust_host_args(archive: &Path) -> Vec<OsString> {
    let fx = fixtures();
    vec![
        archive.into(),
        fx.objs[0].clone().into(),
        fx.objs[1].clone().into(),
    ]
}

#[test]
fn baseline_rust_host_holds_memory_while_ar_runs() {
    let dir = TestDir::new("baseline-rust-host");
    let archive = archive_in(&dir);
    let mut cmd = command(rust_host(), &dir);
    cmd.args(rust_host_args(&archive));
    let run = run(cmd, &dir, "baseline-rust");
    run.assert_code(0);
    assert_eq!(host_pid(&dir, "host", &run), run.pid);
    assert_not_converted(&dir, &run, run.pid);
    assert_archive_ok(&archive, &run);
    assert!(
        run.stdout
            .contains(&format!("rust_host: holding {HOST_MIB} MiB\n")),
        "{}",
        run.describe()
    );
}

#[test]
fn rust_host_converted() {
    let dir = TestDir::new("rust-host");
    let archive = archive_in(&dir);
    let mut cmd = arshim_run(&[], rust_host(), &dir);
    cmd.args(rust_host_args(&archive));
    let run = run(cmd, &dir, "rust");
    run.assert_code(0);
    assert_converted(&dir, &run);
    assert_archive_ok(&archive, &run);
    assert_in_order(
        &run.stdout,
        &[
            &format!("rust_host: holding {HOST_MIB} MiB\n"),
            "standin: archiving\n",
        ],
        "stdout",
        &run,
    );
    assert_silent(&run);
}

// ---------------------------------------------------------------------------
// 5. The host's memory released on two CPUs before the execve.

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `arshim run --trace` on the host making `call` of `tool`, with `vars`:
/// the run, its directory and its trace.
fn traced(
    name: &str,
    call: Call,
    tool: OsString,
    vars: &[(&str, &str)],
) -> (TestDir, PathBuf, Outcome) {
    let dir = TestDir::new(name);
    let archive = archive_in(&dir);
    let trace = dir.join("trace.jsonl");
    let mut cmd = arshim_run(
        &["--trace", trace.to_str().unwrap()],
        &fixtures().host,
        &dir,
    );
    cmd.envs(vars.iter().copied())
        .args(host_args(call, "plain", tool, &archive));
    let run = run(cmd, &dir, "converted");
    (dir, trace, run)
}

/// One `release` event, whatever it says.
fn release_event(trace: &Path, run: &Outcome) -> String {
    let events = trace_events(trace, "release");
    assert_eq!(
        events.len(),
        1,
        "one release event expected; trace:\n{}\n{}",
        trace_lines(trace).join("\n"),
        run.describe()
    );
    events[0].clone()
}

/// A single-threaded host holding 96 MiB (half one block, half small blocks
/// in the brk heap next to its stdio buffer): the conversion releases it on
/// two CPUs (on a machine that has two), and nothing the host still owed is
/// lost — the buffered line and the atexit output come first.
#[test]
fn converted_host_memory_is_released_on_two_cpus() {
    let (dir, trace, run) = traced("release-parallel", Call::Spawnp, Call::Spawnp.tool(), &[]);
    run.assert_code(0);
    assert_converted(&dir, &run);
    assert_archive_ok(&archive_in(&dir), &run);
    assert_cleanups_before_archiver(&run);
    assert_silent(&run);
    let event = release_event(&trace, &run);
    if cpus() >= 2 {
        assert!(
            event.contains("\"parallel\":true"),
            "{event}\n{}",
            run.describe()
        );
        let mib: u64 = event
            .split("\"mib\":")
            .nth(1)
            .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no mib in {event}"));
        assert!(mib >= HOST_MIB * 3 / 4, "released only {mib} MiB: {event}");
    } else {
        assert!(event.contains("one CPU"), "{event}");
    }
}

/// A host with other threads running: they could still read the memory, so
/// it is left to the execve (which ends them first); the conversion is
/// otherwise the same.
#[test]
fn converted_host_with_threads_leaves_its_memory_to_the_execve() {
    let (dir, trace, run) = traced(
        "release-threads",
        Call::Spawn,
        Call::Spawn.tool(),
        &[("HOST_THREADS", "2")],
    );
    run.assert_code(0);
    assert_converted(&dir, &run);
    assert_archive_ok(&archive_in(&dir), &run);
    assert_cleanups_ran(&run);
    let event = release_event(&trace, &run);
    assert!(
        event.contains("\"parallel\":false") && event.contains("3 threads"),
        "{event}\n{}",
        run.describe()
    );
}

/// An archiver that passes every check made before the cleanups but that
/// the kernel refuses to run: it is open for writing elsewhere (ETXTBSY).
/// The execve fails after the memory was released, and the process ends as
/// documented — one line, exit 127 — written from the release's own mapping.
#[test]
fn execve_failing_after_the_release_exits_127_with_one_line() {
    let scratch = TestDir::new("release-execve-fails-bin");
    let busy = scratch.join("busy-ar");
    std::fs::copy(&fixtures().standin, &busy).unwrap();
    // Held open for writing by this test for the whole run.
    let _writer = std::fs::OpenOptions::new().write(true).open(&busy).unwrap();
    let (_dir, trace, run) = traced(
        "release-execve-fails",
        Call::Spawn,
        busy.clone().into(),
        &[],
    );
    run.assert_code(127);
    assert_cleanups_ran(&run);
    let lines = library_lines(&run.stderr);
    let expected = format!(
        "arshim[{}]: execve of {} failed after the host's cleanups ran: errno {}; exiting 127",
        run.pid,
        busy.display(),
        libc_etxtbsy()
    );
    assert_eq!(lines, vec![expected.as_str()], "{}", run.describe());
    if cpus() >= 2 {
        let event = release_event(&trace, &run);
        assert!(event.contains("\"parallel\":true"), "{event}");
    }
}

/// ETXTBSY on Linux (all architectures).
fn libc_etxtbsy() -> i32 {
    26
}

/// An ELF archiver whose program interpreter does not exist: execve would
/// fail (ENOENT) only after the cleanups, so it is found out before them and
/// the real call reports the error as without the shim.
#[test]
fn archiver_with_a_missing_interpreter_falls_back_before_the_cleanups() {
    let dir = TestDir::new("missing-interpreter");
    let src = dir.join("broken.c");
    std::fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    let broken = dir.join("broken-ar");
    compile_c_with(
        &src,
        &broken,
        &["-Wl,--dynamic-linker=/nonexistent/ld-arshim-test.so.2"],
    );
    let archive = archive_in(&dir);
    let mut cmd = command(&fixtures().host, &dir);
    cmd.args(host_args(
        Call::Spawn,
        "plain",
        broken.clone().into(),
        &archive,
    ));
    let base = run(cmd, &dir, "without");
    let mut cmd = arshim_run(&[], &fixtures().host, &dir);
    cmd.args(host_args(
        Call::Spawn,
        "plain",
        broken.clone().into(),
        &archive,
    ));
    let shim = run(cmd, &dir, "with");
    let both = format!("{}\n{}", base.describe(), shim.describe());
    assert_eq!(
        base.code(),
        Some(3),
        "the host reports the failed spawn\n{both}"
    );
    assert_eq!(shim.code(), base.code(), "{both}");
    assert_eq!(shim.stdout, base.stdout, "{both}");
    assert_eq!(shim.stderr, base.stderr, "{both}");
}
