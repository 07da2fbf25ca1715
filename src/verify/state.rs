//! Both runs of `verify` start from the same state (docs/DESIGN.md,
//! "verify: two runs from the same state"): the same stdin bytes, and no
//! archive left by the first run.
//!
//! - stdin is read once, when it is not a terminal, into the work dir and
//!   fed to each run from that file. A terminal stays the first run's; the
//!   second run reads /dev/null (its output is not shown, so it must not
//!   wait for input that nobody sees it ask for).
//! - The first run's archive is moved aside (a rename in its own directory:
//!   no copy, no other filesystem) before the second run, which so starts
//!   without it as the first run did on a clean tree. At the end it is put
//!   back unless the verdict is SAFE, so the user is left with what the next
//!   `arshim run --verified-only` would leave. SIGINT, SIGTERM, SIGHUP and
//!   SIGQUIT are blocked from before it is aside to the end of `verify`
//!   (`Hold`): they wait until it is back and the work dir is gone (a
//!   terminal's Ctrl-C reaches the command too, which ends the run).

use std::fs::{self, File};
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// What each run gets as stdin.
pub enum StdinFeed {
    /// verify's stdin is a terminal: the first run's, /dev/null for the second.
    Terminal,
    /// verify's stdin, read to its end into this file.
    Stored(PathBuf),
}

impl StdinFeed {
    /// Reads verify's stdin into `work/stdin` unless it is a terminal.
    pub fn capture(work: &Path) -> io::Result<StdinFeed> {
        let stdin = io::stdin();
        if stdin.is_terminal() {
            return Ok(StdinFeed::Terminal);
        }
        let path = work.join("stdin");
        let mut file = File::create(&path)?;
        io::copy(&mut stdin.lock(), &mut file)?;
        Ok(StdinFeed::Stored(path))
    }

    /// The stdin of one run: `first` is the observed run.
    pub fn for_run(&self, first: bool) -> io::Result<Stdio> {
        Ok(match self {
            StdinFeed::Terminal if first => Stdio::inherit(),
            StdinFeed::Terminal => Stdio::null(),
            StdinFeed::Stored(path) => Stdio::from(File::open(path)?),
        })
    }

    /// The bytes fed to both runs; `None` for a terminal.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            StdinFeed::Terminal => None,
            StdinFeed::Stored(path) => fs::read(path).ok(),
        }
    }
}

/// The signals that would end `verify` while the archive is aside.
const HELD: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// The signals that would end `verify`, blocked until this is dropped.
#[derive(Default)]
pub struct Hold {
    old_mask: Option<libc::sigset_t>,
}

impl Hold {
    /// Blocks them (once).
    pub fn start(&mut self) -> io::Result<()> {
        if self.old_mask.is_none() {
            self.old_mask = Some(hold_signals()?);
        }
        Ok(())
    }

    pub fn holding(&self) -> bool {
        self.old_mask.is_some()
    }
}

impl Drop for Hold {
    /// A signal that came meanwhile is delivered now.
    fn drop(&mut self) {
        if let Some(old) = &self.old_mask {
            release_signals(old);
        }
    }
}

/// The first run's archive, renamed aside until the end of `verify`.
pub struct Aside {
    archive: PathBuf,
    hidden: PathBuf,
    settled: bool,
}

impl Aside {
    /// Renames `archive` to a hidden sibling; refused unless the ending
    /// signals are held (`hold`), so no signal can leave it hidden.
    pub fn take(archive: &Path, hold: &Hold) -> io::Result<Aside> {
        if !hold.holding() {
            return Err(io::Error::other("the ending signals are not held"));
        }
        let name = archive
            .file_name()
            .ok_or_else(|| io::Error::other("the archive path has no file name"))?;
        let mut hidden_name = std::ffi::OsString::from(".");
        hidden_name.push(name);
        hidden_name.push(format!(".arshim-verify-{}", std::process::id()));
        let hidden = archive.with_file_name(hidden_name);
        if fs::symlink_metadata(&hidden).is_ok() {
            return Err(io::Error::other(format!("{} exists", hidden.display())));
        }
        fs::rename(archive, &hidden)?;
        Ok(Aside {
            archive: archive.to_path_buf(),
            hidden,
            settled: false,
        })
    }

    /// Keeps what the second (converted) run left; drops the first run's.
    pub fn keep_second(mut self) -> io::Result<()> {
        self.settled = true;
        fs::remove_file(&self.hidden)
    }

    /// Puts the first run's archive back over whatever the second run left.
    pub fn restore(mut self) -> io::Result<()> {
        self.settled = true;
        self.put_back()
    }

    fn put_back(&self) -> io::Result<()> {
        fs::rename(&self.hidden, &self.archive)
    }

    /// Where the first run's archive is while aside.
    pub fn hidden(&self) -> &Path {
        &self.hidden
    }
}

impl Drop for Aside {
    /// An error or a panic before the verdict: the user keeps the first run's archive.
    fn drop(&mut self) {
        if !self.settled {
            let _ = self.put_back();
        }
    }
}

/// The command starts with the signal mask `verify` had before any `Hold`:
/// a child inherits the mask across fork and exec, and the command must get
/// a terminal's Ctrl-C as it would without `verify`.
pub fn unhold_in_child(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls sigemptyset/sigaddset/pthread_sigmask, which are
    // async-signal-safe; it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for sig in HELD {
                libc::sigaddset(&mut set, sig);
            }
            match libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) {
                0 => Ok(()),
                e => Err(io::Error::from_raw_os_error(e)),
            }
        });
    }
}

/// Blocks the `HELD` signals; returns the mask to go back to.
fn hold_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data that sigemptyset initialises; the
    // pointers are to live locals; pthread_sigmask only reads `set` and
    // writes `old`.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in HELD {
            libc::sigaddset(&mut set, sig);
        }
        match libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) {
            0 => Ok(old),
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }
}

/// Back to `old`: a signal that came meanwhile is delivered now.
fn release_signals(old: &libc::sigset_t) {
    // SAFETY: `old` was filled by pthread_sigmask in `hold_signals`.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("arshim-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn an_archive_aside_comes_back_unless_the_second_is_kept() {
        let d = dir("aside");
        let a = d.join("l.a");
        fs::write(&a, "first").unwrap();
        assert!(Aside::take(&a, &Hold::default()).is_err());
        let mut hold = Hold::default();
        hold.start().unwrap();
        let aside = Aside::take(&a, &hold).unwrap();
        assert!(!a.exists());
        fs::write(&a, "second").unwrap();
        aside.restore().unwrap();
        assert_eq!(fs::read_to_string(&a).unwrap(), "first");

        let aside = Aside::take(&a, &hold).unwrap();
        fs::write(&a, "second").unwrap();
        aside.keep_second().unwrap();
        assert_eq!(fs::read_to_string(&a).unwrap(), "second");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1, "nothing hidden left");

        // Dropped on an error path: the first run's archive is back.
        let aside = Aside::take(&a, &hold).unwrap();
        drop(aside);
        assert_eq!(fs::read_to_string(&a).unwrap(), "second");
        fs::remove_dir_all(&d).unwrap();
    }
}
