//! A Rust "legacy linker" for the arshim integration tests (compiled at test
//! time with `rustc`): holds HOST_TOUCH_MIB (default 96) MiB, prints a line,
//! runs `ar rcs ARCHIVE OBJ...` with `std::process::Command::status()` (which
//! is `posix_spawnp` with signal attributes on glibc) and exits with ar's code.
//!
//!     rust_host ARCHIVE OBJ...

mod rust_common;

use std::process::Command;

fn main() {
    let args = rust_common::archiver_args("rust_host");
    let ballast = rust_common::ballast(96, 1);
    rust_common::record_pid("rust_host");
    println!("rust_host: holding {} MiB", ballast.len() >> 20);
    let status = Command::new("ar").arg("rcs").args(&args).status();
    std::hint::black_box(&ballast);
    rust_common::exit_like("rust_host", status)
}
