//! Integration tests of `arshim verify` on the files a host writes
//! (docs/DESIGN.md, "verify: files the host writes"): every file the run
//! leaves is compared at the end of both runs, whoever wrote it and however
//! (stdio, another thread, an exit handler, a spawn's file action), and both
//! runs start from the files as they were before `verify`.
//!
//! Real hosts: the C host tests/hosts/files_host.c and the Python host
//! tests/hosts/files_host.py, the real `ar`. Each attack is first shown on
//! the host itself, without and with the library (`arshim run --force`),
//! then verified.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{companion, compile_c_with, find_python, fixtures, library, Outcome, TestDir};

fn c_host() -> &'static Path {
    static HOST: OnceLock<PathBuf> = OnceLock::new();
    HOST.get_or_init(|| {
        let out = fixtures().dir.join("files_host");
        compile_c_with(
            &common::hosts_src().join("files_host.c"),
            &out,
            &["-pthread"],
        );
        out
    })
}

/// `files_host MODE lib.a one.o two.o`, or the Python host with `python`.
fn host_line(python: bool, mode: &str) -> Vec<OsString> {
    let mut v: Vec<OsString> = if python {
        vec![
            find_python().into(),
            common::hosts_src().join("files_host.py").into(),
        ]
    } else {
        vec![c_host().into()]
    };
    v.extend([mode.into(), "lib.a".into()]);
    v.extend(fixtures().objs.iter().map(|o| o.clone().into_os_string()));
    v
}

/// The PATH of the test process without the stand-in `ar`: the real one.
fn real_path() -> OsString {
    let fx = fixtures();
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::env::split_paths(&path).filter(|d| d != &fx.bin)).unwrap()
}

/// `arshim ARGS… -- CMD…` in `dir`, with the real `ar` and the test's own store.
fn arshim(dir: &TestDir, args: &[&str], line: &[OsString]) -> Command {
    let mut cmd = common::command(companion(), dir);
    cmd.env("PATH", real_path())
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("ARSHIM_LIB", library())
        .args(args)
        .arg("--")
        .args(line);
    cmd
}

/// The host alone, without the library.
fn plain(dir: &TestDir, line: &[OsString]) -> Outcome {
    let mut cmd = common::command(&line[0], dir);
    cmd.env("PATH", real_path()).args(&line[1..]);
    common::run(cmd, dir, "plain")
}

/// The host converted, as `arshim run --force` does it.
fn converted(dir: &TestDir, line: &[OsString]) -> Outcome {
    common::run(arshim(dir, &["run", "--force"], line), dir, "converted")
}

fn verify(dir: &TestDir, line: &[OsString]) -> Outcome {
    let out = common::run_timed(
        arshim(dir, &["verify"], line),
        dir,
        "verify",
        std::time::Duration::from_secs(180),
    )
    .outcome_lossy();
    let work = std::env::temp_dir().join(format!("arshim-verify-{}-0", out.pid));
    assert!(!work.exists(), "{} left behind", work.display());
    out
}

fn assert_verdict(out: &Outcome, label: &str, code: i32) {
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("verdict: "))
        .unwrap_or_else(|| panic!("no verdict line\n{}", out.describe()));
    assert!(
        line.starts_with(&format!("verdict: {label} — ")),
        "expected {label}\n{}",
        out.describe()
    );
    out.assert_code(code);
}

