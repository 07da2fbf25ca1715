//! What `/proc` and the kernel say about this process and its children:
//! read-only questions, no state of ours.

use crate::decide::child::Child;

fn read_file(path: &str) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

fn read_link(path: &str) -> Vec<u8> {
    std::fs::read_link(path)
        .map(|p| p.into_os_string().into_encoded_bytes())
        .unwrap_or_default()
}

/// /proc/PID: parent, state, executable, command line, working directory.
pub fn child(pid: i32) -> Option<Child> {
    let stat = read_file(&format!("/proc/{pid}/stat"))?;
    // "pid (comm) S ppid …": comm may hold spaces and parentheses; cut at the last ')'.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.bytes().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let cmdline = read_file(&format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| a.to_vec())
        .collect();
    Some(Child {
        pid,
        ppid,
        state,
        exe: read_link(&format!("/proc/{pid}/exe")),
        argv,
        cwd: read_link(&format!("/proc/{pid}/cwd")),
    })
}

/// Every child of this process (of all its threads), live or zombie.
/// `None` when /proc cannot tell.
pub fn children() -> Option<Vec<i32>> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path().join("children");
        let text = std::fs::read_to_string(path).ok()?;
        out.extend(
            text.split_ascii_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    out.sort();
    out.dedup();
    Some(out)
}

/// SIGCHLD ignored or SA_NOCLDWAIT: children are reaped by the kernel, so
/// nobody could collect the archiver's status.
pub fn children_autoreaped() -> bool {
    // SAFETY: sigaction with a NULL new action only reads the current one.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut old) != 0 {
            return true; // cannot tell: assume the worst
        }
        old.sa_sigaction == libc::SIG_IGN || old.sa_flags & libc::SA_NOCLDWAIT != 0
    }
}

/// This process's start time (field 22 of `/proc/self/stat`), which with
/// the pid names it for its whole life. Called by the constructor and by a
/// child between fork and exec (its exec record): raw system calls into a
/// stack buffer — no heap, and not `open`, which is one of our hooks once
/// the preload routes them here. About 20 µs, so only where a claim is
/// checked or made, or a child records its exec.
pub fn self_start_time() -> Option<u64> {
    let mut buf = [0u8; 1024];
    // SAFETY: openat/read/close system calls on a path literal and a buffer
    // we own, bounded by its length; the fd is closed on every path.
    let n = unsafe {
        let fd = libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            c"/proc/self/stat".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return None;
        }
        let n = libc::syscall(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len());
        libc::syscall(libc::SYS_close, fd);
        n
    };
    let n = usize::try_from(n).ok()?;
    arshim_common::gate::start_time_in_stat(&buf[..n.min(buf.len())])
}

/// Child `pid`'s start time (a zombie's too), if /proc tells.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = read_file(&format!("/proc/{pid}/stat"))?;
    arshim_common::gate::start_time_in_stat(&stat)
}

pub fn self_exe() -> Vec<u8> {
    read_link("/proc/self/exe")
}

pub fn cwd() -> Vec<u8> {
    std::env::current_dir()
        .map(|p| p.into_os_string().into_encoded_bytes())
        .unwrap_or_default()
}

/// The directory `dirfd` refers to (AT_FDCWD: the working directory).
pub fn dir_of(dirfd: i32) -> Option<Vec<u8>> {
    if dirfd == libc::AT_FDCWD {
        return std::env::current_dir()
            .ok()
            .map(|p| p.into_os_string().into_encoded_bytes());
    }
    std::fs::read_link(format!("/proc/self/fd/{dirfd}"))
        .ok()
        .map(|p| p.into_os_string().into_encoded_bytes())
}

/// How many threads this process has (0 when /proc cannot tell).
pub fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// How many CPUs this process may run on.
pub fn cpus() -> usize {
    // SAFETY: sched_getaffinity fills the set we own.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return 1;
        }
        libc::CPU_COUNT(&set) as usize
    }
}

/// This process's mappings, as `/proc/self/maps` lists them (empty when unreadable).
pub fn memory_maps() -> String {
    std::fs::read_to_string("/proc/self/maps").unwrap_or_default()
}

/// This process's soft stack limit (`RLIMIT_STACK`; `RLIM_INFINITY` is
/// `u64::MAX`): what the kernel sizes an `execve`'s argument room by.
pub fn stack_limit() -> u64 {
    // SAFETY: a zeroed rlimit is a valid out-buffer.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_STACK, &mut r) != 0 {
            return 0; // the smallest room: any doubt refuses
        }
        r.rlim_cur
    }
}

/// The page size (the kernel's `ARG_MAX` and `MAX_ARG_STRLEN` are 32 pages).
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
}
