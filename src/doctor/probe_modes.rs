//! The companion's internal `__probe` modes, run by doctor's probes (never
//! by users):
//!
//! ```text
//! doctor-probe-host __probe noop                    load test: exit 0 at once
//! doctor-probe-host __probe host spawn|fork DIR     the "legacy linker"
//! ar __probe standin spawn|fork DIR                 the stand-in archiver
//! ```
//!
//! The host registers a C `atexit` handler that creates `DIR/cleanup-MODE`,
//! runs `ar __probe standin MODE DIR` from PATH — `spawn`: with
//! `Command::status()`, which is posix_spawnp; `fork`: with a no-op
//! `pre_exec`, which forces fork + exec, then waitpid — and exits with ar's
//! status. The stand-in (`bin/ar`, a symlink to the companion) records who
//! it is and whether the host's cleanup already ran, and exits
//! [`STANDIN_EXIT`]. Both stay silent: a converted host never returns to
//! flush Rust's stdout buffer.

use std::ffi::{CString, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{exit, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode as FileMode;

use super::probe::Mode;

/// The stand-in's exit status: not 0, so that doctor sees it come through.
pub const STANDIN_EXIT: i32 = 42;

/// How long the forked stand-in waits for its parent to become the reaper.
const HANDOFF_WAIT: Duration = Duration::from_secs(5);

/// The file the host's atexit handler creates.
pub fn marker(dir: &Path, mode: Mode) -> PathBuf {
    dir.join(format!("cleanup-{}", mode.word()))
}

/// What the stand-in found out.
pub fn record(dir: &Path, mode: Mode) -> PathBuf {
    dir.join(format!("standin-{}", mode.word()))
}

/// Why the host could not even start ar.
pub fn host_error(dir: &Path, mode: Mode) -> PathBuf {
    dir.join(format!("host-error-{}", mode.word()))
}

/// Runs the mode named by the arguments after `__probe`; never returns.
pub fn main(mut args: impl Iterator<Item = OsString>) -> ! {
    let role = args.next();
    let rest: Vec<OsString> = args.collect();
    let mode_dir = || match rest.as_slice() {
        [mode, dir] => Some((Mode::parse(mode.to_str()?)?, PathBuf::from(dir))),
        _ => None,
    };
    match (role.as_ref().and_then(|r| r.to_str()), mode_dir()) {
        (Some("noop"), _) if rest.is_empty() => exit(0),
        (Some("host"), Some((mode, dir))) => host(mode, &dir),
        (Some("standin"), Some((mode, dir))) => standin(mode, &dir),
        _ => {
            eprintln!("arshim: __probe is internal to `arshim doctor`");
            exit(2)
        }
    }
}

static MARKER: OnceLock<CString> = OnceLock::new();

/// The host's "exit cleanup": creates the marker. Plain syscalls, no
/// allocation (a `CStr` path is passed as it is): it runs inside exit() or
/// the library's cleanup flush.
extern "C" fn write_marker() {
    if let Some(path) = MARKER.get() {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC;
        // Created, then closed at once by the drop.
        let _ = open(path.as_c_str(), flags, FileMode::from_bits_truncate(0o600));
    }
}

fn host(mode: Mode, dir: &Path) -> ! {
    let marker = CString::new(marker(dir, mode).as_os_str().as_bytes()).expect("argv has no NUL");
    MARKER.get_or_init(|| marker);
    // SAFETY: registers a plain extern "C" fn that only reads a static.
    // (Raw: nix does not wrap atexit.)
    if unsafe { libc::atexit(write_marker) } != 0 {
        host_failed(dir, mode, "atexit failed");
    }
    let mut cmd = Command::new("ar");
    cmd.arg("__probe").arg("standin").arg(mode.word()).arg(dir);
    if mode == Mode::Fork {
        // SAFETY: the closure does nothing; it only makes std fork + exec
        // instead of using posix_spawnp.
        unsafe {
            cmd.pre_exec(|| Ok(()));
        }
    }
    // Converted, this call never returns: the process becomes ar (spawn)
    // or the reaper (fork), which ends with ar's status.
    match cmd.status() {
        // exit() runs the atexit handler: too late, the stand-in saw no marker.
        Ok(status) => exit(
            status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        ),
        Err(error) => host_failed(dir, mode, &format!("cannot run ar: {error}")),
    }
}

fn host_failed(dir: &Path, mode: Mode, message: &str) -> ! {
    let _ = fs::write(host_error(dir, mode), message);
    exit(3)
}

fn standin(mode: Mode, dir: &Path) -> ! {
    let pid = std::process::id();
    let ppid = std::os::unix::process::parent_id();
    let parent = PathBuf::from(format!("/proc/{ppid}/exe"));
    let mut parent_exe = fs::read_link(&parent).unwrap_or_default();
    if mode == Mode::Fork {
        // We may start before the host even calls waitpid: wait until the
        // reaper (`arshim-reap`, whichever copy the library found) has
        // replaced it, so that the marker is checked after the handoff, not
        // before. The limit is only reached when the handoff did not happen.
        let is_reaper = |p: &Path| p.file_name().is_some_and(|n| n == "arshim-reap");
        let deadline = Instant::now() + HANDOFF_WAIT;
        while !is_reaper(&parent_exe) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
            parent_exe = fs::read_link(&parent).unwrap_or_default();
        }
    }
    let cleanup_first = marker(dir, mode).exists();
    let text = format!(
        "pid={pid}\nppid={ppid}\ncleanup_first={}\nparent_exe={}\n",
        u8::from(cleanup_first),
        parent_exe.display()
    );
    let _ = fs::write(record(dir, mode), text);
    exit(STANDIN_EXIT)
}
