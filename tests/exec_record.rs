//! The wait-time path knows the archiver child from its own exec
//! (docs/DESIGN.md, "Conversion" 2): a child of the host writes what it execs
//! into a record the host's wait hooks read, so neither a child slow to exec,
//! nor a loaded machine, nor an archiver that already ended hides it; and a
//! blocking wait on a child that has not exec'd yet still returns EINTR, a
//! stop or a failed exec's status exactly as without the library.
//!
//! Every test runs its host without and with the library and compares what a
//! user sees: exit status, the host's own lines, the archiver's lines, stderr
//! and the archive's members. The hosts are real programs compiled here:
//! tests/hosts/fork_host.c (its environment options drive each case), the ELF
//! stand-in `ar` (tests/hosts/standin_ar.c, which records how much its parent
//! held while it ran), and the real `gcc-ar`.

use common::*;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// What the fork hosts of the slow-exec cases hold (every page written).
const SLOW_MIB: u64 = 320;
/// What the fork and vfork hosts of the loaded-machine cases hold.
const LOADED_MIB: u64 = 400;
/// How long the slow child sleeps between its fork and its exec.
const SLOW_EXEC_MS: &str = "600";
/// The slow child closes every fd from 3 up to this one by one (~0.8 s here).
const CLOSE_FDS_UP_TO: &str = "8388608";
/// Runs of each host on the loaded machine, and busy loops loading it.
const LOADED_RUNS: usize = 10;
const BUSY_LOOPS: usize = 3;
/// gcc-ar runs in observe mode, and `arshim verify` runs.
const OBSERVE_RUNS: usize = 20;
const VERIFY_RUNS: usize = 10;
/// A run that could hang (a wait that never returns) is killed after this.
const HANG_LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// The fork host, without and with the library

/// How the fork host is started: `fork_host CALL WAIT TOOL lib.a one.o two.o`
/// holding `mib` MiB, with its environment options.
struct Spec {
    label: String,
    /// The host program (the fork host, or a copy of it under another name).
    program: PathBuf,
    call: &'static str,
    wait: &'static str,
    tool: OsString,
    mib: u64,
    env: Vec<(&'static str, OsString)>,
}

impl Spec {
    /// `fork` (execvp of `ar`, found on PATH) or `vfork` (execv of the
    /// stand-in's path), then `waitpid`.
    fn new(label: &str, call: &'static str, mib: u64) -> Spec {
        let kit = fork_kit();
        let tool = if call == "vfork" {
            kit.standin.clone().into_os_string()
        } else {
            "ar".into()
        };
        Spec {
            label: label.to_string(),
            program: kit.fork_host.clone(),
            call,
            wait: "waitpid",
            tool,
            mib,
            env: Vec::new(),
        }
    }

    fn env(mut self, var: &'static str, value: impl Into<OsString>) -> Spec {
        self.env.push((var, value.into()));
        self
    }

    fn tool(mut self, tool: impl Into<OsString>) -> Spec {
        self.tool = tool.into();
        self
    }

    fn wait(mut self, wait: &'static str) -> Spec {
        self.wait = wait;
        self
    }

    fn program(mut self, program: PathBuf) -> Spec {
        self.program = program;
        self
    }

    /// The host's command line after the program, in `dir`.
    fn args(&self, dir: &TestDir) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![self.call.into(), self.wait.into(), self.tool.clone()];
        args.push(dir.join("lib.a").into());
        args.extend(fixtures().objs.iter().map(|o| o.clone().into()));
        args
    }

    /// The host without the library (`shim` false) or under `arshim run`
    /// with `opts`, in `dir`, the ELF stand-in first on PATH.
    fn command(&self, dir: &TestDir, shim: bool, opts: &[&str]) -> Command {
        let mut cmd = if shim {
            arshim_run(opts, &self.program, dir)
        } else {
            command(&self.program, dir)
        };
        cmd.env("PATH", path_with(&fork_kit().bin))
            .env("HOST_TOUCH_MIB", self.mib.to_string())
            .args(self.args(dir));
        for (var, value) in &self.env {
            cmd.env(var, value);
        }
        cmd
    }

