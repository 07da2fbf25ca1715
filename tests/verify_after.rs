//! Integration tests of what `arshim verify` counts after the archiver
//! (docs/DESIGN.md, "verify: everything after the archiver counts"): execs
//! by the host or any of its descendants (vfork, fork, a grandchild, the
//! host's own exec), a second archiver, `on_exit` handlers, C++
//! `thread_local` destructors, and deletions made by the host's main code.
//!
//! Real hosts compiled at test time: tests/hosts/after_host.c (C),
//! tests/hosts/tls_host.cpp (g++), tests/hosts/after_host.py (python3).
//! Each is run without the library and with it (`arshim run`), and
//! verified; each test has its own XDG_CACHE_HOME.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{checked, companion, compile_c, find_python, fixtures, library, Outcome, TestDir};

fn c_host() -> &'static Path {
    static HOST: OnceLock<PathBuf> = OnceLock::new();
    HOST.get_or_init(|| {
        let out = fixtures().dir.join("after_host");
        compile_c(&common::hosts_src().join("after_host.c"), &out);
        out
    })
}

fn tls_host() -> &'static Path {
    static HOST: OnceLock<PathBuf> = OnceLock::new();
    HOST.get_or_init(|| {
        let out = fixtures().dir.join("tls_host");
        checked(
            Command::new("g++")
                .args(["-O1", "-Wall", "-Werror", "-o"])
                .arg(&out)
                .arg(common::hosts_src().join("tls_host.cpp")),
            "the C++ compiler `g++` (Debian: g++)",
        );
        out
    })
}

/// The PATH of the test process without the stand-in `ar`: the real one.
fn real_path() -> OsString {
    let fx = fixtures();
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::env::split_paths(&path).filter(|d| d != &fx.bin)).unwrap()
}

/// `after_host MODE lib.a one.o two.o`.
fn c_line(mode: &str) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![c_host().into(), mode.into(), "lib.a".into()];
    v.extend(fixtures().objs.iter().map(|o| o.clone().into_os_string()));
    v
}

/// `python3 after_host.py MODE lib.a one.o two.o` (the interpreter itself).
fn py_line(mode: &str) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![
        find_python().into(),
        common::hosts_src().join("after_host.py").into(),
        mode.into(),
        "lib.a".into(),
    ];
    v.extend(fixtures().objs.iter().map(|o| o.clone().into_os_string()));
    v
}

/// `tls_host lib.a one.o two.o`.
fn tls_line() -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![tls_host().into(), "lib.a".into()];
    v.extend(fixtures().objs.iter().map(|o| o.clone().into_os_string()));
    v
}

/// The command line without the library.
fn plain(dir: &TestDir, line: &[OsString], label: &str) -> Outcome {
    let mut cmd = common::command(&line[0], dir);
    cmd.env("PATH", real_path())
        .env("HOST_TOUCH_MIB", "8")
        .env("AFTER_HOST_TMP", host_tmp(dir))
        .args(&line[1..]);
    common::run(cmd, dir, label)
}

/// `arshim ARGS… -- LINE` with the real `ar` and the test's own store.
fn arshim(dir: &TestDir, args: &[&str], line: &[OsString], label: &str) -> Outcome {
    let mut cmd = common::command(companion(), dir);
    cmd.env("PATH", real_path())
        .env("HOST_TOUCH_MIB", "8")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("ARSHIM_LIB", library())
        .env("AFTER_HOST_TMP", host_tmp(dir))
        .args(args)
        .arg("--")
        .args(line.iter().map(OsString::as_os_str));
    common::run_timed(cmd, dir, label, std::time::Duration::from_secs(120)).outcome_lossy()
}

