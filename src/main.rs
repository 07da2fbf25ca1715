//! `arshim`, the companion of libarshim.so: configures and launches programs
//! whose final archiver spawn the library turns into an execve.

mod cli;
mod envcmd;
mod failure;
mod locate;
mod preload;
mod quote;
mod run;
mod settings;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => run::run(args).map(|never| match never {}),
        Command::Env(args) => envcmd::env(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(failure.code)
        }
    }
}
