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

/// The variable naming a host's temporaries (comma-separated globs on
/// absolute paths, a leading `$TMPDIR` meaning the host's `TMPDIR`, else
/// `/tmp`): what it creates and removes after its final spawn, which the
/// conversion hands to the reaper (docs/DESIGN.md, "Conversion").
pub const TEMPS_VAR: &str = "ARSHIM_TEMPS";

pub fn is_driver(basename: &[u8]) -> bool {
    DRIVERS.iter().any(|d| d.as_bytes() == basename)
}

pub fn is_exec_wrapper(basename: &[u8]) -> bool {
    EXEC_WRAPPERS.iter().any(|d| d.as_bytes() == basename)
}

/// Interpreters: the program they run is a script, so what one process of
/// theirs does after its archiver says nothing of the next script. `verify`
/// remembers no verdict for them and the library heeds none stored for them
/// (docs/DESIGN.md, "Verdicts"). A name matches with a version suffix too
/// (`python3.11`, `perl5.36.0`, `lua5.4`).
pub const INTERPRETERS: &[&str] = &[
    "python", "pypy", "perl", "ruby", "node", "nodejs", "deno", "bun", "lua", "luajit", "php",
    "tclsh", "wish", "Rscript", "guile", "ocaml", "ocamlrun", "java", "dotnet", "mono", "erl",
    "escript", "awk", "gawk", "mawk", "nawk", "expect",
];

pub fn is_interpreter(basename: &[u8]) -> bool {
    INTERPRETERS.iter().any(|i| {
        basename.strip_prefix(i.as_bytes()).is_some_and(|version| {
            version
                .iter()
                .all(|b| b.is_ascii_digit() || *b == b'.' || *b == b'-')
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreters_with_and_without_versions() {
        for name in [
            "python3.11",
            "python3",
            "python",
            "perl5.36.0",
            "lua5.4",
            "node",
        ] {
            assert!(is_interpreter(name.as_bytes()), "{name}");
        }
        for name in [
            "ld",
            "python-config",
            "ldc2",
            "ocamlopt",
            "pythonx",
            "gcc-ar",
        ] {
            assert!(!is_interpreter(name.as_bytes()), "{name}");
        }
    }
}
