//! What the temps hooks ask the kernel (docs/DESIGN.md, "Conversion" 12),
//! heap-free: they run in any thread of the host, or a signal handler. The
//! working directory, the path a directory fd names, and a file's identity.

use libc::c_int;

/// A file's identity: (dev, ino), its type, and its birth time when the
/// file system keeps one (an inode number freed by a deletion is often
/// given to the next file made: the birth time tells them apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
    /// `st_mode & S_IFMT`.
    pub kind: u32,
    /// Seconds and nanoseconds; (0, 0) when unknown.
    pub born: (i64, u32),
}

impl Identity {
    pub fn is_dir(&self) -> bool {
        self.kind == libc::S_IFDIR
    }
}

fn of(st: &libc::statx) -> Identity {
    let born = if st.stx_mask & libc::STATX_BTIME != 0 {
        (st.stx_btime.tv_sec, st.stx_btime.tv_nsec)
    } else {
        (0, 0)
    };
    Identity {
        dev: libc::makedev(st.stx_dev_major, st.stx_dev_minor),
        ino: st.stx_ino,
        kind: u32::from(st.stx_mode) & libc::S_IFMT,
        born,
    }
}

/// `statx` of `path` relative to `dirfd` with `flags`.
///
/// # Safety
/// `path` must be a NUL-terminated string.
unsafe fn statx(dirfd: c_int, path: *const libc::c_char, flags: c_int) -> Result<Identity, c_int> {
    let mut st: libc::statx = std::mem::zeroed();
    let wanted = libc::STATX_TYPE | libc::STATX_INO | libc::STATX_BTIME;
    if libc::statx(dirfd, path, flags, wanted, &mut st) == 0 {
        Ok(of(&st))
    } else {
        Err(*libc::__errno_location())
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

/// The identity of `path` relative to `dirfd`, not following a final
/// symlink: Ok(identity), or Err(errno).
///
/// # Safety
/// `path` must be a NUL-terminated string.
pub unsafe fn lstat_at(dirfd: c_int, path: *const libc::c_char) -> Result<Identity, c_int> {
    statx(dirfd, path, libc::AT_SYMLINK_NOFOLLOW)
}

/// The identity of an open fd.
pub fn fd_identity(fd: c_int) -> Option<Identity> {
    // SAFETY: an empty NUL-terminated path with AT_EMPTY_PATH names `fd`
    // itself; a bad fd is only EBADF.
    unsafe { statx(fd, c"".as_ptr(), libc::AT_EMPTY_PATH).ok() }
}

/// Now, by the coarse real-time clock: the clock the kernel stamps a new
/// file's birth time with, so a file made after this call is never born
/// before it (a finer clock may run ahead of the stamps).
pub fn coarse_now() -> (i64, u32) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into our timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } != 0 {
        return (i64::MAX, 0); // unknown: nothing counts as born since
    }
    (ts.tv_sec, u32::try_from(ts.tv_nsec).unwrap_or(0))
}
