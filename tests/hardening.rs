//! Hardening: what the library does with an environment it cannot trust.
//!
//! - A secure-execution process (a setuid program run by another user) gets
//!   only the preload's trampolines: no core, no trace, no warning, no
//!   variable set (docs/DESIGN.md, "Scope").
//! - The trace path is written only when it is a regular file reached without
//!   following a final symlink, and is never waited on: a FIFO with no reader,
//!   a symlink, a directory or a path that cannot be written is one warning
//!   line for the process tree, and the run goes on as without the trace
//!   (docs/DESIGN.md, "Trace events").
//!
//! Each run is compared with the same run without the shim (or without the
//! trace). Nothing here skips: a missing precondition (root, the user
//! `nobody`, `setpriv`, `readelf`) is a failure saying so.

use common::*;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `timeout`'s bound on a run that could hang (a FIFO trace before the fix).
const BOUND_SECS: &str = "20";
/// `timeout`'s status when the bound was hit.
const TIMED_OUT: i32 = 124;

// ---------------------------------------------------------------------------
// The trace path

/// A small process tree with output on both streams and its own status:
/// `sh`, a nested `sh`, an external `/bin/echo`.
const TREE: &str = "echo out; sh -c '/bin/echo nested; echo err >&2'; exit 3";

/// `timeout 20 arshim run [--trace PATH] -- sh -c TREE`.
fn run_tree(dir: &TestDir, trace: Option<&Path>, label: &str) -> Outcome {
    let mut cmd = command("timeout", dir);
    cmd.args(["-k", "5", BOUND_SECS])
        .arg(companion())
        .arg("run");
    if let Some(t) = trace {
        cmd.arg("--trace").arg(t);
    }
    cmd.args(["--", "sh", "-c", TREE]);
    bounded(cmd, dir, label)
}

/// `timeout 20 sh -c TREE` with the library in `LD_PRELOAD`, `ARSHIM=1`,
/// `ARSHIM_HOSTS` naming a linker and `[ARSHIM_TRACE=PATH]`, set by hand.
fn preload_tree(dir: &TestDir, trace: Option<&Path>, label: &str) -> Outcome {
    let mut cmd = preloaded("timeout", dir);
    cmd.args(["-k", "5", BOUND_SECS, "sh", "-c", TREE])
        .env("ARSHIM", "1")
        .env("ARSHIM_HOSTS", "ld-legacy*");
    if let Some(t) = trace {
        cmd.env("ARSHIM_TRACE", t);
    }
    bounded(cmd, dir, label)
}

/// Runs `cmd` (which bounds itself with `timeout`); a hang is a failure
/// saying so.
fn bounded(cmd: Command, dir: &TestDir, label: &str) -> Outcome {
    let run = run_timed(cmd, dir, label, Duration::from_secs(60)).outcome();
    assert_ne!(
        run.code(),
        Some(TIMED_OUT),
        "the run hung (killed by timeout after {BOUND_SECS} s)\n{}",
        run.describe()
    );
    run
}

/// `traced` ended as `base`: same status, same stdout, same stderr but for
/// exactly one line of the library about `ARSHIM_TRACE` that says `why`.
fn assert_one_warning_else_same(traced: &Outcome, base: &Outcome, why: &str) {
    let both = format!("{}\n{}", traced.describe(), base.describe());
    assert_eq!(traced.code(), base.code(), "exit status differs\n{both}");
    assert_eq!(traced.stdout, base.stdout, "stdout differs\n{both}");
    let (warnings, rest): (Vec<&str>, Vec<&str>) = traced
        .stderr
        .lines()
        .partition(|l| l.starts_with("arshim[") && l.contains("ARSHIM_TRACE="));
    assert_eq!(
        warnings.len(),
        1,
        "expected one warning line for the process tree\n{both}"
    );
    assert!(
        warnings[0].contains(why) && warnings[0].contains("no trace is written"),
        "the warning should say {why:?}: {}\n{both}",
        warnings[0]
    );
    let base_lines: Vec<&str> = base.stderr.lines().collect();
    assert_eq!(
        rest, base_lines,
        "stderr differs besides the warning\n{both}"
    );
}

/// The run without a trace: exit 3, its output, no line of the library.
fn baseline(dir: &TestDir, via_preload: bool) -> Outcome {
    let base = if via_preload {
        preload_tree(dir, None, "base-preload")
    } else {
        run_tree(dir, None, "base-run")
    };
    base.assert_code(3);
    assert_eq!(base.stdout, "out\nnested\n", "{}", base.describe());
    assert_eq!(base.stderr, "err\n", "{}", base.describe());
    base
}

fn mkfifo(path: &Path) {
    checked(Command::new("mkfifo").arg(path), "`mkfifo` (coreutils)");
}

#[test]
fn a_fifo_trace_with_no_reader_neither_hangs_nor_changes_the_run() {
    let dir = TestDir::new("hard-fifo");
    let fifo = dir.join("trace.fifo");
    mkfifo(&fifo);
    let base = baseline(&dir, false);
    let traced = run_tree(&dir, Some(&fifo), "fifo-run");
    assert_one_warning_else_same(&traced, &base, "FIFO");

    let base = baseline(&dir, true);
    let traced = preload_tree(&dir, Some(&fifo), "fifo-preload");
    assert_one_warning_else_same(&traced, &base, "FIFO");
}

