//! A script host's verdict is keyed by interpreter and script together
//! (docs/DESIGN.md, "Verdicts"): `arshim verify -- python3 a.py …` stores
//! SAFE for python3 running a.py (path and hash), so `arshim run
//! --verified-only -- python3 a.py …` converts it — also through `env` and
//! `sh -c 'exec …'` — while another script of the same interpreter, the
//! same script once edited, and the interpreter running anything else do
//! not. A NOT SAFE script is refused, and only it.
//!
//! The host is tests/hosts/py_spawn_host.py (os.posix_spawnp of the real
//! `ar rcsv`, then nothing more, or a write of after.txt), copied under
//! several names and run by the real CPython. Each form runs without and
//! with the shim from the same state: the same exit status, archive
//! members and contents, ar's own lines and after.txt; the trace shows
//! whether it converted.

use std::fs;
use std::process::Command;

use common::{companion, fixtures, library, Outcome, TestDir};

/// PATH without the stand-in `ar`: the real one.
fn real_path() -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let bin = &fixtures().bin;
    std::env::join_paths(std::env::split_paths(&path).filter(|d| d != bin)).unwrap()
}

/// A test dir holding the host script under `names`, and python3 found.
fn scripts(name: &str, names: &[&str]) -> TestDir {
    common::find_python(); // fails, never skips, without python3
    let dir = TestDir::new(name);
    let src = common::hosts_src().join("py_spawn_host.py");
    for n in names {
        fs::copy(&src, dir.join(n)).unwrap();
    }
    dir
}

/// `PROGRAM ARGS…` in `dir` with the real `ar` and the test's own store.
fn command(dir: &TestDir, program: &str, args: &[&str]) -> Command {
    let mut cmd = common::command(program, dir);
    cmd.env("PATH", real_path())
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("ARSHIM_LIB", library())
        .args(args);
    cmd
}

/// `SCRIPT MODE lib.a one.o two.o`: the script's command line after python3.
fn script_line(script: &str, mode: &str) -> Vec<String> {
    let mut v = vec![script.to_owned(), mode.into(), "lib.a".into()];
    v.extend(fixtures().objs.iter().map(|o| o.display().to_string()));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `arshim verify -- python3 SCRIPT MODE …`: its verdict line and store note.
fn verified(dir: &TestDir, script: &str, mode: &str, label: &str) -> Outcome {
    let line = script_line(script, mode);
    let mut args = vec!["verify", "--", "python3"];
    args.extend(strs(&line));
    let out = common::run(
        command(dir, &companion().to_string_lossy(), &args),
        dir,
        "verify",
    );
    assert!(
        out.stdout.contains(&format!("verdict: {label} ")),
        "{}",
        out.describe()
    );
    fresh_state(dir);
    out
}

fn fresh_state(dir: &TestDir) {
    for f in ["after.txt", "lib.a", "trace.jsonl"] {
        let _ = fs::remove_file(dir.join(f));
    }
}

/// What a run left: its outcome, after.txt, the archive's members and
/// their contents, ar's own lines, the conversions in its trace.
struct Left {
    out: Outcome,
    after: Option<String>,
    members: Vec<(String, Vec<u8>)>,
    ar_lines: Vec<String>,
    converted: usize,
}

fn fresh(dir: &TestDir, mut cmd: Command, label: &str) -> Left {
    fresh_state(dir);
    cmd.env("ARSHIM_TRACE", dir.join("trace.jsonl"));
    let out = common::run(cmd, dir, label);
    let trace = fs::read_to_string(dir.join("trace.jsonl")).unwrap_or_default();
    let left = Left {
        after: fs::read_to_string(dir.join("after.txt")).ok(),
        members: members(dir),
        ar_lines: out
            .stdout
            .lines()
            .filter(|l| l.starts_with("a - "))
            .map(str::to_owned)
            .collect(),
        converted: trace.matches("\"event\":\"convert\"").count(),
        out,
    };
    fresh_state(dir);
    left
}

/// The archive's members and contents, by the real `ar t` and `ar p`.
fn members(dir: &TestDir) -> Vec<(String, Vec<u8>)> {
    let lib = dir.join("lib.a");
    if !lib.exists() {
        return Vec::new();
    }
    let ar = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(&fixtures().real_ar)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "ar {args:?}");
        out.stdout
    };
    String::from_utf8(ar(&["t".as_ref(), lib.as_os_str()]))
        .unwrap()
        .lines()
        .map(|m| {
            (
                m.to_owned(),
                ar(&["p".as_ref(), lib.as_os_str(), m.as_ref()]),
            )
        })
        .collect()
}

/// `with` left what `without` left: status, members, ar's lines, after.txt.
fn same_as_without(without: &Left, with: &Left) {
    let ctx = format!("{}\n{}", without.out.describe(), with.out.describe());
    assert_eq!(without.out.code(), Some(0), "{ctx}");
    assert_eq!(with.out.code(), without.out.code(), "{ctx}");
    assert!(!without.members.is_empty(), "{ctx}");
    assert!(with.members == without.members, "members\n{ctx}");
    assert!(!without.ar_lines.is_empty(), "ar prints with v\n{ctx}");
    assert_eq!(with.ar_lines, without.ar_lines, "{ctx}");
    assert_eq!(with.after, without.after, "after.txt\n{ctx}");
}

/// Unconverted, like `without`, with one `arshim` line containing `says`.
fn refused(without: &Left, with: &Left, says: &str) {
    same_as_without(without, with);
    let ctx = with.out.describe();
    assert_eq!(with.converted, 0, "converted\n{ctx}");
    let lines: Vec<&str> = with
        .out
        .stderr
        .lines()
        .filter(|l| l.starts_with("arshim"))
        .collect();
    assert_eq!(lines.len(), 1, "one line\n{ctx}");
    assert!(lines[0].contains(says), "{ctx}");
}

