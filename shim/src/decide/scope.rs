//! Which process may convert (docs/DESIGN.md, "Scope"): pure, from the
//! configuration and this process's identity.
//!
//! Decided once at load time from the configuration, this process's pid, its
//! executable's name and whether the loader runs it in secure-execution mode.

use crate::decide::config::{Config, GlobList, Mode};
use crate::decide::verdicts::Known;
use arshim_common::known_hosts;
use arshim_common::names::{is_driver, is_exec_wrapper};

/// What the process knows about itself at load time.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    pub pid: i32,
    /// Start time (field 22 of `/proc/self/stat`), read only where a claim
    /// is to be checked or made; `None` when not read or unreadable.
    pub start: Option<u64>,
    /// Basename of `/proc/self/exe` (symlinks resolved).
    pub exe: &'a [u8],
    /// Basename of `argv[0]` (the name it was called by: `sh` for dash, `gcc-ar`).
    pub argv0: &'a [u8],
    /// `AT_SECURE`: setuid/setgid or capabilities; the loader already distrusts us.
    pub secure: bool,
    /// An interpreter's script (canonical path; `decide::script`), read only
    /// where it keys a verdict or the trace names it.
    pub script: Option<&'a [u8]>,
}

impl Identity<'_> {
    fn names(&self) -> [&[u8]; 2] {
        [self.exe, self.argv0]
    }

    /// The name it was called by, else its executable's.
    fn shown_name(&self) -> &[u8] {
        if self.argv0.is_empty() {
            self.exe
        } else {
            self.argv0
        }
    }

    fn is_driver(&self) -> bool {
        self.names().iter().any(|n| is_driver(n))
    }

    /// The name a warning shows: `argv[0]`'s, else the executable's.
    fn shown(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(if self.argv0.is_empty() {
            self.exe
        } else {
            self.argv0
        })
    }

    /// What a verdict is about: the program, with its script for a script
    /// host (docs/DESIGN.md, "Verdicts").
    fn judged(&self) -> String {
        match self.script {
            Some(script) => format!(
                "{} running {}",
                self.shown(),
                String::from_utf8_lossy(script)
            ),
            None => self.shown().into_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `Off` when out of scope.
    pub mode: Mode,
    /// Why (for the trace and the log).
    pub reason: &'static str,
    /// Set `ARSHIM_PID` to our pid and start time in our own environment, so
    /// descendants stay off, and a later process that reuses the pid too:
    /// the first loader's claim, or a bare pid set by hand made whole.
    pub claim: bool,
    /// Write the claim with a start time of 0 (`PID:000000000000`), which no
    /// process has: a shell or driver that claimed keeps its promise that
    /// nothing converts, even a program it `exec`s in the same pid (which
    /// keeps the real start time), at no more bytes than any claim.
    pub nobody: bool,
    /// One warning line for stderr, if any.
    pub warning: Option<String>,
    /// A line for stderr only when ARSHIM_LOG is set (info, not a problem).
    pub note: Option<String>,
}

fn out(reason: &'static str) -> Scope {
    Scope {
        mode: Mode::Off,
        reason,
        claim: false,
        nobody: false,
        warning: None,
        note: None,
    }
}

pub fn decide(config: &Config, me: &Identity<'_>) -> Scope {
    if config.mode == Mode::Off {
        return out("ARSHIM is off");
    }
    if me.secure {
        return out("secure-execution process (setuid/setgid)");
    }
    if config.spent == Some(me.pid) {
        return out("this image replaced a converted process: its claim is spent");
    }
    let scope = match &config.hosts {
        Some(hosts) => by_hosts(config, hosts, me),
        None => by_claim(config, me),
    };
    refuse_not_final(config, me, scope)
}

/// A process that would convert but is a known host doing more work after
/// its archiver (docs/DESIGN.md, "Conversion" 8) is refused here, however it
/// was selected (`ARSHIM_PID` through an exec wrapper or a script,
/// `ARSHIM_HOSTS`, a hand-set environment), unless `ARSHIM_FORCE=1`. It
/// keeps its claim, so that its descendants do not claim themselves.
/// Observe mode changes nothing and stays (`arshim verify` observes them).
fn refuse_not_final(config: &Config, me: &Identity<'_>, scope: Scope) -> Scope {
    if scope.mode != Mode::Exec || config.force {
        return scope;
    }
    let Some((name, host)) = known_hosts::not_final_entry(&[me.argv0, me.exe]) else {
        return scope;
    };
    let why = host.not_final.unwrap_or_default();
    Scope {
        claim: scope.claim,
        warning: (!refusal_said(config, host)).then(|| {
            format!(
                "{} is not final ({why}): not converting (ARSHIM_FORCE=1 converts it anyway)",
                String::from_utf8_lossy(name)
            )
        }),
        ..out("known host that is not final")
    }
}

/// A final known host run with an option that makes it do more work after
/// its final spawn (`ldc2 -run`, `-cleanup-obj`; docs/DESIGN.md,
/// "Compilers") is refused, unless `ARSHIM_FORCE=1`. `args` are its
/// arguments after `argv[0]` (`/proc/self/cmdline`, response files
/// expanded), `None` when they could not be read: then it is refused too.
/// It keeps its claim.
pub fn refuse_by_options(
    config: &Config,
    me: &Identity<'_>,
    scope: Scope,
    args: Option<&[&[u8]]>,
) -> Scope {
    if scope.mode != Mode::Exec || config.force {
        return scope;
    }
    let Some(rule) = known_hosts::NotFinalWith::for_names(&[me.argv0, me.exe]) else {
        return scope;
    };
    let given = match args {
        Some(args) => args.iter().find(|a| rule.given(a)).map(|a| a.to_vec()),
        None => Some(b"(its arguments or a response file could not be read)".to_vec()),
    };
    let Some(given) = given else {
        return scope;
    };
    Scope {
        claim: scope.claim,
        warning: Some(format!(
            "{} {} is not final ({}): not converting (ARSHIM_FORCE=1 converts it anyway)",
            String::from_utf8_lossy(me.shown_name()),
            String::from_utf8_lossy(&given),
            rule.why
        )),
        ..out("known host run with an option that is not final")
    }
}

/// The companion said this host's refusal once for the whole run
/// (`ARSHIM_NOT_FINAL_SAID`, docs/DESIGN.md "Scope"): a build's hundred
/// rustc processes do not each say it again.
fn refusal_said(config: &Config, host: &known_hosts::KnownHost) -> bool {
    let first = host.names.first().map(|n| n.as_bytes()).unwrap_or_default();
    config
        .not_final_said
        .as_ref()
        .is_some_and(|said| said.matches(first))
}

/// `ARSHIM_HOSTS` set: every process it matches may convert, but a shell or
/// build driver never does.
fn by_hosts(config: &Config, hosts: &GlobList, me: &Identity<'_>) -> Scope {
    let matched = me.names().iter().any(|n| !n.is_empty() && hosts.matches(n));
    match (matched, me.is_driver()) {
        (false, _) => out("executable does not match ARSHIM_HOSTS"),
        (true, true) => Scope {
            warning: Some(format!(
                "ARSHIM_HOSTS matches {}, a shell or build driver: it never converts",
                me.shown()
            )),
            ..out("shell or build driver")
        },
        (true, false) => Scope {
            mode: config.mode,
            reason: "executable matches ARSHIM_HOSTS",
            ..out("")
        },
    }
}

/// No `ARSHIM_HOSTS`: the claimed process (`ARSHIM_PID`), or the first one
/// to load the library, which claims itself.
fn by_claim(config: &Config, me: &Identity<'_>) -> Scope {
    if let Some(refused) = claim_refused(config, me) {
        return out(refused);
    }
    let first = config.pid.is_none();
    // A bare pid (set by hand) is completed with our start time, so that a
    // descendant left running cannot pass it on to a later owner of the pid.
    let claim = first || config.pid.is_some_and(|c| c.start.is_none());
    if me.names().iter().any(|n| is_exec_wrapper(n)) {
        return Scope {
            claim,
            ..out("exec wrapper: the program it becomes keeps the claim")
        };
    }
    if me.is_driver() {
        return Scope {
            claim,
            ..driver_with_claim(me, first)
        };
    }
    Scope {
        mode: config.mode,
        reason: if first {
            "first process to load the library: claimed"
        } else {
            "claimed process (ARSHIM_PID)"
        },
        claim,
        ..out("")
    }
}

/// Why `ARSHIM_PID` does not name this process, if it does not: another pid,
/// or ours with another start time — a process that ended, whose pid we
/// reuse (docs/DESIGN.md, "Scope"). A start we could not read fails too.
fn claim_refused(config: &Config, me: &Identity<'_>) -> Option<&'static str> {
    let claim = config.pid?;
    if claim.pid != me.pid {
        return Some("not the claimed process (ARSHIM_PID)");
    }
    match claim.start {
        Some(0) => Some("claimed by a shell or build driver: nothing converts"),
        Some(start) if me.start != Some(start) => {
            Some("pid reused: ARSHIM_PID names an earlier process with this pid")
        }
        _ => None,
    }
}

/// A shell or build driver holding the claim: it never converts.
fn driver_with_claim(me: &Identity<'_>, claim: bool) -> Scope {
    let shown = me.shown();
    if claim {
        // It claimed itself (a global export reached make or a shell first):
        // a claim no process matches, so that nothing converts, as the
        // warning says.
        return Scope {
            claim,
            nobody: true,
            warning: Some(format!(
                "{shown} is a shell or build driver and claimed the shim: no process will convert \
                 (put `arshim run` on the linker's own command, or set ARSHIM_HOSTS)"
            )),
            ..out("claimed by a shell or build driver")
        };
    }
    // Named by ARSHIM_PID (`arshim run -- wrapper-script …`): a wrapper that
    // execs the linker in its own pid (pyenv shims, `exec ld "$@"`) hands the
    // claim on; its children never match the pid.
    Scope {
        note: Some(format!(
            "{shown} is a shell or build driver: it never converts; only a program it \
             execs in its own place may"
        )),
        ..out("shell or build driver named by ARSHIM_PID")
    }
}

/// A process that would convert, judged by its binary's remembered verdict
/// (docs/DESIGN.md, "Scope"): NOT SAFE is refused unless `ARSHIM_FORCE=1`;
/// with `ARSHIM_VERIFIED_ONLY=1`, anything short of SAFE is refused (force
/// or not). One line says why; the process keeps its claim.
pub fn heed_verdict(config: &Config, me: &Identity<'_>, scope: Scope, known: &Known) -> Scope {
    if scope.mode != Mode::Exec {
        return scope;
    }
    const ONLY: &str = "not converting (ARSHIM_VERIFIED_ONLY=1)";
    let shown = me.judged();
    let (reason, line) = match known {
        Known::Safe => return scope,
        Known::NotSafe(why) if !config.verified_only && !config.force => (
            "verified NOT SAFE",
            format!(
                "{shown} was verified NOT SAFE ({}): not converting \
                 (ARSHIM_FORCE=1 converts it anyway)",
                shown_reason(why)
            ),
        ),
        _ if !config.verified_only => return scope,
        Known::NotSafe(why) => (
            "verified NOT SAFE",
            format!(
                "{shown} was verified NOT SAFE ({}): {ONLY}",
                shown_reason(why)
            ),
        ),
        Known::Changed => (
            "not verified SAFE (ARSHIM_VERIFIED_ONLY)",
            format!("{shown} has changed since it was verified: {ONLY}"),
        ),
        Known::OtherTemps(temps) => (
            "not verified SAFE with these temps (ARSHIM_VERIFIED_ONLY)",
            format!(
                "{shown} was verified SAFE with {}, not with this ARSHIM_TEMPS: {ONLY}",
                match temps.as_str() {
                    "" => "no ARSHIM_TEMPS".to_owned(),
                    t => format!("ARSHIM_TEMPS={}", shown_reason(t)),
                }
            ),
        ),
        Known::Never => (
            "not verified SAFE (ARSHIM_VERIFIED_ONLY)",
            format!("{shown} has never been verified SAFE: {ONLY}"),
        ),
        Known::Unreadable(_) => (
            "not verified SAFE (ARSHIM_VERIFIED_ONLY)",
            format!("{shown} has no verdict (the verdict store cannot be read): {ONLY}"),
        ),
    };
    Scope {
        claim: scope.claim,
        warning: Some(line),
        ..out(reason)
    }
}

/// A stored reason, shown on one line: the store is untrusted data.
fn shown_reason(why: &str) -> String {
    const MAX: usize = 160;
    let mut s: String = why
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX)
        .collect();
    if why.chars().count() > MAX {
        s.push('…');
    }
    if s.is_empty() {
        s.push_str("no reason recorded");
    }
    s
}

pub use crate::gate::basename;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::config::{lookup, parse};

    fn cfg(entries: &[&str]) -> Config {
        let raw: Vec<&[u8]> = entries.iter().map(|e| e.as_bytes()).collect();
        parse(|n| lookup(&raw, n)).unwrap()
    }

    fn me<'a>(pid: i32, exe: &'a str, argv0: &'a str) -> Identity<'a> {
        Identity {
            pid,
            start: Some(500),
            exe: exe.as_bytes(),
            argv0: argv0.as_bytes(),
            secure: false,
            script: None,
        }
    }

    #[test]
    fn off_unless_enabled() {
        assert_eq!(decide(&cfg(&[]), &me(10, "ld", "ld")).mode, Mode::Off);
        assert_eq!(
            decide(&cfg(&["ARSHIM=off"]), &me(10, "ld", "ld")).mode,
            Mode::Off
        );
    }

    #[test]
    fn pid_claim() {
        let c = cfg(&["ARSHIM=1", "ARSHIM_PID=10:500"]);
        let s = decide(&c, &me(10, "ldc2", "ldc2"));
        assert_eq!((s.mode, s.claim), (Mode::Exec, false));
        assert_eq!(
            decide(&c, &me(11, "ldc2", "ldc2")).mode,
            Mode::Off,
            "a descendant"
        );
    }

    #[test]
    fn a_claim_names_one_process_for_its_life() {
        let c = cfg(&["ARSHIM=1", "ARSHIM_PID=10:500"]);
        let s = decide(&c, &me(10, "ldc2", "ldc2"));
        assert_eq!((s.mode, s.claim), (Mode::Exec, false));
        let mut later = me(10, "ldc2", "ldc2");
        later.start = Some(900);
        let s = decide(&c, &later);
        assert_eq!((s.mode, s.claim), (Mode::Off, false));
        assert!(s.reason.contains("reused"), "{}", s.reason);
        later.start = None;
        assert_eq!(decide(&c, &later).mode, Mode::Off, "cannot tell: refused");
        // an exec wrapper holding the claim does not renew it
        let s = decide(&c, &me(10, "env", "env"));
        assert_eq!((s.mode, s.claim), (Mode::Off, false));
    }

    #[test]
    fn a_bare_pid_by_hand_is_made_whole() {
        let c = cfg(&["ARSHIM=1", "ARSHIM_PID=10"]);
        let s = decide(&c, &me(10, "ldc2", "ldc2"));
        assert_eq!((s.mode, s.claim, s.nobody), (Mode::Exec, true, false));
        assert_eq!(s.reason, "claimed process (ARSHIM_PID)");
        let s = decide(&c, &me(10, "dash", "sh"));
        assert_eq!((s.mode, s.claim, s.nobody), (Mode::Off, true, false));
        assert!(!decide(&c, &me(11, "ldc2", "ldc2")).claim);
    }

    #[test]
    fn first_loader_claims() {
        let s = decide(&cfg(&["ARSHIM=1"]), &me(10, "ldc2", "ldc2"));
        assert_eq!((s.mode, s.claim), (Mode::Exec, true));
        let s = decide(&cfg(&["ARSHIM=observe"]), &me(10, "ldc2", "ldc2"));
        assert_eq!((s.mode, s.claim), (Mode::Observe, true));
    }

    #[test]
    fn drivers_claim_but_never_convert() {
        let s = decide(&cfg(&["ARSHIM=1"]), &me(10, "make", "make"));
        assert_eq!((s.mode, s.claim, s.nobody), (Mode::Off, true, true));
        assert!(s.warning.unwrap().contains("make"));
        // what it then execs in its pid (same pid, same start) matches no claim
        let s = decide(
            &cfg(&["ARSHIM=1", "ARSHIM_PID=0000010:000000000000"]),
            &me(10, "ldc2", "ldc2"),
        );
        assert_eq!((s.mode, s.claim), (Mode::Off, false));
        assert_eq!(
            s.reason,
            "claimed by a shell or build driver: nothing converts"
        );
        // dash called as sh, named by ARSHIM_PID: off, but a program it execs keeps the claim
        let s = decide(
            &cfg(&["ARSHIM=1", "ARSHIM_PID=10:500"]),
            &me(10, "dash", "sh"),
        );
        assert_eq!((s.mode, s.claim, s.nobody), (Mode::Off, false, false));
        assert!(
            s.warning.is_none() && s.note.is_some(),
            "a wrapper script is normal: info only"
        );
        // a driver that is merely a descendant says nothing
        let s = decide(&cfg(&["ARSHIM=1", "ARSHIM_PID=9"]), &me(10, "make", "make"));
        assert_eq!(s.warning, None);
    }

    #[test]
    fn exec_wrappers_pass_the_claim_on() {
        let s = decide(&cfg(&["ARSHIM=1"]), &me(10, "env", "env"));
        assert_eq!(
            (s.mode, s.claim, s.nobody, s.warning),
            (Mode::Off, true, false, None)
        );
        // the program env becomes: same pid, claimed
        assert_eq!(
            decide(
                &cfg(&["ARSHIM=1", "ARSHIM_PID=10"]),
                &me(10, "ldc2", "ldc2")
            )
            .mode,
            Mode::Exec
        );
    }

    #[test]
    fn hosts_globs() {
        let c = cfg(&["ARSHIM=1", "ARSHIM_HOSTS=ldc2,*-ld"]);
        assert_eq!(decide(&c, &me(10, "ldc2", "ldc2")).mode, Mode::Exec);
        assert_eq!(
            decide(&c, &me(11, "x86_64-linux-gnu-gcc-ar-12", "gcc-ar")).mode,
            Mode::Off
        );
        assert_eq!(
            decide(&c, &me(12, "ldc2-1.30", "my-ld")).mode,
            Mode::Exec,
            "argv0 matches"
        );
        let s = decide(
            &cfg(&["ARSHIM=1", "ARSHIM_HOSTS=*"]),
            &me(13, "make", "make"),
        );
        assert_eq!(s.mode, Mode::Off);
        assert!(s.warning.is_some());
        assert!(
            !decide(&c, &me(10, "ldc2", "ldc2")).claim,
            "hosts mode never claims"
        );
    }

    #[test]
    fn secure_and_spent() {
        let mut id = me(10, "ld", "ld");
        id.secure = true;
        assert_eq!(decide(&cfg(&["ARSHIM=1"]), &id).mode, Mode::Off);
        let s = decide(
            &cfg(&["ARSHIM=1", "ARSHIM_PID=10", "ARSHIM_SPENT=10"]),
            &me(10, "ar", "ar"),
        );
        assert_eq!((s.mode, s.claim), (Mode::Off, false));
        let s = decide(
            &cfg(&["ARSHIM=1", "ARSHIM_HOSTS=*", "ARSHIM_SPENT=10"]),
            &me(10, "gcc-ar", "gcc-ar"),
        );
        assert_eq!(s.mode, Mode::Off);
    }

    #[test]
    fn known_non_final_hosts_are_refused_however_selected() {
        for (c, id) in [
            (
                cfg(&["ARSHIM=1", "ARSHIM_PID=10:500"]),
                me(10, "ocamlopt.opt", "ocamlopt"),
            ),
            (cfg(&["ARSHIM=1"]), me(10, "nim", "nim")),
            (
                cfg(&["ARSHIM=1", "ARSHIM_HOSTS=ocaml*"]),
                me(10, "ocamlopt.opt", "x"),
            ),
            (
                cfg(&["ARSHIM=1", "ARSHIM_HOSTS=my-nim"]),
                me(10, "nim-2.0", "my-nim"),
            ),
        ] {
            let s = decide(&c, &id);
            assert_eq!(s.mode, Mode::Off, "{id:?}");
            assert_eq!(s.claim, c.pid.is_none() && c.hosts.is_none(), "{id:?}");
            let w = s.warning.unwrap();
            assert!(
                w.contains(" is not final (after ar, ") && w.ends_with("anyway)"),
                "{w}"
            );
        }
        // argv[0]'s name is the one shown, as the user called it
        let s = decide(&cfg(&["ARSHIM=1"]), &me(10, "ocamlopt.opt", "ocamlopt"));
        assert!(s.warning.unwrap().starts_with("ocamlopt is not final"));
    }

    #[test]
    fn ldc2_with_run_or_cleanup_obj_is_refused() {
        let c = cfg(&["ARSHIM=1", "ARSHIM_PID=10:500"]);
        let ldc2 = me(10, "ldc2", "ldc2");
        let scope = || decide(&c, &ldc2);
        let args: [&[u8]; 3] = [b"-run", b"app.d", b"x"];
        let s = refuse_by_options(&c, &ldc2, scope(), Some(&args));
        assert_eq!((s.mode, s.claim), (Mode::Off, false));
        let w = s.warning.unwrap();
        assert!(
            w.starts_with("ldc2 -run is not final (with -run ldc2 runs"),
            "{w}"
        );
        let s = refuse_by_options(&c, &ldc2, scope(), None);
        assert!(s.warning.unwrap().contains("could not be read"));
        let plain: [&[u8]; 2] = [b"app.d", b"-of=app"];
        assert_eq!(refuse_by_options(&c, &ldc2, scope(), Some(&plain)), scope());
        // other hosts, force, observe: untouched
        let gcc_ar = me(10, "x86_64-linux-gnu-gcc-ar-12", "gcc-ar");
        let s = decide(&c, &gcc_ar);
        assert_eq!(refuse_by_options(&c, &gcc_ar, s.clone(), None), s);
        let forced = cfg(&["ARSHIM=1", "ARSHIM_PID=10:500", "ARSHIM_FORCE=1"]);
        let s = decide(&forced, &ldc2);
        assert_eq!(refuse_by_options(&forced, &ldc2, s.clone(), Some(&args)), s);
        let observed = cfg(&["ARSHIM=observe", "ARSHIM_PID=10:500"]);
        let s = decide(&observed, &ldc2);
        assert_eq!(
            refuse_by_options(&observed, &ldc2, s.clone(), Some(&args)),
            s
        );
    }

    #[test]
    fn a_refusal_the_companion_said_is_not_said_again() {
        let said = cfg(&[
            "ARSHIM=1",
            "ARSHIM_HOSTS=rustc,nim",
            "ARSHIM_NOT_FINAL_SAID=rustc",
        ]);
        let s = decide(&said, &me(10, "rustc", "rustc"));
        assert_eq!((s.mode, s.warning), (Mode::Off, None));
        assert_eq!(s.reason, "known host that is not final");
        // a host the companion did not name still says it
        let s = decide(&said, &me(11, "nim", "nim"));
        assert!(s.warning.unwrap().starts_with("nim is not final"));
        let unsaid = cfg(&["ARSHIM=1", "ARSHIM_HOSTS=rustc"]);
        let w = decide(&unsaid, &me(10, "rustc", "rustc")).warning.unwrap();
        assert!(w.starts_with("rustc is not final (rustc reads"), "{w}");
    }

    #[test]
    fn refusals_yield_to_force_and_observe() {
        let forced = cfg(&["ARSHIM=1", "ARSHIM_PID=10", "ARSHIM_FORCE=1"]);
        let s = decide(&forced, &me(10, "ocamlopt.opt", "ocamlopt"));
        assert_eq!((s.mode, s.warning), (Mode::Exec, None));
        let observed = cfg(&["ARSHIM=observe", "ARSHIM_PID=10"]);
        assert_eq!(decide(&observed, &me(10, "nim", "nim")).mode, Mode::Observe);
        // final known hosts and out-of-scope processes are untouched
        let c = cfg(&["ARSHIM=1", "ARSHIM_PID=10"]);
        assert_eq!(decide(&c, &me(10, "ldc2", "ldc2")).mode, Mode::Exec);
        let s = decide(&c, &me(11, "ocamlopt.opt", "ocamlopt"));
        assert_eq!(
            (s.mode, s.warning),
            (Mode::Off, None),
            "a descendant: silent"
        );
    }

    #[test]
    fn not_safe_verdicts_are_refused_unless_forced() {
        let c = cfg(&["ARSHIM=1", "ARSHIM_PID=10"]);
        let id = me(10, "ld-legacy", "ld-legacy");
        let not_safe = Known::NotSafe("wrote to after.txt\nlater".into());
        let s = heed_verdict(&c, &id, decide(&c, &id), &not_safe);
        assert_eq!(s.mode, Mode::Off);
        let w = s.warning.unwrap();
        assert!(
            w.starts_with(
                "ld-legacy was verified NOT SAFE (wrote to after.txt later): not converting"
            ),
            "{w}"
        );
        for k in [
            Known::Safe,
            Known::Never,
            Known::Changed,
            Known::Unreadable("x".into()),
        ] {
            assert_eq!(
                heed_verdict(&c, &id, decide(&c, &id), &k).mode,
                Mode::Exec,
                "{k:?}"
            );
        }
        let forced = cfg(&["ARSHIM=1", "ARSHIM_PID=10", "ARSHIM_FORCE=1"]);
        let s = heed_verdict(&forced, &id, decide(&forced, &id), &not_safe);
        assert_eq!(s.mode, Mode::Exec);
        let observed = cfg(&["ARSHIM=observe", "ARSHIM_PID=10"]);
        let s = heed_verdict(&observed, &id, decide(&observed, &id), &not_safe);
        assert_eq!((s.mode, s.warning), (Mode::Observe, None));
    }

    #[test]
    fn verified_only_converts_only_safe_binaries() {
        let c = cfg(&["ARSHIM=1", "ARSHIM_VERIFIED_ONLY=1", "ARSHIM_FORCE=1"]);
        let id = me(10, "ld-legacy", "ld-legacy");
        let s = heed_verdict(&c, &id, decide(&c, &id), &Known::Safe);
        assert_eq!(s.mode, Mode::Exec);
        for k in [
            Known::NotSafe(String::new()),
            Known::Never,
            Known::Changed,
            Known::OtherTemps("$TMPDIR/vt.*".into()),
            Known::Unreadable("x".into()),
        ] {
            let s = heed_verdict(&c, &id, decide(&c, &id), &k);
            assert_eq!((s.mode, s.claim), (Mode::Off, true), "{k:?}");
            assert!(s.warning.unwrap().ends_with("(ARSHIM_VERIFIED_ONLY=1)"));
        }
        let other = heed_verdict(&c, &id, decide(&c, &id), &Known::OtherTemps(String::new()));
        assert_eq!(
            other.warning.as_deref(),
            Some(
                "ld-legacy was verified SAFE with no ARSHIM_TEMPS, not with this ARSHIM_TEMPS: \
                 not converting (ARSHIM_VERIFIED_ONLY=1)"
            )
        );
        let loose = cfg(&["ARSHIM=1", "ARSHIM_PID=10"]);
        let s = heed_verdict(
            &loose,
            &id,
            decide(&loose, &id),
            &Known::OtherTemps(String::new()),
        );
        assert_eq!(s.mode, Mode::Exec, "converted as a host never verified is");
    }

    #[test]
    fn basenames() {
        assert_eq!(basename(b"/usr/bin/ar"), b"ar");
        assert_eq!(basename(b"ar"), b"ar");
        assert_eq!(basename(b"dir/"), b"");
    }
}
