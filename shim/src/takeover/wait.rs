//! The wait-time entry point (docs/DESIGN.md, "Conversion" 2): which child,
//! what it exec'd — from the exec record the child wrote at its exec, from
//! `/proc` only for an exec the record cannot see — and the hand-over to
//! the reaper. Returns only when the real wait must run (or was interrupted).

use crate::decide::child::{judge, Awaited, Child, Verdict, WaitCall};
use crate::decide::config::Config;
use crate::decide::link;
use crate::decide::output::{captured, Outputs};
use crate::decide::protect::absolute;
use crate::execs::settle::{settle, Record, Settled};
use crate::facts::indirect::{archiver_inputs, link_output, Stdin};
use crate::facts::{fs, output, proc};
use crate::ffi::state;
use crate::record::logging::info;
use crate::record::observe::WouldConvert;
use crate::record::temps;
use crate::record::trace::Event;
use crate::takeover::defer::{self, Deferred};
use crate::takeover::fit;
use crate::takeover::report::{fallback, Attempt};
use crate::takeover::restore::{self, Captured};
use crate::takeover::tail::{self, Archiver, Kit, Wait};
use std::time::{Duration, Instant};

/// How long an exec seen only through `/proc` (made by a raw system call,
/// not the C library's exec functions) may take to finish once under way:
/// the kernel frees the child's copy of the host's page tables first
/// (~40 ms per GiB of host here, several times that when the CPUs are busy).
const EXEC_FINISH_GRACE: Duration = Duration::from_secs(10);

/// What the wait hook does.
pub enum AtWait {
    /// Run the real wait, then `After::finish` (if any).
    Real(Option<After>),
    /// A signal handler interrupted our wait for the child's exec: the host's
    /// call returns -1 with EINTR, as the real one would have.
    Interrupted,
}

/// The child as the wait saw it, and which source told.
pub struct Seen {
    child: Child,
    /// `exec` (the child's exec record), `spawn` (the parent's spawn
    /// record) or `proc` (a look at /proc).
    source: &'static str,
    /// The exec or spawn function the child was started or exec'd with
    /// (`proc`: unknown, empty).
    call: &'static str,
    /// It had already ended: nothing to hand off.
    exited: bool,
    /// The record holds only the first arguments.
    truncated: bool,
    /// Its stdout and stderr at its exec, where the record says (boxed:
    /// `AtWait` carries a `Seen`).
    outputs: Box<Outputs>,
}

/// What the hook does after the real wait returned.
pub struct After {
    seen: Option<Seen>,
    /// The child is an archiver (observe mode: its end starts the recording).
    archiver: bool,
    /// Deletions deferred by a handoff whose execve failed: the host goes on,
    /// so they are done here once the archiver has been waited for.
    deferred: Vec<Deferred>,
}

impl After {
    pub fn finish(self, config: &Config, result: i32, status: Option<i32>) {
        if let Some(seen) = &self.seen {
            let child = &seen.child;
            Event::new("wait")
                .int("child", child.pid as i64)
                .str("program", &child.exe)
                .list("argv", child.argv.iter().map(|a| a.as_slice()))
                .str("cwd", &child.cwd)
                .str("source", seen.source.as_bytes())
                .str("call", seen.call.as_bytes())
                .int("result", result as i64)
                .wait_status(status)
                .emit(config.trace.as_deref());
            if result == child.pid
                && (self.archiver || crate::record::observe::is_archiver_pid(result))
            {
                crate::record::observe::archiver_done(result, status);
            }
        }
        if !self.deferred.is_empty() {
            defer::perform_now(&self.deferred);
        }
    }
}

fn pass(seen: Option<Seen>) -> AtWait {
    AtWait::Real(Some(After {
        seen,
        archiver: false,
        deferred: Vec::new(),
    }))
}

/// Child `pid` was just reaped by a blocking wait of the host (any form,
/// `wait(-1)` among several children too): what its exec record says it
/// was told to write is promised (`promise_its_output`). Allocates: never
/// at a `WNOHANG` poll, which a SIGCHLD handler may make.
pub fn promise_reaped(pid: i32) {
    if temps::armed() {
        if let Some(record) = crate::execs::settle::reaped(pid) {
            promise_its_output(&record);
        }
    }
}

/// What a `fork`+`exec` child (a compiler driver, an assembler, a linker)
/// was told with `-o` to write is one of the host's temporaries when it is
/// under the temps globs and born after the child's exec, as for a
/// `posix_spawn`'d one (docs/DESIGN.md, "Conversion" 12). The child's exec
/// record names it only when the child found it missing right before its
/// exec (its `@FILE`s read); it is made absolute against the child's
/// working directory, which the record holds too.
fn promise_its_output(record: &Record) {
    let (Some(since), Some(out)) = (record.exec_time, &record.missing_output) else {
        return; // a posix_spawn's record (its hook promised), or nothing told
    };
    if temps::armed() && (out.starts_with(b"/") || !record.cwd.is_empty()) {
        temps::promised_at_exec(&absolute(&record.cwd, out), since);
    }
}

