//! The deferred deletions: the host's exit cleanups tried to delete the
//! archiver's inputs (or its temp dir) before the archiver ran; the library
//! kept them for us, as (directory fd, single name) pairs (docs/DESIGN.md,
//! "Conversion" 4).
//!
//! Deleting relative to a directory fd the host opened means a directory
//! renamed away and replaced by a symlink meanwhile is never followed: the
//! name is looked up in the directory the host meant, wherever it now is.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::stat::{fstat, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

use super::args::{Deletion, Op, Same};
use super::trace::{Event, Trace};

/// The deletions checked before the archiver runs, and the directory fds
/// they use, each adopted once (several deletions may share one).
pub struct Prepared {
    pending: Vec<Pending>,
    dirs: Vec<OwnedFd>,
}

/// A deletion checked before the archiver runs.
struct Pending {
    deletion: Deletion,
    /// The directory fd to delete in, or why the deletion will not be done.
    dirfd: Result<RawFd, &'static str>,
}

/// Checks every deletion while the inherited fd numbers still mean what the
/// library meant (before we open anything), and marks the usable directory
/// fds close-on-exec so the archiver does not inherit them.
pub fn prepare(deletions: Vec<Deletion>) -> Prepared {
    let mut dirs: Vec<OwnedFd> = Vec::new();
    let mut adopt = |fd: RawFd| {
        if !dirs.iter().any(|dir| dir.as_raw_fd() == fd) {
            dirs.push(check_dirfd(fd)?);
        }
        Ok(fd)
    };
    let pending = deletions
        .into_iter()
        .map(|deletion| Pending {
            dirfd: check_name(deletion.name.as_bytes())
                .and_then(|()| deletion.dirfd.ok_or("DIRFD is not a number"))
                .and_then(|fd| match deletion.same {
                    Some(None) => Err("DEV:INO is not two numbers"),
                    _ => Ok(fd),
                })
                .and_then(&mut adopt),
            deletion,
        })
        .collect();
    Prepared { pending, dirs }
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
/// A DIRFD that is open but not a directory is left alone (not ours).
fn check_dirfd(fd: RawFd) -> Result<OwnedFd, &'static str> {
    if fd <= libc::STDERR_FILENO {
        return Err("DIRFD is a standard stream");
    }
    // SAFETY: F_GETFD takes only integers; a bad fd only gives EBADF. (Raw:
    // nix's fcntl wants an fd it can borrow, i.e. one known to be open.)
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err("DIRFD is not an open file descriptor");
    }
    // SAFETY: `fd` is open, and the library passed it for the reaper alone:
    // nothing else in this process uses or closes it.
    let dir = unsafe { OwnedFd::from_raw_fd(fd) };
    let is_dir = fstat(&dir)
        .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) == SFlag::S_IFDIR);
    if !is_dir {
        let _ = dir.into_raw_fd(); // not ours to close
        return Err("DIRFD is not a directory");
    }
    let _ = fcntl(&dir, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    Ok(dir)
}

/// Performs the deletions in order, traces each, then closes the directory
/// fds. Errors are not fatal: the archiver's result is what matters.
pub fn perform(prepared: Prepared, trace: &Trace) {
    for p in &prepared.pending {
        let outcome = match p.dirfd {
            Ok(fd) => unlink_in(prepared.dir(fd), &p.deletion).map_err(|e| e.to_string()),
            Err(reason) => Err(format!("rejected: {reason}")),
        };
        trace.emit(|| event(p, outcome.err().as_deref()));
    }
}

/// Does none of the deletions (traced as skipped): the archiver may still be
/// running, and leaving temporary files behind is the lesser harm. The
/// directory fds are closed all the same.
pub fn skip(prepared: Prepared, trace: &Trace, why: &str) {
    let error = format!("skipped: {why}");
    for p in &prepared.pending {
        trace.emit(|| event(p, Some(&error)));
    }
}

impl Prepared {
    /// The adopted directory `fd` (every `Ok` dirfd of a pending deletion is one).
    fn dir(&self, fd: RawFd) -> Option<&OwnedFd> {
        self.dirs.iter().find(|dir| dir.as_raw_fd() == fd)
    }
}

fn unlink_in(dir: Option<&OwnedFd>, d: &Deletion) -> io::Result<()> {
    let dir = dir.ok_or(io::ErrorKind::NotFound)?;
    let flags = match d.op {
        Op::Unlink => UnlinkatFlags::NoRemoveDir,
        Op::Rmdir => UnlinkatFlags::RemoveDir,
    };
    if let Some(Some(same)) = d.same {
        still_the_same(dir, d, same)?;
    }
    // A NAME from argv has no NUL byte (nix reports one as EINVAL).
    Ok(unlinkat(dir, d.name.as_os_str(), flags)?)
}

