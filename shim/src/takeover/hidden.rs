//! The archiver hidden from the host's cleanups (docs/DESIGN.md,
//! "Conversion" 2): a wait-time takeover runs them while the archiver still
//! runs, but without the library the host had reaped it before they ran. So
//! while they run, a wait or a signal of the cleanups sees what it would
//! have seen then: a wait for the archiver or for "any child" when it is the
//! only one fails with ECHILD, a wait for any child takes only the others, a
//! signal to its pid fails with ESRCH, a group signal reaches every member
//! but it. The reaper, its parent after the execve, then collects its real
//! status. No allocation, no lock: these may run in a signal handler.

use crate::facts::pids;
use std::time::Duration;

/// Which children a wait call asks for.
#[derive(Clone, Copy)]
pub enum Awaited {
    Pid(i32),
    Any,
    Group(i32),
    /// Something else (a pidfd): left to the real call.
    Other,
}

impl Awaited {
    /// The pid argument of `waitpid`/`wait4`.
    pub fn of_waitpid(pid: i32) -> Awaited {
        match pid {
            -1 => Awaited::Any,
            // SAFETY: getpgrp has no preconditions.
            0 => Awaited::Group(unsafe { libc::getpgrp() }),
            p if p < 0 => Awaited::Group(p.saturating_neg()),
            p => Awaited::Pid(p),
        }
    }

    /// The idtype and id of `waitid`.
    pub fn of_waitid(idtype: libc::idtype_t, id: libc::id_t) -> Awaited {
        let id = i32::try_from(id).unwrap_or(-1);
        match idtype {
            libc::P_ALL => Awaited::Any,
            libc::P_PID => Awaited::Pid(id),
            // SAFETY: getpgrp has no preconditions.
            libc::P_PGID if id == 0 => Awaited::Group(unsafe { libc::getpgrp() }),
            libc::P_PGID => Awaited::Group(id),
            _ => Awaited::Other,
        }
    }
}

fn fail(errno: i32) -> i32 {
    // SAFETY: writing the calling thread's errno.
    unsafe { *libc::__errno_location() = errno };
    -1
}

fn in_group(pid: i32, group: i32) -> bool {
    // SAFETY: getpgid has no preconditions.
    unsafe { libc::getpgid(pid) == group }
}

