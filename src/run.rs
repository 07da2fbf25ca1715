//! `arshim run`: preload the library into one command and exec it in place.
//!
//! We exec rather than spawn so the command inherits our pid: that is the pid
//! we export as ARSHIM_PID, so the command (and none of its descendants) is
//! the process allowed to convert, and no idle companion holds memory or
//! stands between the build and the command's exit status.

use std::convert::Infallible;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use arshim_common::gate;

use crate::cli::{ConfigArgs, RunArgs};
use crate::failure::{Failure, EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND};
use crate::known_hosts::{self, KnownHost};
use crate::settings::{var, Change, Scope};
use crate::verdicts::{self, HostStatus, Lookup, Verdict};
use crate::{locate, preload};

/// Returns only if the command could not be executed.
pub fn run(mut args: RunArgs) -> Result<Infallible, Failure> {
    let library = locate::library()?;
    let existing = std::env::var_os(var::PRELOAD).unwrap_or_default();
    let (program, program_args) = args.command.split_first().expect("clap requires CMD");

    // Observe never converts, and with --hosts the converting programs are
    // not CMD: only a plain run has a known host or a verdict to heed.
    let mut failure_status = None;
    if !args.config.observe && args.config.hosts.is_none() {
        match plain_run(
            &mut args.config,
            args.force,
            args.verified_only,
            &args.command,
        ) {
            Ok(status) => failure_status = status,
            Err(WithoutLibrary) => {
                return Err(exec_without_library(
                    program,
                    program_args,
                    &library,
                    &existing,
                ))
            }
        }
    }

    // With --hosts the companion meets no host: it says once what the
    // library would say in each refused process (docs/DESIGN.md, "Scope").
    let said = match (&args.config.hosts, args.config.observe) {
        (Some(hosts), false) => say_not_final_hosts(hosts, args.force),
        _ => None,
    };
    if runs_without_library(&args) {
        return Err(exec_without_library(
            program,
            program_args,
            &library,
            &existing,
        ));
    }

    let preload =
        preload::with_library_first(&library, &existing, preload::same_library_as(&library))?;
    let mut settings = args
        .config
        .into_settings(own_claim(), locate::companion()?)?;
    settings.failure_status = failure_status;
    settings.force = args.force;
    settings.verified_only = args.verified_only;
    let mut cmd = command(program, program_args, preload, &settings.changes());
    if STORE_WARNED.load(std::sync::atomic::Ordering::Relaxed) {
        // Said once here: the library in CMD's tree stays quiet about it.
        cmd.env("ARSHIM_STORE_WARNED", "1");
    }
    // Set or removed: an inherited mark never quiets a refusal this run did not say.
    match said {
        Some(said) => cmd.env(var::NOT_FINAL_SAID, said),
        None => cmd.env_remove(var::NOT_FINAL_SAID),
    };
    let error = cmd.exec();
    Err(cannot_run(program, &error))
}

/// `--hosts` names only known non-final hosts, by plain names (`rustc`):
/// every process the library would bring into scope it would refuse, so
/// the command runs without it and none of them loads the core only to be
/// refused (docs/DESIGN.md, "Scope"). Not with `--force` (they convert),
/// `--observe`, `--log` or `--trace` (the library's own account is asked for).
fn runs_without_library(args: &RunArgs) -> bool {
    let c = &args.config;
    let asked_to_watch = c.observe || c.log.is_some() || c.trace.is_some();
    !args.force
        && !asked_to_watch
        && c.hosts
            .as_deref()
            .is_some_and(known_hosts::names_only_not_final)
}

/// One line for each known non-final host the `--hosts` globs name (its
/// processes run without conversion unless `--force`); the entries' first
/// names, for the library to stay quiet about them (`None`: nothing said
/// for the library to keep quiet about).
fn say_not_final_hosts(hosts: &str, force: bool) -> Option<String> {
    let named = known_hosts::not_final_named_by(hosts);
    for host in &named {
        let name = host.names.first().copied().unwrap_or_default();
        let why = host.not_final.unwrap_or_default();
        say(Some(&if force {
            format!("warning: converting {name} although {why} (--force)")
        } else {
            format!(
                "{name} is known not to be final: {why}; its processes run without \
                 conversion (`--force` converts them anyway)"
            )
        }));
    }
    let names: Vec<&str> = named
        .iter()
        .filter_map(|h| h.names.first().copied())
        .collect();
    (!names.is_empty() && !force).then(|| names.join(","))
}

