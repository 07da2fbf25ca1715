//! The host's temporaries as it creates them (docs/DESIGN.md, "Conversion"
//! 12): in the process in scope only, and only when it has temps globs
//! (`ARSHIM_TEMPS`, its known host's), each file or directory that a call
//! *created* under those globs is recorded — its absolute path and identity
//! ((dev, ino), type, birth time) — in a static arena. Heap-free and lock-free: a host may create
//! files from several threads or a signal handler. A slot is reserved with
//! one atomic add and published once written; past the last slot, or for a
//! path longer than a slot, the record is marked incomplete and the
//! conversion falls back (what the host would delete is then not known).

use crate::decide::temps::{absolute_into, born_since, matches};
use crate::facts::temps::{cwd_into, fd_identity, fd_path_into, lstat_at, Identity};
use libc::{c_char, c_int};
use std::cell::UnsafeCell;
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU8, AtomicUsize, Ordering};

/// How many creations the arena holds.
pub const SLOTS: usize = 1024;
/// The longest path a slot holds, and the longest resolved on the stack:
/// a hook may run in a signal handler on a small alternate stack, so its
/// buffers stay small; a longer path marks the record incomplete.
const PATH: usize = 1024;
const RESOLVED: usize = PATH;

const EMPTY: u8 = 0;
const READY: u8 = 1;

struct Slot {
    state: AtomicU8,
    id: UnsafeCell<Identity>,
    len: UnsafeCell<usize>,
    path: UnsafeCell<[u8; PATH]>,
}

struct Arena([Slot; SLOTS]);

// SAFETY: a slot's cells are written only by the one caller whose atomic
// reservation (`NEXT`) returned its index, before `state` is published with
// Release; they are read only after `state` is seen READY with Acquire.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(
    [const {
        Slot {
            state: AtomicU8::new(EMPTY),
            id: UnsafeCell::new(Identity {
                dev: 0,
                ino: 0,
                kind: 0,
                born: (0, 0),
            }),
            len: UnsafeCell::new(0),
            path: UnsafeCell::new([0; PATH]),
        }
    }; SLOTS],
);
static NEXT: AtomicUsize = AtomicUsize::new(0);
static INCOMPLETE: AtomicBool = AtomicBool::new(false);
/// The globs, absolute (`$TMPDIR` expanded); null: nothing is recorded.
static GLOBS: AtomicPtr<Vec<Vec<u8>>> = AtomicPtr::new(std::ptr::null_mut());
/// The process in scope: a forked child is not (its creations are its own).
static OWNER: AtomicI32 = AtomicI32::new(0);

/// Records from now on, in process `pid`, the creations under `globs`
/// (called once, at load, before any hook is routed to the core).
pub fn arm(globs: Vec<Vec<u8>>, pid: i32) {
    if globs.is_empty() {
        return;
    }
    OWNER.store(pid, Ordering::Relaxed);
    // Never freed: the hooks may read it until the process ends.
    GLOBS.store(Box::into_raw(Box::new(globs)), Ordering::Release);
}

/// One atomic load: the hooks' fast path.
#[inline(always)]
pub fn armed() -> bool {
    !GLOBS.load(Ordering::Relaxed).is_null()
}

fn globs() -> Option<&'static [Vec<u8>]> {
    let p = GLOBS.load(Ordering::Acquire);
    // SAFETY: set once from a leaked Box, never freed or changed.
    unsafe { p.as_ref() }.map(|g| g.as_slice())
}

/// A path under the globs that a call is about to create, made absolute on
/// the stack, and whether the call creates it whatever it finds there.
pub struct Candidate {
    path: [u8; RESOLVED],
    len: usize,
    /// `O_EXCL`, `mkdir`: success means created. Otherwise only when the
    /// path was missing before the call.
    created: bool,
}

