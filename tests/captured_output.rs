//! A host that reads its archiver's output through a pipe is not handed off
//! at its wait (docs/DESIGN.md, "Conversion" 2): it reads the output to EOF,
//! waits only then, and acts on what it read (prints it, or an error and
//! its own status when ar failed) — work a handoff would lose.
//!
//! Hosts, compiled or run at test time:
//! - tests/hosts/capture_host.py: CPython's `subprocess.run(…,
//!   capture_output=True, text=True)` printing what it read (`capture`) or
//!   only an error (`quiet`), or without capture (`inherit`);
//! - tests/hosts/capture_host.c: fork + exec with two pipes read to EOF
//!   (`pipes`) or read after the wait (`wait-first`, also with a raw
//!   `execve` system call: `raw-wait-first`), `popen("ar … 2>&1")` +
//!   `pclose` (`popen`), or fork + exec writing to the host's own stdout
//!   (`inherit`).
//!
//! Each is run without and with the library (`arshim run`), with an ar that
//! succeeds and one that fails (a missing input): the user sees the same
//! stdout, stderr, status and archive, and the trace says why there was no
//! handoff. A host whose archiver writes to the host's own stdout and
//! stderr — also when they are a pipe, as here the test's — is still handed
//! off, and the reaper holds the pid while ar runs (the ELF stand-in of
//! tests/hosts/standin_ar.c measures it).

use common::*;
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

/// The reason the trace gives for a host that captures ar's output.
const CAPTURED: &str = "the host reads the archiver's output through a pipe";

/// What the hosts hold when they run ar: the handed-off pid must hold far less.
const TOUCH_MIB: u64 = 96;

struct Kit {
    c_host: PathBuf,
    python: PathBuf,
    py_script: PathBuf,
}

fn kit() -> &'static Kit {
    static KIT: OnceLock<Kit> = OnceLock::new();
    KIT.get_or_init(|| {
        let c_host = fixtures().dir.join("capture_host");
        compile_c(&hosts_src().join("capture_host.c"), &c_host);
        Kit {
            c_host,
            python: find_python(),
            py_script: hosts_src().join("capture_host.py"),
        }
    })
}

