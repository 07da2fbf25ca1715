//! `arshim`, the companion of libarshim.so: configures and launches programs
//! whose final archiver spawn the library turns into an execve.

mod bench;
mod cli;
mod doctor;
mod envcmd;
mod generate;
mod known_hosts;
mod locate;
mod measure;
mod pathsearch;
mod preload;
mod quote;
mod run;
mod settings;
mod verdicts;
mod verify;

// The library's glob matcher: one definition of which program names are
// archivers.
use arshim_common::glob as shim_glob;

use std::process::ExitCode;

use arshim::{failure, reap};
use clap::Parser;

use crate::cli::{Cli, Command};

// The library execs `arshim __reap …` in place of a big host. With glibc it
// is dispatched from .init_array, before even Rust's runtime initialisation:
// smaller, and the host's signal dispositions and fds reach the archiver
// untouched. Elsewhere, at the very top of main, before clap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
#[link_section = ".init_array"]
static REAP_EARLY: reap::InitHook = reap::dispatch_early;

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|arg| arg == "__reap") {
        reap::main(args)
    }
    // Internal modes of `arshim doctor`'s probes (host and stand-in ar).
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == "__probe")
    {
        doctor::probe_main(std::env::args_os().skip(2))
    }
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Env(_) | Command::Doctor(_) | Command::Completions(_) | Command::Man(_)
    ) {
        stop_quietly_on_a_closed_pipe();
    }
    let outcome = match cli.command {
        Command::Run(args) => run::run(args).map(|never| match never {}),
        Command::Env(args) => envcmd::env(args),
        Command::Bench(args) => bench::bench(args),
        Command::Doctor(args) => doctor::doctor(args),
        Command::Verify(args) => verify::verify(args),
        Command::Completions(args) => generate::completions(args),
        Command::Man(args) => generate::man(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(failure.code)
        }
    }
}

/// `arshim doctor | head -1`: a reader that stops early ends these
/// commands the way it ends other tools' output, by SIGPIPE, not by a
/// panic on the failed print. Only for the commands that only print: `run`
/// hands the default back to the command it execs anyway, and `verify` and
/// `bench` write to their runs' pipes, where a run that stops reading must
/// not end them.
fn stop_quietly_on_a_closed_pipe() {
    // SAFETY: setting a signal's disposition to the default, single-threaded,
    // before any output.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}