/// `arshim run --trace T -- LINE`: the run and what the library did with
/// the archiver (`convert`, `handoff`, or `fallback: REASON`).
fn run_traced(dir: &TestDir, extra: &[&str], line: &[OsString], label: &str) -> (Outcome, String) {
    let trace = dir.join(format!("{label}.trace"));
    let trace_arg = trace.to_string_lossy().into_owned();
    let mut args = vec!["run", "--trace", &trace_arg];
    args.extend(extra);
    let out = arshim(dir, &args, line, label);
    (out, common::what_the_library_did(&trace))
}

fn verdict_line(out: &Outcome) -> &str {
    out.stdout
        .lines()
        .find(|l| l.starts_with("verdict: "))
        .unwrap_or_else(|| panic!("no verdict line\n{}", out.describe()))
}

/// `arshim verify -- LINE`: the verdict is `label` and the report says each of `says`.
fn verify(dir: &TestDir, line: &[OsString], label: &str, says: &[&str]) -> Outcome {
    let out = arshim(dir, &["verify"], line, "verify");
    assert!(
        verdict_line(&out).starts_with(&format!("verdict: {label} — ")),
        "expected {label}\n{}",
        out.describe()
    );
    for s in says {
        assert!(out.stdout.contains(s), "{s:?} missing\n{}", out.describe());
    }
    out
}

/// Removes what a run of the host leaves in `dir`, so the next run starts as it did.
fn clean(dir: &TestDir) {
    for f in ["lib.a", "second.a", "installed.a", "on_exit.txt", "tls.txt"] {
        let _ = fs::remove_file(dir.join(f));
    }
}

fn exists(dir: &TestDir, f: &str) -> bool {
    dir.join(f).exists()
}