#[test]
fn a_symlinked_trace_is_not_followed() {
    let dir = TestDir::new("hard-symlink");
    let target = dir.join("target.txt");
    fs::write(&target, "kept\n").unwrap();
    let link = dir.join("trace.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let base = baseline(&dir, false);
    let traced = run_tree(&dir, Some(&link), "symlink-run");
    assert_one_warning_else_same(&traced, &base, "symlink");
    let traced = preload_tree(&dir, Some(&link), "symlink-preload");
    assert_one_warning_else_same(&traced, &baseline(&dir, true), "symlink");
    assert_eq!(
        fs::read_to_string(&target).unwrap(),
        "kept\n",
        "target changed"
    );
    assert!(fs::symlink_metadata(&link).unwrap().is_symlink());

    // A dangling one: nothing is created where it points.
    let nowhere = dir.join("nowhere.jsonl");
    let dangling = dir.join("dangling.jsonl");
    std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
    let traced = run_tree(&dir, Some(&dangling), "dangling-run");
    assert_one_warning_else_same(&traced, &base, "symlink");
    assert!(!nowhere.exists(), "a file was created through the symlink");
}

#[test]
fn a_trace_that_cannot_be_written_is_one_warning() {
    let dir = TestDir::new("hard-unwritable");
    let base = baseline(&dir, false);
    let a_dir = dir.join("a-directory");
    fs::create_dir(&a_dir).unwrap();
    let traced = run_tree(&dir, Some(&a_dir), "directory");
    assert_one_warning_else_same(&traced, &base, "a directory");

    let missing = dir.join("no/such/dir/trace.jsonl");
    let traced = run_tree(&dir, Some(&missing), "missing-dir");
    assert_one_warning_else_same(&traced, &base, "ENOENT");

    let file = dir.join("a-file");
    fs::write(&file, "").unwrap();
    let under_file = file.join("trace.jsonl");
    let traced = run_tree(&dir, Some(&under_file), "under-a-file");
    assert_one_warning_else_same(&traced, &base, "ENOTDIR");
}

#[test]
fn a_regular_trace_file_still_gets_every_process_of_the_tree() {
    let dir = TestDir::new("hard-regular");
    let trace = dir.join("trace.jsonl");
    let base = baseline(&dir, false);
    let traced = run_tree(&dir, Some(&trace), "regular");
    assert_eq!(traced.code(), base.code(), "{}", traced.describe());
    assert_eq!(traced.stdout, base.stdout, "{}", traced.describe());
    assert_eq!(traced.stderr, base.stderr, "{}", traced.describe());
    // sh, the nested sh, /bin/echo: each loaded the core and said so.
    let loads = trace_events(&trace, "load");
    assert_eq!(loads.len(), 3, "{}", dump_trace(&trace));
}

// ---------------------------------------------------------------------------
// Secure execution

/// The library installed where the loader accepts it for setuid programs,
/// removed again when dropped (the test failing included). Only files it
/// created are removed.
struct SystemInstall {
    made: Vec<PathBuf>,
}

impl SystemInstall {
    /// Copies `from` to `to`, mode 4755 (the loader preloads only
    /// setuid-marked libraries into a secure-execution process); `to` must not
    /// exist.
    fn copy(&mut self, from: &Path, to: &Path) {
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(to)
            .unwrap_or_else(|e| {
                panic!(
                    "cannot create {}: {e} — if it exists, it is an installed arshim or was left \
                     by a killed run of this test: remove it to run this test",
                    to.display()
                )
            });
        self.made.push(to.to_path_buf());
        out.write_all(&fs::read(from).unwrap()).unwrap();
        fs::set_permissions(to, fs::Permissions::from_mode(0o4755)).unwrap();
    }
}

impl Drop for SystemInstall {
    fn drop(&mut self) {
        for p in &self.made {
            let _ = fs::remove_file(p);
        }
    }
}

/// A directory outside the build tree (whose parents the user `nobody` may
/// not be able to enter), removed when dropped.
struct OpenDir(PathBuf);

impl Drop for OpenDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The user the setuid host runs as: `nobody`'s uid and gid.
fn nobody() -> (String, String) {
    let id = |flag: &str| {
        let out = Command::new("id").args([flag, "nobody"]).output();
        match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
            _ => panic!("precondition: the user `nobody` must exist (id {flag} nobody failed)"),
        }
    };
    (id("-u"), id("-g"))
}