/// Before a call that may create `path` (relative to `dirfd`): a candidate
/// when it is under the globs, in the process in scope. `exclusive`: the
/// call fails rather than open an existing file; else the path is looked up
/// now (`AT_SYMLINK_NOFOLLOW`) and only a missing one counts as created.
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
pub unsafe fn before(dirfd: c_int, path: *const c_char, exclusive: bool) -> Option<Candidate> {
    if path.is_null() || OWNER.load(Ordering::Relaxed) != libc::getpid() {
        return None;
    }
    let errno = *libc::__errno_location();
    let found = candidate(dirfd, CStr::from_ptr(path).to_bytes()).map(|mut c| {
        c.created = exclusive || lstat_at(dirfd, path) == Err(libc::ENOENT);
        c
    });
    *libc::__errno_location() = errno;
    found.filter(|c| c.created)
}

/// `path` (relative to `dirfd`) made absolute, if under the globs. A path
/// that cannot be made absolute here (too long for the stack buffers, a
/// directory fd that names nothing) may be a temporary: the record is then
/// incomplete, so that no conversion forgets it.
fn candidate(dirfd: c_int, path: &[u8]) -> Option<Candidate> {
    let globs = globs()?;
    let mut c = Candidate {
        path: [0; RESOLVED],
        len: 0,
        created: true,
    };
    match resolve(dirfd, path, &mut c.path) {
        Some(len) => c.len = len,
        None => {
            INCOMPLETE.store(true, Ordering::Relaxed);
            return None;
        }
    }
    matches(globs, c.path.get(..c.len)?).then_some(c)
}

/// `path` made absolute into `out`: its length.
fn resolve(dirfd: c_int, path: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut base = [0u8; RESOLVED];
    let base_len = match (path.first(), dirfd) {
        (Some(b'/'), _) => 0,
        (_, libc::AT_FDCWD) => cwd_into(&mut base)?,
        (_, fd) => fd_path_into(fd, &mut base)?,
    };
    absolute_into(base.get(..base_len)?, path, out)
}

/// After a successful call that opened `fd` on the candidate.
pub fn created_fd(candidate: Option<Candidate>, fd: c_int) {
    if let Some(c) = candidate {
        keep_errno(|| note(&c, fd_identity(fd)));
    }
}

/// After a successful call that created the candidate at `path` (`mkdir`).
///
/// # Safety
/// `path` must be a NUL-terminated string.
pub unsafe fn created_at(candidate: Option<Candidate>, dirfd: c_int, path: *const c_char) {
    if let Some(c) = candidate {
        keep_errno(|| note(&c, lstat_at(dirfd, path).ok()));
    }
}

/// After `mkstemp`-like calls and `mkdtemp`: the name is known only now
/// (the filled-in template, relative to the working directory).
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
pub unsafe fn created_named(path: *const c_char, fd: Option<c_int>) {
    if path.is_null() || !armed() || OWNER.load(Ordering::Relaxed) != libc::getpid() {
        return;
    }
    keep_errno(|| {
        if let Some(c) = candidate(libc::AT_FDCWD, CStr::from_ptr(path).to_bytes()) {
            let id = match fd {
                Some(fd) => fd_identity(fd),
                None => lstat_at(libc::AT_FDCWD, path).ok(),
            };
            note(&c, id);
        }
    });
}

/// Runs `f` with the caller's errno kept: a successful call's errno is
/// what the C library left, not our lookups'.
fn keep_errno(f: impl FnOnce()) {
    // SAFETY: reading and writing the calling thread's errno.
    unsafe {
        let errno = *libc::__errno_location();
        f();
        *libc::__errno_location() = errno;
    }
}

