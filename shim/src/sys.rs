//! The real process and file system behind `resolve::Probe` and `plan::Facts`.

use crate::plan::{Facts, PipeEnd};
use crate::resolve::{shebang_interpreter, Candidate, Probe};
use std::ffi::CString;

fn stat(path: &[u8]) -> Result<libc::stat, i32> {
    let c = CString::new(path).map_err(|_| libc::ENOENT)?;
    // SAFETY: zeroed stat is a valid out-buffer; the path is NUL-terminated.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::stat(c.as_ptr(), &mut st) == 0 {
            Ok(st)
        } else {
            Err(*libc::__errno_location())
        }
    }
}

fn access(path: &[u8], mode: i32) -> bool {
    let Ok(c) = CString::new(path) else {
        return false;
    };
    // SAFETY: NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), mode) == 0 }
}

fn is_reg(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFREG
}

/// The first bytes of a file (ELF magic, program headers and interpreter;
/// `#!` line).
fn head(path: &[u8]) -> Option<Vec<u8>> {
    let c = CString::new(path).ok()?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: reading into a buffer we own from an fd we opened and close.
    unsafe {
        let fd = libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        if n < 0 {
            return None;
        }
        buf.truncate(n as usize);
    }
    Some(buf)
}

pub struct RealProbe;

impl Probe for RealProbe {
    fn candidate(&self, path: &[u8]) -> Candidate {
        let st = match stat(path) {
            Ok(st) => st,
            Err(_) => return Candidate::Missing,
        };
        if !is_reg(&st) || !access(path, libc::X_OK) {
            return Candidate::NotExecutable;
        }
        let Some(head) = head(path) else {
            return Candidate::Unknown;
        };
        if head.starts_with(b"\x7fELF") {
            // A missing program interpreter: execve says ENOENT, as for a
            // missing file (and execvp goes on along PATH).
            return match crate::resolve::elf_interpreter(&head) {
                Some(interp) if stat(interp).map(|st| !is_reg(&st)).unwrap_or(true) => {
                    Candidate::Missing
                }
                _ => Candidate::Elf,
            };
        }
        match shebang_interpreter(&head) {
            Some(interp) => {
                let ok = stat(interp).map(|st| is_reg(&st)).unwrap_or(false)
                    && access(interp, libc::X_OK);
                Candidate::Script { interpreter_ok: ok }
            }
            None if head.starts_with(b"#!") => Candidate::Script {
                interpreter_ok: false,
            },
            None => Candidate::Unknown,
        }
    }
}

pub struct RealFacts;

fn fstat(fd: i32) -> Option<libc::stat> {
    // SAFETY: zeroed stat is a valid out-buffer.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then_some(st)
    }
}

fn pipe_end(fd: i32) -> Option<PipeEnd> {
    let st = fstat(fd)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return None;
    }
    // SAFETY: F_GETFL on an fd that fstat just accepted.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if fl < 0 {
        return None;
    }
    let acc = fl & libc::O_ACCMODE;
    Some(PipeEnd {
        id: (st.st_dev, st.st_ino),
        readable: acc == libc::O_RDONLY || acc == libc::O_RDWR,
        writable: acc == libc::O_WRONLY || acc == libc::O_RDWR,
    })
}

/// The fds this process has open: /proc/self/fd, or a bounded scan without /proc.
pub fn open_fds() -> Vec<i32> {
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        return dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
    }
    // SAFETY: F_GETFD only asks whether an fd is open.
    (0..4096)
        .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1)
        .collect()
}

impl Facts for RealFacts {
    fn fd_open(&self, fd: i32) -> bool {
        // SAFETY: F_GETFD only asks whether an fd is open.
        unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
    }

    fn pipe(&self, fd: i32) -> Option<PipeEnd> {
        pipe_end(fd)
    }

    fn holds_pipe_end(&self, id: (u64, u64), reading: bool) -> bool {
        open_fds()
            .into_iter()
            .filter_map(pipe_end)
            .any(|p| p.id == id && if reading { p.readable } else { p.writable })
    }

    fn is_session_leader(&self) -> bool {
        // SAFETY: no preconditions.
        unsafe { libc::getsid(0) == libc::getpid() }
    }

    fn is_group_leader(&self) -> bool {
        // SAFETY: no preconditions.
        unsafe { libc::getpgrp() == libc::getpid() }
    }

    fn pgrp(&self) -> i32 {
        // SAFETY: no preconditions.
        unsafe { libc::getpgrp() }
    }

    fn can_open(&self, path: &[u8], oflag: i32) -> Result<(), &'static str> {
        let acc = oflag & libc::O_ACCMODE;
        let want = match acc {
            libc::O_RDONLY => libc::R_OK,
            libc::O_WRONLY => libc::W_OK,
            _ => libc::R_OK | libc::W_OK,
        };
        match stat(path) {
            Ok(st) => {
                if oflag & libc::O_CREAT != 0 && oflag & libc::O_EXCL != 0 {
                    return Err("it exists and O_EXCL is set");
                }
                let dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
                if dir && acc != libc::O_RDONLY {
                    return Err("it is a directory");
                }
                if oflag & libc::O_DIRECTORY != 0 && !dir {
                    return Err("it is not a directory");
                }
                if !access(path, want) {
                    return Err("permission denied");
                }
                Ok(())
            }
            Err(libc::ENOENT) if oflag & libc::O_CREAT != 0 => {
                let parent = match path.iter().rposition(|&b| b == b'/') {
                    Some(0) => &b"/"[..],
                    Some(i) => &path[..i],
                    None => &b"."[..],
                };
                if access(parent, libc::W_OK | libc::X_OK) {
                    Ok(())
                } else {
                    Err("cannot create a file in its directory")
                }
            }
            Err(libc::ENOENT) => Err("it does not exist"),
            Err(_) => Err("it cannot be checked"),
        }
    }
}

fn read_file(path: &str) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

fn read_link(path: &str) -> Vec<u8> {
    std::fs::read_link(path)
        .map(|p| p.into_os_string().into_encoded_bytes())
        .unwrap_or_default()
}

/// /proc/PID: parent, state, executable, command line, working directory.
pub fn child(pid: i32) -> Option<crate::handoff::Child> {
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
    Some(crate::handoff::Child {
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

pub fn self_exe() -> Vec<u8> {
    read_link("/proc/self/exe")
}

pub fn cwd() -> Vec<u8> {
    std::env::current_dir()
        .map(|p| p.into_os_string().into_encoded_bytes())
        .unwrap_or_default()
}

/// Does the file start with `#!`?
pub fn is_script(path: &[u8]) -> bool {
    head(path).is_some_and(|h| h.starts_with(b"#!"))
}
