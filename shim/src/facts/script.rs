//! The script this interpreter process runs, for its verdict key
//! (docs/DESIGN.md, "Verdicts"): its own argv from `/proc/self/cmdline`,
//! read with raw calls (this runs in the constructor), the operand chosen by
//! `decide::script`, resolved against the working directory the interpreter
//! starts in, and the hash of the file. Anything that cannot be read is no
//! script, so no verdict.

use crate::decide::script::script_operand;
use crate::decide::verdicts::Fnv1a;
use std::ffi::CString;

/// A command line longer than this is not read (the kernel's limit on one
/// argument is 128 KiB; a script interpreter's line is short).
const MAX_CMDLINE: usize = 256 << 10;

/// The canonical path of the script `interpreter` (a basename) runs, if
/// `decide::script` names one and it is a regular file.
pub fn own_script(interpreter: &[u8]) -> Option<Vec<u8>> {
    let cmdline = read_small(c"/proc/self/cmdline", MAX_CMDLINE)?;
    // NUL-terminated arguments: the last terminator leaves an empty tail.
    let body = cmdline.strip_suffix(&[0])?;
    let mut args = body.split(|&b| b == 0);
    args.next()?; // argv[0]
    let args: Vec<&[u8]> = args.collect();
    let operand = script_operand(interpreter, &args)?;
    let path = canonical(operand)?;
    is_regular(&path).then_some(path)
}

/// This process's own command line (NUL-terminated arguments), read with
/// raw calls (this runs in the constructor); `None` if it cannot be read or
/// is longer than 256 KiB.
pub fn own_cmdline() -> Option<Vec<u8>> {
    read_small(c"/proc/self/cmdline", MAX_CMDLINE)
}

/// `fnv1a64:HEX` of the regular file at `path`, opened without blocking (a
/// FIFO put in its place would otherwise wait for a writer and lose its
/// bytes to us); `None` if it cannot be read.
pub fn script_id(path: &[u8]) -> Option<String> {
    let c = CString::new(path).ok()?;
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: NUL-terminated path; the fd is ours and closed below.
    let fd = unsafe { libc::open(c.as_ptr(), flags) };
    if fd < 0 {
        return None;
    }
    let id = if fd_is_regular(fd) { hash_fd(fd) } else { None };
    // SAFETY: closing the fd we opened.
    unsafe { libc::close(fd) };
    id
}

fn hash_fd(fd: i32) -> Option<String> {
    let mut hash = Fnv1a::default();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        // SAFETY: reading into a buffer we own, bounded by its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        match n {
            0 => return Some(hash.id()),
            n if n > 0 => hash.feed(buf.get(..n as usize)?),
            _ if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
            _ => return None,
        }
    }
}

/// realpath(3): symlinks, `.` and `..` resolved against the working directory.
fn canonical(path: &[u8]) -> Option<Vec<u8>> {
    let c = CString::new(path).ok()?;
    // SAFETY: NUL-terminated path; with a null buffer realpath mallocs the
    // result, which is copied and freed here.
    unsafe {
        let out = libc::realpath(c.as_ptr(), std::ptr::null_mut());
        if out.is_null() {
            return None;
        }
        let bytes = std::ffi::CStr::from_ptr(out).to_bytes().to_vec();
        libc::free(out.cast());
        Some(bytes)
    }
}

fn is_regular(path: &[u8]) -> bool {
    let Ok(c) = CString::new(path) else {
        return false;
    };
    // SAFETY: zeroed stat is a valid out-buffer; NUL-terminated path.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::stat(c.as_ptr(), &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFREG
    }
}

fn fd_is_regular(fd: i32) -> bool {
    // SAFETY: zeroed stat is a valid out-buffer for fstat on our fd.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFREG
    }
}

/// A small /proc file's bytes, at most `max` (more is `None`).
fn read_small(path: &std::ffi::CStr, max: usize) -> Option<Vec<u8>> {
    // SAFETY: NUL-terminated path; the fd is ours and closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    let ok = loop {
        // SAFETY: reading into a stack buffer we own, bounded by its length.
        let n = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
        match n {
            0 => break true,
            n if n > 0 => out.extend_from_slice(chunk.get(..n as usize).unwrap_or_default()),
            _ if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
            _ => break false,
        }
        if out.len() > max {
            break false;
        }
    };
    // SAFETY: closing the fd we opened.
    unsafe { libc::close(fd) };
    ok.then_some(out)
}
