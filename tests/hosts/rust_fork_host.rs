//! A Rust "legacy linker" that spawns the archiver with `Command::pre_exec`
//! (which forces std to fork + exec instead of posix_spawn), for the
//! wait-time handoff tests (tests/fork_handoff.rs). Compiled at test time
//! with `rustc`.
//!
//!     rust_fork_host ARCHIVE OBJ...
//!
//! Holds HOST_TOUCH_MIB (default 320) MiB, every page written; has
//! "host: buffered line" pending in the C stdio buffer (stdout is a file) and
//! a C `atexit` handler printing "host: atexit ran"; runs `ar rcs ARCHIVE
//! OBJ...` with `Command::status()` (fork, exec, then `waitpid`) and exits
//! with ar's code (128+N for a signal N) through `std::process::exit`, which
//! runs the C exit handlers and flushes stdio.

mod rust_common;

use std::os::raw::{c_char, c_int};
use std::os::unix::process::CommandExt;
use std::process::{exit, Command};

extern "C" {
    fn atexit(cb: extern "C" fn()) -> c_int;
    fn puts(s: *const c_char) -> c_int;
}

extern "C" fn at_exit_handler() {
    // SAFETY: a NUL-terminated literal.
    unsafe { puts(b"host: atexit ran\0".as_ptr().cast()) };
}

fn main() {
    let args = rust_common::archiver_args("rust_fork_host");
    let ballast = rust_common::ballast(320, 0x5a);
    rust_common::record_pid("rust_fork_host");
    // SAFETY: registering a plain extern "C" fn; puts of a NUL-terminated literal.
    unsafe {
        if atexit(at_exit_handler) != 0 {
            exit(4);
        }
        puts(b"host: buffered line\0".as_ptr().cast());
    }
    let mut cmd = Command::new("ar");
    cmd.arg("rcs").args(&args);
    // SAFETY: the closure does nothing (it only forces the fork path).
    unsafe {
        cmd.pre_exec(|| Ok(()));
    }
    let status = cmd.status();
    std::hint::black_box(&ballast);
    rust_common::exit_like("rust_fork_host", status)
}
