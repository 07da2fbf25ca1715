//! Human lines on stderr, prefixed `arshim[PID]:`; touches stderr only.
//!
//! Warnings always go out (one raw `write`, usable anywhere but in a forked
//! child). `info`/`debug` go through `log` + `env_logger`, set up on first use
//! and only when `ARSHIM_LOG` is set: a process that never logs pays nothing.

use std::sync::atomic::{AtomicU8, Ordering};

/// One warning line on stderr.
pub fn warn_line(message: &str) {
    // SAFETY: getpid has no preconditions.
    let line = format!("arshim[{}]: {}\n", unsafe { libc::getpid() }, message);
    // A raw syscall: libc's write is our own observe-mode hook.
    // SAFETY: write of a buffer we own to fd 2; a failure is ignored.
    unsafe { libc::syscall(libc::SYS_write, 2, line.as_ptr(), line.len()) };
}

const UNSET: u8 = 0;
const BUSY: u8 = 1;
const READY: u8 = 2;
const NONE: u8 = 3;

static LOGGER: AtomicU8 = AtomicU8::new(UNSET);

/// Is the `log` facade set up? Sets it up the first time when ARSHIM_LOG is set.
pub fn ready() -> bool {
    match LOGGER.load(Ordering::Acquire) {
        READY => return true,
        NONE | BUSY => return false,
        _ => {}
    }
    if LOGGER
        .compare_exchange(UNSET, BUSY, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return LOGGER.load(Ordering::Acquire) == READY;
    }
    let filter = crate::ffi::state::config().and_then(|c| c.log.clone());
    let ok = match filter {
        Some(filter) => env_logger::Builder::new()
            .parse_filters(&filter)
            .target(env_logger::Target::Stderr)
            .format(|buf, record| {
                use std::io::Write;
                // SAFETY: getpid has no preconditions.
                writeln!(
                    buf,
                    "arshim[{}]: {}",
                    unsafe { libc::getpid() },
                    record.args()
                )
            })
            .try_init()
            .is_ok(),
        None => false,
    };
    LOGGER.store(if ok { READY } else { NONE }, Ordering::Release);
    ok
}

macro_rules! info {
    ($($arg:tt)*) => {
        if $crate::record::logging::ready() {
            log::info!(target: "arshim", $($arg)*);
        }
    };
}
pub(crate) use info;
