//! Which child a wait call is for, and whether it runs the archiver: pure,
//! over what `facts::proc` read about the child.
//!
//! The wait-time path (docs/DESIGN.md, "Conversion" 2): a host that made its
//! archiver with fork/vfork/clone + exec is caught when it waits for it. The host's
//! cleanups run, then the companion's small reaper replaces the host in the
//! same pid; the archiver is still its child, so the reaper waits for it and
//! exits with its status.

use crate::decide::config::Config;
use crate::decide::scope::basename;

/// Which child a wait call waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Awaited {
    Pid(i32),
    AnyChild,
}

/// A wait call we may take over: which child, and whether only the child's
/// end can end the call (no WUNTRACED, WCONTINUED or WSTOPPED). Only then may
/// the shim block until the child execs: the host could see nothing of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitCall {
    pub awaited: Awaited,
    pub exits_only: bool,
}

/// `waitpid`/`wait4` arguments → the awaited child, if it is a blocking wait
/// for exit we may take over. Process-group waits and WNOHANG polls are left alone.
pub fn awaited_by_waitpid(pid: i32, options: i32) -> Option<WaitCall> {
    if options & libc::WNOHANG != 0 {
        return None;
    }
    let awaited = match pid {
        p if p > 0 => Awaited::Pid(p),
        -1 => Awaited::AnyChild,
        _ => return None,
    };
    Some(WaitCall {
        awaited,
        exits_only: options & (libc::WUNTRACED | libc::WCONTINUED) == 0,
    })
}

/// `waitid` arguments: it must wait for an exit (WEXITED), block, and consume it.
pub fn awaited_by_waitid(idtype: libc::idtype_t, id: libc::id_t, options: i32) -> Option<WaitCall> {
    if options & libc::WEXITED == 0 || options & (libc::WNOHANG | libc::WNOWAIT) != 0 {
        return None;
    }
    let awaited = match idtype {
        libc::P_PID if id > 0 && id <= i32::MAX as libc::id_t => Awaited::Pid(id as i32),
        libc::P_ALL => Awaited::AnyChild,
        _ => return None,
    };
    Some(WaitCall {
        awaited,
        exits_only: options & (libc::WSTOPPED | libc::WCONTINUED) == 0,
    })
}

/// What /proc says about a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub pid: i32,
    pub ppid: i32,
    /// Process state letter from /proc/PID/stat (`Z` for a zombie).
    pub state: u8,
    /// /proc/PID/exe (empty when unreadable, e.g. a zombie).
    pub exe: Vec<u8>,
    /// /proc/PID/cmdline, split.
    pub argv: Vec<Vec<u8>>,
    /// /proc/PID/cwd
    pub cwd: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Running an archiver: hand off. Its operands start at `argv[operands]`.
    Archiver { operands: usize },
    /// Still the host's own image (forked, not exec'd yet).
    NotYetExeced,
    /// In the middle of an execve: the new image is in place but its
    /// arguments are not yet (the kernel first frees the child's copy of the
    /// host's address space: hundreds of ms for a host of several GiB).
    Execing,
    /// Anything else: the real wait, unchanged.
    Pass(&'static str),
}

