//! `arshim verify -- CMD`: prove on the user's own command that converting its
//! archiver spawn is safe, instead of assuming it.
//!
//! 1. Run CMD under observe mode with a trace (the library changes nothing)
//!    and decide from the trace whether the archiver spawn is final
//!    (`analysis`). Its stdout/stderr go to regular temp files — the library
//!    detects late writes by file growth — and are shown when it ends.
//! 2. If final, run CMD again converted, as `arshim run` does, and compare
//!    exit status, the archive (`archive`) and the peak memory of the process
//!    tree (`crate::measure`).
//! 3. Print SAFE / NOT SAFE / CANNOT TELL with the reasons, remember SAFE and
//!    NOT SAFE per host binary (`crate::verdicts`) when earned and when the
//!    binary is a host (docs/DESIGN.md, "Verdicts"); exit 0 only for SAFE.
//!
//! Both runs go through `arshim run` itself (a child of ours), so the second
//! one is exactly what a user's `arshim run` would do: CMD keeps the pid that
//! `arshim run` exports as ARSHIM_PID.

pub mod analysis;
pub mod archive;
mod files;
pub mod identity;
pub(crate) mod member_names;
mod report;
mod state;
mod taken;
mod temps;
mod trace;
mod written;

use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::SystemTime;

use crate::cli::VerifyArgs;
use crate::failure::Failure;
use crate::known_hosts::{self, HostSettings};
use crate::measure::{self, Tools};
use crate::settings::var;
use crate::verdicts::{self, Entry, Store, Verdict};
use crate::{locate, quote};

use self::analysis::{Analysis, Conversion, Finality};
use self::archive::{Finding, Produced};
use self::report::Report;
use self::state::{Aside, Hold, StdinFeed};

/// Samples per second of the process tree's memory.
const SAMPLE_HZ: u32 = 500;

pub fn verify(args: VerifyArgs) -> Result<(), Failure> {
    // Declared first, dropped last: a held signal ends verify only after the
    // archive is back and the work dir is gone (`state`).
    let mut hold = Hold::default();
    let runner = Runner::new(&args)?;
    let shown = show_command(&args.command);
    let mut report = Report::new(shown.clone());
    if let Some(line) = runner.host.run_would() {
        // What `arshim run` does with this host, in the same words.
        report.note(line);
    }
    // Before run 1: what both runs start from (docs/DESIGN.md, "verify:
    // files the host writes").
    let mut files = files::Files::before(&runner.cwd, &args.command, &runner.work.path)
        .map_err(|e| report.note(format!("the files were not kept for run 2: {e}")))
        .ok();

    eprintln!(
        "arshim verify: run 1 of 2: {shown} under observe mode (its output follows when it ends)"
    );
    let first = runner.run(Pass::Observe)?;
    first.show_output();
    let (events, torn) = trace::parse(&read_trace(&first.trace));
    if torn > 0 {
        report.note(format!(
            "{torn} unreadable line(s) in the trace were skipped"
        ));
    }
    let outputs = [
        (first.stdout.as_path(), "stdout"),
        (first.stderr.as_path(), "stderr"),
    ];
    let mut found = analysis::analyse(&events, &outputs, &runner.globs);
    kept_temps(&mut found, &runner.globs);
    report.describe(&found);
    report.memory_first(&first.sampled);

    match &found.finality {
        Finality::Unknown(why) => {
            let why = if events.is_empty() && matches!(first.sampled.status.code(), Some(126 | 127))
            {
                format!(
                    "the command could not be run ({})",
                    status_text(first.sampled.status)
                )
            } else {
                why.clone()
            };
            report.verdict(Verdict::CannotTell, vec![why]);
        }
        _ if !first.sampled.status.success() => failed_command(&found, &first, &mut report),
        Finality::NotFinal(reasons) => report.verdict(Verdict::NotSafe, reasons.clone()),
        Finality::Final => {
            eprintln!("arshim verify: run 2 of 2: {shown} converted (its output is not shown)");
            let files = files.as_mut();
            compare_converted(&runner, &found, &first, &mut report, (&mut hold, files))?;
        }
    }
    let script = identity::host_script(&events);
    let verified = (args.command.as_slice(), args.temps.as_deref());
    remember(verified, &found, script.as_deref(), &mut report);
    conclude(&report)
}

