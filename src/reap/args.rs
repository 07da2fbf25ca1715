//! The reaper's command line, exactly as the library writes it:
//!
//! ```text
//! arshim __reap wait --pid N [--trace FILE] [FAILURE] [DELETION]...
//! arshim __reap run [--trace FILE] [FAILURE] [DELETION]... -- PATH ARGV0 [ARGS...]
//!
//! FAILURE: --failure-status N [--failure-line ldc2|ldc2+colour|ghc]
//! DELETION: --unlink DIRFD NAME | --rmdir DIRFD NAME
//!         | --unlink-if DIRFD NAME ID | --rmdir-if DIRFD NAME ID
//! ID: DEV:INO:SEC.NSEC (the birth time; 0.000000000 when unknown)
//! ```
//!
//! The `-if` forms are the host's temporaries (docs/DESIGN.md, "Conversion"
//! 12): deleted only while NAME is still the file the host made.
//!
//! Parsed by hand (no clap): the reaper must start small and fast. Deletions
//! keep their order. A malformed DIRFD is not a usage error: the deletion is
//! kept, and rejected (traced) when its turn comes, like a bad NAME.

use arshim_common::known_hosts::FailureLine;
use std::ffi::{CString, OsString};
use std::fmt;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::io::RawFd;

#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub mode: Mode,
    pub trace: Option<OsString>,
    /// The host's own exit status when its archiver fails (exits non-zero or
    /// dies by a signal): hosts such as ldc2 and ghc report any archiver
    /// failure as 1 rather than passing the archiver's status on.
    pub failure_status: Option<u8>,
    /// The host's own line for such a failure (ldc2's, ghc's), printed in
    /// place of the reaper's: `--failure-line ldc2`, `ldc2+colour` or `ghc`.
    pub failure_line: Option<FailureLine>,
    pub deletions: Vec<Deletion>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Mode {
    /// The archiver is already our child (the host forked it): wait for it.
    Wait { pid: libc::pid_t },
    /// Spawn the archiver: `path` (already resolved, no PATH search) with `argv`.
    Run { path: CString, argv: Vec<CString> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `unlinkat(dirfd, name, 0)`
    Unlink,
    /// `unlinkat(dirfd, name, AT_REMOVEDIR)`
    Rmdir,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Unlink => "unlink",
            Op::Rmdir => "rmdir",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Deletion {
    pub op: Op,
    /// `None` when the DIRFD argument is not a file descriptor number.
    pub dirfd: Option<RawFd>,
    pub name: OsString,
    /// `-if` forms: only while NAME is still this file; `None` there when
    /// ID is malformed (rejected at its turn, like a bad DIRFD).
    pub same: Option<Option<Same>>,
}

/// The file a temporary's deletion expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Same {
    pub dev: u64,
    pub ino: u64,
    /// The birth time, seconds and nanoseconds; (0, 0): unknown.
    pub born: (i64, u32),
}

/// A command line the library would never write: a bug, not a user error.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// Parses the arguments after `__reap`.
pub fn parse(mut args: impl Iterator<Item = OsString>) -> Result<Request, UsageError> {
    let run = match args.next() {
        Some(mode) if mode == "wait" => false,
        Some(mode) if mode == "run" => true,
        Some(mode) => return Err(usage(format!("unknown mode {mode:?}"))),
        None => return Err(usage("missing mode (wait or run)")),
    };
    let mut pid = None;
    let mut trace = None;
    let mut failure_status = None;
    let mut failure_line = None;
    let mut deletions = Vec::new();
    let mut command = None;
    while let Some(arg) = args.next() {
        let Some(option) = arg.to_str() else {
            return Err(usage(format!("unexpected argument {arg:?}")));
        };
        match option {
            "--pid" if !run && pid.is_none() => pid = Some(parse_pid(value(&mut args, option)?)?),
            "--trace" if trace.is_none() => trace = Some(value(&mut args, option)?),
            "--failure-status" if failure_status.is_none() => {
                failure_status = Some(parse_status(value(&mut args, option)?)?)
            }
            "--failure-line" if failure_line.is_none() => {
                let text = value(&mut args, option)?;
                let line = text.to_str().and_then(FailureLine::parse);
                failure_line =
                    Some(line.ok_or_else(|| usage(format!("bad --failure-line {text:?}")))?)
            }
            "--unlink" | "--rmdir" | "--unlink-if" | "--rmdir-if" => {
                let op = if option.starts_with("--unlink") {
                    Op::Unlink
                } else {
                    Op::Rmdir
                };
                let dirfd = parse_fd(&value(&mut args, option)?);
                let name = value(&mut args, option)?;
                let same = match option.ends_with("-if") {
                    true => Some(parse_identity(&value(&mut args, option)?)),
                    false => None,
                };
                deletions.push(Deletion {
                    op,
                    dirfd,
                    name,
                    same,
                });
            }
            "--" if run => {
                command = Some(parse_command(args.by_ref())?);
                break;
            }
            _ => return Err(usage(format!("unexpected argument {arg:?}"))),
        }
    }
    let mode = if run {
        let (path, argv) = command.ok_or_else(|| usage("run: missing -- PATH ARGV0 [ARGS...]"))?;
        Mode::Run { path, argv }
    } else {
        Mode::Wait {
            pid: pid.ok_or_else(|| usage("wait: missing --pid N"))?,
        }
    };
    Ok(Request {
        mode,
        trace,
        failure_status,
        failure_line,
        deletions,
    })
}

/// An exit status a host reports for a failed archiver: 1 to 255.
fn parse_status(text: OsString) -> Result<u8, UsageError> {
    match text.to_str().and_then(|t| t.parse::<u8>().ok()) {
        Some(code) if code > 0 => Ok(code),
        _ => Err(usage(format!(
            "--failure-status: not an exit status 1-255: {text:?}"
        ))),
    }
}

fn value(args: &mut impl Iterator<Item = OsString>, option: &str) -> Result<OsString, UsageError> {
    args.next()
        .ok_or_else(|| usage(format!("{option}: missing value")))
}

/// A positive pid: 0 and negative values would make waitpid wait for a group.
fn parse_pid(text: OsString) -> Result<libc::pid_t, UsageError> {
    match text.to_str().and_then(|t| t.parse::<libc::pid_t>().ok()) {
        Some(pid) if pid > 0 => Ok(pid),
        _ => Err(usage(format!("--pid: not a process id: {text:?}"))),
    }
}

fn parse_fd(text: &OsString) -> Option<RawFd> {
    text.to_str()
        .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<RawFd>().ok())
}

