//! What fds 1 and 2 are open on (`decide::output`, docs/DESIGN.md,
//! "Conversion" 2): this process's own, with `fstat`, and a child's through
//! `/proc/PID/fd`, for a child whose exec record does not say.

use crate::decide::output::{Kind, Outputs, Stream};
use std::ffi::CString;

fn stream_of(st: &libc::stat) -> Stream {
    Stream::Open {
        dev: st.st_dev,
        ino: st.st_ino,
        kind: Kind::of_mode(st.st_mode),
    }
}

/// fd `fd` of this process. Heap-free and lock-free: also called by a child
/// between fork (or vfork) and exec (`execs::before_exec`).
pub fn own_fd(fd: i32) -> Option<Stream> {
    // SAFETY: fcntl/fstat on an fd number into a zeroed stat we own; a bad
    // fd is an error return, nothing else.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags < 0 {
            return (*libc::__errno_location() == libc::EBADF).then_some(Stream::Closed);
        }
        if flags & libc::FD_CLOEXEC != 0 {
            return Some(Stream::Closed); // the exec closes it
        }
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then(|| stream_of(&st))
    }
}

/// This process's stdout and stderr, now.
pub fn host_outputs() -> Outputs {
    [1, 2].map(|fd| {
        // SAFETY: fstat on an fd number into a zeroed stat we own; errno is
        // read right after.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(fd, &mut st) == 0 {
                return Some(stream_of(&st));
            }
            (*libc::__errno_location() == libc::EBADF).then_some(Stream::Closed)
        }
    })
}

/// Child `pid`'s stdout and stderr, as `/proc/PID/fd` shows them now: what
/// it exec'd with, unless it changed them since. `None` where `/proc` cannot
/// tell, such as once it has ended (a zombie has no fds left).
pub fn child_outputs(pid: i32) -> Outputs {
    let outputs = [1, 2].map(|fd| child_fd(pid, fd));
    // A missing fd of a child that has ended (or ends meanwhile) says
    // nothing about what it had.
    if outputs.contains(&Some(Stream::Closed)) && !running(pid) {
        return [None, None];
    }
    outputs
}

fn child_fd(pid: i32, fd: i32) -> Option<Stream> {
    let path = CString::new(format!("/proc/{pid}/fd/{fd}")).ok()?;
    // SAFETY: stat follows the fd's link to the open file, into a zeroed
    // stat we own; the path is NUL-terminated.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::stat(path.as_ptr(), &mut st) == 0 {
            return Some(stream_of(&st));
        }
        (*libc::__errno_location() == libc::ENOENT).then_some(Stream::Closed)
    }
}

/// `pid` exists and is not a zombie.
fn running(pid: i32) -> bool {
    crate::facts::proc::child(pid).is_some_and(|c| c.state != b'Z')
}
