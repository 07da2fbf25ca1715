//! The commands the tests start: a host with a clean environment, under
//! `arshim run`, or with the library preloaded directly.

use super::dirs::TestDir;
use super::env::{companion, library, path_with, scrub};
use super::fixtures::fixtures;
use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::Command;

/// What each host holds (every page written) when it spawns the archiver:
/// above the library's 64 MiB floor for releasing memory on two CPUs
/// (docs/DESIGN.md), small enough that the hundreds of host runs of a test
/// binary cost little time in the kernel.
pub const HOST_MIB: u64 = 96;

/// A command with a clean environment for the tests: no library variables,
/// no outer make, the stand-in `ar` first on PATH (and the real one in
/// `STANDIN_REAL_AR`), the C locale, and the stand-in's record file and the
/// host's pid file in `dir`.
pub fn command(program: impl AsRef<OsStr>, dir: &TestDir) -> Command {
    let fx = fixtures();
    let mut cmd = Command::new(program);
    scrub(&mut cmd, &[]);
    cmd.env("PATH", path_with(&fx.bin))
        .env("STANDIN_REAL_AR", &fx.real_ar)
        .env("LC_ALL", "C")
        .env("STANDIN_RECORD", dir.join("standin.log"))
        .env("HOST_PID_FILE", dir.join("pids"))
        .env("HOST_TOUCH_MIB", HOST_MIB.to_string())
        .current_dir(&dir.path);
    cmd
}

/// `arshim run [OPTS…] -- PROGRAM` with the environment of [`command`].
pub fn arshim_run(opts: &[&str], program: impl AsRef<OsStr>, dir: &TestDir) -> Command {
    let mut cmd = command(companion(), dir);
    cmd.arg("run").args(opts).arg("--").arg(program);
    cmd
}

/// `PROGRAM` with `LD_PRELOAD=<lib>` set directly (not via `arshim run`).
pub fn preloaded(program: impl AsRef<OsStr>, dir: &TestDir) -> Command {
    let mut cmd = command(program, dir);
    cmd.env("LD_PRELOAD", library());
    cmd
}

/// The C host's arguments `CALL IO TOOL ARCHIVE one.o two.o` (tests/hosts/host.c).
pub fn host_args(call: &str, io: &str, tool: impl Into<OsString>, archive: &Path) -> Vec<OsString> {
    let fx = fixtures();
    vec![
        call.into(),
        io.into(),
        tool.into(),
        archive.into(),
        fx.objs[0].clone().into(),
        fx.objs[1].clone().into(),
    ]
}
