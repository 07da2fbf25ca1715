//! Program names the shim treats specially whatever the variables say
//! (docs/DESIGN.md, "Scope"): the core decides with them at load, the
//! companion's `doctor` explains with them.

/// Shells and build drivers: they spawn `ar` in the middle of their work, never
/// as their last act, so they are never in scope whatever the variables say.
pub const DRIVERS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "yash", "csh", "tcsh", "fish",
    "busybox", "make", "gmake", "bmake", "pmake", "remake", "ninja", "samu", "cmake", "ctest",
    "meson", "scons", "bazel", "bazelisk", "buck", "buck2", "cargo", "xargs", "timeout", "time",
    "flock", "strace", "ltrace", "sudo", "su", "doas", "ccache", "sccache", "distcc", "icecc",
    "arshim",
];

/// Wrappers that `exec` the real program in their own pid (`env ld …`): never
/// in scope themselves, but their claim passes silently to the program they
/// become, which has the same pid.
pub const EXEC_WRAPPERS: &[&str] = &[
    "env", "nice", "nohup", "stdbuf", "chrt", "taskset", "ionice", "setarch", "numactl", "chroot",
];

pub fn is_driver(basename: &[u8]) -> bool {
    DRIVERS.iter().any(|d| d.as_bytes() == basename)
}

pub fn is_exec_wrapper(basename: &[u8]) -> bool {
    EXEC_WRAPPERS.iter().any(|d| d.as_bytes() == basename)
}