/// The host's temporaries it keeps after the unconverted run, under the
/// temps globs: a conversion would hand them to the reaper, which removes
/// them (docs/DESIGN.md, "verify: temporaries taken over").
fn kept_temps(found: &mut Analysis, globs: &temps::Globs) {
    if globs.is_empty() || matches!(found.finality, Finality::Unknown(_)) {
        return;
    }
    let kept = taken::kept_by_host(&found.created, globs);
    if kept.is_empty() {
        return;
    }
    let reason = format!(
        "the process created {} under the temps globs ({}) and keeps it: a conversion would \
         hand it to the reaper, which removes it",
        kept.join(", "),
        globs.list()
    );
    match &mut found.finality {
        Finality::NotFinal(reasons) => reasons.push(reason),
        other => *other = Finality::NotFinal(vec![reason]),
    }
}

/// After the converted run: were the deletions taken over made? Their
/// names (and what is left) in the report; a problem when something is
/// left behind.
fn taken_over(
    watch: &taken::Watch,
    found: &Analysis,
    second: &Run,
    globs: &temps::Globs,
    report: &mut Report,
) -> Option<String> {
    let events = trace::parse(&read_trace(&second.trace)).0;
    let deleted = named(&found.taken);
    if !matches!(analysis::conversion(&events), Conversion::Converted(_)) {
        // Then the host's own main code deleted them: nothing to judge.
        report.fact(
            "temps",
            format!(
                "deleted after the archiver: {deleted}; taken over by the conversion: not put \
                 to the test (the second run did not convert)"
            ),
        );
        return None;
    }
    let left = watch.left_behind(&events, globs);
    if left.is_empty() {
        report.fact(
            "temps",
            format!(
                "deleted after the archiver: {deleted}; taken over by the conversion: yes (all \
                 gone after the converted run)"
            ),
        );
        return None;
    }
    let left = named(&left);
    report.fact(
        "temps",
        format!("deleted after the archiver: {deleted}; taken over by the conversion: no: {left} left behind"),
    );
    Some(format!(
        "the host's temporaries were not all removed by the converted run: {left} left behind \
         (the unconverted run deleted {deleted} after the archiver)"
    ))
}

/// "A, B, C and 4 more".
fn named(paths: &[String]) -> String {
    const NAMED: usize = 3;
    let mut out = paths
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > NAMED {
        out.push_str(&format!(" and {} more", paths.len() - NAMED));
    }
    out
}

/// A command that failed earns no verdict (docs/DESIGN.md, "Verdicts"):
/// what it does after a failed archiver (an error line, an early exit) says
/// nothing of a run that builds, so it is CANNOT TELL, not run again, and
/// what was seen after the archiver is only a note.
fn failed_command(found: &Analysis, first: &Run, report: &mut Report) {
    if let Finality::NotFinal(seen) = &found.finality {
        report.note(format!(
            "seen after the archiver in this failing run: {}",
            seen.join("; ")
        ));
    }
    report.verdict(
        Verdict::CannotTell,
        vec![format!(
            "the command failed ({}): only a run that succeeds earns a verdict; \
             verify it with inputs that build",
            status_text(first.sampled.status)
        )],
    );
}

/// Prints the report; the verdict, when not SAFE, is the failure.
fn conclude(report: &Report) -> Result<(), Failure> {
    print!("{}", report.render());
    let verdict = report.final_verdict();
    match verdict {
        Verdict::Safe => Ok(()),
        _ => Err(Failure::new(
            verdict.exit_code(),
            format!("verify: {}: {}", verdict.label(), report.first_reason()),
        )),
    }
}

