//! Run mode: spawn the archiver the host meant to spawn. The library already
//! resolved its path and set up fds 0/1/2 and the signal mask in this
//! process, so this is a plain `posix_spawn` with no file actions.

use std::borrow::Cow;
use std::ffi::{CStr, CString};
use std::io;

use nix::spawn::{posix_spawn, PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags};
use nix::sys::signal::SigSet;

/// The loader's variable (the reaper binary has no `settings` module).
const PRELOAD: &str = "LD_PRELOAD";

/// Where the library keeps the host's `LD_PRELOAD` while the reaper runs
/// without the library (it must never load the library's hooks itself).
pub const REAP_PRELOAD: &str = "ARSHIM_REAP_PRELOAD";

extern "C" {
    /// The C library's environment (POSIX).
    static environ: *const *const libc::c_char;
}

/// The reaper's own environment, `NAME=value` strings as `environ` has them
/// (read directly: std's copy would cost allocations and code pages).
pub fn own_environment() -> Vec<&'static CStr> {
    let mut entries = Vec::new();
    // SAFETY: the reaper has one thread and nothing modifies the environment
    // while it runs: `environ` is a null-terminated array of C strings that
    // live as long as the process.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            entries.push(CStr::from_ptr(*entry));
            entry = entry.add(1);
        }
    }
    entries
}

/// The archiver's environment: `entries` (ours), with `LD_PRELOAD` set back
/// to the value the library put aside, when it did, and the stash removed.
/// Order is kept; a restored `LD_PRELOAD` that was absent is appended.
pub fn environment<'a>(entries: &[&'a CStr]) -> Vec<Cow<'a, CStr>> {
    let Some(stashed) = entries.iter().find_map(|e| value(e, REAP_PRELOAD)) else {
        return entries.iter().map(|&e| Cow::Borrowed(e)).collect();
    };
    let preload = [PRELOAD.as_bytes(), b"=", stashed].concat();
    // From an environment string: no NUL inside.
    let mut preload = Some(CString::new(preload).expect("no NUL in the environment"));
    let mut env = Vec::with_capacity(entries.len() + 1);
    for &entry in entries {
        if value(entry, REAP_PRELOAD).is_some() {
            continue;
        }
        if value(entry, PRELOAD).is_some() {
            // The first LD_PRELOAD is replaced; duplicates are dropped.
            env.extend(preload.take().map(Cow::Owned));
            continue;
        }
        env.push(Cow::Borrowed(entry));
    }
    env.extend(preload.map(Cow::Owned));
    env
}

/// The value of `entry` (`NAME=value`) if its name is `name`.
fn value<'e>(entry: &'e CStr, name: &str) -> Option<&'e [u8]> {
    entry
        .to_bytes()
        .strip_prefix(name.as_bytes())?
        .strip_prefix(b"=")
}

/// `posix_spawn(path, argv, env)` with the given signal mask for the child.
/// Other signal dispositions are inherited: the reaper runs before Rust's
/// runtime changes any (see `dispatch_early`).
pub fn spawn(
    path: &CStr,
    argv: &[CString],
    env: &[Cow<CStr>],
    mask: &SigSet,
) -> io::Result<libc::pid_t> {
    let mut attr = PosixSpawnAttr::init()?;
    attr.set_sigmask(mask)?;
    attr.set_flags(PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK)?;
    let no_file_actions = PosixSpawnFileActions::init()?;
    let pid = posix_spawn(path, &no_file_actions, &attr, argv, env)?;
    Ok(pid.as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Vec<String> {
        let entries: Vec<CString> = vars
            .iter()
            .map(|(n, v)| CString::new(format!("{n}={v}")).unwrap())
            .collect();
        let entries: Vec<&CStr> = entries.iter().map(CString::as_c_str).collect();
        environment(&entries)
            .into_iter()
            .map(|c| c.into_owned().into_string().unwrap())
            .collect()
    }

    #[test]
    fn stashed_preload_replaces_ld_preload_in_place() {
        assert_eq!(
            env(&[
                ("A", "1"),
                ("LD_PRELOAD", "/other.so"),
                ("ARSHIM_REAP_PRELOAD", "/lib.so /other.so"),
                ("B", "x=y"),
            ]),
            ["A=1", "LD_PRELOAD=/lib.so /other.so", "B=x=y"]
        );
    }

    #[test]
    fn stashed_preload_is_restored_when_absent() {
        assert_eq!(
            env(&[("ARSHIM_REAP_PRELOAD", "/lib.so"), ("A", "1")]),
            ["A=1", "LD_PRELOAD=/lib.so"]
        );
        assert_eq!(env(&[("ARSHIM_REAP_PRELOAD", "")]), ["LD_PRELOAD="]);
    }

    #[test]
    fn without_a_stash_nothing_changes() {
        assert_eq!(
            env(&[("LD_PRELOAD", "/other.so"), ("A", "")]),
            ["LD_PRELOAD=/other.so", "A="]
        );
        assert!(env(&[]).is_empty());
    }

    #[test]
    fn names_match_whole() {
        assert_eq!(
            env(&[
                ("ARSHIM_REAP_PRELOADX", "a"),
                ("LD_PRELOAD_X", "b"),
                ("LD_PRELOAD", "c"),
                ("LD_PRELOAD", "d"),
                ("ARSHIM_REAP_PRELOAD", "/lib.so"),
            ]),
            [
                "ARSHIM_REAP_PRELOADX=a",
                "LD_PRELOAD_X=b",
                "LD_PRELOAD=/lib.so"
            ]
        );
    }

    #[test]
    fn own_environment_is_environ() {
        let own = own_environment();
        assert_eq!(own.len(), std::env::vars_os().count());
        assert!(own.iter().all(|e| e.to_bytes().contains(&b'=')));
    }
}
