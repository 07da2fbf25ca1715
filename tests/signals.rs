//! Signals and the exit status (docs/DESIGN.md, "Conversion" 6): an archiver
//! killed by a signal ends the host's pid by the same signal, always; a known
//! host's own failure status (`ARSHIM_FAILURE_STATUS`, set by `arshim run` for
//! ldc2 and ghc) applies only to an archiver that exited non-zero.
//!
//! Real programs throughout: the C hosts of tests/hosts, installed as `ldc2`
//! so that `arshim run` treats them as that known host (failure status 1) —
//! host.c `posix_spawn`s the archiver (converted at the spawn: the reaper's
//! run mode), fork_host.c forks and waits (handed off at the wait: the
//! reaper's wait mode) —, the real `ldc2 -lib --ar=PATH`, and a slow archiver
//! (tests/hosts/interruptible_ar.c) that writes a marker once its parent
//! waits for it: the tests wait for that marker, never for a fixed time.
//!
//! The Ctrl-C case is the user's: a shell script runs the host, then another
//! command; SIGINT goes to the script's whole process group while the
//! archiver runs. Without the shim the script dies by SIGINT and does not go
//! on; with it, the same. Both shells: bash goes on after a command that
//! exited normally although it got SIGINT too (it takes the command to have
//! handled it, "wait and cooperative exit"); dash dies by SIGINT itself.

use common::*;
use std::ffi::OsString;
use std::fs;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a run may take to reach its archiver, and to end once signalled.
const BOUND: Duration = Duration::from_secs(60);
/// What the hosts hold: a little, so that the release step runs too.
const HOST_MIB: &str = "16";

struct Kit {
    /// host.c as `ldc2` (posix_spawn of the archiver).
    spawn_ldc2: PathBuf,
    /// fork_host.c as `ldc2` (fork + exec, then waitpid).
    fork_ldc2: PathBuf,
    /// interruptible_ar.c as `slow-ar` (matches ldc2's archiver glob `*-ar`).
    slow_ar: PathBuf,
}

fn kit() -> &'static Kit {
    static KIT: OnceLock<Kit> = OnceLock::new();
    KIT.get_or_init(|| {
        let dir = fixtures().dir.join("signals");
        let src = hosts_src();
        for sub in ["spawn", "fork", "bin"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let kit = Kit {
            spawn_ldc2: dir.join("spawn/ldc2"),
            fork_ldc2: dir.join("fork/ldc2"),
            slow_ar: dir.join("bin/slow-ar"),
        };
        compile_c(&src.join("host.c"), &kit.spawn_ldc2);
        compile_c(&src.join("fork_host.c"), &kit.fork_ldc2);
        compile_c(&src.join("interruptible_ar.c"), &kit.slow_ar);
        kit
    })
}

/// Which C host, and so which of the reaper's modes.
#[derive(Clone, Copy, Debug)]
enum Host {
    /// Converted at the spawn: the reaper runs the archiver.
    Spawn,
    /// Handed off at the wait: the reaper waits for the forked archiver.
    Fork,
}

impl Host {
    /// The host and its arguments: archive with the slow archiver.
    fn argv(self, dir: &TestDir) -> Vec<OsString> {
        let k = kit();
        let (host, call, io) = match self {
            Host::Spawn => (&k.spawn_ldc2, "spawn", "plain"),
            Host::Fork => (&k.fork_ldc2, "fork", "waitpid"),
        };
        let mut argv = vec![host.into()];
        argv.extend(host_args(call, io, k.slow_ar.clone(), &dir.join("lib.a")));
        argv
    }
}

/// `argv` as is, or under `arshim run --trace TRACE` (the shim).
fn command_line(shim: bool, argv: &[OsString], trace: &Path) -> Vec<OsString> {
    let mut out = Vec::new();
    if shim {
        out.push(companion().into());
        out.extend(["run".into(), "--trace".into(), trace.into(), "--".into()]);
    }
    out.extend(argv.iter().cloned());
    out
}

