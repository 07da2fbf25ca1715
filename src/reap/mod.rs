//! The reaper: `arshim-reap __reap …` (the companion's `arshim __reap` runs
//! the same code, but the library execs only `arshim-reap` of its own build,
//! docs/DESIGN.md, "Pieces"), IN PLACE of a big host process (same pid), so
//! the host's memory is gone while the archiver runs:
//!
//! - `wait`: the host forked a child that exec'd the archiver, then waited for
//!   it. Exec keeps the pid, so the archiver is our child: wait for it.
//! - `run`: the host's exit cleanups tried to delete the archiver's inputs;
//!   the library deferred those deletions. Spawn the archiver ourselves.
//!
//! Either way: wait, do the deferred deletions, and end like the archiver
//! (death by its signal, always; its exit code, or the host's own failure
//! status for a non-zero one). Nothing is printed on success.
//! (docs/DESIGN.md, "Conversion" 2, 4 and 6.)
//!
//! It must stay tiny while it waits (≤ 2 MiB RSS): it is dispatched before
//! Rust's runtime initialisation (`dispatch_early`), the arguments are parsed
//! by hand, and nothing else (threads, big buffers) is set up.

mod args;
mod delete;
mod signals;
mod spawn;
mod trace;

use std::ffi::{c_char, c_int, CStr, CString, OsStr, OsString};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;

use nix::sys::signal::{signal, SigHandler, Signal};

use self::args::Mode;
use self::trace::{Event, Trace};
use crate::failure::{EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, EXIT_USAGE};
use arshim_common::known_hosts::{FailureLine, LineStyle};

/// How glibc calls the functions in `.init_array`: with the process's
/// `argc`, `argv` and `envp`, after libc is initialised, before `main`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub type InitHook = unsafe extern "C" fn(c_int, *const *const c_char, *const *const c_char);

/// Runs the reaper if `argv[1]` is `__reap`; otherwise returns at once.
///
/// Called from `.init_array`, i.e. before Rust's runtime initialisation,
/// which would otherwise (a) set SIGPIPE to SIG_IGN, which the archiver we
/// spawn would inherit, (b) open /dev/null on any closed fd 0-2, and (c) map
/// and touch about 0.5 MiB more (it reads /proc/self/maps through stdio to
/// find the main thread's stack guard, installs a SIGSEGV handler and an
/// alternate signal stack). The reaper needs none of it: it only allocates.
///
/// # Safety
///
/// Only for `.init_array`: `argc` and `argv` must be the process's, as
/// glibc passes them (`argc` valid pointers to NUL-terminated strings that
/// live as long as the process).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub unsafe extern "C" fn dispatch_early(
    argc: c_int,
    argv: *const *const c_char,
    _: *const *const c_char,
) {
    let Ok(argc) = usize::try_from(argc) else {
        return;
    };
    if argc < 2 || argv.is_null() {
        return;
    }
    // SAFETY: the caller's contract (glibc passes the executable's init
    // functions the real argc and argv).
    let args = unsafe { std::slice::from_raw_parts(argv, argc) };
    // SAFETY: as above.
    let arg = |p: *const c_char| unsafe { CStr::from_ptr(p) }.to_bytes();
    if arg(args[1]) == b"__reap" {
        main(
            args[2..]
                .iter()
                .map(|&p| OsStr::from_bytes(arg(p)).to_owned()),
        )
    }
}

/// Runs the reaper on the arguments after `__reap`; never returns.
pub fn main(args: impl Iterator<Item = OsString>) -> ! {
    abort_on_panic();
    let request = match args::parse(args) {
        Ok(request) => request,
        Err(error) => fail(EXIT_USAGE, &format!("{error}")),
    };
    // Before anything opens a file: the DIRFD numbers are the host's.
    let deletions = delete::prepare(request.deletions);
    let trace = Trace::open(request.trace.as_deref());
    signals::default_sigchld();
    let end = End {
        deletions,
        trace,
        failure: Failure {
            status: request.failure_status,
            line: request.failure_line,
        },
    };
    match request.mode {
        Mode::Wait { pid } => wait_mode(pid, end),
        Mode::Run { path, argv } => run_mode(path, argv, end),
    }
}

/// What every ending needs: the deletions due, the trace, and the host's
/// own status (and line) for a failed archiver.
struct End {
    deletions: delete::Prepared,
    trace: Trace,
    failure: Failure,
}

/// How the host reports a failed archiver: its status, and its own line.
#[derive(Clone, Copy)]
struct Failure {
    status: Option<u8>,
    line: Option<FailureLine>,
}

/// The archiver is already our child: wait for it.
fn wait_mode(pid: libc::pid_t, end: End) -> ! {
    let trace = &end.trace;
    signals::set_child(pid);
    signals::forward_to_child();
    trace.emit(|| reap_event("wait", Some(pid), exe_of(pid).as_deref()));
    match wait(pid) {
        Ok(status) => {
            delete::perform(end.deletions, trace);
            exit_like(pid, status, end.failure, trace, None)
        }
        Err(error) => {
            delete::skip(end.deletions, trace, "the archiver could not be waited for");
            trace.emit(|| exit_event(pid).str("error", error.to_string()));
            // Not 127 ("command not found"): the archiver did run;
            // we only cannot know how it ended.
            fail(1, &format!("cannot wait for {pid}: {error}"))
        }
    }
}