/// Run 2 and the comparison; adds the verdict to `report`.
fn compare_converted(
    runner: &Runner,
    found: &Analysis,
    first: &Run,
    report: &mut Report,
    (hold, files): (&mut Hold, Option<&mut files::Files>),
) -> Result<(), Failure> {
    let mut archive = Archive::of_first_run(runner, found, first);
    let watch = files.map(|f| {
        let events = trace::parse(&read_trace(&first.trace)).0;
        let path = archive.as_ref().map(|a| a.path.as_path());
        written::before_second(f, &events, path, hold, report)
    });
    let aside = archive.as_mut().and_then(|a| a.set_aside(report, hold));
    let temps = (!found.taken.is_empty()).then(|| taken::Watch::before_second(&found.taken));
    let second = &runner.run(Pass::Convert)?;
    let seen = watch.map(|w| w.second_ended(&trace::parse(&read_trace(&second.trace)).0));
    report.memory_second(&second.sampled);
    let mut problems = Vec::new();
    let mut checks = Vec::new();
    // Why SAFE would not be earned, though nothing differs.
    let mut unearned = Vec::new();

    conversion_seen(second, &mut checks, &mut unearned);
    if let Some(watch) = &temps {
        problems.extend(taken_over(watch, found, second, &runner.globs, report));
    }

    let (a, b) = (first.sampled.status, second.sampled.status);
    if a == b {
        checks.push(format!("same exit status in both runs: {}", status_text(a)));
    } else {
        problems.push(format!(
            "the exit status differs: {} unconverted, {} converted",
            status_text(a),
            status_text(b)
        ));
    }

    let (finding, observed_again) =
        archive_finding(runner, archive, aside.is_some(), (first, second), report)?;
    match finding {
        None => unearned.push(archive_not_compared(found)),
        Some(Finding::Check(c)) => checks.push(c),
        Some(Finding::Problem(p)) => problems.push(p),
        Some(Finding::Note(n)) => unearned.push(n),
    }
    if let Some(seen) = seen {
        let rerun = || {
            eprintln!(
                "arshim verify: run 3: {} under observe mode again, as run 1 started, to tell \
                 the conversion's differences from the command's own (its output is not shown)",
                show_command(&runner.args.command)
            );
            let third = runner.run(Pass::Repeat)?;
            Ok::<_, Failure>(trace::parse(&read_trace(&third.trace)).0)
        };
        let found = seen.judge(rerun, report)?;
        problems.extend(found.problems);
        checks.extend(found.checks);
        unearned.extend(found.unearned);
    }

    // SAFE is earned by a converted run that wrote the same archive
    // (docs/DESIGN.md, "Verdicts"); short of that, no difference is no proof.
    let safe = problems.is_empty() && unearned.is_empty();
    if !problems.is_empty() {
        if matches!(runner.stdin, StdinFeed::Terminal) {
            report.note(
                "stdin was a terminal: the second run read /dev/null; if the command reads \
                 its input, feed it from a file (`arshim verify -- CMD < input`)"
                    .to_owned(),
            );
        }
        report.verdict(Verdict::NotSafe, problems);
    } else if !unearned.is_empty() {
        report.verdict(Verdict::CannotTell, unearned);
    } else {
        report.verdict(Verdict::Safe, checks);
    }
    if let Some(aside) = aside {
        // Observed again: the first run's archive holds the user's earlier
        // members, which a run from no archive does not make.
        settle(aside, safe && !observed_again, report);
    }
    Ok(())
}

/// The first run added to an archive that was there before `verify`; the
/// converted run started without it. A third run, observed, from that same
/// state (no archive) is compared with the converted one instead (docs/DESIGN.md,
/// "verify: two runs from the same state"). `None` when it cannot be done.
fn observe_again(
    runner: &Runner,
    name: &str,
    path: &Path,
    second: &Run,
    report: &mut Report,
) -> Result<Option<Finding>, Failure> {
    let converted = runner.work.path.join("archive-second-run");
    if fs::copy(path, &converted).is_err() || fs::remove_file(path).is_err() {
        return Ok(None);
    }
    eprintln!(
        "arshim verify: run 3: {} under observe mode again, without the archive, as the \
         converted run started (its output is not shown)",
        show_command(&runner.args.command)
    );
    let third = runner.run(Pass::ObserveAgain)?;
    let pids = (
        run_pids_of(&read_trace(&third.trace)),
        run_pids_of(&read_trace(&second.trace)),
    );
    let state = archive::produced(path, third.started);
    let finding = archive::judge(name, state, Produced::Written, || {
        archive::compare(path, &converted, (&pids.0, &pids.1))
    });
    report.note(format!(
        "the first run added to an archive {name} that was there before verify; the converted \
         run was compared with a third, observed run that started as it did, without it \
         ({})",
        status_text(third.sampled.status)
    ));
    if third.sampled.status != second.sampled.status {
        return Ok(Some(Finding::Problem(format!(
            "the exit status differs: {} observed without the archive, {} converted",
            status_text(third.sampled.status),
            status_text(second.sampled.status)
        ))));
    }
    Ok(Some(finding))
}

