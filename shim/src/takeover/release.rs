//! Releasing the host's memory on two CPUs before the conversion's execve:
//! irreversible, raw system calls only once it starts.
//!
//! The execve of a spawn-time conversion frees the host's whole address
//! space on one CPU before the archiver can start (about 70 ms per GiB here),
//! a cost the host would otherwise have paid at its exit. When nothing can
//! read that memory any more — the cleanups ran, the host has no other
//! thread, and every caught signal is back to its default action (as the
//! execve is about to make it) — its private anonymous mappings are
//! discarded with `MADV_DONTNEED` by this thread and one helper thread, each
//! taking half of the bytes. The execve then has little left to free.
//!
//! Everything read after the release starts (execve's arguments, the two
//! work lists, the helper's flags and stack, the failure message) lives in
//! one mapping of our own, the arena, which the release leaves alone, as it
//! leaves the mappings holding this thread's stack and thread control block.
//! From then on only raw system calls are made: no heap, no lock, no errno
//! of anything but our own.
//!
//! The decisions (which mappings, how to split them) are in `decide::memory`;
//! the facts (threads, CPUs, maps) in `facts::proc`.

use crate::decide::memory::{plan, refusal, split, subtract, Range, CAPACITY};
use crate::facts::proc::{cpus, memory_maps, threads};
use crate::raw_line::Line;
use crate::record::trace::Event;
use crate::takeover::exec::{execve, Exec};
use libc::{c_char, c_void};
use std::sync::atomic::{AtomicU32, Ordering};

/// The helper's stack: glibc also puts its thread control block and static
/// TLS there. Untouched pages cost nothing.
const HELPER_STACK: usize = 1 << 20;

/// What both threads read once the release has started.
#[repr(C)]
struct Shared {
    /// Set when the helper's work list is written: it may start.
    go: AtomicU32,
    /// Set by the helper when its share is released.
    done: AtomicU32,
    shares: [[Range; CAPACITY]; 2],
    counts: [usize; 2],
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    message: *const u8,
    message_len: usize,
}

/// One anonymous mapping, filled front to back. Never unmapped: every path
/// after it is made ends in an execve or an exit.
struct Arena {
    base: *mut u8,
    len: usize,
    used: usize,
}

impl Arena {
    fn map(len: usize) -> Option<Arena> {
        // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        (base != libc::MAP_FAILED).then(|| Arena {
            base: base.cast(),
            len,
            used: 0,
        })
    }

    fn range(&self) -> Range {
        Range {
            start: self.base as usize,
            end: self.base as usize + self.len,
        }
    }

    /// Room for `count` values of `T` (zeroed: the mapping is fresh), or
    /// None if the arena is full.
    fn alloc<T>(&mut self, count: usize) -> Option<*mut T> {
        let align = std::mem::align_of::<T>().max(16);
        let start = self.used.checked_add(align - 1)? / align * align;
        let end = start.checked_add(std::mem::size_of::<T>().checked_mul(count)?)?;
        if end > self.len {
            return None;
        }
        self.used = end;
        // SAFETY: in bounds of our mapping (checked above).
        Some(unsafe { self.base.add(start).cast() })
    }

    fn c_string(&mut self, bytes: &[u8]) -> Option<*const c_char> {
        let p = self.alloc::<u8>(bytes.len() + 1)?;
        // SAFETY: `p` has room for the bytes and the NUL (zeroed already).
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
        Some(p.cast())
    }

    fn vector(&mut self, items: &[std::ffi::CString]) -> Option<*const *const c_char> {
        let v = self.alloc::<*const c_char>(items.len() + 1)?;
        for (i, item) in items.iter().enumerate() {
            let s = self.c_string(item.as_bytes())?;
            // SAFETY: `v` has items.len() + 1 slots; the last stays NULL.
            unsafe { *v.add(i) = s };
        }
        Some(v)
    }
}

/// The arena with `Shared` filled in but the work lists, and the helper's stack.
unsafe fn furnish(exec: &Exec, message: &[u8]) -> Option<(Arena, *mut Shared, *mut u8)> {
    let mut arena = Arena::map(needed(exec, message))?;
    let shared = arena.alloc::<Shared>(1)?;
    (*shared).path = arena.c_string(exec.path.as_bytes())?;
    (*shared).argv = arena.vector(&exec.argv)?;
    (*shared).envp = arena.vector(&exec.envp)?;
    (*shared).message = arena.c_string(message)?.cast();
    (*shared).message_len = message.len();
    let stack = arena.alloc::<u8>(HELPER_STACK)?;
    Some((arena, shared, stack))
}