fn the_child(awaited: Awaited) -> Option<i32> {
    match awaited {
        Awaited::Pid(p) => Some(p),
        Awaited::AnyChild => match proc::children()?.as_slice() {
            [only] => Some(*only),
            _ => None, // none, or several: wait(-1) could return any of them
        },
    }
}

/// # Safety
/// Called from a wait hook of the host, in scope, before the real call.
pub unsafe fn at_wait(config: &'static Config, call: Option<WaitCall>) -> AtWait {
    let Some(call) = call else {
        return AtWait::Real(None);
    };
    let Some(pid) = the_child(call.awaited) else {
        return AtWait::Real(None);
    };
    // wait(-1) in a host with other threads: one of them could start another
    // child that the real call would return; never hold such a call.
    let may_block =
        call.exits_only && (matches!(call.awaited, Awaited::Pid(_)) || proc::threads() <= 1);
    let my_exe = proc::self_exe();
    let exe = my_exe.clone();
    let host_image = move || proc::child(pid).is_some_and(|c| c.exe == exe);
    let seen = match settle(pid, proc::start_time(pid), may_block, host_image) {
        Settled::Interrupted => return AtWait::Interrupted,
        Settled::Execed { record, exited } => from_record(pid, record, exited),
        Settled::Execing => {
            let attempt = Attempt::WaitBeforeExec { pid, exe: b"" };
            let reason = "the child was in its exec and this wait also ends at a stop: not held";
            fallback(config, &attempt, reason);
            return pass(None);
        }
        Settled::ExecFailed | Settled::Exited => return pass(None),
        Settled::Unrecorded => match from_proc(pid, &my_exe) {
            Some(seen) => seen,
            None => return pass(None),
        },
    };
    decide(config, seen, &my_exe)
}

/// The child as its exec record tells it.
fn from_record(pid: i32, record: Record, exited: bool) -> Seen {
    let mut cwd = record.cwd;
    if cwd.is_empty() && !exited {
        // A spawn's file actions may have changed its directory.
        cwd = proc::child(pid).map(|c| c.cwd).unwrap_or_default();
    }
    Seen {
        child: Child {
            pid,
            // SAFETY: getpid has no preconditions.
            ppid: unsafe { libc::getpid() },
            state: b'S',
            exe: record.program,
            argv: record.argv,
            cwd,
        },
        source: record.source.name(),
        call: record.call,
        exited,
        truncated: record.truncated,
        outputs: Box::new(record.outputs),
    }
}

/// The child as /proc shows it, for an exec the record cannot see; an
/// exec under way is looked at again until it has finished.
fn from_proc(pid: i32, my_exe: &[u8]) -> Option<Seen> {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let start = Instant::now();
    let mut child = proc::child(pid)?;
    while child.exe != my_exe
        && child.argv.is_empty()
        && child.state != b'Z'
        && start.elapsed() < EXEC_FINISH_GRACE
    {
        std::thread::sleep(Duration::from_millis(2));
        child = proc::child(pid)?;
    }
    let exited = child.state == b'Z' || child.exe.is_empty();
    (child.ppid == me).then_some(Seen {
        child,
        source: "proc",
        call: "",
        exited,
        truncated: false,
        outputs: Box::new([None, None]),
    })
}

/// Is it the archiver, and what then.
unsafe fn decide(config: &'static Config, seen: Seen, my_exe: &[u8]) -> AtWait {
    let pid = seen.child.pid;
    let cwd = seen.child.cwd.clone();
    let is_script = |p: &[u8]| fs::is_script(&absolute(&cwd, p));
    let mut alive = seen.child.clone();
    alive.state = b'S';
    if alive.exe.is_empty() {
        alive.exe = b"?".to_vec(); // a zombie's: judged by its arguments
    }
    let verdict = judge(&alive, alive.ppid, my_exe, config, is_script);
    let Verdict::Archiver { operands } = verdict else {
        if seen.source == "proc" && matches!(verdict, Verdict::NotYetExeced | Verdict::Execing) {
            let attempt = Attempt::WaitBeforeExec {
                pid,
                exe: &seen.child.exe,
            };
            let reason = "the child had not exec'd and the wait could not be held for it";
            fallback(config, &attempt, reason);
        }
        return pass(Some(seen));
    };
    let program = seen.child.argv[operands - 1].clone();
    if !state::is_exec(config) {
        return observe_child(config, seen, operands, &program);
    }
    // An archiver that has already ended is handed off too: the reaper
    // collects its status at once, and a run ends the same way whether ar
    // was quick or slow — what `verify` proves is what every run does.
    let mut seen = seen;
    // Last: nothing may fail between the capture and the cleanups.
    let ready = ready(config, &mut seen, operands)
        .and_then(|(kit, inputs)| Ok((kit, inputs, restore::for_reaper()?)));
    match ready {
        Ok((kit, inputs, captured)) => AtWait::Real(Some(hand_off(
            config, seen, &inputs, &program, kit, captured,
        ))),
        Err(reason) => {
            let attempt = Attempt::Wait {
                pid,
                program: &program,
            };
            fallback(config, &attempt, &reason);
            pass(Some(seen))
        }
    }
}