/// Whether the second run converted: a check, or a note saying why not.
/// Whether the second run converted: a check, or why SAFE is not earned.
fn conversion_seen(second: &Run, checks: &mut Vec<String>, unearned: &mut Vec<String>) {
    match analysis::conversion(&trace::parse(&read_trace(&second.trace)).0) {
        Conversion::Converted(how) => checks.push(format!("the second run converted {how}")),
        Conversion::FellBack(reason) => unearned.push(format!(
            "the library did not convert in the second run ({reason}): the conversion was \
             not put to the test (it would not convert in real use either)"
        )),
        Conversion::NotSeen => unearned.push(
            "the second run shows no conversion: the conversion was not put to the test \
             (the command may behave differently from one run to the next)"
                .to_owned(),
        ),
    }
}

/// What the second run did to the archive; `true` with it when a third,
/// observed run stood in for the first (`observe_again`). `aside`: the
/// second run started without the first run's archive.
fn archive_finding(
    runner: &Runner,
    archive: Option<Archive>,
    aside: bool,
    (first, second): (&Run, &Run),
    report: &mut Report,
) -> Result<(Option<Finding>, bool), Failure> {
    let pids = (
        run_pids_of(&read_trace(&first.trace)),
        run_pids_of(&read_trace(&second.trace)),
    );
    let target = archive
        .as_ref()
        .map(|a| (a.name.clone(), a.path.clone(), a.saved.clone()));
    let mut finding = archive.map(|archive| archive.judge_second_run((&pids.0, &pids.1)));
    let mut observed_again = false;
    if let (Some(Finding::Problem(_)), true, Some((name, path, saved))) = (&finding, aside, &target)
    {
        if archive::first_has_more_members(saved, path, (&pids.0, &pids.1)) {
            if let Some(again) = observe_again(runner, name, path, second, report)? {
                finding = Some(again);
                observed_again = true;
            }
        }
    }
    Ok((finding, observed_again))
}

/// The archive the user is left with: the converted run's when SAFE (what
/// `arshim run --verified-only` will make), else the unconverted run's.
fn settle(aside: Aside, safe: bool, report: &mut Report) {
    let hidden = aside.hidden().to_path_buf();
    let done = if safe {
        aside.keep_second()
    } else {
        aside.restore()
    };
    match done {
        Ok(()) if !safe => report.note(
            "the archive is the unconverted run's again (the converted run's was discarded)"
                .to_owned(),
        ),
        Ok(()) => {}
        Err(e) => report.note(format!(
            "the first run's archive could not be put back or removed from {}: {e}",
            hidden.display()
        )),
    }
}

/// The pids of a run, from its trace's text.
fn run_pids_of(trace_text: &str) -> Vec<i64> {
    trace::pids(&trace::parse(trace_text).0)
}

/// The archive the archiver wrote, watched across the two runs.
struct Archive {
    /// What it is: "archive", or "linked file" for a link's output.
    noun: &'static str,
    /// The operand, as the archiver was given it (a link's output: absolute).
    name: String,
    path: PathBuf,
    /// A copy of the first run's archive (the second run overwrites it).
    saved: PathBuf,
    first_state: Produced,
    before_second: Option<archive::Fingerprint>,
}

impl Archive {
    /// Where the archive is, and a copy of the first run's; `None` when the
    /// trace does not say which file it is.
    fn of_first_run(runner: &Runner, found: &Analysis, first: &Run) -> Option<Self> {
        let call = found.archiver.as_ref()?;
        let name = match &call.output {
            // a link: the file it writes, as the library read it (`@FILE`s too)
            Some(output) => output.clone(),
            None => archive_name(call.argv.as_deref()?, &runner.stdin)?,
        };
        let name = name.as_str();
        let path = archive::locate(name, call.cwd.as_deref(), &runner.cwd);
        let saved = runner.work.path.join("archive-first-run");
        let first_state = match archive::produced(&path, first.started) {
            Produced::Written if fs::copy(&path, &saved).is_err() => Produced::Missing,
            state => state,
        };
        Some(Archive {
            noun: if call.is_link() {
                "linked file"
            } else {
                "archive"
            },
            name: name.to_owned(),
            before_second: archive::fingerprint(&path),
            path,
            saved,
            first_state,
        })
    }