/// A run of `argv` (the test's clean environment), with the slow archiver's
/// marker and extra variables.
fn prepared(dir: &TestDir, label: &str, argv: &[OsString], vars: &[(&str, &str)]) -> Command {
    let mut cmd = command(&argv[0], dir);
    cmd.args(&argv[1..])
        .env("HOST_TOUCH_MIB", HOST_MIB)
        .env("SLOW_AR_STARTED", marker(dir, label));
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

fn marker(dir: &TestDir, label: &str) -> PathBuf {
    dir.join(format!("{label}.started"))
}

fn trace_of(dir: &TestDir, label: &str) -> PathBuf {
    dir.join(format!("{label}.trace.jsonl"))
}

// ---------------------------------------------------------------------------
// Ctrl-C of a script

/// A process group started by a test; killed whole if the test fails first.
struct Group {
    child: Child,
    done: bool,
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.done {
            // SAFETY: kill takes plain integers; the group is the child's own.
            unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = self.child.wait();
        }
    }
}

/// What an interrupted script left.
struct Interrupted {
    label: String,
    status: ExitStatus,
    /// The script's next command ran.
    next_ran: bool,
    /// The slow archiver's marker line (`parent_exe=…`: what held the host's pid).
    started: String,
    stderr: String,
    trace: Vec<String>,
}

impl Interrupted {
    fn describe(&self) -> String {
        format!(
            "[{}] status {:?} (signal {:?}), next command ran: {}\narchiver: {}--- stderr ---\n{}--- trace ---\n{}",
            self.label,
            self.status.code(),
            self.status.signal(),
            self.next_ran,
            self.started,
            self.stderr,
            trace_dump(&self.trace)
        )
    }

    /// What the user sees of a Ctrl-C: the script died by SIGINT (130 in
    /// an interactive shell) and did not go on.
    fn assert_stopped_by_sigint(&self) {
        assert_eq!(
            self.status.signal(),
            Some(libc::SIGINT),
            "the script should die by SIGINT\n{}",
            self.describe()
        );
        assert!(!self.next_ran, "the script went on\n{}", self.describe());
    }

    fn parent_exe(&self) -> String {
        self.started
            .split_whitespace()
            .find_map(|f| f.strip_prefix("parent_exe="))
            .unwrap_or_default()
            .to_string()
    }
}

/// `SHELL SCRIPT CMD…`, where SCRIPT runs CMD and then marks that its next
/// command ran; SIGINT to the whole process group once the archiver runs.
fn interrupt_script(dir: &TestDir, label: &str, shell: &str, cmd: Command) -> Interrupted {
    let script = dir.join("build.sh");
    let next = dir.join(format!("{label}.next"));
    fs::write(&script, "\"$@\"\necho next > \"$NEXT_MARK\"\n").unwrap();
    let mut sh = Command::new(shell);
    sh.arg(&script).arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh.env("NEXT_MARK", &next)
        .current_dir(cmd.get_current_dir().unwrap())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join(format!("{label}.stderr"))).unwrap())
        .process_group(0);
    let child = sh
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shell}: {e}"));
    let mut group = Group { child, done: false };
    let started = wait_for_marker(&mut group, &marker(dir, label), label, dir);
    let pgid = group.child.id() as libc::pid_t;
    // SAFETY: kill takes plain integers; the group is the script's own.
    assert_eq!(unsafe { libc::kill(-pgid, libc::SIGINT) }, 0);
    let status = wait_bounded(&mut group, label);
    Interrupted {
        label: format!("{label}: {shell}"),
        status,
        next_ran: next.exists(),
        started,
        stderr: fs::read_to_string(dir.join(format!("{label}.stderr"))).unwrap_or_default(),
        trace: trace_lines(&trace_of(dir, label)),
    }
}