/// This process, which CMD becomes by `exec` (same pid, same start time):
/// the one the library may convert in (docs/DESIGN.md, "Scope").
fn own_claim() -> Scope {
    let stat = std::fs::read("/proc/self/stat").unwrap_or_default();
    Scope::Pid(std::process::id(), gate::start_time_in_stat(&stat))
}

/// `run` has warned that the verdict store cannot be read.
static STORE_WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A plain run's CMD is to run without the library.
struct WithoutLibrary;

/// Heeds what is known of a plain run's CMD (one line on stderr when there
/// is something to say): a known host, then a remembered verdict. A known
/// final host gets its archiver globs unless --tools was given; `Ok` holds
/// its own status for a failed archiver.
fn plain_run(
    config: &mut ConfigArgs,
    force: bool,
    verified_only: bool,
    command: &[OsString],
) -> Result<Option<u8>, WithoutLibrary> {
    let log = config.log.clone().or_else(|| std::env::var(var::LOG).ok());
    let verbose = log.as_deref().is_some_and(is_verbose);
    let host = known_hosts::settings_for(command, config.tools.as_deref());
    if let Some((name, known)) = &host.known {
        let plan = known_host_plan(name, known, config.tools.is_some(), force, verbose);
        say(plan.message.as_deref());
        if !plan.convert {
            return Err(WithoutLibrary);
        }
    }
    let failure_status = host.failure_status();
    config.tools = host.tools;
    let Some(program) = command.first() else {
        return Ok(failure_status);
    };
    if hands_the_claim_on(program) {
        // Not a host: the library judges the program it execs in its pid
        // by that program's own verdict (docs/DESIGN.md, "Scope").
        return Ok(failure_status);
    }
    let status = verdicts::status_of_command(program);
    let cmd = program.to_string_lossy();
    let gate = verdict_gate(
        &status,
        &cmd,
        Strictness {
            verified_only,
            force,
        },
        verbose,
    );
    say(gate.message.as_deref());
    if !gate.convert {
        return Err(WithoutLibrary);
    }
    if force {
        // Converted whatever the verdict says: with the temps as given
        // (`verify`'s converted run is exactly what it judges).
        return Ok(failure_status);
    }
    // A SAFE verdict holds for the temps it was given with
    // (docs/DESIGN.md, "Verdicts").
    let user = config.temps.as_deref();
    match verdict_temps(&status, &cmd, user, (verified_only, verbose)) {
        Ok((temps, line)) => {
            say(line.as_deref());
            config.temps = temps;
            Ok(failure_status)
        }
        Err(line) => {
            say(Some(&line));
            Err(WithoutLibrary)
        }
    }
}

/// CMD is an exec wrapper, a shell or an interpreter (`env HOST`,
/// `sh -c 'exec HOST'`, `python3 build.py`): never a host itself, so its
/// own verdict says nothing (docs/DESIGN.md, "Verdicts").
fn hands_the_claim_on(program: &OsStr) -> bool {
    use arshim_common::names::{is_driver, is_exec_wrapper, is_interpreter};
    let name = Path::new(program).file_name().unwrap_or(program).as_bytes();
    is_exec_wrapper(name) || is_driver(name) || is_interpreter(name)
}

/// One line of `run`'s own on stderr, when there is one.
fn say(message: Option<&str>) {
    if let Some(message) = message {
        eprintln!("arshim: {message}");
    }
}

/// CMD as it is run, without the library; returns only the failure.
fn exec_without_library(
    program: &OsStr,
    args: &[OsString],
    library: &Path,
    existing: &OsStr,
) -> Failure {
    let mut cmd = Command::new(program);
    cmd.args(args);
    match without_library(library, existing) {
        Some(rest) => cmd.env(var::PRELOAD, rest),
        None => cmd.env_remove(var::PRELOAD),
    };
    let error = cmd.exec();
    cannot_run(program, &error)
}

