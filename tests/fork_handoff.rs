//! The wait-time handoff (docs/DESIGN.md, "Conversion" 2; with its deferred
//! deletions, 4, and exit status, 6), with real hosts compiled or run at test
//! time: a "legacy linker" holding 96 MiB whose last act is
//! `ar rcs lib.a one.o two.o`, spawned by hand —
//!
//! - tests/hosts/fork_host.c: `fork`+`execvp`, `vfork`+`execv` (or
//!   `posix_spawnp`), then `waitpid`/`wait`/`wait3`/`wait4`/`waitid`;
//! - tests/hosts/rust_fork_host.rs: `Command::pre_exec` (forces fork), `status()`;
//! - tests/hosts/py_host.py: `subprocess.run`, run by the real CPython binary.
//!
//! Under `arshim run`, when the host waits for its archiver child, the library
//! runs the host's cleanups and execs the companion's small reaper in the same
//! pid: while ar runs, its parent has the host's pid but is `arshim` holding a
//! few MiB, and the run ends exactly like the archiver.
//!
//! The stand-in `ar` here (tests/hosts/standin_ar.c) is an ELF program, like a
//! real ar: it waits until its parent blocks in a wait call, records what its
//! parent is (pid, executable, RSS, whether libarshim.so is mapped), then execs
//! the real ar (or exits 7, kills itself, or swaps a directory for a symlink).
//! The `baseline_*` tests run without the library and check that the harness
//! measures what it claims.

use common::*;
use std::ffi::OsString;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What every host here holds (every page written) when it spawns ar.
const TOUCH_MIB: u64 = 96;
const SIGTERM: i32 = 15;

// ---------------------------------------------------------------------------
// Fixtures of this file

struct Kit {
    fork_host: PathBuf,
    rust_host: PathBuf,
    /// The real CPython binary (not a pyenv shell shim).
    python: PathBuf,
    py_script: PathBuf,
    /// Directory holding the ELF stand-in `ar`.
    bin: PathBuf,
    standin: PathBuf,
}

fn kit() -> &'static Kit {
    static KIT: OnceLock<Kit> = OnceLock::new();
    KIT.get_or_init(|| {
        let fx = fixtures();
        let fk = fork_kit();
        let rust_host = fx.dir.join("rust_fork_host");
        compile_rust(&hosts_src().join("rust_fork_host.rs"), &rust_host);
        Kit {
            fork_host: fk.fork_host.clone(),
            rust_host,
            python: find_python(),
            py_script: hosts_src().join("py_host.py"),
            bin: fk.bin.clone(),
            standin: fk.standin.clone(),
        }
    })
}

/// The environment of [`common::command`], with the ELF stand-in first on PATH.
fn setup(mut cmd: Command) -> Command {
    cmd.env("PATH", path_with(&kit().bin))
        .env("HOST_TOUCH_MIB", TOUCH_MIB.to_string())
        .env_remove("PYTHONUNBUFFERED")
        .env_remove("PYTHONSTARTUP");
    cmd
}

/// How a host is started: the program and its arguments before ARCHIVE OBJ...
#[derive(Clone, Debug)]
struct Host {
    label: String,
    program: PathBuf,
    args: Vec<OsString>,
}

impl Host {
    /// The C host: CALL (fork | vfork | spawnp), WAIT (waitpid | wait | …).
    fn c(call: &str, wait: &str) -> Host {
        let kit = kit();
        let tool: OsString = if call == "vfork" {
            kit.standin.clone().into() // execv: a path
        } else {
            "ar".into()
        };
        Host {
            label: format!("{call}-{wait}"),
            program: kit.fork_host.clone(),
            args: vec![call.into(), wait.into(), tool],
        }
    }

    fn rust() -> Host {
        Host {
            label: "rust-pre-exec".into(),
            program: kit().rust_host.clone(),
            args: vec![],
        }
    }

    fn python() -> Host {
        let kit = kit();
        Host {
            label: "python-subprocess".into(),
            program: kit.python.clone(),
            args: vec![kit.py_script.clone().into()],
        }
    }

    fn objs() -> [PathBuf; 2] {
        fixtures().objs.clone()
    }