/// `arshim run [--verified-only] -- PREFIX… python3 SCRIPT MODE …`.
fn run_script(dir: &TestDir, only: bool, prefix: &[&str], script: &str, mode: &str) -> Left {
    let line = script_line(script, mode);
    let mut args = vec!["run"];
    if only {
        args.push("--verified-only");
    }
    args.push("--");
    args.extend(prefix);
    args.push("python3");
    args.extend(strs(&line));
    fresh(
        dir,
        command(dir, &companion().to_string_lossy(), &args),
        script,
    )
}

fn without(dir: &TestDir, script: &str, mode: &str) -> Left {
    let line = script_line(script, mode);
    fresh(dir, command(dir, "python3", &strs(&line)), "without")
}

const NEVER: &str = "has never been verified SAFE: not converting (ARSHIM_VERIFIED_ONLY=1)";

#[test]
fn a_script_verified_safe_converts_and_no_other_script_does() {
    let dir = scripts("script-verdict-safe", &["a.py", "b.py"]);
    let base = without(&dir, "a.py", "final");
    let before = run_script(&dir, true, &[], "a.py", "final");
    refused(&base, &before, NEVER);

    let v = verified(&dir, "a.py", "final", "SAFE");
    let a = dir.path.canonicalize().unwrap().join("a.py");
    assert!(
        v.stdout.contains(&format!("running {}", a.display())),
        "stored for the script: {}",
        v.describe()
    );

    let safe = run_script(&dir, true, &[], "a.py", "final");
    same_as_without(&base, &safe);
    assert_eq!(safe.converted, 1, "{}", safe.out.describe());

    // The same interpreter running another script (same bytes, other path).
    let b = run_script(&dir, true, &[], "b.py", "final");
    refused(
        &without(&dir, "b.py", "final"),
        &b,
        "b.py has never been verified SAFE",
    );

    // The interpreter running no script file: no verdict at all.
    let inline = format!(
        "import runpy, sys; sys.argv = {:?}; runpy.run_path('a.py', run_name='__main__')",
        script_line("a.py", "final")
    );
    let base_c = fresh(
        &dir,
        command(&dir, "python3", &["-c", &inline]),
        "without -c",
    );
    let args = ["run", "--verified-only", "--", "python3", "-c", &inline];
    let c = fresh(
        &dir,
        command(&dir, &companion().to_string_lossy(), &args),
        "-c",
    );
    refused(&base_c, &c, NEVER);

    // Edited: verified no more.
    fs::write(
        dir.join("a.py"),
        fs::read_to_string(dir.join("a.py")).unwrap() + "# edited\n",
    )
    .unwrap();
    let edited = run_script(&dir, true, &[], "a.py", "final");
    refused(&base, &edited, "has changed since it was verified");
}

#[test]
fn through_env_and_a_shell_exec_the_key_is_the_same() {
    let dir = scripts("script-verdict-forms", &["a.py"]);
    let base = without(&dir, "a.py", "final");
    verified(&dir, "a.py", "final", "SAFE");
    let via_env = run_script(&dir, true, &["env"], "a.py", "final");
    same_as_without(&base, &via_env);
    assert_eq!(via_env.converted, 1, "{}", via_env.out.describe());

    let line = script_line("a.py", "final").join(" ");
    let exec = format!("exec python3 {line}");
    let args = ["run", "--verified-only", "--", "sh", "-c", &exec];
    let via_sh = fresh(
        &dir,
        command(&dir, &companion().to_string_lossy(), &args),
        "sh",
    );
    same_as_without(&base, &via_sh);
    assert_eq!(via_sh.converted, 1, "{}", via_sh.out.describe());
}

#[test]
fn verified_through_a_shell_exec_it_converts_when_run_directly() {
    let dir = scripts("script-verdict-verify-sh", &["a.py"]);
    let base = without(&dir, "a.py", "final");
    let exec = format!("exec python3 {}", script_line("a.py", "final").join(" "));
    let args = ["verify", "--", "sh", "-c", &exec];
    let v = common::run(
        command(&dir, &companion().to_string_lossy(), &args),
        &dir,
        "verify",
    );
    assert!(v.stdout.contains("verdict: SAFE "), "{}", v.describe());
    let direct = run_script(&dir, true, &[], "a.py", "final");
    same_as_without(&base, &direct);
    assert_eq!(direct.converted, 1, "{}", direct.out.describe());
}

#[test]
fn a_script_verified_not_safe_is_refused_and_only_it() {
    let dir = scripts("script-verdict-not-safe", &["a.py", "c.py"]);
    verified(&dir, "c.py", "write-after", "NOT SAFE");
    let base = without(&dir, "c.py", "write-after");
    assert_eq!(base.after.as_deref(), Some("done\n"));
    let c = run_script(&dir, false, &[], "c.py", "write-after");
    refused(&base, &c, "c.py was verified NOT SAFE (after ar exited");

    // Another script of the same interpreter converts as before (no
    // verdict: the default level converts; verified SAFE: --verified-only).
    let base_a = without(&dir, "a.py", "final");
    let a = run_script(&dir, false, &[], "a.py", "final");
    same_as_without(&base_a, &a);
    assert_eq!(a.converted, 1, "{}", a.out.describe());
    verified(&dir, "a.py", "final", "SAFE");
    let a = run_script(&dir, true, &[], "a.py", "final");
    same_as_without(&base_a, &a);
    assert_eq!(a.converted, 1, "{}", a.out.describe());
}
