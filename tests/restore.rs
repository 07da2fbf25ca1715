//! What the archiver starts with is what the spawn would have given it,
//! whatever the host's exit cleanups change (docs/DESIGN.md, "Conversion" 10):
//! the working directory, the fds it reads or inherits, the umask, the
//! ignored signals. Each case runs tests/hosts/restore_host.c without and
//! with the library (`arshim run`) and compares what a user sees: the exit
//! status, stdout and stderr (ar's own `v` lines), the archive's bytes and
//! mode, the log file ar wrote to, and the files left behind. The wait-time
//! handoff (fork host) must keep the same for the reaper it execs.

use common::*;
use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn restore_host() -> &'static Path {
    static HOST: OnceLock<PathBuf> = OnceLock::new();
    HOST.get_or_init(|| {
        let out = fixtures().dir.join("restore_host");
        compile_c(&hosts_src().join("restore_host.c"), &out);
        out
    })
}

/// How a case's `ar` is found: the real one, a script that first prints
/// its ignored and blocked signals (`SigIgn`/`SigBlk` of /proc) and its open
/// fds and then execs the real one, or the ELF stand-in of the handoff tests, which
/// starts only once the host waits for it (tests/hosts/standin_ar.c).
#[derive(Clone, Copy, PartialEq)]
enum Ar {
    Real,
    ShowsSignals,
    WaitsForHost,
}

/// One case: `restore_host CALL CLEANUP lib.a OBJS`, objects in `tmp/` when
/// the cleanup removes that directory.
struct Case {
    call: &'static str,
    cleanup: &'static str,
    ar: Ar,
}

/// What a user sees of one run.
#[derive(Debug, PartialEq)]
struct Seen {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    /// The archive's members (`ar t`) and a digest of its bytes.
    archive: Option<(Vec<String>, u64)>,
    archive_mode: Option<u32>,
    log: Option<String>,
    files: Vec<String>,
}

fn listing(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        out.push(p.strip_prefix(root).unwrap().display().to_string());
        if p.is_dir() {
            listing(root, &p, out);
        }
    }
}

impl Case {
    fn removes_tmp(&self) -> bool {
        self.cleanup
            .split(',')
            .any(|c| c == "rmtmp" || c == "closefrom")
    }

    /// The case's work directory, objects and `ar` in place.
    fn setup(&self, dir: &TestDir) -> (PathBuf, PathBuf) {
        let work = dir.join("work");
        let objs = if self.removes_tmp() {
            work.join("tmp")
        } else {
            work.clone()
        };
        fs::create_dir_all(&objs).unwrap();
        for o in &fixtures().objs {
            fs::copy(o, objs.join(o.file_name().unwrap())).unwrap();
        }
        if self.ar == Ar::WaitsForHost {
            return (work, fork_kit().bin.clone());
        }
        let bin = dir.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let real = fixtures().real_ar.clone();
        match self.ar {
            Ar::Real => symlink(&real, bin.join("ar")).unwrap(),
            Ar::ShowsSignals => {
                // Read by the shell itself: a child it forks would see the
                // mask it blocks for a moment around the fork.
                let script = format!(
                    "#!/bin/sh\nwhile read -r key value; do\n\tcase $key in SigIgn:|SigBlk:) echo \"$key $value\" ;; esac\ndone </proc/$$/status\nfor f in /proc/$$/fd/*; do printf ' %s' \"${{f##*/}}\"; done\necho ' fds'\nexec {} \"$@\"\n",
                    real.display()
                );
                fs::write(bin.join("ar"), script).unwrap();
                fs::set_permissions(bin.join("ar"), fs::Permissions::from_mode(0o755)).unwrap();
            }
            Ar::WaitsForHost => {}
        }
        (work, bin)
    }

