//! The variables that configure the library, and the changes to the
//! environment that express a chosen configuration. Shared by `run` (applies
//! them to the command it execs) and `env` (prints them for a shell).

use std::ffi::OsString;
use std::path::PathBuf;

/// Names of the environment variables read by the library or the companion.
pub mod var {
    pub const PRELOAD: &str = "LD_PRELOAD";
    pub const MODE: &str = "ARSHIM";
    pub const TOOLS: &str = "ARSHIM_TOOLS";
    pub const PID: &str = "ARSHIM_PID";
    pub const HOSTS: &str = "ARSHIM_HOSTS";
    pub const LOG: &str = "ARSHIM_LOG";
    pub const TRACE: &str = "ARSHIM_TRACE";
    /// Internal: set by the library once a process has converted.
    pub const SPENT: &str = "ARSHIM_SPENT";
    /// Internal: where the library finds the companion (its reaper mode).
    pub const COMPANION: &str = "ARSHIM_COMPANION";
    /// Companion only: explicit path of the library.
    pub const LIB: &str = "ARSHIM_LIB";
    /// The host's exit status when its archiver fails (known hosts such as
    /// ldc2 and ghc report any archiver failure as 1).
    pub const FAILURE_STATUS: &str = "ARSHIM_FAILURE_STATUS";
    /// `1`: the library converts known non-final hosts anyway (`run --force`).
    pub const FORCE: &str = "ARSHIM_FORCE";
    /// `1`: the library converts only binaries verified SAFE (`run --verified-only`).
    pub const VERIFIED_ONLY: &str = "ARSHIM_VERIFIED_ONLY";
    /// Internal: the known non-final hosts whose refusal `run --hosts` said
    /// once (their entries' first names): the library does not say it again.
    pub const NOT_FINAL_SAID: &str = "ARSHIM_NOT_FINAL_SAID";
    /// Globs of the host's temporaries, which a conversion hands to the reaper.
    pub const TEMPS: &str = arshim_common::names::TEMPS_VAR;
}

/// What the library uses when `ARSHIM_TOOLS` is unset.
pub const DEFAULT_TOOLS: &str = "ar,*-ar,llvm-ar*,gcc-ar*";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Convert the final archiver spawn into an exec.
    Exec,
    /// Never change behaviour; only log and trace.
    Observe,
}

impl Mode {
    pub fn value(self) -> &'static str {
        match self {
            Mode::Exec => "1",
            Mode::Observe => "observe",
        }
    }
}

/// Which processes may convert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Exactly this process: its pid and, when /proc tells, its start time
    /// (`arshim run` passes its own: it execs the command, which keeps both).
    /// The start time keeps a later process that reuses the pid out.
    Pid(u32, Option<u64>),
    /// Every process whose executable's basename matches these globs.
    Hosts(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    pub scope: Scope,
    /// `None`: leave whatever the environment has (the library's default if unset).
    pub tools: Option<String>,
    pub log: Option<String>,
    /// Must already be absolute: the traced processes may change directory.
    pub trace: Option<PathBuf>,
    pub companion: PathBuf,
    /// Set for known hosts that report an archiver failure with their own status.
    pub failure_status: Option<u8>,
    /// `--force`: the library converts known non-final and NOT SAFE hosts too.
    pub force: bool,
    /// `--verified-only`: the library converts only hosts verified SAFE.
    pub verified_only: bool,
    /// `--temps`: globs of the host's temporaries (`ARSHIM_TEMPS`).
    pub temps: Option<String>,
}

/// One edit of the environment. `LD_PRELOAD` is not among them: `run` computes
/// its final value, while `env` must defer to the value present at eval time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Set(&'static str, OsString),
    Unset(&'static str),
}