    /// One run in a fresh test dir `ex-LABEL-SUFFIX`, killed after `limit`.
    fn run(&self, suffix: &str, shim: bool, limit: Duration) -> (TestDir, Outcome) {
        let dir = TestDir::new(&format!("ex-{}-{suffix}", self.label));
        let trace = dir.join("trace.jsonl");
        let opts = ["--trace", trace.to_str().unwrap()];
        let cmd = self.command(&dir, shim, &opts);
        let run = run_timed(cmd, &dir, suffix, limit).outcome();
        (dir, run)
    }

    /// The run without the library.
    fn baseline(&self) -> (TestDir, Outcome) {
        self.run("without", false, HANG_LIMIT)
    }

    /// The run under `arshim run` (traced into the test dir's trace.jsonl).
    fn shimmed(&self) -> (TestDir, Outcome) {
        self.run("with", true, HANG_LIMIT)
    }
}

/// What a user sees of a run: its status, the host's own lines in order,
/// every stdout line (the library may flush the host's buffer earlier than
/// its exit, so in sorted order) and stderr.
#[derive(Debug, PartialEq, Eq)]
struct UserView {
    code: Option<i32>,
    signal: Option<i32>,
    host_lines: Vec<String>,
    stdout_lines: Vec<String>,
    stderr: String,
}

fn user_view(run: &Outcome) -> UserView {
    use std::os::unix::process::ExitStatusExt;
    let mut stdout_lines: Vec<String> = run.stdout.lines().map(str::to_string).collect();
    let host_lines = stdout_lines
        .iter()
        .filter(|l| l.starts_with("host:"))
        .cloned()
        .collect();
    stdout_lines.sort();
    UserView {
        code: run.code(),
        signal: run.status.signal(),
        host_lines,
        stdout_lines,
        stderr: run.stderr.clone(),
    }
}

/// The run with the library looked the same to a user as the one without.
fn assert_same_to_user(base: &Outcome, shim: &Outcome, trace: &Path) {
    assert_eq!(
        user_view(shim),
        user_view(base),
        "the run with the library differs from the run without\n{}\n{}\n{}",
        base.describe(),
        shim.describe(),
        dump_trace(trace)
    );
}

/// The archive of `dir` has the members the baseline's has (one.o, two.o).
fn assert_archive_as_baseline(base_dir: &TestDir, dir: &TestDir, run: &Outcome) {
    assert_archive_ok(&base_dir.join("lib.a"), run);
    assert_archive_ok(&dir.join("lib.a"), run);
}

// ---------------------------------------------------------------------------
// 1. A child slow to exec: handed off all the same.

/// Without the library the host holds its memory while ar runs; with it, the
/// host's pid is the small reaper; both end the same with the same archive.
fn slow_child_handed_off(spec: Spec) {
    let (bdir, base) = spec.baseline();
    base.assert_code(0);
    assert_host_held(&bdir, &base, &spec.program, spec.mib);
    let (dir, shim) = spec.shimmed();
    let trace = dir.join("trace.jsonl");
    assert_same_to_user(&base, &shim, &trace);
    assert_archive_as_baseline(&bdir, &dir, &shim);
    assert_handed_off(&dir, &shim);
}

#[test]
fn child_sleeping_before_exec_is_handed_off() {
    slow_child_handed_off(
        Spec::new("sleep", "fork", SLOW_MIB).env("HOST_CHILD_DELAY_MS", SLOW_EXEC_MS),
    );
}

#[test]
fn child_closing_every_fd_before_exec_is_handed_off() {
    slow_child_handed_off(
        Spec::new("closefds", "fork", SLOW_MIB).env("HOST_CHILD_CLOSE_FDS", CLOSE_FDS_UP_TO),
    );
}