/// What `run` does about a known host.
#[derive(Debug, PartialEq, Eq)]
pub struct KnownPlan {
    pub convert: bool,
    pub message: Option<String>,
}

/// A known non-final host is refused unless forced (one line says why); a
/// known final host gets its archiver globs (unless --tools was given), said
/// at --log info.
pub fn known_host_plan(
    name: &str,
    host: &KnownHost,
    tools_given: bool,
    force: bool,
    verbose: bool,
) -> KnownPlan {
    match host.not_final {
        Some(why) if !force => KnownPlan {
            convert: false,
            message: Some(format!(
                "{name} is known not to end with its archiver: {why}; running it without conversion \
                 (`--force` converts it anyway, `arshim verify` shows what it does)"
            )),
        },
        Some(why) => KnownPlan {
            convert: true,
            message: Some(format!("warning: converting {name} although {why} (--force)")),
        },
        None => KnownPlan {
            convert: true,
            message: verbose.then(|| {
                let tools = if tools_given { "--tools as given".to_string() } else { format!("archiver globs {}", host.tools) };
                format!("note: known host {name}: {tools}; {}", host.evidence)
            }),
        },
    }
}

/// What `run` does about CMD's remembered verdict.
#[derive(Debug, PartialEq, Eq)]
pub struct Gate {
    /// Run it with the library (else without it at all).
    pub convert: bool,
    /// One line for stderr (without the `arshim: ` prefix).
    pub message: Option<String>,
}

/// `--verified-only` and `--force`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Strictness {
    pub verified_only: bool,
    pub force: bool,
}

/// NOT SAFE: run without the library, unless `force` (then warn and
/// convert), as the library itself would (docs/DESIGN.md, "Scope"). Anything
/// short of a SAFE verdict with `verified_only`: run without the library,
/// saying why. Otherwise a note only when `verbose` (`--log info`/`debug`),
/// so default runs stay quiet.
pub fn verdict_gate(status: &HostStatus, cmd: &str, strict: Strictness, verbose: bool) -> Gate {
    let Strictness {
        verified_only,
        force,
    } = strict;
    let verify_hint = format!("`arshim verify -- {cmd} …` proves whether converting it is safe");
    // Short of a verdict: why, and the note for a verbose converted run.
    let (why, note) = match status {
        HostStatus::Known(_, Lookup::Verified(e)) if e.verdict == Verdict::Safe => {
            return Gate::convert(
                verbose.then(|| format!("note: {cmd} was verified {}", e.summary())),
            );
        }
        HostStatus::Known(_, Lookup::Verified(e)) => {
            let why = format!("{cmd} was verified {}: {}", e.summary(), e.first_reason());
            return match (verified_only, force) {
                (true, _) => Gate::unconverted(why),
                (false, true) => Gate::convert(Some(format!(
                    "warning: {why}; converting it anyway (--force)"
                ))),
                (false, false) => Gate {
                    convert: false,
                    message: Some(format!(
                        "{why}: running it without the library (`--force` converts it anyway)"
                    )),
                },
            };
        }
        HostStatus::Known(path, Lookup::Changed(e)) => {
            let why = format!(
                "{} has changed since it was verified {}",
                path.display(),
                e.verdict.label()
            );
            let note = format!("note: {why}; {verify_hint}");
            (why, note)
        }
        HostStatus::Known(path, Lookup::Never) => {
            let why = format!("{} has never been verified", path.display());
            let note = format!("note: {why}; {verify_hint}");
            (why, note)
        }
        HostStatus::StoreUnreadable(path, e) => {
            return unreadable_store(path, e, cmd, verified_only);
        }
        HostStatus::Unknown(e) => {
            let why = format!("no verdict for {cmd} ({e})");
            let note = format!("note: {why}");
            (why, note)
        }
    };
    if verified_only {
        Gate::unconverted(why)
    } else {
        Gate::convert(verbose.then_some(note))
    }
}