    /// Without the library.
    fn plain(&self, dir: &TestDir, archive: &Path, objs: &[PathBuf]) -> Command {
        let mut cmd = setup(command(&self.program, dir));
        cmd.args(&self.args).arg(archive).args(objs);
        cmd
    }

    /// `arshim run OPTS -- HOST …`
    fn shim(&self, opts: &[&str], dir: &TestDir, archive: &Path, objs: &[PathBuf]) -> Command {
        let mut cmd = setup(arshim_run(opts, &self.program, dir));
        cmd.args(&self.args).arg(archive).args(objs);
        cmd
    }
}

// ---------------------------------------------------------------------------
// One run: the preamble of the tests here

/// A test's directory, the archive its host builds there and the trace file
/// the library writes there when asked to.
struct Case {
    dir: TestDir,
    archive: PathBuf,
    trace: PathBuf,
}

impl Case {
    fn new(name: &str) -> Case {
        let dir = TestDir::new(name);
        Case {
            archive: dir.join("lib.a"),
            trace: dir.join("trace.jsonl"),
            dir,
        }
    }

    /// `HOST … ARCHIVE OBJS…` without the library.
    fn plain(&self, host: &Host, objs: &[PathBuf]) -> Command {
        host.plain(&self.dir, &self.archive, objs)
    }

    /// `arshim run OPTS -- HOST … ARCHIVE OBJS…`
    fn shim(&self, host: &Host, opts: &[&str], objs: &[PathBuf]) -> Command {
        host.shim(opts, &self.dir, &self.archive, objs)
    }

    /// `arshim run OPTS --trace TRACE -- HOST … ARCHIVE OBJS…`
    fn traced(&self, host: &Host, opts: &[&str], objs: &[PathBuf]) -> Command {
        let mut opts = opts.to_vec();
        opts.extend(["--trace", self.trace.to_str().unwrap()]);
        self.shim(host, &opts, objs)
    }

    fn run(&self, cmd: Command, label: &str) -> Outcome {
        run(cmd, &self.dir, label)
    }

    /// The trace's lines whose "event" is `event`.
    fn events(&self, event: &str) -> Vec<String> {
        trace_events(&self.trace, event)
    }

    /// The whole trace, for failure messages.
    fn dump_trace(&self) -> String {
        dump_trace(&self.trace)
    }

    /// `run` ended with `code`; the message shows the trace too.
    fn assert_code(&self, run: &Outcome, code: i32) {
        assert_eq!(
            run.code(),
            Some(code),
            "unexpected exit status\n{}\n{}",
            self.dump_trace(),
            run.describe()
        );
    }
}

/// The fork + waitpid host under `arshim run` with `var=value` set, in
/// `fh-LABEL`: the case and its run.
fn fork_host_run(label: &str, var: &str, value: &str) -> (Case, Outcome) {
    let case = Case::new(&format!("fh-{label}"));
    let mut cmd = case.shim(&Host::c("fork", "waitpid"), &[], &Host::objs());
    cmd.env(var, value);
    let run = case.run(cmd, label);
    (case, run)
}

// ---------------------------------------------------------------------------
// What the stand-in saw

/// No handoff: the host held its memory while ar ran ([`common::assert_host_held`]).
fn assert_host_held(dir: &TestDir, run: &Outcome, host_exe: &Path) -> Seen {
    common::assert_host_held(dir, run, host_exe, TOUCH_MIB)
}

fn assert_archiver_output(run: &Outcome) {
    assert!(
        run.stdout.contains("standin: archiving\n"),
        "the archiver's stdout line is missing\n{}",
        run.describe()
    );
    assert!(
        run.stderr.contains("standin: note on stderr\n"),
        "the archiver's stderr line is missing\n{}",
        run.describe()
    );
}

// ---------------------------------------------------------------------------
// 1. Handoff: while ar runs, the host's pid is the small reaper; archive right,
//    cleanups flushed, exit 0. Baselines: the host holds ≥ 300 MiB.

/// `HOST_LOG` of the Python host: its unflushed file object's line is
/// there (the other hosts write no log).
fn assert_python_log(host: &Host, case: &Case, run: &Outcome) {
    if host.label.starts_with("python") {
        assert_eq!(
            fs::read_to_string(case.dir.join("py-host.log")).unwrap_or_default(),
            "host: log line\n",
            "the Python host's unflushed file object lost its line\n{}",
            run.describe()
        );
    }
}

