//! The environment contract (docs/DESIGN.md, "Environment"), parsed once at
//! load time from the values it is given: pure.
//!
//! Parsing is strict: a value we do not understand turns the shim off with one
//! warning line naming the variable, the value and what is accepted. Guessing
//! what a user meant inside their linker is never worth it.

pub use crate::gate::Claim;
use crate::glob;

pub const DEFAULT_TOOLS: &str = "ar,*-ar,llvm-ar*,gcc-ar*";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Pure pass-through.
    Off,
    /// Record only, never change behaviour.
    Observe,
    /// Convert the final archiver spawn.
    Exec,
}

/// A validated comma-separated list of globs (`ARSHIM_TOOLS`, `ARSHIM_HOSTS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobList(Vec<u8>);

impl GlobList {
    pub fn parse(text: &[u8]) -> Option<GlobList> {
        glob::list_is_valid(text).then(|| GlobList(text.to_vec()))
    }

    pub fn matches(&self, name: &[u8]) -> bool {
        glob::list_matches(&self.0, name)
    }

    /// The globs, surrounding spaces trimmed.
    pub fn entries(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|&b| b == b',').map(|e| e.trim_ascii())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    pub tools: GlobList,
    /// `ARSHIM_TOOLS` was set: else a known host uses its own globs
    /// (docs/DESIGN.md, "Scope").
    pub tools_given: bool,
    /// `ARSHIM_PID`: the one process that may convert, by pid and (unless
    /// set by hand as a bare pid) start time.
    pub pid: Option<Claim>,
    /// `ARSHIM_HOSTS`: every process whose executable matches may convert.
    pub hosts: Option<GlobList>,
    /// `ARSHIM_LOG`: an env_logger filter.
    pub log: Option<String>,
    /// `ARSHIM_TRACE`: file to append JSON lines to.
    pub trace: Option<Vec<u8>>,
    /// Internal `ARSHIM_SPENT`: the pid whose claim was used up by a conversion.
    /// The image that replaced that process has the same pid and must not convert.
    pub spent: Option<i32>,
    /// Internal `ARSHIM_COMPANION`: path of the companion binary (`arshim run` sets it).
    pub companion: Option<Vec<u8>>,
    /// `ARSHIM_FAILURE_STATUS`: the host's exit status when its archiver fails
    /// (ldc2 and ghc exit 1 whatever the archiver's status). A conversion then
    /// goes through the reaper, which reports a failure with this status.
    pub failure_status: Option<u8>,
    /// The line a known host prints itself for a failed archiver or link
    /// (ldc2's `Error: … failed with status: N`, ghc's for its ranlib): the
    /// reaper prints it in its place. Set from the known-host table, never
    /// from a variable.
    pub failure_line: Option<arshim_common::known_hosts::FailureLine>,
    /// `ARSHIM_FORCE=1` (`arshim run --force`): convert a known host that is
    /// not final anyway (docs/DESIGN.md, "Conversion" 8).
    pub force: bool,
    /// `ARSHIM_VERIFIED_ONLY=1` (`arshim run --verified-only`): only a binary
    /// `arshim verify` proved SAFE converts.
    pub verified_only: bool,
    /// Internal `ARSHIM_NOT_FINAL_SAID`: the known non-final hosts (by their
    /// entry's first name) whose refusal the companion has said once for the
    /// whole run (`arshim run --hosts rustc`): refused processes stay quiet.
    pub not_final_said: Option<GlobList>,
    /// `ARSHIM_TEMPS`: globs of the host's temporaries, which a conversion
    /// hands to the reaper (docs/DESIGN.md, "Conversion" 12).
    pub temps: Option<GlobList>,
}

/// A value we refuse; rendered as one warning line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    /// The value's first [`QUOTED_MAX`] bytes at most (a value of any length
    /// must not flood stderr; docs/DESIGN.md, "Environment").
    pub value: String,
    /// The whole value's length when `value` is only its beginning.
    pub cut_from: Option<usize>,
    pub accepted: &'static str,
}

