//! The exec record's memory: one `MAP_SHARED | MAP_ANONYMOUS` mapping made
//! by the process in scope at load, before it can fork. Fork children
//! inherit it shared, vfork children share the whole address space, so what
//! a child writes here the parent reads, even after the child is gone.
//!
//! Layout: a header page ([`Header`]: a generation counter and the slots'
//! fixed fields), then one data area of [`DATA`] bytes per slot holding the
//! exec's strings. Written by children between fork and exec: only atomics
//! and plain copies into memory that exists already — no heap, no lock.

use crate::decide::output::{Kind, Stream};
use libc::c_char;
use std::cell::UnsafeCell;
use std::ffi::CStr;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, Ordering};

/// How many children can have a record at once (a linker has one or two).
pub const SLOTS: usize = 32;
/// Bytes for one exec's program, working directory and arguments; longer
/// argument lists are cut and marked so (the parent then asks `/proc`).
pub const DATA: usize = 256 * 1024;
const HEADER: usize = 16 * 1024;

/// What a slot holds, in [`Slot::state`].
pub mod state {
    /// Nobody's.
    pub const FREE: u32 = 0;
    /// A child is writing its record: not readable yet.
    pub const WRITING: u32 = 1;
    /// The child is about to exec, armed: its [`super::Slot::word`] holds its
    /// tid until the kernel marks it at the exec (or the child's death).
    pub const EXECING: u32 = 2;
    /// The child's exec returned: it failed, the child runs on.
    pub const FAILED: u32 = 3;
    /// Written by the parent itself after a `posix_spawn` that returned: the
    /// exec has happened (the C library's spawn waits for it).
    pub const SPAWNED: u32 = 4;
}

/// The kernel's `struct robust_list_head` (linux/futex.h): what
/// `set_robust_list` registers for a thread, walked by the kernel when the
/// thread execs or exits.
#[repr(C)]
pub struct RobustHead {
    pub list: *mut RobustEntry,
    pub futex_offset: isize,
    pub pending: *mut RobustEntry,
}

/// The kernel's `struct robust_list`: one entry, its futex word at
/// `entry + futex_offset`.
#[repr(C)]
pub struct RobustEntry {
    pub next: *mut RobustHead,
}

/// What one of the child's fds was at its exec (`decide::output`): its
/// [`fd_state`], and for an open fd the file's `st_dev`, `st_ino` and kind.
#[repr(C)]
pub struct FdNote {
    pub state: AtomicU32,
    /// 0 other, 1 pipe, 2 socket.
    pub kind: AtomicU32,
    pub dev: AtomicU64,
    pub ino: AtomicU64,
}

impl FdNote {
    /// Heap-free: written by the child between fork and exec.
    pub fn store(&self, stream: Option<Stream>) {
        let state = match stream {
            None => fd_state::UNKNOWN,
            Some(Stream::Closed) => fd_state::CLOSED,
            Some(Stream::Open { dev, ino, kind }) => {
                let kind = match kind {
                    Kind::Other => 0,
                    Kind::Pipe => 1,
                    Kind::Socket => 2,
                };
                self.kind.store(kind, Ordering::Relaxed);
                self.dev.store(dev, Ordering::Relaxed);
                self.ino.store(ino, Ordering::Relaxed);
                fd_state::OPEN
            }
        };
        self.state.store(state, Ordering::Release);
    }

    pub fn load(&self) -> Option<Stream> {
        match self.state.load(Ordering::Acquire) {
            fd_state::CLOSED => Some(Stream::Closed),
            fd_state::OPEN => Some(Stream::Open {
                dev: self.dev.load(Ordering::Relaxed),
                ino: self.ino.load(Ordering::Relaxed),
                kind: match self.kind.load(Ordering::Relaxed) {
                    1 => Kind::Pipe,
                    2 => Kind::Socket,
                    _ => Kind::Other,
                },
            }),
            _ => None,
        }
    }
}

/// What an [`FdNote`] holds.
pub mod fd_state {
    /// Not told (a record the parent wrote for a `posix_spawn`, or an
    /// `fstat` that failed): the parent asks `/proc`.
    pub const UNKNOWN: u32 = 0;
    /// Not open after the exec.
    pub const CLOSED: u32 = 1;
    pub const OPEN: u32 = 2;
}