fn baseline(host: Host) {
    let case = Case::new(&format!("fh-baseline-{}", host.label));
    let mut cmd = case.plain(&host, &Host::objs());
    cmd.env("PY_HOST_LOG", case.dir.join("py-host.log"));
    let run = case.run(cmd, "baseline");
    run.assert_code(0);
    assert_host_held(&case.dir, &run, &host.program);
    assert_archive_ok(&case.archive, &run);
    assert_cleanups_ran(&run);
    assert_archiver_output(&run);
    assert_python_log(&host, &case, &run);
}

fn handoff(host: Host) {
    let case = Case::new(&format!("fh-handoff-{}", host.label));
    let mut cmd = case.shim(&host, &[], &Host::objs());
    cmd.env("PY_HOST_LOG", case.dir.join("py-host.log"));
    let run = case.run(cmd, "handoff");
    run.assert_code(0);
    assert_handed_off(&case.dir, &run);
    assert_archive_ok(&case.archive, &run);
    // The cleanups ran at the wait, before the archiver went on (it waits
    // until its parent blocks in a wait call before printing).
    assert_cleanups_before_archiver(&run);
    assert_archiver_output(&run);
    assert_silent(&run);
    assert_python_log(&host, &case, &run);
}

#[test]
fn baseline_fork_execvp_host_holds_memory_while_ar_runs() {
    baseline(Host::c("fork", "waitpid"));
}

#[test]
fn handoff_fork_execvp_waitpid() {
    handoff(Host::c("fork", "waitpid"));
}

#[test]
fn baseline_vfork_execv_host_holds_memory_while_ar_runs() {
    baseline(Host::c("vfork", "waitpid"));
}

#[test]
fn handoff_vfork_execv_waitpid() {
    handoff(Host::c("vfork", "waitpid"));
}

#[test]
fn baseline_rust_pre_exec_host_holds_memory_while_ar_runs() {
    baseline(Host::rust());
}

#[test]
fn handoff_rust_command_pre_exec() {
    handoff(Host::rust());
}

#[test]
fn baseline_python_subprocess_host_holds_memory_while_ar_runs() {
    baseline(Host::python());
}

/// print() output and the atexit function's line (both in the interpreter's
/// own buffer: stdout is a file) and an unflushed file object are not lost.
#[test]
fn handoff_python_subprocess_run() {
    handoff(Host::python());
}

/// The other wait calls of the hooks: wait4 (pid), waitid (P_PID), wait3 (-1).
#[test]
fn handoff_fork_wait4() {
    handoff(Host::c("fork", "wait4"));
}

#[test]
fn handoff_fork_waitid() {
    handoff(Host::c("fork", "waitid"));
}

#[test]
fn handoff_fork_wait3() {
    handoff(Host::c("fork", "wait3"));
}

// ---------------------------------------------------------------------------
// 2. A host whose atexit handler deletes its own temp dir holding the objects.

/// `DIR/NAME/{one.o,two.o,scratch.txt}`: the objects copied into a temp dir.
fn temp_dir_with_objects(dir: &TestDir, name: &str) -> (PathBuf, Vec<PathBuf>) {
    let tmp = dir.join(name);
    fs::create_dir_all(&tmp).unwrap();
    let mut objs = Vec::new();
    for obj in Host::objs() {
        let to = tmp.join(obj.file_name().unwrap());
        fs::copy(&obj, &to).unwrap();
        objs.push(to);
    }
    fs::write(tmp.join("scratch.txt"), "not an input of ar\n").unwrap();
    (tmp, objs)
}

fn assert_temp_dir_gone(tmp: &Path, run: &Outcome) {
    assert!(
        fs::symlink_metadata(tmp).is_err(),
        "the host's temp dir {} is still there after the run (contents: {:?})\n{}",
        tmp.display(),
        fs::read_dir(tmp)
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
            .unwrap_or_default(),
        run.describe()
    );
}

