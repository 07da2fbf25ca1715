//! Integration tests of the companion's internal reaper mode (`arshim __reap`),
//! which the library execs in place of a host: real processes throughout.
//!
//! Wait mode needs the archiver to be the reaper's child, as after the
//! library's handoff: `sh -c 'CHILD & exec arshim __reap wait --pid $!'` forks
//! the child, then becomes the reaper in the same process.
//!
//! Nothing here skips: a missing `sh` or `cc` is a failure.

use common::empty_shared_library;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The reaper the library execs (`arshim __reap` runs the same code).
const SH: &str = "/bin/sh";
/// Every run is killed (with its process group) and fails after this.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The reaper's RSS bound while it waits.
const MAX_RSS_KIB: u64 = 2048;

// ---------------------------------------------------------------------------
// Helpers

/// A fresh directory for one test; removed when the test passes, kept for
/// inspection when it fails.
struct TestDir(PathBuf);

impl std::ops::Deref for TestDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if !thread::panicking() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

fn test_dir(name: &str) -> TestDir {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("reaper-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    TestDir(dir)
}

/// A command with none of the library's variables from our own environment.
fn clean(mut cmd: Command) -> Command {
    for (name, _) in std::env::vars_os() {
        if name == "LD_PRELOAD" || name.to_string_lossy().starts_with("ARSHIM") {
            cmd.env_remove(name);
        }
    }
    cmd.stdin(Stdio::null()).process_group(0);
    cmd
}

/// `arshim __reap ARGS`.
fn reaper(args: &[&str]) -> Command {
    let mut cmd = clean(Command::new(common::reaper()));
    cmd.arg("__reap").args(args);
    cmd
}

/// `sh -c SCRIPT` with `$0` = the companion, so scripts can `exec "$0" __reap …`.
fn sh(script: &str) -> Command {
    let mut cmd = clean(Command::new(SH));
    cmd.args(["-c", script]).arg(common::reaper());
    cmd
}

/// Lets the command inherit `fds` although we opened them close-on-exec.
fn inherit(cmd: &mut Command, fds: &[RawFd]) {
    let fds = fds.to_vec();
    // SAFETY: only fcntl, which is async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &fds {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// `arshim __reap run --trace TRACE DELETIONS… -- /bin/sh sh -c SCRIPT`, each
/// deletion an (`--unlink` | `--rmdir`, dirfd, name), with the directory fds
/// `fds` inherited.
fn reap_sh(trace: &Path, deletions: &[(&str, &str, &str)], script: &str, fds: &[RawFd]) -> Command {
    let mut args = vec!["run", "--trace", trace.to_str().unwrap()];
    for &(op, fd, name) in deletions {
        args.extend([op, fd, name]);
    }
    args.extend(["--", SH, "sh", "-c", script]);
    let mut cmd = reaper(&args);
    inherit(&mut cmd, fds);
    cmd
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Waits for `child` with the timeout, then collects its output.
fn finish(mut child: Child) -> Output {
    let pid = child.id() as libc::pid_t;
    let readers = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .map(|pipe| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            // SAFETY: kill takes plain integers; the group is the child's own.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let _ = child.wait();
            panic!("timed out after {TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    // The group may hold leftovers (a background child): they must not keep
    // the pipes open.
    // SAFETY: as above.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let [stdout, stderr] = readers.map(|r| r.join().unwrap());
    Output {
        status,
        stdout,
        stderr,
    }
}

fn run(cmd: &mut Command) -> Output {
    finish(spawn(cmd))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[track_caller]
fn assert_signal(status: ExitStatus, sig: i32) {
    assert_eq!(status.signal(), Some(sig), "status {status:?}");
}

/// The trace file's lines; each must be one JSON object.
fn trace_lines(path: &Path) -> Vec<String> {
    let lines: Vec<String> = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no trace at {}: {e}", path.display()))
        .lines()
        .map(str::to_owned)
        .collect();
    for line in &lines {
        assert!(
            line.starts_with("{\"ts\":") && line.ends_with('}'),
            "not a trace line: {line}"
        );
        assert!(line.contains(",\"pid\":"), "{line}");
    }
    lines
}

/// The one trace line of `event` that contains all of `parts`.
#[track_caller]
fn find_event<'a>(lines: &'a [String], event: &str, parts: &[&str]) -> &'a str {
    let tag = format!("\"event\":\"{event}\"");
    let found: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(&tag) && parts.iter().all(|p| l.contains(p)))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "want one {event} event with {parts:?}, trace:\n{}",
        lines.join("\n")
    );
    found[0]
}

/// A line of `/proc/PID/status`, in kB or as hex.
fn proc_status(pid: u32, field: &str) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().trim_end_matches(" kB").to_owned())
}

