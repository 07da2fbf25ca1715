//! The pids of this process's children and of every process, read from
//! `/proc` without allocating: asked from inside the host's cleanups, where
//! a wait or kill may run in a signal handler (docs/DESIGN.md, "Conversion"
//! 2, the archiver hidden from the cleanups). Nothing here changes anything.

use std::ffi::CStr;

/// The record header of `getdents64` (`struct linux_dirent64`) up to the name.
const DIRENT_NAME: usize = 19;

/// Calls `f` with every child of this process (every thread's children,
/// `/proc/self/task/TID/children`) until it returns `false`. `None`: /proc
/// could not be read.
pub fn each_child(mut f: impl FnMut(i32) -> bool) -> Option<()> {
    let mut go_on = true;
    each_number_in(c"/proc/self/task", |tid| {
        let mut path = Path::new();
        path.push(b"/proc/self/task/");
        path.push_number(tid);
        path.push(b"/children\0");
        if numbers_in_file(path.as_cstr(), &mut |pid| {
            go_on = f(pid);
            go_on
        })
        .is_none()
        {
            return true; // the thread ended meanwhile
        }
        go_on
    })
}

/// Calls `f` with the pid of every process (the numeric entries of /proc)
/// until it returns `false`.
pub fn each_process(f: impl FnMut(i32) -> bool) -> Option<()> {
    each_number_in(c"/proc", f)
}

/// The numeric entry names of directory `dir`, through `getdents64` into a
/// buffer on the stack.
fn each_number_in(dir: &CStr, mut f: impl FnMut(i32) -> bool) -> Option<()> {
    // SAFETY: a NUL-terminated path; the fd is closed below.
    let fd = unsafe {
        libc::open(
            dir.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    let mut buf = [0u8; 4096];
    let result = 'read: loop {
        // SAFETY: getdents64 writes at most buf.len() bytes into buf.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            break None;
        }
        if n == 0 {
            break Some(());
        }
        let mut at = 0usize;
        let end = usize::try_from(n).unwrap_or(0).min(buf.len());
        while at + DIRENT_NAME <= end {
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            if reclen == 0 || at + reclen > end {
                break 'read None;
            }
            let name = &buf[at + DIRENT_NAME..at + reclen];
            let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
            if let Some(pid) = parse_pid(name) {
                if !f(pid) {
                    break 'read Some(());
                }
            }
            at += reclen;
        }
    };
    // SAFETY: our own fd.
    unsafe { libc::close(fd) };
    result
}

/// The whitespace-separated numbers of a small /proc file, read in chunks
/// into a buffer on the stack.
fn numbers_in_file(path: &CStr, f: &mut dyn FnMut(i32) -> bool) -> Option<()> {
    // SAFETY: a NUL-terminated path; the fd is closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut buf = [0u8; 512];
    let mut number: Option<i64> = None;
    let mut go_on = true;
    while go_on {
        // SAFETY: read writes at most buf.len() bytes into buf.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        let Ok(n) = usize::try_from(n) else { break };
        if n == 0 {
            break;
        }
        for &b in buf.iter().take(n) {
            if b.is_ascii_digit() {
                let d = i64::from(b - b'0');
                number = Some(number.unwrap_or(0).saturating_mul(10).saturating_add(d));
            } else if let Some(v) = number.take() {
                go_on = go_on && i32::try_from(v).map_or(true, &mut *f);
            }
        }
    }
    if let Some(v) = number {
        if go_on {
            if let Ok(pid) = i32::try_from(v) {
                f(pid);
            }
        }
    }
    // SAFETY: our own fd.
    unsafe { libc::close(fd) };
    Some(())
}

fn parse_pid(name: &[u8]) -> Option<i32> {
    if name.is_empty() || name.len() > 10 || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = name.iter().fold(0i64, |v, &b| v * 10 + i64::from(b - b'0'));
    i32::try_from(v).ok().filter(|&p| p > 0)
}

/// A path built on the stack: "/proc/self/task/TID/children" and the like.
struct Path {
    buf: [u8; 64],
    len: usize,
}

impl Path {
    fn new() -> Path {
        Path {
            buf: [0; 64],
            len: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
    }

    fn push_number(&mut self, n: i32) {
        let mut digits = [0u8; 12];
        let mut i = digits.len();
        let mut v = n.unsigned_abs();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 || i == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    /// The path, if it fit and ends with its NUL.
    fn as_cstr(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.buf[..self.len]).unwrap_or(c"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_this_process_and_a_child() {
        let mut seen_me = false;
        let me = std::process::id() as i32;
        each_process(|p| {
            seen_me |= p == me;
            true
        });
        assert!(seen_me);
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let mut found = false;
        each_child(|p| {
            found |= p == child.id() as i32;
            true
        });
        let _ = child.kill();
        let _ = child.wait();
        assert!(found);
    }

    #[test]
    fn paths_and_names() {
        let mut p = Path::new();
        p.push(b"/proc/self/task/");
        p.push_number(12345);
        p.push(b"/children\0");
        assert_eq!(p.as_cstr().to_bytes(), b"/proc/self/task/12345/children");
        assert_eq!(parse_pid(b"42"), Some(42));
        assert_eq!(parse_pid(b"self"), None);
        assert_eq!(parse_pid(b"0"), None);
    }
}
