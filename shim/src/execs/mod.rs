//! The exec record (docs/DESIGN.md, "Conversion" 2): what a child of the
//! process in scope tells, at the moment it execs, about what it execs.
//! The exec hooks (`ffi/`) call [`before_exec`] in the child just before the
//! real exec and [`exec_failed`] if the real exec returned.

use libc::{c_char, c_int};

/// What a child asked to exec, as the exec hook received it.
#[derive(Clone, Copy)]
pub enum Program {
    /// `execve`, `execv`, `execle`, `execl`: a path, relative to the working
    /// directory unless absolute.
    Path(*const c_char),
    /// `execvp`, `execvpe`, `execlp`: a file searched on PATH (a path if it
    /// holds a `/`).
    Search(*const c_char),
    /// `fexecve`: an open file.
    Fd(c_int),
    /// `execveat(dirfd, path, …, flags)`.
    At {
        dirfd: c_int,
        path: *const c_char,
        flags: c_int,
    },
}

/// One exec call, as the hook received it.
pub struct Exec {
    /// The C function called (`execve`, `execvp`, …).
    pub call: &'static str,
    pub program: Program,
    /// The NULL-terminated argument vector.
    pub argv: *const *mut c_char,
}

/// An exec recorded by [`before_exec`], to be marked failed if the real
/// exec returns.
pub struct Pending(());

/// Records `exec` if this is a child of the process in scope. Called in the
/// child between fork (or vfork) and exec: no heap, no lock, no logging.
///
/// # Safety
/// The pointers of `exec` are those the host passed to the exec call.
pub unsafe fn before_exec(exec: &Exec) -> Option<Pending> {
    let _ = exec;
    None
}

/// The real exec returned (it failed): the record says so. errno is the
/// caller's to keep.
///
/// # Safety
/// Called in the same child, right after the real exec returned.
pub unsafe fn exec_failed(pending: Pending) {
    let _ = pending;
}