#[test]
fn baseline_own_temp_dir_removed_at_exit() {
    let case = Case::new("fh-baseline-rmtree");
    let (tmp, objs) = temp_dir_with_objects(&case.dir, "ldtmp");
    let host = Host::c("fork", "waitpid");
    let mut cmd = case.plain(&host, &objs);
    cmd.env("HOST_RMTREE", &tmp);
    let run = case.run(cmd, "baseline-rmtree");
    run.assert_code(0);
    assert_host_held(&case.dir, &run, &host.program);
    assert_archive_ok(&case.archive, &run);
    assert_temp_dir_gone(&tmp, &run);
    assert!(
        run.stdout
            .contains(&format!("host: removed {}\n", tmp.display())),
        "{}",
        run.describe()
    );
}

fn own_temp_dir(call: &str, how: &str) {
    let host = Host::c(call, "waitpid");
    let case = Case::new(&format!("fh-rmtree-{call}-{how}"));
    let (tmp, objs) = temp_dir_with_objects(&case.dir, "ldtmp");
    let mut cmd = case.traced(&host, &[], &objs);
    cmd.env("HOST_RMTREE", &tmp).env("HOST_RMTREE_HOW", how);
    let run = case.run(cmd, "rmtree");
    let tr = case.dump_trace();
    case.assert_code(&run, 0);
    assert_archive_ok(&case.archive, &run);
    assert_temp_dir_gone(&tmp, &run);
    // The host was told its deletions succeeded.
    assert_in_order(
        &run.stdout,
        &[
            "host: buffered line\n",
            &format!("host: removed {}\n", tmp.display()),
            "host: atexit ran\n",
        ],
        "stdout",
        &run,
    );
    assert_handed_off(&case.dir, &run);
    let defers = case.events("defer");
    let deletes = case.events("delete");
    assert!(
        !defers.is_empty() && !deletes.is_empty(),
        "the trace should show the deferred deletions and the reaper's deletions\n{tr}\n{}",
        run.describe()
    );
    assert!(
        deletes
            .iter()
            .all(|l| json_raw_field(l, "ok").as_deref() == Some("true")),
        "a deferred deletion failed\n{tr}\n{}",
        run.describe()
    );
    assert_silent(&run);
}

#[test]
fn own_temp_dir_fork_host_unlink_rmdir() {
    own_temp_dir("fork", "unlink");
}

#[test]
fn own_temp_dir_fork_host_unlinkat() {
    own_temp_dir("fork", "unlinkat");
}

#[test]
fn own_temp_dir_fork_host_nftw_remove() {
    own_temp_dir("fork", "nftw");
}

#[test]
fn own_temp_dir_posix_spawnp_host_unlink_rmdir() {
    own_temp_dir("spawnp", "unlink");
}

#[test]
fn own_temp_dir_posix_spawnp_host_nftw_remove() {
    own_temp_dir("spawnp", "nftw");
}

// ---------------------------------------------------------------------------
// 3. A symlink planted in place of the temp dir after the cleanup: the
//    deferred deletions never follow it.

fn symlink_safety(call: &str) {
    let host = Host::c(call, "waitpid");
    let case = Case::new(&format!("fh-symlink-{call}"));
    let (tmp, objs) = temp_dir_with_objects(&case.dir, "ldtmp");
    let outside = case.dir.join("outside");
    fs::create_dir_all(&outside).unwrap();
    for name in ["one.o", "two.o", "scratch.txt"] {
        fs::write(outside.join(name), format!("outside {name}\n")).unwrap();
    }
    let mut cmd = case.traced(&host, &[], &objs);
    cmd.env("HOST_RMTREE", &tmp)
        .env("STANDIN_SWAP_DIR", &tmp)
        .env("STANDIN_SWAP_TO", &outside);
    let run = case.run(cmd, "symlink");
    let tr = case.dump_trace();
    case.assert_code(&run, 0);
    assert_handed_off(&case.dir, &run);
    assert_archive_ok(&case.archive, &run);
    assert!(
        run.stdout.contains("standin: swapped"),
        "the stand-in did not swap the temp dir\n{}",
        run.describe()
    );
    for name in ["one.o", "two.o", "scratch.txt"] {
        let p = outside.join(name);
        assert_eq!(
            fs::read_to_string(&p).ok(),
            Some(format!("outside {name}\n")),
            "{} outside the temp dir was deleted or changed through the planted symlink\n{tr}\n{}",
            p.display(),
            run.describe()
        );
    }
    assert!(outside.is_dir(), "{}", run.describe());
    // The test means something only if the deletions were deferred past the swap.
    assert!(
        !case.events("defer").is_empty() && !case.events("delete").is_empty(),
        "the host's deletions were not deferred\n{tr}\n{}",
        run.describe()
    );
}

