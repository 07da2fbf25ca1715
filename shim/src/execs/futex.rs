//! The kernel calls the exec record rests on: futex wait and wake on words
//! of the shared table (shared futexes: no `FUTEX_PRIVATE_FLAG`, the waiter
//! and the waker are different processes), and the robust list a child
//! registers so that the kernel marks its word when it execs or dies
//! (`set_robust_list(2)`; the kernel walks it at `execve` after the point of
//! no return and at exit). Raw syscalls: callable between fork and exec.

use super::table::RobustHead;
use std::sync::atomic::AtomicU32;

pub use libc::{
    FUTEX_OWNER_DIED as OWNER_DIED, FUTEX_TID_MASK as TID_MASK, FUTEX_WAITERS as WAITERS,
};

/// How a futex wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Woken {
    /// Woken, or the word no longer held the value: look again.
    Look,
    /// A signal handler ran and the call is not restarted (no SA_RESTART):
    /// what a blocking wait call answers with EINTR.
    Interrupted,
}

/// Sleeps while `word` holds `value`, without time limit. Like `wait4`, the
/// kernel restarts it after a handler installed with SA_RESTART and returns
/// EINTR after one without.
pub fn wait(word: &AtomicU32, value: u32) -> Woken {
    // SAFETY: FUTEX_WAIT on a 4-byte aligned word of ours (in the shared
    // table, mapped for the whole life of the process); no timeout.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            value,
            std::ptr::null::<libc::timespec>(),
        )
    };
    // SAFETY: reading the calling thread's errno.
    if rc == -1 && unsafe { *libc::__errno_location() } == libc::EINTR {
        return Woken::Interrupted;
    }
    Woken::Look
}

/// Wakes every waiter on `word`. Keeps errno (it runs in hooks).
pub fn wake(word: &AtomicU32) {
    // SAFETY: errno of the calling thread is saved and restored around a
    // FUTEX_WAKE on a word of ours.
    unsafe {
        let saved = *libc::__errno_location();
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
        *libc::__errno_location() = saved;
    }
}

/// The calling thread's id.
pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// The robust list registered for the calling thread (head, length).
pub fn robust_list() -> Option<(usize, usize)> {
    let mut head: *mut libc::c_void = std::ptr::null_mut();
    let mut len: libc::size_t = 0;
    // SAFETY: pid 0 is the calling thread; both out-pointers are ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_robust_list,
            0,
            &mut head as *mut *mut libc::c_void,
            &mut len as *mut libc::size_t,
        )
    };
    (rc == 0).then_some((head as usize, len))
}

/// Registers `head` as the calling thread's robust list.
///
/// # Safety
/// `head` is a valid robust list head (or null) for as long as it stays
/// registered: until the thread execs or exits, or registers another.
pub unsafe fn set_robust_list(head: *mut RobustHead, len: usize) -> bool {
    libc::syscall(libc::SYS_set_robust_list, head, len) == 0
}

pub const HEAD_LEN: usize = std::mem::size_of::<RobustHead>();
