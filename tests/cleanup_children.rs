//! The wait-time handoff (docs/DESIGN.md, "Conversion" 2) with exit cleanups
//! that wait for or signal the host's children. Without the library the host
//! had reaped its archiver before exiting, so such a cleanup sees no archiver:
//! a wait for any child fails with ECHILD (or takes another child), a kill of
//! the archiver's pid fails with ESRCH, a group signal reaches everyone but
//! the archiver. Under `arshim run` the cleanups run while the archiver still
//! runs, and must see the same: the archiver stays the reaper's to wait for,
//! and nothing the cleanups send reaches it.
//!
//! The host is tests/hosts/cleanup_children_host.c (its atexit handler is
//! chosen by its first argument), the archiver the ELF stand-in `ar`
//! (tests/hosts/standin_ar.c), which waits until its parent blocks in a wait
//! before it execs the real `ar rcv`: its `a - one.o` lines are printed. Each
//! test runs the host without and with the library and compares what a user
//! sees: exit status, stdout and stderr lines, archive members and contents.

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The host, compiled once per test binary.
fn host() -> &'static Path {
    static HOST: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let out = fixtures().dir.join("cleanup_children_host");
        compile_c(&hosts_src().join("cleanup_children_host.c"), &out);
        out
    })
}

/// `cleanup_children_host HANDLER lib.a one.o two.o`, the ELF stand-in first on PATH.
fn args(cmd: &mut Command, handler: &str, archive: &Path) {
    cmd.env("PATH", path_with(&fork_kit().bin))
        .arg(handler)
        .arg(archive)
        .args(&fixtures().objs);
}

/// One run's directory and archive.
struct Case {
    dir: TestDir,
    archive: PathBuf,
}

impl Case {
    fn new(name: &str) -> Case {
        let dir = TestDir::new(name);
        Case {
            archive: dir.join("lib.a"),
            dir,
        }
    }
}

/// A run's lines, sorted: the archiver and the host's flushed buffer write
/// to the same file in an order that depends on when ar ran; the library's
/// own log lines (`arshim[PID]: …`) are left out.
fn lines(text: &str) -> Vec<&str> {
    let mut l: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("arshim[") && !l.starts_with("arshim:"))
        .collect();
    l.sort();
    l
}

/// The archive's members and each member's bytes (`ar p`).
fn archive_contents(archive: &Path) -> Vec<(String, Vec<u8>)> {
    if !archive.exists() {
        return Vec::new();
    }
    ar_members(archive)
        .into_iter()
        .map(|m| {
            let out = checked(
                Command::new(&fixtures().real_ar)
                    .arg("p")
                    .arg(archive)
                    .arg(&m),
                "ar p",
            );
            (m, out.stdout)
        })
        .collect()
}

/// Runs HANDLER without and with the library; checks that the run without
/// printed `expect` (what the cleanup must see), that both runs match, and
/// that the run with the library really handed off. Returns the baseline.
fn same_run(handler: &str, expect: &[&str]) -> Outcome {
    let bcase = Case::new(&format!("cc-{handler}-baseline"));
    let mut cmd = command(host(), &bcase.dir);
    args(&mut cmd, handler, &bcase.archive);
    let base = run(cmd, &bcase.dir, "without-library");
    for line in expect {
        assert!(
            base.stdout
                .lines()
                .chain(base.stderr.lines())
                .any(|l| l == *line),
            "without the library the host should print {line:?}\n{}",
            base.describe()
        );
    }
    base.assert_code(0);
    assert_archive_ok(&bcase.archive, &base);

    let case = Case::new(&format!("cc-{handler}"));
    let trace = case.dir.join("trace.jsonl");
    let mut cmd = arshim_run(&["--trace", trace.to_str().unwrap()], host(), &case.dir);
    args(&mut cmd, handler, &case.archive);
    let shim = run(cmd, &case.dir, "with-library");
    let both = format!(
        "{}\n{}\n--- trace ---\n{}",
        base.describe(),
        shim.describe(),
        dump_trace(&trace)
    );
    assert_eq!(shim.code(), base.code(), "exit status differs\n{both}");
    assert_eq!(
        lines(&shim.stdout),
        lines(&base.stdout),
        "stdout differs\n{both}"
    );
    assert_eq!(
        lines(&shim.stderr),
        lines(&base.stderr),
        "stderr differs\n{both}"
    );
    assert_eq!(
        archive_contents(&case.archive),
        archive_contents(&bcase.archive),
        "archive differs\n{both}"
    );
    assert!(
        shim.stdout.contains("one.o\n") && shim.stdout.contains("two.o\n"),
        "ar's v lines missing\n{both}"
    );
    // Handed off: the trace shows the handoff and the reaper's wait. (Not
    // the stand-in's look at its parent: a cleanup that blocks in a wait of
    // its own, as killpg-worker's, may be what it sees.)
    assert_eq!(
        trace_events(&trace, "handoff").len(),
        1,
        "no handoff\n{both}"
    );
    let reap = trace_events(&trace, "reap");
    assert!(
        reap.iter()
            .any(|e| json_str_field(e, "mode").as_deref() == Some("wait")),
        "the reaper did not wait for the archiver\n{both}"
    );
    base
}