/// Spawn the archiver ourselves, then wait for it.
fn run_mode(path: CString, argv: Vec<CString>, end: End) -> ! {
    let trace = &end.trace;
    let env = spawn::environment(&spawn::own_environment());
    signals::forward_to_child();
    let blocked = signals::Blocked::forwarded();
    let child = spawn::spawn(&path, &argv, &env, blocked.old_mask());
    if let Ok(pid) = child {
        signals::set_child(pid);
    }
    drop(blocked); // a signal that came meanwhile is forwarded now
    let argv0 = argv
        .first()
        .map(|a| a.to_bytes().to_vec())
        .unwrap_or_default();
    drop((argv, env));
    let path = OsStr::from_bytes(path.as_bytes());
    let error = match child {
        Ok(pid) => {
            trace.emit(|| reap_event("run", Some(pid), Some(path)));
            // The child is ours and alive: waiting cannot fail.
            let status = wait(pid)
                .unwrap_or_else(|error| fail(1, &format!("cannot wait for {pid}: {error}")));
            delete::perform(end.deletions, trace);
            exit_like(
                pid,
                status,
                end.failure,
                trace,
                Some((path.as_bytes(), &argv0)),
            )
        }
        Err(error) => error,
    };
    trace.emit(|| reap_event("run", None, Some(path)).str("error", error.to_string()));
    // The archiver never ran: the host's deletions are due.
    delete::perform(end.deletions, trace);
    let code = match error.kind() {
        io::ErrorKind::NotFound => EXIT_NOT_FOUND,
        _ => EXIT_CANNOT_EXECUTE,
    };
    trace.emit(|| Event::new("exit").null("child").int("status", code.into()));
    let path = path.to_string_lossy();
    fail(code, &format!("cannot run {path}: {error}"))
}

/// `child` is `None` when the archiver could not be spawned.
fn reap_event(mode: &str, child: Option<libc::pid_t>, path: Option<&OsStr>) -> Event {
    let event = Event::new("reap").str("mode", mode);
    let event = match child {
        Some(pid) => event.int("child", pid.into()),
        None => event.null("child"),
    };
    match path {
        Some(path) => event.str("path", path.as_bytes()),
        None => event.null("path"),
    }
}

fn exit_event(pid: libc::pid_t) -> Event {
    Event::new("exit").int("child", pid.into())
}

/// Waits for the archiver to end and returns its wait status.
fn wait(pid: libc::pid_t) -> io::Result<libc::c_int> {
    // First wait without reaping: while it is a zombie its pid cannot be
    // reused, so a forwarded signal cannot hit an unrelated process.
    // Raw libc, not nix's waitid and waitpid: they fail with EINVAL for an
    // archiver killed by a real-time signal, which the reaper must pass on.
    let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
    retry(|| {
        // SAFETY: waitid fills the siginfo we own.
        unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                info.as_mut_ptr(),
                libc::WEXITED | libc::WNOWAIT,
            )
        }
    })?;
    signals::forget_child();
    let mut status = 0;
    // SAFETY: waitpid writes the status we own.
    retry(|| unsafe { libc::waitpid(pid, &mut status, 0) })?;
    Ok(status)
}

/// Calls `f` until it does not fail with EINTR.
fn retry(mut f: impl FnMut() -> libc::c_int) -> io::Result<()> {
    loop {
        if f() >= 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Ends the reaper the way the archiver ended: by its signal, always (so a
/// Ctrl-C that killed the archiver stops the build around the host too), or
/// with its exit code — replaced by the host's own status, when the host is
/// known to report an archiver that exited non-zero with one (docs/DESIGN.md,
/// "Conversion" 6), with the host's own line when it has one and the
/// archiver's `program` path and `argv[0]` are known (run mode), else the
/// reaper's.
fn exit_like(
    pid: libc::pid_t,
    status: libc::c_int,
    failure: Failure,
    trace: &Trace,
    program: Option<(&[u8], &[u8])>,
) -> ! {
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        trace.emit(|| exit_event(pid).int("signal", sig.into()));
        signals::die_by(sig)
    }
    // waitpid without WUNTRACED only reports ended children.
    let code = libc::WEXITSTATUS(status);
    if let (true, Some(host_code)) = (code != 0, failure.status) {
        let how = format!("failed with exit status {code}");
        trace.emit(|| {
            exit_event(pid)
                .int("status", host_code.into())
                .str("archiver", how.clone())
        });
        let said = match (failure.line, program) {
            (Some(line), Some((program, argv0))) => host_line(line, program, argv0, code),
            _ => None,
        };
        if let Some(said) = said {
            say_as_host(host_code, &said)
        }
        fail(host_code, &format!("the archiver (pid {pid}) {how}"))
    }
    trace.emit(|| exit_event(pid).int("status", code.into()));
    // SAFETY: _exit ends the process; nothing of ours needs flushing (and
    // nix does not wrap it).
    unsafe { libc::_exit(code) }
}

/// The archiver's executable, for the trace (wait mode knows only its pid).
fn exe_of(pid: libc::pid_t) -> Option<OsString> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(OsString::from)
}

/// The host's own line for its archiver, spawned as `program` with `argv0`,
/// which exited with `code` (docs/DESIGN.md, "Conversion" 6): ldc2's
/// `Error: PROGRAM failed with status: N`, ghc's `` `ARGV0' failed in phase
/// `Ranlib'. (Exit code: N)`` (only for a ranlib: `None` for another tool).
fn host_line(line: FailureLine, program: &[u8], argv0: &[u8], code: i32) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match line.style {
        LineStyle::Ldc2 => {
            out.extend_from_slice(match line.colour {
                true => b"\x1b[1m\x1b[1;31mError: \x1b[m",
                false => b"Error: ",
            });
            out.extend_from_slice(program);
            out.extend_from_slice(format!(" failed with status: {code}\n").as_bytes());
        }
        LineStyle::Ghc => {
            if !argv0.ends_with(b"ranlib") {
                return None;
            }
            out.push(b'`');
            out.extend_from_slice(argv0);
            out.extend_from_slice(
                format!("' failed in phase `Ranlib'. (Exit code: {code})\n").as_bytes(),
            );
        }
    }
    Some(out)
}