    /// Moves the first run's archive aside so the second run starts, as the
    /// first did on a clean tree, without it (docs/DESIGN.md, "verify: two
    /// runs from the same state"); `None` (with a note) when it stays.
    fn set_aside(&mut self, report: &mut Report, hold: &mut Hold) -> Option<Aside> {
        if self.first_state != Produced::Written {
            return None;
        }
        match hold.start().and_then(|()| Aside::take(&self.path, hold)) {
            Ok(aside) => {
                self.before_second = None;
                Some(aside)
            }
            Err(e) => {
                report.note(format!(
                    "the first run's archive {} stayed in place for the second run: {e}",
                    self.name
                ));
                None
            }
        }
    }

    /// After the second run: did the converted run write the same archive?
    fn judge_second_run(self, pids: (&[i64], &[i64])) -> Finding {
        let second_state = archive::changed(&self.path, self.before_second);
        let name = format!("{} {}", self.noun, self.name);
        archive::judge_file(&name, self.first_state, second_state, || {
            archive::compare(&self.saved, &self.path, pids)
        })
    }
}

/// The archive operand, or for `ar -M` the archive of the MRI script fed to
/// both runs as stdin.
fn archive_name(argv: &[String], stdin: &StdinFeed) -> Option<String> {
    if let Some(name) = archive::archive_operand(argv) {
        return Some(name.to_owned());
    }
    if archive::reads_mri_script(argv) {
        return archive::mri_archive(&stdin.bytes()?);
    }
    None
}

/// Why the archive could not be compared (no archiver arguments, or no operand).
fn archive_not_compared(found: &Analysis) -> String {
    match found.archiver.as_ref().and_then(|a| a.argv.as_ref()) {
        None => "the archive was not compared: the trace does not record the archiver's \
             arguments (a forked archiver)"
            .to_owned(),
        Some(argv) => format!(
            "the archive was not compared: no archive operand in `{}`",
            argv.join(" ")
        ),
    }
}

/// Stores a SAFE or NOT SAFE verdict under the host: the executable the
/// claimed process ran when it spawned the archiver, as its trace `load`
/// event names it — never CMD's first word — with the `script` it names
/// for an interpreter, and the `--temps` it was given with (docs/DESIGN.md,
/// "Verdicts").
fn remember(
    (command, temps): (&[OsString], Option<&str>),
    found: &Analysis,
    script: Option<&Path>,
    report: &mut Report,
) {
    let verdict = report.final_verdict();
    if verdict == Verdict::CannotTell {
        return;
    }
    let Some(host) = &found.host else { return };
    let id = match identity::identify(Path::new(host)) {
        Ok(id) => id,
        Err(e) => return report.note(format!("the verdict was not remembered for {host}: {e}")),
    };
    let script = match identity::script_key(&id.path, script) {
        Ok(script) => script,
        Err(e) => return report.note(format!("the verdict was not remembered: {e}")),
    };
    if let (None, Some(why)) = (&script, not_a_host(&id.path)) {
        return report.note(format!(
            "the verdict was not remembered: {} is {why}, whose verdict would hold for \
             every program it runs",
            id.path.display()
        ));
    }
    let store = match Store::from_env() {
        Ok(s) => s,
        Err(e) => return report.note(format!("the verdict was not remembered: {e}")),
    };
    let mut stored_for = match &script {
        Some(s) => format!("{} running {}", id.path.display(), s.path.display()),
        None => id.path.display().to_string(),
    };
    if let Some(temps) = temps {
        stored_for.push_str(&format!(" with --temps '{temps}'"));
    }
    let entry = Entry {
        host: id,
        script,
        verdict,
        reasons: report.reasons().to_vec(),
        time: verdicts::now(),
        command: show_command(command),
        temps: temps.map(str::to_owned),
    };
    match store.record(entry) {
        Ok(()) => report.remembered(&store.file, &[stored_for.into()]),
        Err(e) => report.note(format!("the verdict was not remembered: {e}")),
    }
}

/// Why the binary at `path` gets no verdict of its own: an exec wrapper, a
/// shell or build driver, or an interpreter (whose verdict would be the
/// script's), by the names of `arshim_common::names`.
fn not_a_host(path: &Path) -> Option<&'static str> {
    use arshim_common::names::{is_driver, is_exec_wrapper, is_interpreter};
    let name = path.file_name()?.as_bytes();
    if is_exec_wrapper(name) {
        Some("an exec wrapper")
    } else if is_driver(name) {
        Some("a shell or build driver")
    } else if is_interpreter(name) {
        Some("an interpreter")
    } else {
        None
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Observe,
    Convert,
    /// Observed again, from the converted run's starting state (`observe_again`).
    ObserveAgain,
    /// Observed again, from the first run's starting state, when a file
    /// differs (`written`).
    Repeat,
}