/// How much of a bad value the warning quotes.
pub const QUOTED_MAX: usize = 80;

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ignoring {}={:?}", self.var, self.value)?;
        if let Some(len) = self.cut_from {
            write!(f, "\u{2026} ({len} bytes)")?;
        }
        write!(f, ": expected {}; the shim stays off", self.accepted)
    }
}

/// `ARSHIM` alone, so that the common case (variable absent) costs one scan of
/// the environment and nothing else.
pub fn parse_mode(value: Option<&[u8]>) -> Result<Mode, ConfigError> {
    use crate::gate::{is_one_of, MODE_EXEC, MODE_OBSERVE, MODE_OFF};
    match value {
        None => Ok(Mode::Off),
        Some(v) if is_one_of(v, MODE_OFF) => Ok(Mode::Off),
        Some(v) if is_one_of(v, MODE_EXEC) => Ok(Mode::Exec),
        Some(v) if is_one_of(v, MODE_OBSERVE) => Ok(Mode::Observe),
        Some(v) => Err(error("ARSHIM", v, "one of 0, off, 1, on, exec, observe")),
    }
}

fn error(var: &'static str, value: &[u8], accepted: &'static str) -> ConfigError {
    let shown = &value[..value.len().min(QUOTED_MAX)];
    let mut text = String::from_utf8_lossy(shown).into_owned();
    let cut = shown.len() < value.len();
    if cut && text.ends_with('\u{fffd}') {
        // Most likely a character cut in the middle: leave it out.
        text.pop();
    }
    ConfigError {
        var,
        value: text,
        cut_from: cut.then_some(value.len()),
        accepted,
    }
}

fn parse_pid(var: &'static str, v: &[u8]) -> Result<i32, ConfigError> {
    crate::gate::parse_pid(v)
        .ok_or_else(|| error(var, v, "a process id (a positive decimal integer)"))
}

fn parse_claim(v: &[u8]) -> Result<Claim, ConfigError> {
    crate::gate::parse_claim(v).ok_or_else(|| {
        error(
            "ARSHIM_PID",
            v,
            "a process id, alone or with its start time as `arshim run` writes it (PID:TICKS)",
        )
    })
}

fn parse_globs(var: &'static str, v: &[u8]) -> Result<GlobList, ConfigError> {
    GlobList::parse(v).ok_or_else(|| {
        error(
            var,
            v,
            "a comma-separated list of non-empty globs, e.g. ar,*-ar",
        )
    })
}

fn non_empty(var: &'static str, v: &[u8], accepted: &'static str) -> Result<Vec<u8>, ConfigError> {
    if v.is_empty() {
        Err(error(var, v, accepted))
    } else {
        Ok(v.to_vec())
    }
}

const LOG_ACCEPTED: &str = "a comma-separated list of LEVEL or arshim=LEVEL (LEVEL one of off, \
     error, warn, info, debug, trace), e.g. info";

/// `ARSHIM_LOG`: the part of env_logger's filter syntax that means something
/// for the shim, whose lines all have the target `arshim`. env_logger itself
/// warns in its own words and carries on with a filter it half understood;
/// we refuse instead (docs/DESIGN.md, "Environment").
fn parse_log(v: &[u8]) -> Result<String, ConfigError> {
    let bad = || error("ARSHIM_LOG", v, LOG_ACCEPTED);
    let text = std::str::from_utf8(v).map_err(|_| bad())?;
    if text.is_empty() || !text.split(',').all(log_directive_is_valid) {
        return Err(bad());
    }
    Ok(text.to_owned())
}

/// One directive: `LEVEL`, `TARGET=LEVEL`, or `arshim` alone (all levels).
/// A bare word that is not a level would be, for env_logger, a target at
/// every level: for us a misspelt level (`loud`), so it is refused, and so
/// are env_logger's `/regex` suffix, empty items and `TARGET=`.
fn log_directive_is_valid(item: &str) -> bool {
    let item = item.trim();
    match item.split_once('=') {
        None => is_log_level(item) || item == "arshim",
        Some((target, level)) => log_target_is_valid(target.trim()) && is_log_level(level.trim()),
    }
}