impl Settings {
    pub fn changes(&self) -> Vec<Change> {
        use Change::{Set, Unset};
        let mut out = vec![Set(var::MODE, self.mode.value().into())];
        // The scope fully decides both PID and HOSTS, so an inherited value of
        // the other one cannot widen or narrow what was asked for.
        match &self.scope {
            Scope::Pid(pid, start) => {
                let pid = i32::try_from(*pid).unwrap_or(0);
                let claim = arshim_common::gate::claim_text(pid, *start).to_string();
                out.push(Set(var::PID, claim.into()));
                out.push(Unset(var::HOSTS));
            }
            Scope::Hosts(globs) => {
                out.push(Unset(var::PID));
                out.push(Set(var::HOSTS, globs.into()));
            }
        }
        if let Some(tools) = &self.tools {
            out.push(Set(var::TOOLS, tools.into()));
        }
        if let Some(temps) = &self.temps {
            out.push(Set(var::TEMPS, temps.into()));
        }
        if let Some(log) = &self.log {
            out.push(Set(var::LOG, log.into()));
        }
        if let Some(trace) = &self.trace {
            out.push(Set(var::TRACE, trace.into()));
        }
        out.push(Set(var::COMPANION, self.companion.clone().into()));
        match self.failure_status {
            Some(code) => out.push(Set(var::FAILURE_STATUS, code.to_string().into())),
            None => out.push(Unset(var::FAILURE_STATUS)),
        }
        // Set or removed, so that an inherited override never outlives its run.
        for (on, name) in [
            (self.force, var::FORCE),
            (self.verified_only, var::VERIFIED_ONLY),
        ] {
            out.push(if on {
                Set(name, "1".into())
            } else {
                Unset(name)
            });
        }
        // A marker inherited from an earlier conversion must not disable this one.
        out.push(Unset(var::SPENT));
        out
    }
}

/// Validates a comma list of basename globs (`--tools`, `--hosts`).
pub fn glob_list(list: &str) -> Result<String, String> {
    if list.is_empty() {
        return Err(format!(
            "expected a comma-separated list of globs, such as {DEFAULT_TOOLS}"
        ));
    }
    for glob in list.split(',') {
        if glob.is_empty() {
            return Err(format!("empty glob in '{list}' (stray comma?)"));
        }
        if glob.trim() != glob {
            return Err(format!(
                "glob '{glob}' has surrounding whitespace, which would never match"
            ));
        }
        if glob.contains('/') {
            return Err(format!(
                "glob '{glob}' contains '/', but globs match a program's basename"
            ));
        }
    }
    Ok(list.to_owned())
}

/// Validates `--temps`: a comma list of globs on absolute paths, or under
/// `$TMPDIR/` (the library's rule for `ARSHIM_TEMPS`).
pub fn temps_list(list: &str) -> Result<String, String> {
    let valid = |g: &str| g.starts_with('/') || (g.starts_with("$TMPDIR/") && g.len() > 8);
    match list.split(',').find(|g| !valid(g)) {
        None if arshim_common::glob::list_is_valid(list.as_bytes()) => Ok(list.to_owned()),
        None => Err(format!("'{list}': a bracket is not closed")),
        Some(g) => Err(format!(
            "glob '{g}' is not an absolute path or one under $TMPDIR/ (such as $TMPDIR/mytool*)"
        )),
    }
}

