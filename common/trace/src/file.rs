//! Opening the trace file safely (docs/DESIGN.md, "Trace events"): the path
//! comes from the environment, so it may name anything — a FIFO nobody reads
//! (a blocking open would hang every process of the build), a symlink planted
//! to redirect the writes, a directory, a device. Only a regular file reached
//! without following a final symlink is ever written; anything else is
//! refused before a byte is written, and never waited on.
//!
//! Raw system calls only: libc's `open` and `write` are the core's own
//! observe-mode hooks, which would record the trace's own writes.

use alloc::ffi::CString;
use alloc::format;
use alloc::string::String;
use core::ffi::c_int;

/// Why a trace path is not written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// The path holds a NUL byte.
    BadPath,
    /// Its last component is a symlink: not followed.
    Symlink,
    /// It exists and is not a regular file: what it is.
    NotRegular(&'static str),
    /// It cannot be opened for writing: the errno.
    Open(c_int),
}

impl Unusable {
    /// What is wrong, for a warning line.
    pub fn describe(self) -> String {
        match self {
            Unusable::BadPath => String::from("the path holds a NUL byte"),
            Unusable::Symlink => String::from("a symlink, which is not followed"),
            Unusable::NotRegular(what) => format!("{what}, not a regular file"),
            Unusable::Open(errno) => {
                format!("cannot be opened for writing ({})", errno_name(errno))
            }
        }
    }
}

/// The one warning line's text for a trace path that is not used: the path
/// quoted (at most [`QUOTED_MAX`] bytes of it) and why.
pub fn warning(path: &[u8], why: Unusable) -> String {
    let shown = &path[..path.len().min(QUOTED_MAX)];
    let more = if shown.len() < path.len() { "…" } else { "" };
    format!(
        "ignoring ARSHIM_TRACE={:?}{more}: {}; no trace is written",
        String::from_utf8_lossy(shown),
        why.describe()
    )
}

/// How much of a bad value a warning quotes.
pub const QUOTED_MAX: usize = 80;

/// Opens `path` for appending events: `O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC|
/// O_NOFOLLOW|O_NONBLOCK|O_NOCTTY` (mode 0644 when created), checks on the
/// open descriptor that it is a regular file, then clears `O_NONBLOCK` so
/// that writes are whole. The caller closes the descriptor.
pub fn open_append(path: &[u8]) -> Result<c_int, Unusable> {
    let cpath = CString::new(path).map_err(|_| Unusable::BadPath)?;
    // Refused without opening when it is already plainly not a regular
    // file: opening a device or a FIFO can have effects of its own.
    if let Ok(st) = stat_at(libc::AT_FDCWD, &cpath, libc::AT_SYMLINK_NOFOLLOW) {
        not_regular(st.st_mode)?;
    }
    let flags = libc::O_WRONLY
        | libc::O_APPEND
        | libc::O_CREAT
        | libc::O_CLOEXEC
        | libc::O_NOFOLLOW
        | libc::O_NONBLOCK
        | libc::O_NOCTTY;
    // SAFETY: openat on a NUL-terminated path we own.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            cpath.as_ptr(),
            flags,
            0o644,
        )
    };
    if fd < 0 {
        return Err(open_error(errno()));
    }
    let fd = fd as c_int;
    match check_and_block(fd) {
        Ok(()) => Ok(fd),
        Err(why) => {
            close(fd);
            Err(why)
        }
    }
}

/// Appends `line` with one `write` (O_APPEND keeps lines from several
/// processes whole) and closes the file; errors are ignored.
pub fn append(path: &[u8], line: &[u8]) {
    if let Ok(fd) = open_append(path) {
        write_once(fd, line);
        close(fd);
    }
}

/// One `write` of `line` to `fd`; a short or failed write is ignored.
pub fn write_once(fd: c_int, line: &[u8]) {
    // SAFETY: write of a buffer we own.
    unsafe { libc::syscall(libc::SYS_write, fd, line.as_ptr(), line.len()) };
}

/// The descriptor is a regular file (what the path named at open time, a
/// race with a swap included); then writes block again.
fn check_and_block(fd: c_int) -> Result<(), Unusable> {
    let st = stat_at(fd, c"", libc::AT_EMPTY_PATH).map_err(Unusable::Open)?;
    not_regular(st.st_mode)?;
    // F_SETFL sets the status flags whole: O_APPEND kept, O_NONBLOCK cleared.
    // SAFETY: fcntl on a descriptor we own.
    if unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_SETFL, libc::O_APPEND) } < 0 {
        return Err(Unusable::Open(errno()));
    }
    Ok(())
}

fn not_regular(mode: libc::mode_t) -> Result<(), Unusable> {
    let what = match mode & libc::S_IFMT {
        libc::S_IFREG => return Ok(()),
        libc::S_IFLNK => return Err(Unusable::Symlink),
        libc::S_IFDIR => "a directory",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFSOCK => "a socket",
        _ => "of an unknown kind",
    };
    Err(Unusable::NotRegular(what))
}