/// One child's exec, as it told it.
#[repr(C)]
pub struct Slot {
    /// The child's pid; 0 when free.
    pub pid: AtomicI32,
    /// The child's start time (field 22 of /proc/PID/stat; 0 if unknown):
    /// with the pid, it names the child for its whole life, so a record
    /// left by a child reaped behind our back is never taken for a new
    /// child that got the same pid.
    pub start: AtomicU64,
    pub state: AtomicU32,
    /// The futex word: the child's tid while armed; the kernel replaces it
    /// with `FUTEX_OWNER_DIED` (keeping `FUTEX_WAITERS`) at its exec or
    /// death and wakes a waiter; 0 once a failed exec disarmed it.
    pub word: AtomicU32,
    /// Which exec function was called (an index into `CALLS`).
    pub call: AtomicU32,
    pub program_len: AtomicU32,
    pub cwd_len: AtomicU32,
    pub argc: AtomicU32,
    pub args_len: AtomicU32,
    /// 1 when the arguments did not fit in [`DATA`].
    pub truncated: AtomicU32,
    /// When the child wrote its record, just before its exec, by the
    /// coarse real-time clock (`facts::temps::coarse_now`): what it is told
    /// to write and is born after this is the host's (docs/DESIGN.md,
    /// "Conversion" 12). `i64::MIN` when not told (a `posix_spawn`'s record).
    pub exec_sec: AtomicI64,
    pub exec_nsec: AtomicU32,
    /// When the child is a compiler driver, assembler or linker whose `-o`
    /// file was missing right after `exec_sec` (`execs::missing_output`):
    /// the bytes that file's name takes after the arguments, its NUL
    /// included; 0 otherwise.
    pub missing_output_len: AtomicU32,
    /// Its stdout and stderr at the exec (docs/DESIGN.md, "Conversion" 2:
    /// output the host reads is not handed off).
    pub outputs: [FdNote; 2],
    /// The one-entry robust list the child registers (see `lay_out_list`).
    pub head: UnsafeCell<RobustHead>,
    pub entry: UnsafeCell<RobustEntry>,
    /// The robust list the child had before ours (head, length), restored
    /// if the exec fails.
    pub old: UnsafeCell<(usize, usize)>,
}

/// The first page of the mapping.
#[repr(C)]
pub struct Header {
    /// Bumped (and woken) whenever a slot becomes readable or a child the
    /// parent waits for ends: what a parent waiting for a record sleeps on.
    pub generation: AtomicU32,
    pub slots: [Slot; SLOTS],
}

const _: () = assert!(std::mem::size_of::<Header>() <= HEADER);

/// The exec function names a slot's `call` indexes.
pub const CALLS: [&str; 13] = [
    "execve",
    "execv",
    "execvp",
    "execvpe",
    "execl",
    "execlp",
    "execle",
    "fexecve",
    "execveat",
    "posix_spawn",
    "posix_spawnp",
    "system",
    "popen",
];

pub fn call_index(call: &str) -> u32 {
    CALLS.iter().position(|c| *c == call).unwrap_or(0) as u32
}

static TABLE: AtomicPtr<Header> = AtomicPtr::new(null_mut());

/// Maps the table. Called once by the constructor of the process in scope
/// (raw libc only). Without it (the mapping refused, e.g. under a tight
/// `RLIMIT_AS`) the wait hooks ask `/proc` alone.
pub fn create() -> bool {
    let len = HEADER + SLOTS * DATA;
    // SAFETY: a fresh anonymous mapping, no address hint; pages are zero
    // (every slot FREE) and only touched when written. NORESERVE: the data
    // areas are a bound, not a commitment.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return false;
    }
    TABLE.store(p.cast(), Ordering::Release);
    true
}

/// The table, if this process made one (or inherited its parent's).
pub fn header() -> Option<&'static Header> {
    let p = TABLE.load(Ordering::Acquire);
    // SAFETY: the mapping is never unmapped; a Header is all atomics and
    // plain fields the owning child writes before publishing the state.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Slot `i`'s data area.
pub fn data(i: usize) -> *mut u8 {
    let base = TABLE.load(Ordering::Acquire).cast::<u8>();
    // SAFETY: i < SLOTS, inside the mapping made by `create`.
    unsafe { base.add(HEADER + i * DATA) }
}

pub fn index_of(header: &Header, slot: &Slot) -> usize {
    (slot as *const Slot as usize - header.slots.as_ptr() as usize) / std::mem::size_of::<Slot>()
}

/// The slot recording `pid`, once readable (not FREE or WRITING), if it
/// is that of the child started at `start` (None: cannot tell, any).
pub fn find(pid: i32, start: Option<u64>) -> Option<&'static Slot> {
    let h = header()?;
    h.slots.iter().find(|s| {
        s.pid.load(Ordering::Acquire) == pid
            && !matches!(
                s.state.load(Ordering::Acquire),
                state::FREE | state::WRITING
            )
            && start.is_none_or(|t| s.start.load(Ordering::Acquire) == t)
    })
}