/// Waits until process `pid` runs the companion (the exec happened) and has
/// had time to start waiting.
fn wait_until_reaper(pid: u32) {
    let bin = fs::canonicalize(common::reaper()).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while fs::read_link(format!("/proc/{pid}/exe")).ok().as_ref() != Some(&bin) {
        assert!(Instant::now() < deadline, "{pid} never became the reaper");
        thread::sleep(Duration::from_millis(5));
    }
    // Its start-up takes well under a millisecond.
    thread::sleep(Duration::from_millis(200));
}

/// `NAME` on PATH; missing is a failure.
fn which(name: &str) -> String {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not found on PATH"))
        .to_string_lossy()
        .into_owned()
}

/// An archiver that shows its own signal masks. Not a shell: dash clears
/// its signal mask at start-up.
fn show_signals() -> Command {
    let grep = which("grep");
    reaper(&[
        "run",
        "--",
        &grep,
        "grep",
        "-E",
        "^Sig(Ign|Blk):",
        "/proc/self/status",
    ])
}

/// Whether `sig` is in the hex mask of `field` in `show_signals` output.
fn has_signal(output: &str, field: &str, sig: i32) -> bool {
    let mask = output
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in {output:?}"));
    let mask = u64::from_str_radix(mask.trim(), 16).unwrap();
    mask & (1 << (sig - 1)) != 0
}

// ---------------------------------------------------------------------------
// Wait mode

#[test]
fn wait_mode_exits_with_the_archivers_code() {
    for (child, code) in [("exit 7", 7), ("exit 0", 0), ("sleep 0.2; exit 1", 1)] {
        let script = format!(r#"sh -c '{child}' & exec "$0" __reap wait --pid $!"#);
        let out = run(&mut sh(&script));
        assert_exit(&out, code);
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "the reaper prints nothing on success: {out:?}"
        );
    }
}