/// A host and its MODE (tests/hosts/capture_host.*).
#[derive(Clone, Copy)]
enum Host {
    Python(&'static str),
    C(&'static str),
}

impl Host {
    fn label(self) -> String {
        match self {
            Host::Python(mode) => format!("py-{mode}"),
            Host::C(mode) => format!("c-{mode}"),
        }
    }

    /// PROGRAM and the arguments before AR.
    fn argv(self) -> (PathBuf, Vec<OsString>) {
        let kit = kit();
        match self {
            Host::Python(mode) => (
                kit.python.clone(),
                vec![kit.py_script.clone().into(), mode.into()],
            ),
            Host::C(mode) => (kit.c_host.clone(), vec![mode.into()]),
        }
    }
}

/// Which archiver the host runs, and on what.
#[derive(Clone, Copy)]
enum Ar {
    /// The real ar on the two fixture objects.
    Succeeds,
    /// The real ar with an input that does not exist.
    Fails,
    /// The ELF stand-in (records its parent while it runs, once the parent
    /// waits), then the real ar.
    StandIn,
    /// The stand-in, then the real ar with an input that does not exist.
    StandInFails,
}

/// A test's directory, archive and trace.
struct Case {
    dir: TestDir,
    host: Host,
    ar: Ar,
}

impl Case {
    fn new(host: Host, ar: Ar, name: &str) -> Case {
        let outcome = match ar {
            Ar::Succeeds => "ok",
            Ar::Fails => "fails",
            Ar::StandIn => "standin",
            Ar::StandInFails => "standin-fails",
        };
        Case {
            dir: TestDir::new(&format!("{}-{name}-{outcome}", host.label())),
            host,
            ar,
        }
    }

    fn archive(&self) -> PathBuf {
        self.dir.join("lib.a")
    }

    fn trace(&self) -> PathBuf {
        self.dir.join("trace.jsonl")
    }

    /// `AR ARCHIVE OBJ…`
    fn ar_args(&self) -> Vec<OsString> {
        let fx = fixtures();
        let ar: OsString = match self.ar {
            Ar::StandIn | Ar::StandInFails => fork_kit().standin.clone().into(),
            Ar::Succeeds | Ar::Fails => fx.real_ar.clone().into(),
        };
        let mut args = vec![ar, self.archive().into(), fx.objs[0].clone().into()];
        args.push(match self.ar {
            Ar::Fails | Ar::StandInFails => self.dir.join("missing.o").into(),
            Ar::Succeeds | Ar::StandIn => fx.objs[1].clone().into(),
        });
        args
    }

    /// The host without the library.
    fn plain(&self) -> Command {
        let (program, args) = self.host.argv();
        let mut cmd = setup(command(program, &self.dir));
        cmd.args(args).args(self.ar_args());
        cmd
    }

    /// `arshim run --trace TRACE -- HOST …`
    fn shim(&self) -> Command {
        let (program, args) = self.host.argv();
        let trace = self.trace();
        let opts = ["--trace", trace.to_str().unwrap()];
        let mut cmd = setup(arshim_run(&opts, program, &self.dir));
        cmd.args(args).args(self.ar_args());
        cmd
    }

    /// The archive's bytes, if there is one; removed for the next run.
    fn take_archive(&self) -> Option<Vec<u8>> {
        let bytes = fs::read(self.archive()).ok();
        let _ = fs::remove_file(self.archive());
        bytes
    }

    /// The runs without and with the library, each with its archive.
    fn both(&self, run: impl Fn(Command, &str) -> Outcome) -> [(Outcome, Option<Vec<u8>>); 2] {
        let base = run(self.plain(), "without");
        let base_archive = self.take_archive();
        let _ = fs::remove_file(self.dir.join("standin.log"));
        let _ = fs::remove_file(self.dir.join("pids"));
        let shim = run(self.shim(), "with");
        [(base, base_archive), (shim, self.take_archive())]
    }

    fn events(&self, event: &str) -> Vec<String> {
        trace_events(&self.trace(), event)
    }
}

/// The environment of [`common::command`], the host's memory, no Python
/// start-up surprises.
fn setup(mut cmd: Command) -> Command {
    cmd.env("HOST_TOUCH_MIB", TOUCH_MIB.to_string())
        .env_remove("PYTHONUNBUFFERED")
        .env_remove("PYTHONSTARTUP");
    cmd
}

/// Without and with the library, the user sees the same: status, stdout,
/// stderr, archive (bytes, or none).
fn assert_same_to_user(case: &Case, runs: &[(Outcome, Option<Vec<u8>>); 2]) {
    let [(base, base_archive), (shim, shim_archive)] = runs;
    let both = format!(
        "{}\n{}\n--- trace ---\n{}",
        base.describe(),
        shim.describe(),
        dump_trace(&case.trace())
    );
    assert_same_run(shim, base, &both);
    assert_eq!(
        shim_archive.is_some(),
        base_archive.is_some(),
        "an archive was made in one run only\n{both}"
    );
    assert!(shim_archive == base_archive, "the archives differ\n{both}");
}

/// What the host printed of ar's output, as expected for `ar`.
fn assert_host_output(case: &Case, base: &Outcome) {
    match case.ar {
        Ar::Fails | Ar::StandInFails => {
            base.assert_code(3);
            assert!(
                base.stdout.starts_with("ar failed:")
                    && base.stdout.contains("missing.o: No such file or directory"),
                "the host should print ar's error after it\n{}",
                base.describe()
            );
        }
        _ if matches!(case.host, Host::Python("quiet")) => base.assert_code(0),
        _ => {
            base.assert_code(0);
            assert!(
                base.stdout.contains("a - ") && base.stdout.contains("one.o"),
                "the host should print ar's verbose lines\n{}",
                base.describe()
            );
        }
    }
}

/// The trace of the run with the library: no handoff, and a fallback at
/// the wait saying why.
fn assert_not_handed_off_because_captured(case: &Case, shim: &Outcome) {
    let trace = dump_trace(&case.trace());
    assert!(
        case.events("handoff").is_empty(),
        "handed off\n{trace}\n{}",
        shim.describe()
    );
    let reasons: Vec<String> = case
        .events("fallback")
        .iter()
        .filter(|e| json_str_field(e, "call").as_deref() == Some("wait"))
        .filter_map(|e| json_str_field(e, "reason"))
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains(CAPTURED)),
        "no fallback at the wait saying {CAPTURED:?}: {reasons:?}\n{trace}\n{}",
        shim.describe()
    );
}