// ---------------------------------------------------------------------------
// 2. A loaded machine: every run handed off.

/// Busy loops (tests/hosts/spinner.c under `timeout`, each in its own process
/// group), killed when dropped.
struct BusyLoops(Vec<Child>);

impl BusyLoops {
    fn start(n: usize) -> BusyLoops {
        static SPINNER: OnceLock<PathBuf> = OnceLock::new();
        let spinner = SPINNER.get_or_init(|| {
            let out = fixtures().dir.join("spinner");
            compile_c(&hosts_src().join("spinner.c"), &out);
            out
        });
        use std::os::unix::process::CommandExt;
        let loops = (0..n)
            .map(|_| {
                Command::new("timeout")
                    .arg("180")
                    .arg(spinner)
                    .stdin(Stdio::null())
                    .process_group(0)
                    .spawn()
                    .expect("cannot start `timeout` (coreutils) with the busy loop")
            })
            .collect();
        let mut busy = BusyLoops(loops);
        std::thread::sleep(Duration::from_millis(100));
        for child in &mut busy.0 {
            let status = child.try_wait().unwrap();
            assert!(status.is_none(), "a busy loop ended at once: {status:?}");
        }
        busy
    }
}

impl Drop for BusyLoops {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{}", child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = child.wait();
        }
    }
}

/// One loaded test at a time: two would load the machine twice over.
static LOADED: Mutex<()> = Mutex::new(());

/// Whether `run` (in `dir`) was handed off, by what the stand-in saw.
fn handed_off(dir: &TestDir, run: &Outcome) -> Result<(), String> {
    let seen = seen_all(dir);
    match seen.as_slice() {
        [s] if run.code() == Some(0)
            && s.ppid == run.pid
            && basename(&s.parent_exe) == "arshim-reap"
            && s.parent_rss_kib <= SMALL_KIB =>
        {
            Ok(())
        }
        _ => Err(format!("status {:?}, stand-in saw {seen:?}", run.code())),
    }
}

fn loaded_machine(call: &'static str) {
    let _one = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    let _busy = BusyLoops::start(BUSY_LOOPS);
    let spec = Spec::new(&format!("loaded-{call}"), call, LOADED_MIB);
    let (bdir, base) = spec.baseline();
    base.assert_code(0);
    assert_host_held(&bdir, &base, &spec.program, spec.mib);
    let mut missed = Vec::new();
    for i in 0..LOADED_RUNS {
        let (dir, shim) = spec.run(&format!("with-{i}"), true, HANG_LIMIT);
        assert_same_to_user(&base, &shim, &dir.join("trace.jsonl"));
        assert_archive_as_baseline(&bdir, &dir, &shim);
        if let Err(why) = handed_off(&dir, &shim) {
            missed.push(format!("run {i}: {why}"));
        }
    }
    assert!(
        missed.is_empty(),
        "{call} host of {LOADED_MIB} MiB with {BUSY_LOOPS} busy loops: {} of {LOADED_RUNS} runs \
         not handed off:\n{}",
        missed.len(),
        missed.join("\n")
    );
}

#[test]
fn loaded_machine_fork_host_is_handed_off_every_run() {
    loaded_machine("fork");
}

#[test]
fn loaded_machine_vfork_host_is_handed_off_every_run() {
    loaded_machine("vfork");
}

// ---------------------------------------------------------------------------
// 3. gcc-ar: an archiver that already ended is still known.

/// The real `gcc-ar` (Debian: gcc); missing is a failure.
fn gcc_ar() -> PathBuf {
    find_on_path("gcc-ar")
        .expect("`gcc-ar` is not installed: these tests need it (Debian package `gcc`)")
}

/// PATH without the stand-in's dir: the real `ar` for gcc-ar.
fn real_path() -> OsString {
    let fx = fixtures();
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::env::split_paths(&path).filter(|d| d != &fx.bin)).unwrap()
}