/// One run of CMD: where its trace and output went, and what was measured.
struct Run {
    /// Just before the spawn, by the filesystem clock: files the run wrote are not older.
    started: SystemTime,
    trace: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
    sampled: measure::Sampled,
}

impl Run {
    /// Copies the captured output to ours, as it was.
    fn show_output(&self) {
        let copy = |from: &Path, to: &mut dyn io::Write| {
            if let Ok(mut f) = File::open(from) {
                let _ = io::copy(&mut f, to);
                let _ = to.flush();
            }
        };
        copy(&self.stdout, &mut io::stdout().lock());
        copy(&self.stderr, &mut io::stderr().lock());
    }
}

/// Runs CMD through `arshim run`, sampled, into the work dir.
struct Runner<'a> {
    companion: PathBuf,
    args: &'a VerifyArgs,
    work: WorkDir,
    /// CMD as `arshim run` sees it: its archiver globs go to both runs.
    host: HostSettings,
    /// The host's temps globs: `--temps`, then the known host's
    /// (docs/DESIGN.md, "verify: temporaries taken over").
    globs: temps::Globs,
    tools: Tools,
    /// The companion's working directory (a relative archive operand's base).
    cwd: PathBuf,
    stdin: StdinFeed,
}

impl<'a> Runner<'a> {
    /// Checks what both runs need: the companion, the library, CMD, the
    /// archiver globs, the current directory and a temp dir.
    fn new(args: &'a VerifyArgs) -> Result<Self, Failure> {
        let companion = locate::companion()?;
        locate::library()?; // the usual message now, not a CANNOT TELL later
        let (program, _) = args.command.split_first().expect("clap requires CMD");
        if crate::pathsearch::found(program).is_none() {
            return Err(Failure::usage(format!(
                "cannot run {}: not found, or not executable",
                program.to_string_lossy()
            )));
        }
        let host = known_hosts::settings_for(&args.command, args.tools.as_deref());
        let tools = sampler_tools(host.tools.as_deref())?;
        let known_temps = host.known.as_ref().map_or(&[][..], |(_, k)| k.temps);
        let tmpdir = std::env::var("TMPDIR").ok();
        let globs = temps::Globs::new(args.temps.as_deref(), known_temps, tmpdir.as_deref());
        let cwd = std::env::current_dir()
            .map_err(|e| Failure::usage(format!("cannot read the current directory: {e}")))?;
        let work =
            WorkDir::new().map_err(|e| Failure::usage(format!("cannot make a temp dir: {e}")))?;
        let stdin = StdinFeed::capture(&work.path)
            .map_err(|e| Failure::usage(format!("cannot read stdin: {e}")))?;
        Ok(Runner {
            companion,
            args,
            work,
            host,
            globs,
            tools,
            cwd,
            stdin,
        })
    }

    /// `arshim run [--observe] --trace T [--tools G] -- CMD`.
    fn run(&self, pass: Pass) -> Result<Run, Failure> {
        let tag = match pass {
            Pass::Observe => "observe",
            Pass::Convert => "convert",
            Pass::ObserveAgain => "observe-again",
            Pass::Repeat => "repeat",
        };
        let work = &self.work.path;
        let trace = work.join(format!("{tag}.jsonl"));
        let stdout = work.join(format!("{tag}.stdout"));
        let stderr = work.join(format!("{tag}.stderr"));
        let file = |p: &Path| {
            File::create(p)
                .map_err(|e| Failure::usage(format!("cannot create {}: {e}", p.display())))
        };
        let mut cmd = Command::new(&self.companion);
        cmd.arg("run");
        match pass {
            Pass::Observe | Pass::ObserveAgain | Pass::Repeat => cmd.arg("--observe"),
            // The conversion itself is on trial: no refusal may stand in for it.
            Pass::Convert => cmd.arg("--force"),
        };
        cmd.arg("--trace").arg(&trace);
        if let Some(t) = &self.host.tools {
            cmd.arg("--tools").arg(t);
        }
        if let Some(t) = self.temps_for(pass) {
            cmd.arg("--temps").arg(t);
        }
        cmd.arg("--").args(&self.args.command);
        cmd.stdout(file(&stdout)?).stderr(file(&stderr)?);
        state::unhold_in_child(&mut cmd);
        // The same bytes for both runs (`state::StdinFeed`).
        cmd.stdin(
            self.stdin
                .for_run(pass == Pass::Observe)
                .map_err(|e| Failure::usage(format!("cannot reopen the saved stdin: {e}")))?,
        );
        let started = fs_now(&work.join(format!("{tag}.start")));
        let sampled = measure::Sampler::new(SAMPLE_HZ, self.tools.clone())
            .run(cmd)
            .map_err(|e| Failure::usage(format!("cannot run {}: {e}", self.companion.display())))?;
        Ok(Run {
            started,
            trace,
            stdout,
            stderr,
            sampled,
        })
    }
}

