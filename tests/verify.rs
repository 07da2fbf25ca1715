//! Integration tests of `arshim verify` and of the verdicts it leaves for
//! `arshim run`: real C hosts (tests/hosts/verify_host.c) compiled at test
//! time, the real library, the real `ar`.
//!
//! Each test has its own XDG_CACHE_HOME, so verdicts never leak between
//! tests or into the user's cache.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{companion, compile_c, fixtures, library, Outcome, TestDir};

/// The verify host, compiled once per test binary.
fn host() -> &'static Path {
    static HOST: OnceLock<PathBuf> = OnceLock::new();
    HOST.get_or_init(|| {
        let out = fixtures().dir.join("verify_host");
        let src = common::hosts_src().join("verify_host.c");
        compile_c(&src, &out);
        out
    })
}

/// The PATH of the test process without the stand-in `ar`: the real one.
fn real_path() -> std::ffi::OsString {
    let fx = fixtures();
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::env::split_paths(&path).filter(|d| d != &fx.bin)).unwrap()
}

/// `arshim ARGS… -- verify_host MODE lib.a one.o two.o` in `dir`, with the real
/// `ar`, a small host and the test's own verdict cache.
fn arshim_on_host(dir: &TestDir, args: &[&str], mode: &str) -> Command {
    let mut cmd = common::command(companion(), dir);
    cmd.env("PATH", real_path())
        .env("HOST_TOUCH_MIB", "64")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("ARSHIM_LIB", library())
        .args(args)
        .arg("--")
        .arg(host())
        .args([mode, "lib.a"])
        .args(&fixtures().objs);
    cmd
}

fn verify(dir: &TestDir, mode: &str) -> Outcome {
    let out = common::run(
        arshim_on_host(dir, &["verify"], mode),
        dir,
        &format!("verify-{mode}"),
    );
    // Whatever the verdict: a report, and verify's temp dir is gone.
    assert!(
        out.stdout.contains("arshim verify: "),
        "no report\n{}",
        out.describe()
    );
    let work = std::env::temp_dir().join(format!("arshim-verify-{}-0", out.pid));
    assert!(!work.exists(), "{} left behind", work.display());
    out
}

fn verdict_line(out: &Outcome) -> &str {
    out.stdout
        .lines()
        .find(|l| l.starts_with("verdict: "))
        .unwrap_or_else(|| panic!("no verdict line\n{}", out.describe()))
}

fn assert_verdict(out: &Outcome, label: &str, code: i32) {
    assert!(
        verdict_line(out).starts_with(&format!("verdict: {label} — ")),
        "expected {label}\n{}",
        out.describe()
    );
    out.assert_code(code);
}

/// `arshim verify` on the host in `mode`, in the test dir `name` (kept
/// while the caller goes on checking): the verdict is NOT SAFE (exit 1) and
/// the report says `says`.
fn verify_not_safe(name: &str, mode: &str, says: &str) -> (TestDir, Outcome) {
    let dir = TestDir::new(name);
    let out = verify(&dir, mode);
    assert_verdict(&out, "NOT SAFE", 1);
    assert!(out.stdout.contains(says), "{}", out.describe());
    (dir, out)
}

fn store(dir: &TestDir) -> PathBuf {
    dir.join("cache/arshim/verdicts.json")
}

#[test]
fn final_posix_spawnp_is_safe_and_the_archive_matches() {
    let dir = TestDir::new("verify-safe");
    let out = verify(&dir, "final");
    assert_verdict(&out, "SAFE", 0);
    for needle in [
        "archiver: `ar rcs lib.a ",
        "(posix_spawnp)",
        "after it: 1 deletion(s) only",
        "the second run converted at the spawn call",
        "same exit status in both runs: exit status 0",
        "the archive lib.a ",
        "peak: ",
        " unconverted, ",
        "× the unconverted run",
    ] {
        assert!(
            out.stdout.contains(needle),
            "{needle:?} missing\n{}",
            out.describe()
        );
    }
    let archive_line = out
        .stdout
        .lines()
        .find(|l| l.contains("the archive lib.a"))
        .unwrap();
    assert!(
        archive_line.contains("byte for byte the same")
            || archive_line.contains("same 2 member(s)"),
        "{archive_line}\n{}",
        out.describe()
    );
    common::assert_archive_ok(&dir.join("lib.a"), &out);
    // The help promises it: verify runs the command twice.
    assert!(out.stderr.contains("run 1 of 2") && out.stderr.contains("run 2 of 2"));
    let text = fs::read_to_string(store(&dir)).unwrap();
    assert!(text.contains("\"SAFE\""), "{text}");
}

