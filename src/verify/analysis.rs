//! Is the archiver spawn final? Decided from the observe-mode trace alone
//! (a pure function, so every rule is unit-tested on hand-written traces).
//!
//! The claimed process is the one whose `load` event says `in_scope`. Once it
//! has waited for its archiver (`archiver_done`), the library records as
//! `after` events everything it still does, and every exec made by it or by
//! any of its descendants; all of it but the work of its exit handlers
//! (which a conversion runs) would be lost, or reordered before the
//! archiver, by a conversion — deletions by the main code included.

use std::fmt::Write as _;
use std::path::Path;

use super::archive;
use super::temps::{self, Created, Deletion, Globs};
use super::trace::Event;

/// At most this many reasons are listed; the rest are counted.
pub const MAX_REASONS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finality {
    /// Nothing after the archiver ended but the work of the exit handlers.
    Final,
    /// What the process did after the archiver ended, in plain words.
    NotFinal(Vec<String>),
    /// Why the trace cannot decide.
    Unknown(String),
}

/// The archiver call that ended the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiverCall {
    /// `posix_spawn`, `posix_spawnp`, `system`, or `fork` (a forked child the host waited for).
    pub call: String,
    pub program: String,
    /// The archiver's own arguments (for `system`, the words of a plain
    /// command line); `None` when the trace does not say.
    pub argv: Option<Vec<String>>,
    /// For `system`, the command line as given.
    pub command: Option<String>,
    /// Its working directory, when the trace records it.
    pub cwd: Option<String>,
    /// For a link (a compiler driver or a linker, by the library's
    /// `would_convert` event): the file it writes.
    pub output: Option<String>,
}

impl ArchiverCall {
    /// The call as the user would recognise it.
    pub fn shown(&self) -> String {
        match (&self.argv, &self.command) {
            (_, Some(command)) => command.clone(),
            (Some(argv), None) => argv.join(" "),
            (None, None) => self.program.clone(),
        }
    }

    /// A compiler driver's or linker's run that links, not an archiver's.
    pub fn is_link(&self) -> bool {
        self.output.is_some()
    }

    /// The name used in the reasons: "after ar exited, …".
    pub fn name(&self) -> String {
        let program = self
            .argv
            .as_ref()
            .and_then(|a| a.first())
            .unwrap_or(&self.program);
        archive::basename(program).to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// The claimed process's executable (from its last in-scope `load`).
    pub host: Option<String>,
    pub archiver: Option<ArchiverCall>,
    pub finality: Finality,
    /// Deletions by the exit handlers after the archiver ended (kept: a
    /// conversion runs the handlers, deferring those of the archiver's inputs).
    pub deletions: usize,
    /// The claimed process reached a normal exit (its `exit` event).
    pub exited: bool,
    /// Deletions by the main code after the archiver that a conversion
    /// hands to the reaper (docs/DESIGN.md, "verify: temporaries taken over").
    pub taken: Vec<String>,
    /// What the host created (the library's `created` events), still there
    /// when the archiver ended.
    pub created: Vec<Created>,
    /// Things worth saying that do not decide the verdict.
    pub notes: Vec<String>,
}

/// `outputs`: files that stand for a stream in the reasons (verify captures
/// the command's stdout and stderr into regular files): (path, name).
/// `globs`: the host's temps globs; deletions after the archiver of what the
/// host created and a glob covers are taken over, not reasons.
pub fn analyse(events: &[Event], outputs: &[(&Path, &str)], globs: &Globs) -> Analysis {
    let Some((pid, host, mut notes)) = claimed_process(events) else {
        return nothing_in_scope(events);
    };
    let mine: Vec<&Event> = events.iter().filter(|e| e.pid == pid).collect();
    let exited = mine.iter().any(|e| e.event == "exit");
    if !exited {
        notes.push(
            "the process did not exit normally (killed by a signal, or it called _exit): \
             its exit handlers did not run and late writes to open files were not checked"
                .to_owned(),
        );
    }

    let done = mine.iter().position(|e| e.event == "archiver_done");
    let archiver = archiver_call(&mine, done);
    let left_alone = not_converted(&mine[..done.unwrap_or(mine.len())]);
    let Some(done) = done else {
        let (archiver, finality) = undecided(&mine, archiver, left_alone, &mut notes);
        return Analysis {
            finality,
            host,
            archiver,
            deletions: 0,
            exited,
            taken: Vec::new(),
            created: Vec::new(),
            notes,
        };
    };

    notes.extend(earlier_left_alone(&left_alone));
    let tool = archiver
        .as_ref()
        .map_or_else(|| "the archiver".to_owned(), ArchiverCall::name);
    let mut after = after_the_archiver(&mine[done + 1..], &tool, outputs);
    let created = created_by_host(&mine, &mut notes);
    let split = temps::split(&after.main_deletions, &created, globs);
    after.reasons.extend(deletion_reasons(&tool, &split, globs));
    after.reasons.extend(anywhere(&mine));
    if mine[done].bool("execs_recorded") == Some(false) {
        notes.push(
            "the library could not record execs after the archiver in this run (its \
             record could not be mapped): execs by child processes were not checked"
                .to_owned(),
        );
    }
    if after.in_exit_handlers > 0 {
        notes.push(format!(
            "{} thing(s) done by the exit handlers after {tool} exited: a \
             conversion runs those handlers before the exec, so they are kept",
            after.in_exit_handlers
        ));
    }
    Analysis {
        host,
        archiver,
        finality: if after.reasons.is_empty() {
            Finality::Final
        } else {
            Finality::NotFinal(dedupe(after.reasons, MAX_REASONS))
        },
        deletions: after.deletions,
        exited,
        taken: split.taken,
        created,
        notes,
    }
}

/// The library's `created` events (observe mode, at `archiver_done`): what
/// the process created that was still there when the archiver ended; a
/// note when the record is not whole.
fn created_by_host(mine: &[&Event], notes: &mut Vec<String>) -> Vec<Created> {
    if let Some(e) = mine.iter().find(|e| e.event == "created_incomplete") {
        notes.push(format!(
            "the library could not record every file the process created ({}): a deletion \
             of one it did not record counts as not the process's own",
            e.str("reason").unwrap_or("no reason given")
        ));
    }
    let number = |e: &Event, k: &str| e.fields.get(k).and_then(serde_json::Value::as_u64);
    mine.iter()
        .filter(|e| e.event == "created")
        .filter_map(|e| {
            Some(Created {
                path: e.str("path")?.to_owned(),
                dev: number(e, "dev"),
                ino: number(e, "ino"),
            })
        })
        .collect()
}

/// The reasons the main code's deletions after the archiver give: those
/// a conversion never makes. The host's own temporaries that no glob
/// covers come with the `--temps` that would.
fn deletion_reasons(tool: &str, split: &temps::Split, globs: &Globs) -> Vec<String> {
    let mut reasons = Vec::new();
    if !split.created_uncovered.is_empty() {
        reasons.push(format!(
            "{}; the process created them in this run: rerun with --temps '{}' so that a \
             conversion hands them to the reaper",
            deletions_reason(tool, &names(&split.created_uncovered)),
            temps::hint(&split.created_uncovered, globs.tmpdir())
        ));
    }
    if !split.not_created.is_empty() {
        reasons.push(format!(
            "{}; they match the temps globs ({}) but the process did not create them in this \
             run, and a conversion hands the reaper nothing else",
            deletions_reason(tool, &names(&split.not_created)),
            globs.list()
        ));
    }
    if !split.other.is_empty() {
        reasons.push(deletions_reason(tool, &names(&split.other)));
    }
    reasons
}

/// The process judged: the first one in scope (its pid, the host it ran
/// last, notes), or `None` when no process was in scope.
fn claimed_process(events: &[Event]) -> Option<(i64, Option<String>, Vec<String>)> {
    let mut notes = Vec::new();
    let in_scope: Vec<&Event> = events
        .iter()
        .filter(|e| e.event == "load" && e.bool("in_scope") == Some(true))
        .collect();
    let pid = in_scope.first()?.pid;
    if in_scope.iter().any(|e| e.pid != pid) {
        notes.push(format!(
            "more than one process was in scope; only the first (pid {pid}) was judged"
        ));
    }
    // An exec wrapper keeps the pid: the last image loaded in it is the host.
    let host = in_scope
        .iter()
        .rev()
        .find(|e| e.pid == pid)
        .and_then(|e| e.str("exe"))
        .map(str::to_owned);
    Some((pid, host, notes))
}

/// A matching call the library left alone in the observed run (its
/// `fallback` event): the call as the user would recognise it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LeftAlone {
    shown: String,
    call: String,
    reason: String,
}

