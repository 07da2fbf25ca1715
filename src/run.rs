//! `arshim run`: preload the library into one command and exec it in place.
//!
//! We exec rather than spawn so the command inherits our pid: that is the pid
//! we export as ARSHIM_PID, so the command (and none of its descendants) is
//! the process allowed to convert, and no idle companion holds memory or
//! stands between the build and the command's exit status.

use std::convert::Infallible;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::cli::RunArgs;
use crate::failure::{Failure, EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND};
use crate::settings::{var, Change, Scope};
use crate::{locate, preload};

/// Returns only if the command could not be executed.
pub fn run(args: RunArgs) -> Result<Infallible, Failure> {
    let library = locate::library()?;
    let existing = std::env::var_os(var::PRELOAD).unwrap_or_default();
    let preload =
        preload::with_library_first(&library, &existing, preload::same_library_as(&library))?;
    let settings = args
        .config
        .into_settings(Scope::Pid(std::process::id()), locate::companion()?)?;

    let (program, program_args) = args.command.split_first().expect("clap requires CMD");
    let error = command(program, program_args, preload, &settings.changes()).exec();
    Err(cannot_run(program, &error))
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
}
