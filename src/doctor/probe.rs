//! The live probes: does the library load, and does it really convert — at
//! the spawn call and at the wait call? Each runs the companion's probe modes
//! (`probe_modes`) under the real machinery and then judges what happened
//! from the trace and the stand-in's record, with pure functions.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::probe_modes::{self, STANDIN_EXIT};
use super::report::{Finding, Status};
use super::trace::{self, Event};
use super::workdir::Workdir;
use crate::settings::var;

/// A probe that has not ended by then is killed (with its process group).
const TIMEOUT: Duration = Duration::from_secs(20);

/// Variables of the library that the user's environment must not lend the
/// probes: they test the library as `arshim run` would set it up.
const LIBRARY_VARS: &[&str] = &[
    var::PRELOAD,
    var::MODE,
    var::TOOLS,
    var::PID,
    var::HOSTS,
    var::LOG,
    var::TRACE,
    var::SPENT,
    var::COMPANION,
    "ARSHIM_WARNED",
    "ARSHIM_REAP_PRELOAD",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// posix_spawnp, converted at the spawn call.
    Spawn,
    /// fork + exec, handed off to the reaper at the wait call.
    Fork,
}

impl Mode {
    pub fn word(self) -> &'static str {
        match self {
            Mode::Spawn => "spawn",
            Mode::Fork => "fork",
        }
    }

    pub fn parse(word: &str) -> Option<Mode> {
        match word {
            "spawn" => Some(Mode::Spawn),
            "fork" => Some(Mode::Fork),
            _ => None,
        }
    }

    pub fn check(self) -> &'static str {
        match self {
            Mode::Spawn => "spawn-time probe",
            Mode::Fork => "wait-time probe",
        }
    }

    /// The trace event of a successful conversion.
    fn event(self) -> &'static str {
        match self {
            Mode::Spawn => "convert",
            Mode::Fork => "handoff",
        }
    }
}

/// How a probe process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Code(i32),
    Signal(i32),
    TimedOut,
}

impl Ended {
    fn of(status: ExitStatus) -> Ended {
        match (status.code(), status.signal()) {
            (Some(code), _) => Ended::Code(code),
            (None, Some(sig)) => Ended::Signal(sig),
            (None, None) => Ended::Code(-1),
        }
    }

    fn describe(self) -> String {
        match self {
            Ended::Code(code) => format!("exit status {code}"),
            Ended::Signal(sig) => format!("signal {sig}"),
            Ended::TimedOut => format!("no end within {} s (killed)", TIMEOUT.as_secs()),
        }
    }
}

/// What a process printed on stderr, as one line for a reason.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

// ---------------------------------------------------------------------------
// Does it load?

/// Preloads the library into the probe host (a `noop` run) in observe mode.
pub fn loads(work: &Workdir, library: &Path) -> Finding {
    let trace_path = work.join("load.jsonl");
    let mut cmd = Command::new(&work.host);
    cmd.args(["__probe", "noop"]);
    clean_env(&mut cmd)
        .env(var::PRELOAD, library)
        .env(var::MODE, "observe")
        .env(var::TRACE, &trace_path);
    match run(cmd, work, "load") {
        Ok((pid, ended, stderr)) => judge_load(pid, ended, &stderr, &trace::read(&trace_path)),
        Err(e) => Finding::new(Status::Problem, "loads", e),
    }
}