/// Whether some slot names `pid` at all (a child may be writing it).
pub fn claimed_by(pid: i32) -> bool {
    header().is_some_and(|h| h.slots.iter().any(|s| s.pid.load(Ordering::Acquire) == pid))
}

/// A slot for `pid`, in the WRITING state: one it already had (its own
/// earlier exec that failed, or a stale one of a reaped child whose pid it
/// now has), else a free one, else one whose process no longer exists.
/// Heap-free: safe between fork and exec.
pub fn claim(pid: i32) -> Option<&'static Slot> {
    let h = header()?;
    let take = |s: &'static Slot, from: i32| {
        s.pid
            .compare_exchange(from, pid, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    };
    let slot = h
        .slots
        .iter()
        .find(|s| s.pid.load(Ordering::Acquire) == pid)
        .or_else(|| h.slots.iter().find(|s| take(s, 0)))
        .or_else(|| {
            h.slots.iter().find(|s| {
                let old = s.pid.load(Ordering::Acquire);
                old > 0 && gone(old) && take(s, old)
            })
        })?;
    slot.state.store(state::WRITING, Ordering::Release);
    slot.word.store(0, Ordering::Release);
    slot.start.store(0, Ordering::Release);
    slot.exec_sec.store(i64::MIN, Ordering::Release);
    slot.missing_output_len.store(0, Ordering::Release);
    for note in &slot.outputs {
        note.store(None);
    }
    Some(slot)
}

/// The process `pid` does not exist (not even as a zombie).
fn gone(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence; errno is read right after.
    unsafe { libc::kill(pid, 0) == -1 && *libc::__errno_location() == libc::ESRCH }
}

/// Publishes a written slot in `state` and wakes whoever waits for records.
pub fn publish(slot: &Slot, to: u32) {
    slot.state.store(to, Ordering::Release);
    if let Some(h) = header() {
        bump(h);
    }
}

/// Bumps the generation and wakes every waiter on it.
pub fn bump(h: &Header) {
    h.generation.fetch_add(1, Ordering::AcqRel);
    super::futex::wake(&h.generation);
}

/// Frees `pid`'s slot once the parent reaped it.
pub fn free(pid: i32) {
    let Some(h) = header() else { return };
    for s in h.slots.iter() {
        if s.pid.load(Ordering::Acquire) == pid {
            s.state.store(state::FREE, Ordering::Release);
            s.word.store(0, Ordering::Release);
            let _ = s
                .pid
                .compare_exchange(pid, 0, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}

/// Appends NUL-terminated strings to a slot's data area, heap-free; stops
/// (and says so) at the end of the area.
pub struct Writer {
    at: *mut u8,
    left: usize,
    pub cut: bool,
}

impl Writer {
    pub fn new(i: usize) -> Writer {
        Writer {
            at: data(i),
            left: DATA,
            cut: false,
        }
    }

    /// Copies `bytes` and a NUL; returns how many bytes that took (0 if cut).
    pub fn push(&mut self, bytes: &[u8]) -> u32 {
        if self.cut || bytes.len() + 1 > self.left {
            self.cut = true;
            return 0;
        }
        // SAFETY: `at..at+left` lies in this slot's data area (see `data`),
        // and `bytes` (a string of the caller's) does not overlap it.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.at, bytes.len());
            *self.at.add(bytes.len()) = 0;
            self.at = self.at.add(bytes.len() + 1);
        }
        self.left -= bytes.len() + 1;
        (bytes.len() + 1) as u32
    }

    /// # Safety
    /// `s` is null or a NUL-terminated string.
    pub unsafe fn push_c(&mut self, s: *const c_char) -> u32 {
        let bytes = if s.is_null() {
            &b""[..]
        } else {
            CStr::from_ptr(s).to_bytes()
        };
        self.push(bytes)
    }
}

/// Lays out in `slot` a one-entry robust list whose futex word is the
/// slot's `word`, and returns its head for `set_robust_list`.
///
/// # Safety
/// Only the child owning `slot` (state WRITING) calls this.
pub unsafe fn lay_out_list(slot: &Slot) -> *mut RobustHead {
    let head = slot.head.get();
    let entry = slot.entry.get();
    (*head).list = entry;
    (*head).futex_offset = (&slot.word as *const AtomicU32 as isize) - (entry as isize);
    (*head).pending = null_mut();
    (*entry).next = head;
    head
}
