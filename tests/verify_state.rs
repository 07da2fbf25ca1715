//! `arshim verify` runs the command twice from the same state: the same
//! stdin bytes, and without the first run's archive (docs/DESIGN.md,
//! "verify: two runs from the same state"). Each test runs the host
//! without the shim and under `verify` with the same stdin, and compares
//! what a user sees: exit status, ar's own lines, the archive's members and
//! contents, and the files left (nothing hidden, verify's work dir gone).
//!
//! Before this, on the same hosts: the object list read from stdin was NOT
//! SAFE (run 2 read /dev/null: exit 2), `ar -M` fed by stdin was SAFE with
//! "not compared: no archive operand", and ldc2 compiling stdin was NOT SAFE
//! (the second `ar r` appended to the first run's archive; members named
//! after the pid).

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{companion, compile_c, fixtures, library, Outcome, TestDir};

/// tests/hosts/stdin_host.c, compiled once per test binary.
fn stdin_host() -> &'static Path {
    static HOST: OnceLock<PathBuf> = OnceLock::new();
    HOST.get_or_init(|| {
        let out = fixtures().dir.join("stdin_host");
        compile_c(&common::hosts_src().join("stdin_host.c"), &out);
        out
    })
}

/// PATH without the stand-in `ar` (the real one), after `first` if given.
fn path(first: Option<&Path>) -> std::ffi::OsString {
    let fx = fixtures();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).filter(|d| d != &fx.bin);
    std::env::join_paths(first.map(Path::to_path_buf).into_iter().chain(dirs)).unwrap()
}

/// A test dir with one.o and two.o in it and `input` as the file `stdin`.
fn dir_with(name: &str, input: &[u8]) -> TestDir {
    let dir = TestDir::new(name);
    for obj in &fixtures().objs {
        fs::copy(obj, dir.join(obj.file_name().unwrap())).unwrap();
    }
    fs::write(dir.join("stdin"), input).unwrap();
    dir
}

/// `CMD < stdin` in `dir` (through sh, which execs it: same pid), with or
/// without `arshim verify` in front, the real `ar` and the test's own
/// verdict cache.
fn command(dir: &TestDir, verify: bool, cmd: &[&str], first_on_path: Option<&Path>) -> Command {
    let mut c = common::command("sh", dir);
    c.env("PATH", path(first_on_path))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("ARSHIM_LIB", library())
        .args(["-c", "exec \"$@\" < stdin", "sh"]);
    if verify {
        c.arg(companion()).args(["verify", "--"]);
    }
    c.args(cmd);
    c
}

fn members(archive: &Path) -> Vec<(String, Vec<u8>)> {
    let list = common::ar_members(archive);
    list.into_iter()
        .map(|m| {
            let bytes =
                common::checked(Command::new("ar").arg("p").arg(archive).arg(&m), "ar p").stdout;
            (m, bytes)
        })
        .collect()
}

fn assert_safe(out: &Outcome) {
    assert!(
        out.stdout.contains("verdict: SAFE — "),
        "expected SAFE\n{}",
        out.describe()
    );
    out.assert_code(0);
}

/// Nothing hidden by verify left in `dir`, and verify's work dir gone.
fn assert_nothing_left(dir: &TestDir, out: &Outcome) {
    for entry in fs::read_dir(&dir.path).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            !name.to_string_lossy().contains(".arshim-verify-"),
            "{name:?} left\n{}",
            out.describe()
        );
    }
    let work = std::env::temp_dir().join(format!("arshim-verify-{}-0", out.pid));
    assert!(!work.exists(), "{} left behind", work.display());
}

/// Runs `cmd < input` plainly and under verify in two dirs; both succeed,
/// verify says SAFE, and the archive `archive` is the same in both.
fn plain_and_verified(name: &str, input: &[u8], cmd: &[&str], archive: &str) -> Outcome {
    let plain_dir = dir_with(&format!("{name}-plain"), input);
    let plain = common::run(command(&plain_dir, false, cmd, None), &plain_dir, "plain");
    plain.assert_code(0);
    let dir = dir_with(name, input);
    let out = common::run(command(&dir, true, cmd, None), &dir, "verify");
    assert_safe(&out);
    // The first run's output is shown: the archiver's own lines.
    for line in plain.stdout.lines() {
        assert!(out.stdout.contains(line), "{line:?}\n{}", out.describe());
    }
    assert_eq!(
        members(&dir.join(archive)),
        members(&plain_dir.join(archive)),
        "{}",
        out.describe()
    );
    assert_nothing_left(&dir, &out);
    out
}