fn lines(path: &Path) -> usize {
    fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// Runs the host in `mode` without and with the library, each in a dir of
/// its own: what `file` holds after each (the attack, shown).
fn without_and_with(name: &str, python: bool, mode: &str, file: &str) -> (String, String) {
    let line = host_line(python, mode);
    let a = TestDir::new(&format!("{name}-plain"));
    plain(&a, &line).assert_code(0);
    let b = TestDir::new(&format!("{name}-conv"));
    let run = converted(&b, &line);
    run.assert_code(0);
    assert_eq!(
        common::ar_members(&a.join("lib.a")),
        common::ar_members(&b.join("lib.a"))
    );
    (
        fs::read_to_string(a.join(file)).unwrap_or_default(),
        fs::read_to_string(b.join(file)).unwrap_or_default(),
    )
}

/// A map written by fprintf after ar ended, closed before exit: no hook
/// sees the writes and the file is no longer open at exit.
#[test]
fn a_map_written_through_stdio_after_ar_is_not_safe() {
    let (without, with) = without_and_with("files-map", false, "map-after", "map.txt");
    assert_eq!(without.lines().count(), 300);
    assert_eq!(with.lines().count(), 0, "the conversion loses the map");

    let dir = TestDir::new("files-map-verify");
    let out = verify(&dir, &host_line(false, "map-after"));
    assert_verdict(&out, "NOT SAFE", 1);
    assert!(
        out.stdout
            .contains("map.txt: 300 lines without the library, 0 with it"),
        "{}",
        out.describe()
    );
    assert_eq!(
        lines(&dir.join("map.txt")),
        300,
        "left as a plain run leaves it"
    );
}

/// Another thread writes the map after ar started: converted, the exec ends
/// the thread half-way, whatever the timing.
#[test]
fn a_thread_writing_its_map_after_ar_is_not_safe() {
    let (without, with) = without_and_with("files-thread", false, "thread-map", "map.txt");
    assert_eq!(without.lines().count(), 300);
    assert!(with.lines().count() < 300, "{}", with.lines().count());

    let dir = TestDir::new("files-thread-verify");
    let out = verify(&dir, &host_line(false, "thread-map"));
    assert_verdict(&out, "NOT SAFE", 1);
    assert!(
        out.stdout
            .contains("map.txt: 300 lines without the library, "),
        "{}",
        out.describe()
    );
    assert_eq!(lines(&dir.join("map.txt")), 300);
}

/// The same in Python: a `threading.Thread` writes the second half of the
/// map once `subprocess.Popen(...).wait()` returned; converted at that wait,
/// the thread never writes it.
#[test]
fn a_python_thread_writing_its_map_after_ar_is_not_safe() {
    let (without, with) = without_and_with("files-pythread", true, "thread-map", "map.txt");
    assert_eq!(without.lines().count(), 300);
    assert!(with.lines().count() < 300, "{}", with.lines().count());

    let dir = TestDir::new("files-pythread-verify");
    let out = verify(&dir, &host_line(true, "thread-map"));
    assert_verdict(&out, "NOT SAFE", 1);
    assert!(out.stdout.contains("map.txt"), "{}", out.describe());
    assert_eq!(lines(&dir.join("map.txt")), 300);
}

/// A log holding the host's pid differs between any two runs: a third,
/// unconverted run shows it is not the conversion's doing, and the verdict
/// stays SAFE.
#[test]
fn a_log_with_a_pid_is_not_a_difference_of_the_conversion() {
    let (without, with) = without_and_with("files-pid", false, "pid-log", "link.log");
    assert!(without.starts_with("linked by ") && with.starts_with("linked by "));

    let dir = TestDir::new("files-pid-verify");
    let out = verify(&dir, &host_line(false, "pid-log"));
    assert_verdict(&out, "SAFE", 0);
    assert!(
        out.stdout
            .contains("link.log differs between two runs without the library too"),
        "{}",
        out.describe()
    );
    assert!(out.stderr.contains("run 3: "), "{}", out.describe());
    assert_eq!(lines(&dir.join("link.log")), 1);
}

/// The demo linker (examples/demo-linker.c) copies its objects into OUT/obj
/// and prints a line at exit: the same in both runs, SAFE.
#[test]
fn the_demo_linker_stays_safe() {
    let demo = fixtures().dir.join("demo-linker");
    let src = common::repo_root().join("examples/demo-linker.c");
    common::compile_c(&src, &demo);
    let dir = TestDir::new("files-demo");
    let mut line: Vec<OsString> = vec![demo.into(), "-m".into(), "16".into()];
    line.extend(["-o".into(), "out/libdemo.a".into()]);
    line.extend(fixtures().objs.iter().map(|o| o.clone().into_os_string()));
    fs::create_dir(dir.join("out")).unwrap();
    let out = verify(&dir, &line);
    assert_verdict(&out, "SAFE", 0);
    assert!(
        out.stdout
            .contains("the file(s) the command wrote are the same after both runs: out/obj/"),
        "{}",
        out.describe()
    );
    common::assert_archive_ok(&dir.join("out/libdemo.a"), &out);
}

/// Directories named with the next `40 × levels` pids the kernel will
/// give: a build tree such as `build-9547/` whose number is, by chance,
/// the pid of a process of one run.
fn named_by_the_next_pids(root: &Path, levels: u64) -> PathBuf {
    let read = |f: &str| -> u64 {
        let text = fs::read_to_string(format!("/proc/sys/kernel/{f}")).unwrap();
        text.trim().parse().unwrap()
    };
    let (last, max) = (read("ns_last_pid"), read("pid_max"));
    // After pid_max the kernel starts again at 300 (kernel/pid.c).
    let pid = |n: u64| {
        if n < max {
            n
        } else {
            300 + (n - max) % (max - 300)
        }
    };
    let mut path = root.to_path_buf();
    let mut n = last + 1;
    for _ in 0..levels {
        let numbers: Vec<String> = (n..n + 40).map(|k| pid(k).to_string()).collect();
        path.push(numbers.join("-"));
        n += 40;
    }
    fs::create_dir_all(&path).unwrap();
    path
}

/// The objects and the working directory are in directories named with
/// the pids the runs are about to get: a file is one file by its name,
/// whatever pids a run had, and the verdict is SAFE.
#[test]
fn inputs_whose_paths_hold_the_runs_pids_are_the_same_files() {
    let demo = fixtures().dir.join("demo-linker");
    common::compile_c(&common::repo_root().join("examples/demo-linker.c"), &demo);
    let dir = TestDir::new("files-pid-paths");
    let objs = named_by_the_next_pids(&dir.join("objs"), 8);
    // The library records a temporary's path up to 1 KiB: two levels.
    let cwd = named_by_the_next_pids(&dir.join("cwd"), 2);
    let mut line: Vec<OsString> = vec![demo.into(), "-m".into(), "16".into()];
    line.extend(["-o".into(), "out/libdemo.a".into()]);
    for (obj, name) in fixtures().objs.iter().zip(["one.o", "two.o"]) {
        fs::copy(obj, objs.join(name)).unwrap();
        line.push(objs.join(name).into_os_string());
    }
    fs::create_dir(cwd.join("out")).unwrap();
    let mut cmd = arshim(&dir, &["verify"], &line);
    cmd.current_dir(&cwd);
    let out =
        common::run_timed(cmd, &dir, "verify", std::time::Duration::from_secs(180)).outcome_lossy();
    assert_verdict(&out, "SAFE", 0);
    common::assert_archive_ok(&cwd.join("out/libdemo.a"), &out);
    for name in ["one.o", "two.o"] {
        assert!(objs.join(name).exists(), "{name} left in place");
    }
}

/// ar's output goes to build.log through a file action that truncates it;
/// an atexit handler appends "done". Converted, the handler runs first and
/// the replayed truncation loses its line.
#[test]
fn a_cleanup_line_truncated_by_a_file_action_is_not_safe() {
    let (without, with) = without_and_with("files-trunc", false, "log-trunc", "build.log");
    assert!(
        without.starts_with("a - ") && without.ends_with("done\n"),
        "{without}"
    );
    assert!(with.starts_with("a - ") && !with.contains("done"), "{with}");

    let dir = TestDir::new("files-trunc-verify");
    let out = verify(&dir, &host_line(false, "log-trunc"));
    assert_verdict(&out, "NOT SAFE", 1);
    assert!(
        out.stdout
            .contains("build.log: 3 lines without the library, 2 with it"),
        "{}",
        out.describe()
    );
    assert_eq!(fs::read_to_string(dir.join("build.log")).unwrap(), without);
}

/// The same with the log outside the command's directory (nothing verify
/// puts back): the trace names it (the spawn's file action truncates it),
/// so it is compared.
#[test]
fn a_truncated_log_outside_the_directory_is_compared_too() {
    let dir = TestDir::new("files-trunc-out");
    let log = dir.path.with_extension("log");
    let _ = fs::remove_file(&log);
    let mut cmd = arshim(&dir, &["verify"], &host_line(false, "log-trunc"));
    cmd.env("BUILD_LOG", &log);
    let out = common::run(cmd, &dir, "verify");
    let text = fs::read_to_string(&log).unwrap_or_default();
    fs::remove_file(&log).unwrap();
    assert_verdict(&out, "NOT SAFE", 1);
    let says = format!("{}: 3 lines without the library, 2 with it", log.display());
    assert!(out.stdout.contains(&says), "{says}\n{}", out.describe());
    assert!(text.ends_with("done\n"), "{text}");
}

/// A log the host appends to before ar: both runs start from the log as it
/// was, so it is the same in both (SAFE), and `verify` leaves it as one
/// unconverted run would have: one line more, not two.
fn an_append_log_is_put_back_between_the_runs(python: bool, name: &str) {
    let dir = TestDir::new(name);
    fs::write(dir.join("build.log"), "earlier build\n").unwrap();
    let out = verify(&dir, &host_line(python, "append-log"));
    assert_verdict(&out, "SAFE", 0);
    assert_eq!(
        fs::read_to_string(dir.join("build.log")).unwrap(),
        "earlier build\nlinking lib.a\n",
        "{}",
        out.describe()
    );
    common::assert_archive_ok(&dir.join("lib.a"), &out);
}

#[test]
fn an_append_log_is_put_back_between_the_runs_c() {
    an_append_log_is_put_back_between_the_runs(false, "files-append-c");
}

#[test]
fn an_append_log_is_put_back_between_the_runs_python() {
    an_append_log_is_put_back_between_the_runs(true, "files-append-py");
}
