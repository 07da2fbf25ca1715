//! Releasing the host's memory on two CPUs before the conversion's execve.
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
//! The decisions (which mappings, how to split them) are plain functions,
//! unit-tested; the FFI is below them.

use crate::convert::Exec;
use crate::raw_line::Line;
use crate::trace::Event;
use libc::{c_char, c_void};
use std::sync::atomic::{AtomicU32, Ordering};

/// Below this many bytes to release, a helper thread is not worth starting.
pub const MIN_BYTES: usize = 64 << 20;

/// At most this many ranges per thread (the largest mappings first).
const CAPACITY: usize = 1024;

/// The helper's stack: glibc also puts its thread control block and static
/// TLS there. Untouched pages cost nothing.
const HELPER_STACK: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Range {
    pub start: usize,
    pub end: usize,
}

impl Range {
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    fn overlaps(&self, other: &Range) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// One line of `/proc/self/maps`: the range, if the mapping is private,
/// anonymous and writable (no file behind it, or the `[heap]`). Shared
/// mappings (a child may see them), file mappings and the kernel's special
/// ones (`[stack]`, `[vvar]`, …) are never released.
pub fn releasable(line: &str) -> Option<Range> {
    let mut fields = line.split_ascii_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let perms = fields.next()?;
    let _offset = fields.next()?;
    let _device = fields.next()?;
    let inode = fields.next()?;
    let name = fields.next();
    if perms != "rw-p" || inode != "0" || !matches!(name, None | Some("[heap]")) {
        return None;
    }
    let range = Range {
        start: usize::from_str_radix(start, 16).ok()?,
        end: usize::from_str_radix(end, 16).ok()?,
    };
    (range.start < range.end).then_some(range)
}

/// `range` without the parts `keep` covers (widened to whole pages): the
/// kernel merges neighbouring anonymous mappings, so what must stay may
/// share one mapping with what may go.
pub fn subtract(range: Range, keep: &[Range], page: usize) -> Vec<Range> {
    let mut pieces = vec![range];
    for k in keep {
        let k = Range {
            start: k.start / page * page,
            end: k.end.div_ceil(page) * page,
        };
        pieces = pieces
            .into_iter()
            .flat_map(|p| {
                if !p.overlaps(&k) {
                    return vec![p];
                }
                let mut left = Vec::new();
                if p.start < k.start {
                    left.push(Range {
                        start: p.start,
                        end: k.start,
                    });
                }
                if k.end < p.end {
                    left.push(Range {
                        start: k.end,
                        end: p.end,
                    });
                }
                left
            })
            .collect();
    }
    pieces
}

/// The ranges to release: the releasable mappings without `keep`, the
/// largest first, at most `2 * CAPACITY` of them.
pub fn plan(maps: &str, keep: &[Range], page: usize) -> Vec<Range> {
    let mut out: Vec<Range> = maps
        .lines()
        .filter_map(releasable)
        .flat_map(|r| subtract(r, keep, page))
        .collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.len()));
    out.truncate(2 * CAPACITY);
    out
}

/// Two shares of (nearly) equal bytes, cut on page boundaries: a single
/// huge mapping is split in the middle.
pub fn split(ranges: &[Range], page: usize) -> [Vec<Range>; 2] {
    let total: usize = ranges.iter().map(Range::len).sum();
    let half = total / 2 / page * page;
    let (mut first, mut second) = (Vec::new(), Vec::new());
    let mut taken = 0;
    for r in ranges {
        if taken >= half {
            second.push(*r);
        } else if taken + r.len() <= half {
            first.push(*r);
            taken += r.len();
        } else {
            let cut = r.start + (half - taken);
            first.push(Range {
                start: r.start,
                end: cut,
            });
            second.push(Range {
                start: cut,
                end: r.end,
            });
            taken = half;
        }
    }
    [first, second]
}

