//! `arshim doctor [CMD]` (README, "Checking and proving"; docs/DESIGN.md,
//! "Companion") on real programs: this build as a healthy
//! install (the companion with libarshim.so next to it in target/release),
//! programs compiled at test time with `cc` (dynamic, `-static`, a setuid
//! copy), scripts, and a broken library setting.
//!
//! Nothing skips: a missing `cc` (or static libc) fails the test.

use common::{companion, run, Outcome, TestDir};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The checks of the installation, in the order doctor prints them.
const INSTALL_CHECKS: &[&str] = &[
    "library",
    "core",
    "loads",
    "spawn-time probe",
    "wait-time probe",
    "ar",
    "reaper",
];

/// `ARSHIM_LIB` too: doctor must find the library as a user's install would.
const EXTRA_ENV: &[&str] = &["ARSHIM_LIB"];

/// `arshim doctor ARGS…` with a clean environment and its temp files in
/// `dir/tmp` (checked empty afterwards: doctor cleans up).
fn doctor(dir: &TestDir, args: &[&str], label: &str) -> Outcome {
    doctor_with(dir, args, label, |_| {})
}

fn doctor_with(
    dir: &TestDir,
    args: &[&str],
    label: &str,
    tweak: impl FnOnce(&mut Command),
) -> Outcome {
    let tmp = dir.join("tmp");
    fs::create_dir_all(&tmp).unwrap();
    let mut cmd = Command::new(companion());
    common::scrub(&mut cmd, EXTRA_ENV);
    cmd.arg("doctor")
        .args(args)
        .env("TMPDIR", &tmp)
        .env("LC_ALL", "C")
        .current_dir(&dir.path);
    tweak(&mut cmd);
    let out = run(cmd, dir, label);
    let left: Vec<_> = fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        left.is_empty(),
        "doctor left {left:?} behind\n{}",
        out.describe()
    );
    out
}

/// Every stdout line is `<status padded to 8><check>: <reason>`.
fn assert_well_formed(out: &Outcome) {
    for line in out.stdout.lines() {
        let (status, rest) = line.split_at(line.len().min(8));
        let ok_status = ["ok      ", "problem ", "warn    ", "note    "].contains(&status);
        let ok_rest = rest
            .split_once(": ")
            .is_some_and(|(check, reason)| !check.is_empty() && !reason.is_empty());
        assert!(
            ok_status && ok_rest,
            "malformed line {line:?}\n{}",
            out.describe()
        );
    }
}

/// The one line of `check` with `status` (e.g. "ok", "problem").
fn line<'a>(out: &'a Outcome, status: &str, check: &str) -> &'a str {
    let prefix = format!("{status:<8}{check}: ");
    let found: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one `{prefix}` line, got {found:?}\n{}",
        out.describe()
    );
    found[0]
}

fn assert_contains(text: &str, needles: &[&str], out: &Outcome) {
    for n in needles {
        assert!(
            text.contains(n),
            "{n:?} missing in {text:?}\n{}",
            out.describe()
        );
    }
}

fn assert_install_ok(out: &Outcome) {
    for check in INSTALL_CHECKS {
        line(out, "ok", check);
    }
}

// ---------------------------------------------------------------------------
// Programs compiled for the tests

const PROGRAM_C: &str = "int main(void) { return 0; }\n";

/// `cc [EXTRA…] -o DIR/NAME prog.c`; a missing `cc` fails the test.
fn compile(dir: &TestDir, name: &str, extra: &[&str]) -> PathBuf {
    let src = dir.join("prog.c");
    fs::write(&src, PROGRAM_C).unwrap();
    let out = dir.join(name);
    common::checked(
        Command::new("cc").args(extra).arg("-o").arg(&out).arg(&src),
        &format!("the C compiler `cc` {extra:?} (a static build needs libc6-dev's libc.a)"),
    );
    out
}