#[test]
fn wait_mode_dies_by_the_archivers_signal() {
    for (sig, name) in [(libc::SIGTERM, "TERM"), (libc::SIGKILL, "KILL")] {
        let script = format!(r#"sh -c 'kill -{name} $$' & exec "$0" __reap wait --pid $!"#);
        let out = run(&mut sh(&script));
        assert_signal(out.status, sig);
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    }
}

#[test]
fn wait_mode_traces_reap_and_exit() {
    let dir = test_dir("wait-trace");
    let trace = dir.join("trace.jsonl");
    let script = format!(
        r#"sleep 0.5 & sleep 0.1; exec "$0" __reap wait --pid $! --trace '{}'"#,
        trace.display()
    );
    let mut cmd = sh(&script);
    let out = run(&mut cmd);
    assert_exit(&out, 0);
    let lines = trace_lines(&trace);
    let reap = find_event(&lines, "reap", &[r#""mode":"wait""#]);
    assert!(
        reap.contains("\"path\":\"/") && reap.contains("sleep\""),
        "{reap}"
    );
    let child = reap
        .split("\"child\":")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap();
    find_event(
        &lines,
        "exit",
        &[&format!("\"child\":{child},"), "\"status\":0}"],
    );
    assert_eq!(lines.len(), 2, "{lines:#?}");
}

#[test]
fn wait_mode_for_a_process_that_is_not_its_child_fails_with_1() {
    let dir = test_dir("not-a-child");
    fs::write(dir.join("keep.o"), "x").unwrap();
    let dirfd = File::open(&*dir).unwrap();
    let fd = dirfd.as_raw_fd().to_string();
    // pid 1 exists but is not our child.
    let mut cmd = reaper(&["wait", "--pid", "1", "--unlink", &fd, "keep.o"]);
    inherit(&mut cmd, &[dirfd.as_raw_fd()]);
    let out = run(&mut cmd);
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("arshim[")
            && stderr.contains("]: reaper: cannot wait for 1: ")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    // The archiver may still be running: its inputs stay.
    assert!(dir.join("keep.o").exists());
}

#[test]
fn wait_mode_holds_at_most_2_mib_while_it_waits() {
    let child = spawn(&mut sh(r#"sleep 2 & exec "$0" __reap wait --pid $!"#));
    let pid = child.id();
    wait_until_reaper(pid);
    let rss: u64 = proc_status(pid, "VmRSS").unwrap().parse().unwrap();
    let hwm: u64 = proc_status(pid, "VmHWM").unwrap().parse().unwrap();
    let rollup = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let out = finish(child);
    assert_exit(&out, 0);
    eprintln!("wait-mode reaper: VmRSS {rss} kB, VmHWM {hwm} kB\n{rollup}");
    assert!(
        rss <= MAX_RSS_KIB,
        "the waiting reaper holds {rss} kB (> {MAX_RSS_KIB} kB):\n{rollup}"
    );
}

#[test]
fn wait_mode_forwards_a_termination_signal_to_the_archiver() {
    let child = spawn(&mut sh(r#"sleep 20 & exec "$0" __reap wait --pid $!"#));
    let pid = child.id();
    wait_until_reaper(pid);
    let started = Instant::now();
    // SAFETY: kill takes plain integers.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let out = finish(child);
    // The reaper survives the signal, passes it on, and dies like sleep did.
    assert_signal(out.status, libc::SIGTERM);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn wait_mode_deletes_after_the_archiver_ended() {
    let dir = test_dir("wait-deletes");
    let work = dir.join("work");
    fs::create_dir(&work).unwrap();
    fs::write(work.join("a.o"), "a").unwrap();
    let (workfd, dirfd) = (File::open(&work).unwrap(), File::open(&*dir).unwrap());
    let (w, d) = (workfd.as_raw_fd(), dirfd.as_raw_fd());
    // The archiver fails unless a.o is still there after a while.
    let script = format!(
        r#"(sleep 0.3; test -f '{}/a.o') & exec "$0" __reap wait --pid $! --unlink {w} a.o --rmdir {d} work"#,
        work.display()
    );
    let mut cmd = sh(&script);
    inherit(&mut cmd, &[w, d]);
    let out = run(&mut cmd);
    assert_exit(&out, 0);
    assert!(!work.exists(), "the deferred deletions were not done");
}

// ---------------------------------------------------------------------------
// Run mode

#[test]
fn run_mode_exits_with_the_archivers_code_and_shares_its_output() {
    let out = run(&mut reaper(&["run", "--", SH, "sh", "-c", "exit 3"]));
    assert_exit(&out, 3);

    let out = run(&mut reaper(&[
        "run",
        "--",
        SH,
        "sh",
        "-c",
        r#"echo "out $0 $1"; echo err >&2"#,
        "ar0",
        "rcs",
    ]));
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), "out ar0 rcs\n");
    assert_eq!(text(&out.stderr), "err\n");
}

#[test]
fn run_mode_dies_by_the_archivers_signal() {
    let out = run(&mut reaper(&["run", "--", SH, "sh", "-c", "kill -TERM $$"]));
    assert_signal(out.status, libc::SIGTERM);
}

#[test]
fn run_mode_does_not_search_path() {
    let dir = test_dir("no-path-search");
    let trace = dir.join("trace.jsonl");
    let mut cmd = reaper(&[
        "run",
        "--trace",
        trace.to_str().unwrap(),
        "--",
        "sh",
        "sh",
        "-c",
        "exit 0",
    ]);
    // Relative to the current directory (where there is no `sh`), not PATH.
    cmd.current_dir(&*dir);
    let out = run(&mut cmd);
    assert_exit(&out, 127);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("]: reaper: cannot run sh: "), "{stderr}");
    let lines = trace_lines(&trace);
    find_event(&lines, "reap", &[r#""child":null"#, r#""error":"#]);
    find_event(&lines, "exit", &[r#""status":127"#]);
}

#[test]
fn run_mode_restores_the_hosts_ld_preload() {
    let dir = test_dir("preload");
    let (lib, other) = (dir.join("lib.so"), dir.join("other.so"));
    empty_shared_library(&lib);
    empty_shared_library(&other);
    let (lib, other) = (lib.to_str().unwrap(), other.to_str().unwrap());
    let show = r#"printf '%s|%s\n' "${LD_PRELOAD-unset}" "${ARSHIM_REAP_PRELOAD-unset}""#;
    let both = format!("{lib} {other}");
    for (preload, stash, want) in [
        (None, Some(lib), format!("{lib}|unset")),
        (Some(other), Some(both.as_str()), format!("{both}|unset")),
        (Some(other), None, format!("{other}|unset")),
        (None, None, "unset|unset".to_owned()),
    ] {
        let mut cmd = reaper(&["run", "--", SH, "sh", "-c", show]);
        if let Some(preload) = preload {
            cmd.env("LD_PRELOAD", preload);
        }
        if let Some(stash) = stash {
            cmd.env("ARSHIM_REAP_PRELOAD", stash);
        }
        let out = run(&mut cmd);
        assert_exit(&out, 0);
        assert_eq!(text(&out.stdout).trim_end(), want, "{preload:?} {stash:?}");
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    }
}

#[test]
fn run_mode_waits_although_sigchld_was_ignored() {
    let mut cmd = reaper(&["run", "--", SH, "sh", "-c", "exit 4"]);
    // SAFETY: only signal(), async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGCHLD, libc::SIG_IGN);
            Ok(())
        });
    }
    assert_exit(&run(&mut cmd), 4);
}

#[test]
fn run_mode_passes_the_hosts_signal_dispositions_and_mask_on() {
    // Default dispositions: in particular SIGPIPE is not ignored (Rust's
    // runtime would ignore it, and the archiver would inherit that).
    let out = run(&mut show_signals());
    assert_exit(&out, 0);
    let shown = text(&out.stdout);
    for sig in [libc::SIGPIPE, libc::SIGINT, libc::SIGTERM] {
        assert!(!has_signal(&shown, "SigIgn", sig), "{sig}: {shown}");
        assert!(!has_signal(&shown, "SigBlk", sig), "{sig}: {shown}");
    }

    // Ignored and blocked as the library left them for the archiver.
    let mut cmd = show_signals();
    // SAFETY: only async-signal-safe calls between fork and exec, on a
    // sigset on the stack.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let out = run(&mut cmd);
    assert_exit(&out, 0);
    let shown = text(&out.stdout);
    assert!(has_signal(&shown, "SigIgn", libc::SIGPIPE), "{shown}");
    assert!(has_signal(&shown, "SigIgn", libc::SIGINT), "{shown}");
    assert!(has_signal(&shown, "SigBlk", libc::SIGUSR1), "{shown}");
    assert!(has_signal(&shown, "SigBlk", libc::SIGTERM), "{shown}");
    assert!(!has_signal(&shown, "SigBlk", libc::SIGINT), "{shown}");
}

#[test]
fn run_mode_forwards_a_termination_signal_to_the_archiver() {
    for (sig, name) in [
        (libc::SIGTERM, "TERM"),
        (libc::SIGINT, "INT"),
        (libc::SIGHUP, "HUP"),
    ] {
        let mut cmd = reaper(&["run", "--", SH, "sh", "-c", "echo ready; exec sleep 20"]);
        // The reaper keeps a signal it inherited as ignored (the host
        // ignored it too): start from the default, whatever ran this test
        // (`nohup` ignores SIGHUP).
        // SAFETY: signal is async-signal-safe; nothing else runs in the child.
        unsafe {
            cmd.pre_exec(move || {
                libc::signal(sig, libc::SIG_DFL);
                Ok(())
            });
        }
        let mut child = spawn(&mut cmd);
        let mut ready = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready, "ready\n");
        let started = Instant::now();
        // SAFETY: kill takes plain integers.
        unsafe { libc::kill(child.id() as libc::pid_t, sig) };
        let out = finish(child);
        assert_signal(out.status, sig);
        assert!(started.elapsed() < Duration::from_secs(10), "SIG{name}");
    }
}

#[test]
fn run_mode_holds_at_most_2_mib_while_it_waits() {
    let child = spawn(&mut reaper(&["run", "--", "/bin/sleep", "sleep", "2"]));
    let pid = child.id();
    wait_until_reaper(pid);
    let rss: u64 = proc_status(pid, "VmRSS").unwrap().parse().unwrap();
    let out = finish(child);
    assert_exit(&out, 0);
    eprintln!("run-mode reaper: VmRSS {rss} kB");
    assert!(
        rss <= MAX_RSS_KIB,
        "the waiting reaper holds {rss} kB (> {MAX_RSS_KIB} kB)"
    );
}

// ---------------------------------------------------------------------------
// Deferred deletions

/// `DIR/work/{a.o,b.o}`, with `work` and `DIR` open (close-on-exec here).
struct Inputs {
    dir: TestDir,
    work: PathBuf,
    workfd: File,
    dirfd: File,
}

fn inputs(name: &str) -> Inputs {
    let dir = test_dir(name);
    let work = dir.join("work");
    fs::create_dir(&work).unwrap();
    for f in ["a.o", "b.o"] {
        fs::write(work.join(f), f).unwrap();
    }
    Inputs {
        workfd: File::open(&work).unwrap(),
        dirfd: File::open(&*dir).unwrap(),
        dir,
        work,
    }
}

#[test]
fn run_mode_deletes_after_the_archiver_ended() {
    let t = inputs("run-deletes");
    let trace = t.dir.join("trace.jsonl");
    let (w, d) = (t.workfd.as_raw_fd(), t.dirfd.as_raw_fd());
    let (ws, ds) = (w.to_string(), d.to_string());
    // The archiver needs its inputs, and must not inherit the directory fds.
    let check = format!("test -f a.o && test -f b.o && test ! -e /proc/$$/fd/{w} && test ! -e /proc/$$/fd/{d} && echo archived");
    let deletions = [
        ("--unlink", ws.as_str(), "a.o"),
        ("--unlink", &ws, "b.o"),
        ("--rmdir", &ds, "work"),
    ];
    let mut cmd = reap_sh(&trace, &deletions, &check, &[w, d]);
    cmd.current_dir(&t.work);
    let out = run(&mut cmd);
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), "archived\n");
    assert!(!t.work.exists(), "the deferred deletions were not done");
    assert!(t.dir.exists());

    let lines = trace_lines(&trace);
    find_event(&lines, "reap", &[r#""mode":"run""#, r#""path":"/bin/sh""#]);
    let a = find_event(
        &lines,
        "delete",
        &[r#""op":"unlink""#, r#""name":"a.o""#, r#""ok":true"#],
    );
    let b = find_event(&lines, "delete", &[r#""name":"b.o""#, r#""ok":true"#]);
    let r = find_event(
        &lines,
        "delete",
        &[r#""op":"rmdir""#, r#""name":"work""#, r#""ok":true"#],
    );
    find_event(&lines, "exit", &[r#""status":0"#]);
    let pos = |l: &str| lines.iter().position(|x| x == l).unwrap();
    assert!(pos(a) < pos(b) && pos(b) < pos(r), "in order: {lines:#?}");
}

#[test]
fn deletion_failures_are_traced_not_fatal() {
    let t = inputs("delete-failures");
    let trace = t.dir.join("trace.jsonl");
    let ws = t.workfd.as_raw_fd().to_string();
    let deletions = [
        ("--unlink", ws.as_str(), "missing.o"),
        ("--rmdir", &ws, "a.o"),
        ("--unlink", &ws, "b.o"),
    ];
    let mut cmd = reap_sh(&trace, &deletions, "exit 5", &[t.workfd.as_raw_fd()]);
    let out = run(&mut cmd);
    assert_exit(&out, 5);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let lines = trace_lines(&trace);
    find_event(
        &lines,
        "delete",
        &[r#""name":"missing.o""#, r#""ok":false"#, "No such file"],
    );
    find_event(
        &lines,
        "delete",
        &[r#""op":"rmdir""#, r#""name":"a.o""#, r#""ok":false"#],
    );
    find_event(&lines, "delete", &[r#""name":"b.o""#, r#""ok":true"#]);
    assert!(t.work.join("a.o").exists() && !t.work.join("b.o").exists());
}

#[test]
fn a_symlink_planted_in_place_of_the_directory_is_not_followed() {
    let t = inputs("symlink");
    let outside = t.dir.join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("a.o"), "precious").unwrap();
    let moved = t.dir.join("moved");
    let trace = t.dir.join("trace.jsonl");
    let (w, d) = (t.workfd.as_raw_fd(), t.dirfd.as_raw_fd());
    let (ws, ds) = (w.to_string(), d.to_string());
    // While the archiver runs, `work` is renamed away and replaced by a
    // symlink to a directory with a file of the same name.
    let plant = format!(
        "mv '{work}' '{moved}' && ln -s '{outside}' '{work}'",
        work = t.work.display(),
        moved = moved.display(),
        outside = outside.display()
    );
    let deletions = [("--unlink", ws.as_str(), "a.o"), ("--rmdir", &ds, "work")];
    let mut cmd = reap_sh(&trace, &deletions, &plant, &[w, d]);
    let out = run(&mut cmd);
    assert_exit(&out, 0);

    assert_eq!(fs::read_to_string(outside.join("a.o")).unwrap(), "precious");
    assert!(
        !moved.join("a.o").exists(),
        "deleted in the directory the fd names"
    );
    assert!(moved.join("b.o").exists());
    // rmdir does not remove (or follow) the symlink.
    assert!(t.work.is_symlink() && outside.is_dir());
    let lines = trace_lines(&trace);
    find_event(&lines, "delete", &[r#""name":"a.o""#, r#""ok":true"#]);
    find_event(&lines, "delete", &[r#""name":"work""#, r#""ok":false"#]);
}

#[test]
fn names_that_are_not_one_component_and_bad_dirfds_are_rejected() {
    let t = inputs("rejected");
    fs::write(t.dir.join("victim"), "v").unwrap();
    fs::create_dir(t.work.join("sub")).unwrap();
    fs::write(t.work.join("sub/x"), "x").unwrap();
    // A valid name with characters JSON must escape.
    let odd = "q\"b\\c\nd\x01";
    fs::write(t.work.join(odd), "odd").unwrap();
    let trace = t.dir.join("trace.jsonl");
    let w = t.workfd.as_raw_fd();
    let ws = w.to_string();
    let closed = (1000 + w).to_string();
    let deletions: [(&str, &str, &str); 10] = [
        ("--unlink", &ws, "../victim"),
        ("--unlink", &ws, "sub/x"),
        ("--rmdir", &ws, ".."),
        ("--rmdir", &ws, "."),
        ("--unlink", &ws, ""),
        ("--unlink", "x", "a.o"),
        ("--unlink", &closed, "a.o"),
        ("--unlink", "1", "a.o"),
        ("--unlink", &ws, odd),
        ("--unlink", &ws, "b.o"),
    ];
    let mut cmd = reap_sh(&trace, &deletions, "exit 0", &[w]);
    let out = run(&mut cmd);
    assert_exit(&out, 0);

    assert!(t.dir.join("victim").exists());
    assert!(t.work.join("sub/x").exists());
    assert!(t.work.join("a.o").exists());
    assert!(!t.work.join(odd).exists() && !t.work.join("b.o").exists());

    let lines = trace_lines(&trace);
    assert_eq!(lines.len(), 12, "reap, 10 deletions, exit: {lines:#?}");
    let component = "NAME is not a single path component";
    for name in ["../victim", "sub/x", "..", ".", ""] {
        let name = format!("\"name\":\"{name}\",");
        find_event(&lines, "delete", &[&name, r#""rejected":true"#, component]);
    }
    find_event(
        &lines,
        "delete",
        &[r#""rejected":true"#, "DIRFD is not a number"],
    );
    find_event(
        &lines,
        "delete",
        &[r#""rejected":true"#, "not an open file descriptor"],
    );
    find_event(&lines, "delete", &[r#""rejected":true"#, "standard stream"]);
    let escaped = r#""name":"q\"b\\c\nd\u0001","ok":true"#;
    find_event(&lines, "delete", &[escaped]);
}

#[test]
fn malformed_command_lines_fail_with_2() {
    for args in [
        &["wait"][..],
        &["wait", "--pid", "0"],
        &["run", "--", SH],
        &["run", SH, "sh"],
        &["sideways"],
        &[],
    ] {
        let out = run(&mut reaper(args));
        assert_exit(&out, 2);
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with("arshim[") && stderr.contains("]: reaper: "),
            "{args:?}: {stderr}"
        );
    }
}

/// A trace path that is not a regular file (docs/DESIGN.md, "Trace events"):
/// a FIFO with no reader (opened blocking, it would hang the reaper holding
/// the host's pid), a symlink, a directory. Each: one line, no trace, and the
/// run ends as without `--trace`, in both modes.
#[test]
fn a_trace_that_is_no_regular_file_is_one_warning_and_never_waited_on() {
    let dir = test_dir("trace-refused");
    let fifo = dir.join("trace.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    let target = dir.join("target.txt");
    fs::write(&target, "kept\n").unwrap();
    let link = dir.join("trace.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let child = "echo out; echo err >&2; exit 5";
    let wait = |trace: Option<&Path>| {
        let trace = trace.map_or(String::new(), |t| format!(" --trace '{}'", t.display()));
        sh(&format!(
            r#"sh -c '{child}' & exec "$0" __reap wait --pid $!{trace}"#
        ))
    };
    let base_run = run(&mut reaper(&["run", "--", SH, "sh", "-c", child]));
    let base_wait = run(&mut wait(None));
    for base in [&base_run, &base_wait] {
        assert_exit(base, 5);
        assert_eq!(text(&base.stdout), "out\n");
        assert_eq!(text(&base.stderr), "err\n");
    }
    for (path, why) in [
        (&fifo, "a FIFO"),
        (&link, "a symlink"),
        (&dir.to_path_buf(), "a directory"),
    ] {
        for (label, base, out) in [
            ("run", &base_run, run(&mut reap_sh(path, &[], child, &[]))),
            ("wait", &base_wait, run(&mut wait(Some(path)))),
        ] {
            let what = format!("{label} mode, --trace {why}");
            assert_eq!(out.status.code(), base.status.code(), "{what}");
            assert_eq!(out.stdout, base.stdout, "{what}");
            // In wait mode the archiver runs meanwhile: lines in any order.
            let stderr = text(&out.stderr);
            let (warnings, rest): (Vec<&str>, Vec<&str>) =
                stderr.lines().partition(|l| l.starts_with("arshim["));
            assert!(
                warnings.len() == 1
                    && warnings[0].contains("]: reaper: ignoring ARSHIM_TRACE=")
                    && warnings[0].contains(why),
                "{what}: one warning: {stderr}"
            );
            assert_eq!(rest, ["err"], "{what}: {stderr}");
        }
    }
    assert_eq!(fs::read_to_string(&target).unwrap(), "kept\n", "followed");
}
