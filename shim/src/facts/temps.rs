//! What the temps hooks ask the kernel (docs/DESIGN.md, "Conversion" 12),
//! heap-free: they run in any thread of the host, or a signal handler. The
//! working directory, the path a directory fd names, and a file's identity.

use libc::c_int;

/// A file's identity and whether it is a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
    pub dir: bool,
}

fn of(st: &libc::stat) -> Identity {
    Identity {
        dev: st.st_dev,
        ino: st.st_ino,
        dir: st.st_mode & libc::S_IFMT == libc::S_IFDIR,
    }
}

/// The working directory into `buf`; its length.
pub fn cwd_into(buf: &mut [u8]) -> Option<usize> {
    // SAFETY: getcwd writes at most `buf.len()` bytes into our buffer (and
    // never allocates when given one).
    let p = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    if p.is_null() {
        return None;
    }
    buf.iter().position(|&b| b == 0)
}

/// The path an open directory fd names (`/proc/self/fd/N`) into `buf`.
pub fn fd_path_into(fd: c_int, buf: &mut [u8]) -> Option<usize> {
    let mut link = [0u8; 32];
    let prefix = b"/proc/self/fd/";
    link[..prefix.len()].copy_from_slice(prefix);
    let mut digits = [0u8; 10];
    let mut n = u32::try_from(fd).ok()?;
    let mut count = 0;
    loop {
        *digits.get_mut(count)? = b'0' + (n % 10) as u8;
        count += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for (i, d) in digits[..count].iter().rev().enumerate() {
        link[prefix.len() + i] = *d;
    }
    // SAFETY: `link` is NUL-terminated (zeroed past the digits); readlink
    // writes at most `buf.len()` bytes into our buffer.
    let n = unsafe { libc::readlink(link.as_ptr().cast(), buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).ok().filter(|&n| n > 0 && n < buf.len())
}

/// `fstatat(dirfd, path, AT_SYMLINK_NOFOLLOW)`: Ok(identity), or Err(errno).
///
/// # Safety
/// `path` must be a NUL-terminated string.
pub unsafe fn lstat_at(dirfd: c_int, path: *const libc::c_char) -> Result<Identity, c_int> {
    let mut st: libc::stat = std::mem::zeroed();
    if libc::fstatat(dirfd, path, &mut st, libc::AT_SYMLINK_NOFOLLOW) == 0 {
        Ok(of(&st))
    } else {
        Err(*libc::__errno_location())
    }
}

/// The identity of an open fd.
pub fn fd_identity(fd: c_int) -> Option<Identity> {
    // SAFETY: fstat into a zeroed buffer we own; a bad fd is only EBADF.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then(|| of(&st))
    }
}