/// `while (wait(NULL) > 0);`: ECHILD at once, the archiver left to the reaper.
#[test]
fn cleanup_waiting_for_every_child_sees_none() {
    same_run("wait-all", &["host: cleanup wait: No child processes"]);
}

/// `waitpid(-1, &st, 0)` once: ECHILD.
#[test]
fn cleanup_waitpid_any_child_gets_echild() {
    same_run(
        "waitpid-any",
        &["host: cleanup waitpid(-1): -1 No child processes"],
    );
}

/// `waitpid(0, &st, 0)` once (its own process group, which holds the
/// archiver): ECHILD.
#[test]
fn cleanup_waitpid_own_group_gets_echild() {
    same_run(
        "waitpid-group",
        &["host: cleanup waitpid(-1): -1 No child processes"],
    );
}

/// `waitpid(-1, &st, WNOHANG)` once: ECHILD, not 0 (no child left).
#[test]
fn cleanup_waitpid_nohang_gets_echild() {
    same_run(
        "waitpid-nohang",
        &["host: cleanup waitpid(-1): -1 No child processes"],
    );
}

/// `waitid(P_ALL, …, WEXITED)` once: ECHILD.
#[test]
fn cleanup_waitid_any_child_gets_echild() {
    same_run(
        "waitid-any",
        &["host: cleanup waitid: -1 No child processes"],
    );
}

/// A wait for any child while another child runs: it takes that child (exit
/// 5), then ECHILD — never the archiver.
#[test]
fn cleanup_waiting_with_a_sibling_reaps_only_the_sibling() {
    same_run(
        "sibling",
        &[
            "host: cleanup reaped a child, status 5",
            "host: cleanup wait: No child processes",
        ],
    );
}

/// `kill(archiver_pid, SIGTERM)` of the pid it remembered: ESRCH, ar unharmed.
#[test]
fn cleanup_killing_the_archiver_pid_gets_esrch() {
    same_run(
        "kill-archiver",
        &["host: cleanup kill(archiver): -1 No such process"],
    );
}

/// `sigqueue(archiver_pid, SIGTERM, …)`: ESRCH, ar unharmed.
#[test]
fn cleanup_sigqueue_to_the_archiver_pid_gets_esrch() {
    same_run(
        "sigqueue-archiver",
        &["host: cleanup sigqueue(archiver): -1 No such process"],
    );
}

/// `kill(0, SIGTERM)` from a host (a group of its own) that handles SIGTERM:
/// the host gets it, the archiver (in that group too) does not.
#[test]
fn cleanup_signalling_its_own_group_spares_the_archiver() {
    same_run(
        "kill-group",
        &["host: cleanup kill(0): 0", "host: SIGTERM handled"],
    );
}

/// `killpg(getpgrp(), SIGTERM)` (glibc's killpg does not go through `kill`):
/// the host gets it, the archiver does not.
#[test]
fn cleanup_killpg_of_its_own_group_spares_the_archiver() {
    same_run(
        "killpg-own",
        &["host: cleanup killpg(own): 0", "host: SIGTERM handled"],
    );
}

/// `killpg` of a worker's own group (without the archiver): the worker is
/// killed as without the library.
#[test]
fn cleanup_killpg_of_a_worker_group_kills_the_worker() {
    same_run(
        "killpg-worker",
        &[
            "host: cleanup killpg(worker): 0",
            "host: worker killed by signal 15",
        ],
    );
}