fn captured_as_without(host: Host, ar: Ar) {
    let case = Case::new(host, ar, "captured");
    let runs = case.both(|cmd, label| run(cmd, &case.dir, label));
    assert_host_output(&case, &runs[0].0);
    assert_same_to_user(&case, &runs);
    assert_not_handed_off_because_captured(&case, &runs[1].0);
}

#[test]
fn python_capture_output_succeeding_ar_as_without() {
    captured_as_without(Host::Python("capture"), Ar::Succeeds);
}

#[test]
fn python_capture_output_failing_ar_as_without() {
    captured_as_without(Host::Python("capture"), Ar::Fails);
}

#[test]
fn python_quiet_capture_failing_ar_as_without() {
    captured_as_without(Host::Python("quiet"), Ar::Fails);
}

#[test]
fn c_pipes_succeeding_ar_as_without() {
    captured_as_without(Host::C("pipes"), Ar::Succeeds);
}

#[test]
fn c_pipes_failing_ar_as_without() {
    captured_as_without(Host::C("pipes"), Ar::Fails);
}

/// A host that waits first and reads the pipes after: the archiver is
/// still running at the wait (the stand-in waits for it), and its output
/// would be lost all the same. `source`: what told the library what the
/// child exec'd — its exec record, or `/proc` for a raw `execve` system
/// call (the child's fds are then read in `/proc/PID/fd`).
fn wait_first_as_without(mode: &'static str, ar: Ar, source: &str) {
    let case = Case::new(Host::C(mode), ar, "wait-first");
    let runs = case.both(|cmd, label| run(cmd, &case.dir, label));
    assert_host_output(&case, &runs[0].0);
    assert_same_to_user(&case, &runs);
    assert_not_handed_off_because_captured(&case, &runs[1].0);
    let sources: Vec<String> = case
        .events("wait")
        .iter()
        .filter_map(|e| json_str_field(e, "source"))
        .collect();
    assert_eq!(
        sources,
        [source],
        "which source told the wait\n{}",
        dump_trace(&case.trace())
    );
}

#[test]
fn c_wait_first_succeeding_ar_as_without() {
    wait_first_as_without("wait-first", Ar::StandIn, "exec");
}

#[test]
fn c_wait_first_failing_ar_as_without() {
    wait_first_as_without("wait-first", Ar::StandInFails, "exec");
}

#[test]
fn c_raw_exec_wait_first_succeeding_ar_as_without() {
    wait_first_as_without("raw-wait-first", Ar::StandIn, "proc");
}

#[test]
fn c_raw_exec_wait_first_failing_ar_as_without() {
    wait_first_as_without("raw-wait-first", Ar::StandInFails, "proc");
}

/// `popen` + `pclose`: the shell is started and waited for inside the C
/// library (its `posix_spawn` and `waitpid` are not the hooked symbols),
/// so the library sees no wait to take over: the run is as without it.
fn popen_as_without(ar: Ar) {
    let case = Case::new(Host::C("popen"), ar, "popen");
    let runs = case.both(|cmd, label| run(cmd, &case.dir, label));
    assert_host_output(&case, &runs[0].0);
    assert_same_to_user(&case, &runs);
    assert!(
        case.events("handoff").is_empty(),
        "handed off\n{}",
        dump_trace(&case.trace())
    );
}