/// One line on stderr, like the library's messages, then exit.
fn fail(code: impl Into<i32>, message: &str) -> ! {
    let line = format!("arshim[{}]: reaper: {message}\n", std::process::id());
    say_as_host(code, line.as_bytes())
}

/// `line` on stderr, then exit with `code`.
fn say_as_host(code: impl Into<i32>, line: &[u8]) -> ! {
    // The status must be `code`, even if stderr is a closed pipe.
    // SAFETY: ignoring a signal installs no handler.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
    let _ = nix::unistd::write(std::io::stderr(), line);
    // SAFETY: _exit only ends the process (nix does not wrap it).
    unsafe { libc::_exit(code.into()) }
}

/// Makes any panic of this process abort at once, before anything unwinds.
///
/// The reaper holds a host's pid, its archiver child and the exit status the
/// host's parent waits for (docs/DESIGN.md, "Conversion"): a panic must end
/// it as a signal, as in the library and the core, never as an unwound
/// `main` exiting 101. The library and the core are built with
/// `panic = "abort"`; this binary is built with the companion and the tests,
/// which unwind (Makefile, `build`), so it aborts from its panic hook. The
/// hook is a plain function: installing it allocates nothing.
pub fn abort_on_panic() {
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(io::stderr(), "arshim-reap: {info}");
        std::process::abort()
    }));
}

#[cfg(test)]
mod tests {
    use super::host_line;
    use arshim_common::known_hosts::{FailureLine, LineStyle};

    #[test]
    fn the_hosts_own_lines() {
        let ldc2 = FailureLine {
            style: LineStyle::Ldc2,
            colour: false,
        };
        let line = |l, program: &str, argv0: &str, code| {
            host_line(l, program.as_bytes(), argv0.as_bytes(), code)
                .map(|b| String::from_utf8(b).unwrap())
        };
        assert_eq!(
            line(ldc2, "/usr/bin/cc", "cc", 1).unwrap(),
            "Error: /usr/bin/cc failed with status: 1\n"
        );
        let red = FailureLine {
            colour: true,
            ..ldc2
        };
        assert_eq!(
            line(red, "/tmp/ar", "ar", 2).unwrap(),
            "\x1b[1m\x1b[1;31mError: \x1b[m/tmp/ar failed with status: 2\n"
        );
        let ghc = FailureLine {
            style: LineStyle::Ghc,
            colour: false,
        };
        assert_eq!(
            line(
                ghc,
                "/usr/bin/x86_64-linux-gnu-ranlib",
                "x86_64-linux-gnu-ranlib",
                3
            )
            .unwrap(),
            "`x86_64-linux-gnu-ranlib' failed in phase `Ranlib'. (Exit code: 3)\n"
        );
        assert_eq!(line(ghc, "/usr/bin/gcc", "gcc", 1), None);
    }

    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    /// Set in the child run of [`a_panic_after_abort_on_panic_is_sigabrt`].
    const CHILD: &str = "ARSHIM_TEST_PANICKING_CHILD";

    /// In the child only: panic with the reaper's hook installed.
    #[test]
    fn panicking_child() {
        if std::env::var_os(CHILD).is_some() {
            super::abort_on_panic();
            panic!("on purpose");
        }
    }

    #[test]
    fn a_panic_after_abort_on_panic_is_sigabrt() {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "reap::tests::panicking_child", "--nocapture"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "{:?}\n{stderr}",
            out.status
        );
        assert!(stderr.contains("arshim-reap: panicked at"), "{stderr}");
        assert!(stderr.contains("on purpose"), "{stderr}");
    }
}