/// `DEV:INO:SEC.NSEC`.
fn parse_identity(text: &OsString) -> Option<Same> {
    let mut parts = text.to_str()?.splitn(3, ':');
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let number = |t: &str| digits(t).then(|| t.parse::<u64>().ok()).flatten();
    let dev = number(parts.next()?)?;
    let ino = number(parts.next()?)?;
    let (sec, nsec) = parts.next()?.split_once('.')?;
    let sec_digits = sec.strip_prefix('-').unwrap_or(sec);
    let nsec = (nsec.len() == 9 && digits(sec_digits))
        .then(|| nsec.parse::<u32>().ok())
        .flatten()?;
    Some(Same {
        dev,
        ino,
        born: (sec.parse().ok()?, nsec),
    })
}

fn parse_command(
    args: impl Iterator<Item = OsString>,
) -> Result<(CString, Vec<CString>), UsageError> {
    // Arguments come from argv, so they never contain a NUL byte.
    let mut words = args.map(|a| CString::new(a.into_vec()).expect("argv has no NUL"));
    let path = words
        .next()
        .ok_or_else(|| usage("run: missing PATH after --"))?;
    let argv: Vec<CString> = words.collect();
    if argv.is_empty() {
        return Err(usage("run: missing ARGV0 after PATH"));
    }
    Ok((path, argv))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Request, UsageError> {
        parse(args.iter().map(OsString::from))
    }

    fn c(s: &str) -> CString {
        CString::new(s).unwrap()
    }

    #[test]
    fn wait_mode_with_trace_and_deletions_in_order() {
        let r = parse_str(&[
            "wait", "--pid", "42", "--unlink", "5", "a.o", "--trace", "/t", "--rmdir", "6", "d",
        ])
        .unwrap();
        assert_eq!(r.mode, Mode::Wait { pid: 42 });
        assert_eq!(r.trace, Some("/t".into()));
        assert_eq!(
            r.deletions,
            [
                Deletion {
                    op: Op::Unlink,
                    dirfd: Some(5),
                    name: "a.o".into(),
                    same: None,
                },
                Deletion {
                    op: Op::Rmdir,
                    dirfd: Some(6),
                    name: "d".into(),
                    same: None,
                },
            ]
        );
    }

    #[test]
    fn run_mode_takes_everything_after_the_double_dash() {
        let r = parse_str(&[
            "run",
            "--unlink",
            "7",
            "x",
            "--",
            "/usr/bin/ar",
            "ar",
            "--pid",
            "--",
            "rcs",
        ])
        .unwrap();
        assert_eq!(
            r.mode,
            Mode::Run {
                path: c("/usr/bin/ar"),
                argv: vec![c("ar"), c("--pid"), c("--"), c("rcs")]
            }
        );
        assert_eq!(r.trace, None);
        assert_eq!(r.deletions.len(), 1);
    }

    #[test]
    fn temporaries_carry_their_identity() {
        let r = parse_str(&[
            "wait",
            "--pid",
            "4",
            "--unlink-if",
            "5",
            "a.s",
            "2049:77:1796091089.000000042",
            "--rmdir-if",
            "5",
            "d",
            "1:2",
        ])
        .unwrap();
        assert_eq!(r.deletions[0].op, Op::Unlink);
        assert_eq!(
            r.deletions[0].same,
            Some(Some(Same {
                dev: 2049,
                ino: 77,
                born: (1796091089, 42)
            }))
        );
        assert_eq!(r.deletions[1].op, Op::Rmdir);
        assert_eq!(r.deletions[1].same, Some(None), "kept for rejection");
        assert!(parse_str(&["wait", "--pid", "4", "--unlink-if", "5", "a.s"]).is_err());
    }

    #[test]
    fn a_bad_dirfd_is_kept_for_rejection() {
        for bad in ["x", "-1", "+3", "", "99999999999"] {
            let r = parse_str(&["wait", "--pid", "1", "--unlink", bad, "n"]).unwrap();
            assert_eq!(r.deletions[0].dirfd, None, "{bad:?}");
        }
    }

    #[test]
    fn a_host_line_comes_with_the_failure_status() {
        let r = parse_str(&[
            "run",
            "--failure-status",
            "1",
            "--failure-line",
            "ldc2+colour",
            "--",
            "/usr/bin/cc",
            "cc",
        ])
        .unwrap();
        assert_eq!(r.failure_status, Some(1));
        let line = r.failure_line.unwrap();
        assert!(line.colour);
        assert_eq!(line.arg(), "ldc2+colour");
    }

    #[test]
    fn malformed_command_lines_are_usage_errors() {
        for args in [
            &[][..],
            &["reap"],
            &["wait"],
            &["wait", "--pid"],
            &["wait", "--pid", "0"],
            &["wait", "--pid", "-5"],
            &["wait", "--pid", "x"],
            &["wait", "--pid", "3", "--pid", "4"],
            &["wait", "--pid", "3", "--", "/bin/true", "true"],
            &["wait", "--pid", "3", "--unlink", "5"],
            &["wait", "--pid", "3", "--trace"],
            &["wait", "--pid", "3", "--bogus"],
            &["run"],
            &["run", "--pid", "3", "--", "/bin/true", "true"],
            &["run", "--"],
            &["run", "--", "/bin/true"],
            &["run", "/bin/true", "true"],
            &["wait", "--pid", "3", "--failure-line", "gcc"],
            &["wait", "--pid", "3", "--failure-line"],
        ] {
            assert!(parse_str(args).is_err(), "{args:?}");
        }
    }
}
