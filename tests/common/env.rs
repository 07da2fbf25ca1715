//! The environment every test command starts from, and the pieces under test
//! (the library, the companion, the reaper).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment variables of the library (its internal ones too) and of an
/// outer `make`, removed from every command so the tests' own environment
/// cannot leak in.
pub const SCRUBBED_ENV: &[&str] = &[
    "ARSHIM",
    "ARSHIM_TOOLS",
    "ARSHIM_PID",
    "ARSHIM_HOSTS",
    "ARSHIM_LOG",
    "ARSHIM_TRACE",
    "ARSHIM_SPENT",
    "ARSHIM_WARNED",
    "ARSHIM_COMPANION",
    "ARSHIM_REAP_PRELOAD",
    "ARSHIM_FAILURE_STATUS",
    "ARSHIM_FORCE",
    "ARSHIM_VERIFIED_ONLY",
    "ARSHIM_STORE_WARNED",
    "ARSHIM_TEMPS",
    "LD_PRELOAD",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "MAKEFILES",
    "GNUMAKEFLAGS",
    "CARGO_MAKEFLAGS",
    "HOST_PID_FILE",
    "HOST_TOUCH_MIB",
    "STANDIN_RECORD",
    "STANDIN_EXIT",
    "STANDIN_READ_STDIN",
    "STANDIN_REAL_AR",
];

/// Removes `SCRUBBED_ENV` and a test's own `extra` variables from `cmd`.
pub fn scrub<'a>(cmd: &'a mut Command, extra: &[&str]) -> &'a mut Command {
    for v in SCRUBBED_ENV.iter().chain(extra) {
        cmd.env_remove(v);
    }
    cmd
}

/// `libarshim.so`: `$ARSHIM_LIB`, else next to the companion binary.
pub fn library() -> PathBuf {
    let lib = match std::env::var_os("ARSHIM_LIB") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => companion().parent().unwrap().join("libarshim.so"),
    };
    if !lib.is_file() {
        panic!(
            "libarshim.so missing: run `make test` (looked for {})",
            lib.display()
        );
    }
    lib
}

/// The companion binary `arshim`.
pub fn companion() -> PathBuf {
    package_binary("arshim")
}

/// The reaper the library execs in place of a host (`arshim-reap`, next to
/// the library).
pub fn reaper() -> PathBuf {
    package_binary("arshim-reap")
}

/// The package's binary `name`, which cargo builds before any integration
/// test into the profile's directory, the parent of the `deps/` directory
/// that holds the running test binary (the file `CARGO_BIN_EXE_<name>` names
/// inside a test; this crate is not a test, so it finds it itself).
fn package_binary(name: &str) -> PathBuf {
    let bin = profile_dir().join(name);
    assert!(
        bin.is_file(),
        "{} missing: run the tests with `make test` (cargo test builds it)",
        bin.display()
    );
    bin
}

/// `target/<profile>`: the running test binary is `target/<profile>/deps/NAME-HASH`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's own path");
    exe.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("{} is not in target/<profile>/deps/", exe.display()))
        .to_path_buf()
}

/// `PATH` with `first` in front (and nowhere else).
pub fn path_with(first: &std::path::Path) -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![first.to_path_buf()];
    dirs.extend(std::env::split_paths(&path).filter(|d| d != first));
    std::env::join_paths(dirs).unwrap()
}