/// The archiver's marker line, once it exists.
fn wait_for_marker(group: &mut Group, marker: &Path, label: &str, dir: &TestDir) -> String {
    let start = Instant::now();
    loop {
        if let Ok(line) = fs::read_to_string(marker) {
            return line;
        }
        if let Some(status) = group.child.try_wait().unwrap() {
            group.done = true;
            let stderr = fs::read_to_string(dir.join(format!("{label}.stderr")));
            panic!("[{label}] ended ({status}) before its archiver ran: {stderr:?}");
        }
        assert!(
            start.elapsed() < BOUND,
            "[{label}] no archiver after {BOUND:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_bounded(group: &mut Group, label: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = group.child.try_wait().unwrap() {
            group.done = true;
            return status;
        }
        assert!(
            start.elapsed() < BOUND,
            "[{label}] still running {BOUND:?} after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Ctrl-C of a script running `host` with a slow archiver: without the shim
/// and with it (`arshim run`, ldc2's failure status), under `shell`.
fn ctrl_c_stops_the_script(host: Host, shell: &str) {
    let name = format!("sig-ctrlc-{host:?}-{}", basename(shell)).to_lowercase();
    let dir = TestDir::new(&name);
    let argv = host.argv(&dir);
    for shim in [false, true] {
        let label = if shim { "shim" } else { "plain" };
        let line = command_line(shim, &argv, &trace_of(&dir, label));
        let run = interrupt_script(&dir, label, shell, prepared(&dir, label, &line, &[]));
        run.assert_stopped_by_sigint();
        let held_by = run.parent_exe();
        if shim {
            // The reaper held the host's pid, and ended by the archiver's signal.
            assert_eq!(held_by, reaper().to_str().unwrap(), "{}", run.describe());
            let exit = trace_events(&trace_of(&dir, label), "exit");
            assert!(
                exit.iter().any(|e| json_num(e, "signal") == Some(2)),
                "{}",
                run.describe()
            );
        } else {
            assert!(held_by.ends_with("/ldc2"), "{}", run.describe());
        }
    }
}

#[test]
fn ctrl_c_of_a_script_stops_it_spawn_time() {
    ctrl_c_stops_the_script(Host::Spawn, "bash");
    ctrl_c_stops_the_script(Host::Spawn, "/bin/sh");
}

#[test]
fn ctrl_c_of_a_script_stops_it_wait_time() {
    ctrl_c_stops_the_script(Host::Fork, "bash");
    ctrl_c_stops_the_script(Host::Fork, "/bin/sh");
}

// ---------------------------------------------------------------------------
// The archiver ends by itself

/// `host` under `arshim run` (ldc2's failure status 1) with the archiver's
/// behaviour `vars`; without the shim first (its outcome returned too).
fn with_and_without(host: Host, name: &str, vars: &[(&str, &str)]) -> (Outcome, Outcome, TestDir) {
    let dir = TestDir::new(name);
    let argv = host.argv(&dir);
    let plain = run(prepared(&dir, "plain", &argv, vars), &dir, "plain");
    let line = command_line(true, &argv, &trace_of(&dir, "shim"));
    let shim = run(prepared(&dir, "shim", &line, vars), &dir, "shim");
    let started = fs::read_to_string(marker(&dir, "shim")).unwrap_or_default();
    assert!(
        started.contains(&format!("parent_exe={} ", reaper().display())),
        "the reaper should have run the archiver: {started:?}\n{}",
        shim.describe()
    );
    (plain, shim, dir)
}

/// An archiver killed by SIGTERM or SIGKILL: the host's pid dies by it
/// (without the shim these C hosts exit 128+N; ldc2 itself would say 1).
fn killed_archiver_kills_the_hosts_pid(host: Host) {
    for sig in [libc::SIGTERM, libc::SIGKILL] {
        let name = format!("sig-killed-{host:?}-{sig}").to_lowercase();
        let (plain, shim, dir) =
            with_and_without(host, &name, &[("SLOW_AR_KILL", &sig.to_string())]);
        plain.assert_code(128 + sig);
        assert_eq!(shim.status.signal(), Some(sig), "{}", shim.describe());
        assert!(
            library_lines(&shim.stderr).is_empty(),
            "nothing printed: {}",
            shim.describe()
        );
        let exit = trace_events(&trace_of(&dir, "shim"), "exit");
        assert!(
            exit.iter()
                .any(|e| json_num(e, "signal") == Some(sig.into())),
            "{}",
            dump_trace(&trace_of(&dir, "shim"))
        );
    }
}

#[test]
fn killed_archiver_kills_the_hosts_pid_spawn_time() {
    killed_archiver_kills_the_hosts_pid(Host::Spawn);
}

#[test]
fn killed_archiver_kills_the_hosts_pid_wait_time() {
    killed_archiver_kills_the_hosts_pid(Host::Fork);
}

/// An archiver exiting 3: the host's own failure status (ldc2: 1), with one
/// line saying how the archiver ended (these C hosts would pass 3 on). At
/// the spawn, the reaper knows the path the host spawned and the line is
/// ldc2's own; at the wait it knows only a pid, and the line is its own.
fn failed_archiver_gives_the_hosts_status(host: Host) {
    let name = format!("sig-failed-{host:?}").to_lowercase();
    let (plain, shim, _dir) = with_and_without(host, &name, &[("SLOW_AR_EXIT", "3")]);
    plain.assert_code(3);
    shim.assert_code(1);
    let lines: Vec<&str> = shim.stderr.lines().collect();
    let said = match host {
        Host::Spawn => {
            let ldc2 = format!("Error: {} failed with status: 3", kit().slow_ar.display());
            lines == [ldc2.as_str()]
        }
        Host::Fork => {
            lines.len() == 1
                && lines[0].starts_with("arshim")
                && lines[0].contains("reaper: the archiver")
                && lines[0].ends_with("failed with exit status 3")
        }
    };
    assert!(said, "{}", shim.describe());
}

#[test]
fn failed_archiver_gives_the_hosts_status_spawn_time() {
    failed_archiver_gives_the_hosts_status(Host::Spawn);
}

#[test]
fn failed_archiver_gives_the_hosts_status_wait_time() {
    failed_archiver_gives_the_hosts_status(Host::Fork);
}

// ---------------------------------------------------------------------------
// The real ldc2

/// `ldc2 -lib foo.d bar.d -of=libfoo.a --ar=slow-ar` in a script, Ctrl-C
/// while the archiver runs: as the user saw it.
#[test]
fn ctrl_c_of_a_script_running_ldc2_stops_it() {
    let ldc2 = find_on_path("ldc2").expect(
        "`ldc2` is not installed: this test needs it (Debian package `ldc`; .ci/run installs it)",
    );
    let dir = TestDir::new("sig-ctrlc-real-ldc2");
    let real = common::real_src();
    for f in ["foo.d", "bar.d"] {
        fs::copy(real.join(f), dir.join(f)).unwrap();
    }
    let argv: Vec<OsString> = vec![
        ldc2.into(),
        "-lib".into(),
        "foo.d".into(),
        "bar.d".into(),
        "-of=libfoo.a".into(),
        format!("--ar={}", kit().slow_ar.display()).into(),
    ];
    for shell in ["bash", "/bin/sh"] {
        for shim in [false, true] {
            let label = format!(
                "{}-{}",
                if shim { "shim" } else { "plain" },
                basename(shell)
            );
            let line = command_line(shim, &argv, &trace_of(&dir, &label));
            let cmd = prepared(&dir, &label, &line, &[]);
            let run = interrupt_script(&dir, &label, shell, cmd);
            run.assert_stopped_by_sigint();
            assert!(!dir.join("libfoo.a").exists(), "{}", run.describe());
            if shim {
                assert_eq!(
                    run.parent_exe(),
                    reaper().to_str().unwrap(),
                    "{}",
                    run.describe()
                );
            }
        }
    }
}