/// `gcc-ar rcs libab.a one.o two.o` in `dir` (fresh copies of the objects
/// there, no archive yet): without the library, or `arshim ARGS… -- gcc-ar …`.
fn gcc_ar_command(dir: &TestDir, arshim_args: Option<&[&str]>) -> Command {
    for obj in &fixtures().objs {
        fs::copy(obj, dir.join(obj.file_name().unwrap())).unwrap();
    }
    let mut cmd = match arshim_args {
        None => command(gcc_ar(), dir),
        Some(args) => {
            let mut cmd = command(companion(), dir);
            cmd.args(args).arg("--").arg(gcc_ar());
            cmd
        }
    };
    cmd.env("PATH", real_path())
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("ARSHIM_LIB", library())
        .args(["rcs", "libab.a", "one.o", "two.o"]);
    cmd
}

/// The run without the library, in a directory of the calling test's own
/// (`name`): tests run in parallel threads of one process.
fn gcc_ar_baseline(name: &str) -> (TestDir, Outcome) {
    let dir = TestDir::new(&format!("ex-gcc-ar-without-{name}"));
    let base = run(gcc_ar_command(&dir, None), &dir, "without");
    base.assert_code(0);
    assert_eq!(ar_members(&dir.join("libab.a")), ["one.o", "two.o"]);
    (dir, base)
}

/// The archiver's argv recorded for the child that `done` (an
/// `archiver_done` event) ended: on that event, else on the host's last
/// `wait` event for the same child that has one.
fn archiver_argv(lines: &[String], done: &str) -> Vec<String> {
    let argv_of = |l: &str| json_str_list(l, "argv").unwrap_or_default();
    let on_done = argv_of(done);
    if !on_done.is_empty() {
        return on_done;
    }
    let (pid, child) = (json_num(done, "pid"), json_num(done, "child"));
    lines
        .iter()
        .filter(|l| json_str_field(l, "event").as_deref() == Some("wait"))
        .filter(|l| json_num(l, "pid") == pid && json_num(l, "child") == child)
        .map(|l| argv_of(l))
        .rfind(|a| !a.is_empty())
        .unwrap_or_default()
}

/// One observe run: Ok, or why it did not record the archiver.
fn observe_once(i: usize, base: &Outcome) -> Result<(), String> {
    let dir = TestDir::new(&format!("ex-gcc-ar-observe-{i}"));
    let trace = dir.join("trace.jsonl");
    let args = ["run", "--observe", "--trace", trace.to_str().unwrap()];
    let obs = run(gcc_ar_command(&dir, Some(&args)), &dir, "observe");
    let both = format!("{}\n{}", base.describe(), obs.describe());
    assert_eq!(obs.code(), base.code(), "exit status differs\n{both}");
    assert_eq!(obs.stderr, base.stderr, "stderr differs\n{both}");
    assert_eq!(
        ar_members(&dir.join("libab.a")),
        ["one.o", "two.o"],
        "{both}"
    );
    let lines = trace_lines(&trace);
    let done: Vec<&String> = lines
        .iter()
        .filter(|l| json_str_field(l, "event").as_deref() == Some("archiver_done"))
        .filter(|l| json_num(l, "pid") == Some(obs.pid as i64))
        .collect();
    let [done] = done.as_slice() else {
        return Err(format!(
            "run {i}: {} `archiver_done` events from gcc-ar (pid {}); its waits: {:?}",
            done.len(),
            obs.pid,
            trace_events(&trace, "wait")
        ));
    };
    let argv = archiver_argv(&lines, done);
    if !is_gcc_ar_archiver(&argv) {
        return Err(format!("run {i}: archiver argv {argv:?} in {done}"));
    }
    Ok(())
}