/// A host's temporary is deleted only while NAME is still the file the host
/// created: same (dev, ino), same birth time when the file system keeps one
/// (a freed inode number is often reused at once), a regular file for
/// `--unlink-if` and a directory for `--rmdir-if` — never a symlink or a
/// file put there since (docs/DESIGN.md, "Conversion" 12). Linux cannot
/// unlink by inode: a swap between this look and the unlink is not seen.
fn still_the_same(dir: &OwnedFd, d: &Deletion, same: Same) -> io::Result<()> {
    let name =
        std::ffi::CString::new(d.name.as_bytes()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: statx into a zeroed buffer we own, relative to an open
    // directory fd, with a NUL-terminated name (raw libc: nix has no statx).
    let st = unsafe {
        let mut st: libc::statx = std::mem::zeroed();
        let wanted = libc::STATX_TYPE | libc::STATX_INO | libc::STATX_BTIME;
        let flags = libc::AT_SYMLINK_NOFOLLOW;
        if libc::statx(dir.as_raw_fd(), name.as_ptr(), flags, wanted, &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        st
    };
    let kind = u32::from(st.stx_mode) & libc::S_IFMT;
    let wanted = match d.op {
        Op::Unlink => libc::S_IFREG,
        Op::Rmdir => libc::S_IFDIR,
    };
    let born = (st.stx_mask & libc::STATX_BTIME != 0)
        .then_some((st.stx_btime.tv_sec, st.stx_btime.tv_nsec));
    let same_birth = same.born == (0, 0) || born.is_none_or(|b| b == same.born);
    let dev = libc::makedev(st.stx_dev_major, st.stx_dev_minor);
    if dev != same.dev || st.stx_ino != same.ino || kind != wanted || !same_birth {
        return Err(io::Error::other(
            "not the file the host created (replaced since): left alone",
        ));
    }
    Ok(())
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

    /// What the library passes for `path`: its identity now.
    fn identity_of(path: &std::path::Path) -> Same {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(path).unwrap();
        let born = m
            .created()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        Same {
            dev: m.dev(),
            ino: m.ino(),
            born: (born.as_secs() as i64, born.subsec_nanos()),
        }
    }

    #[test]
    fn a_temporary_is_deleted_only_while_it_is_the_same_file() {
        let dir = std::env::temp_dir().join(format!("arshim-same-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("d")).unwrap();
        let fd = OwnedFd::from(std::fs::File::open(&dir).unwrap());
        let temp = |op, name: &str, same| Deletion {
            op,
            dirfd: Some(fd.as_raw_fd()),
            name: name.into(),
            same: Some(Some(same)),
        };
        std::fs::write(dir.join("a"), "a").unwrap();
        let a = identity_of(&dir.join("a"));
        let d = identity_of(&dir.join("d"));
        assert!(still_the_same(&fd, &temp(Op::Unlink, "a", a), a).is_ok());
        assert!(still_the_same(&fd, &temp(Op::Rmdir, "d", d), d).is_ok());
        assert!(
            still_the_same(&fd, &temp(Op::Unlink, "d", d), d).is_err(),
            "a directory"
        );
        std::fs::remove_file(dir.join("a")).unwrap();
        std::os::unix::fs::symlink(dir.join("d"), dir.join("a")).unwrap();
        assert!(
            still_the_same(&fd, &temp(Op::Unlink, "a", a), a).is_err(),
            "a symlink"
        );
        std::fs::remove_file(dir.join("a")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        std::fs::write(dir.join("a"), "other").unwrap();
        assert!(
            still_the_same(&fd, &temp(Op::Unlink, "a", a), a).is_err(),
            "another file"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn standard_streams_and_non_directories_are_not_dirfds() {
        assert!(check_dirfd(0).is_err() && check_dirfd(2).is_err());
        assert!(check_dirfd(-1).is_err());
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let fd = std::os::unix::io::AsRawFd::as_raw_fd(&file);
        assert_eq!(check_dirfd(fd).err(), Some("DIRFD is not a directory"));
        // Still open: a DIRFD that is not a directory is not ours to close.
        assert!(std::fs::metadata(format!("/proc/self/fd/{fd}")).is_ok());
    }
}
