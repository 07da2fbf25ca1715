//! Shared helpers of the arshim integration tests: the library under test, real
//! host programs compiled at test time (`cc`, `rustc`), a stand-in archiver that
//! reports who ran it and how much memory the host still held, and a runner
//! with a timeout.
//!
//! Nothing here skips: a missing dependency (the library, `cc`, `rustc`, `ar`,
//! `make`) is a test failure with a message saying what to do.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Every run is killed (with its whole process group) and fails after this.
pub const TIMEOUT: Duration = Duration::from_secs(60);
/// What each host holds (every page written) when it spawns the archiver.
pub const HOST_MIB: u64 = 208;
/// A host that still holds its memory while ar runs shows at least this.
pub const HELD_KIB: u64 = 200 * 1024;
/// A converted host (now the archiver) must be below this while ar runs.
pub const FREED_KIB: u64 = 50 * 1024;

/// Environment variables of the library (its internal ones too) and of an
/// outer `make`, removed from every command so the tests' own environment
/// cannot leak in.
pub const SCRUBBED_ENV: &[&str] = &[
    "ARSHIM",
    "ARSHIM_TOOLS",
    "ARSHIM_PID",
    "ARSHIM_HOSTS",
    "ARSHIM_LOG",
    "ARSHIM_TRACE",
    "ARSHIM_SPENT",
    "ARSHIM_WARNED",
    "ARSHIM_COMPANION",
    "ARSHIM_REAP_PRELOAD",
    "ARSHIM_FAILURE_STATUS",
    "LD_PRELOAD",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "MAKEFILES",
    "GNUMAKEFLAGS",
    "CARGO_MAKEFLAGS",
    "HOST_PID_FILE",
    "HOST_TOUCH_MIB",
    "STANDIN_RECORD",
    "STANDIN_EXIT",
    "STANDIN_READ_STDIN",
];

/// Removes `SCRUBBED_ENV` and a test's own `extra` variables from `cmd`.
pub fn scrub<'a>(cmd: &'a mut Command, extra: &[&str]) -> &'a mut Command {
    for v in SCRUBBED_ENV.iter().chain(extra) {
        cmd.env_remove(v);
    }
    cmd
}

// ---------------------------------------------------------------------------
// The pieces under test

/// `libarshim.so`: `$ARSHIM_LIB`, else next to the companion binary.
pub fn library() -> PathBuf {
    let lib = match std::env::var_os("ARSHIM_LIB") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => companion().parent().unwrap().join("libarshim.so"),
    };
    if !lib.is_file() {
        panic!(
            "libarshim.so missing: run `make test` (looked for {})",
            lib.display()
        );
    }
    lib
}

/// The companion binary `arshim`.
pub fn companion() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_arshim"))
}

/// The reaper the library execs in place of a host (`arshim-reap`, next to
/// the library).
pub fn reaper() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_arshim-reap"))
}

// ---------------------------------------------------------------------------
// Temp dirs

fn tmp_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("arshim-it")
}