/// Records one creation; the arena full, a path too long or an identity
/// that cannot be read mark the record incomplete.
fn note(c: &Candidate, id: Option<Identity>) {
    let (Some(id), Some(path)) = (id, c.path.get(..c.len).filter(|p| p.len() <= PATH)) else {
        INCOMPLETE.store(true, Ordering::Relaxed);
        return;
    };
    let i = NEXT.fetch_add(1, Ordering::AcqRel);
    let Some(slot) = ARENA.0.get(i) else {
        INCOMPLETE.store(true, Ordering::Relaxed);
        return;
    };
    // SAFETY: index `i` was reserved by us alone (see `Arena`).
    unsafe {
        *slot.id.get() = id;
        *slot.len.get() = path.len();
        (&mut *slot.path.get())[..path.len()].copy_from_slice(path);
    }
    slot.state.store(READY, Ordering::Release);
}

/// One recorded creation, copied out at the conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub path: Vec<u8>,
    pub id: Identity,
}

impl Created {
    /// A file a spawned child was told to write (`promise`): its identity
    /// is not known yet; `id.born` is the spawn's time.
    pub fn is_promise(&self) -> bool {
        self.id.kind == PROMISED
    }
}

/// Every creation recorded so far, or why the record cannot be trusted
/// whole (then the conversion falls back: docs/DESIGN.md, "Conversion" 12).
pub fn recorded() -> Result<Vec<Created>, &'static str> {
    if INCOMPLETE.load(Ordering::Acquire) {
        return Err("the host created more temporaries than the library can record");
    }
    let n = NEXT.load(Ordering::Acquire).min(SLOTS);
    let mut out = Vec::with_capacity(n);
    for slot in &ARENA.0[..n] {
        if slot.state.load(Ordering::Acquire) != READY {
            return Err("another thread is creating a temporary");
        }
        // SAFETY: published READY (see `Arena`); never written again.
        let (id, path) = unsafe {
            let len = (*slot.len.get()).min(PATH);
            (*slot.id.get(), (&(*slot.path.get()))[..len].to_vec())
        };
        out.push(Created { path, id });
    }
    Ok(out)
}

/// The `kind` of a slot that holds a promise, not a file's identity.
const PROMISED: u32 = 0;

/// A file a child of the process in scope is about to be spawned to write
/// (docs/DESIGN.md, "Conversion" 12): `path` (relative to the working
/// directory, which the child shares) made absolute, when it is under the
/// globs and missing now (`AT_SYMLINK_NOFOLLOW`): what already exists is
/// never the host's to delete. Called before the real spawn; may allocate
/// (the spawn path does).
pub fn promise(path: &[u8]) -> Option<Candidate> {
    // SAFETY: getpid only.
    if !armed() || OWNER.load(Ordering::Relaxed) != unsafe { libc::getpid() } {
        return None;
    }
    let c_path = std::ffi::CString::new(path).ok()?;
    let mut found = None;
    keep_errno(|| {
        found = candidate(libc::AT_FDCWD, path).filter(|_| {
            // SAFETY: `c_path` is NUL-terminated.
            unsafe { lstat_at(libc::AT_FDCWD, c_path.as_ptr()) == Err(libc::ENOENT) }
        });
    });
    found
}

/// After the spawn succeeded: the promise is recorded with the spawn's
/// time `since` (taken before the lookup that found the path missing).
pub fn promised(candidate: Candidate, since: (i64, u32)) {
    let id = Identity {
        dev: 0,
        ino: 0,
        kind: PROMISED,
        born: since,
    };
    note(&candidate, Some(id));
}

/// A file a `fork`+`exec` child of the process in scope was told to write,
/// read from its exec record at the host's wait for it (docs/DESIGN.md,
/// "Conversion" 12): a promise from `since`, the time the child took right
/// before its exec. By now the child may have written it, so unlike
/// `promise` it is not looked up: a file that was there before keeps its
/// older birth time and never counts (`fulfilled`). Recorded once however
/// often the host waits for that child.
pub fn promised_at_exec(path: &[u8], since: (i64, u32)) {
    // SAFETY: getpid only.
    if !armed() || OWNER.load(Ordering::Relaxed) != unsafe { libc::getpid() } {
        return;
    }
    keep_errno(|| {
        if let Some(c) = candidate(libc::AT_FDCWD, path) {
            let at = c.path.get(..c.len).unwrap_or_default();
            if !promised_already(at, since) {
                promised(c, since);
            }
        }
    });
}