#[test]
fn symlink_planted_after_cleanup_is_not_followed_fork_host() {
    symlink_safety("fork");
}

#[test]
fn symlink_planted_after_cleanup_is_not_followed_posix_spawnp_host() {
    symlink_safety("spawnp");
}

// ---------------------------------------------------------------------------
// 4. The run ends like the archiver: its exit code, or its signal.

#[test]
fn archiver_exit_7_is_the_run_status() {
    let (case, run) = fork_host_run("exit7", "STANDIN_EXIT", "7");
    run.assert_code(7);
    assert_handed_off(&case.dir, &run);
    assert!(!case.archive.exists(), "{}", run.describe());
    assert_cleanups_ran(&run);
}

#[test]
fn archiver_killed_by_sigterm_kills_the_run() {
    let (case, run) = fork_host_run("sigterm", "STANDIN_KILL", "1");
    assert_eq!(
        run.status.signal(),
        Some(SIGTERM),
        "the archiver died by SIGTERM: the run should end by SIGTERM too\n{}",
        run.describe()
    );
    assert_handed_off(&case.dir, &run);
    assert_cleanups_ran(&run);
}

// ---------------------------------------------------------------------------
// 5. Hosts the handoff must leave alone, or must still get right.

/// SIGCHLD ignored: the host's waitpid blocks until ar ends, then fails with
/// ECHILD. The status could never be collected: no handoff, same run as
/// without the library.
#[test]
fn sigchld_ignored_host_is_not_converted() {
    let host = Host::c("fork", "waitpid");
    let bcase = Case::new("fh-sigign-baseline");
    let mut cmd = bcase.plain(&host, &Host::objs());
    cmd.env("HOST_SIGCHLD_IGN", "1");
    let base = bcase.run(cmd, "without-library");
    base.assert_code(0);
    assert!(
        base.stdout
            .contains("host: archiver status unknown (ECHILD)\n"),
        "{}",
        base.describe()
    );
    assert_archive_ok(&bcase.archive, &base);

    let case = Case::new("fh-sigign");
    let mut cmd = case.shim(&host, &[], &Host::objs());
    cmd.env("HOST_SIGCHLD_IGN", "1");
    let shim = case.run(cmd, "with-library");
    let both = format!("{}\n{}", base.describe(), shim.describe());
    assert_same_run(&shim, &base, &both);
    assert_host_held(&case.dir, &shim, &host.program);
    assert_archive_ok(&case.archive, &shim);
}

/// `wait(&st)` (-1) with exactly one child: handed off.
#[test]
fn wait_any_child_host_is_converted() {
    handoff(Host::c("fork", "wait"));
}

/// Polls until `f` holds, for at most 20 s.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

fn process_gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
    }
}

/// Runs the host that exits right after the fork+exec, then waits for the
/// orphaned archiver to finish; returns (dir, outcome, what the stand-in saw).
fn never_waits(label: &str, shim: bool) -> (Case, Outcome, Seen) {
    let host = Host::c("fork", "none");
    let case = Case::new(&format!("fh-nowait-{label}"));
    let cmd = if shim {
        case.traced(&host, &[], &Host::objs())
    } else {
        case.plain(&host, &Host::objs())
    };
    let run = case.run(cmd, label);
    assert!(
        eventually(|| !seen_all(&case.dir).is_empty()),
        "the orphaned archiver never ran\n{}",
        run.describe()
    );
    let seen = seen_once(&case.dir, &run);
    assert!(
        eventually(|| process_gone(seen.pid)),
        "the orphaned archiver (pid {}) did not finish\n{}",
        seen.pid,
        run.describe()
    );
    assert_archive_ok(&case.archive, &run);
    (case, run, seen)
}