fn script(dir: &TestDir, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------------------

#[test]
fn healthy_install_passes_every_check() {
    let dir = TestDir::new("doctor-healthy");
    let out = doctor(&dir, &[], "doctor");
    out.assert_code(0);
    assert_well_formed(&out);
    assert_install_ok(&out);
    assert!(!out.stdout.contains("problem"), "{}", out.describe());

    let lib = companion().parent().unwrap().join("libarshim.so");
    assert_contains(
        line(&out, "ok", "library"),
        &[s(&lib), "next to arshim"],
        &out,
    );
    assert_contains(
        line(&out, "ok", "spawn-time probe"),
        &[
            "became an execve",
            "own pid",
            "after the host's atexit handler",
        ],
        &out,
    );
    assert_contains(
        line(&out, "ok", "wait-time probe"),
        &["fork + exec", "became the reaper", "exit status 42"],
        &out,
    );
    assert_contains(line(&out, "ok", "reaper"), &[s(&companion())], &out);
    // The checks come in a fixed order.
    let order: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l[8..].split_once(':').unwrap().0)
        .collect();
    assert_eq!(order, INSTALL_CHECKS, "{}", out.describe());
}

#[test]
fn static_program_cannot_be_preloaded() {
    let dir = TestDir::new("doctor-static");
    let prog = compile(&dir, "static-linker", &["-static"]);
    let out = doctor(&dir, &[s(&prog)], "doctor");
    out.assert_code(1);
    assert_well_formed(&out);
    assert_install_ok(&out);
    assert_contains(
        line(&out, "problem", "command"),
        &[
            "statically linked",
            "dynamic loader",
            "LD_PRELOAD",
            "Go",
            "cmd/link",
        ],
        &out,
    );
    assert_contains(&out.stderr, &["1 problem"], &out);
}

/// Go's own linker and compiler (Debian's golang-go, installed by .ci/run):
/// statically linked, they spawn `ar` with a raw clone from the Go runtime;
/// no preload can reach them, and doctor must say so and point at the Go patch.
#[test]
fn go_toolchain_cannot_be_preloaded() {
    let out = Command::new("go")
        .args(["env", "GOTOOLDIR"])
        .output()
        .expect("go is not installed (.ci/run installs golang-go)");
    assert!(out.status.success(), "go env GOTOOLDIR failed");
    let tooldir = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    for tool in ["link", "compile"] {
        let dir = TestDir::new(&format!("doctor-go-{tool}"));
        let prog = tooldir.join(tool);
        assert!(prog.is_file(), "{} missing", prog.display());
        let out = doctor(&dir, &[s(&prog)], "doctor");
        out.assert_code(1);
        assert_well_formed(&out);
        assert_contains(
            line(&out, "problem", "command"),
            &[
                "statically linked",
                "LD_PRELOAD",
                "Go program",
                "exec the archiver itself",
            ],
            &out,
        );
    }
}

#[test]
fn dynamic_glibc_program_found_on_path_is_ok() {
    let dir = TestDir::new("doctor-dynamic");
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let prog = compile(&dir, "bin/ld-legacy", &[]);
    let path = common::path_with(&bin);
    let out = doctor_with(&dir, &["ld-legacy"], "doctor", |c| {
        c.env("PATH", &path);
    });
    out.assert_code(0);
    assert_well_formed(&out);
    assert_contains(
        line(&out, "ok", "command"),
        &[
            s(&prog),
            "dynamically linked against glibc",
            "LD_PRELOAD applies",
        ],
        &out,
    );
}

#[test]
fn setuid_copy_is_ignored_by_the_loader() {
    let dir = TestDir::new("doctor-setuid");
    let prog = compile(&dir, "ld-legacy", &[]);
    let copy = dir.join("ld-setuid");
    fs::copy(&prog, &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o4755)).unwrap();
    assert_eq!(
        fs::metadata(&copy).unwrap().permissions().mode() & 0o4000,
        0o4000,
        "chmod u+s did not stick"
    );
    let out = doctor(&dir, &[s(&copy)], "doctor");
    out.assert_code(1);
    assert_well_formed(&out);
    assert_install_ok(&out);
    assert_contains(
        line(&out, "problem", "command"),
        &["setuid", "secure-execution", "ignores LD_PRELOAD"],
        &out,
    );
}

#[test]
fn shell_script_names_its_interpreter() {
    let dir = TestDir::new("doctor-sh");
    let sh = script(&dir, "link.sh", "#!/bin/sh\nexec ar \"$@\"\n");
    let out = doctor(&dir, &[s(&sh)], "doctor");
    out.assert_code(0);
    assert_well_formed(&out);
    assert_contains(
        line(&out, "note", "command"),
        &[
            "script run by /bin/sh",
            "shells and build drivers never convert",
        ],
        &out,
    );
    assert_contains(line(&out, "ok", "interpreter"), &["/bin/sh"], &out);
}

