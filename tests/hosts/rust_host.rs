//! A Rust "legacy linker" for the arshim integration tests (compiled at test
//! time with `rustc`): holds HOST_TOUCH_MIB (default 208) MiB, prints a line,
//! runs `ar rcs ARCHIVE OBJ...` with `std::process::Command::status()` (which
//! is `posix_spawnp` with signal attributes on glibc) and exits with ar's code.
//!
//!     rust_host ARCHIVE OBJ...

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{exit, Command};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: rust_host ARCHIVE OBJ...");
        exit(2);
    }
    let mib: usize = std::env::var("HOST_TOUCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(208);
    let ballast = std::hint::black_box(vec![1u8; mib << 20]);
    if let Ok(file) = std::env::var("HOST_PID_FILE") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .unwrap_or_else(|e| {
                eprintln!("rust_host: cannot open {file}: {e}");
                exit(4)
            });
        writeln!(f, "host {}", std::process::id()).unwrap();
    }
    println!("rust_host: holding {} MiB", ballast.len() >> 20);
    let status = Command::new("ar").arg("rcs").args(&args).status();
    std::hint::black_box(&ballast);
    match status {
        Ok(s) => exit(s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))),
        Err(e) => {
            eprintln!("rust_host: spawn failed: {e}");
            exit(3)
        }
    }
}