/// The host exits at once after spawning ar: nothing to take over, nothing
/// breaks: the host's output and status are as without the library, and the
/// orphaned archiver still builds the archive.
#[test]
fn host_that_never_waits_is_not_converted() {
    let (_bcase, base, _) = never_waits("without-library", false);
    base.assert_code(0);
    let (case, shim, seen) = never_waits("with-library", true);
    let both = format!("{}\n{}", base.describe(), shim.describe());
    assert_eq!(shim.code(), base.code(), "exit status differs\n{both}");
    let host_lines = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("host:"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        host_lines(&shim.stdout),
        host_lines(&base.stdout),
        "the host's output differs\n{both}"
    );
    assert_cleanups_ran(&shim);
    started_host_pid(&case.dir, &shim);
    assert_ne!(
        seen.pid, shim.pid,
        "the archiver ran as the host's pid\n{both}"
    );
    assert_ne!(
        basename(&seen.parent_exe),
        "arshim-reap",
        "the archiver's parent is a reaper although the host never waited: {seen:?}\n{both}"
    );
    assert!(
        case.events("handoff").is_empty() && case.events("convert").is_empty(),
        "the host never waited: no handoff expected\n{}\n{both}",
        case.dump_trace()
    );
}

// ---------------------------------------------------------------------------
// 6. Observe mode: nothing changes; the trace shows spawn/wait and exit.

fn observe(call: &str) {
    let host = Host::c(call, "waitpid");
    let bcase = Case::new(&format!("fh-observe-baseline-{call}"));
    let base = bcase.run(bcase.plain(&host, &Host::objs()), "without-library");
    base.assert_code(0);

    let case = Case::new(&format!("fh-observe-{call}"));
    let obs = case.run(case.traced(&host, &["--observe"], &Host::objs()), "observe");
    let both = format!(
        "{}\n{}\n{}",
        base.describe(),
        obs.describe(),
        case.dump_trace()
    );
    assert_same_run(&obs, &base, &both);
    let seen = assert_host_held(&case.dir, &obs, &host.program);
    assert_archive_ok(&case.archive, &obs);

    let host_pid = obs.pid as i64;
    let waits: Vec<String> = case
        .events("wait")
        .into_iter()
        .filter(|l| {
            json_num(l, "pid") == Some(host_pid) && json_num(l, "child") == Some(seen.pid as i64)
        })
        .collect();
    assert!(
        !waits.is_empty(),
        "the trace should show the host's wait for its archiver (pid {})\n{both}",
        seen.pid
    );
    assert!(
        waits.iter().any(|l| json_num(l, "status") == Some(0)),
        "the wait event should carry the archiver's status 0: {waits:?}\n{both}"
    );
    if call == "spawnp" {
        let spawns: Vec<String> = case
            .events("spawn")
            .into_iter()
            .filter(|l| json_num(l, "pid") == Some(host_pid))
            .collect();
        assert!(
            !spawns.is_empty(),
            "the trace should show the host's spawn\n{both}"
        );
    }
    assert!(
        case.events("exit")
            .iter()
            .any(|l| json_num(l, "pid") == Some(host_pid)),
        "the trace should show the host's exit\n{both}"
    );
    for ev in ["handoff", "convert", "defer", "reap"] {
        assert!(
            case.events(ev).is_empty(),
            "observe mode must not {ev}\n{both}"
        );
    }
}

#[test]
fn observe_mode_changes_nothing_fork_host() {
    observe("fork");
}

#[test]
fn observe_mode_changes_nothing_posix_spawnp_host() {
    observe("spawnp");
}

// ---------------------------------------------------------------------------
// 7. A host with several running threads.

#[test]
fn handoff_host_with_running_threads() {
    let (case, run) = fork_host_run("threads", "HOST_THREADS", "4");
    run.assert_code(0);
    assert_handed_off(&case.dir, &run);
    assert_archive_ok(&case.archive, &run);
    assert_cleanups_ran(&run);
    assert_archiver_output(&run);
}

// ---------------------------------------------------------------------------
// 8. The reaper never loads the hooks and never converts.

