//! The two ways a benchmarked command runs: A without the library, B through
//! it exactly as `arshim run` sets it up.
//!
//! B spawns `arshim run -- CMD` rather than CMD with a copied environment:
//! `ARSHIM_PID` must be the command's own pid, known only once it exists, and
//! `arshim run` execs the command in its own pid, so the tree's root is the
//! command itself (after about a millisecond of arshim's start-up).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use crate::preload;
use crate::settings::var;

/// Which side of the comparison a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Without,
    With,
}

impl Side {
    /// Alternating A B A B …: run `i` (from 0) of a benchmark.
    pub fn of_run(i: usize) -> Side {
        if i.is_multiple_of(2) {
            Side::Without
        } else {
            Side::With
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Side::Without => "without arshim",
            Side::With => "with arshim",
        }
    }

    /// For JSON keys.
    pub fn key(self) -> &'static str {
        match self {
            Side::Without => "without",
            Side::With => "with",
        }
    }
}

/// What both sides start from: the inherited environment minus every
/// `ARSHIM*` variable and minus our library in `LD_PRELOAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrub {
    /// Variables to remove.
    pub remove: Vec<OsString>,
    /// `LD_PRELOAD` to set instead of the inherited one (`None`: leave it).
    pub preload: Option<OsString>,
}

/// Computes the scrub from the environment's variables. `is_ours` recognises
/// our library (any path whose file is `libarshim.so` also counts).
pub fn scrub<'a>(
    vars: impl IntoIterator<Item = (&'a OsStr, &'a OsStr)>,
    is_ours: impl Fn(&Path) -> bool,
) -> Scrub {
    let mut out = Scrub {
        remove: Vec::new(),
        preload: None,
    };
    for (name, value) in vars {
        if name.as_bytes().starts_with(b"ARSHIM") {
            out.remove.push(name.to_owned());
        } else if name == var::PRELOAD {
            let kept: Vec<&[u8]> = preload::entries(value)
                .filter(|e| !is_ours(e) && e.file_name() != Some(OsStr::new("libarshim.so")))
                .map(|e| e.as_os_str().as_bytes())
                .collect();
            if kept.is_empty() {
                out.remove.push(name.to_owned());
            } else {
                out.preload = Some(OsStr::from_bytes(&kept.join(&b':')).to_owned());
            }
        }
    }
    out
}

fn apply(cmd: &mut Command, scrub: &Scrub) {
    for name in &scrub.remove {
        cmd.env_remove(name);
    }
    if let Some(preload) = &scrub.preload {
        cmd.env(var::PRELOAD, preload);
    }
}

/// The command as it is built for one side. `command` is CMD ARGS… (non-empty).
/// `tools` and `hosts` are passed to `arshim run` as given (B only).
pub fn command(
    side: Side,
    command: &[OsString],
    scrub: &Scrub,
    companion: &Path,
    library: &Path,
    tools: Option<&str>,
    hosts: Option<&str>,
) -> Command {
    match side {
        Side::Without => {
            let mut cmd = Command::new(&command[0]);
            cmd.args(&command[1..]);
            apply(&mut cmd, scrub);
            cmd
        }
        Side::With => {
            let mut cmd = Command::new(companion);
            cmd.arg("run");
            if let Some(tools) = tools {
                cmd.args(["--tools", tools]);
            }
            if let Some(hosts) = hosts {
                cmd.args(["--hosts", hosts]);
            }
            cmd.arg("--").args(command);
            apply(&mut cmd, scrub);
            // The library this benchmark located, whatever `run` would find.
            cmd.env(var::LIB, library);
            cmd
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn os(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn runs_alternate_starting_without() {
        let sides: Vec<Side> = (0..4).map(Side::of_run).collect();
        assert_eq!(
            sides,
            [Side::Without, Side::With, Side::Without, Side::With]
        );
    }

    #[test]
    fn scrub_removes_our_variables_and_library() {
        let vars = [
            (os("ARSHIM"), os("1")),
            (os("ARSHIM_PID"), os("7")),
            (os("ARSHIM_TRACE"), os("/t")),
            (os("PATH"), os("/bin")),
            (os("LD_PRELOAD"), os("/x/libarshim.so /a.so:/alias.so")),
        ];
        let s = scrub(vars, |p| p == Path::new("/alias.so"));
        assert_eq!(s.remove, ["ARSHIM", "ARSHIM_PID", "ARSHIM_TRACE"]);
        assert_eq!(s.preload.as_deref(), Some(os("/a.so")));
    }

    #[test]
    fn scrub_drops_a_preload_that_held_only_us() {
        let s = scrub([(os("LD_PRELOAD"), os("/x/libarshim.so"))], |_| false);
        assert_eq!(s.remove, ["LD_PRELOAD"]);
        assert_eq!(s.preload, None);
        let s = scrub([(os("HOME"), os("/root"))], |_| false);
        assert!(s.remove.is_empty() && s.preload.is_none());
    }

    #[test]
    fn without_runs_the_command_itself_with_the_scrub() {
        let s = Scrub {
            remove: vec!["ARSHIM".into()],
            preload: Some("/a.so".into()),
        };
        let cmd = command(
            Side::Without,
            &["ld".into(), "-o".into(), "x.a".into()],
            &s,
            Path::new("/b/arshim"),
            Path::new("/b/libarshim.so"),
            Some("ar"),
            Some("ld"),
        );
        assert_eq!(cmd.get_program(), "ld");
        assert_eq!(cmd.get_args().collect::<Vec<_>>(), ["-o", "x.a"]);
        let envs: HashMap<_, _> = cmd.get_envs().collect();
        assert_eq!(envs[os("ARSHIM")], None);
        assert_eq!(envs[os("LD_PRELOAD")], Some(os("/a.so")));
        assert!(!envs.contains_key(os("ARSHIM_LIB")));
    }

    #[test]
    fn with_goes_through_arshim_run() {
        let s = Scrub {
            remove: vec![],
            preload: None,
        };
        let cmd = command(
            Side::With,
            &["ld".into(), "--".into()],
            &s,
            Path::new("/b/arshim"),
            Path::new("/b/libarshim.so"),
            Some("ar,my-ar"),
            None,
        );
        assert_eq!(cmd.get_program(), "/b/arshim");
        assert_eq!(
            cmd.get_args().collect::<Vec<_>>(),
            ["run", "--tools", "ar,my-ar", "--", "ld", "--"]
        );
        let envs: HashMap<_, _> = cmd.get_envs().collect();
        assert_eq!(envs[os("ARSHIM_LIB")], Some(os("/b/libarshim.so")));
        let plain = command(
            Side::With,
            &["ld".into()],
            &s,
            Path::new("/a"),
            Path::new("/l"),
            None,
            None,
        );
        assert_eq!(plain.get_args().collect::<Vec<_>>(), ["run", "--", "ld"]);
        let build = command(
            Side::With,
            &["make".into(), "-j4".into()],
            &s,
            Path::new("/a"),
            Path::new("/l"),
            None,
            Some("ld-*"),
        );
        assert_eq!(
            build.get_args().collect::<Vec<_>>(),
            ["run", "--hosts", "ld-*", "--", "make", "-j4"],
            "the build driver runs as `arshim run --hosts` runs it"
        );
    }
}