/// Bytes the arena needs, generously rounded.
fn needed(exec: &Exec, message: &[u8]) -> usize {
    let strings: usize = exec
        .argv
        .iter()
        .chain(&exec.envp)
        .map(|s| s.as_bytes().len() + 17)
        .sum();
    let vectors = (exec.argv.len() + exec.envp.len() + 2) * 8;
    let fixed = std::mem::size_of::<Shared>() + exec.path.as_bytes().len() + message.len() + 4096;
    let page = 4096;
    (HELPER_STACK + strings + vectors + fixed + 16 * 64 + page) / page * page + page
}

/// Every caught signal back to its default action, as the execve is about
/// to set it (ignored signals stay ignored, as they do across execve): a
/// handler of the host must not run on released memory.
unsafe fn default_handlers() {
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
            continue; // glibc's internal signals
        }
        if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, std::ptr::null_mut());
        }
    }
}

unsafe fn futex_wait(word: &AtomicU32, value: u32) {
    libc::syscall(
        libc::SYS_futex,
        word.as_ptr(),
        libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
        value,
        std::ptr::null::<libc::timespec>(),
    );
}

unsafe fn futex_wake(word: &AtomicU32) {
    libc::syscall(
        libc::SYS_futex,
        word.as_ptr(),
        libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
        i32::MAX,
    );
}

unsafe fn release_share(shared: &Shared, which: usize) {
    for r in &shared.shares[which][..shared.counts[which]] {
        // An error (a locked page, a vanished mapping) leaves that range to
        // the execve: nothing is lost but time.
        libc::syscall(libc::SYS_madvise, r.start, r.len(), libc::MADV_DONTNEED);
    }
}

/// The helper thread: waits for its list, releases it, says so, then waits
/// to be ended by the execve (all signals blocked; it never returns into
/// glibc's thread exit, which would touch released memory).
extern "C" fn helper(arg: *mut c_void) -> *mut c_void {
    // SAFETY: `arg` is the arena's `Shared`, which outlives this thread
    // (the execve or exit_group ends both).
    unsafe {
        let shared = arg as *const Shared;
        let go = &(*shared).go;
        while go.load(Ordering::Acquire) == 0 {
            futex_wait(go, 0);
        }
        // Written before `go` was set (Release), read after (Acquire).
        let shared = &*shared;
        release_share(shared, 1);
        shared.done.store(1, Ordering::Release);
        futex_wake(&shared.done);
        let forever = AtomicU32::new(0);
        loop {
            futex_wait(&forever, 0);
        }
    }
}

/// Starts the helper on a stack inside the arena, with every signal blocked.
unsafe fn start_helper(stack: *mut u8, shared: *mut Shared) -> bool {
    let mut attr: libc::pthread_attr_t = std::mem::zeroed();
    if libc::pthread_attr_init(&mut attr) != 0 {
        return false;
    }
    let mut all: libc::sigset_t = std::mem::zeroed();
    let mut old: libc::sigset_t = std::mem::zeroed();
    libc::sigfillset(&mut all);
    let mut thread: libc::pthread_t = 0;
    let ok = libc::pthread_attr_setstack(&mut attr, stack.cast(), HELPER_STACK) == 0
        && libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old) == 0
        && {
            let created = libc::pthread_create(&mut thread, &attr, helper, shared.cast()) == 0;
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            created
        };
    libc::pthread_attr_destroy(&mut attr);
    ok
}

/// Around this thread's stack pointer and its control block (glibc puts
/// the static TLS, errno included, just below it): what everything that
/// follows reads and writes. Generous windows; the stack is usually the
/// kernel's `[stack]`, never released anyway.
fn this_thread() -> [Range; 2] {
    let here = 0u8;
    let sp = &here as *const u8 as usize;
    // SAFETY: pthread_self has no preconditions; its value is the address
    // of this thread's control block in glibc.
    let tcb = unsafe { libc::pthread_self() } as usize;
    const WINDOW: usize = 1 << 20;
    [
        Range {
            start: sp.saturating_sub(WINDOW),
            end: sp.saturating_add(WINDOW),
        },
        Range {
            start: tcb.saturating_sub(WINDOW),
            end: tcb.saturating_add(WINDOW / 4),
        },
    ]
}