#[test]
fn an_object_list_on_stdin_is_fed_to_both_runs() {
    let host = stdin_host().to_str().unwrap();
    let out = plain_and_verified(
        "verify-stdin-list",
        b"one.o two.o\n",
        &[host, "list", "lib.a"],
        "lib.a",
    );
    assert!(
        out.stdout.contains("a - one.o") && out.stdout.contains("the archive lib.a "),
        "{}",
        out.describe()
    );
}

#[test]
fn an_mri_script_on_stdin_names_the_archive_compared() {
    let host = stdin_host().to_str().unwrap();
    let script = b"CREATE libm.a\nADDMOD one.o\nADDMOD two.o\nSAVE\nEND\n";
    let out = plain_and_verified("verify-stdin-mri", script, &[host, "mri"], "libm.a");
    for needle in ["the second run converted", "the archive libm.a "] {
        assert!(out.stdout.contains(needle), "{needle}\n{}", out.describe());
    }
    assert!(!out.stdout.contains("not compared"), "{}", out.describe());
}

#[test]
fn ldc2_compiling_stdin_is_safe_with_pid_named_members() {
    common::find_on_path("ldc2").expect("ldc2 is not installed (.ci/run installs ldc)");
    let source = b"module foo; int twice(int x) { return 2 * x; }\n";
    let dir = dir_with("verify-stdin-ldc2", source);
    let cmd = ["ldc2", "-lib", "-", "-of=libs.a", "--ar=ar"];
    let plain_dir = dir_with("verify-stdin-ldc2-plain", source);
    let plain = common::run(command(&plain_dir, false, &cmd, None), &plain_dir, "plain");
    plain.assert_code(0);
    let out = common::run(command(&dir, true, &cmd, None), &dir, "verify");
    assert_safe(&out);
    assert!(
        out.stdout.contains("named after each run's pid"),
        "{}",
        out.describe()
    );
    // One member, not the first run's and the second's appended.
    let (ours, theirs) = (
        members(&dir.join("libs.a")),
        members(&plain_dir.join("libs.a")),
    );
    assert_eq!(ours.len(), 1, "{ours:?}\n{}", out.describe());
    assert_eq!(ours[0].1, theirs[0].1, "member contents");
    assert!(ours[0].0.starts_with("__stdin_") && theirs[0].0.starts_with("__stdin_"));
    assert_nothing_left(&dir, &out);
}

/// A second verify finds the first one's archive: ldc2 (`ar r`) adds to it
/// in the first run, while the converted run starts without it. A third,
/// observed run from that state is compared instead: SAFE, and the user
/// keeps the first run's archive (the earlier member and the new one), as
/// two plain runs leave it.
#[test]
fn ldc2_adding_to_an_earlier_archive_is_compared_from_the_same_state() {
    common::find_on_path("ldc2").expect("ldc2 is not installed (.ci/run installs ldc)");
    let source = b"module foo; int twice(int x) { return 2 * x; }\n";
    let cmd = ["ldc2", "-lib", "-", "-of=libs.a", "--ar=ar"];
    let plain_dir = dir_with("verify-again-ldc2-plain", source);
    for label in ["plain-1", "plain-2"] {
        let plain = common::run(command(&plain_dir, false, &cmd, None), &plain_dir, label);
        plain.assert_code(0);
    }
    let dir = dir_with("verify-again-ldc2", source);
    let first = common::run(command(&dir, true, &cmd, None), &dir, "verify-1");
    assert_safe(&first);
    let out = common::run(command(&dir, true, &cmd, None), &dir, "verify-2");
    assert_safe(&out);
    assert!(
        out.stdout.contains("a third, observed run") && out.stderr.contains("run 3"),
        "{}",
        out.describe()
    );
    let (ours, theirs) = (
        members(&dir.join("libs.a")),
        members(&plain_dir.join("libs.a")),
    );
    assert_eq!(ours.len(), 2, "{ours:?}\n{}", out.describe());
    assert_eq!(theirs.len(), 2, "{theirs:?}");
    assert_nothing_left(&dir, &out);
}