/// The temps a plain run converts with, by CMD's SAFE verdict
/// (docs/DESIGN.md, "Verdicts"): a SAFE verdict holds for the `--temps` it
/// was given with. None given: the verdict's. Others given: with
/// `--verified-only`, CMD runs without the library; else the user's, with
/// a warning. `Err`: the line of a run without the library.
pub fn verdict_temps(
    status: &HostStatus,
    cmd: &str,
    user: Option<&str>,
    (verified_only, verbose): (bool, bool),
) -> Result<(Option<String>, Option<String>), String> {
    let HostStatus::Known(_, Lookup::Verified(e)) = status else {
        return Ok((user.map(str::to_owned), None));
    };
    if e.verdict != Verdict::Safe {
        return Ok((user.map(str::to_owned), None));
    }
    let verdicts = e.temps.as_deref();
    let shown = |t: Option<&str>| match t {
        Some(t) if !same_temps(Some(t), None) => format!("--temps '{t}'"),
        _ => "no --temps".to_owned(),
    };
    match user {
        None => Ok((
            verdicts.map(str::to_owned),
            verdicts
                .filter(|_| verbose)
                .map(|t| format!("note: converting {cmd} with --temps '{t}', as it was verified")),
        )),
        Some(_) if same_temps(user, verdicts) => Ok((user.map(str::to_owned), None)),
        Some(_) => {
            let why = format!(
                "{cmd} was verified SAFE with {}, not with {}",
                shown(verdicts),
                shown(user)
            );
            if verified_only {
                return Err(format!(
                    "{why}: running it without the library (--verified-only)"
                ));
            }
            Ok((
                user.map(str::to_owned),
                Some(format!("warning: {why}; converting with the temps given")),
            ))
        }
    }
}

/// Two temps lists name the same globs (the library's comparison).
fn same_temps(a: Option<&str>, b: Option<&str>) -> bool {
    let set = |l: Option<&str>| -> std::collections::BTreeSet<String> {
        l.unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect()
    };
    set(a) == set(b)
}

/// Said at the default level: a store that cannot be read must not silently
/// let a host proven NOT SAFE convert.
fn unreadable_store(path: &Path, e: &str, cmd: &str, verified_only: bool) -> Gate {
    STORE_WARNED.store(true, std::sync::atomic::Ordering::Relaxed);
    let why = format!("the verdict store {} cannot be read ({e})", path.display());
    if verified_only {
        return Gate::unconverted(why);
    }
    Gate::convert(Some(format!(
        "warning: {why}; {cmd} is treated as never verified"
    )))
}

impl Gate {
    fn convert(note: Option<String>) -> Gate {
        Gate {
            convert: true,
            message: note,
        }
    }

    fn unconverted(why: String) -> Gate {
        Gate {
            convert: false,
            message: Some(format!(
                "{why}: running it without the library (--verified-only)"
            )),
        }
    }
}

/// A library log filter that shows info-level lines (`info`, `debug`,
/// `trace`, also per module: `arshim=debug`).
pub fn is_verbose(filter: &str) -> bool {
    let f = filter.to_ascii_lowercase();
    ["info", "debug", "trace"].iter().any(|l| f.contains(l))
}

/// `LD_PRELOAD` without our library (and its aliases); `None` if nothing is left.
pub fn without_library(library: &Path, existing: &OsStr) -> Option<OsString> {
    let same = preload::same_library_as(library);
    let rest: Vec<&OsStr> = preload::entries(existing)
        .filter(|e| *e != library && !same(e))
        .map(Path::as_os_str)
        .collect();
    (!rest.is_empty()).then(|| rest.join(OsStr::new(":")))
}

/// The command to exec, with the environment edits applied.
pub fn command(
    program: &OsStr,
    args: &[OsString],
    preload: OsString,
    changes: &[Change],
) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args).env(var::PRELOAD, preload);
    for change in changes {
        match change {
            Change::Set(name, value) => cmd.env(name, value),
            Change::Unset(name) => cmd.env_remove(name),
        };
    }
    cmd
}

