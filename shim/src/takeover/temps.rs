//! The host's temporaries handed to the reaper (docs/DESIGN.md,
//! "Conversion" 12). Before the point of no return: what the host created
//! under its temps globs (`record::temps`) and is still there as it was —
//! same (dev, ino), type and birth time, a regular file or a directory —
//! becomes a deletion relative to an fd on its directory, files first, then
//! directories deepest first. The reaper deletes each after the archiver
//! ended, only while the name is still that file. Touches: the directory fds it opens (close-on-exec
//! until handed over, closed when the conversion falls back).

use crate::decide::arglimit::temp_cost;
use crate::decide::config::Config;
use crate::decide::protect::split_parent;
use crate::decide::temps::deletion_order;
use crate::facts::temps::lstat_at;
use crate::record::temps::{self, Created};
use crate::record::trace::Event;
use crate::takeover::defer::{self, Deferred};
use std::ffi::CString;

/// The temporaries found before the cleanups, with their directory fds.
/// Dropped without `hand_over` (the conversion fell back), the fds close.
#[derive(Default)]
pub struct Temps {
    records: Vec<Deferred>,
}

impl Drop for Temps {
    fn drop(&mut self) {
        defer::close_dirs(&self.records);
    }
}

impl Temps {
    /// What the reaper's arguments need for these deletions.
    pub fn cost(&self) -> u64 {
        self.records.iter().map(|d| temp_cost(&d.name)).sum()
    }

    /// After the cleanups: the deletions for the reaper, their fds moved
    /// at or above the shim's floor and inherited by the reaper (docs/DESIGN.md,
    /// "Conversion" 11), and the trace's `temps` event.
    pub fn hand_over(mut self, config: &Config) -> Vec<Deferred> {
        let mut records = std::mem::take(&mut self.records);
        let mut moved: Vec<(i32, i32)> = Vec::new();
        for d in &mut records {
            d.dirfd = match moved.iter().find(|(old, _)| *old == d.dirfd) {
                Some(&(_, new)) => new,
                None => {
                    let new = inheritable_above_floor(d.dirfd);
                    moved.push((d.dirfd, new));
                    new
                }
            };
        }
        if !records.is_empty() {
            Event::new("temps")
                .list("paths", records.iter().map(|d| d.path.as_slice()))
                .emit(config.trace.as_deref());
        }
        records
    }
}

/// `fd` (close-on-exec) as an fd the reaper inherits, at or above the
/// floor when there is room up there (as the deferral's, `defer`).
fn inheritable_above_floor(fd: i32) -> i32 {
    // SAFETY: fcntl and close on an fd this module opened.
    unsafe {
        let high = libc::fcntl(fd, libc::F_DUPFD, defer::fd_floor());
        if high >= 0 {
            libc::close(fd);
            return high;
        }
        libc::fcntl(fd, libc::F_SETFD, 0);
        fd
    }
}

/// The host's temporaries still there as created, ready for the reaper;
/// an error (the conversion falls back) when the record is incomplete or a
/// directory cannot be opened.
pub fn collect() -> Result<Temps, &'static str> {
    if !temps::armed() {
        return Ok(Temps::default());
    }
    let mut dirs: Vec<(Vec<u8>, i32)> = Vec::new();
    let gathered = gather(temps::recorded(), &mut dirs);
    // Directories holding none of what is kept are not the reaper's.
    let kept = gathered.as_deref().unwrap_or_default();
    for &(_, fd) in dirs
        .iter()
        .filter(|(_, fd)| !kept.iter().any(|d| d.dirfd == *fd))
    {
        // SAFETY: closing an fd `gather` opened and no record uses.
        unsafe { libc::close(fd) };
    }
    let mut records = gathered?;
    deletion_order(&mut records, |d| d.rmdir, |d| &d.path);
    Ok(Temps { records })
}

/// The deletions for what is still there as created, opening each
/// directory once into `dirs`.
fn gather(
    recorded: Result<Vec<Created>, &'static str>,
    dirs: &mut Vec<(Vec<u8>, i32)>,
) -> Result<Vec<Deferred>, &'static str> {
    let mut records: Vec<Deferred> = Vec::new();
    for created in recorded? {
        let Some(created) = temps::fulfilled(created) else {
            continue;
        };
        let Some((dir, name)) = split_parent(&created.path) else {
            continue;
        };
        let fd = match dirs.iter().find(|(d, _)| d.as_slice() == dir) {
            Some(&(_, fd)) => fd,
            None => match open_dir(dir)? {
                Some(fd) => {
                    dirs.push((dir.to_vec(), fd));
                    fd
                }
                None => continue,
            },
        };
        if still_there(fd, name, &created) && !listed(&records, fd, name) {
            records.push(Deferred {
                dirfd: fd,
                name: name.to_vec(),
                rmdir: created.id.is_dir(),
                path: created.path.clone(),
                same: Some(created.id),
            });
        }
    }
    Ok(records)
}

fn listed(records: &[Deferred], fd: i32, name: &[u8]) -> bool {
    records.iter().any(|d| d.dirfd == fd && d.name == name)
}

/// An fd on `dir`, close-on-exec; None when it is gone (its temporaries
/// with it), an error when it exists but cannot be opened.
fn open_dir(dir: &[u8]) -> Result<Option<i32>, &'static str> {
    let c = CString::new(dir).map_err(|_| "a temporary's directory has a NUL byte")?;
    // SAFETY: open of a NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd >= 0 {
        return Ok(Some(fd));
    }
    // SAFETY: reading the thread's errno.
    match unsafe { *libc::__errno_location() } {
        libc::ENOENT | libc::ENOTDIR => Ok(None),
        _ => Err("cannot open the directory of a temporary the host created"),
    }
}

/// Is `name` in `fd` still what the host created (not a symlink or
/// another file put there since)?
fn still_there(fd: i32, name: &[u8], created: &Created) -> bool {
    let Ok(c) = CString::new(name) else {
        return false;
    };
    // SAFETY: `c` is NUL-terminated.
    // Only what `open`, `mkstemp` and `mkdir` make: a regular file or a directory.
    let made = matches!(created.id.kind, libc::S_IFREG | libc::S_IFDIR);
    made && unsafe { lstat_at(fd, c.as_ptr()) }.is_ok_and(|id| id == created.id)
}