#[test]
fn a_file_written_after_ar_is_not_safe() {
    let (_dir, out) = verify_not_safe(
        "verify-write",
        "write-after",
        "after ar exited, the process opened after.txt for writing",
    );
    assert!(
        !out.stderr.contains("run 2 of 2"),
        "a NOT SAFE command must not run a second time\n{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("arshim: verify: NOT SAFE: "),
        "{}",
        out.describe()
    );
}

#[test]
fn ranlib_after_ar_is_not_safe() {
    verify_not_safe(
        "verify-ranlib",
        "ranlib-after",
        "after ar exited, the process spawned `ranlib lib.a`",
    );
}

#[test]
fn printing_after_ar_is_not_safe_and_the_output_is_shown() {
    let (_dir, out) = verify_not_safe(
        "verify-print",
        "print-after",
        "after ar exited, the process wrote to stdout",
    );
    // The first run's output is copied through, before the report.
    let shown = out.stdout.find("host: archive written\n");
    let report = out.stdout.find("arshim verify: ");
    assert!(
        shown.is_some() && shown < report,
        "the host's output should precede the report\n{}",
        out.describe()
    );
}

#[test]
fn no_archiver_is_cannot_tell() {
    let dir = TestDir::new("verify-none");
    let out = verify(&dir, "no-archiver");
    assert_verdict(&out, "CANNOT TELL", 2);
    assert!(
        out.stdout.contains("no archiver spawn was seen"),
        "{}",
        out.describe()
    );
    assert!(!store(&dir).exists(), "CANNOT TELL is not remembered");
}

#[test]
fn final_fork_and_exec_is_safe() {
    let dir = TestDir::new("verify-fork");
    let out = verify(&dir, "fork");
    assert_verdict(&out, "SAFE", 0);
    assert!(out.stdout.contains("(fork)"), "{}", out.describe());
    assert!(
        out.stdout
            .contains("the second run converted at the wait, through the reaper"),
        "{}",
        out.describe()
    );
    common::assert_archive_ok(&dir.join("lib.a"), &out);
}

#[test]
fn verify_refuses_a_missing_command() {
    let dir = TestDir::new("verify-usage");
    for args in [
        &["verify"][..],
        &["verify", "--"],
        &["verify", "--tools", "ar", "--"],
    ] {
        let mut cmd = common::command(companion(), &dir);
        cmd.args(args);
        let out = common::run(cmd, &dir, "usage");
        out.assert_code(2);
        assert!(out.stderr.contains("<CMD>"), "{}", out.describe());
    }
    let mut cmd = common::command(companion(), &dir);
    cmd.args(["verify", "--", "arshim-no-such-command-xyz"]);
    let out = common::run(cmd, &dir, "missing");
    out.assert_code(2);
    assert!(
        out.stderr.contains("cannot run arshim-no-such-command-xyz"),
        "{}",
        out.describe()
    );
}