/// Why the memory is left to the execve alone, if it is.
pub fn refusal(threads: usize, cpus: usize, bytes: usize) -> Option<String> {
    if threads != 1 {
        Some(format!(
            "{threads} threads: another one could still read the memory"
        ))
    } else if cpus < 2 {
        Some("one CPU: nothing to gain".into())
    } else if bytes < MIN_BYTES {
        Some(format!("{} MiB: not worth a thread", bytes >> 20))
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// The arena and the last steps: raw pointers and system calls only.

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

fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn cpus() -> usize {
    // SAFETY: sched_getaffinity fills the set we own.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return 1;
        }
        libc::CPU_COUNT(&set) as usize
    }
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
    let (threads, cpus) = (threads(), cpus());
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let planned = plan(&maps, &this_thread(), page);
    drop(maps);
    let bytes: usize = planned.iter().map(Range::len).sum();
    let refused = refusal(threads, cpus, bytes);
    if let Some(reason) = refused {
        Event::new("release")
            .bool("parallel", false)
            .str("reason", reason)
            .emit(trace);
        plain(exec, message)
    }
    let full_message = format!("arshim[{}]: {message}: errno ", libc::getpid());
    let Some((arena, shared, stack)) = furnish(exec, full_message.as_bytes()) else {
        plain(exec, message)
    };
    default_handlers();
    if !start_helper(stack, shared) {
        Event::new("release")
            .bool("parallel", false)
            .str("reason", "no helper thread")
            .emit(trace);
        plain(exec, message)
    }
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
    Event::new("release")
        .bool("parallel", true)
        .int(
            "mib",
            (ranges.iter().map(Range::len).sum::<usize>() >> 20) as i64,
        )
        .int("ranges", ranges.len() as i64)
        .emit(trace);
    drop(ranges);

    // From here: the arena, the stack and raw system calls only.
    let shared = &*shared;
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
    let err = crate::convert::execve(exec);
    crate::logging::warn_line(&format!("{message}: {err}; exiting 127"));
    libc::_exit(127);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d1c0a00000-55d1c0a02000 r--p 00000000 08:01 1234  /usr/bin/ld-legacy
55d1c0a02000-55d1c0a03000 rw-p 00002000 08:01 1234  /usr/bin/ld-legacy
55d1c1000000-55d1c5000000 rw-p 00000000 00:00 0     [heap]
7f0000000000-7f0040000000 rw-p 00000000 00:00 0
7f0040000000-7f0040001000 ---p 00000000 00:00 0
7f0050000000-7f0050100000 rw-s 00000000 00:01 77    /dev/zero (deleted)
7f0060000000-7f0060021000 rw-p 00000000 00:00 0
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0     [stack]
7ffd00100000-7ffd00102000 r--p 00000000 00:00 0     [vvar]
";

    fn r(start: usize, end: usize) -> Range {
        Range { start, end }
    }

    #[test]
    fn only_private_anonymous_writable_mappings() {
        let got: Vec<Range> = MAPS.lines().filter_map(releasable).collect();
        assert_eq!(
            got,
            vec![
                r(0x55d1c1000000, 0x55d1c5000000),
                r(0x7f0000000000, 0x7f0040000000),
                r(0x7f0060000000, 0x7f0060021000),
            ]
        );
        assert_eq!(releasable("garbage"), None);
        assert_eq!(releasable("2000-1000 rw-p 0 00:00 0"), None);
    }

    #[test]
    fn kept_pages_are_cut_out_and_the_largest_come_first() {
        let keep = [
            r(0x7f0060000010, 0x7f0060000020),
            r(0x7f0000001000, 0x7f0000001001),
        ];
        assert_eq!(
            plan(MAPS, &keep, 4096),
            vec![
                r(0x7f0000002000, 0x7f0040000000),
                r(0x55d1c1000000, 0x55d1c5000000),
                r(0x7f0060001000, 0x7f0060021000),
                r(0x7f0000000000, 0x7f0000001000),
            ]
        );
    }

    #[test]
    fn subtracting_keeps_what_is_outside() {
        let big = r(0x10000, 0x20000);
        assert_eq!(subtract(big, &[], 4096), vec![big]);
        assert_eq!(
            subtract(big, &[r(0, 0x10000)], 4096),
            vec![big],
            "touching is not overlapping"
        );
        assert_eq!(subtract(big, &[r(0x8000, 0x30000)], 4096), vec![]);
        assert_eq!(
            subtract(big, &[r(0x12001, 0x12002), r(0x1f000, 0x1f001)], 4096),
            vec![r(0x10000, 0x12000), r(0x13000, 0x1f000)]
        );
    }

    #[test]
    fn shares_are_halves_cut_on_pages() {
        let one = [r(0x10000, 0x10000 + 10 * 4096)];
        let [a, b] = split(&one, 4096);
        assert_eq!(a, vec![r(0x10000, 0x10000 + 5 * 4096)]);
        assert_eq!(b, vec![r(0x10000 + 5 * 4096, 0x10000 + 10 * 4096)]);
        let many = [
            r(0, 8 * 4096),
            r(0x100000, 0x100000 + 4 * 4096),
            r(0x200000, 0x200000 + 4 * 4096),
        ];
        let [a, b] = split(&many, 4096);
        assert_eq!(a, vec![r(0, 8 * 4096)]);
        assert_eq!(b, vec![many[1], many[2]]);
        let total = |v: &[Range]| v.iter().map(Range::len).sum::<usize>();
        let odd = [r(0, 3 * 4096)];
        let [a, b] = split(&odd, 4096);
        assert_eq!((total(&a), total(&b)), (4096, 2 * 4096));
        assert_eq!(split(&[], 4096), [vec![], vec![]]);
    }

    #[test]
    fn refused_unless_single_threaded_multi_cpu_and_big() {
        assert_eq!(refusal(1, 2, MIN_BYTES), None);
        assert!(refusal(2, 8, 1 << 40).unwrap().contains("2 threads"));
        assert!(refusal(1, 1, 1 << 40).unwrap().contains("one CPU"));
        assert!(refusal(1, 2, MIN_BYTES - 1).unwrap().contains("not worth"));
    }
}