#[test]
fn env_python_script_names_python3_and_suggests_hosts() {
    let dir = TestDir::new("doctor-py");
    let py = script(
        &dir,
        "link.py",
        "#!/usr/bin/env python3\nprint('linking')\n",
    );
    let out = doctor(&dir, &[s(&py)], "doctor");
    out.assert_code(0);
    assert_well_formed(&out);
    assert_contains(
        line(&out, "note", "command"),
        &["run by python3 (through /usr/bin/env)", "--hosts python3"],
        &out,
    );
    // python3 on PATH may be the interpreter itself or a version manager's shim.
    assert!(
        out.stdout.lines().any(|l| l.contains(" interpreter: ")),
        "{}",
        out.describe()
    );
}

#[test]
fn missing_library_is_a_problem() {
    let dir = TestDir::new("doctor-nolib");
    let out = doctor_with(&dir, &[], "doctor", |c| {
        c.env("ARSHIM_LIB", "/nonexistent/libarshim.so");
    });
    out.assert_code(1);
    assert_well_formed(&out);
    assert_contains(
        line(&out, "problem", "library"),
        &["ARSHIM_LIB=/nonexistent/libarshim.so", "no such file"],
        &out,
    );
    assert_contains(line(&out, "note", "loads"), &["not tried"], &out);
    line(&out, "ok", "ar");
}

/// A copy of libarshim.so without libarshim_core.so next to it: doctor
/// names the missing core, and the live probe shows the shim stays off.
#[test]
fn library_without_its_core_is_a_problem() {
    let dir = TestDir::new("doctor-nocore");
    let lib_dir = dir.join("lib");
    fs::create_dir_all(&lib_dir).unwrap();
    let lib = lib_dir.join("libarshim.so");
    fs::copy(common::library(), &lib).unwrap();
    let out = doctor_with(&dir, &[], "doctor", |c| {
        c.env("ARSHIM_LIB", &lib);
    });
    out.assert_code(1);
    assert_well_formed(&out);
    line(&out, "ok", "library");
    assert_contains(
        line(&out, "problem", "core"),
        &["no libarshim_core.so next to", "stays off"],
        &out,
    );
    line(&out, "problem", "loads");
}

#[test]
fn a_library_that_is_not_arshim_does_not_pass_as_loaded() {
    let dir = TestDir::new("doctor-otherlib");
    let libm = Command::new("cc")
        .arg("-print-file-name=libm.so.6")
        .output()
        .expect("the C compiler `cc` is required by these tests");
    let libm = PathBuf::from(String::from_utf8_lossy(&libm.stdout).trim());
    assert!(
        libm.is_absolute() && libm.is_file(),
        "no libm.so.6: {libm:?}"
    );
    let out = doctor_with(&dir, &[], "doctor", |c| {
        c.env("ARSHIM_LIB", &libm);
    });
    out.assert_code(1);
    assert_contains(line(&out, "problem", "loads"), &["no load event"], &out);
    line(&out, "note", "spawn-time probe");

    let junk = dir.join("junk.so");
    fs::write(&junk, "not a library\n").unwrap();
    let out = doctor_with(&dir, &[], "doctor-junk", |c| {
        c.env("ARSHIM_LIB", &junk);
    });
    out.assert_code(1);
    assert_contains(
        line(&out, "problem", "loads"),
        &["cannot be preloaded"],
        &out,
    );
}

#[test]
fn missing_or_unrunnable_command_is_a_problem() {
    let dir = TestDir::new("doctor-missing");
    let out = doctor(&dir, &["/nonexistent/ld-legacy"], "doctor");
    out.assert_code(1);
    assert_contains(line(&out, "problem", "command"), &["no such file"], &out);

    let text = dir.join("notes.txt");
    fs::write(&text, "hello\n").unwrap();
    let out = doctor(&dir, &[s(&text)], "doctor-noexec");
    out.assert_code(1);
    assert_contains(line(&out, "problem", "command"), &["not executable"], &out);
}