/// A per-test directory, removed when the test passes and kept (its path is in
/// the failure messages) when it fails.
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        let root = tmp_root();
        // Dirs this test kept when it failed in earlier, finished test processes.
        if let Ok(entries) = fs::read_dir(&root) {
            let prefix = format!("{name}-");
            for e in entries.flatten() {
                let file_name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = file_name
                    .strip_prefix(&prefix)
                    .and_then(|p| p.parse::<u32>().ok())
                {
                    if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                        let _ = fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let path = root.join(format!("{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TestDir { path }
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------
// Fixtures: compiled once per test binary

pub struct Fixtures {
    pub dir: PathBuf,
    /// The C host (tests/hosts/host.c).
    pub host: PathBuf,
    /// Two tiny objects, `one.o` and `two.o`.
    pub objs: [PathBuf; 2],
    /// Directory holding the stand-in `ar` (put it first on PATH).
    pub bin: PathBuf,
    /// The stand-in archiver script, `bin/ar`.
    pub standin: PathBuf,
    /// The real archiver the stand-in execs.
    pub real_ar: PathBuf,
}

fn hosts_src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/hosts")
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            p.is_file()
                && fs::metadata(p)
                    .map(|m| m.permissions().mode() & 0o111 != 0)
                    .unwrap_or(false)
        })
}

/// The per-binary fixture dir; dirs of earlier, finished test processes are removed.
fn fixture_dir() -> PathBuf {
    let root = tmp_root().join("fixtures");
    fs::create_dir_all(&root).unwrap();
    if let Ok(entries) = fs::read_dir(&root) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.rsplit('-').next().and_then(|p| p.parse::<u32>().ok()) {
                if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
    }
    let exe = std::env::current_exe().unwrap();
    let stem = exe.file_stem().unwrap().to_string_lossy().into_owned();
    let dir = root.join(format!("{stem}-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn check_tool(cmd: &mut Command, what: &str) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {what} ({cmd:?}): {e} — it is required by these tests")
    });
    if !out.status.success() {
        panic!(
            "{what} failed ({cmd:?}): {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// `cc -O1 -Wall -Werror -o OUT SRC`
pub fn compile_c(src: &Path, out: &Path) {
    compile_c_with(src, out, &[]);
}

/// `cc -O1 -Wall -Werror -o OUT SRC FLAGS…`
pub fn compile_c_with(src: &Path, out: &Path, flags: &[&str]) {
    check_tool(
        Command::new("cc")
            .args(["-O1", "-Wall", "-Werror", "-o"])
            .arg(out)
            .arg(src)
            .args(flags),
        "the C compiler `cc`",
    );
}

fn standin_script(real_ar: &Path) -> String {
    format!(
        r#"#!/bin/sh
# Stand-in archiver of the arshim integration tests (named `ar`: it matches the
# default ARSHIM_TOOLS). Appends one line to $STANDIN_RECORD:
#   pid=$$ ppid=$PPID gppid=... self_rss_kib=... parent_rss_kib=... gparent_rss_kib=...
# i.e. its own pid and memory (the host's pid, if the host was converted) and
# its parent's and grandparent's (the host, if the host spawned it and waits).
read_status() {{
	RSS=0
	PP=0
	while read -r key value _; do
		case $key in
		VmRSS:) RSS=$value ;;
		PPid:) PP=$value ;;
		esac
	done 2>/dev/null <"$1"
}}
read_status /proc/$$/status
self_rss=$RSS
read_status /proc/$PPID/status
parent_rss=$RSS
gppid=$PP
read_status /proc/$gppid/status
gparent_rss=$RSS
if [ -n "${{STANDIN_RECORD:-}}" ]; then
	echo "pid=$$ ppid=$PPID gppid=$gppid self_rss_kib=$self_rss parent_rss_kib=$parent_rss gparent_rss_kib=$gparent_rss" >>"$STANDIN_RECORD"
fi
echo "standin: archiving"
echo "standin: note on stderr" >&2
if [ "${{STANDIN_READ_STDIN:-}}" = 1 ]; then
	n=0
	while IFS= read -r _line; do n=$((n + 1)); done
	echo "standin: read $n stdin lines"
fi
if [ -n "${{STANDIN_EXIT:-}}" ]; then
	exit "$STANDIN_EXIT"
fi
exec {real} "$@"
"#,
        real = real_ar.display()
    )
}

pub fn fixtures() -> &'static Fixtures {
    static FX: OnceLock<Fixtures> = OnceLock::new();
    FX.get_or_init(|| {
        let dir = fixture_dir();
        let src = hosts_src();

        let host = dir.join("host");
        compile_c(&src.join("host.c"), &host);

        let real_ar = find_on_path("ar")
            .or_else(|| Some(PathBuf::from("/usr/bin/ar")).filter(|p| p.is_file()))
            .expect("the archiver `ar` (binutils) is not installed: it is required by these tests");
        let real_ar = fs::canonicalize(&real_ar).unwrap();

        let objs = [dir.join("one.o"), dir.join("two.o")];
        for (obj, body) in objs.iter().zip([
            "int one(void) { return 1; }\n",
            "int two(void) { return 2; }\n",
        ]) {
            let c = obj.with_extension("c");
            fs::write(&c, body).unwrap();
            check_tool(
                Command::new("cc")
                    .args(["-O1", "-Wall", "-Werror", "-c", "-o"])
                    .arg(obj)
                    .arg(&c),
                "the C compiler `cc`",
            );
        }

        let bin = dir.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let standin = bin.join("ar");
        fs::write(&standin, standin_script(&real_ar)).unwrap();
        fs::set_permissions(&standin, fs::Permissions::from_mode(0o755)).unwrap();

        Fixtures {
            dir,
            host,
            objs,
            bin,
            standin,
            real_ar,
        }
    })
}

/// The Rust host (tests/hosts/rust_host.rs), compiled with `rustc` once per test binary.
pub fn rust_host() -> &'static Path {
    static RH: OnceLock<PathBuf> = OnceLock::new();
    RH.get_or_init(|| {
        let out = fixtures().dir.join("rust_host");
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        check_tool(
            Command::new(rustc)
                .args(["-O", "--edition", "2021", "-o"])
                .arg(&out)
                .arg(hosts_src().join("rust_host.rs")),
            "`rustc`",
        );
        out
    })
    .as_path()
}

