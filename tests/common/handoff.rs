//! The wait-time handoff harness (docs/DESIGN.md, "Conversion" 2) shared by
//! tests/fork_handoff.rs and tests/exec_record.rs: the C fork host
//! (tests/hosts/fork_host.c), the ELF stand-in `ar` (tests/hosts/standin_ar.c)
//! that records its parent while it runs, and the verdicts on what it saw.

use super::dirs::TestDir;
use super::fixtures::fixtures;
use super::records::{only_standin_run, started_host_pid};
use super::run::Outcome;
use super::tools::{basename, compile_c, hosts_src};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The reaper holding the host's pid while ar runs must be below this.
pub const SMALL_KIB: u64 = 20 * 1024;

/// The fork host and the ELF stand-in, compiled once per test binary.
pub struct ForkKit {
    /// tests/hosts/fork_host.c
    pub fork_host: PathBuf,
    /// Directory holding the ELF stand-in `ar` (put it first on PATH).
    pub bin: PathBuf,
    /// `BIN/ar`, tests/hosts/standin_ar.c.
    pub standin: PathBuf,
}

pub fn fork_kit() -> &'static ForkKit {
    static KIT: OnceLock<ForkKit> = OnceLock::new();
    KIT.get_or_init(|| {
        let fx = fixtures();
        let src = hosts_src();
        let fork_host = fx.dir.join("fork_host");
        compile_c(&src.join("fork_host.c"), &fork_host);
        let bin = fx.dir.join("fh-bin");
        fs::create_dir_all(&bin).unwrap();
        let standin = bin.join("ar");
        compile_c(&src.join("standin_ar.c"), &standin);
        ForkKit {
            fork_host,
            bin,
            standin,
        }
    })
}

/// `shim` ended as `base` did: status, stdout and stderr (`both` describes them).
pub fn assert_same_run(shim: &Outcome, base: &Outcome, both: &str) {
    assert_eq!(shim.code(), base.code(), "exit status differs\n{both}");
    assert_eq!(shim.stdout, base.stdout, "stdout differs\n{both}");
    assert_eq!(shim.stderr, base.stderr, "stderr differs\n{both}");
}

/// What the ELF stand-in saw of its parent while it ran.
#[derive(Debug, Clone)]
pub struct Seen {
    pub pid: u32,
    pub ppid: u32,
    pub parent_rss_kib: u64,
    pub parent_exe: String,
    pub parent_maps_shim: bool,
    pub parent_waiting: bool,
}

fn record_field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("bad stand-in record line {line:?} (field {key})"))
}

/// Every run of the stand-in in `dir`, in order.
pub fn seen_all(dir: &TestDir) -> Vec<Seen> {
    fs::read_to_string(dir.join("standin.log"))
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let num = |k: &str| -> i64 {
                record_field(line, k)
                    .parse()
                    .unwrap_or_else(|_| panic!("bad number in {line:?} (field {k})"))
            };
            Seen {
                pid: num("pid") as u32,
                ppid: num("ppid") as u32,
                parent_rss_kib: num("parent_rss_kib") as u64,
                parent_exe: record_field(line, "parent_exe").to_string(),
                parent_maps_shim: num("parent_maps_shim") == 1,
                parent_waiting: num("parent_waiting") == 1,
            }
        })
        .collect()
}

pub fn seen_once(dir: &TestDir, run: &Outcome) -> Seen {
    only_standin_run(seen_all(dir), run)
}

/// The handoff happened: the archiver ran as a separate process whose parent
/// had the host's pid, was blocked waiting for it, was the reaper (`arshim`)
/// and held ≤ 20 MiB.
pub fn assert_handed_off(dir: &TestDir, run: &Outcome) -> Seen {
    let host = started_host_pid(dir, run);
    let seen = seen_once(dir, run);
    assert_ne!(
        seen.pid,
        host,
        "the archiver ran as the host's pid: expected it as a child of the reaper\n{}",
        run.describe()
    );
    assert_eq!(
        seen.ppid,
        host,
        "while ar ran, its parent should have the host's pid: {seen:?}\n{}",
        run.describe()
    );
    assert!(
        seen.parent_waiting,
        "the archiver's parent never blocked in a wait call: {seen:?}\n{}",
        run.describe()
    );
    assert_eq!(
        basename(&seen.parent_exe),
        "arshim-reap",
        "while ar ran, the host's pid should be the reaper (arshim-reap), it was {}: {seen:?}\n{}",
        seen.parent_exe,
        run.describe()
    );
    assert!(
        seen.parent_rss_kib <= SMALL_KIB,
        "while ar ran, the host's pid held {} KiB (limit {SMALL_KIB} KiB): {seen:?}\n{}",
        seen.parent_rss_kib,
        run.describe()
    );
    seen
}

/// No handoff: the archiver's parent was the host itself (its own
/// executable), waiting for it and still holding its memory: at least
/// `touch_mib` − 20 MiB of the `touch_mib` MiB it wrote.
pub fn assert_host_held(dir: &TestDir, run: &Outcome, host_exe: &Path, touch_mib: u64) -> Seen {
    let host = started_host_pid(dir, run);
    let seen = seen_once(dir, run);
    assert_ne!(seen.pid, host, "{}", run.describe());
    assert_eq!(seen.ppid, host, "{seen:?}\n{}", run.describe());
    assert!(seen.parent_waiting, "{seen:?}\n{}", run.describe());
    let expected = fs::canonicalize(host_exe).unwrap();
    assert_eq!(
        Path::new(&seen.parent_exe),
        expected,
        "the archiver's parent should be the host itself: {seen:?}\n{}",
        run.describe()
    );
    let big_kib = touch_mib.saturating_sub(20) * 1024;
    assert!(
        seen.parent_rss_kib >= big_kib,
        "the host held only {} KiB while ar ran (it touched {touch_mib} MiB)\n{}",
        seen.parent_rss_kib,
        run.describe()
    );
    seen
}