    fn run(&self, name: &str, shim: bool) -> (Seen, Outcome, TestDir) {
        let label = if shim { "shim" } else { "base" };
        let dir = TestDir::new(&format!("restore-{name}-{label}"));
        let (work, bin) = self.setup(&dir);
        let trace = dir.join("trace");
        let mut cmd = if shim {
            arshim_run(&["--trace", trace.to_str().unwrap()], restore_host(), &dir)
        } else {
            command(restore_host(), &dir)
        };
        cmd.current_dir(&work)
            .env("PATH", path_with(&bin))
            .env("HOST_TMP", work.join("tmp"))
            .env_remove("HOST_PID_FILE")
            .env_remove("STANDIN_RECORD")
            .arg(self.call)
            .arg(self.cleanup)
            .arg("lib.a");
        let prefix = if self.removes_tmp() { "tmp/" } else { "" };
        cmd.args(["one.o", "two.o"].map(|o| format!("{prefix}{o}")));
        let out = run(cmd, &dir, label);
        let seen = self.seen(&work, &out);
        (seen, out, dir)
    }

    fn seen(&self, work: &Path, out: &Outcome) -> Seen {
        use std::os::unix::process::ExitStatusExt;
        let archive = work.join("lib.a");
        let mut files = Vec::new();
        listing(work, work, &mut files);
        files.sort();
        Seen {
            code: out.status.code(),
            signal: out.status.signal(),
            stdout: out.stdout.clone(),
            stderr: out.stderr.clone(),
            archive: fs::read(&archive).ok().map(|bytes| {
                let mut h = DefaultHasher::new();
                bytes.hash(&mut h);
                (ar_members(&archive), h.finish())
            }),
            archive_mode: fs::metadata(&archive)
                .ok()
                .map(|m| m.permissions().mode() & 0o7777),
            log: fs::read_to_string(work.join("ar.log")).ok(),
            files,
        }
    }

    /// Without and with the library: the same run, and the library took it over.
    fn check(&self, name: &str, expect: impl Fn(&Seen)) {
        let (base, base_out, _base_dir) = self.run(name, false);
        expect(&base);
        let (shim, shim_out, shim_dir) = self.run(name, true);
        let trace = shim_dir.join("trace");
        let took_over = !trace_events(&trace, "convert").is_empty()
            || !trace_events(&trace, "handoff").is_empty();
        assert!(
            took_over,
            "{name}: the library did not take the host over\n{}\n{}",
            shim_out.describe(),
            dump_trace(&trace)
        );
        assert_eq!(
            shim,
            base,
            "{name}: with the library (left) the run differs from without (right)\n{}\n{}\n{}",
            shim_out.describe(),
            base_out.describe(),
            dump_trace(&trace)
        );
    }
}

fn archived(seen: &Seen) {
    assert_eq!(seen.code, Some(0), "{seen:?}");
    assert!(seen.archive.is_some(), "{seen:?}");
}

fn v_lines_in(text: &str) {
    assert!(
        text.contains("a - ") && text.contains("one.o") && text.contains("two.o"),
        "ar's v lines missing: {text:?}"
    );
}

fn case(call: &'static str, cleanup: &'static str) -> Case {
    Case {
        call,
        cleanup,
        ar: Ar::Real,
    }
}

#[test]
fn atexit_chdir_spawnp() {
    case("spawnp", "chdir").check("chdir-spawnp", |s| {
        archived(s);
        v_lines_in(&s.stdout);
    });
}

#[test]
fn atexit_chdir_system() {
    case("system", "chdir").check("chdir-system", |s| {
        archived(s);
        v_lines_in(&s.stdout);
    });
}

#[test]
fn dup2_from_a_log_file_closed_at_exit() {
    case("spawnp", "logfile").check("logfile", |s| {
        archived(s);
        v_lines_in(s.log.as_deref().unwrap_or(""));
    });
}

#[test]
fn close_stdout_at_exit_spawnp() {
    case("spawnp", "closestd").check("closestd-spawnp", |s| {
        archived(s);
        v_lines_in(&s.stdout);
    });
}

#[test]
fn close_stdout_at_exit_system() {
    case("system", "closestd").check("closestd-system", |s| {
        archived(s);
        v_lines_in(&s.stdout);
    });
}

#[test]
fn closefrom_with_a_temp_dir_removed_at_exit() {
    case("spawnp", "closefrom").check("closefrom", |s| {
        archived(s);
        assert!(!s.files.iter().any(|f| f.starts_with("tmp")), "{s:?}");
    });
}

#[test]
fn umask_changed_at_exit_spawnp() {
    case("spawnp", "umask").check("umask-spawnp", archived);
}

#[test]
fn umask_changed_at_exit_system() {
    case("system", "umask").check("umask-system", archived);
}