/// Observe mode: the same checks as a handoff, so that only the child the
/// library would hand off is marked (`would_convert`; its end starts the
/// recording) and the others are `fallback` events with their reasons
/// (docs/DESIGN.md, "Conversion" 10).
fn observe_child(config: &Config, mut seen: Seen, operands: usize, program: &[u8]) -> AtWait {
    let pid = seen.child.pid;
    let archiver = |seen| {
        AtWait::Real(Some(After {
            seen: Some(seen),
            archiver: true,
            deferred: Vec::new(),
        }))
    };
    if crate::record::observe::is_archiver_pid(pid) {
        return archiver(seen); // its spawn said so already: converted there
    }
    if let Err(reason) = ready(config, &mut seen, operands) {
        fallback(config, &Attempt::Wait { pid, program }, &reason);
        return pass(Some(seen));
    }
    info!(
        "wait for {} (pid {pid}): would hand off (observe mode)",
        String::from_utf8_lossy(program)
    );
    let child = &seen.child;
    let args = child.argv.get(operands..).unwrap_or_default();
    WouldConvert {
        call: "wait",
        program: &child.exe,
        argv: &child.argv,
        child: pid,
        kind: link::kind(program).name(),
        output: link_output(program, args, &child.cwd),
    }
    .emit(config.trace.as_deref());
    archiver(seen)
}

/// What the handoff needs (and what the archiver reads or writes), or why
/// the host is left to its own wait.
fn ready(config: &Config, seen: &mut Seen, operands: usize) -> Result<(Kit, Vec<Vec<u8>>), String> {
    if let Some(reason) = captured_output(seen) {
        return Err(reason.into());
    }
    if proc::children_autoreaped() {
        return Err("SIGCHLD is ignored: the archiver's status could not be collected".into());
    }
    if seen.truncated {
        // The whole argument list from /proc, if the exec has set it up and
        // it continues the record's.
        match proc::child(seen.child.pid) {
            Some(c) if c.argv.starts_with(&seen.child.argv) => seen.child.argv = c.argv,
            _ => {
                return Err(
                    "the archiver's arguments are longer than the exec record holds".into(),
                );
            }
        }
    }
    let inputs = child_inputs(&seen.child, operands)?;
    let mut kit = tail::kit(config)?;
    // The reaper's execve must not fail after the cleanups (docs/DESIGN.md,
    // "Conversion" 1).
    let protected = defer::protected_for(&inputs, &seen.child.cwd);
    fit::wait_time(config, &mut kit, seen.child.pid, &protected)?;
    Ok((kit, inputs))
}

/// Why the host is not handed off if it reads the archiver's output: it
/// waits only once it read it to EOF, and acts on it after the archiver
/// ended (docs/DESIGN.md, "Conversion" 2). The child's stdout and stderr as
/// its exec record tells them, else as `/proc` shows them now.
fn captured_output(seen: &Seen) -> Option<&'static str> {
    let mut child = *seen.outputs;
    if child.contains(&None) {
        let now = output::child_outputs(seen.child.pid);
        for (told, shown) in child.iter_mut().zip(now) {
            if told.is_none() {
                *told = shown;
            }
        }
    }
    captured(&child, &output::host_outputs())
}

/// What the running archiver reads or writes (docs/DESIGN.md, "Conversion"
/// 4), its `@FILE`s and MRI script read now; an error when it only reads
/// ("Conversion" 10): the host then goes on to its real final spawn. Its
/// stdin is what it has now: an MRI script on a pipe is gone or going, and
/// cannot be read, so such a child is not handed off.
fn child_inputs(child: &Child, operands: usize) -> Result<Vec<Vec<u8>>, String> {
    let program = child
        .argv
        .get(operands.wrapping_sub(1))
        .map(|p| p.as_slice())
        .unwrap_or_default();
    let args = child.argv.get(operands..).unwrap_or_default();
    let stdin = || Stdin::Path(format!("/proc/{}/fd/0", child.pid).into_bytes());
    archiver_inputs(program, args, &child.cwd, stdin)
}

/// The point of no return: the tail, to the reaper. Returns only if its
/// execve failed.
unsafe fn hand_off(
    config: &Config,
    seen: Seen,
    inputs: &[Vec<u8>],
    program: &[u8],
    kit: Kit,
    captured: Captured,
) -> After {
    let child = &seen.child;
    Event::new("handoff")
        .int("child", child.pid as i64)
        .str("program", program)
        .str("exe", &child.exe)
        .list("argv", child.argv.iter().map(|a| a.as_slice()))
        .str("source", seen.source.as_bytes())
        .bool("ended", seen.exited)
        .emit(config.trace.as_deref());
    info!(
        "wait for {} (pid {}): handing off to the reaper after the host's cleanups",
        String::from_utf8_lossy(program),
        child.pid
    );
    let archiver = Archiver {
        operands: inputs,
        cwd: &child.cwd,
    };
    let job = Wait::new(child.pid).restoring(captured);
    let deferred = tail::take_over(config, kit, archiver, job);
    After {
        seen: Some(seen),
        archiver: true,
        deferred,
    }
}