/// The first directory the loader of `program` searches by default (its
/// "system search path"), where it accepts preloaded libraries for a
/// secure-execution process.
fn trusted_library_dir(program: &Path) -> PathBuf {
    let out = checked(
        Command::new("readelf").args(["-l", "-W"]).arg(program),
        "`readelf` (binutils)",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let interp = text
        .lines()
        .find_map(|l| l.split("program interpreter: ").nth(1))
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or_else(|| panic!("no program interpreter in {}", program.display()));
    let help = checked(Command::new(interp).arg("--help"), "the loader's --help");
    let help = String::from_utf8_lossy(&help.stdout);
    let dir = help
        .lines()
        .find_map(|l| l.trim().strip_suffix("(system search path)"))
        .unwrap_or_else(|| panic!("{interp} --help lists no system search path:\n{help}"));
    let dir = PathBuf::from(dir.trim());
    assert!(dir.is_dir(), "{} is not a directory", dir.display());
    dir
}

/// What the setuid host printed, split: its `map:` lines (arshim libraries
/// mapped) and the rest.
fn split_maps(stdout: &str) -> (Vec<&str>, Vec<&str>) {
    stdout.lines().partition(|l| l.starts_with("map: "))
}

#[test]
fn a_secure_execution_process_gets_no_core_no_trace_no_warning() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "precondition: this test installs a library in the system library directory and a \
         setuid-root program: it must run as root (CI does)"
    );
    let (uid, gid) = nobody();
    let fx = fixtures();

    // The host, setuid root, in a directory anyone may enter.
    let dir = OpenDir(std::env::temp_dir().join(format!("arshim-secure-{}", std::process::id())));
    let _ = fs::remove_dir_all(&dir.0);
    fs::create_dir(&dir.0).unwrap();
    fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o755)).unwrap();
    let host = dir.0.join("secure_host");
    compile_c(&hosts_src().join("secure_host.c"), &host);
    fs::set_permissions(&host, fs::Permissions::from_mode(0o4755)).unwrap();
    let objs = dir.0.join("one.o");
    fs::copy(&fx.objs[0], &objs).unwrap();

    // The preload under a name of this run; the core beside it, under the
    // name the preload loads.
    let system = trusted_library_dir(&host);
    let preload_name = format!("libarshim-it-{}.so", std::process::id());
    let mut install = SystemInstall { made: Vec::new() };
    install.copy(&library(), &system.join(&preload_name));
    let core = library().with_file_name("libarshim_core.so");
    install.copy(&core, &system.join("libarshim_core.so"));

    let archive = dir.0.join("lib.a");
    let trace = dir.0.join("trace.jsonl");
    let run_as_nobody = |label: &str, shim: &[(&str, &str)]| {
        let _ = fs::remove_file(&archive);
        // The library's variables through `env -i`, for the host only:
        // setpriv itself, a plain root process, would claim the shim.
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .args(["--clear-groups", "--", "env", "-i", "LC_ALL=C"])
            .arg(OsString::from_vec(
                [&b"PATH="[..], path.as_bytes()].concat(),
            ))
            .args(shim.iter().map(|(k, v)| format!("{k}={v}")))
            .arg(&host)
            .arg(&archive)
            .arg(&objs)
            .env_clear()
            .env("PATH", &path)
            .current_dir(&dir.0);
        let test_dir = TestDir::new(&format!("hard-secure-{label}"));
        let run = run(cmd, &test_dir, label);
        let members = ar_members(&archive);
        (run, members, test_dir)
    };

    let (base, base_members, _d1) = run_as_nobody("without", &[]);
    assert!(
        base.stdout.starts_with("ids: ruid=") && base.stdout.contains(" euid=0\n"),
        "precondition: the setuid bit must take effect (is {} on a nosuid mount?)\n{}",
        dir.0.display(),
        base.describe()
    );
    assert_eq!(base_members, ["one.o"], "{}", base.describe());

    let trace_s = trace.to_str().unwrap();
    for (label, shim) in [
        // The library on, with a trace: the `load` event would be written
        // as root at a path the caller chose.
        ("traced", [("ARSHIM", "1"), ("ARSHIM_TRACE", trace_s)]),
        // A bad value: the warning and its mark would be the core's.
        (
            "bad-value",
            [("ARSHIM", "maybe"), ("ARSHIM_TRACE", trace_s)],
        ),
    ] {
        let mut vars = vec![("LD_PRELOAD", preload_name.as_str())];
        vars.extend(shim);
        let (with, members, _d2) = run_as_nobody(label, &vars);
        let both = format!("{}\n{}", with.describe(), base.describe());
        let (maps, rest) = split_maps(&with.stdout);
        let (base_maps, base_rest) = split_maps(&base.stdout);
        assert!(base_maps.is_empty(), "{both}");
        assert!(
            maps.iter()
                .any(|m| m.ends_with(&format!("/{preload_name}"))),
            "the loader did not preload {preload_name} into the setuid host: the test proves \
             nothing\n{both}"
        );
        assert!(
            !maps.iter().any(|m| m.contains("libarshim_core")),
            "the core was loaded into a secure-execution process\n{both}"
        );
        assert!(
            !trace.exists(),
            "a secure-execution process wrote the trace {}:\n{}\n{both}",
            trace.display(),
            fs::read_to_string(&trace).unwrap_or_default()
        );
        assert_eq!(rest, base_rest, "stdout differs\n{both}");
        assert_eq!(with.stderr, base.stderr, "stderr differs\n{both}");
        assert_eq!(with.code(), base.code(), "exit status differs\n{both}");
        assert_eq!(members, base_members, "archive differs\n{both}");
    }
}