/// The failure for an exec error, with the status a shell would give.
pub fn cannot_run(program: &OsStr, error: &io::Error) -> Failure {
    let code = match error.kind() {
        io::ErrorKind::PermissionDenied => EXIT_CANNOT_EXECUTE,
        _ => EXIT_NOT_FOUND,
    };
    Failure::new(
        code,
        format!("cannot run {}: {error}", program.to_string_lossy()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn command_carries_preload_and_changes() {
        let changes = [
            Change::Set("ARSHIM", "1".into()),
            Change::Unset("ARSHIM_PID"),
        ];
        let cmd = command(
            OsStr::new("ld"),
            &["-o".into(), "x".into()],
            "/l.so:/a.so".into(),
            &changes,
        );
        assert_eq!(cmd.get_program(), "ld");
        assert_eq!(cmd.get_args().collect::<Vec<_>>(), ["-o", "x"]);
        let envs: HashMap<_, _> = cmd.get_envs().collect();
        assert_eq!(
            envs[OsStr::new("LD_PRELOAD")],
            Some(OsStr::new("/l.so:/a.so"))
        );
        assert_eq!(envs[OsStr::new("ARSHIM")], Some(OsStr::new("1")));
        assert_eq!(envs[OsStr::new("ARSHIM_PID")], None, "removed, not set");
    }

    #[test]
    fn exit_status_follows_shell_conventions() {
        let missing = io::Error::from(io::ErrorKind::NotFound);
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(cannot_run(OsStr::new("x"), &missing).code, 127);
        assert_eq!(cannot_run(OsStr::new("x"), &denied).code, 126);
        assert!(cannot_run(OsStr::new("nope"), &missing)
            .message
            .starts_with("cannot run nope: "));
    }

    fn entry(verdict: Verdict) -> crate::verdicts::Entry {
        crate::verdicts::Entry {
            host: crate::verify::identity::HostId {
                path: "/bin/ld".into(),
                id: "build-id:ab".into(),
            },
            script: None,
            verdict,
            reasons: vec!["after ar exited, the process wrote to lib.cmxa".into()],
            time: 0,
            command: "ld -o x".into(),
            temps: None,
        }
    }

    fn known(lookup: Lookup) -> HostStatus {
        HostStatus::Known("/bin/ld".into(), lookup)
    }

    const LOOSE: Strictness = Strictness {
        verified_only: false,
        force: false,
    };
    const ONLY: Strictness = Strictness {
        verified_only: true,
        force: false,
    };

    #[test]
    fn not_safe_hosts_are_refused_unless_forced() {
        let not_safe = known(Lookup::Verified(entry(Verdict::NotSafe)));
        let g = verdict_gate(&not_safe, "ld", LOOSE, false);
        assert!(!g.convert);
        let m = g.message.unwrap();
        assert!(
            m.starts_with("ld was verified NOT SAFE on 1970-01-01 00:00 UTC (`ld -o x`): "),
            "{m}"
        );
        assert!(m.contains("wrote to lib.cmxa") && !m.contains('\n'), "{m}");
        assert!(m.ends_with("(`--force` converts it anyway)"), "{m}");
        let forced = Strictness {
            force: true,
            ..LOOSE
        };
        let g = verdict_gate(&not_safe, "ld", forced, false);
        assert!(g.convert);
        assert!(g
            .message
            .unwrap()
            .ends_with("converting it anyway (--force)"));
        let both = Strictness {
            force: true,
            ..ONLY
        };
        assert!(!verdict_gate(&not_safe, "ld", both, false).convert);
    }

    #[test]
    fn verified_only_converts_only_safe_hosts() {
        let safe = verdict_gate(
            &known(Lookup::Verified(entry(Verdict::Safe))),
            "ld",
            ONLY,
            false,
        );
        assert_eq!(
            safe,
            Gate {
                convert: true,
                message: None
            }
        );
        for status in [
            known(Lookup::Verified(entry(Verdict::NotSafe))),
            known(Lookup::Changed(entry(Verdict::Safe))),
            known(Lookup::Never),
            HostStatus::Unknown("ld: not found on PATH".into()),
        ] {
            let g = verdict_gate(&status, "ld", ONLY, false);
            assert!(!g.convert, "{status:?}");
            let m = g.message.unwrap();
            assert!(
                m.ends_with("running it without the library (--verified-only)"),
                "{m}"
            );
        }
    }

    #[test]
    fn a_safe_verdicts_temps_are_used_or_must_match() {
        let mut safe = entry(Verdict::Safe);
        safe.temps = Some("$TMPDIR/vt.*".into());
        let status = known(Lookup::Verified(safe));
        let t = |user: Option<&str>, only: bool| verdict_temps(&status, "ld", user, (only, false));
        assert_eq!(t(None, true), Ok((Some("$TMPDIR/vt.*".into()), None)));
        assert_eq!(
            t(Some(" $TMPDIR/vt.*,"), true),
            Ok((Some(" $TMPDIR/vt.*,".into()), None))
        );
        assert_eq!(
            t(Some("/x/*"), true),
            Err(
                "ld was verified SAFE with --temps '$TMPDIR/vt.*', not with --temps '/x/*': \
                 running it without the library (--verified-only)"
                    .into()
            )
        );
        let (temps, line) = t(Some("/x/*"), false).unwrap();
        assert_eq!(temps.as_deref(), Some("/x/*"));
        assert!(line
            .unwrap()
            .starts_with("warning: ld was verified SAFE with --temps"));
        let verbose = verdict_temps(&status, "ld", None, (false, true)).unwrap();
        assert_eq!(
            verbose.1.as_deref(),
            Some("note: converting ld with --temps '$TMPDIR/vt.*', as it was verified")
        );

        let plain = known(Lookup::Verified(entry(Verdict::Safe)));
        assert_eq!(
            verdict_temps(&plain, "ld", Some("/x/*"), (true, false)),
            Err(
                "ld was verified SAFE with no --temps, not with --temps '/x/*': running it \
                 without the library (--verified-only)"
                    .into()
            )
        );
        assert_eq!(
            verdict_temps(&plain, "ld", None, (true, false)),
            Ok((None, None))
        );
        let never = known(Lookup::Never);
        assert_eq!(
            verdict_temps(&never, "ld", Some("/x/*"), (true, false)),
            Ok((Some("/x/*".into()), None)),
            "the verdict gate refuses it; the temps are the user's"
        );
    }

    #[test]
    fn never_verified_is_said_only_when_verbose() {
        let quiet = verdict_gate(&known(Lookup::Never), "ld", LOOSE, false);
        assert_eq!(
            quiet,
            Gate {
                convert: true,
                message: None
            }
        );
        let loud = verdict_gate(&known(Lookup::Never), "ld", LOOSE, true);
        assert!(loud.convert);
        assert!(loud
            .message
            .unwrap()
            .starts_with("note: /bin/ld has never been verified; `arshim verify"),);
        let changed = verdict_gate(
            &known(Lookup::Changed(entry(Verdict::Safe))),
            "ld",
            LOOSE,
            true,
        );
        assert!(changed
            .message
            .unwrap()
            .contains("has changed since it was verified SAFE"));
    }

    #[test]
    fn verbose_filters() {
        assert!(is_verbose("info") && is_verbose("arshim=DEBUG") && is_verbose("trace"));
        assert!(!is_verbose("warn") && !is_verbose("error") && !is_verbose("off"));
    }

    #[test]
    fn preload_without_our_library() {
        let lib = Path::new("/nonexistent/arshim/libarshim.so");
        assert_eq!(without_library(lib, OsStr::new("")), None);
        assert_eq!(
            without_library(lib, OsStr::new("/nonexistent/arshim/libarshim.so")),
            None
        );
        assert_eq!(
            without_library(
                lib,
                OsStr::new("/a.so /nonexistent/arshim/libarshim.so:/b.so")
            ),
            Some(OsString::from("/a.so:/b.so"))
        );
    }
}