/// `is_script(path)`: is `path` (relative to the child's cwd) a `#!` file?
pub fn judge(
    child: &Child,
    my_pid: i32,
    my_exe: &[u8],
    config: &Config,
    is_script: impl Fn(&[u8]) -> bool,
) -> Verdict {
    if child.ppid != my_pid {
        return Verdict::Pass("not a child of this process");
    }
    if child.state == b'Z' || child.exe.is_empty() {
        return Verdict::Pass("child already exited");
    }
    if child.argv.is_empty() {
        // Mid-execve: the new image is in place (exe changed) before its
        // argument area is set up, and we need its operands.
        return if child.exe == my_exe {
            Verdict::NotYetExeced
        } else {
            Verdict::Execing
        };
    }
    // Still this program: a worker that has not exec'd (or exec'd this very
    // program again), never the archiver — even when this host's own name
    // matches the archiver globs (a tool called `my-ar`).
    if child.exe == my_exe {
        return Verdict::NotYetExeced;
    }
    let argv0 = child.argv.first().map(|a| a.as_slice()).unwrap_or(b"");
    let names = [basename(&child.exe), basename(argv0)];
    if names
        .iter()
        .any(|n| !n.is_empty() && config.tools.matches(n))
    {
        return Verdict::Archiver { operands: 1 };
    }
    // An archiver that is a `#!` script: the kernel runs
    // `INTERPRETER [ONE-ARG] SCRIPT ARGS…`, so the script is argv[1] or argv[2].
    for i in 1..child.argv.len().min(3) {
        let arg = &child.argv[i];
        if config.tools.matches(basename(arg)) && is_script(arg) {
            return Verdict::Archiver { operands: i + 1 };
        }
    }
    Verdict::Pass("child is not an archiver")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::config::{lookup, parse};

    fn config() -> Config {
        let env: Vec<&[u8]> = vec![b"ARSHIM=1"];
        parse(|n| lookup(&env, n)).unwrap()
    }

    fn child(exe: &str, argv0: &str) -> Child {
        Child {
            pid: 20,
            ppid: 10,
            state: b'S',
            exe: exe.into(),
            argv: vec![argv0.into(), b"rcs".to_vec()],
            cwd: b"/w".to_vec(),
        }
    }

    fn pid(p: i32, exits_only: bool) -> Option<WaitCall> {
        Some(WaitCall {
            awaited: Awaited::Pid(p),
            exits_only,
        })
    }

    fn any(exits_only: bool) -> Option<WaitCall> {
        Some(WaitCall {
            awaited: Awaited::AnyChild,
            exits_only,
        })
    }

    #[test]
    fn which_waits_are_taken_over() {
        assert_eq!(awaited_by_waitpid(20, 0), pid(20, true));
        assert_eq!(awaited_by_waitpid(-1, 0), any(true));
        assert_eq!(awaited_by_waitpid(20, libc::WNOHANG), None);
        assert_eq!(awaited_by_waitpid(0, 0), None, "own process group");
        assert_eq!(awaited_by_waitpid(-7, 0), None, "another process group");
        // a stop would end these calls: never blocked on an exec
        assert_eq!(awaited_by_waitpid(20, libc::WUNTRACED), pid(20, false));
        assert_eq!(awaited_by_waitpid(20, libc::WCONTINUED), pid(20, false));
        assert_eq!(
            awaited_by_waitid(libc::P_PID, 20, libc::WEXITED),
            pid(20, true)
        );
        assert_eq!(awaited_by_waitid(libc::P_ALL, 0, libc::WEXITED), any(true));
        assert_eq!(
            awaited_by_waitid(libc::P_PID, 20, libc::WEXITED | libc::WSTOPPED),
            pid(20, false)
        );
        assert_eq!(
            awaited_by_waitid(libc::P_PID, 20, libc::WEXITED | libc::WNOWAIT),
            None
        );
        assert_eq!(awaited_by_waitid(libc::P_PID, 20, libc::WSTOPPED), None);
        assert_eq!(awaited_by_waitid(libc::P_PGID, 20, libc::WEXITED), None);
    }

    fn judge(child: &Child, my_pid: i32, my_exe: &[u8], config: &Config) -> Verdict {
        super::judge(child, my_pid, my_exe, config, |p| p.ends_with(b"bin/ar"))
    }

    #[test]
    fn archiver_children() {
        let c = config();
        let archiver = Verdict::Archiver { operands: 1 };
        assert_eq!(
            judge(&child("/usr/bin/x86_64-linux-gnu-ar", "ar"), 10, b"/ld", &c),
            archiver
        );
        // gcc-ar resolves to x86_64-linux-gnu-gcc-ar-12; the name it was run by matches
        assert_eq!(
            judge(
                &child("/usr/bin/x86_64-linux-gnu-gcc-ar-12", "gcc-ar"),
                10,
                b"/ld",
                &c
            ),
            archiver
        );
        assert_eq!(
            judge(&child("/ld", "/ld"), 10, b"/ld", &c),
            Verdict::NotYetExeced
        );
        assert!(matches!(
            judge(&child("/usr/bin/cc", "cc"), 10, b"/ld", &c),
            Verdict::Pass(_)
        ));
        let mut other = child("/usr/bin/ar", "ar");
        other.ppid = 11;
        assert!(matches!(judge(&other, 10, b"/ld", &c), Verdict::Pass(_)));
        let mut starting = child("/usr/bin/ar", "ar");
        starting.argv.clear();
        assert_eq!(
            judge(&starting, 10, b"/ld", &c),
            Verdict::Execing,
            "exec in progress"
        );
        // a `#!/bin/sh -e` script named ar: /bin/sh -e /w/bin/ar rcs x.a
        let mut script = child("/usr/bin/dash", "/bin/sh");
        script.argv = vec![
            b"/bin/sh".to_vec(),
            b"-e".to_vec(),
            b"/w/bin/ar".to_vec(),
            b"rcs".to_vec(),
        ];
        assert_eq!(
            judge(&script, 10, b"/ld", &c),
            Verdict::Archiver { operands: 3 }
        );
        // a shell running something else named like an archiver, not a script
        let mut sh = child("/usr/bin/dash", "sh");
        sh.argv = vec![b"sh".to_vec(), b"-c".to_vec(), b"ar".to_vec()];
        assert!(matches!(judge(&sh, 10, b"/ld", &c), Verdict::Pass(_)));
        // a worker of a host named like an archiver, not exec'd
        assert_eq!(
            judge(&child("/w/my-ar", "/w/my-ar"), 10, b"/w/my-ar", &c),
            Verdict::NotYetExeced
        );
        let mut zombie = child("", "");
        zombie.state = b'Z';
        assert!(matches!(judge(&zombie, 10, b"/ld", &c), Verdict::Pass(_)));
    }
}
