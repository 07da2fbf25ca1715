//! Handing this process over to the companion's reaper: its command line
//! (the interface of `arshim __reap`) and its environment, built for the
//! tail's `execve` (plain builders).

use crate::takeover::defer::Deferred;
use arshim_common::gate::pid_text;
use arshim_common::known_hosts::FailureLine;
use std::ffi::CString;

pub enum Job<'a> {
    /// The archiver is already our child: wait for it.
    Wait { child: i32 },
    /// Run the archiver (already resolved), then the deletions.
    Run {
        path: &'a CString,
        argv: &'a [CString],
    },
}

fn c(bytes: impl Into<Vec<u8>>) -> CString {
    // Only fed with bytes that came from C strings or numbers.
    CString::new(bytes).unwrap_or_default()
}

/// `arshim __reap wait --pid N …` / `arshim __reap run … -- PATH ARGV…`
pub fn argv(
    companion: &[u8],
    job: &Job<'_>,
    trace: Option<&[u8]>,
    failure_status: Option<u8>,
    failure_line: Option<FailureLine>,
    deferred: &[Deferred],
) -> Vec<CString> {
    let mut out = vec![c(companion), c("__reap")];
    match job {
        Job::Wait { child } => {
            out.push(c("wait"));
            out.push(c("--pid"));
            out.push(c(pid_text(*child).to_string()));
        }
        Job::Run { .. } => out.push(c("run")),
    }
    if let Some(t) = trace {
        out.push(c("--trace"));
        out.push(c(t));
    }
    if let Some(code) = failure_status {
        out.push(c("--failure-status"));
        out.push(c(code.to_string()));
        if let Some(line) = failure_line {
            out.push(c("--failure-line"));
            out.push(c(line.arg()));
        }
    }
    for d in deferred {
        let op = match (d.rmdir, d.same) {
            (false, None) => "--unlink",
            (true, None) => "--rmdir",
            (false, Some(_)) => "--unlink-if",
            (true, Some(_)) => "--rmdir-if",
        };
        out.push(c(op));
        out.push(c(d.dirfd.to_string()));
        out.push(c(d.name.clone()));
        if let Some(id) = d.same {
            let (sec, nsec) = id.born;
            out.push(c(format!("{}:{}:{sec}.{nsec:09}", id.dev, id.ino)));
        }
    }
    if let Job::Run { path, argv } = job {
        out.push(c("--"));
        out.push((*path).clone());
        out.extend(argv.iter().cloned());
    }
    out
}

fn is_our_library(entry: &[u8], ours: &[u8]) -> bool {
    entry == ours || crate::decide::scope::basename(entry) == b"libarshim.so"
}

/// The reaper's environment: our library taken out of `LD_PRELOAD` (the
/// reaper has the host's pid and must never load the hooks), the original
/// value kept in `ARSHIM_REAP_PRELOAD` for the archiver it runs, the claim spent.
pub fn env(envp: Vec<CString>, our_library: &[u8], pid: i32) -> Vec<CString> {
    let mut out = Vec::with_capacity(envp.len() + 2);
    for e in envp {
        let bytes = e.as_bytes();
        if bytes.starts_with(b"ARSHIM_REAP_PRELOAD=") || bytes.starts_with(b"ARSHIM_SPENT=") {
            continue;
        }
        if let Some(value) = bytes.strip_prefix(b"LD_PRELOAD=") {
            let kept: Vec<&[u8]> = value
                .split(|&b| b == b':' || b == b' ')
                .filter(|p| !p.is_empty() && !is_our_library(p, our_library))
                .collect();
            if !kept.is_empty() {
                out.push(c([&b"LD_PRELOAD="[..], &kept.join(&b':')].concat()));
            }
            out.push(c([&b"ARSHIM_REAP_PRELOAD="[..], value].concat()));
            continue;
        }
        out.push(e);
    }
    out.push(c(format!("ARSHIM_SPENT={}", pid_text(pid))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[CString]) -> Vec<&str> {
        v.iter().map(|c| c.to_str().unwrap()).collect()
    }

    #[test]
    fn wait_command_line() {
        let d = vec![
            Deferred {
                dirfd: 5,
                name: b"a.o".to_vec(),
                rmdir: false,
                path: b"/t/a.o".to_vec(),
                same: None,
            },
            Deferred {
                dirfd: 6,
                name: b"t".to_vec(),
                rmdir: true,
                path: b"/t".to_vec(),
                same: None,
            },
            Deferred {
                dirfd: 7,
                name: b"ghc1_0".to_vec(),
                rmdir: true,
                path: b"/tmp/ghc1_0".to_vec(),
                same: Some(crate::facts::temps::Identity {
                    dev: 2049,
                    ino: 77,
                    kind: libc::S_IFDIR,
                    born: (1796091089, 849183049),
                }),
            },
        ];
        let a = argv(
            b"/bin/arshim",
            &Job::Wait { child: 42 },
            Some(b"/tmp/tr"),
            Some(1),
            Some(FailureLine {
                style: arshim_common::known_hosts::LineStyle::Ldc2,
                colour: true,
            }),
            &d,
        );
        assert_eq!(
            strs(&a),
            [
                "/bin/arshim",
                "__reap",
                "wait",
                "--pid",
                "0000042",
                "--trace",
                "/tmp/tr",
                "--failure-status",
                "1",
                "--failure-line",
                "ldc2+colour",
                "--unlink",
                "5",
                "a.o",
                "--rmdir",
                "6",
                "t",
                "--rmdir-if",
                "7",
                "ghc1_0",
                "2049:77:1796091089.849183049"
            ]
        );
    }

    #[test]
    fn run_command_line() {
        let path = c("/usr/bin/ar");
        let args = vec![c("ar"), c("rcs"), c("x.a")];
        let a = argv(
            b"/bin/arshim",
            &Job::Run {
                path: &path,
                argv: &args,
            },
            None,
            None,
            None,
            &[],
        );
        assert_eq!(
            strs(&a),
            [
                "/bin/arshim",
                "__reap",
                "run",
                "--",
                "/usr/bin/ar",
                "ar",
                "rcs",
                "x.a"
            ]
        );
    }

    #[test]
    fn environment_without_our_library() {
        let e = env(
            vec![
                c("A=1"),
                c("LD_PRELOAD=/x/libarshim.so:/y/libother.so"),
                c("ARSHIM_SPENT=1"),
            ],
            b"/x/libarshim.so",
            9,
        );
        assert_eq!(
            strs(&e),
            [
                "A=1",
                "LD_PRELOAD=/y/libother.so",
                "ARSHIM_REAP_PRELOAD=/x/libarshim.so:/y/libother.so",
                "ARSHIM_SPENT=0000009"
            ]
        );
        let e = env(
            vec![c("LD_PRELOAD=/elsewhere/libarshim.so")],
            b"/x/libarshim.so",
            9,
        );
        assert_eq!(
            strs(&e),
            [
                "ARSHIM_REAP_PRELOAD=/elsewhere/libarshim.so",
                "ARSHIM_SPENT=0000009"
            ]
        );
        let e = env(vec![c("B=2")], b"/x/libarshim.so", 9);
        assert_eq!(strs(&e), ["B=2", "ARSHIM_SPENT=0000009"]);
    }
}
