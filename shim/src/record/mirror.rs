//! A side table of the file actions the host builds, mirrored from its
//! `posix_spawn_file_actions_*` calls (glibc keeps them in a private layout);
//! touches its own fixed storage only.
//!
//! Fixed storage, atomics and a try-lock only: these hooks may run anywhere,
//! even in a forked child, so they never allocate and never wait. Anything
//! that does not fit, or any contention, marks the entry broken and the spawn
//! falls back to the real call.

use crate::decide::plan::FileAction;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const SLOTS: usize = 16;
const MAX_ACTIONS: usize = 32;
const ARENA: usize = 8192;

#[derive(Clone, Copy)]
enum Raw {
    Close(i32),
    Dup2(i32, i32),
    Open {
        fd: i32,
        oflag: i32,
        mode: u32,
        at: u16,
        len: u16,
    },
    Chdir {
        at: u16,
        len: u16,
    },
    Fchdir(i32),
    Closefrom(i32),
    Tcsetpgrp,
}

struct Data {
    len: usize,
    actions: [Raw; MAX_ACTIONS],
    used: usize,
    arena: [u8; ARENA],
}

struct Slot {
    /// Address of the host's posix_spawn_file_actions_t; 0 = free.
    owner: AtomicUsize,
    busy: AtomicBool,
    broken: AtomicBool,
    data: UnsafeCell<Data>,
}

// SAFETY: `data` is only touched by the thread that won `busy`.
unsafe impl Sync for Slot {}

impl Slot {
    const fn new() -> Slot {
        Slot {
            owner: AtomicUsize::new(0),
            busy: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            data: UnsafeCell::new(Data {
                len: 0,
                actions: [Raw::Close(0); MAX_ACTIONS],
                used: 0,
                arena: [0; ARENA],
            }),
        }
    }

    /// Runs `f` on the contents if nobody else is; otherwise marks the slot broken.
    fn with<R>(&self, f: impl FnOnce(&mut Data) -> R) -> Option<R> {
        if self
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.broken.store(true, Ordering::Relaxed);
            return None;
        }
        // SAFETY: we hold `busy`, so no other thread has a reference to `data`.
        let r = f(unsafe { &mut *self.data.get() });
        self.busy.store(false, Ordering::Release);
        Some(r)
    }
}

static TABLE: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];

fn find(owner: usize) -> Option<&'static Slot> {
    TABLE
        .iter()
        .find(|s| s.owner.load(Ordering::Acquire) == owner)
}

