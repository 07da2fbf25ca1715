//! The one irreversible tail of both takeovers (docs/DESIGN.md, "Conversion"
//! 1 and 2): protect the archiver's paths, run the host's cleanups with those
//! deletions deferred, put back what they changed of the state captured
//! before them (the job's `replay`, "Conversion" 11), then `execve` the
//! archiver or the reaper. Touches
//! everything: nothing before `state::deactivate` has changed the host, and
//! nothing after it can be undone. What differs between the spawn-time and
//! the wait-time takeover is a `Job`.

use crate::decide::config::Config;
use crate::ffi::state;
use crate::record::logging::warn_line;
use crate::takeover::cleanup::{self, Cleanups};
use crate::takeover::companion::{self, NoReaper};
use crate::takeover::defer::{self, Deferred};
use crate::takeover::exec::{environ_copy, execve, Exec};
use crate::takeover::restore::Captured;
use crate::takeover::temps::{self, Temps};
use crate::takeover::{reaper, release, replay, report};
use std::convert::Infallible;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};

/// Without a reaper of this build (docs/DESIGN.md, "Pieces", `arshim-reap`)
/// nothing converts: the install is broken,
/// which the user learns from one warning per process that would have
/// converted (a mark for the whole tree would mean `setenv` in a running,
/// maybe threaded, host); the fallback gives the reason at `info`.
fn no_reaper(why: NoReaper) -> &'static str {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let (reason, warning) = match why {
        NoReaper::Missing => (
            "no arshim-reap next to the library or to ARSHIM_COMPANION",
            "no arshim-reap next to the library or to ARSHIM_COMPANION".to_string(),
        ),
        NoReaper::NotOurs(path) => (
            "arshim-reap is not of this library's build",
            format!(
                "{} is not the arshim-reap of this library's build",
                String::from_utf8_lossy(&path)
            ),
        ),
    };
    if !WARNED.swap(true, Ordering::Relaxed) {
        warn_line(&format!(
            "{warning}: nothing converts (reinstall arshim; `arshim doctor` checks it)"
        ));
    }
    reason
}

/// What every takeover needs, found while the host can still be returned to.
pub struct Kit {
    /// The reaper to hand over to (`companion::find`).
    companion: Vec<u8>,
    cleanups: Cleanups,
    /// What the reaper's arguments can take for deferred deletions
    /// (`fit`; none until measured).
    room: u64,
    /// The host's temporaries still there, for the reaper (docs/DESIGN.md,
    /// "Conversion" 12).
    temps: Temps,
}

/// The reaper and the host's cleanups, or why the host cannot be taken over.
pub fn kit(config: &Config) -> Result<Kit, &'static str> {
    let companion = companion::find(config.companion.as_deref()).map_err(no_reaper)?;
    let cleanups = cleanup::prepare()?;
    let temps = temps::collect()?;
    Ok(Kit {
        companion,
        cleanups,
        room: 0,
        temps,
    })
}

impl Kit {
    /// The reaper's `execve` for `job` with no deletion deferred yet, as the
    /// tail builds it: what `fit` measures before the cleanups.
    pub fn reaper_exec(&self, config: &Config, job: &reaper::Job<'_>, envp: Vec<CString>) -> Exec {
        let library = companion::library_path().unwrap_or_default();
        let reaper = Reaper {
            path: &self.companion,
            library: &library,
        };
        reaper.exec(config, job, &[], envp)
    }

    /// The bytes the reaper's arguments can take for deferred deletions,
    /// measured against the kernel's limits (`fit`).
    pub fn set_room(&mut self, room: u64) {
        self.room = room;
    }

    /// What the reaper's arguments need for the host's temporaries.
    pub fn temps_cost(&self) -> u64 {
        self.temps.cost()
    }
}

/// The archiver's operands and working directory: what the host's cleanups
/// must not delete before the archiver has run.
pub struct Archiver<'a> {
    pub operands: &'a [Vec<u8>],
    pub cwd: &'a [u8],
}

/// What differs between the two takeovers: what the process becomes, and
/// what happens when that `execve` fails.
pub trait Job {
    /// What `take_over` returns: never anything at spawn time, the deferred
    /// deletions at wait time.
    type Back;

    /// What to `execve`, once the cleanups ran and their deletions are known.
    fn target(&mut self, config: &Config, reaper: &Reaper<'_>, deferred: &[Deferred]) -> Exec;

    /// The job's own steps right before the `execve` (none by default).
    ///
    /// # Safety
    /// Only in `take_over`, after the cleanups.
    unsafe fn replay(&self, _deferred: &[Deferred]) {}

    /// The child hidden from the host's cleanups: the wait-time takeover's
    /// archiver, still running while they run (takeover/hidden.rs).
    fn hidden_child(&self) -> Option<i32> {
        None
    }

    /// The `execve`, and what comes back when it fails.
    ///
    /// # Safety
    /// Only in `take_over`, after the cleanups.
    unsafe fn end(self, config: &Config, target: &Exec, deferred: Vec<Deferred>) -> Self::Back;
}

/// The tail, once for both takeovers. `archiver`'s paths are protected while
/// the cleanups run; then the job says what to `execve`.
///
/// # Safety
/// Past its first steps the host is changed for good: call only once
/// everything that can fail was checked (`kit`, and the job's preparation).
pub unsafe fn take_over<J: Job>(
    config: &Config,
    kit: Kit,
    archiver: Archiver<'_>,
    mut job: J,
) -> J::Back {
    let protected = defer::protected_for(archiver.operands, archiver.cwd);
    let library = companion::library_path().unwrap_or_default();
    // Whatever the cleanups spawn goes straight to the real calls.
    state::deactivate();
    if let Some(child) = job.hidden_child() {
        state::hide_child(child);
    }
    let mut deferred = kit.cleanups.run(protected, kit.room);
    state::unhide_child();
    report::deferred(config, &deferred);
    // After the cleanups' own deferrals: the temporaries they may hold.
    deferred.extend(kit.temps.hand_over(config));
    let reaper = Reaper {
        path: &kit.companion,
        library: &library,
    };
    let target = job.target(config, &reaper, &deferred);
    job.replay(&deferred);
    replay::disarm_timers();
    job.end(config, &target, deferred)
}

/// The reaper the process is handed to, and the preload it must not load.
pub struct Reaper<'a> {
    path: &'a [u8],
    library: &'a [u8],
}