// ---------------------------------------------------------------------------
// Commands

/// A command with a clean environment for the tests: no library variables,
/// no outer make, the stand-in `ar` first on PATH, the C locale, and the
/// stand-in's record file and the host's pid file in `dir`.
pub fn command(program: impl AsRef<OsStr>, dir: &TestDir) -> Command {
    let fx = fixtures();
    let mut cmd = Command::new(program);
    scrub(&mut cmd, &[]);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![fx.bin.clone()];
    dirs.extend(std::env::split_paths(&path).filter(|d| d != &fx.bin));
    cmd.env("PATH", std::env::join_paths(dirs).unwrap())
        .env("LC_ALL", "C")
        .env("STANDIN_RECORD", dir.join("standin.log"))
        .env("HOST_PID_FILE", dir.join("pids"))
        .env("HOST_TOUCH_MIB", HOST_MIB.to_string())
        .current_dir(&dir.path);
    cmd
}

/// `arshim run [OPTS…] -- PROGRAM` with the environment of [`command`].
pub fn arshim_run(opts: &[&str], program: impl AsRef<OsStr>, dir: &TestDir) -> Command {
    let mut cmd = command(companion(), dir);
    cmd.arg("run").args(opts).arg("--").arg(program);
    cmd
}

/// `PROGRAM` with `LD_PRELOAD=<lib>` set directly (not via `arshim run`).
pub fn preloaded(program: impl AsRef<OsStr>, dir: &TestDir) -> Command {
    let mut cmd = command(program, dir);
    cmd.env("LD_PRELOAD", library());
    cmd
}

#[derive(Debug)]
pub struct Outcome {
    pub label: String,
    /// The test directory (kept when the test fails).
    pub dir: PathBuf,
    /// The pid of the process the test spawned.
    pub pid: u32,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Everything about this run, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "[{} in {}] pid {} exited with {:?} (signal {:?})\n--- stdout ---\n{}--- stderr ---\n{}--------------",
            self.label,
            self.dir.display(),
            self.pid,
            self.status.code(),
            self.status.signal(),
            self.stdout,
            self.stderr
        )
    }

    pub fn assert_code(&self, code: i32) {
        assert_eq!(
            self.code(),
            Some(code),
            "unexpected exit status\n{}",
            self.describe()
        );
    }
}

fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// What a timed run left: the process, its status, where its output went
/// and how long it took.
pub struct Finished {
    pub label: String,
    pub dir: PathBuf,
    pub pid: u32,
    pub status: ExitStatus,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub took: Duration,
}

impl Finished {
    /// The run with its output as text (it must be UTF-8).
    pub fn outcome(self) -> Outcome {
        let (stdout, stderr) = (
            fs::read_to_string(&self.stdout).unwrap(),
            fs::read_to_string(&self.stderr).unwrap(),
        );
        self.with(stdout, stderr)
    }

    /// The same for real toolchains, whose output need not be UTF-8.
    pub fn outcome_lossy(self) -> Outcome {
        let lossy = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap()).into_owned();
        let (stdout, stderr) = (lossy(&self.stdout), lossy(&self.stderr));
        self.with(stdout, stderr)
    }

    fn with(self, stdout: String, stderr: String) -> Outcome {
        Outcome {
            label: self.label,
            dir: self.dir,
            pid: self.pid,
            status: self.status,
            stdout,
            stderr,
        }
    }
}