#[test]
fn reaper_never_loads_the_shim() {
    let case = Case::new("fh-reaper-clean");
    let cmd = case.traced(&Host::c("fork", "waitpid"), &[], &Host::objs());
    let run = case.run(cmd, "reaper");
    let tr = case.dump_trace();
    run.assert_code(0);
    let seen = assert_handed_off(&case.dir, &run);
    assert_archive_ok(&case.archive, &run);
    assert!(
        !seen.parent_maps_shim,
        "libarshim.so is mapped in the reaper (/proc/{}/maps)\n{}",
        seen.ppid,
        run.describe()
    );
    let reaper_loads: Vec<String> = case
        .events("load")
        .into_iter()
        .filter(|l| json_str_field(l, "exe").is_some_and(|e| basename(&e).starts_with("arshim")))
        .collect();
    assert!(
        reaper_loads.is_empty(),
        "the reaper loaded the library: {reaper_loads:?}\n{tr}"
    );
    let handoffs = case.events("handoff");
    assert_eq!(
        handoffs.len(),
        1,
        "exactly one handoff expected (the reaper must not hand off to itself)\n{tr}"
    );
    assert_eq!(
        json_num(&handoffs[0], "child"),
        Some(seen.pid as i64),
        "{tr}"
    );
    let reaps: Vec<String> = case
        .events("reap")
        .into_iter()
        .filter(|l| json_num(l, "pid") == Some(run.pid as i64))
        .collect();
    assert_eq!(
        reaps.len(),
        1,
        "one reap event from the host's pid expected\n{tr}"
    );
    assert!(
        case.events("exit")
            .iter()
            .any(|l| json_num(l, "pid") == Some(run.pid as i64) && json_num(l, "status") == Some(0)),
        "the reaper's exit event with status 0 is missing\n{tr}"
    );
}

// ---------------------------------------------------------------------------
// A `#!/bin/sh` archiver (the shell stand-in of tests/common, first on PATH):
// in /proc the child is `/bin/sh …/ar rcs …`. It is still the archiver.

#[test]
fn handoff_shell_script_archiver() {
    let case = Case::new("fh-script-ar");
    let mut cmd = arshim_run(
        &["--trace", case.trace.to_str().unwrap()],
        &kit().fork_host,
        &case.dir,
    );
    cmd.env("HOST_TOUCH_MIB", TOUCH_MIB.to_string())
        .args(["fork", "waitpid", "ar"])
        .arg(&case.archive)
        .args(Host::objs());
    let run = case.run(cmd, "script-ar");
    let tr = case.dump_trace();
    run.assert_code(0);
    assert_archive_ok(&case.archive, &run);
    assert_cleanups_ran(&run);
    let call = single_standin_call(&case.dir, &run);
    assert_eq!(call.ppid, run.pid, "{}", run.describe());
    assert_eq!(
        case.events("handoff").len(),
        1,
        "a fork+exec of the `ar` script was not handed off\n{tr}\n{}",
        run.describe()
    );
}

// ---------------------------------------------------------------------------
// A trace path that is a FIFO nobody reads (docs/DESIGN.md, "Trace events"):
// refused at once, one warning for the tree, and the handoff goes on exactly
// as without a trace (opened blocking, it would hang the host, its archiver
// and the reaper).

#[test]
fn handoff_with_a_fifo_trace_neither_hangs_nor_changes_the_run() {
    let host = Host::c("fork", "waitpid");
    let bcase = Case::new("fh-fifo-baseline");
    let base = bcase.run(bcase.shim(&host, &[], &Host::objs()), "untraced");
    base.assert_code(0);
    assert_handed_off(&bcase.dir, &base);

    let case = Case::new("fh-fifo");
    let made = Command::new("mkfifo").arg(&case.trace).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo (coreutils) failed");
    let cmd = case.traced(&host, &[], &Host::objs());
    let run = run_timed(cmd, &case.dir, "fifo-trace", Duration::from_secs(30)).outcome();
    let both = format!("{}\n{}", run.describe(), base.describe());
    assert_eq!(run.code(), base.code(), "exit status differs\n{both}");
    assert_eq!(run.stdout, base.stdout, "stdout differs\n{both}");
    assert_handed_off(&case.dir, &run);
    assert_archive_ok(&case.archive, &run);
    let (warnings, rest): (Vec<&str>, Vec<&str>) = run
        .stderr
        .lines()
        .partition(|l| l.starts_with("arshim[") && l.contains("ARSHIM_TRACE="));
    assert!(
        warnings.len() == 1 && warnings[0].contains("a FIFO"),
        "one warning about the trace expected\n{both}"
    );
    assert_eq!(rest, base.stderr.lines().collect::<Vec<_>>(), "{both}");
}
