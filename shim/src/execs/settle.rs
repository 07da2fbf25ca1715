//! The parent's side of the exec record, at a wait for child `pid`: what
//! the child exec'd, once that is settled. A blocking wait on a child that
//! has not exec'd yet blocks here, without time limit, until the child
//! execs or ends — what the host asked for anyway (docs/DESIGN.md,
//! "Conversion" 2). Nothing polls: the parent sleeps on a futex that the
//! child (its exec hook), the kernel (the child's exec or death, through
//! the robust list) or a watcher thread (the child's death before any
//! record) changes and wakes.

use super::futex::{self, Woken, OWNER_DIED, TID_MASK, WAITERS};
use super::table::{self, state, Header, Slot, CALLS};
use crate::decide::output::Outputs;
use std::sync::atomic::Ordering;

/// Where a record came from: the child's exec hook, or the parent's
/// `posix_spawn` hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Exec,
    Spawn,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Exec => "exec",
            Source::Spawn => "spawn",
        }
    }
}

/// One child's exec, read from its slot.
#[derive(Debug, Clone)]
pub struct Record {
    pub source: Source,
    /// The exec function called.
    pub call: &'static str,
    /// The program as given (a path, or a name searched on PATH).
    pub program: Vec<u8>,
    /// The child's working directory at its exec; empty if unknown.
    pub cwd: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    /// The arguments did not all fit: `argv` is a prefix.
    pub truncated: bool,
    /// Its stdout and stderr at its exec; `None` where the record does not
    /// say (a `posix_spawn`'s record, written by the parent).
    pub outputs: Outputs,
    /// When the child wrote its record, right before its exec (coarse
    /// real-time clock); `None` for a `posix_spawn`'s record.
    pub exec_time: Option<(i64, u32)>,
    /// The file the child, a compiler driver, assembler or linker, was told
    /// with `-o` to write (relative to `cwd` unless absolute), when it found
    /// it missing right after `exec_time`.
    pub missing_output: Option<Vec<u8>>,
}

/// What the record says once settled.
#[derive(Debug)]
pub enum Settled {
    /// The child exec'd `Record` (or was spawned running it); `exited`: it
    /// has already ended (a zombie).
    Execed { record: Record, exited: bool },
    /// The child is in its exec call right now and the wait may not block.
    Execing,
    /// Its exec failed; it runs on as the host's image.
    ExecFailed,
    /// It ended without a recorded exec.
    Exited,
    /// No record, and none to wait for: an exec by a raw system call (the
    /// child runs another image already), no table, or a wait that may not
    /// block. `/proc` decides.
    Unrecorded,
    /// A signal handler interrupted the wait and is not restarted: what the
    /// host's wait call answers with EINTR.
    Interrupted,
}

/// How often the watcher looks at `/proc` for an exec no record announces
/// (a raw `execve` system call) while the parent waits for a first record;
/// a recorded exec wakes the parent at once (docs/DESIGN.md, "Conversion" 2).
/// The parent itself sleeps without a time limit: a timed futex wait returns
/// EINTR after any signal handler, which the host's wait would not do after
/// one installed with SA_RESTART.
const UNRECORDED_LOOK_MS: i32 = 250;

/// Settles what child `pid` exec'd. `start`: the child's start time, which
/// a record must carry to be its (None: /proc cannot tell, any record of
/// the pid is its). `may_block`: the host's wait blocks until the child ends
/// and only its end can end it. `host_image()`: `/proc` shows the child
/// still running this program (not exec'd yet).
pub fn settle(
    pid: i32,
    start: Option<u64>,
    may_block: bool,
    host_image: impl Fn() -> bool + Clone + Send + 'static,
) -> Settled {
    let Some(header) = table::header() else {
        return Settled::Unrecorded;
    };
    let mut watching = false;
    loop {
        let generation = header.generation.load(Ordering::Acquire);
        if let Some(slot) = table::find(pid, start) {
            if let Some(settled) = look(header, slot, pid, may_block) {
                return settled;
            }
            continue;
        }
        if ended(pid) {
            return Settled::Exited;
        }
        // A slot being written means an exec hook is under way: wait for it.
        if !may_block || (!table::claimed_by(pid) && !host_image()) {
            return Settled::Unrecorded;
        }
        if !watching {
            if !watch(pid, host_image.clone()) {
                return Settled::Unrecorded;
            }
            watching = true;
            continue; // the child may have ended before the watcher started
        }
        let woken = futex::wait(&header.generation, generation, None);
        if woken == Woken::Interrupted {
            return Settled::Interrupted;
        }
    }
}

/// The exec record of child `pid`, which a wait has just reaped: what it
/// exec'd, read without waiting (the kernel marked the word at its exec or
/// its death); None when it has no record or its exec failed.
pub fn reaped(pid: i32) -> Option<Record> {
    let header = table::header()?;
    let slot = table::find(pid, None)?;
    let source = match slot.state.load(Ordering::Acquire) {
        state::SPAWNED => Source::Spawn,
        state::EXECING if slot.word.load(Ordering::Acquire) & OWNER_DIED != 0 => Source::Exec,
        _ => return None,
    };
    Some(read(table::index_of(header, slot), slot, source))
}