/// A promise of `path` from `since` is in the record already.
fn promised_already(path: &[u8], since: (i64, u32)) -> bool {
    published().any(|(seen, at)| seen.kind == PROMISED && seen.born == since && at == path)
}

/// Every published entry of the record: its identity and path. Heap-free.
fn published() -> impl Iterator<Item = (Identity, &'static [u8])> {
    let n = NEXT.load(Ordering::Acquire).min(SLOTS);
    ARENA.0[..n].iter().filter_map(|slot| {
        if slot.state.load(Ordering::Acquire) != READY {
            return None;
        }
        // SAFETY: published READY (see `Arena`); never written again, and
        // the arena is a static.
        unsafe {
            let len = (*slot.len.get()).min(PATH);
            Some((*slot.id.get(), &(&(*slot.path.get()))[..len]))
        }
    })
}

/// Is the file `id`, found at `path`, one the host created in this run: a
/// recorded creation with that identity, or a regular file at a promised
/// path born at or after its spawn? Heap-free (a rename hook asks).
fn counts_as_created(path: &[u8], id: &Identity) -> bool {
    published().any(|(seen, at)| {
        if seen.kind == PROMISED {
            at == path && id.kind == libc::S_IFREG && born_since(id.born, seen.born)
        } else {
            seen == *id
        }
    })
}

/// A temporary the host is renaming: where to, and what it is.
pub struct Moved {
    to: Candidate,
    id: Identity,
}

/// Before `renameat(olddir, old, newdir, new)` in the process in scope:
/// when `old` is a temporary the host created (or a child it spawned
/// wrote, `promise`) and `new` is under the globs, what the rename moves
/// (ghc has its assembler write `ghc_6.o.tmp`, then renames it `ghc_6.o`).
///
/// # Safety
/// `old` and `new` must be null or NUL-terminated strings.
pub unsafe fn before_rename(
    olddir: c_int,
    old: *const c_char,
    newdir: c_int,
    new: *const c_char,
) -> Option<Moved> {
    if old.is_null() || new.is_null() || OWNER.load(Ordering::Relaxed) != libc::getpid() {
        return None;
    }
    let mut moved = None;
    keep_errno(|| {
        let from = candidate(olddir, CStr::from_ptr(old).to_bytes());
        let id = lstat_at(olddir, old).ok();
        if let (Some(from), Some(id)) = (from, id) {
            let ours = from
                .path
                .get(..from.len)
                .is_some_and(|p| counts_as_created(p, &id));
            let to = candidate(newdir, CStr::from_ptr(new).to_bytes());
            moved = to.filter(|_| ours).map(|to| Moved { to, id });
        }
    });
    moved
}

/// After the rename succeeded: the file is recorded under its new name.
pub fn renamed(moved: Option<Moved>) {
    if let Some(m) = moved {
        keep_errno(|| note(&m.to, Some(m.id)));
    }
}

/// A recorded creation as it stands now: a promise (a file a spawned child
/// was told to write) becomes the file at its path when that is a regular
/// file born at or after the spawn — its identity taken now, checked again
/// by the reaper; None when there is no such file (docs/DESIGN.md,
/// "Conversion" 12). Anything else as recorded.
pub fn fulfilled(created: Created) -> Option<Created> {
    if !created.is_promise() {
        return Some(created);
    }
    let c = std::ffi::CString::new(created.path.as_slice()).ok()?;
    // SAFETY: `c` is NUL-terminated; not following a symlink.
    let id = unsafe { lstat_at(libc::AT_FDCWD, c.as_ptr()) }.ok()?;
    let born_here = id.kind == libc::S_IFREG && born_since(id.born, created.id.born);
    born_here.then_some(Created {
        path: created.path,
        id,
    })
}