fn signals_case(call: &'static str) -> Case {
    Case {
        call,
        cleanup: "signals",
        ar: Ar::ShowsSignals,
    }
}

#[test]
fn signals_ignored_at_exit_spawnp() {
    signals_case("spawnp").check("signals-spawnp", |s| {
        archived(s);
        assert!(s.stdout.contains("SigIgn:"), "{s:?}");
    });
}

#[test]
fn signals_ignored_at_exit_system() {
    signals_case("system").check("signals-system", |s| {
        archived(s);
        assert!(s.stdout.contains("SigIgn:"), "{s:?}");
    });
}

/// The wait-time handoff: the cleanups run while ar runs; the reaper execs
/// after them and must see the host's working directory and fds 0–2.
#[test]
fn wait_time_chdir_and_closed_std_fds() {
    let case = Case {
        call: "fork",
        cleanup: "chdir,closestd,rmtmp",
        ar: Ar::WaitsForHost,
    };
    case.check("fork", |s| {
        archived(s);
        v_lines_in(&s.stdout);
        assert!(!s.files.iter().any(|f| f.starts_with("tmp")), "{s:?}");
    });
}

/// The reaper's own message (a known host's failure status for an archiver
/// that failed, docs/DESIGN.md, "Conversion" 6) reaches the host's stderr
/// even when a cleanup closed fds 0–2 and left the working directory: the
/// same lines as the same handoff without those cleanups.
#[test]
fn wait_time_reaper_message_with_closed_std_fds() {
    let case = |cleanup| Case {
        call: "fork",
        cleanup,
        ar: Ar::WaitsForHost,
    };
    let failing = |cleanup: &'static str, label: &str| {
        let dir = TestDir::new(&format!("restore-reaper-{label}"));
        let (work, bin) = case(cleanup).setup(&dir);
        let trace = dir.join("trace");
        let mut cmd = preloaded(restore_host(), &dir);
        cmd.current_dir(&work)
            .env("PATH", path_with(&bin))
            .env("ARSHIM", "1")
            .env("ARSHIM_FAILURE_STATUS", "7")
            .env("ARSHIM_TRACE", &trace)
            .env_remove("HOST_PID_FILE")
            .env_remove("STANDIN_RECORD")
            .args(["fork", cleanup, "lib.a", "one.o", "missing.o"]);
        let out = run(cmd, &dir, label);
        assert!(
            !trace_events(&trace, "handoff").is_empty(),
            "not handed off\n{}\n{}",
            out.describe(),
            dump_trace(&trace)
        );
        // The pids differ from run to run.
        let stderr: String = out
            .stderr
            .lines()
            .map(|l| {
                l.split(|c: char| c.is_ascii_digit())
                    .collect::<Vec<_>>()
                    .join("N")
                    + "\n"
            })
            .collect();
        (out.code(), stderr, out)
    };
    let (code, stderr, plain) = failing("none", "plain");
    assert_eq!(code, Some(7), "{}", plain.describe());
    assert!(
        stderr.contains("missing.o") && stderr.contains("reaper: the archiver"),
        "{}",
        plain.describe()
    );
    let (code2, stderr2, closed) = failing("chdir,closestd", "closed");
    assert_eq!(
        (code2, &stderr2),
        (code, &stderr),
        "with the cleanups (left) and without (right)\n{}\n{}",
        closed.describe(),
        plain.describe()
    );
}

/// An fd a cleanup opens (without close-on-exec) is not the archiver's: it
/// was not there when the host called the spawn.
#[test]
fn fd_opened_at_exit_is_not_inherited() {
    let case = Case {
        call: "spawnp",
        cleanup: "openfd",
        ar: Ar::ShowsSignals,
    };
    case.check("openfd", |s| {
        archived(s);
        assert!(s.stdout.contains(" fds\n"), "{s:?}");
    });
}

/// The same when the cleanup's fd lands on a number the host already had
/// open (close-on-exec) before the spawn: a number is not an identity.
#[test]
fn fd_reopened_at_exit_on_a_held_number_is_not_inherited() {
    let case = Case {
        call: "spawnp",
        cleanup: "reopenfd",
        ar: Ar::ShowsSignals,
    };
    case.check("reopenfd", |s| {
        archived(s);
        assert!(s.stdout.contains(" fds\n"), "{s:?}");
    });
}