/// What a failed open means here.
fn open_error(errno: c_int) -> Unusable {
    match errno {
        // O_NOFOLLOW on a final symlink.
        libc::ELOOP => Unusable::Symlink,
        libc::EISDIR => Unusable::NotRegular("a directory"),
        // O_WRONLY|O_NONBLOCK: a FIFO without a reader, or a device with
        // nothing behind it.
        libc::ENXIO => Unusable::NotRegular("a FIFO with no reader, or a device"),
        e => Unusable::Open(e),
    }
}

/// `newfstatat(dirfd, path, flags)` as a raw system call.
fn stat_at(dirfd: c_int, path: &core::ffi::CStr, flags: c_int) -> Result<libc::stat, c_int> {
    // SAFETY: all-zero is a valid `stat` (plain integers).
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: the kernel writes the `stat` we own; `path` is NUL-terminated.
    let r = unsafe {
        libc::syscall(
            libc::SYS_newfstatat,
            dirfd,
            path.as_ptr(),
            &mut st as *mut libc::stat,
            flags,
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(st)
    }
}

fn close(fd: c_int) {
    // SAFETY: closes a descriptor we opened.
    unsafe { libc::syscall(libc::SYS_close, fd) };
}

fn errno() -> c_int {
    // SAFETY: the calling thread's errno, set by the failed system call.
    unsafe { *libc::__errno_location() }
}

/// The usual name of the errors a trace path meets, else the number.
fn errno_name(errno: c_int) -> String {
    let name = match errno {
        libc::EACCES => "EACCES: permission denied",
        libc::EPERM => "EPERM: operation not permitted",
        libc::ENOENT => "ENOENT: no such directory",
        libc::ENOTDIR => "ENOTDIR: a component is not a directory",
        libc::EROFS => "EROFS: read-only file system",
        libc::ENOSPC => "ENOSPC: no space left",
        libc::ETXTBSY => "ETXTBSY: a running program",
        libc::ENAMETOOLONG => "ENAMETOOLONG: path too long",
        _ => return format!("errno {errno}"),
    };
    String::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::path::PathBuf;

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("arshim-trace-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn bytes(p: &std::path::Path) -> &[u8] {
        p.as_os_str().as_bytes()
    }

    #[test]
    fn a_regular_file_is_created_and_written_blocking() {
        let s = Scratch::new("regular");
        let p = s.path("t.jsonl");
        let fd = open_append(bytes(&p)).expect("a new file in a writable directory");
        // SAFETY: F_GETFL on the descriptor just opened.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        assert_eq!(flags & libc::O_NONBLOCK, 0, "O_NONBLOCK cleared");
        assert_ne!(flags & libc::O_APPEND, 0, "O_APPEND kept");
        // SAFETY: F_GETFD on the same descriptor.
        assert_ne!(
            unsafe { libc::fcntl(fd, libc::F_GETFD) } & libc::FD_CLOEXEC,
            0
        );
        close(fd);
        append(bytes(&p), b"one\n");
        append(bytes(&p), b"two\n");
        assert_eq!(std::fs::read(&p).unwrap(), b"one\ntwo\n");
    }

    #[test]
    fn a_fifo_without_reader_is_refused_at_once() {
        let s = Scratch::new("fifo");
        let p = s.path("fifo");
        let c = CString::new(bytes(&p)).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        assert!(matches!(
            open_append(bytes(&p)),
            Err(Unusable::NotRegular(_))
        ));
    }

    #[test]
    fn symlinks_directories_and_bad_paths_are_refused() {
        let s = Scratch::new("refused");
        let target = s.path("target");
        std::fs::write(&target, b"kept\n").unwrap();
        let link = s.path("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(open_append(bytes(&link)), Err(Unusable::Symlink));
        append(bytes(&link), b"x\n");
        assert_eq!(std::fs::read(&target).unwrap(), b"kept\n", "not followed");
        let dangling = s.path("dangling");
        std::os::unix::fs::symlink(s.path("nowhere"), &dangling).unwrap();
        assert_eq!(open_append(bytes(&dangling)), Err(Unusable::Symlink));
        assert!(!s.path("nowhere").exists(), "no file made through it");
        assert_eq!(
            open_append(bytes(&s.0)),
            Err(Unusable::NotRegular("a directory"))
        );
        assert_eq!(
            open_append(bytes(&s.path("no/such/dir"))),
            Err(Unusable::Open(libc::ENOENT))
        );
        assert_eq!(open_append(b"a\0b"), Err(Unusable::BadPath));
        assert_eq!(
            open_append(b"/dev/null"),
            Err(Unusable::NotRegular("a character device"))
        );
    }

    #[test]
    fn the_warning_quotes_a_bounded_path() {
        let w = warning(b"/tmp/fifo", Unusable::NotRegular("a FIFO"));
        assert_eq!(
            w,
            "ignoring ARSHIM_TRACE=\"/tmp/fifo\": a FIFO, not a regular file; no trace is written"
        );
        let long = [b'x'; 1000];
        let w = warning(&long, Unusable::Open(libc::EACCES));
        assert!(w.len() < 200, "{w}");
        assert!(
            w.contains("x\"…: cannot be opened for writing (EACCES"),
            "{w}"
        );
    }
}