impl Reaper<'_> {
    /// `arshim __reap …` doing `job`, with the environment `envp` minus our
    /// preload, the claim spent.
    fn exec(
        &self,
        config: &Config,
        job: &reaper::Job<'_>,
        deferred: &[Deferred],
        envp: Vec<CString>,
    ) -> Exec {
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        Exec {
            path: CString::new(self.path).unwrap_or_default(),
            argv: reaper::argv(
                self.path,
                job,
                config.trace.as_deref(),
                config.failure_status,
                config.failure_line,
                deferred,
            ),
            envp: reaper::env(envp, self.library, pid),
        }
    }
}

/// At spawn time: run the archiver, after the spawn's own steps. If the
/// `execve` fails, the process exits 127, as a child that failed to exec.
pub struct Run {
    exec: Exec,
    steps: replay::Prepared,
    /// "execve of PATH failed after the host's cleanups ran"
    failed: String,
    /// The state taken before the cleanups, put back before the steps.
    captured: Option<Captured>,
}

impl Run {
    pub fn new(exec: Exec, steps: replay::Prepared) -> Run {
        let failed = format!(
            "execve of {} failed after the host's cleanups ran",
            exec.path.to_string_lossy()
        );
        Run {
            exec,
            steps,
            failed,
            captured: None,
        }
    }

    /// The archiver starts from `captured`, whatever the cleanups changed
    /// (docs/DESIGN.md, "Conversion" 11).
    pub fn restoring(mut self, captured: Captured) -> Run {
        self.captured = Some(captured);
        self
    }
}

impl Job for Run {
    type Back = Infallible;

    fn target(&mut self, config: &Config, reaper: &Reaper<'_>, deferred: &[Deferred]) -> Exec {
        let exec = std::mem::take(&mut self.exec);
        // Straight to the archiver, unless someone must stay behind it: the
        // deferred deletions, or a host status to report if the archiver fails.
        if deferred.is_empty() && config.failure_status.is_none() {
            return exec;
        }
        let job = reaper::Job::Run {
            path: &exec.path,
            argv: &exec.argv,
        };
        reaper.exec(config, &job, deferred, exec.envp)
    }

    unsafe fn replay(&self, deferred: &[Deferred]) {
        let restored = match &self.captured {
            Some(captured) => captured.restore(deferred),
            None => Ok(()),
        };
        if let Err(e) = restored.and_then(|()| replay::run(&self.steps)) {
            warn_line(&format!("{}: {e}; exiting 127", self.failed));
            libc::_exit(127);
        }
    }

    unsafe fn end(self, config: &Config, target: &Exec, _: Vec<Deferred>) -> Infallible {
        release::execve_after_release(config.trace.as_deref(), target, &self.failed)
    }
}

/// At wait time: the reaper, which waits for `child` (the archiver). If the
/// `execve` fails, the host goes on.
pub struct Wait {
    child: i32,
    /// The host's environment, copied before its cleanups.
    envp: Vec<CString>,
    /// The working directory and fds 0–2 taken before the cleanups.
    captured: Option<Captured>,
}

impl Wait {
    pub fn new(child: i32) -> Wait {
        Wait {
            child,
            envp: environ_copy(),
            captured: None,
        }
    }

    /// The reaper starts from `captured` (its messages go where the host's
    /// would have), whatever the cleanups changed.
    pub fn restoring(mut self, captured: Captured) -> Wait {
        self.captured = Some(captured);
        self
    }
}

impl Job for Wait {
    type Back = Vec<Deferred>;

    fn hidden_child(&self) -> Option<i32> {
        Some(self.child)
    }

    fn target(&mut self, config: &Config, reaper: &Reaper<'_>, deferred: &[Deferred]) -> Exec {
        let job = reaper::Job::Wait { child: self.child };
        reaper.exec(config, &job, deferred, std::mem::take(&mut self.envp))
    }

    unsafe fn replay(&self, deferred: &[Deferred]) {
        // The archiver runs already: a failure here costs the reaper's
        // messages at most, never the handoff.
        if let Some(Err(e)) = self.captured.as_ref().map(|c| c.restore(deferred)) {
            warn_line(&format!("restoring the host's state for the reaper: {e}"));
        }
    }

    unsafe fn end(self, _: &Config, target: &Exec, deferred: Vec<Deferred>) -> Vec<Deferred> {
        let err = execve(target);
        // The host's cleanups ran, but it can still go on: its own wait follows,
        // then the deletions it asked for.
        warn_line(&format!(
            "execve of the reaper {} failed: {err}; the host goes on",
            target.path.to_string_lossy()
        ));
        deferred
    }
}