#[test]
fn verify_help_says_it_runs_the_command_twice() {
    let out = Command::new(companion())
        .args(["verify", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("RUNS CMD TWICE"), "{help}");
    assert!(help.contains("shown when it ends"), "{help}");
}

#[test]
fn not_safe_is_remembered_and_run_refuses() {
    let dir = TestDir::new("verify-remember");
    let out = verify(&dir, "write-after");
    assert_verdict(&out, "NOT SAFE", 1);
    let text = fs::read_to_string(store(&dir))
        .unwrap_or_else(|e| panic!("no verdict store: {e}\n{}", out.describe()));
    let canonical = fs::canonicalize(host()).unwrap();
    assert!(
        text.contains(&format!("\"{}\"", canonical.display())),
        "{text}"
    );
    assert!(
        text.contains("\"NOT SAFE\"") && text.contains("after.txt"),
        "{text}"
    );
    assert!(
        text.contains("build-id:"),
        "the host is linked with a build-id: {text}"
    );

    // `arshim run` refuses it, in one line naming the reason: run without
    // the library, the write after ar is done.
    fs::remove_file(dir.join("after.txt")).unwrap();
    let run = common::run(arshim_on_host(&dir, &["run"], "write-after"), &dir, "run");
    run.assert_code(0);
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("arshim"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", run.describe());
    assert!(
        lines[0].contains("NOT SAFE") && lines[0].contains("after.txt"),
        "{}",
        run.describe()
    );
    assert!(
        lines[0].ends_with("running it without the library (`--force` converts it anyway)"),
        "{}",
        run.describe()
    );
    assert!(
        dir.join("after.txt").exists(),
        "not converted: the write after ar is done\n{}",
        run.describe()
    );

    // `--force` converts it anyway, with a warning (which loses the write
    // after ar: the verdict was right).
    fs::remove_file(dir.join("after.txt")).unwrap();
    let run = common::run(
        arshim_on_host(&dir, &["run", "--force"], "write-after"),
        &dir,
        "forced",
    );
    run.assert_code(0);
    assert!(
        run.stderr.contains("converting it anyway (--force)"),
        "{}",
        run.describe()
    );
    assert!(
        !dir.join("after.txt").exists(),
        "converted: the write after ar is lost\n{}",
        run.describe()
    );
}

/// `arshim run --verified-only` on the stand-in `ar` (which records its pid).
fn run_verified_only(dir: &TestDir, label: &str) -> Outcome {
    let mut cmd = common::command(companion(), dir);
    cmd.env("HOST_TOUCH_MIB", "64")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("ARSHIM_LIB", library())
        .args(["run", "--verified-only", "--"])
        .arg(host())
        .args(["final", "lib.a"])
        .args(&fixtures().objs);
    common::run(cmd, dir, label)
}

#[test]
fn verified_only_runs_an_unverified_host_without_the_library() {
    let dir = TestDir::new("verify-only");
    let out = run_verified_only(&dir, "unverified");
    out.assert_code(0);
    let host_pid = common::host_pid(&dir, "host", &out);
    assert_eq!(host_pid, out.pid, "run execs the host in its own pid");
    let call = common::single_standin_call(&dir, &out);
    assert_ne!(
        call.pid,
        host_pid,
        "converted, but it was never verified\n{}",
        out.describe()
    );
    assert_eq!(call.ppid, host_pid, "{}", out.describe());
    let notes: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("arshim: "))
        .collect();
    assert_eq!(notes.len(), 1, "{}", out.describe());
    assert!(
        notes[0].contains("has never been verified")
            && notes[0].ends_with("running it without the library (--verified-only)"),
        "{}",
        out.describe()
    );
    common::assert_archive_ok(&dir.join("lib.a"), &out);

    // Once verified SAFE, the same command converts.
    let mut cmd = common::command(companion(), &dir);
    cmd.env("HOST_TOUCH_MIB", "64")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("ARSHIM_LIB", library())
        .env("HOST_PID_FILE", dir.join("verify-pids"))
        .env("STANDIN_RECORD", dir.join("verify-standin.log"))
        .args(["verify", "--"])
        .arg(host())
        .args(["final", "lib.a"])
        .args(&fixtures().objs);
    let verified = common::run(cmd, &dir, "verify");
    assert_verdict(&verified, "SAFE", 0);

    fs::remove_file(dir.join("pids")).unwrap();
    fs::remove_file(dir.join("standin.log")).unwrap();
    let out = run_verified_only(&dir, "verified");
    out.assert_code(0);
    let host_pid = common::host_pid(&dir, "host", &out);
    let call = common::single_standin_call(&dir, &out);
    assert_eq!(
        call.pid,
        host_pid,
        "a SAFE host converts\n{}",
        out.describe()
    );
    assert!(
        !out.stderr.lines().any(|l| l.starts_with("arshim: ")),
        "a SAFE host runs quietly\n{}",
        out.describe()
    );
}

#[test]
fn never_verified_is_noted_only_at_log_info() {
    let dir = TestDir::new("verify-note");
    let quiet = common::run(arshim_on_host(&dir, &["run"], "final"), &dir, "quiet");
    quiet.assert_code(0);
    assert!(
        !quiet.stderr.contains("never been verified"),
        "{}",
        quiet.describe()
    );
    let loud = common::run(
        arshim_on_host(&dir, &["run", "--log", "info"], "final"),
        &dir,
        "loud",
    );
    loud.assert_code(0);
    assert!(
        loud.stderr
            .lines()
            .any(|l| l.starts_with("arshim: note: ") && l.contains("has never been verified")),
        "{}",
        loud.describe()
    );
}