/// The library loads when the test program ran normally, the library traced
/// its `load` event, and nothing was printed (ld.so reports a library it
/// cannot preload on stderr and goes on without it).
pub fn judge_load(pid: u32, ended: Ended, stderr: &str, events: &[Event]) -> Finding {
    let problem = |r: String| Finding::new(Status::Problem, "loads", r);
    let loaded = trace::by(events, "load", pid).next().is_some();
    if !stderr.trim().is_empty() {
        return problem(format!(
            "preloading it into a test program printed: {}",
            one_line(stderr)
        ));
    }
    if !loaded {
        return problem(format!(
            "preloaded into a test program, it wrote no load event to its trace \
             (the program ended with {}): the loader did not run it",
            ended.describe()
        ));
    }
    if ended != Ended::Code(0) {
        return problem(format!(
            "a test program with it preloaded ended with {} instead of 0",
            ended.describe()
        ));
    }
    Finding::new(
        Status::Ok,
        "loads",
        "LD_PRELOAD of it into a test program works (its load event was traced, the \
         loader printed nothing)",
    )
}

// ---------------------------------------------------------------------------
// Does it convert?

/// What the stand-in archiver recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub pid: u32,
    pub ppid: u32,
    pub parent_exe: String,
    /// The host's atexit handler had run when ar looked.
    pub cleanup_first: bool,
}

pub fn parse_record(text: &str) -> Option<Record> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    };
    Some(Record {
        pid: field("pid")?.parse().ok()?,
        ppid: field("ppid")?.parse().ok()?,
        parent_exe: field("parent_exe")?.to_string(),
        cleanup_first: field("cleanup_first")? == "1",
    })
}

/// Everything a probe run left behind.
#[derive(Debug, Clone)]
pub struct Observed {
    pub mode: Mode,
    /// The pid `arshim run` was started as, and exec'd the host in.
    pub host_pid: u32,
    pub ended: Ended,
    pub record: Option<Record>,
    pub events: Vec<Event>,
    /// The reaper the library must exec (arshim-reap, or the companion).
    pub companion: String,
    pub stderr: String,
    pub host_error: Option<String>,
}

/// Runs one probe: `arshim run --trace T -- HOST __probe host MODE DIR`,
/// with the stand-in `ar` first on PATH — the way a user runs a linker.
pub fn convert(mode: Mode, work: &Workdir, companion: &Path, library: &Path) -> Vec<Finding> {
    let trace_path = work.join(&format!("{}.jsonl", mode.word()));
    let mut cmd = Command::new(companion);
    cmd.arg("run")
        .arg("--trace")
        .arg(&trace_path)
        .arg("--")
        .arg(&work.host)
        .args(["__probe", "host", mode.word()])
        .arg(&work.path);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![work.bin.clone()];
    dirs.extend(std::env::split_paths(&path));
    clean_env(&mut cmd).env("PATH", std::env::join_paths(dirs).unwrap_or(path));
    let (host_pid, ended, stderr) = match run(cmd, work, mode.word()) {
        Ok(outcome) => outcome,
        Err(e) => return vec![Finding::new(Status::Problem, mode.check(), e)],
    };
    let reaper = super::install::expected_reaper(Some(library), companion)
        .unwrap_or_else(|| companion.to_path_buf());
    let companion = fs::canonicalize(&reaper).unwrap_or(reaper);
    judge(&Observed {
        mode,
        host_pid,
        ended,
        record: fs::read_to_string(probe_modes::record(&work.path, mode))
            .ok()
            .and_then(|t| parse_record(&t)),
        events: trace::read(&trace_path),
        companion: companion.to_string_lossy().into_owned(),
        stderr,
        host_error: fs::read_to_string(probe_modes::host_error(&work.path, mode)).ok(),
    })
}

/// The verdict on one conversion probe.
pub fn judge(o: &Observed) -> Vec<Finding> {
    let check = o.mode.check();
    if let Some(reason) = what_went_wrong(o) {
        return vec![Finding::new(Status::Problem, check, reason)];
    }
    let mut out = vec![Finding::new(Status::Ok, check, what_went_right(o))];
    if !o.stderr.trim().is_empty() {
        out.push(Finding::new(
            Status::Warn,
            check,
            format!("the library printed: {}", one_line(&o.stderr)),
        ));
    }
    out
}

