//! What the Rust test hosts (rust_host.rs, rust_fork_host.rs; each declares
//! `mod rust_common;`) share: their arguments, the memory they hold, their
//! pid record, and their exit with the archiver's status.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{exit, ExitStatus};

/// `NAME ARCHIVE OBJ...`: the arguments after the program name (a usage
/// line and exit 2 when there are fewer than two).
pub fn archiver_args(name: &str) -> Vec<String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: {name} ARCHIVE OBJ...");
        exit(2);
    }
    args
}

/// HOST_TOUCH_MIB (else `default_mib`) MiB, every page written with `fill`.
pub fn ballast(default_mib: usize, fill: u8) -> Vec<u8> {
    let mib: usize = std::env::var("HOST_TOUCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_mib);
    std::hint::black_box(vec![fill; mib << 20])
}

/// Appends `host PID` to $HOST_PID_FILE, when it is set.
pub fn record_pid(name: &str) {
    if let Ok(file) = std::env::var("HOST_PID_FILE") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .unwrap_or_else(|e| {
                eprintln!("{name}: cannot open {file}: {e}");
                exit(4)
            });
        writeln!(f, "host {}", std::process::id()).unwrap();
    }
}

/// Exits with the archiver's code (128+N for a signal N), or 3 when it could
/// not be spawned.
pub fn exit_like(name: &str, status: std::io::Result<ExitStatus>) -> ! {
    match status {
        Ok(s) => exit(s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))),
        Err(e) => {
            eprintln!("{name}: spawn failed: {e}");
            exit(3)
        }
    }
}