/// Validates `--hosts`: a comma list of globs on the linkers' basenames;
/// the example for an empty list names linkers, not archivers.
pub fn host_glob_list(list: &str) -> Result<String, String> {
    if list.is_empty() {
        return Err(
            "expected a comma-separated list of globs on the basenames of the \
                    linkers that may convert, such as ld-legacy*,ldc2"
                .to_owned(),
        );
    }
    glob_list(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Change::{Set, Unset};

    fn settings(scope: Scope) -> Settings {
        Settings {
            mode: Mode::Exec,
            scope,
            tools: None,
            log: None,
            trace: None,
            companion: PathBuf::from("/bin/arshim"),
            failure_status: None,
            force: false,
            verified_only: false,
            temps: None,
        }
    }

    #[test]
    fn pid_scope_sets_pid_and_clears_hosts() {
        assert_eq!(
            settings(Scope::Pid(42, Some(9876))).changes(),
            vec![
                Set("ARSHIM", "1".into()),
                Set("ARSHIM_PID", "0000042:000000009876".into()),
                Unset("ARSHIM_HOSTS"),
                Set("ARSHIM_COMPANION", "/bin/arshim".into()),
                Unset("ARSHIM_FAILURE_STATUS"),
                Unset("ARSHIM_FORCE"),
                Unset("ARSHIM_VERIFIED_ONLY"),
                Unset("ARSHIM_SPENT"),
            ]
        );
    }

    #[test]
    fn hosts_scope_removes_pid() {
        let c = settings(Scope::Hosts("ld-legacy*".into())).changes();
        assert!(c.contains(&Unset("ARSHIM_PID")));
        assert!(c.contains(&Set("ARSHIM_HOSTS", "ld-legacy*".into())));
    }

    #[test]
    fn optional_settings_appear_only_when_given() {
        let mut s = settings(Scope::Hosts("x".into()));
        s.mode = Mode::Observe;
        s.tools = Some("ar".into());
        s.log = Some("debug".into());
        s.trace = Some("/tmp/t.jsonl".into());
        let c = s.changes();
        assert_eq!(c[0], Set("ARSHIM", "observe".into()));
        assert!(c.contains(&Set("ARSHIM_TOOLS", "ar".into())));
        assert!(c.contains(&Set("ARSHIM_LOG", "debug".into())));
        assert!(c.contains(&Set("ARSHIM_TRACE", "/tmp/t.jsonl".into())));
        let names = |c: &[Change]| -> Vec<&'static str> {
            c.iter()
                .map(|ch| match ch {
                    Set(n, _) | Unset(n) => *n,
                })
                .collect()
        };
        let plain = names(&settings(Scope::Hosts("x".into())).changes());
        for n in ["ARSHIM_TOOLS", "ARSHIM_LOG", "ARSHIM_TRACE"] {
            assert!(!plain.contains(&n), "{n} should be left alone");
        }
    }

    #[test]
    fn force_is_set_only_when_asked() {
        let mut s = settings(Scope::Hosts("ocamlopt*".into()));
        s.force = true;
        s.verified_only = true;
        assert!(s.changes().contains(&Set("ARSHIM_FORCE", "1".into())));
        assert!(s
            .changes()
            .contains(&Set("ARSHIM_VERIFIED_ONLY", "1".into())));
    }

    #[test]
    fn spent_marker_is_always_removed() {
        for scope in [
            Scope::Pid(1, None),
            Scope::Hosts("x".into()),
            Scope::Hosts("y".into()),
        ] {
            assert!(settings(scope).changes().contains(&Unset("ARSHIM_SPENT")));
        }
    }

    #[test]
    fn glob_lists_accept_the_default_and_single_globs() {
        assert_eq!(glob_list(DEFAULT_TOOLS).as_deref(), Ok(DEFAULT_TOOLS));
        assert!(glob_list("ld-legacy").is_ok());
    }

    #[test]
    fn glob_lists_reject_empty_items() {
        assert!(glob_list("").is_err());
        assert!(glob_list(",").is_err());
        assert!(glob_list("ar,").is_err());
        assert!(glob_list("ar,,x").is_err());
    }

    #[test]
    fn host_lists_name_linkers_in_their_example() {
        let err = host_glob_list("").unwrap_err();
        assert!(err.ends_with("such as ld-legacy*,ldc2"), "{err}");
        assert!(host_glob_list("ld,").is_err());
        assert_eq!(host_glob_list("ld*,ldc2").as_deref(), Ok("ld*,ldc2"));
    }

    #[test]
    fn glob_lists_reject_globs_that_could_never_match() {
        assert!(glob_list("ar, llvm-ar").is_err());
        assert!(glob_list("/usr/bin/ar").is_err());
    }
}
