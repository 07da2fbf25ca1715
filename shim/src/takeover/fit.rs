//! Will the kernel take the `execve` the tail ends in? Measured before the
//! cleanups (docs/DESIGN.md, "Conversion" 1): after them a refused `execve`
//! (E2BIG) can only end the host with 127. Every exec that can really
//! happen is measured as the tail will build it — the archiver's, with the
//! variable the shim adds; the reaper's, with its arguments, our variables
//! and room for the most deletions the cleanups can have deferred — against
//! the kernel's rules (`decide::arglimit`) and this process's stack limit.
//! Reads only; the room left for the deferrals goes into the `Kit`.

use crate::decide::arglimit::{deferral_reserve, left, room, ExecSize};
use crate::decide::config::Config;
use crate::facts::{fs, proc};
use crate::takeover::exec::{environ_copy, Exec};
use crate::takeover::reaper::Job;
use crate::takeover::tail::Kit;

/// The size of `exec` as the kernel counts it, a `#!` script's additions included.
fn size_of(exec: &Exec) -> ExecSize {
    let path = exec.path.as_bytes();
    let size = ExecSize::of(
        path,
        exec.argv.iter().map(|a| a.as_bytes()),
        exec.envp.iter().map(|e| e.as_bytes()),
    );
    match fs::shebang(path) {
        Some((interp, arg)) => {
            let argv0 = exec.argv.first().map(|a| a.as_bytes()).unwrap_or(b"");
            size.as_script(path, argv0, &interp, arg.as_deref())
        }
        None => size,
    }
}

/// The kernel's room for an `execve` of this process, and its page size.
fn limits() -> (u64, u64) {
    let page = proc::page_size();
    (room(proc::stack_limit(), page), page)
}

/// The reaper's `execve` leaves room for every deletion the cleanups may
/// defer for `protected`; that room is what the deferral session may use.
fn fit_reaper(kit: &mut Kit, reaper: &Exec, protected: &[Vec<u8>]) -> Result<(), &'static str> {
    let (room, page) = limits();
    let left = left(&size_of(reaper), room, page)?;
    // The host's temporaries first: each is needed, none may be left out
    // (docs/DESIGN.md, "Conversion" 12).
    let Some(left) = left.checked_sub(kit.temps_cost()) else {
        return Err("no room left in the reaper's arguments for the host's temporaries (E2BIG)");
    };
    if left < deferral_reserve(protected) {
        return Err("no room left in the reaper's arguments for deferred deletions (E2BIG)");
    }
    kit.set_room(left);
    Ok(())
}

/// Spawn time: the archiver's `execve` (made by this process, or by the
/// reaper's spawn with the same strings) with `headroom` bytes to spare,
/// and the reaper's.
pub fn spawn_time(
    config: &Config,
    kit: &mut Kit,
    exec: &Exec,
    protected: &[Vec<u8>],
    headroom: u64,
) -> Result<(), &'static str> {
    let (room, page) = limits();
    if left(&size_of(exec), room, page)? < headroom {
        return Err("no room left for what the shell adds to the archiver's environment (E2BIG)");
    }
    let job = Job::Run {
        path: &exec.path,
        argv: &exec.argv,
    };
    let reaper = kit.reaper_exec(config, &job, exec.envp.clone());
    fit_reaper(kit, &reaper, protected)
}

/// Wait time: the reaper's `execve`, waiting for `child`, with this
/// process's environment.
pub fn wait_time(
    config: &Config,
    kit: &mut Kit,
    child: i32,
    protected: &[Vec<u8>],
) -> Result<(), &'static str> {
    let reaper = kit.reaper_exec(config, &Job::Wait { child }, environ_copy());
    fit_reaper(kit, &reaper, protected)
}