/// One look at a readable slot; `None`: look again.
fn look(header: &Header, slot: &Slot, pid: i32, may_block: bool) -> Option<Settled> {
    match slot.state.load(Ordering::Acquire) {
        state::SPAWNED => Some(execed(header, slot, pid, Source::Spawn)),
        state::FAILED => Some(Settled::ExecFailed),
        state::EXECING => {
            let word = slot.word.load(Ordering::Acquire);
            if word & OWNER_DIED != 0 {
                return Some(execed(header, slot, pid, Source::Exec));
            }
            if word & TID_MASK == 0 {
                return None; // disarmed: the state says FAILED next
            }
            if !may_block {
                return Some(Settled::Execing);
            }
            // The kernel wakes a waiter only if FUTEX_WAITERS is set.
            let waiting = word | WAITERS;
            if word & WAITERS == 0
                && slot
                    .word
                    .compare_exchange(word, waiting, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                return None;
            }
            match futex::wait(&slot.word, waiting, None) {
                Woken::Interrupted => Some(Settled::Interrupted),
                Woken::Look => None,
            }
        }
        _ => None,
    }
}

fn execed(header: &Header, slot: &Slot, pid: i32, source: Source) -> Settled {
    Settled::Execed {
        record: read(table::index_of(header, slot), slot, source),
        exited: ended(pid),
    }
}

/// The record in `slot`, copied out.
fn read(i: usize, slot: &Slot, source: Source) -> Record {
    let program_len = slot.program_len.load(Ordering::Acquire) as usize;
    let cwd_len = slot.cwd_len.load(Ordering::Acquire) as usize;
    let args_len = slot.args_len.load(Ordering::Acquire) as usize;
    let missing_len = slot.missing_output_len.load(Ordering::Acquire) as usize;
    let total = (program_len + cwd_len + args_len + missing_len).min(table::DATA);
    // SAFETY: the slot's data area holds `total` bytes written by its owner
    // before it published the state we read with Acquire.
    let bytes = unsafe { std::slice::from_raw_parts(table::data(i), total) };
    let mut strings = bytes.split(|&b| b == 0).map(<[u8]>::to_vec);
    let program = strings.next().unwrap_or_default();
    let cwd = strings.next().unwrap_or_default();
    let argc = slot.argc.load(Ordering::Acquire) as usize;
    Record {
        source,
        call: CALLS
            .get(slot.call.load(Ordering::Acquire) as usize)
            .copied()
            .unwrap_or("exec"),
        program,
        cwd,
        argv: strings.by_ref().take(argc).collect(),
        truncated: slot.truncated.load(Ordering::Acquire) != 0,
        outputs: [slot.outputs[0].load(), slot.outputs[1].load()],
        exec_time: match slot.exec_sec.load(Ordering::Acquire) {
            i64::MIN => None,
            sec => Some((sec, slot.exec_nsec.load(Ordering::Acquire))),
        },
        missing_output: (missing_len > 0).then(|| strings.next()).flatten(),
    }
}

/// Child `pid` has ended (it is a zombie, or gone).
fn ended(pid: i32) -> bool {
    // SAFETY: waitid with WNOHANG|WNOWAIT only looks: it neither blocks nor
    // reaps; the siginfo is ours.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        rc == -1 || info.si_pid() != 0
    }
}

/// Starts a thread that waits (without reaping) for child `pid` to end, or
/// to leave this program by an exec no record announces, and then wakes
/// the parent: the events no exec record can announce. All signals are
/// blocked in it, so the host's handlers keep running in the host's own
/// threads. It ends with the child or its exec; an exec of this process
/// (the handoff) ends it too. False if no thread could be started.
fn watch(pid: i32, host_image: impl Fn() -> bool + Send + 'static) -> bool {
    // SAFETY: sigfillset/pthread_sigmask on sets we own; the new thread
    // inherits the full mask and the caller's is restored right after.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        if libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old) != 0 {
            return false;
        }
        let started = std::thread::Builder::new()
            .name("arshim-watch".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                watch_child(pid, host_image);
                if let Some(header) = table::header() {
                    table::bump(header);
                }
            })
            .is_ok();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        started
    }
}

/// Returns once child `pid` has ended or no longer runs this program.
fn watch_child(pid: i32, host_image: impl Fn() -> bool) {
    // SAFETY: pidfd_open on our own child; the fd is closed below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        return wait_for_end(pid); // before Linux 5.3: its end only
    }
    loop {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd of ours; a pidfd is readable once the child ended.
        let rc = unsafe { libc::poll(&mut p, 1, UNRECORDED_LOOK_MS) };
        let interrupted =
            rc < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR);
        if rc > 0 || (rc < 0 && !interrupted) || (rc == 0 && !host_image()) {
            break;
        }
    }
    // SAFETY: closing the pidfd opened above.
    unsafe { libc::close(fd) };
}

fn wait_for_end(pid: i32) {
    // SAFETY: a blocking waitid with WNOWAIT: the host's own wait still
    // reaps the child; the siginfo is ours.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        while libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        ) == -1
            && *libc::__errno_location() == libc::EINTR
        {}
    }
}