/// Run `cmd` with stdin from /dev/null and stdout/stderr into files of `dir`
/// (so the host's stdout is fully buffered), in its own process group; after
/// `timeout` the group is killed and the test fails.
pub fn run_timed(mut cmd: Command, dir: &TestDir, label: &str, timeout: Duration) -> Finished {
    let out_path = dir.join(format!("{label}.stdout"));
    let err_path = dir.join(format!("{label}.stderr"));
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .process_group(0);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let pid = child.id();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if started.elapsed() > timeout {
            kill_group(pid);
            let _ = child.wait();
            panic!(
                "[{label}] hung: killed after {} s: {cmd:?}\n--- stdout ---\n{}--- stderr ---\n{}(dir {})",
                timeout.as_secs(),
                fs::read_to_string(&out_path).unwrap_or_default(),
                fs::read_to_string(&err_path).unwrap_or_default(),
                dir.path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Finished {
        label: label.to_string(),
        dir: dir.path.clone(),
        pid,
        status,
        stdout: out_path,
        stderr: err_path,
        took: started.elapsed(),
    }
}

/// [`run_timed`] with [`TIMEOUT`], output as text.
pub fn run(cmd: Command, dir: &TestDir, label: &str) -> Outcome {
    run_timed(cmd, dir, label, TIMEOUT).outcome()
}

// ---------------------------------------------------------------------------
// What the host and the stand-in recorded

/// One run of the stand-in archiver.
#[derive(Debug, Clone)]
pub struct StandinCall {
    pub pid: u32,
    pub ppid: u32,
    pub gppid: u32,
    /// VmRSS of the stand-in itself: the process with the host's pid when converted.
    pub self_rss_kib: u64,
    pub parent_rss_kib: u64,
    pub gparent_rss_kib: u64,
}

impl StandinCall {
    /// VmRSS of the ancestor with `pid`, if it is the parent or grandparent.
    pub fn ancestor_rss_kib(&self, pid: u32) -> Option<u64> {
        if self.ppid == pid {
            Some(self.parent_rss_kib)
        } else if self.gppid == pid {
            Some(self.gparent_rss_kib)
        } else {
            None
        }
    }
}

pub fn standin_calls(dir: &TestDir) -> Vec<StandinCall> {
    let text = fs::read_to_string(dir.join("standin.log")).unwrap_or_default();
    text.lines()
        .map(|line| {
            let field = |k: &str| -> u64 {
                line.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("bad stand-in record line {line:?} (field {k})"))
            };
            StandinCall {
                pid: field("pid") as u32,
                ppid: field("ppid") as u32,
                gppid: field("gppid") as u32,
                self_rss_kib: field("self_rss_kib"),
                parent_rss_kib: field("parent_rss_kib"),
                gparent_rss_kib: field("gparent_rss_kib"),
            }
        })
        .collect()
}

/// The stand-in ran exactly once: that call.
pub fn single_standin_call(dir: &TestDir, run: &Outcome) -> StandinCall {
    let calls = standin_calls(dir);
    assert_eq!(
        calls.len(),
        1,
        "the stand-in ar should have run exactly once: {calls:?}\n{}",
        run.describe()
    );
    calls[0].clone()
}

/// Pids the hosts wrote to $HOST_PID_FILE, with their role ("host", "parent").
pub fn host_pids(dir: &TestDir) -> Vec<(String, u32)> {
    let text = fs::read_to_string(dir.join("pids")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (role, pid) = l.split_once(' ')?;
            Some((role.to_string(), pid.trim().parse().ok()?))
        })
        .collect()
}

/// The pid of the single process that recorded itself as `role`.
pub fn host_pid(dir: &TestDir, role: &str, run: &Outcome) -> u32 {
    let pids: Vec<u32> = host_pids(dir)
        .into_iter()
        .filter(|(r, _)| r == role)
        .map(|(_, p)| p)
        .collect();
    assert_eq!(
        pids.len(),
        1,
        "expected exactly one {role} pid, got {pids:?}\n{}",
        run.describe()
    );
    pids[0]
}

