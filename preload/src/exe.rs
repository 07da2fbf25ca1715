//! The basename of the program this process runs, as the core reads it
//! from `/proc/self/exe` — found more cheaply. The first look at
//! `/proc/self` costs a fresh process 15-30 µs here; the path the program was
//! executed by (`AT_EXECFN`) with its final symlinks followed costs ~2 µs and
//! names the same file when that file is an ELF program. When it is not (a
//! `#!` script, a binfmt_misc format: the process runs an interpreter), or
//! anything fails, `/proc/self/exe` is read after all.
//!
//! Raw system calls only: `open` and friends are our own hooks.

use crate::gate;
use core::ffi::CStr;

const PATH_MAX: usize = 4096;
/// As the kernel's own limit on symlinks followed.
const MAX_LINKS: usize = 40;

/// `path` NUL-terminated, for a system call; None if it is too long.
fn c_path(path: &[u8]) -> Option<[u8; PATH_MAX + 1]> {
    let mut z = [0u8; PATH_MAX + 1];
    z.get_mut(..path.len())?.copy_from_slice(path);
    (path.len() <= PATH_MAX).then_some(z)
}

/// `readlink(path)` into `out`: Ok(len), or Err(errno).
unsafe fn readlink(path: &[u8], out: &mut [u8]) -> Result<usize, i32> {
    let Some(z) = c_path(path) else {
        return Err(libc::ENAMETOOLONG);
    };
    let n = libc::syscall(
        libc::SYS_readlinkat,
        libc::AT_FDCWD,
        z.as_ptr(),
        out.as_mut_ptr(),
        out.len(),
    );
    if n < 0 {
        Err(*libc::__errno_location())
    } else {
        Ok(n as usize)
    }
}

/// Does `path` start with the ELF magic?
unsafe fn is_elf(path: &[u8]) -> bool {
    let Some(z) = c_path(path) else {
        return false;
    };
    let fd = libc::syscall(
        libc::SYS_openat,
        libc::AT_FDCWD,
        z.as_ptr(),
        libc::O_RDONLY | libc::O_CLOEXEC,
    );
    if fd < 0 {
        return false;
    }
    let mut magic = [0u8; 4];
    let n = libc::syscall(libc::SYS_read, fd, magic.as_mut_ptr(), 4);
    libc::syscall(libc::SYS_close, fd);
    n == 4 && magic == *b"\x7fELF"
}

/// `AT_EXECFN` with its final symlinks followed, into `path`; its length.
unsafe fn executed_file(path: &mut [u8; PATH_MAX]) -> Option<usize> {
    let execfn = libc::getauxval(libc::AT_EXECFN) as *const libc::c_char;
    if execfn.is_null() {
        return None;
    }
    let start = CStr::from_ptr(execfn).to_bytes();
    if start.is_empty() || start.len() >= PATH_MAX {
        return None;
    }
    path[..start.len()].copy_from_slice(start);
    let mut len = start.len();
    let mut target = [0u8; PATH_MAX];
    for _ in 0..MAX_LINKS {
        match readlink(&path[..len], &mut target) {
            Err(libc::EINVAL) => return Some(len), // not a symlink: the file itself
            Err(_) => return None,
            Ok(n) if n >= PATH_MAX => return None,
            Ok(n) => {
                let mut next = [0u8; PATH_MAX];
                len = gate::follow(&path[..len], &target[..n], &mut next)?;
                path[..len].copy_from_slice(&next[..len]);
            }
        }
    }
    None
}

/// The executable's path (enough for its basename), written into `buf`.
pub unsafe fn path(buf: &mut [u8; PATH_MAX]) -> &[u8] {
    if let Some(len) = executed_file(buf) {
        if is_elf(&buf[..len]) {
            return &buf[..len];
        }
    }
    match readlink(b"/proc/self/exe", buf) {
        Ok(n) if n > 0 && n < PATH_MAX => &buf[..n],
        _ => b"",
    }
}
