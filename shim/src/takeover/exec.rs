//! What replaces the process: an `Exec` (path, argv, envp as owned C
//! strings, all copied before the host's cleanups run) and the `execve` of
//! it. Reads the host's string vectors; `execve` is the only call that acts.

use crate::ffi::real::REAL;
use libc::{c_char, c_int};
use std::ffi::{CStr, CString};

extern "C" {
    static environ: *const *mut c_char;
}

/// What to `execve`, fully built before the cleanups run.
#[derive(Default)]
pub struct Exec {
    pub path: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
}

/// A NULL-terminated array of C strings, copied.
///
/// # Safety
/// `v` is NULL or a NULL-terminated array of valid C strings.
pub unsafe fn copy_vector(v: *const *mut c_char) -> Vec<CString> {
    let mut out = Vec::new();
    if v.is_null() {
        return out;
    }
    let mut i = 0;
    loop {
        let p = *v.add(i);
        if p.is_null() {
            return out;
        }
        out.push(CStr::from_ptr(p).to_owned());
        i += 1;
    }
}

/// A copy of this process's environment.
pub fn environ_copy() -> Vec<CString> {
    // SAFETY: environ is a NULL-terminated array of C strings.
    unsafe { copy_vector(environ) }
}

/// The environment for the new image: the host's claim is marked spent so
/// the image (same pid) never converts again.
pub fn mark_spent(mut envp: Vec<CString>, pid: i32) -> Vec<CString> {
    envp.retain(|e| !e.as_bytes().starts_with(b"ARSHIM_SPENT="));
    let spent = format!("ARSHIM_SPENT={}", arshim_common::gate::pid_text(pid));
    envp.push(CString::new(spent).expect("no NUL in a number"));
    envp
}

/// execve; returns only the error.
///
/// # Safety
/// Replaces the process when it succeeds: call only at the end of a takeover.
pub unsafe fn execve(exec: &Exec) -> std::io::Error {
    let mut argv: Vec<*const c_char> = exec.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const c_char> = exec.envp.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // The C library's execve, not the preload's: this is the host's own
    // image being replaced, not a child telling what it execs
    // (docs/DESIGN.md, "Conversion" 2). Resolved when the shim was turned on.
    match REAL.execve.get() {
        Some(real) => real(
            exec.path.as_ptr(),
            argv.as_ptr().cast(),
            envp.as_ptr().cast(),
        ),
        None => libc::syscall(
            libc::SYS_execve,
            exec.path.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
        ) as c_int,
    };
    std::io::Error::last_os_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spent_marker_replaces_an_old_one() {
        let env = vec![
            CString::new("A=1").unwrap(),
            CString::new("ARSHIM_SPENT=3").unwrap(),
        ];
        let out = mark_spent(env, 42);
        let out: Vec<_> = out.iter().map(|c| c.to_str().unwrap()).collect();
        assert_eq!(out, ["A=1", "ARSHIM_SPENT=0000042"]);
    }
}