/// `ar t ARCHIVE` with the real archiver: the member names.
pub fn ar_members(archive: &Path) -> Vec<String> {
    let fx = fixtures();
    let out = Command::new(&fx.real_ar)
        .arg("t")
        .arg(archive)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} t: {e}", fx.real_ar.display()));
    assert!(
        out.status.success(),
        "`ar t {}` failed: {}",
        archive.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn assert_archive_ok(archive: &Path, run: &Outcome) {
    assert!(
        archive.is_file(),
        "archive {} was not created\n{}",
        archive.display(),
        run.describe()
    );
    assert_eq!(
        ar_members(archive),
        ["one.o", "two.o"],
        "archive members\n{}",
        run.describe()
    );
}

/// `needles` all occur in `hay`, in this order.
pub fn assert_in_order(hay: &str, needles: &[&str], what: &str, run: &Outcome) {
    let mut from = 0;
    for n in needles {
        match hay[from..].find(n) {
            Some(i) => from += i + n.len(),
            None => panic!(
                "{what}: expected {needles:?} in this order; {n:?} missing (after byte {from})\n{}",
                run.describe()
            ),
        }
    }
}

/// Lines of stderr written by the library (its log lines name arshim).
pub fn library_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("arshim"))
        .collect()
}

// ---------------------------------------------------------------------------
// Verdicts on a run

/// The run was converted: the stand-in ran with the host's pid (the pid the
/// test started: `arshim run` execs the host), and that process no longer held
/// the host's memory while ar ran.
pub fn assert_converted(dir: &TestDir, run: &Outcome) -> StandinCall {
    let host = host_pid(dir, "host", run);
    assert_eq!(
        host,
        run.pid,
        "the host should be the process the test started (`arshim run` execs it)\n{}",
        run.describe()
    );
    let call = single_standin_call(dir, run);
    assert_eq!(
        call.pid,
        host,
        "not converted: the archiver ran as pid {} (parent {}), the host is pid {host}\n{}",
        call.pid,
        call.ppid,
        run.describe()
    );
    assert!(
        call.self_rss_kib < FREED_KIB,
        "converted, but the host's pid still held {} KiB while ar ran (limit {FREED_KIB} KiB)\n{}",
        call.self_rss_kib,
        run.describe()
    );
    call
}

/// The run was not converted: the archiver was a separate process, a child
/// (posix_spawn*) or grandchild (system: sh -c) of the host, which still held
/// its memory while ar ran.
pub fn assert_not_converted(dir: &TestDir, run: &Outcome, host: u32) -> StandinCall {
    let call = single_standin_call(dir, run);
    assert_ne!(
        call.pid,
        host,
        "the archiver ran as the host's pid: converted\n{}",
        run.describe()
    );
    let rss = call.ancestor_rss_kib(host).unwrap_or_else(|| {
        panic!(
            "the host (pid {host}) is neither the archiver's parent nor grandparent: {call:?}\n{}",
            run.describe()
        )
    });
    assert!(
        rss >= HELD_KIB,
        "the host held only {rss} KiB while ar ran (it touched {HOST_MIB} MiB)\n{}",
        run.describe()
    );
    call
}

/// The host's buffered stdout line and its atexit output are not lost.
pub fn assert_cleanups_ran(run: &Outcome) {
    assert_in_order(
        &run.stdout,
        &["host: buffered line", "host: atexit ran"],
        "host's stdout",
        run,
    );
}

/// A conversion or handoff: the host's cleanups (its buffered line, then
/// its atexit output) came out before the archiver's output.
pub fn assert_cleanups_before_archiver(run: &Outcome) {
    assert_in_order(
        &run.stdout,
        &[
            "host: buffered line\n",
            "host: atexit ran\n",
            "standin: archiving\n",
        ],
        "stdout",
        run,
    );
}

pub fn assert_silent(run: &Outcome) {
    let lines = library_lines(&run.stderr);
    assert!(
        lines.is_empty(),
        "a conversion is silent at the default log level, got {lines:?}\n{}",
        run.describe()
    );
}

// ---------------------------------------------------------------------------
// Trace (ARSHIM_TRACE): one JSON object per line

/// The value of a string field `"key": "value"` of a one-line JSON object.
pub fn json_str_field(line: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\"");
    let mut rest = &line[line.find(&pat)? + pat.len()..];
    rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

pub fn trace_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// The trace lines whose "event" is `event`.
pub fn trace_events(path: &Path, event: &str) -> Vec<String> {
    trace_lines(path)
        .into_iter()
        .filter(|l| json_str_field(l, "event").as_deref() == Some(event))
        .collect()
}
