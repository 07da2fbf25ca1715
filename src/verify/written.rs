//! The files the command wrote, judged across the runs of `verify`
//! (docs/DESIGN.md, "verify: files the host writes"): `files::Files` keeps
//! and puts back; this decides what a difference means.
//!
//! A file that differs between the unconverted and the converted run is a
//! reason for NOT SAFE, unless it also differs between two unconverted
//! runs (a pid or a time in it): then a third, unconverted run from the
//! same start tells them apart, and only a difference that run does not
//! explain counts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::files::{self, masked, Compared, Files, Masked, Named, State, States};
use super::report::Report;
use super::state::Hold;
use super::trace::Event;

/// What verify found about the files, sorted as `compare_converted` sorts
/// its findings.
#[derive(Debug, Default)]
pub struct Findings {
    pub problems: Vec<String>,
    pub checks: Vec<String>,
    pub unearned: Vec<String>,
}

/// The files between run 1 and run 2.
pub struct Watch<'a> {
    files: &'a mut Files,
    named: Vec<Named>,
    /// What run 1 left, and its pids: masked once run 2 is known
    /// (`Files::same_names`).
    first: (States, Vec<i64>),
}

/// After run 1: records what it wrote and puts the files back as they were
/// before it, so that run 2 starts from the same files. `archive`: kept by
/// `state::Aside`, not here.
pub fn before_second<'a>(
    files: &'a mut Files,
    first_trace: &[Event],
    archive: Option<&Path>,
    hold: &mut Hold,
    report: &mut Report,
) -> Watch<'a> {
    if let Some(archive) = archive {
        files.skip(archive);
    }
    // From here until the files are as run 1 left them, a signal that ends
    // verify waits (`state::Hold`).
    if let Err(e) = hold.start() {
        report.note(format!("the ending signals could not be held: {e}"));
    }
    let named = files::named_in_trace(first_trace);
    let first = (files.after_first(&named), super::trace::pids(first_trace));
    put_back(files, report);
    if let Some(bound) = &files.bound {
        report.note(bound.clone());
    }
    Watch {
        files,
        named,
        first,
    }
}

fn put_back(files: &Files, report: &mut Report) {
    let failed = files.put_back_start();
    if !failed.is_empty() {
        report.note(format!(
            "not put back as they were before run 1: {}",
            failed.join("; ")
        ));
    }
}

impl<'a> Watch<'a> {
    /// Right after run 2 (before any other run): what it left; `trace`: its trace.
    pub fn second_ended(self, trace: &[Event]) -> Seen<'a> {
        let second = (
            self.files.after_later(&self.named),
            super::trace::pids(trace),
        );
        Seen {
            watch: self,
            second,
        }
    }
}

/// The files after run 2.
pub struct Seen<'a> {
    watch: Watch<'a>,
    second: (States, Vec<i64>),
}

impl Seen<'_> {
    /// The comparison; `rerun` makes a third, unconverted run when a file
    /// differs and returns its trace. Leaves the files as run 1 left them.
    pub fn judge<E>(
        self,
        rerun: impl FnOnce() -> Result<Vec<Event>, E>,
        report: &mut Report,
    ) -> Result<Findings, E> {
        let Seen { watch, second } = self;
        let Watch {
            files,
            named,
            first,
        } = watch;
        let exact = files.same_names(&first.0, &second.0);
        let first = masked(&first.0, &first.1, &exact);
        let second = masked(&second.0, &second.1, &exact);
        let compared = files.compare(&first, &second, &named);
        // Another run may have come between (`observe_again`): what it
        // changed is put back too.
        files.after_later(&named);
        let mut noise = Vec::new();
        if !compared.differ.is_empty() {
            put_back(files, report);
            let third = rerun().map(|trace| third_run(files, &named, &trace, &exact));
            let third = match third {
                Ok(third) => third,
                Err(e) => {
                    leave(files, report);
                    return Err(e);
                }
            };
            noise = explained_by_a_third_run(&compared, (&first, &second, &third));
        }
        let findings = judge(&*files, compared, &noise, report);
        leave(files, report);
        Ok(findings)
    }
}

/// What the third run left, keyed as runs 1 and 2 were.
fn third_run(
    files: &mut Files,
    named: &[Named],
    trace: &[Event],
    exact: &BTreeSet<PathBuf>,
) -> Masked {
    masked(&files.after_later(named), &super::trace::pids(trace), exact)
}

/// Paths whose difference a third, unconverted run explains: it differs
/// from run 1 too, and the converted run has run 1's line count (or is the
/// same as the third run) — a pid or a time, not lost lines.
fn explained_by_a_third_run(
    compared: &Compared,
    (first, second, third): (&Masked, &Masked, &Masked),
) -> Vec<String> {
    let get = |m: &Masked, key: &str| files::entry(m, key).1;
    let lines = |s: &State| match s {
        State::File { lines, .. } => Some(*lines),
        _ => None,
    };
    compared
        .differ
        .iter()
        .filter(|(key, _, _)| {
            let (a, b, c) = (get(first, key), get(second, key), get(third, key));
            c != a && (b == c || (lines(&b).is_some() && lines(&b) == lines(&a)))
        })
        .map(|(key, _, _)| key.clone())
        .collect()
}

fn judge(files: &Files, compared: Compared, noise: &[String], report: &mut Report) -> Findings {
    let mut out = Findings::default();
    for (key, path, text) in compared.differ {
        if noise.contains(&key) {
            report.note(format!(
                "{} differs between two runs without the library too (a third run, \
                 unconverted, was made to tell): not the conversion's doing",
                files.shown(&path)
            ));
        } else {
            out.problems.push(text);
        }
    }
    if !compared.same.is_empty() {
        out.checks.push(format!(
            "the file(s) the command wrote are the same after both runs: {}",
            listed(&compared.same)
        ));
    }
    if !compared.not_compared.is_empty() {
        report.note(format!(
            "not compared (outside what verify puts back between the runs, and not \
             truncated by them): {}",
            listed(&compared.not_compared)
        ));
    }
    out.unearned = compared.unearned;
    out
}

fn leave(files: &mut Files, report: &mut Report) {
    let failed = files.leave_first();
    if !failed.is_empty() {
        report.note(format!(
            "not left as the unconverted run left them: {}",
            failed.join("; ")
        ));
    }
}

/// At most 5 names, then a count.
fn listed(names: &[String]) -> String {
    let mut out = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 5 {
        out.push_str(&format!(" and {} more", names.len() - 5));
    }
    out
}
