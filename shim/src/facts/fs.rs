//! Read-only questions to the file system and this process's fds: the real
//! side of `resolve::Probe` and `plan::Facts`, `#!` and `realpath`.

use crate::decide::plan::{Facts, PipeEnd};
use crate::decide::resolve::{
    elf_runs_here, shebang_argument, shebang_interpreter, Candidate, Probe,
};
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

/// The start of this process's own executable: an ELF file this kernel
/// runs, to compare an archiver's header with.
fn own_header() -> Option<Vec<u8>> {
    head(b"/proc/self/exe")
}

/// A script's interpreter, if ELF, is one this machine runs (else the
/// script's `execve` is ENOEXEC too).
fn runs_here_if_elf(path: &[u8]) -> bool {
    match head(path) {
        Some(h) if h.starts_with(b"\x7fELF") => {
            own_header().is_some_and(|own| elf_runs_here(&h, &own))
        }
        _ => true,
    }
}

/// A `#!` script's interpreter and its optional argument, as the kernel
/// reads them (what its `execve` adds to the arguments), or None for any
/// other file.
pub fn shebang(path: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let head = head(path)?;
    let interp = shebang_interpreter(&head)?.to_vec();
    Some((interp, shebang_argument(&head).map(<[u8]>::to_vec)))
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
            // Another machine's ELF: ENOEXEC (docs/DESIGN.md, "Conversion" 1).
            if !own_header().is_some_and(|own| elf_runs_here(&head, &own)) {
                return Candidate::Foreign;
            }
            // A missing program interpreter: execve says ENOENT, as for a
            // missing file (and execvp goes on along PATH).
            return match crate::decide::resolve::elf_interpreter(&head) {
                Some(interp) if stat(interp).map(|st| !is_reg(&st)).unwrap_or(true) => {
                    Candidate::Missing
                }
                _ => Candidate::Elf,
            };
        }
        match shebang_interpreter(&head) {
            Some(interp) => {
                let ok = stat(interp).map(|st| is_reg(&st)).unwrap_or(false)
                    && access(interp, libc::X_OK)
                    && runs_here_if_elf(interp);
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

/// Does the file start with `#!`?
pub fn is_script(path: &[u8]) -> bool {
    head(path).is_some_and(|h| h.starts_with(b"#!"))
}

/// The path with every symlink resolved (`realpath`), if it exists.
pub fn canonical(path: &[u8]) -> Option<Vec<u8>> {
    let c = CString::new(path).ok()?;
    // SAFETY: realpath with a NULL buffer allocates the result, freed below.
    unsafe {
        let p = libc::realpath(c.as_ptr(), std::ptr::null_mut());
        if p.is_null() {
            return None;
        }
        let out = std::ffi::CStr::from_ptr(p).to_bytes().to_vec();
        libc::free(p.cast());
        Some(out)
    }
}

/// What `path` (relative to `dirfd`) names now, a symlink not followed:
/// its (dev, ino), or `None` when it cannot be looked up.
pub fn identity_at(dirfd: i32, path: &std::ffi::CStr) -> Option<(u64, u64)> {
    // SAFETY: zeroed stat is a valid out-buffer; `path` is NUL-terminated.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstatat(dirfd, path.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) == 0)
            .then_some((st.st_dev, st.st_ino))
    }
}
