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

use std::io::Write;
use std::os::raw::{c_char, c_int};
use std::os::unix::process::{CommandExt, ExitStatusExt};
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: rust_fork_host ARCHIVE OBJ...");
        exit(2);
    }
    let mib: usize = std::env::var("HOST_TOUCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(320);
    let ballast = std::hint::black_box(vec![0x5au8; mib << 20]);
    if let Ok(file) = std::env::var("HOST_PID_FILE") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .unwrap_or_else(|e| {
                eprintln!("rust_fork_host: cannot open {file}: {e}");
                exit(4)
            });
        writeln!(f, "host {}", std::process::id()).unwrap();
    }
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
    match status {
        Ok(s) => exit(s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))),
        Err(e) => {
            eprintln!("rust_fork_host: spawn failed: {e}");
            exit(3)
        }
    }
}