#[test]
fn c_popen_succeeding_ar_as_without() {
    popen_as_without(Ar::Succeeds);
}

#[test]
fn c_popen_failing_ar_as_without() {
    popen_as_without(Ar::Fails);
}

// ---------------------------------------------------------------------------
// Output that is the host's own: still handed off

/// [`common::run`] with stdout and stderr on pipes the test reads (the
/// host's own output is a pipe, as under a build tool that collects it).
fn run_piped(mut cmd: Command, dir: &TestDir, label: &str) -> Outcome {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let pid = child.id();
    let reader = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            from.read_to_string(&mut text).unwrap();
            text
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{pid}")])
                .status();
            let _ = child.wait();
            panic!(
                "[{label}] hung: killed after {} s: {cmd:?}",
                TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    Outcome {
        label: label.into(),
        dir: dir.path.clone(),
        pid,
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn own_output_handed_off(host: Host) {
    let case = Case::new(host, Ar::StandIn, "own-output");
    let runs = case.both(|cmd, label| run_piped(cmd, &case.dir, label));
    runs[0].0.assert_code(0);
    assert_same_to_user(&case, &runs);
    let shim = &runs[1].0;
    // The reaper, holding at most SMALL_KIB, had the host's pid while ar ran.
    assert_handed_off(&case.dir, shim);
    assert!(
        case.events("handoff").len() == 1,
        "one handoff expected\n{}\n{}",
        dump_trace(&case.trace()),
        shim.describe()
    );
}

#[test]
fn python_own_output_on_a_pipe_is_handed_off() {
    own_output_handed_off(Host::Python("inherit"));
}

#[test]
fn c_own_output_on_a_pipe_is_handed_off() {
    own_output_handed_off(Host::C("inherit"));
}

/// The baseline of the test above: without the library, the host itself
/// holds its memory while ar runs (the stand-in measures what it claims).
#[test]
fn baseline_own_output_host_holds_its_memory() {
    let case = Case::new(Host::C("inherit"), Ar::StandIn, "baseline");
    let base = run_piped(case.plain(), &case.dir, "without");
    base.assert_code(0);
    assert_host_held(&case.dir, &base, &kit().c_host, TOUCH_MIB);
}

// ---------------------------------------------------------------------------
// verify

/// `arshim verify` on the Python host that prints only ar's error: a
/// successful run shows no work after ar, yet a converted failing run would
/// lose the host's message. Not SAFE: the library does not convert it, and
/// verify says why.
#[test]
fn verify_python_capture_host_is_not_safe_and_says_why() {
    let case = Case::new(Host::Python("quiet"), Ar::Succeeds, "verify");
    let (program, args) = case.host.argv();
    let mut cmd = setup(command(companion(), &case.dir));
    cmd.env("XDG_CACHE_HOME", case.dir.join("cache"))
        .env("ARSHIM_LIB", library())
        .args(["verify", "--"])
        .arg(program)
        .args(args)
        .args(case.ar_args());
    let out = run(cmd, &case.dir, "verify");
    let verdict = out
        .stdout
        .lines()
        .find(|l| l.starts_with("verdict: "))
        .unwrap_or_else(|| panic!("no verdict line\n{}", out.describe()));
    assert!(
        !verdict.starts_with("verdict: SAFE"),
        "verify found the capturing host SAFE\n{}",
        out.describe()
    );
    assert!(
        out.stdout.contains(CAPTURED),
        "verify should say the library did not convert, and why ({CAPTURED:?})\n{}",
        out.describe()
    );
    assert!(
        fs::read(case.archive()).is_ok_and(|a| a.starts_with(b"!<arch>\n")),
        "verify should leave the archive\n{}",
        out.describe()
    );
}