/// The matching calls the library would not convert, in order: each
/// `fallback` with its spawn's arguments (the `spawn` event just before it)
/// or its child's (the `wait` event just after it).
fn not_converted(mine: &[&Event]) -> Vec<LeftAlone> {
    let mut out = Vec::new();
    for (i, e) in mine.iter().enumerate() {
        if e.event != "fallback" {
            continue;
        }
        let call = e.str("call").unwrap_or_default();
        let described = if call == "wait" {
            let wait = mine
                .get(i + 1..)
                .and_then(|rest| rest.iter().find(|n| n.event == "wait"));
            if wait.is_some_and(|w| w.str("source") == Some("spawn")) {
                continue; // a spawned child, left alone at its spawn already
            }
            wait
        } else {
            mine.get(..i).and_then(|before| {
                before
                    .iter()
                    .rev()
                    .find(|n| n.event == "spawn" && n.bool("archiver") == Some(true))
            })
        };
        let shown = described
            .and_then(|d| d.strings("argv"))
            .filter(|a| !a.is_empty())
            .map(|a| match call {
                "system" => a.get(2).cloned().unwrap_or_default(),
                _ => a.join(" "),
            })
            .unwrap_or_else(|| e.str("program").unwrap_or_default().to_owned());
        out.push(LeftAlone {
            shown,
            // a forked child is left alone at its wait, as `ArchiverCall` names it
            call: if call == "wait" { "fork" } else { call }.to_owned(),
            reason: e.str("reason").unwrap_or("no reason given").to_owned(),
        });
    }
    out
}

/// The judged call and its finality when the host never waited for a call
/// the library would convert: none would be converted (CANNOT TELL, the last
/// named; NOT SAFE for an `on_exit` handler, which the library refuses
/// wherever it was registered), or it was never waited for.
fn undecided(
    mine: &[&Event],
    archiver: Option<ArchiverCall>,
    mut left_alone: Vec<LeftAlone>,
    notes: &mut Vec<String>,
) -> (Option<ArchiverCall>, Finality) {
    let would = mine.iter().any(|e| e.event == "would_convert");
    let decided = match left_alone.pop() {
        Some(last) if !would => {
            let refused = anywhere(mine);
            let finality = if refused.is_empty() {
                Finality::Unknown(none_converted(&last, left_alone.len() + 1))
            } else {
                Finality::NotFinal(refused)
            };
            (None, finality)
        }
        _ => {
            let why = never_waited_for(archiver.as_ref());
            (archiver, Finality::Unknown(why))
        }
    };
    notes.extend(earlier_left_alone(&left_alone));
    decided
}

/// Why finality is unknown when the library would convert none of the
/// `count` matching calls: the last one (a host's final spawn comes last),
/// and its reason (docs/DESIGN.md, "Conversion" 10).
fn none_converted(last: &LeftAlone, count: usize) -> String {
    format!(
        "the library would convert none of the {count} call(s) that matched the archiver globs; \
         the last, `{}` ({}), is not converted: {}",
        last.shown, last.call, last.reason
    )
}

/// The notes naming the calls left alone before the one judged.
fn earlier_left_alone(left: &[LeftAlone]) -> Vec<String> {
    let each = left
        .iter()
        .map(|l| format!("not converted: `{}` ({}): {}", l.shown, l.call, l.reason))
        .collect();
    dedupe(each, MAX_REASONS)
}

/// Why finality is unknown when the archiver never ended in the trace.
fn never_waited_for(archiver: Option<&ArchiverCall>) -> String {
    match archiver {
        Some(a) => format!(
            "the archiver was never waited for: {} was started with {} but the process \
             did not wait for it",
            a.name(),
            a.call
        ),
        None => "no archiver spawn was seen (no spawned program matched the archiver \
                 globs: see --tools)"
            .to_owned(),
    }
}

/// What the process did after its archiver ended.
struct After {
    /// Work that makes the spawn not final, described.
    reasons: Vec<String>,
    /// Deletions by the exit handlers (kept: a conversion runs them).
    deletions: usize,
    /// Work of the exit handlers, which a conversion keeps.
    in_exit_handlers: usize,
    /// Deletions by the main code: a conversion makes them only when it
    /// hands them to the reaper (`temps`).
    main_deletions: Vec<Deletion>,
}

