//! The wait-time entry point (docs/DESIGN.md, "Conversion" 2): which child,
//! is it the archiver, and the hand-over to the reaper. Returns only when the real wait must run.

use crate::decide::child::{judge, Awaited, Child, Verdict};
use crate::decide::config::Config;
use crate::decide::protect::absolute;
use crate::facts::{fs, proc};
use crate::ffi::state;
use crate::record::logging::info;
use crate::record::trace::Event;
use crate::takeover::defer::{self, Deferred};
use crate::takeover::report::{fallback, Attempt};
use crate::takeover::tail::{self, Archiver, Kit, Wait};
use std::time::{Duration, Instant};

/// How long a forked child may take to start its exec before we give up on it.
const EXEC_GRACE: Duration = Duration::from_millis(200);
/// How long an exec already under way may take to finish: the kernel frees
/// the child's copy of the host's page tables first (~40 ms per GiB of host
/// here, several times that when the CPUs are busy).
const EXEC_FINISH_GRACE: Duration = Duration::from_secs(10);

/// What the hook does after the real wait returned.
pub struct After {
    child: Option<Child>,
    /// The child is an archiver (observe mode: its end starts the recording).
    archiver: bool,
    /// Deletions deferred by a handoff whose execve failed: the host goes on,
    /// so they are done here once the archiver has been waited for.
    deferred: Vec<Deferred>,
}

impl After {
    pub fn finish(self, config: &Config, result: i32, status: Option<i32>) {
        if let Some(child) = &self.child {
            Event::new("wait")
                .int("child", child.pid as i64)
                .str("program", &child.exe)
                .list("argv", child.argv.iter().map(|a| a.as_slice()))
                .str("cwd", &child.cwd)
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

fn pass(child: Option<Child>) -> Option<After> {
    Some(After {
        child,
        archiver: false,
        deferred: Vec::new(),
    })
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

/// The child `pid` as /proc shows it, looked at again until it has finished
/// an exec or the grace for it ran out; what it runs, and since when we look.
fn watch(config: &Config, pid: i32) -> Option<(Child, Verdict, Instant)> {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let my_exe = proc::self_exe();
    let mut child = proc::child(pid)?;
    let start = Instant::now();
    loop {
        let cwd = child.cwd.clone();
        let is_script = |p: &[u8]| fs::is_script(&absolute(&cwd, p));
        let v = judge(&child, me, &my_exe, config, is_script);
        let waited = start.elapsed();
        match v {
            Verdict::NotYetExeced if waited < EXEC_GRACE => {}
            Verdict::Execing if waited < EXEC_FINISH_GRACE => {}
            v => return Some((child, v, start)),
        }
        std::thread::sleep(Duration::from_millis(2));
        child = proc::child(pid)?;
    }
}

/// # Safety
/// Called from a wait hook of the host, in scope, before the real call.
pub unsafe fn at_wait(config: &'static Config, awaited: Option<Awaited>) -> Option<After> {
    let pid = the_child(awaited?)?;
    let (child, verdict, start) = watch(config, pid)?;
    let Verdict::Archiver { operands } = verdict else {
        if matches!(verdict, Verdict::NotYetExeced | Verdict::Execing) {
            let reason = format!(
                "the child did not finish an exec within {} ms",
                start.elapsed().as_millis()
            );
            let attempt = Attempt::WaitBeforeExec {
                pid,
                exe: &child.exe,
            };
            fallback(config, &attempt, &reason);
        }
        return pass(Some(child));
    };
    let program = child.argv[operands - 1].clone();
    if !state::is_exec(config) {
        info!(
            "wait for {} (pid {pid}): archiver (observe mode)",
            String::from_utf8_lossy(&program)
        );
        return Some(After {
            child: Some(child),
            archiver: true,
            deferred: Vec::new(),
        });
    }
    match kit(config) {
        Ok(kit) => Some(hand_off(config, child, operands, &program, kit)),
        Err(reason) => {
            let attempt = Attempt::Wait {
                pid,
                program: &program,
            };
            fallback(config, &attempt, reason);
            pass(Some(child))
        }
    }
}

/// What the handoff needs, or why the host is left to its own wait.
fn kit(config: &Config) -> Result<Kit, &'static str> {
    if proc::children_autoreaped() {
        return Err("SIGCHLD is ignored: the archiver's status could not be collected");
    }
    tail::kit(config)
}

/// The point of no return: the tail, to the reaper. Returns only if its
/// execve failed.
unsafe fn hand_off(
    config: &Config,
    child: Child,
    operands: usize,
    program: &[u8],
    kit: Kit,
) -> After {
    Event::new("handoff")
        .int("child", child.pid as i64)
        .str("program", program)
        .str("exe", &child.exe)
        .list("argv", child.argv.iter().map(|a| a.as_slice()))
        .emit(config.trace.as_deref());
    info!(
        "wait for {} (pid {}): handing off to the reaper after the host's cleanups",
        String::from_utf8_lossy(program),
        child.pid
    );
    let archiver = Archiver {
        operands: child.argv.get(operands..).unwrap_or(&[]),
        cwd: &child.cwd,
    };
    let deferred = tail::take_over(config, kit, archiver, Wait::new(child.pid));
    After {
        child: Some(child),
        archiver: true,
        deferred,
    }
}
