//! The deferred deletions: the host's exit cleanups tried to delete the
//! archiver's inputs (or its temp dir) before the archiver ran; the library
//! kept them for us, as (directory fd, single name) pairs.
//!
//! Deleting relative to a directory fd the host opened means a directory
//! renamed away and replaced by a symlink meanwhile is never followed: the
//! name is looked up in the directory the host meant, wherever it now is.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::RawFd;

use super::args::{Deletion, Op};
use super::trace::{Event, Trace};

/// A deletion checked before the archiver runs.
pub struct Pending {
    deletion: Deletion,
    /// The directory fd to delete in, or why the deletion will not be done.
    dirfd: Result<RawFd, &'static str>,
}

/// Checks every deletion while the inherited fd numbers still mean what the
/// library meant (before we open anything), and marks the usable directory
/// fds close-on-exec so the archiver does not inherit them.
pub fn prepare(deletions: Vec<Deletion>) -> Vec<Pending> {
    deletions
        .into_iter()
        .map(|deletion| Pending {
            dirfd: check_name(deletion.name.as_bytes())
                .and_then(|()| deletion.dirfd.ok_or("DIRFD is not a number"))
                .and_then(check_dirfd),
            deletion,
        })
        .collect()
}

/// Only a single path component: anything else could reach outside the
/// directory the fd names.
fn check_name(name: &[u8]) -> Result<(), &'static str> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
        Err("NAME is not a single path component")
    } else {
        Ok(())
    }
}

/// A usable DIRFD: an open directory, not one of the standard streams (the
/// library never passes those, and we must neither hide nor close them).
fn check_dirfd(fd: RawFd) -> Result<RawFd, &'static str> {
    if fd <= libc::STDERR_FILENO {
        return Err("DIRFD is a standard stream");
    }
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: fstat fills the stat buffer we own; a bad fd only gives EBADF.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return Err("DIRFD is not an open file descriptor");
    }
    // SAFETY: fstat succeeded, so the buffer is filled.
    if unsafe { st.assume_init() }.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err("DIRFD is not a directory");
    }
    // SAFETY: fcntl on an fd we just found open.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    Ok(fd)
}

/// Performs the deletions in order, traces each, then closes the directory
/// fds. Errors are not fatal: the archiver's result is what matters.
pub fn perform(pending: Vec<Pending>, trace: &Trace) {
    for p in &pending {
        let outcome = match p.dirfd {
            Ok(fd) => unlinkat(fd, &p.deletion).map_err(|e| e.to_string()),
            Err(reason) => Err(format!("rejected: {reason}")),
        };
        trace.emit(|| event(p, outcome.err().as_deref()));
    }
    close_dirfds(&pending);
}

/// Does none of the deletions (traced as skipped): the archiver may still be
/// running, and leaving temporary files behind is the lesser harm.
pub fn skip(pending: Vec<Pending>, trace: &Trace, why: &str) {
    let error = format!("skipped: {why}");
    for p in &pending {
        trace.emit(|| event(p, Some(&error)));
    }
    close_dirfds(&pending);
}

fn unlinkat(fd: RawFd, d: &Deletion) -> io::Result<()> {
    // A NAME from argv has no NUL byte.
    let name = CString::new(d.name.as_bytes()).map_err(|_| io::ErrorKind::InvalidInput)?;
    let flags = match d.op {
        Op::Unlink => 0,
        Op::Rmdir => libc::AT_REMOVEDIR,
    };
    // SAFETY: `name` is a valid C string; `fd` was checked to be a directory.
    if unsafe { libc::unlinkat(fd, name.as_ptr(), flags) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn event(p: &Pending, error: Option<&str>) -> Event {
    let d = &p.deletion;
    let mut event = Event::new("delete").str("op", d.op.name());
    if let Some(fd) = d.dirfd {
        event = event.int("dirfd", fd.into());
    }
    event = event
        .str("name", d.name.as_bytes())
        .bool("ok", error.is_none());
    if p.dirfd.is_err() {
        event = event.bool("rejected", true);
    }
    match error {
        Some(error) => event.str("error", error),
        None => event,
    }
}

/// Closes each usable directory fd once (several deletions may share one).
fn close_dirfds(pending: &[Pending]) {
    let mut closed: Vec<RawFd> = Vec::new();
    for fd in pending.iter().filter_map(|p| p.dirfd.ok()) {
        if !closed.contains(&fd) {
            // SAFETY: an inherited directory fd that nothing else uses.
            unsafe { libc::close(fd) };
            closed.push(fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_single_components_are_names() {
        for bad in [&b""[..], b".", b"..", b"a/b", b"/a", b"a/", b"../x"] {
            assert!(
                check_name(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        for good in [&b"a.o"[..], b"...", b".hidden", b"a\\b", b"sp ace\n"] {
            assert!(
                check_name(good).is_ok(),
                "{:?}",
                String::from_utf8_lossy(good)
            );
        }
    }

    #[test]
    fn standard_streams_and_non_directories_are_not_dirfds() {
        assert!(check_dirfd(0).is_err() && check_dirfd(2).is_err());
        assert!(check_dirfd(-1).is_err());
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let fd = std::os::unix::io::AsRawFd::as_raw_fd(&file);
        assert_eq!(check_dirfd(fd), Err("DIRFD is not a directory"));
    }
}