/// The first thing that makes the probe a failure, if any.
fn what_went_wrong(o: &Observed) -> Option<String> {
    let host = o.host_pid;
    if o.ended == Ended::TimedOut {
        return Some(format!(
            "the probe host (pid {host}) did not finish within {} s and was killed{}",
            TIMEOUT.as_secs(),
            context(o)
        ));
    }
    let Some(rec) = &o.record else {
        return Some(format!(
            "the stand-in ar never ran (the host ended with {}){}",
            o.ended.describe(),
            context(o)
        ));
    };
    if trace::by(&o.events, o.mode.event(), host).next().is_none() {
        return Some(format!(
            "not converted: ar ran as pid {}, a separate process (parent {}){}",
            rec.pid,
            rec.ppid,
            context(o)
        ));
    }
    if let Some(reason) = ar_ran_elsewhere(o, rec) {
        return Some(reason);
    }
    if !rec.cleanup_first {
        return Some(
            "converted, but the host's atexit handler had not run when ar started: the \
             exit cleanups must come first"
                .to_string(),
        );
    }
    (o.ended != Ended::Code(STANDIN_EXIT)).then(|| {
        format!(
            "converted, but the run ended with {}, not with ar's exit status {STANDIN_EXIT}",
            o.ended.describe()
        )
    })
}

/// A conversion traced, but ar was not where the mode puts it: in the host's
/// pid (spawn), or a child of the reaper in the host's pid (fork).
fn ar_ran_elsewhere(o: &Observed, rec: &Record) -> Option<String> {
    let host = o.host_pid;
    match o.mode {
        Mode::Spawn if rec.pid != host => Some(format!(
            "the trace says converted, but ar ran as pid {}, not in the host's pid {host}",
            rec.pid
        )),
        Mode::Fork if rec.ppid != host || rec.parent_exe != o.companion => Some(format!(
            "after the handoff ar's parent was pid {} ({}), not the reaper ({}) in the \
             host's pid {host}",
            rec.ppid,
            if rec.parent_exe.is_empty() {
                "unknown"
            } else {
                &rec.parent_exe
            },
            o.companion
        )),
        _ => None,
    }
}

/// The success, said for the mode.
fn what_went_right(o: &Observed) -> String {
    let host = o.host_pid;
    let call = trace::by(&o.events, o.mode.event(), host)
        .next()
        .and_then(|e| e.str("call"))
        .unwrap_or_else(|| "the spawn".to_string());
    match o.mode {
        Mode::Spawn => format!(
            "{call} of ar became an execve: ar ran in the host's own pid {host}, after \
             the host's atexit handler, and its exit status {STANDIN_EXIT} came through"
        ),
        Mode::Fork => format!(
            "fork + exec of ar, then waitpid: the host's pid {host} became the reaper \
             after the host's atexit handler ran, and ended with ar's exit status \
             {STANDIN_EXIT}"
        ),
    }
}

/// What the trace, the host and stderr say about why it went wrong.
fn context(o: &Observed) -> String {
    let host = o.host_pid;
    let mut why = Vec::new();
    if let Some(e) = &o.host_error {
        why.push(format!("host: {}", e.trim()));
    }
    match trace::by(&o.events, "load", host).next() {
        None => why.push("the library did not load in the host".to_string()),
        Some(load) if load.raw("in_scope") != Some("true") => why.push(format!(
            "the library was off in the host: {}",
            load.str("reason").unwrap_or_default()
        )),
        Some(load) if load.str("mode").as_deref() == Some("observe") => {
            why.push("the library only observed (ARSHIM=observe)".to_string())
        }
        Some(_) => {}
    }
    for fallback in trace::by(&o.events, "fallback", host) {
        why.push(format!(
            "library fell back: {}",
            fallback.str("reason").unwrap_or_default()
        ));
    }
    if !o.stderr.trim().is_empty() {
        why.push(format!("stderr: {}", one_line(&o.stderr)));
    }
    if why.is_empty() {
        String::new()
    } else {
        format!(" — {}", why.join("; "))
    }
}