/// The end of a spawn-time conversion: release the memory on two CPUs if
/// that is safe and worth it, then execve `exec`. Never returns: if the
/// execve fails, `message` and the error go to stderr and the process exits
/// 127, as a child that failed to exec would.
///
/// # Safety
/// The host's cleanups have run and nothing of the host may run again.
pub unsafe fn execve_after_release(trace: Option<&[u8]>, exec: &Exec, message: &str) -> ! {
    let page = usize::try_from(libc::sysconf(libc::_SC_PAGESIZE)).unwrap_or(4096);
    let planned = match survey(&this_thread(), page) {
        Ok(planned) => planned,
        Err(reason) => {
            not_parallel(trace, &reason);
            plain(exec, message)
        }
    };
    let full_message = format!("arshim[{}]: {message}: errno ", libc::getpid());
    let Some((arena, shared, stack)) = furnish(exec, full_message.as_bytes()) else {
        plain(exec, message)
    };
    default_handlers();
    if !start_helper(stack, shared) {
        not_parallel(trace, "no helper thread");
        plain(exec, message)
    }
    let ranges = hand_out(shared, planned, &arena, page);
    Event::new("release")
        .bool("parallel", true)
        .int(
            "mib",
            (ranges.iter().map(Range::len).sum::<usize>() >> 20) as i64,
        )
        .int("ranges", ranges.len() as i64)
        .emit(trace);
    drop(ranges);
    release_and_execve(&*shared)
}

/// The ranges to release, keeping `keep`; or why the memory is left to the
/// execve alone.
fn survey(keep: &[Range], page: usize) -> Result<Vec<Range>, String> {
    let (threads, cpus) = (threads(), cpus());
    let maps = memory_maps();
    let planned = plan(&maps, keep, page);
    drop(maps);
    let bytes: usize = planned.iter().map(Range::len).sum();
    match refusal(threads, cpus, bytes) {
        Some(reason) => Err(reason),
        None => Ok(planned),
    }
}

fn not_parallel(trace: Option<&[u8]>, reason: &str) {
    Event::new("release")
        .bool("parallel", false)
        .str("reason", reason)
        .emit(trace);
}

/// Writes the two shares of `planned` into the arena, for the helper and for
/// this thread; returns the ranges, for the trace.
///
/// # Safety
/// `shared` is the arena's, and the helper has not been told to go.
unsafe fn hand_out(
    shared: *mut Shared,
    planned: Vec<Range>,
    arena: &Arena,
    page: usize,
) -> Vec<Range> {
    // The arena (the helper's stack included) was mapped after the look at
    // the maps: it can only lie in a planned range if that was unmapped
    // since, and then it must stay out of it.
    let ranges: Vec<Range> = planned
        .into_iter()
        .flat_map(|r| subtract(r, &[arena.range()], page))
        .collect();
    let [first, second] = split(&ranges, page);
    // Written through raw pointers: the helper holds a reference to `go`
    // only until it sees it set.
    for (which, share) in [first, second].iter().enumerate() {
        let n = share.len().min(CAPACITY);
        let list = std::ptr::addr_of_mut!((*shared).shares[which]).cast::<Range>();
        std::ptr::copy_nonoverlapping(share.as_ptr(), list, n);
        std::ptr::addr_of_mut!((*shared).counts[which]).write(n);
    }
    ranges
}

/// The release on both threads, then the execve. From here: the arena, the
/// stack and raw system calls only.
unsafe fn release_and_execve(shared: &Shared) -> ! {
    shared.go.store(1, Ordering::Release);
    futex_wake(&shared.go);
    release_share(shared, 0);
    while shared.done.load(Ordering::Acquire) == 0 {
        futex_wait(&shared.done, 0);
    }
    libc::syscall(libc::SYS_execve, shared.path, shared.argv, shared.envp);
    fail_raw(shared, *libc::__errno_location())
}

/// The execve failed after the release: one line built from the arena and
/// the stack (`arshim[PID]: MESSAGE: errno N; exiting 127`), then exit 127.
unsafe fn fail_raw(shared: &Shared, errno: i32) -> ! {
    let mut tail = Line::new();
    tail.push_number(errno.unsigned_abs());
    tail.push(b"; exiting 127\n");
    libc::syscall(libc::SYS_write, 2, shared.message, shared.message_len);
    tail.write_to_stderr();
    libc::syscall(libc::SYS_exit_group, 127);
    libc::_exit(127)
}

/// The execve alone (the memory left to it).
unsafe fn plain(exec: &Exec, message: &str) -> ! {
    let err = execve(exec);
    crate::record::logging::warn_line(&format!("{message}: {err}; exiting 127"));
    libc::_exit(127);
}