/// The user's view of a run: status, the files it may make, its output.
fn seen(dir: &TestDir, out: &Outcome) -> (Option<i32>, Vec<(&'static str, bool)>, String, String) {
    let files = ["lib.a", "second.a", "installed.a", "on_exit.txt", "tls.txt"]
        .into_iter()
        .map(|f| (f, exists(dir, f)))
        .collect();
    (out.code(), files, out.stdout.clone(), out.stderr.clone())
}

/// A host NOT SAFE for a reason: without the library it makes `made`; verify
/// says NOT SAFE with `says`; afterwards `arshim run` (which heeds the
/// stored verdict, or with `--verified-only` for a script host) leaves the
/// same as the run without the library.
fn not_safe_and_then_run_unconverted(name: &str, line: &[OsString], made: &str, says: &[&str]) {
    let dir = TestDir::new(name);
    let base = plain(&dir, line, "plain");
    base.assert_code(0);
    assert!(exists(&dir, made), "{made} not made\n{}", base.describe());
    let want = seen(&dir, &base);
    clean(&dir);

    let out = verify(&dir, line, "NOT SAFE", says);
    out.assert_code(1);
    clean(&dir);

    let (run, what) = run_traced(&dir, &["--verified-only"], line, "run");
    assert!(
        !what.starts_with("convert") && what != "handoff",
        "{what}\n{}",
        run.describe()
    );
    let got = seen(&dir, &run);
    assert_eq!((got.0, &got.1), (want.0, &want.1), "{}", run.describe());
}

// ---------------------------------------------------------------------------
// Execs after the archiver, whoever makes them

/// C: `vfork()` + `execvp("cp", lib.a, installed.a)` after ar (was SAFE:
/// spawns after the archiver were watched for `fork` only).
#[test]
fn a_vforked_cp_after_ar_is_not_safe() {
    let line = c_line("vfork-cp");
    not_safe_and_then_run_unconverted(
        "after-vfork",
        &line,
        "installed.a",
        &["after ar exited, the process ran `cp lib.a installed.a` (execvp"],
    );
    // What the SAFE verdict cost: converted, installed.a is lost.
    let dir = TestDir::new("after-vfork-lost");
    let (run, what) = run_traced(&dir, &[], &line, "converted");
    assert!(what == "convert", "{what}\n{}", run.describe());
    run.assert_code(0);
    assert!(!exists(&dir, "installed.a"), "{}", run.describe());
}

/// Python: `subprocess.run(["cp", …])` after ar (vfork + execve).
#[test]
fn a_python_subprocess_cp_after_ar_is_not_safe() {
    not_safe_and_then_run_unconverted(
        "after-py-cp",
        &py_line("cp"),
        "installed.a",
        &["after ar exited, the process ran `cp lib.a installed.a`"],
    );
}

/// A helper forked before ar forks and execs `cp` after it: an exec by a
/// grandchild of the host.
#[test]
fn a_grandchilds_exec_after_ar_is_not_safe() {
    not_safe_and_then_run_unconverted(
        "after-grandchild",
        &c_line("grandchild"),
        "installed.a",
        &["after ar exited, the process ran `cp lib.a installed.a` (execvp by pid "],
    );
}

/// The helper forked before ar starts `cp` after it with posix_spawnp,
/// system() or popen(), which exec inside the C library.
#[test]
fn a_helpers_spawn_system_or_popen_after_ar_is_not_safe() {
    for (how, says) in [
        ("spawn", "ran `cp lib.a installed.a` (posix_spawnp by pid "),
        (
            "system",
            "ran `sh -c cp 'lib.a' installed.a` (system by pid ",
        ),
        ("popen", "ran `sh -c cp 'lib.a' installed.a` (popen by pid "),
    ] {
        not_safe_and_then_run_unconverted(
            &format!("after-helper-{how}"),
            &c_line(&format!("helper-{how}")),
            "installed.a",
            &[&format!("after ar exited, the process {says}")],
        );
    }
}

/// The host execs `cp` in its own pid after ar.
#[test]
fn the_hosts_own_exec_after_ar_is_not_safe() {
    not_safe_and_then_run_unconverted(
        "after-self-exec",
        &c_line("self-exec"),
        "installed.a",
        &["after ar exited, the process exec'd `cp lib.a installed.a` in its own pid"],
    );
}

/// 80 execs before the host looks (it waits only after the last): more than
/// the record holds; verify says how many it missed, first.
#[test]
fn execs_the_record_could_not_keep_are_counted() {
    let dir = TestDir::new("after-many");
    let out = verify(
        &dir,
        &c_line("many"),
        "NOT SAFE",
        &[
            "after ar exited, the process made execs that were not recorded: 16 exec(s) after \
           the archiver were not recorded (the record holds 64 between two looks)",
        ],
    );
    out.assert_code(1);
    assert!(
        out.stdout
            .contains("the process ran `true` (execvp by pid "),
        "{}",
        out.describe()
    );
}

// ---------------------------------------------------------------------------
// A second archiver

#[test]
fn a_second_archiver_spawn_is_not_safe() {
    for (name, line) in [
        ("after-twice-spawn", c_line("ar-twice")),
        ("after-twice-vfork", c_line("ar-twice-vfork")),
        ("after-twice-fork", c_line("ar-twice-fork")),
        ("after-twice-py", py_line("twice")),
    ] {
        not_safe_and_then_run_unconverted(
            name,
            &line,
            "second.a",
            &["spawned the archiver again: `ar rcs second.a "],
        );
    }
}

// ---------------------------------------------------------------------------
// on_exit handlers

/// A host with an `on_exit` handler: the conversion would not run it, so
/// the library does not convert (the reason in the trace), and verify says
/// NOT SAFE with that reason.
#[test]
fn an_on_exit_handler_is_not_converted_and_not_safe() {
    let dir = TestDir::new("after-on-exit");
    let line = c_line("on-exit");
    let base = plain(&dir, &line, "plain");
    base.assert_code(0);
    assert!(exists(&dir, "on_exit.txt"), "{}", base.describe());
    let want = seen(&dir, &base);
    clean(&dir);

    let (run, what) = run_traced(&dir, &[], &line, "run");
    assert!(
        what.starts_with("fallback: ") && what.contains("on_exit"),
        "{what}\n{}",
        run.describe()
    );
    assert_eq!(seen(&dir, &run), want, "{}", run.describe());
    clean(&dir);

    let out = verify(
        &dir,
        &line,
        "NOT SAFE",
        &["registered an on_exit handler, which a conversion does not run"],
    );
    out.assert_code(1);
}

// ---------------------------------------------------------------------------
// C++ thread_local destructors

/// `exit` runs the exiting thread's `thread_local` destructors before the
/// atexit handlers; the conversion runs them too: the converted run equals
/// the unconverted one, and verify says SAFE.
#[test]
fn thread_local_destructors_run_in_a_conversion() {
    let dir = TestDir::new("after-tls");
    let line = tls_line();
    let base = plain(&dir, &line, "plain");
    base.assert_code(0);
    assert!(exists(&dir, "tls.txt"), "{}", base.describe());
    let want = seen(&dir, &base);
    let want_archive = fs::read(dir.join("lib.a")).unwrap();
    clean(&dir);

    let (run, what) = run_traced(&dir, &[], &line, "run");
    assert_eq!(what, "convert", "{}", run.describe());
    assert_eq!(seen(&dir, &run), want, "{}", run.describe());
    assert_eq!(fs::read(dir.join("lib.a")).unwrap(), want_archive);
    assert_eq!(
        fs::read_to_string(dir.join("tls.txt")).unwrap(),
        "thread_local destructor ran\n"
    );
    clean(&dir);

    verify(&dir, &line, "SAFE", &["the second run converted"]).assert_code(0);
}

// ---------------------------------------------------------------------------
// Deletions

/// Deletions by the host's main code after ar are never made by a
/// conversion: NOT SAFE naming them; converted anyway, the temp dir stays.
#[test]
fn deletions_in_main_after_ar_are_not_safe() {
    let dir = TestDir::new("after-delete-main");
    let line = c_line("delete-main");
    let before = temp_dirs(&dir);
    let base = plain(&dir, &line, "plain");
    base.assert_code(0);
    assert_eq!(temp_dirs(&dir), before, "{}", base.describe());
    clean(&dir);

    let (run, what) = run_traced(&dir, &["--force"], &line, "forced");
    assert_eq!(what, "convert", "{}", run.describe());
    let left: Vec<PathBuf> = temp_dirs(&dir).difference(&before).cloned().collect();
    assert_eq!(left.len(), 1, "converted, the temp dir is left: {left:?}");
    for d in &left {
        let _ = fs::remove_dir_all(d);
    }
    clean(&dir);

    let out = verify(
        &dir,
        &line,
        "NOT SAFE",
        &["after ar exited, the process deleted "],
    );
    out.assert_code(1);
    assert_eq!(temp_dirs(&dir), before, "{}", out.describe());
}

/// The same deletions made by an atexit handler are kept by a conversion
/// (it runs the handlers): SAFE, and the converted run leaves nothing.
#[test]
fn deletions_in_exit_handlers_stay_safe() {
    let dir = TestDir::new("after-delete-exit");
    let line = c_line("delete-exit");
    let before = temp_dirs(&dir);
    let out = verify(&dir, &line, "SAFE", &["after it: 2 deletion(s) only"]);
    out.assert_code(0);
    clean(&dir);
    let (run, what) = run_traced(&dir, &[], &line, "run");
    assert_eq!(what, "convert", "{}", run.describe());
    run.assert_code(0);
    assert_eq!(temp_dirs(&dir), before, "{}", run.describe());
}

/// Where the C host makes its temp dir (`AFTER_HOST_TMP`).
fn host_tmp(dir: &TestDir) -> PathBuf {
    let tmp = dir.join("tmp");
    fs::create_dir_all(&tmp).unwrap();
    tmp
}

/// The host's temp dirs (`after_host.*`) that exist now.
fn temp_dirs(dir: &TestDir) -> std::collections::BTreeSet<PathBuf> {
    fs::read_dir(host_tmp(dir))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("after_host."))
        .map(|e| e.path())
        .collect()
}