// ---------------------------------------------------------------------------
// Running probe processes

fn clean_env(cmd: &mut Command) -> &mut Command {
    for v in LIBRARY_VARS {
        cmd.env_remove(v);
    }
    cmd
}

/// Runs `cmd` in its own process group with stdin from /dev/null and its
/// output in files of the work dir; returns its pid, how it ended and its
/// stderr.
fn run(mut cmd: Command, work: &Workdir, label: &str) -> Result<(u32, Ended, String), String> {
    let out = work.join(&format!("{label}.out"));
    let err = work.join(&format!("{label}.err"));
    let file =
        |p: &Path| fs::File::create(p).map_err(|e| format!("cannot create {}: {e}", p.display()));
    cmd.stdin(Stdio::null())
        .stdout(file(&out)?)
        .stderr(file(&err)?)
        .process_group(0);
    let program = cmd.get_program().to_owned();
    let child = cmd.spawn().map_err(|e| cannot_start(&program, &e))?;
    let pid = child.id();
    let ended = wait_or_kill(child);
    Ok((pid, ended, fs::read_to_string(&err).unwrap_or_default()))
}

fn cannot_start(program: &OsStr, error: &std::io::Error) -> String {
    let hint = if error.kind() == std::io::ErrorKind::PermissionDenied {
        " (is the temp dir mounted noexec? set TMPDIR to another directory)"
    } else {
        ""
    };
    format!("cannot run {}: {error}{hint}", program.to_string_lossy())
}