/// NOT SAFE: the user keeps the unconverted run's archive, not the one the
/// converted run made (an exit handler changed the input before ar ran).
#[test]
fn not_safe_leaves_the_unconverted_archive() {
    let host = stdin_host().to_str().unwrap();
    let cmd = [host, "touch-after", "lib.a", "one.o"];
    let plain_dir = dir_with("verify-touch-plain", b"");
    let plain = common::run(command(&plain_dir, false, &cmd, None), &plain_dir, "plain");
    plain.assert_code(0);
    let dir = dir_with("verify-touch", b"");
    let out = common::run(command(&dir, true, &cmd, None), &dir, "verify");
    assert!(
        out.stdout.contains("verdict: NOT SAFE — ")
            && out.stdout.contains("member one.o differs")
            && out
                .stdout
                .contains("the archive is the unconverted run's again"),
        "{}",
        out.describe()
    );
    out.assert_code(1);
    assert_eq!(
        members(&dir.join("lib.a")),
        members(&plain_dir.join("lib.a")),
        "{}",
        out.describe()
    );
    assert_nothing_left(&dir, &out);
}

/// A SIGTERM to verify while the first run's archive is aside waits for the
/// second run to end: the archive is there, nothing hidden is left.
#[test]
fn a_signal_during_the_second_run_leaves_the_archive() {
    let dir = dir_with("verify-stdin-signal", b"one.o two.o\n");
    let bin = dir.join("slow-bin");
    fs::create_dir_all(&bin).unwrap();
    let slow_ar = bin.join("ar");
    // Outside the command's directory: verify puts back what a run writes
    // there (docs/DESIGN.md, "verify: files the host writes").
    let sigblk = dir.path.with_extension("sigblk");
    let _ = fs::remove_file(&sigblk);
    let script = format!(
        // Read by the shell itself: no child, whose fork makes dash block
        // every signal for a moment.
        "#!/bin/sh\nwhile read -r k v; do [ \"$k\" = SigBlk: ] && echo \"$k $v\" >>{}; \
         done </proc/$$/status\nsleep 2\nexec {} \"$@\"\n",
        sigblk.display(),
        fixtures().real_ar.display()
    );
    fs::write(&slow_ar, script).unwrap();
    common::checked(Command::new("chmod").arg("755").arg(&slow_ar), "chmod");
    let host = stdin_host().to_str().unwrap();
    let mut cmd = command(&dir, true, &[host, "list", "lib.a"], Some(&bin));
    let err_path = dir.join("verify.stderr");
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(dir.join("verify.stdout")).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .process_group(0);
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();
    let started = Instant::now();
    while !fs::read_to_string(&err_path)
        .unwrap_or_default()
        .contains("run 2 of 2")
    {
        assert!(started.elapsed() < Duration::from_secs(60), "no run 2");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    common::checked(
        Command::new("kill").args(["-TERM", &pid.to_string()]),
        "kill",
    );
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{pid}")])
                .status();
            panic!("verify did not end after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    use std::os::unix::process::ExitStatusExt;
    let stderr = fs::read_to_string(&err_path).unwrap_or_default();
    assert_eq!(status.signal(), Some(15), "{status:?}\n{stderr}");
    assert_eq!(
        common::ar_members(&dir.join("lib.a")),
        ["one.o", "two.o"],
        "{stderr}"
    );
    let out = Outcome {
        label: "verify".into(),
        dir: dir.path.clone(),
        pid,
        status,
        stdout: String::new(),
        stderr,
    };
    assert_nothing_left(&dir, &out);
    // Both runs' archivers could be ended by SIGINT/SIGTERM/SIGHUP/SIGQUIT:
    // verify holding them is not inherited.
    let masks = fs::read_to_string(&sigblk).unwrap();
    fs::remove_file(&sigblk).unwrap();
    assert_eq!(masks.lines().count(), 2, "{masks}");
    for line in masks.lines() {
        let hex = line.trim_start_matches("SigBlk:").trim();
        let mask = u64::from_str_radix(hex, 16).unwrap();
        assert_eq!(mask & 0x4007, 0, "{line}");
    }
}