impl Runner<'_> {
    /// `--temps` for a run: the user's; an observed run also records what
    /// the host creates anywhere in its temp dir, so that a deletion there
    /// is known to be of the host's own (docs/DESIGN.md, "verify:
    /// temporaries taken over"). The library adds the known host's.
    fn temps_for(&self, pass: Pass) -> Option<String> {
        let user = self.args.temps.as_deref();
        match pass {
            Pass::Convert => user.map(str::to_owned),
            _ => Some(match user {
                Some(u) => format!("{OBSERVED_TEMPS},{u}"),
                None => OBSERVED_TEMPS.to_owned(),
            }),
        }
    }
}

/// What an observed run records the creations of, beside the host's temps.
const OBSERVED_TEMPS: &str = "$TMPDIR/*";

/// "Now" by the filesystem's clock: the mtime of a file written now. File
/// times come from the kernel's coarse clock, which can lag
/// `SystemTime::now()` by a tick, so a file a run writes right after its
/// start could otherwise look older than the start.
fn fs_now(marker: &Path) -> SystemTime {
    fs::write(marker, b"")
        .and_then(|()| fs::metadata(marker)?.modified())
        .unwrap_or_else(|_| SystemTime::now() - std::time::Duration::from_secs(1))
}

fn read_trace(path: &Path) -> String {
    // Missing: nothing loaded the library (a static binary, say).
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The archiver globs for the memory sampler: the library's (--tools or the
/// known host's, else an inherited ARSHIM_TOOLS, else its default).
fn sampler_tools(tools: Option<&str>) -> Result<Tools, Failure> {
    match tools {
        Some(t) => Tools::parse(t).map_err(Failure::usage),
        None => Ok(std::env::var(var::TOOLS)
            .ok()
            .and_then(|t| Tools::parse(&t).ok())
            .unwrap_or_default()),
    }
}

/// The command as a shell would read it back.
pub fn show_command(command: &[OsString]) -> String {
    command
        .iter()
        .map(|a| String::from_utf8_lossy(&quote::sh(a.as_bytes())).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn status_text(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "unknown status".to_owned(),
    }
}

/// A private temp dir for the traces, captured output and the archive copy;
/// removed when dropped.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn new() -> io::Result<WorkDir> {
        let base = std::env::temp_dir();
        let mut n = 0u32;
        loop {
            let path = base.join(format!("arshim-verify-{}-{n}", std::process::id()));
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(WorkDir { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 100 => n += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_shells_and_interpreters_are_not_hosts() {
        for (path, why) in [
            ("/usr/bin/env", Some("an exec wrapper")),
            ("/usr/bin/dash", Some("a shell or build driver")),
            ("/usr/bin/python3.11", Some("an interpreter")),
            ("/usr/bin/ldc2", None),
            ("/usr/bin/ocamlopt.opt", None),
        ] {
            assert_eq!(not_a_host(Path::new(path)), why, "{path}");
        }
    }

    #[test]
    fn commands_are_shown_shell_quoted() {
        let cmd: Vec<OsString> = ["ld", "-o", "my lib.a", "a.o"].map(OsString::from).into();
        assert_eq!(show_command(&cmd), "ld -o 'my lib.a' a.o");
    }

    #[test]
    fn statuses_in_words() {
        assert_eq!(status_text(ExitStatus::from_raw(0)), "exit status 0");
        assert_eq!(status_text(ExitStatus::from_raw(3 << 8)), "exit status 3");
        assert_eq!(status_text(ExitStatus::from_raw(9)), "killed by signal 9");
    }

    #[test]
    fn work_dirs_are_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = WorkDir::new().unwrap();
        let path = dir.path.clone();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let other = WorkDir::new().unwrap();
        assert_ne!(other.path, path);
        drop(dir);
        assert!(!path.exists());
    }
}
