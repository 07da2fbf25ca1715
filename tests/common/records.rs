//! What the hosts and the stand-in archiver recorded during a run: the
//! stand-in's lines in `standin.log`, the hosts' pids in `pids`, and the
//! members of the archive built.

use super::dirs::TestDir;
use super::fixtures::fixtures;
use super::run::Outcome;
use std::fs;
use std::path::Path;
use std::process::Command;

/// One run of the stand-in archiver.
#[derive(Debug, Clone)]
pub struct StandinCall {
    pub pid: u32,
    pub ppid: u32,
    pub gppid: u32,
    /// VmRSS of the stand-in itself: the process with the host's pid when converted.
    pub self_rss_kib: u64,
    pub parent_rss_kib: u64,
    pub gparent_rss_kib: u64,
}

impl StandinCall {
    /// VmRSS of the ancestor with `pid`, if it is the parent or grandparent.
    pub fn ancestor_rss_kib(&self, pid: u32) -> Option<u64> {
        if self.ppid == pid {
            Some(self.parent_rss_kib)
        } else if self.gppid == pid {
            Some(self.gparent_rss_kib)
        } else {
            None
        }
    }
}

pub fn standin_calls(dir: &TestDir) -> Vec<StandinCall> {
    let text = fs::read_to_string(dir.join("standin.log")).unwrap_or_default();
    text.lines()
        .map(|line| {
            let field = |k: &str| -> u64 {
                line.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("bad stand-in record line {line:?} (field {k})"))
            };
            StandinCall {
                pid: field("pid") as u32,
                ppid: field("ppid") as u32,
                gppid: field("gppid") as u32,
                self_rss_kib: field("self_rss_kib"),
                parent_rss_kib: field("parent_rss_kib"),
                gparent_rss_kib: field("gparent_rss_kib"),
            }
        })
        .collect()
}

/// The stand-in ran exactly once: that call.
pub fn single_standin_call(dir: &TestDir, run: &Outcome) -> StandinCall {
    only_standin_run(standin_calls(dir), run)
}

/// Of what the stand-in recorded in `run` (one entry per run of it), the
/// only entry: it must have run exactly once.
pub fn only_standin_run<T: std::fmt::Debug>(mut records: Vec<T>, run: &Outcome) -> T {
    assert_eq!(
        records.len(),
        1,
        "the stand-in ar should have run exactly once: {records:?}\n{}",
        run.describe()
    );
    records.remove(0)
}

/// Pids the hosts wrote to $HOST_PID_FILE, with their role ("host", "parent").
pub fn host_pids(dir: &TestDir) -> Vec<(String, u32)> {
    let text = fs::read_to_string(dir.join("pids")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (role, pid) = l.split_once(' ')?;
            Some((role.to_string(), pid.trim().parse().ok()?))
        })
        .collect()
}

/// The pid of the single process that recorded itself as `role`.
pub fn host_pid(dir: &TestDir, role: &str, run: &Outcome) -> u32 {
    let pids: Vec<u32> = host_pids(dir)
        .into_iter()
        .filter(|(r, _)| r == role)
        .map(|(_, p)| p)
        .collect();
    assert_eq!(
        pids.len(),
        1,
        "expected exactly one {role} pid, got {pids:?}\n{}",
        run.describe()
    );
    pids[0]
}

/// The pid of the host, which must be the process the test started
/// (`arshim run` execs it).
pub fn started_host_pid(dir: &TestDir, run: &Outcome) -> u32 {
    let host = host_pid(dir, "host", run);
    assert_eq!(
        host,
        run.pid,
        "the host should be the process the test started (itself, or `arshim run`, which execs it)\n{}",
        run.describe()
    );
    host
}

/// `ar t ARCHIVE` with the real archiver: the member names.
pub fn ar_members(archive: &Path) -> Vec<String> {
    let fx = fixtures();
    let out = Command::new(&fx.real_ar)
        .arg("t")
        .arg(archive)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} t: {e}", fx.real_ar.display()));
    assert!(
        out.status.success(),
        "`ar t {}` failed: {}",
        archive.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}