/// `…/ar [--plugin P] -rcs libab.a one.o two.o`: gcc-ar runs ar with its
/// LTO plugin and writes the operation as `-rcs`.
fn is_gcc_ar_archiver(argv: &[String]) -> bool {
    let n = argv.len();
    n >= 5
        && basename(&argv[0]).ends_with("ar")
        && argv[n - 4].trim_start_matches('-') == "rcs"
        && argv[n - 3..] == ["libab.a", "one.o", "two.o"]
}

#[test]
fn gcc_ar_observe_records_the_archiver_every_run() {
    let (_bdir, base) = gcc_ar_baseline("observe");
    let missed: Vec<String> = (0..OBSERVE_RUNS)
        .filter_map(|i| observe_once(i, &base).err())
        .collect();
    assert!(
        missed.is_empty(),
        "`arshim run --observe -- gcc-ar rcs libab.a one.o two.o`: {} of {OBSERVE_RUNS} runs \
         did not record `archiver_done` with the archiver's argv:\n{}",
        missed.len(),
        missed.join("\n")
    );
}

#[test]
fn gcc_ar_verify_says_safe_every_time() {
    let (_bdir, base) = gcc_ar_baseline("verify");
    let mut verdicts = Vec::new();
    for i in 0..VERIFY_RUNS {
        let dir = TestDir::new(&format!("ex-gcc-ar-verify-{i}"));
        let out = run(gcc_ar_command(&dir, Some(&["verify"])), &dir, "verify");
        assert_eq!(
            ar_members(&dir.join("libab.a")),
            ["one.o", "two.o"],
            "{}\n{}",
            base.describe(),
            out.describe()
        );
        let verdict = out
            .stdout
            .lines()
            .find(|l| l.starts_with("verdict: "))
            .unwrap_or("(no verdict line)")
            .to_string();
        if !(verdict.starts_with("verdict: SAFE — ") && out.code() == Some(0)) {
            verdicts.push(format!("run {i}: {verdict}\n{}", out.describe()));
        }
    }
    assert!(
        verdicts.is_empty(),
        "`arshim verify -- gcc-ar rcs libab.a one.o two.o` on a fresh archive: {} of \
         {VERIFY_RUNS} not SAFE:\n{}",
        verdicts.len(),
        verdicts.join("\n")
    );
}

// ---------------------------------------------------------------------------
// 4. A host named like an archiver: its worker is not the archiver.

#[test]
fn archiver_named_host_worker_is_not_the_archiver() {
    let named = TestDir::new("ex-my-ar-bin");
    let my_ar = named.join("my-ar"); // matches the default glob `*-ar`
    fs::copy(&fork_kit().fork_host, &my_ar).unwrap();
    let spec = Spec::new("my-ar", "fork", 64).program(my_ar);
    let run_with_worker = |suffix: &str, shim: bool| {
        let dir = TestDir::new(&format!("ex-my-ar-{suffix}"));
        let trace = dir.join("trace.jsonl");
        let mut cmd = spec.command(&dir, shim, &["--trace", trace.to_str().unwrap()]);
        cmd.env("HOST_WORKER", dir.join("worker.out"));
        let run = run_timed(cmd, &dir, suffix, HANG_LIMIT).outcome();
        (dir, run, trace)
    };
    let (bdir, base, _) = run_with_worker("without", false);
    base.assert_code(0);
    assert!(
        base.stdout.contains("host: worker exited 0\n"),
        "{}",
        base.describe()
    );
    let (dir, shim, trace) = run_with_worker("with", true);
    assert_same_to_user(&base, &shim, &trace);
    assert_archive_as_baseline(&bdir, &dir, &shim);
    for d in [&bdir, &dir] {
        assert_eq!(
            fs::read_to_string(d.join("worker.out")).ok().as_deref(),
            Some("worker done\n"),
            "{}",
            shim.describe()
        );
    }
}

// ---------------------------------------------------------------------------
// 5. A failed exec: the host sees 127, as without.