fn is_log_level(word: &str) -> bool {
    ["off", "error", "warn", "info", "debug", "trace"]
        .iter()
        .any(|l| word.eq_ignore_ascii_case(l))
}

/// A module path as env_logger matches it (`arshim`, `foo::bar`).
fn log_target_is_valid(target: &str) -> bool {
    !target.is_empty()
        && target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_:-".contains(&b))
}

fn parse_failure_status(v: &[u8]) -> Result<u8, ConfigError> {
    match std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse::<u8>().ok())
    {
        Some(code) if code > 0 && v[0] != b'+' => Ok(code),
        _ => Err(error(
            "ARSHIM_FAILURE_STATUS",
            v,
            "an exit status from 1 to 255",
        )),
    }
}

/// `ARSHIM_FORCE`, `ARSHIM_VERIFIED_ONLY`: `1` or `0` (the default).
fn parse_switch(var: &'static str, v: &[u8]) -> Result<bool, ConfigError> {
    match v {
        b"1" => Ok(true),
        b"0" => Ok(false),
        _ => Err(error(var, v, "1 or 0")),
    }
}

/// `ARSHIM_TEMPS`: globs, each on an absolute path or under `$TMPDIR/`.
fn parse_temps(v: &[u8]) -> Result<GlobList, ConfigError> {
    let list = GlobList::parse(v).filter(|l| l.entries().all(super::temps::entry_is_valid));
    list.ok_or_else(|| {
        error(
            arshim_common::names::TEMPS_VAR,
            v,
            "a comma-separated list of globs on absolute paths (or under $TMPDIR/)",
        )
    })
}

/// Parses the whole table. `get` looks a variable up in the environment the
/// process started with.
pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a [u8]>) -> Result<Config, ConfigError> {
    let mode = parse_mode(get("ARSHIM"))?;
    let tools_given = get("ARSHIM_TOOLS").is_some();
    let tools = match get("ARSHIM_TOOLS") {
        Some(v) => parse_globs("ARSHIM_TOOLS", v)?,
        None => GlobList::parse(DEFAULT_TOOLS.as_bytes()).expect("default globs are valid"),
    };
    // Reserved room (`gate::UNCLAIMED`) is no claim: this process may be
    // the first to load the library and claim itself in it.
    let pid = get("ARSHIM_PID")
        .filter(|v| *v != crate::gate::UNCLAIMED)
        .map(parse_claim)
        .transpose()?;
    let hosts = get("ARSHIM_HOSTS")
        .map(|v| parse_globs("ARSHIM_HOSTS", v))
        .transpose()?;
    let log = get("ARSHIM_LOG").map(parse_log).transpose()?;
    let trace = get("ARSHIM_TRACE")
        .map(|v| non_empty("ARSHIM_TRACE", v, "a file path"))
        .transpose()?;
    let spent = get("ARSHIM_SPENT")
        .map(|v| parse_pid("ARSHIM_SPENT", v))
        .transpose()?;
    let companion = get("ARSHIM_COMPANION")
        .map(|v| non_empty("ARSHIM_COMPANION", v, "the path of the arshim binary"))
        .transpose()?;
    let failure_status = get("ARSHIM_FAILURE_STATUS")
        .map(parse_failure_status)
        .transpose()?;
    let switch = |var| get(var).map(|v| parse_switch(var, v)).transpose();
    let force = switch("ARSHIM_FORCE")?.unwrap_or(false);
    let verified_only = switch("ARSHIM_VERIFIED_ONLY")?.unwrap_or(false);
    let not_final_said = get("ARSHIM_NOT_FINAL_SAID")
        .map(|v| parse_globs("ARSHIM_NOT_FINAL_SAID", v))
        .transpose()?;
    let temps = get(arshim_common::names::TEMPS_VAR)
        .map(parse_temps)
        .transpose()?;
    Ok(Config {
        temps,
        mode,
        tools,
        tools_given,
        pid,
        hosts,
        log,
        trace,
        spent,
        companion,
        failure_status,
        failure_line: None,
        force,
        verified_only,
        not_final_said,
    })
}