/// A wait call of the cleanups while `archiver` is hidden. `one(pid)` is
/// the real call on that one child with WNOHANG added (its result: the pid
/// it took, 0, or -1); `real` the call as the host made it. Returns what
/// `one` returned for the child taken, 0 (WNOHANG, none ready) or -1.
pub fn wait(
    archiver: i32,
    awaited: Awaited,
    nohang: bool,
    mut one: impl FnMut(i32) -> i32,
    real: impl FnOnce() -> i32,
) -> i32 {
    let group = match awaited {
        Awaited::Pid(p) if p == archiver => return fail(libc::ECHILD),
        Awaited::Group(g) if in_group(archiver, g) => Some(g),
        Awaited::Any => None,
        _ => return real(),
    };
    loop {
        let mut others = false;
        let mut taken = 0;
        let listed = pids::each_child(|child| {
            if child == archiver || group.is_some_and(|g| !in_group(child, g)) {
                return true;
            }
            let r = one(child);
            // SAFETY: reading the calling thread's errno.
            let gone = r < 0 && unsafe { *libc::__errno_location() } == libc::ECHILD;
            others |= !gone;
            if r != 0 && !gone {
                taken = r;
            }
            taken == 0
        });
        if listed.is_none() {
            return real(); // /proc unreadable: nothing better to offer
        }
        if taken != 0 {
            return taken;
        }
        if !others {
            return fail(libc::ECHILD);
        }
        if nohang {
            return 0;
        }
        // A blocking wait for the others: look again shortly (a blocking
        // real call could take the archiver the moment it ends).
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A `kill(pid, sig)` of the cleanups while `archiver` is hidden; `real`
/// is the real `kill`. A pid, -1 or a group: as the kernel would once the
/// archiver is gone.
pub fn kill(archiver: i32, pid: i32, sig: i32, real: impl Fn(i32, i32) -> i32) -> i32 {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let group = match pid {
        p if p == archiver => return fail(libc::ESRCH),
        // kill(-1): every process but init and the caller.
        -1 => {
            return each_but(archiver, me, sig, |p| p > 1, false, &real)
                .unwrap_or_else(|| real(pid, sig))
        }
        p if p > 0 => return real(p, sig),
        // SAFETY: getpgrp has no preconditions.
        0 => unsafe { libc::getpgrp() },
        p => p.saturating_neg(),
    };
    if !in_group(archiver, group) {
        return real(pid, sig);
    }
    let chosen = |p| in_group(p, group);
    each_but(archiver, me, sig, chosen, in_group(me, group), &real)
        .unwrap_or_else(|| real(pid, sig))
}

/// One signal to every process `chosen` but the archiver and this process,
/// then (`me_too`) to this process last: a signal to itself is delivered as
/// `kill` returns and must not keep the others from getting theirs. As the
/// kernel answers: 0 if any got it, else EPERM if any was refused, else
/// ESRCH. `None`: /proc could not be listed.
fn each_but(
    archiver: i32,
    me: i32,
    sig: i32,
    chosen: impl Fn(i32) -> bool,
    me_too: bool,
    real: &impl Fn(i32, i32) -> i32,
) -> Option<i32> {
    let (mut sent, mut refused) = (false, false);
    let mut send = |p: i32| {
        if real(p, sig) == 0 {
            sent = true;
        } else {
            // SAFETY: reading the calling thread's errno.
            refused |= unsafe { *libc::__errno_location() } == libc::EPERM;
        }
    };
    pids::each_process(|p| {
        if p != archiver && p != me && chosen(p) {
            send(p);
        }
        true
    })?;
    if me_too {
        send(me);
    }
    Some(match (sent, refused) {
        (true, _) => 0,
        (false, true) => fail(libc::EPERM),
        (false, false) => fail(libc::ESRCH),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::process::{Child, Command};

    fn sleeper() -> Child {
        Command::new("sleep").arg("30").spawn().unwrap()
    }

    fn errno() -> i32 {
        // SAFETY: reading the calling thread's errno.
        unsafe { *libc::__errno_location() }
    }

    #[test]
    fn a_signal_to_the_archiver_is_esrch_and_never_sent() {
        let mut ar = sleeper();
        let a = ar.id() as i32;
        let sent = RefCell::new(Vec::new());
        let r = kill(a, a, libc::SIGTERM, |p, s| {
            sent.borrow_mut().push((p, s));
            0
        });
        assert_eq!((r, errno()), (-1, libc::ESRCH));
        assert!(sent.borrow().is_empty());
        // Another pid goes to the real call as asked.
        assert_eq!(kill(a, 4242, 0, |p, s| p + s), 4242);
        let _ = ar.kill();
        let _ = ar.wait();
    }

    #[test]
    fn a_group_signal_reaches_all_but_the_archiver_and_me_last() {
        let mut ar = sleeper();
        let mut other = sleeper();
        let (a, o) = (ar.id() as i32, other.id() as i32);
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() };
        let sent = RefCell::new(Vec::new());
        let r = kill(a, 0, libc::SIGTERM, |p, _| {
            sent.borrow_mut().push(p);
            0
        });
        assert_eq!(r, 0);
        let sent = sent.into_inner();
        assert!(sent.contains(&o), "{sent:?}");
        assert!(!sent.contains(&a), "{sent:?}");
        assert_eq!(sent.last(), Some(&me), "{sent:?}");
        for c in [&mut ar, &mut other] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// In a group of its own (`pgid` 0) or in `pgid`: the test's other
    /// threads have children too, which a wait for any child would see.
    fn sleeper_in(pgid: i32) -> Child {
        use std::os::unix::process::CommandExt;
        Command::new("sleep")
            .arg("30")
            .process_group(pgid)
            .spawn()
            .unwrap()
    }

    #[test]
    fn a_wait_never_takes_the_archiver() {
        let mut ar = sleeper_in(0);
        let a = ar.id() as i32;
        let asked = RefCell::new(Vec::new());
        let ask = |c| {
            asked.borrow_mut().push(c);
            c
        };
        // Its group holds only the archiver: ECHILD, nobody asked.
        for nohang in [true, false] {
            let r = wait(a, Awaited::Group(a), nohang, ask, || 99);
            assert_eq!((r, errno()), (-1, libc::ECHILD));
        }
        assert_eq!(wait(a, Awaited::Pid(a), false, ask, || 99), -1);
        assert!(asked.borrow().is_empty());
        // A sibling in that group: only it is asked, its answer returned.
        let mut sib = sleeper_in(a);
        let s = sib.id() as i32;
        assert_eq!(wait(a, Awaited::Group(a), false, ask, || 99), s);
        assert_eq!(asked.borrow().as_slice(), &[s]);
        // Any child: never the archiver.
        wait(a, Awaited::Any, true, ask, || 99);
        assert!(!asked.borrow().contains(&a));
        // A group without it, another pid: the real call.
        assert_eq!(wait(a, Awaited::Group(1), false, ask, || 99), 99);
        assert_eq!(wait(a, Awaited::Pid(s), false, ask, || 99), 99);
        for c in [&mut ar, &mut sib] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