fn failed_exec(call: &'static str) {
    let missing = TestDir::new(&format!("ex-missing-{call}"));
    // Named like an archiver, so a record of it would be taken for one.
    let tool = missing.join("no-such-dir/ar");
    let spec = Spec::new(&format!("missing-{call}"), call, 64).tool(tool);
    let (_bdir, base) = spec.baseline();
    base.assert_code(127);
    let (dir, shim) = spec.shimmed();
    let both = format!(
        "{}\n{}\n{}",
        base.describe(),
        shim.describe(),
        dump_trace(&dir.join("trace.jsonl"))
    );
    assert_same_run(&shim, &base, &both);
}

#[test]
fn failed_exec_fork_child_exit_127_as_without() {
    failed_exec("fork");
}

#[test]
fn failed_exec_vfork_child_exit_127_as_without() {
    failed_exec("vfork");
}

// ---------------------------------------------------------------------------
// 6. A wait on a child that has not exec'd yet: EINTR and stops as without.

/// The child execs this long after its fork in the EINTR cases.
const INTR_CHILD_DELAY_MS: &str = "1200";

/// A SIGALRM `intr_ms` into the wait for a child that execs after 1.2 s
/// (its handler says so on stderr): with `restart` (SA_RESTART) the wait
/// goes on, without it the wait returns EINTR once; the same with and
/// without the library.
fn signal_during_wait(label: &str, intr_ms: &str, restart: bool) {
    let mut spec = Spec::new(label, "fork", 64)
        .env("HOST_CHILD_DELAY_MS", INTR_CHILD_DELAY_MS)
        .env("HOST_INTR_MS", intr_ms);
    if restart {
        spec = spec.env("HOST_INTR_RESTART", "1");
    }
    let (bdir, base) = spec.baseline();
    base.assert_code(0);
    let eintrs = base.stdout.matches("host: wait interrupted (EINTR)\n");
    assert_eq!(eintrs.count(), usize::from(!restart), "{}", base.describe());
    assert_eq!(
        base.stderr.matches("host: SIGALRM handled\n").count(),
        1,
        "{}",
        base.describe()
    );
    let (dir, shim) = spec.shimmed();
    assert_same_to_user(&base, &shim, &dir.join("trace.jsonl"));
    assert_archive_as_baseline(&bdir, &dir, &shim);
}

/// The signal comes early in the wait, long before the child execs.
#[test]
fn eintr_early_in_wait_for_slow_child_as_without() {
    signal_during_wait("eintr-early", "100", false);
}

/// The signal comes late in the wait, still before the child execs.
#[test]
fn eintr_late_in_wait_for_slow_child_as_without() {
    signal_during_wait("eintr-late", "600", false);
}

/// A handler with SA_RESTART: the real wait never fails with EINTR, so the
/// library's must not either.
#[test]
fn sa_restart_signal_in_wait_is_not_eintr_as_without() {
    signal_during_wait("sa-restart", "100", true);
}

/// `WAIT` with WUNTRACED (waitid: WSTOPPED) while the child stops itself
/// before its exec: the host sees the stop, continues the child, and waits
/// again.
fn stop_before_exec(wait: &'static str) {
    let spec = Spec::new(&format!("stop-{wait}"), "fork", 64)
        .wait(wait)
        .env("HOST_CHILD_STOP", "1")
        .env("HOST_WUNTRACED", "1");
    let (bdir, base) = spec.baseline();
    base.assert_code(0);
    assert!(
        base.stdout.contains("host: child stopped by signal 19\n"),
        "{}",
        base.describe()
    );
    let (dir, shim) = spec.shimmed();
    assert_same_to_user(&base, &shim, &dir.join("trace.jsonl"));
    assert_archive_as_baseline(&bdir, &dir, &shim);
}

#[test]
fn wuntraced_stop_before_exec_as_without() {
    stop_before_exec("waitpid");
}

#[test]
fn wstopped_waitid_stop_before_exec_as_without() {
    stop_before_exec("waitid");
}