fn wait_or_kill(mut child: Child) -> Ended {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ended::of(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => break,
        }
    }
    if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
        // The process group we created for this probe: its leader is our
        // unreaped child, so the id cannot have been reused.
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    let _ = child.wait();
    Ended::TimedOut
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPANION: &str = "/opt/bin/arshim";

    fn ev(text: &str) -> Vec<Event> {
        trace::parse(text)
    }

    fn observed(mode: Mode) -> Observed {
        let (event, record) = match mode {
            Mode::Spawn => (
                r#"{"pid":10,"event":"convert","call":"posix_spawnp"}"#,
                Record {
                    pid: 10,
                    ppid: 1,
                    parent_exe: "/x".into(),
                    cleanup_first: true,
                },
            ),
            Mode::Fork => (
                r#"{"pid":10,"event":"handoff","child":11}"#,
                Record {
                    pid: 11,
                    ppid: 10,
                    parent_exe: COMPANION.into(),
                    cleanup_first: true,
                },
            ),
        };
        Observed {
            mode,
            host_pid: 10,
            ended: Ended::Code(STANDIN_EXIT),
            record: Some(record),
            events: ev(&format!(
                "{{\"pid\":10,\"event\":\"load\",\"in_scope\":true,\"reason\":\"claimed\"}}\n{event}\n"
            )),
            companion: COMPANION.into(),
            stderr: String::new(),
            host_error: None,
        }
    }

    fn one(f: Vec<Finding>) -> Finding {
        assert_eq!(f.len(), 1, "{f:?}");
        f.into_iter().next().unwrap()
    }

    #[test]
    fn a_real_conversion_is_ok() {
        let f = one(judge(&observed(Mode::Spawn)));
        assert_eq!(f.status, Status::Ok, "{f}");
        assert!(
            f.reason.starts_with("posix_spawnp of ar became an execve"),
            "{f}"
        );
        let f = one(judge(&observed(Mode::Fork)));
        assert_eq!(f.status, Status::Ok, "{f}");
        assert!(f.reason.contains("became the reaper"), "{f}");
    }

    #[test]
    fn no_conversion_event_is_a_problem_with_the_fallback_reason() {
        let mut o = observed(Mode::Spawn);
        o.events = ev(r#"{"pid":10,"event":"load","in_scope":true}
{"pid":10,"event":"fallback","reason":"cannot replay addchdir"}"#);
        o.record.as_mut().unwrap().pid = 12;
        let f = one(judge(&o));
        assert_eq!(f.status, Status::Problem);
        assert!(f.reason.contains("not converted: ar ran as pid 12"), "{f}");
        assert!(
            f.reason
                .contains("library fell back: cannot replay addchdir"),
            "{f}"
        );

        let mut o = observed(Mode::Fork);
        o.events = ev(r#"{"pid":10,"event":"load","in_scope":false,"reason":"ARSHIM is off"}"#);
        let f = one(judge(&o));
        assert!(
            f.reason
                .contains("the library was off in the host: ARSHIM is off"),
            "{f}"
        );
        o.events.clear();
        assert!(one(judge(&o)).reason.contains("did not load"));
    }

    #[test]
    fn wrong_pid_parent_or_order_or_status_are_problems() {
        let mut o = observed(Mode::Spawn);
        o.record.as_mut().unwrap().pid = 99;
        assert!(one(judge(&o)).reason.contains("not in the host's pid 10"));

        let mut o = observed(Mode::Fork);
        o.record.as_mut().unwrap().parent_exe = "/work/doctor-probe-host".into();
        let f = one(judge(&o));
        assert!(f.reason.contains("not the reaper (/opt/bin/arshim)"), "{f}");

        for mode in [Mode::Spawn, Mode::Fork] {
            let mut o = observed(mode);
            o.record.as_mut().unwrap().cleanup_first = false;
            assert!(one(judge(&o)).reason.contains("atexit handler had not run"));
            let mut o = observed(mode);
            o.ended = Ended::Code(0);
            assert!(one(judge(&o))
                .reason
                .contains("not with ar's exit status 42"));
        }
    }

    #[test]
    fn missing_stand_in_and_timeouts_are_problems() {
        let mut o = observed(Mode::Spawn);
        o.record = None;
        o.host_error = Some("cannot run ar: not found".into());
        let f = one(judge(&o));
        assert!(
            f.reason.contains("the stand-in ar never ran")
                && f.reason.contains("host: cannot run ar"),
            "{f}"
        );
        o.ended = Ended::TimedOut;
        assert!(one(judge(&o)).reason.contains("was killed"));
    }

    #[test]
    fn library_output_is_a_warning_next_to_ok() {
        let mut o = observed(Mode::Spawn);
        o.stderr = "arshim[10]: something\n".into();
        let f = judge(&o);
        assert_eq!(
            f.iter().map(|f| f.status).collect::<Vec<_>>(),
            [Status::Ok, Status::Warn]
        );
    }

    #[test]
    fn load_verdicts() {
        let loaded = ev(r#"{"pid":5,"event":"load","in_scope":true}"#);
        assert_eq!(
            judge_load(5, Ended::Code(0), "", &loaded).status,
            Status::Ok
        );
        let f = judge_load(
            5,
            Ended::Code(0),
            "ERROR: ld.so: object 'x' from LD_PRELOAD cannot be preloaded\n",
            &[],
        );
        assert!(
            f.status == Status::Problem && f.reason.contains("ld.so"),
            "{f}"
        );
        let f = judge_load(5, Ended::Code(0), "", &[]);
        assert!(f.reason.contains("no load event"), "{f}");
        let f = judge_load(5, Ended::Signal(11), "", &loaded);
        assert!(f.reason.contains("signal 11"), "{f}");
    }

    #[test]
    fn records_parse() {
        let r = parse_record("pid=3\nppid=2\ncleanup_first=1\nparent_exe=/a b/arshim\n").unwrap();
        assert_eq!(
            r,
            Record {
                pid: 3,
                ppid: 2,
                parent_exe: "/a b/arshim".into(),
                cleanup_first: true
            }
        );
        assert_eq!(parse_record("pid=3\n"), None);
    }
}