/// Deleted paths named in a reason; the rest are counted.
const NAMED_DELETIONS: usize = 3;

fn after_the_archiver(later: &[&Event], tool: &str, outputs: &[(&Path, &str)]) -> After {
    let mut after = After {
        reasons: Vec::new(),
        deletions: 0,
        in_exit_handlers: 0,
        main_deletions: Vec::new(),
    };
    for (i, e) in later.iter().enumerate() {
        // An exec that failed ran nothing (execvp-like PATH searches fail
        // before the one that succeeds, which is recorded too).
        if e.event != "after" || e.bool("failed") == Some(true) {
            continue;
        }
        let in_exit = e.str("phase") == Some("exit");
        let what = e.str("what").unwrap_or_default();
        let again = is_archiver_again(e, &later[i + 1..]);
        // What the exit handlers do is kept by a conversion: it runs them
        // (atexit, C++ destructors, stdio flush) before the exec — but a
        // second archiver would run before the first.
        if in_exit && !again {
            match what {
                "delete" => after.deletions += 1,
                _ => after.in_exit_handlers += 1,
            }
            continue;
        }
        if what == "delete" {
            // Never made by a conversion (the host's main code does not
            // run after the exec), unless handed to the reaper.
            after.main_deletions.push(deletion(e));
            continue;
        }
        let reason = format!(
            "after {tool} exited, the process {}",
            describe_after(e, &later[i + 1..], outputs)
        );
        // Execs the record could not keep go first: the list is capped.
        match what {
            "exec_missed" => after.reasons.insert(0, reason),
            _ => after.reasons.push(reason),
        }
    }
    after
}

/// A `delete` event: the path as named, and as the library resolved it
/// (`abs`, with the file's `dev`/`ino` just before) when it could.
fn deletion(e: &Event) -> Deletion {
    let number = |k: &str| e.fields.get(k).and_then(serde_json::Value::as_u64);
    Deletion {
        path: e.str("path").unwrap_or_default().to_owned(),
        abs: e.str("abs").map(str::to_owned),
        dev: number("dev"),
        ino: number("ino"),
    }
}

fn names(paths: &[String]) -> Vec<&str> {
    paths.iter().map(String::as_str).collect()
}

/// "deleted A, B, C and 4 more by its main code, …".
fn deletions_reason(tool: &str, deleted: &[&str]) -> String {
    let mut unique: Vec<&str> = Vec::new();
    for d in deleted {
        if !unique.contains(d) {
            unique.push(d);
        }
    }
    let mut named = unique
        .iter()
        .take(NAMED_DELETIONS)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if unique.len() > NAMED_DELETIONS {
        let _ = write!(named, " and {} more", unique.len() - NAMED_DELETIONS);
    }
    format!(
        "after {tool} exited, the process deleted {named} in its main code: a conversion \
         never makes those deletions (its main code does not run after the exec)"
    )
}

/// An exec or spawn after the archiver whose program is an archiver too.
fn is_archiver_again(e: &Event, rest: &[&Event]) -> bool {
    match e.str("what") {
        Some("exec") => e.bool("archiver") == Some(true),
        // The library logs the spawn itself, with its archiver mark, right after.
        Some("spawn") => rest
            .iter()
            .take_while(|n| n.event != "after")
            .find(|n| n.event == "spawn")
            .is_some_and(|n| n.bool("archiver") == Some(true)),
        _ => false,
    }
}

/// Reasons found anywhere in the process's trace, not only after the
/// archiver: an `on_exit` handler runs at exit whenever it was registered.
fn anywhere(mine: &[&Event]) -> Vec<String> {
    let mut reasons = Vec::new();
    if mine.iter().any(|e| e.event == "on_exit") {
        reasons.push(
            "the process registered an on_exit handler, which a conversion does not run \
             (the library does not convert such a host)"
                .to_owned(),
        );
    }
    reasons
}

fn nothing_in_scope(events: &[Event]) -> Analysis {
    let loads: Vec<&Event> = events.iter().filter(|e| e.event == "load").collect();
    // The library's reason for every process but the claimed one. If that is
    // all there is, the command itself never loaded the library.
    let other = |e: &&Event| {
        e.str("reason")
            .is_some_and(|r| r.starts_with("not the claimed process"))
    };
    let why = match loads.iter().find(|e| !other(e)) {
        Some(load) => format!(
            "no process was in scope: {} was not ({})",
            load.str("exe").unwrap_or("the command"),
            load.str("reason").unwrap_or("no reason given")
        ),
        None => {
            let mut why = "the command never loaded the library: it may be statically linked \
                           or setuid (see `arshim doctor CMD`)"
                .to_owned();
            if let Some(child) = loads.first().and_then(|e| e.str("exe")) {
                let _ = write!(why, "; only programs it ran did, such as {child}");
            }
            why
        }
    };
    Analysis {
        host: None,
        archiver: None,
        finality: Finality::Unknown(why),
        deletions: 0,
        exited: false,
        taken: Vec::new(),
        created: Vec::new(),
        notes: Vec::new(),
    }
}

/// The archiver call that `archiver_done` (at `done`, if any) ended: the
/// last call the library would convert before it (its `would_convert`);
/// from a library that does not say, the last archiver spawn before it,
/// else the forked child it waited for.
fn archiver_call(mine: &[&Event], done: Option<usize>) -> Option<ArchiverCall> {
    let before = &mine[..done.unwrap_or(mine.len())];
    if let Some(would) = before.iter().rev().find(|e| e.event == "would_convert") {
        return Some(would_convert_call(would, before));
    }
    if let Some(spawn) = before
        .iter()
        .rev()
        .find(|e| e.event == "spawn" && e.bool("archiver") == Some(true))
    {
        let call = spawn.str("call").unwrap_or("spawn").to_owned();
        let program = spawn.str("program").unwrap_or_default().to_owned();
        let mut argv = spawn.strings("argv");
        let mut command = None;
        if call == "system" {
            // system() runs `sh -c COMMAND`: the archiver's words are in COMMAND.
            command = argv.as_ref().and_then(|a| a.get(2)).cloned();
            argv = command.as_deref().and_then(archive::plain_words);
        }
        return Some(ArchiverCall {
            call,
            program,
            argv,
            command,
            cwd: None,
            output: None,
        });
    }
    let child = mine.get(done?)?.int("child")?;
    let wait = before
        .iter()
        .rev()
        .find(|e| e.event == "wait" && e.int("child") == Some(child))?;
    Some(ArchiverCall {
        call: "fork".to_owned(),
        program: wait.str("program").unwrap_or_default().to_owned(),
        // Recorded by libraries that log the child's command line at its wait.
        argv: wait.strings("argv").filter(|a| !a.is_empty()),
        command: None,
        cwd: wait.str("cwd").map(str::to_owned),
        output: None,
    })
}