/// Finds `NAME=value` in the raw `ARSHIM*` entries (shared with the preload).
pub use crate::gate::lookup;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_env(entries: &[&str]) -> Result<Config, ConfigError> {
        let raw: Vec<&[u8]> = entries.iter().map(|e| e.as_bytes()).collect();
        parse(|name| lookup(&raw, name))
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode(None), Ok(Mode::Off));
        for off in ["", "0", "off", "OFF"] {
            assert_eq!(parse_mode(Some(off.as_bytes())), Ok(Mode::Off));
        }
        for on in ["1", "on", "exec", "Exec"] {
            assert_eq!(parse_mode(Some(on.as_bytes())), Ok(Mode::Exec));
        }
        assert_eq!(parse_mode(Some(b"observe")), Ok(Mode::Observe));
        let err = parse_mode(Some(b"bogus")).unwrap_err();
        assert_eq!(err.var, "ARSHIM");
        let line = err.to_string();
        assert!(line.contains("ARSHIM=\"bogus\""), "{line}");
        assert!(line.contains("observe"), "{line}");
        assert!(parse_mode(Some(b"2")).is_err());
        assert!(parse_mode(Some(b" 1")).is_err());
    }

    #[test]
    fn temps_globs_are_absolute_or_under_tmpdir() {
        let c = parse_env(&["ARSHIM=1", "ARSHIM_TEMPS=$TMPDIR/ghc*_*, /w/tmp-[ab]*"]).unwrap();
        let temps = c.temps.unwrap();
        let globs: Vec<&[u8]> = temps.entries().collect();
        assert_eq!(globs, [&b"$TMPDIR/ghc*_*"[..], b"/w/tmp-[ab]*"]);
        for bad in ["tmp*", "/t,,/u", "$HOME/x", "/t/[ab", ""] {
            let err = parse_env(&["ARSHIM=1", &format!("ARSHIM_TEMPS={bad}")]).unwrap_err();
            assert_eq!(err.var, "ARSHIM_TEMPS", "{bad:?}");
        }
        assert_eq!(parse_env(&["ARSHIM=1"]).unwrap().temps, None);
    }

    #[test]
    fn defaults() {
        let c = parse_env(&["ARSHIM=1", "PATH=/bin"]).unwrap();
        assert_eq!(c.mode, Mode::Exec);
        assert!(c.tools.matches(b"ar") && c.tools.matches(b"llvm-ar-15"));
        assert_eq!(c.pid, None);
        assert_eq!(c.hosts, None);
        assert_eq!(c.trace, None);
    }

    #[test]
    fn full_table() {
        let c = parse_env(&[
            "ARSHIM=observe",
            "ARSHIM_TOOLS=*ranlib",
            "ARSHIM_PID=4242",
            "ARSHIM_HOSTS=ld*,ghc",
            "ARSHIM_LOG=info",
            "ARSHIM_TRACE=/tmp/t.jsonl",
            "ARSHIM_SPENT=17",
            "ARSHIM_FAILURE_STATUS=1",
            "ARSHIM_FORCE=1",
            "ARSHIM_VERIFIED_ONLY=1",
        ])
        .unwrap();
        assert_eq!(c.mode, Mode::Observe);
        assert!(c.tools.matches(b"x86_64-linux-gnu-ranlib") && !c.tools.matches(b"ar"));
        assert_eq!(
            c.pid,
            Some(Claim {
                pid: 4242,
                start: None
            })
        );
        assert!(c.hosts.as_ref().unwrap().matches(b"ldc2"));
        assert_eq!(c.log.as_deref(), Some("info"));
        assert_eq!(c.trace.as_deref(), Some(&b"/tmp/t.jsonl"[..]));
        assert_eq!(c.spent, Some(17));
        assert_eq!(c.failure_status, Some(1));
        assert!(c.force && c.verified_only);
        assert!(!parse_env(&["ARSHIM=1", "ARSHIM_FORCE=0"]).unwrap().force);
    }

    #[test]
    fn strict_values() {
        for (entry, var) in [
            ("ARSHIM_PID=abc", "ARSHIM_PID"),
            ("ARSHIM_PID=0", "ARSHIM_PID"),
            ("ARSHIM_PID=-5", "ARSHIM_PID"),
            ("ARSHIM_PID=99999999999", "ARSHIM_PID"),
            ("ARSHIM_PID=5:", "ARSHIM_PID"),
            ("ARSHIM_PID=5:x", "ARSHIM_PID"),
            ("ARSHIM_TOOLS=", "ARSHIM_TOOLS"),
            ("ARSHIM_TOOLS=ar,,x", "ARSHIM_TOOLS"),
            ("ARSHIM_HOSTS=,", "ARSHIM_HOSTS"),
            ("ARSHIM_TRACE=", "ARSHIM_TRACE"),
            ("ARSHIM_LOG=", "ARSHIM_LOG"),
            ("ARSHIM_FAILURE_STATUS=0", "ARSHIM_FAILURE_STATUS"),
            ("ARSHIM_FAILURE_STATUS=256", "ARSHIM_FAILURE_STATUS"),
            ("ARSHIM_FAILURE_STATUS=one", "ARSHIM_FAILURE_STATUS"),
            ("ARSHIM_FORCE=yes", "ARSHIM_FORCE"),
            ("ARSHIM_FORCE=", "ARSHIM_FORCE"),
            ("ARSHIM_VERIFIED_ONLY=on", "ARSHIM_VERIFIED_ONLY"),
        ] {
            let err = parse_env(&["ARSHIM=1", entry]).unwrap_err();
            assert_eq!(err.var, var, "{entry}");
        }
    }

    #[test]
    fn log_filters_env_logger_would_take_whole() {
        for good in [
            "info",
            "DEBUG",
            "off",
            "arshim",
            "arshim=trace",
            "warn,arshim=debug",
            "info, arshim = Debug",
            "foo::bar=error",
        ] {
            assert_eq!(parse_log(good.as_bytes()).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "",
            "loud",
            "info,foo=nope",
            "info,,debug",
            "arshim=",
            "=info",
            "info/regex",
            "a=b=c",
            "foo bar=info",
            "in\u{fffd}fo",
        ] {
            let err = parse_log(bad.as_bytes()).unwrap_err();
            assert_eq!(err.var, "ARSHIM_LOG", "{bad}");
            assert!(err.to_string().contains("trace"), "{err}");
        }
        assert!(parse_log(b"inf\xffo").is_err(), "not UTF-8");
    }

    #[test]
    fn bad_values_are_quoted_short() {
        let long = vec![b'x'; 100_000];
        let err = error("ARSHIM_LOG", &long, "a level");
        let line = err.to_string();
        assert!(line.len() < 200, "{}", line.len());
        assert!(
            line.contains(&format!("\"{}\"\u{2026} (100000 bytes)", "x".repeat(80))),
            "{line}"
        );
        // a multi-byte character cut at the limit is left out, not mangled
        let mut v = vec![b'a'; 79];
        v.extend_from_slice("é and more".as_bytes());
        let err = error("ARSHIM_TRACE", &v, "a path");
        assert_eq!(err.value, "a".repeat(79));
        assert_eq!(err.cut_from, Some(v.len()));
        // short values are quoted whole, escaped on one line
        let line = error("ARSHIM", b"a\nb", "x").to_string();
        assert!(line.contains(r#"ARSHIM="a\nb": expected x"#), "{line}");
    }
}