/// `posix_spawn_file_actions_init` succeeded on `owner`.
pub fn init(owner: usize) {
    let slot = find(owner).or_else(|| {
        TABLE.iter().find(|s| {
            s.owner
                .compare_exchange(0, owner, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })
    });
    if let Some(slot) = slot {
        slot.broken.store(false, Ordering::Relaxed);
        slot.with(|d| {
            d.len = 0;
            d.used = 0;
        });
    }
}

/// `posix_spawn_file_actions_destroy` on `owner`.
pub fn destroy(owner: usize) {
    if let Some(slot) = find(owner) {
        slot.owner.store(0, Ordering::Release);
    }
}

fn push(owner: usize, path: Option<&[u8]>, make: impl FnOnce(u16, u16) -> Raw) {
    let Some(slot) = find(owner) else { return };
    let ok = slot.with(|d| {
        if d.len == MAX_ACTIONS {
            return false;
        }
        let (at, len) = match path {
            Some(p) if d.used + p.len() <= ARENA => {
                d.arena[d.used..d.used + p.len()].copy_from_slice(p);
                let at = d.used;
                d.used += p.len();
                (at as u16, p.len() as u16)
            }
            Some(_) => return false,
            None => (0, 0),
        };
        d.actions[d.len] = make(at, len);
        d.len += 1;
        true
    });
    if ok != Some(true) {
        slot.broken.store(true, Ordering::Relaxed);
    }
}

pub fn close(owner: usize, fd: i32) {
    push(owner, None, |_, _| Raw::Close(fd));
}
pub fn dup2(owner: usize, fd: i32, newfd: i32) {
    push(owner, None, |_, _| Raw::Dup2(fd, newfd));
}
pub fn open(owner: usize, fd: i32, path: &[u8], oflag: i32, mode: u32) {
    push(owner, Some(path), |at, len| Raw::Open {
        fd,
        oflag,
        mode,
        at,
        len,
    });
}
pub fn chdir(owner: usize, path: &[u8]) {
    push(owner, Some(path), |at, len| Raw::Chdir { at, len });
}
pub fn fchdir(owner: usize, fd: i32) {
    push(owner, None, |_, _| Raw::Fchdir(fd));
}
pub fn closefrom(owner: usize, from: i32) {
    push(owner, None, |_, _| Raw::Closefrom(from));
}
pub fn tcsetpgrp(owner: usize) {
    push(owner, None, |_, _| Raw::Tcsetpgrp);
}

/// The actions recorded for `owner`, if we saw all of them. Allocates: call
/// only from the host's own spawn path, never in a forked child.
pub fn snapshot(owner: usize) -> Option<Vec<FileAction>> {
    let slot = find(owner)?;
    if slot.broken.load(Ordering::Relaxed) {
        return None;
    }
    let copy = slot.with(|d| {
        let text = |at: u16, len: u16| d.arena[at as usize..at as usize + len as usize].to_vec();
        d.actions[..d.len]
            .iter()
            .map(|raw| match *raw {
                Raw::Close(fd) => FileAction::Close(fd),
                Raw::Dup2(fd, newfd) => FileAction::Dup2 { fd, newfd },
                Raw::Open {
                    fd,
                    oflag,
                    mode,
                    at,
                    len,
                } => FileAction::Open {
                    fd,
                    path: text(at, len),
                    oflag,
                    mode,
                },
                Raw::Chdir { at, len } => FileAction::Chdir(text(at, len)),
                Raw::Fchdir(fd) => FileAction::Fchdir(fd),
                Raw::Closefrom(fd) => FileAction::Closefrom(fd),
                Raw::Tcsetpgrp => {
                    FileAction::Unsupported("posix_spawn_file_actions_addtcsetpgrp_np")
                }
            })
            .collect::<Vec<_>>()
    })?;
    (!slot.broken.load(Ordering::Relaxed)).then_some(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_in_order_and_forgets_on_destroy() {
        let owner = 0x1000;
        init(owner);
        close(owner, 5);
        dup2(owner, 6, 1);
        open(owner, 0, b"/dev/null", libc::O_RDONLY, 0);
        chdir(owner, b"/tmp");
        assert_eq!(
            snapshot(owner).unwrap(),
            vec![
                FileAction::Close(5),
                FileAction::Dup2 { fd: 6, newfd: 1 },
                FileAction::Open {
                    fd: 0,
                    path: b"/dev/null".to_vec(),
                    oflag: libc::O_RDONLY,
                    mode: 0
                },
                FileAction::Chdir(b"/tmp".to_vec()),
            ]
        );
        init(owner); // re-init without destroy starts over
        assert_eq!(snapshot(owner).unwrap(), vec![]);
        destroy(owner);
        assert_eq!(snapshot(owner), None);
    }

    #[test]
    fn unknown_objects_and_overflow_are_not_trusted() {
        assert_eq!(snapshot(0x2000), None);
        close(0x2000, 1); // never initialised: ignored
        let owner = 0x3000;
        init(owner);
        for fd in 0..(MAX_ACTIONS as i32 + 1) {
            close(owner, fd);
        }
        assert_eq!(snapshot(owner), None, "too many actions");
        destroy(owner);
        let owner = 0x4000;
        init(owner);
        open(owner, 0, &vec![b'a'; ARENA + 1], 0, 0);
        assert_eq!(snapshot(owner), None, "path too long for the arena");
        destroy(owner);
    }
}