/// The call a `would_convert` event names: a spawn (`system`: the words of
/// its command line), or a forked child at its wait (`child`), whose
/// directory its `wait` event gives.
fn would_convert_call(would: &Event, before: &[&Event]) -> ArchiverCall {
    let child = would.int("child").filter(|&c| c > 0);
    let mut call = would.str("call").unwrap_or("spawn").to_owned();
    let mut argv = would.strings("argv");
    let mut command = None;
    if call == "system" {
        command = argv.as_ref().and_then(|a| a.get(2)).cloned();
        argv = command.as_deref().and_then(archive::plain_words);
    }
    let wait = child.and_then(|c| {
        before
            .iter()
            .rev()
            .find(|e| e.event == "wait" && e.int("child") == Some(c))
    });
    let cwd = wait.and_then(|w| w.str("cwd")).map(str::to_owned);
    if child.is_some() {
        // a spawned child the library would hand off at its wait, not at its spawn
        call = match wait.filter(|w| w.str("source") == Some("spawn")) {
            Some(w) => format!("{}, at its wait", w.str("call").unwrap_or("spawn")),
            None => "fork".to_owned(),
        };
    }
    ArchiverCall {
        call,
        program: would.str("program").unwrap_or_default().to_owned(),
        argv,
        command,
        cwd,
        output: would.str("output").map(str::to_owned),
    }
}

/// One `after` event in words (without the "after ar exited, the process" part).
/// `rest`: the events that follow it, where a spawn's full `spawn` event is.
fn describe_after(e: &Event, rest: &[&Event], outputs: &[(&Path, &str)]) -> String {
    let path = e.str("path").unwrap_or_default();
    let detail = e.str("detail").unwrap_or_default();
    if is_archiver_again(e, rest) {
        return archiver_again(e, rest);
    }
    match e.str("what").unwrap_or_default() {
        "exec" => {
            let argv = e.strings("argv").filter(|a| !a.is_empty());
            let shown = argv.map_or_else(|| path.to_owned(), |a| a.join(" "));
            match detail.strip_suffix(" in the host's own pid") {
                Some(_) => format!("exec'd `{shown}` in its own pid"),
                None => format!("ran `{shown}` ({detail})"),
            }
        }
        "exec_missed" => format!("made execs that were not recorded: {detail}"),
        "spawn" => {
            if matches!(detail, "system" | "popen") {
                return format!("ran `{path}` ({detail})");
            }
            // The library also logs the spawn itself, with its argv, right after.
            let argv = rest
                .iter()
                .take_while(|n| n.event != "after")
                .find(|n| n.event == "spawn" && n.str("program") == Some(path))
                .and_then(|n| n.strings("argv"));
            match argv {
                Some(argv) if !argv.is_empty() => format!("spawned `{}`", argv.join(" ")),
                _ => format!("spawned `{path}`"),
            }
        }
        "fork" => "forked a child process".to_owned(),
        "open" => format!("opened {path} for writing"),
        "write" => {
            let target = outputs
                .iter()
                .find(|(p, _)| Path::new(path) == *p)
                .map_or_else(|| path.to_owned(), |(_, name)| (*name).to_owned());
            match grew(detail) {
                Some(growth) => format!("wrote to {target} ({growth})"),
                None => format!("wrote to {target}"),
            }
        }
        "rename" => format!("renamed a file to {path}"),
        "link" => format!("created the link {path}"),
        other => format!("did `{other}` on {path}"),
    }
}

/// A second archiver, in words: a conversion converts the first archiver
/// spawn and loses this one.
fn archiver_again(e: &Event, rest: &[&Event]) -> String {
    let path = e.str("path").unwrap_or_default();
    let argv = match e.str("what") {
        Some("exec") => e.strings("argv"),
        _ => rest
            .iter()
            .take_while(|n| n.event != "after")
            .find(|n| n.event == "spawn")
            .and_then(|n| n.strings("argv")),
    };
    let shown = match e.str("detail") {
        Some("system" | "popen") => path.to_owned(),
        _ => argv
            .filter(|a| !a.is_empty())
            .map_or_else(|| path.to_owned(), |a| a.join(" ")),
    };
    format!(
        "spawned the archiver again: `{shown}` (a conversion converts the first archiver \
         spawn and loses this one)"
    )
}

/// "fd 3 grew from 7 to 13 bytes" → "it grew from 7 to 13 bytes".
fn grew(detail: &str) -> Option<String> {
    detail.find("grew ").map(|i| format!("it {}", &detail[i..]))
}

/// What the library did with the archiver in the converted run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversion {
    /// `convert` (spawn time) or `handoff` (wait time to the reaper).
    Converted(&'static str),
    /// The library left the call alone: its reason.
    FellBack(String),
    /// Neither: no archiver call reached the library in scope.
    NotSeen,
}

/// From the trace of the converted run: did the claimed process convert?
pub fn conversion(events: &[Event]) -> Conversion {
    let claimed = events
        .iter()
        .find(|e| e.event == "load" && e.bool("in_scope") == Some(true))
        .map(|e| e.pid);
    let mine = events.iter().filter(|e| Some(e.pid) == claimed);
    let mut fallback = None;
    for e in mine {
        match e.event.as_str() {
            "convert" => return Conversion::Converted("at the spawn call"),
            "handoff" => return Conversion::Converted("at the wait, through the reaper"),
            "fallback" if fallback.is_none() => {
                fallback = Some(e.str("reason").unwrap_or("no reason given").to_owned())
            }
            _ => {}
        }
    }
    fallback.map_or(Conversion::NotSeen, Conversion::FellBack)
}

