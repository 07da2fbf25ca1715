//! `arshim doctor [CMD]`: self-test of the installation on this machine, and
//! for CMD, whether preloading can work in it at all.
//!
//! Each check prints one line, `ok`/`problem` (or `note`/`warn` for facts
//! that block nothing) with a plain reason; the exit status is 1 when any
//! check found a problem. The checks, in order:
//!
//! - `library`: the library `arshim run` would preload (`install`);
//! - `loads`: preloaded into a test program, it runs (`probe`);
//! - `spawn-time probe`, `wait-time probe`: it converts for real — the
//!   companion plays both the host and the stand-in archiver (`probe`,
//!   `probe_modes`);
//! - `ar`, `reaper`: the archiver on PATH, and the companion the library
//!   would exec as its reaper (`install`);
//! - `command`, `interpreter`: what CMD is, judged by `classify`.

mod classify;
mod command;
mod elf;
mod install;
mod probe;
mod probe_modes;
mod report;
mod trace;
mod workdir;

use std::ffi::OsString;
use std::path::Path;

use clap::Args;

use self::probe::Mode;
use self::report::{Finding, Report, Status};
use self::workdir::Workdir;
use crate::failure::Failure;
use crate::locate;

pub use self::probe_modes::main as probe_main;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// A program to check too (a name on PATH or a path): can the library
    /// work in it at all?
    #[arg(value_name = "CMD")]
    pub command: Option<OsString>,
}

pub fn doctor(args: DoctorArgs) -> Result<(), Failure> {
    let companion = locate::companion()?;
    let mut report = Report::default();

    let library = match install::library(&companion) {
        Ok((path, finding)) => {
            report.add(finding);
            report.add(install::core(&path));
            Some(path)
        }
        Err(finding) => {
            report.add(finding);
            None
        }
    };
    match &library {
        Some(lib) => live_checks(&mut report, &companion, lib),
        None => report.extend(not_tried(
            &["loads", Mode::Spawn.check(), Mode::Fork.check()],
            "no library",
        )),
    }
    report.add(install::ar());
    report.extend(install::reaper(library.as_deref(), &companion));
    if let Some(cmd) = &args.command {
        report.extend(command::check(
            cmd,
            command::library_arch(library.as_deref()),
        ));
    }

    match report.problems() {
        0 => Ok(()),
        1 => Err(Failure::new(1, "doctor found 1 problem")),
        n => Err(Failure::new(1, format!("doctor found {n} problems"))),
    }
}

/// Loads, then converts for real; each step only if the one before worked.
fn live_checks(report: &mut Report, companion: &Path, library: &Path) {
    let work = match Workdir::create(companion) {
        Ok(work) => work,
        Err(e) => {
            report.add(Finding::new(
                Status::Problem,
                "loads",
                format!(
                    "cannot prepare the probes in {}: {e}",
                    std::env::temp_dir().display()
                ),
            ));
            return;
        }
    };
    let loads = probe::loads(&work, library);
    let loaded = loads.status == Status::Ok;
    report.add(loads);
    if !loaded {
        report.extend(not_tried(
            &[Mode::Spawn.check(), Mode::Fork.check()],
            "the library does not load",
        ));
        return;
    }
    for mode in [Mode::Spawn, Mode::Fork] {
        report.extend(probe::convert(mode, &work, companion, library));
    }
}

fn not_tried(checks: &[&'static str], why: &str) -> Vec<Finding> {
    checks
        .iter()
        .map(|c| Finding::new(Status::Note, c, format!("not tried ({why})")))
        .collect()
}