/// First occurrences only, in order; at most `max`, then a count of the rest.
pub fn dedupe(items: Vec<String>, max: usize) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<String> = items
        .into_iter()
        .filter(|r| seen.insert(r.clone()))
        .collect();
    let more = unique.len().saturating_sub(max);
    let mut out: Vec<String> = unique.into_iter().take(max).collect();
    if more > 0 {
        out.push(format!("… and {more} more"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::trace::parse;
    use super::*;

    const LOAD: &str = r#"{"ts":1,"pid":10,"event":"load","exe":"/bin/host","mode":"observe","in_scope":true,"reason":"claimed process (ARSHIM_PID)"}"#;
    const SPAWN_AR: &str = r#"{"ts":2,"pid":10,"event":"spawn","call":"posix_spawnp","program":"ar","argv":["ar","rcs","lib.a","a.o"],"archiver":true}"#;
    const AR_LOAD: &str = r#"{"ts":3,"pid":11,"event":"load","exe":"/usr/bin/ar","mode":"off","in_scope":false,"reason":"not the claimed process (ARSHIM_PID)"}"#;
    const WAIT: &str = r#"{"ts":4,"pid":10,"event":"wait","child":11,"program":"/usr/bin/ar","result":11,"status":0}"#;
    const DONE: &str = r#"{"ts":5,"pid":10,"event":"archiver_done","child":11,"status":0}"#;
    const EXIT: &str = r#"{"ts":9,"pid":10,"event":"exit"}"#;

    fn analyse_lines(lines: &[&str]) -> Analysis {
        let (events, bad) = parse(&lines.join("\n"));
        assert_eq!(bad, 0);
        let outputs = [
            (Path::new("/tmp/v/stdout"), "stdout"),
            (Path::new("/tmp/v/stderr"), "stderr"),
        ];
        analyse(&events, &outputs, &Globs::default())
    }

    fn reasons(a: &Analysis) -> Vec<String> {
        match &a.finality {
            Finality::NotFinal(r) => r.clone(),
            other => panic!("expected NotFinal, got {other:?}"),
        }
    }

    #[test]
    fn exit_handlers_output_is_kept_by_a_conversion() {
        let printed = r#"{"ts":7,"pid":10,"event":"after","what":"write","path":"/tmp/v/stdout","phase":"exit","detail":"fd 1 grew by 17 bytes in the exit handlers"}"#;
        let exiting = r#"{"ts":6,"pid":10,"event":"exiting"}"#;
        let a = analyse_lines(&[LOAD, SPAWN_AR, AR_LOAD, WAIT, DONE, exiting, printed, EXIT]);
        assert_eq!(a.finality, Finality::Final);
        assert!(
            a.notes.iter().any(|n| n.contains("exit handlers")),
            "{:?}",
            a.notes
        );
        let before_exit = r#"{"ts":7,"pid":10,"event":"after","what":"write","path":"/tmp/v/stdout","phase":"main","detail":"fd 1 grew by 11 bytes after the archiver ended"}"#;
        let a = analyse_lines(&[
            LOAD,
            SPAWN_AR,
            AR_LOAD,
            WAIT,
            DONE,
            before_exit,
            exiting,
            printed,
            EXIT,
        ]);
        assert_eq!(reasons(&a).len(), 1, "{:?}", a.finality);
    }

    #[test]
    fn final_spawn_with_only_deletions_by_the_exit_handlers_after() {
        let del = r#"{"ts":6,"pid":10,"event":"after","what":"delete","path":"/tmp/x.o","phase":"exit","detail":"unlink"}"#;
        let a = analyse_lines(&[LOAD, SPAWN_AR, AR_LOAD, WAIT, DONE, del, EXIT]);
        assert_eq!(a.finality, Finality::Final);
        assert_eq!(a.host.as_deref(), Some("/bin/host"));
        assert_eq!(a.deletions, 1);
        assert!(a.exited && a.notes.is_empty(), "{:?}", a.notes);
        let ar = a.archiver.unwrap();
        assert_eq!(ar.call, "posix_spawnp");
        assert_eq!(ar.argv.unwrap(), ["ar", "rcs", "lib.a", "a.o"]);
    }

    #[test]
    fn deletions_by_the_main_code_are_reasons_naming_a_few() {
        let del = |path: &str| {
            format!(
                r#"{{"ts":6,"pid":10,"event":"after","what":"delete","path":"{path}","phase":"main","detail":"unlink"}}"#
            )
        };
        let lines: Vec<String> = ["/t/a", "/t/b", "/t/a", "/t/c", "/t/d", "/t"]
            .iter()
            .map(|p| del(p))
            .collect();
        let mut all = vec![LOAD, SPAWN_AR, WAIT, DONE];
        all.extend(lines.iter().map(String::as_str));
        let r = reasons(&analyse_lines(&all));
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(
            r[0].starts_with(
                "after ar exited, the process deleted /t/a, /t/b, /t/c and 2 more in its main code"
            ),
            "{r:?}"
        );
    }

    #[test]
    fn deletions_of_the_hosts_temps_are_taken_over_or_hinted() {
        let made = |path: &str, ino: u64| {
            format!(
                r#"{{"ts":5,"pid":10,"event":"created","path":"{path}","dev":1,"ino":{ino},"kind":"file"}}"#
            )
        };
        let del = |path: &str, ino: u64| {
            format!(
                r#"{{"ts":6,"pid":10,"event":"after","what":"delete","path":"{path}","abs":"{path}","dev":1,"ino":{ino},"phase":"main","detail":"unlink"}}"#
            )
        };
        let lines = [
            made("/t/my.Ab12", 2),
            made("/t/my.Ab12/a.o", 3),
            del("/t/my.Ab12/a.o", 3),
            del("/t/my.Ab12", 2),
            // There before the run: not the host's.
            del("/t/foreign.tmp", 4),
        ];
        let mut all = vec![LOAD, SPAWN_AR, WAIT, DONE];
        all.extend(lines.iter().map(String::as_str));
        all.push(EXIT);
        let events = parse(&all.join("\n")).0;
        let judge = |user: Option<&str>| analyse(&events, &[], &Globs::new(user, &[], Some("/t")));

        let a = judge(None);
        let r = reasons(&a);
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(
            r[0].starts_with("after ar exited, the process deleted /t/my.Ab12/a.o, /t/my.Ab12 in")
                && r[0].ends_with(
                    "the process created them in this run: rerun with --temps '$TMPDIR/my.*' so \
                     that a conversion hands them to the reaper"
                ),
            "{r:?}"
        );
        assert!(
            r[1].contains("deleted /t/foreign.tmp in its main code"),
            "{r:?}"
        );
        assert!(a.taken.is_empty());
        assert_eq!(a.created.len(), 2);

        let a = judge(Some("$TMPDIR/my.*"));
        assert_eq!(a.taken, ["/t/my.Ab12/a.o", "/t/my.Ab12"]);
        assert_eq!(reasons(&a).len(), 1, "{:?}", a.finality);

        let a = judge(Some("$TMPDIR/*"));
        let r = reasons(&a);
        assert!(
            r[0].contains("deleted /t/foreign.tmp in its main code")
                && r[0].contains("they match the temps globs ($TMPDIR/*) but the process did not"),
            "{r:?}"
        );
        let only_mine = [
            LOAD, SPAWN_AR, WAIT, DONE, &lines[0], &lines[1], &lines[2], &lines[3], EXIT,
        ];
        let a = analyse(
            &parse(&only_mine.join("\n")).0,
            &[],
            &Globs::new(Some("$TMPDIR/my.*"), &[], Some("/t")),
        );
        assert_eq!(a.finality, Finality::Final);
    }

    #[test]
    fn execs_after_the_archiver_are_reasons() {
        let child = r#"{"ts":6,"pid":10,"event":"after","what":"exec","path":"cp","phase":"main","detail":"execvp by pid 12","by":12,"argv":["cp","lib.a","installed.a"],"archiver":false}"#;
        let own = r#"{"ts":6,"pid":10,"event":"after","what":"exec","path":"/bin/cp","phase":"main","detail":"execv in the host's own pid","by":10,"argv":["cp","x"],"archiver":false}"#;
        let handler = r#"{"ts":7,"pid":10,"event":"after","what":"exec","path":"rm","phase":"exit","detail":"execvp by pid 13","by":13,"argv":["rm","t"],"archiver":false}"#;
        let failed = r#"{"ts":6,"pid":10,"event":"after","what":"exec","path":"/x/cp","phase":"main","detail":"execv by pid 12","by":12,"argv":["cp"],"archiver":false,"failed":true}"#;
        let missed = r#"{"ts":7,"pid":10,"event":"after","what":"exec_missed","path":"","phase":"main","detail":"3 exec(s) after the archiver were not recorded"}"#;
        let a = analyse_lines(&[
            LOAD, SPAWN_AR, WAIT, DONE, failed, child, own, handler, missed, EXIT,
        ]);
        assert_eq!(
            reasons(&a),
            [
                "after ar exited, the process made execs that were not recorded: 3 exec(s) \
                 after the archiver were not recorded",
                "after ar exited, the process ran `cp lib.a installed.a` (execvp by pid 12)",
                "after ar exited, the process exec'd `cp x` in its own pid",
            ]
        );
    }

    #[test]
    fn a_second_archiver_is_a_reason_even_in_the_exit_handlers() {
        let exec = r#"{"ts":6,"pid":10,"event":"after","what":"exec","path":"ar","phase":"exit","detail":"execvp by pid 12","by":12,"argv":["ar","rcs","b.a"],"archiver":true}"#;
        let spawn_after = r#"{"ts":7,"pid":10,"event":"after","what":"spawn","path":"ar","phase":"main","detail":"posix_spawnp"}"#;
        let spawn = r#"{"ts":7,"pid":10,"event":"spawn","call":"posix_spawnp","program":"ar","argv":["ar","rcs","c.a"],"archiver":true}"#;
        let r = reasons(&analyse_lines(&[
            LOAD,
            SPAWN_AR,
            WAIT,
            DONE,
            exec,
            spawn_after,
            spawn,
            EXIT,
        ]));
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r[0]
            .starts_with("after ar exited, the process spawned the archiver again: `ar rcs b.a`"));
        assert!(
            r[1].contains("spawned the archiver again: `ar rcs c.a`"),
            "{r:?}"
        );
    }

    #[test]
    fn an_on_exit_handler_is_a_reason_wherever_registered() {
        let on_exit = r#"{"ts":1,"pid":10,"event":"on_exit"}"#;
        let a = analyse_lines(&[LOAD, on_exit, SPAWN_AR, WAIT, DONE, EXIT]);
        assert!(
            reasons(&a)[0]
                .contains("registered an on_exit handler, which a conversion does not run"),
            "{:?}",
            a.finality
        );
    }

    #[test]
    fn writes_opens_and_spawns_after_the_archiver_are_reasons() {
        let open =
            r#"{"ts":6,"pid":10,"event":"after","what":"open","path":"after.txt","detail":"open"}"#;
        let write = r#"{"ts":6,"pid":10,"event":"after","what":"write","path":"/tmp/v/stdout","detail":"fd 1 grew from 7 to 13 bytes"}"#;
        let spawn_after = r#"{"ts":7,"pid":10,"event":"after","what":"spawn","path":"ranlib","detail":"posix_spawnp"}"#;
        let spawn = r#"{"ts":7,"pid":10,"event":"spawn","call":"posix_spawnp","program":"ranlib","argv":["ranlib","lib.a"],"archiver":false}"#;
        let a = analyse_lines(&[
            LOAD,
            SPAWN_AR,
            WAIT,
            DONE,
            open,
            open,
            write,
            spawn_after,
            spawn,
            EXIT,
        ]);
        assert_eq!(
            reasons(&a),
            [
                "after ar exited, the process opened after.txt for writing",
                "after ar exited, the process wrote to stdout (it grew from 7 to 13 bytes)",
                "after ar exited, the process spawned `ranlib lib.a`",
            ]
        );
    }

    #[test]
    fn other_after_events_in_words() {
        let lines = [
            r#"{"ts":6,"pid":10,"event":"after","what":"write","path":"/w/out.cmxa","detail":"write on fd 3"}"#,
            r#"{"ts":6,"pid":10,"event":"after","what":"rename","path":"lib.a","detail":"rename"}"#,
            r#"{"ts":6,"pid":10,"event":"after","what":"link","path":"l.a","detail":"symlink"}"#,
            r#"{"ts":6,"pid":10,"event":"after","what":"fork","path":"","detail":"fork"}"#,
            r#"{"ts":6,"pid":10,"event":"after","what":"spawn","path":"ranlib x.a","detail":"system"}"#,
            r#"{"ts":6,"pid":10,"event":"after","what":"write","path":"/tmp/v/stderr","detail":"write on fd 2"}"#,
        ];
        let mut all = vec![LOAD, SPAWN_AR, WAIT, DONE];
        all.extend(lines);
        let r = reasons(&analyse_lines(&all));
        assert_eq!(
            r,
            [
                "after ar exited, the process wrote to /w/out.cmxa",
                "after ar exited, the process renamed a file to lib.a",
                "after ar exited, the process created the link l.a",
                "after ar exited, the process forked a child process",
                "after ar exited, the process ran `ranlib x.a` (system)",
                "after ar exited, the process wrote to stderr",
            ]
        );
        assert!(r.iter().all(|s| !s.contains("exited, the process did")));
    }

    #[test]
    fn other_processes_after_events_do_not_count() {
        let child_write =
            r#"{"ts":6,"pid":12,"event":"after","what":"open","path":"x","detail":"open"}"#;
        let a = analyse_lines(&[LOAD, SPAWN_AR, WAIT, DONE, child_write, EXIT]);
        assert_eq!(a.finality, Finality::Final);
    }

    #[test]
    fn no_archiver_is_cannot_tell() {
        let spawn_cc = r#"{"ts":2,"pid":10,"event":"spawn","call":"posix_spawnp","program":"cc","argv":["cc"],"archiver":false}"#;
        let a = analyse_lines(&[LOAD, spawn_cc, EXIT]);
        match a.finality {
            Finality::Unknown(why) => assert!(why.contains("no archiver spawn was seen"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(a.archiver.is_none());
    }

    #[test]
    fn archiver_never_waited_for_is_cannot_tell() {
        let a = analyse_lines(&[LOAD, SPAWN_AR, EXIT]);
        match a.finality {
            Finality::Unknown(why) => assert!(why.contains("never waited for"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_exit_is_noted() {
        let a = analyse_lines(&[LOAD, SPAWN_AR, WAIT, DONE]);
        assert_eq!(a.finality, Finality::Final);
        assert!(!a.exited);
        assert!(
            a.notes[0].contains("did not exit normally"),
            "{:?}",
            a.notes
        );
    }

    #[test]
    fn nothing_in_scope_is_cannot_tell_with_the_reason() {
        let a = analyse_lines(&[]);
        assert!(
            matches!(&a.finality, Finality::Unknown(w) if w.ends_with("(see `arshim doctor CMD`)")),
            "{a:?}"
        );
        // A static host: only its archiver loaded the library.
        let a = analyse_lines(&[AR_LOAD]);
        assert!(
            matches!(&a.finality, Finality::Unknown(w) if w.starts_with("the command never loaded")
                && w.ends_with("only programs it ran did, such as /usr/bin/ar")),
            "{a:?}"
        );
        let shell = r#"{"ts":1,"pid":10,"event":"load","exe":"/usr/bin/dash","mode":"off","in_scope":false,"reason":"claimed by a shell or build driver"}"#;
        let a = analyse_lines(&[shell]);
        assert!(
            matches!(&a.finality, Finality::Unknown(w) if w.contains("/usr/bin/dash was not (claimed by a shell")),
            "{a:?}"
        );
    }

    #[test]
    fn exec_wrapper_then_host_in_the_same_pid() {
        let env = r#"{"ts":0,"pid":10,"event":"load","exe":"/usr/bin/env","mode":"off","in_scope":false,"reason":"exec wrapper"}"#;
        let a = analyse_lines(&[env, LOAD, SPAWN_AR, WAIT, DONE, EXIT]);
        assert_eq!(a.host.as_deref(), Some("/bin/host"));
        assert_eq!(a.finality, Finality::Final);
    }

    #[test]
    fn system_archiver_words_come_from_the_command_line() {
        let sys = r#"{"ts":2,"pid":10,"event":"spawn","call":"system","program":"ar","argv":["sh","-c","ar rcs lib.a a.o"],"archiver":true}"#;
        let done = r#"{"ts":5,"pid":10,"event":"archiver_done","child":0,"status":0}"#;
        let a = analyse_lines(&[LOAD, sys, done, EXIT]);
        assert_eq!(a.finality, Finality::Final);
        let ar = a.archiver.unwrap();
        assert_eq!(ar.call, "system");
        assert_eq!(ar.shown(), "ar rcs lib.a a.o");
        assert_eq!(ar.argv.unwrap(), ["ar", "rcs", "lib.a", "a.o"]);
        let shelly = r#"{"ts":2,"pid":10,"event":"spawn","call":"system","program":"ar","argv":["sh","-c","ar rcs $OUT a.o"],"archiver":true}"#;
        let ar = analyse_lines(&[LOAD, shelly, done, EXIT]).archiver.unwrap();
        assert_eq!((ar.shown(), ar.argv), ("ar rcs $OUT a.o".to_owned(), None));
    }

    #[test]
    fn forked_archiver_is_found_by_its_wait() {
        let a = analyse_lines(&[LOAD, AR_LOAD, WAIT, DONE, EXIT]);
        let ar = a.archiver.unwrap();
        assert_eq!(
            (ar.call.as_str(), ar.program.as_str()),
            ("fork", "/usr/bin/ar")
        );
        assert_eq!(ar.argv, None, "this wait event records no argv");
        let wait_argv = r#"{"ts":4,"pid":10,"event":"wait","child":11,"program":"/usr/bin/ar","result":11,"status":0,"argv":["ar","rcs","x.a"],"cwd":"/w"}"#;
        let a = analyse_lines(&[LOAD, AR_LOAD, wait_argv, DONE, EXIT]);
        let ar = a.archiver.unwrap();
        assert_eq!(ar.argv.unwrap(), ["ar", "rcs", "x.a"]);
        assert_eq!(ar.cwd.as_deref(), Some("/w"));
        assert_eq!(a.finality, Finality::Final);
    }

    const SPAWN_CC: &str = r#"{"ts":2,"pid":10,"event":"spawn","call":"posix_spawnp","program":"gcc","argv":["gcc","-c","a.c"],"archiver":true}"#;
    const LEFT_CC: &str = r#"{"ts":2,"pid":10,"event":"fallback","call":"posix_spawnp","program":"gcc","reason":"the compiler driver compiles only (-c): it does not link"}"#;
    const WAIT_CC: &str = r#"{"ts":3,"pid":10,"event":"wait","child":11,"program":"gcc","argv":["gcc","-c","a.c"],"source":"spawn","result":11,"status":0}"#;
    const LEFT_CC_AT_WAIT: &str = r#"{"ts":3,"pid":10,"event":"fallback","call":"wait","program":"gcc","reason":"the compiler driver compiles only (-c): it does not link"}"#;
    const SPAWN_LINK: &str = r#"{"ts":4,"pid":10,"event":"spawn","call":"posix_spawnp","program":"gcc","argv":["gcc","a.o","-o","prog"],"archiver":true}"#;

    #[test]
    fn the_call_judged_is_the_one_the_library_would_convert() {
        let would = r#"{"ts":4,"pid":10,"event":"would_convert","call":"posix_spawnp","program":"gcc","argv":["gcc","a.o","-o","prog"],"child":0,"kind":"driver","output":"/w/prog"}"#;
        let done = r#"{"ts":6,"pid":10,"event":"archiver_done","child":12,"status":0}"#;
        let lines = [
            LOAD,
            SPAWN_CC,
            LEFT_CC,
            LEFT_CC_AT_WAIT,
            WAIT_CC,
            SPAWN_LINK,
            would,
            done,
            EXIT,
        ];
        let a = analyse_lines(&lines);
        assert_eq!(a.finality, Finality::Final);
        let link = a.archiver.unwrap();
        assert_eq!(link.shown(), "gcc a.o -o prog");
        assert_eq!(link.call, "posix_spawnp");
        assert_eq!(link.output.as_deref(), Some("/w/prog"));
        assert!(link.is_link());
        // the compile, once (its wait repeats its spawn's fallback)
        assert_eq!(
            a.notes,
            [
                "not converted: `gcc -c a.c` (posix_spawnp): the compiler driver compiles only \
              (-c): it does not link"
            ]
        );
    }

    #[test]
    fn a_forked_child_the_library_would_hand_off() {
        let wait = r#"{"ts":4,"pid":10,"event":"wait","child":12,"program":"/usr/bin/gcc","argv":["gcc","a.o"],"cwd":"/w","source":"exec","result":12,"status":0}"#;
        let would = r#"{"ts":4,"pid":10,"event":"would_convert","call":"wait","program":"/usr/bin/gcc","argv":["gcc","a.o"],"child":12,"kind":"driver","output":"/w/a.out"}"#;
        let done = r#"{"ts":5,"pid":10,"event":"archiver_done","child":12,"status":0}"#;
        let a = analyse_lines(&[LOAD, would, wait, done, EXIT]);
        let link = a.archiver.unwrap();
        assert_eq!(
            (link.call.as_str(), link.shown()),
            ("fork", "gcc a.o".into())
        );
        assert_eq!(link.cwd.as_deref(), Some("/w"));
        assert_eq!(link.output.as_deref(), Some("/w/a.out"));
        // a posix_spawn'd child, handed off at its wait
        let spawned = wait.replace(
            r#""source":"exec""#,
            r#""source":"spawn","call":"posix_spawnp""#,
        );
        let a = analyse_lines(&[LOAD, would, &spawned, done, EXIT]);
        assert_eq!(a.archiver.unwrap().call, "posix_spawnp, at its wait");
    }

    #[test]
    fn nothing_the_library_would_convert_names_the_last_call() {
        let captured = r#"{"ts":5,"pid":10,"event":"fallback","call":"posix_spawnp","program":"gcc","reason":"the host captures the output"}"#;
        let a = analyse_lines(&[LOAD, SPAWN_CC, LEFT_CC, WAIT_CC, SPAWN_LINK, captured, EXIT]);
        match &a.finality {
            Finality::Unknown(why) => assert_eq!(
                why,
                "the library would convert none of the 2 call(s) that matched the archiver \
                 globs; the last, `gcc a.o -o prog` (posix_spawnp), is not converted: the host \
                 captures the output"
            ),
            other => panic!("{other:?}"),
        }
        assert!(a.archiver.is_none());
        assert_eq!(a.notes.len(), 1, "{:?}", a.notes);
        assert!(a.notes[0].starts_with("not converted: `gcc -c a.c` (posix_spawnp)"));
    }

    #[test]
    fn an_on_exit_host_the_library_leaves_alone_is_not_final() {
        let on_exit = r#"{"ts":2,"pid":10,"event":"on_exit"}"#;
        let left = r#"{"ts":3,"pid":10,"event":"fallback","call":"posix_spawnp","program":"ar","reason":"the host registered an on_exit handler"}"#;
        let a = analyse_lines(&[LOAD, on_exit, SPAWN_AR, left, EXIT]);
        assert!(
            reasons(&a)[0].contains("registered an on_exit handler"),
            "{a:?}"
        );
        assert!(a.archiver.is_none());
    }

    #[test]
    fn reasons_are_deduplicated_and_capped() {
        let items: Vec<String> = (0..15).chain(0..3).map(|i| format!("r{i}")).collect();
        let out = dedupe(items, MAX_REASONS);
        assert_eq!(out.len(), MAX_REASONS + 1);
        assert_eq!(out[0], "r0");
        assert_eq!(out[MAX_REASONS], "… and 5 more");
        assert_eq!(dedupe(vec!["a".into(), "a".into()], 10), ["a"]);
    }

    #[test]
    fn conversion_is_read_from_the_exec_trace() {
        let parsed = |lines: &[&str]| parse(&lines.join("\n")).0;
        let convert = r#"{"ts":3,"pid":10,"event":"convert","path":"/usr/bin/ar","notes":""}"#;
        let handoff = r#"{"ts":3,"pid":10,"event":"handoff","child":11,"program":"/usr/bin/ar","argv":["ar"]}"#;
        let fallback =
            r#"{"ts":3,"pid":10,"event":"fallback","reason":"addchdir cannot be replayed"}"#;
        let other = r#"{"ts":3,"pid":12,"event":"convert","path":"/usr/bin/ar"}"#;
        assert_eq!(
            conversion(&parsed(&[LOAD, SPAWN_AR, convert])),
            Conversion::Converted("at the spawn call")
        );
        assert_eq!(
            conversion(&parsed(&[LOAD, handoff])),
            Conversion::Converted("at the wait, through the reaper")
        );
        assert_eq!(
            conversion(&parsed(&[LOAD, SPAWN_AR, fallback, EXIT])),
            Conversion::FellBack("addchdir cannot be replayed".into())
        );
        assert_eq!(
            conversion(&parsed(&[LOAD, other, EXIT])),
            Conversion::NotSeen
        );
    }
}
