//! Every check that can fail after the host's cleanups is made before them
//! (docs/DESIGN.md, "Conversion" 1): the size of the `execve` that will
//! really happen, and whether this machine runs the archiver's ELF file.
//! When a check fails the host's own call is made, untouched: the run is
//! what it is without the library.
//!
//! The host (tests/hosts/final_spawn.c) ends with one archiver call, the
//! real `ar rcsv` (it prints one `a - NAME` line per member). Each case
//! runs without and with the library, with environments of the same size
//! (the library's variables replaced by dummies of the same length), and
//! compares exit status, output lines, and the archive's bytes.

use common::*;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The stack limit of every host's spawn (the host lowers its own): the
/// kernel's room for an `execve`'s strings and pointers is then its
/// minimum, 32 pages (fs/exec.c), which one variable can nearly fill.
const STACK: u64 = 512 << 10;

struct Setup {
    /// tests/hosts/final_spawn.c, compiled.
    host: PathBuf,
    /// tests/hosts/at_pid.c, compiled: runs the host at a chosen pid.
    at_pid: PathBuf,
    /// A directory holding `ar`: the real archiver with its ELF header's
    /// machine patched to AArch64 (183), which this kernel refuses (ENOEXEC).
    foreign: PathBuf,
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let dir = fixtures().dir.join("exec-checks");
        fs::create_dir_all(dir.join("foreign")).unwrap();
        let host = dir.join("final_spawn");
        compile_c(&hosts_src().join("final_spawn.c"), &host);
        let at_pid = dir.join("at_pid");
        compile_c(&hosts_src().join("at_pid.c"), &at_pid);
        let foreign = dir.join("foreign/ar");
        let _ = fs::remove_file(&foreign);
        fs::copy(&fixtures().real_ar, &foreign).unwrap();
        let mut elf = fs::read(&foreign).unwrap();
        assert_eq!(
            &elf[..4],
            b"\x7fELF",
            "{} is not an ELF file",
            foreign.display()
        );
        elf[18..20].copy_from_slice(&183u16.to_le_bytes());
        fs::write(&foreign, elf).unwrap();
        Setup {
            host,
            at_pid,
            foreign: dir.join("foreign"),
        }
    })
}

/// The three ways a host runs, with environments of the same size.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Shim {
    /// No library: its variables renamed.
    Without,
    /// The library on, but `ar` not one of its tools: every spawn is the
    /// real one, with the library's own variables in the environment (its
    /// claim on the process, ARSHIM_PID, which it adds at start).
    Unmatched,
    /// The library on.
    With,
}

/// What one run showed.
struct Seen {
    run: Outcome,
    /// Output lines, sorted (the archiver's and the host's atexit line
    /// come in another order once the cleanups run first).
    stdout: Vec<String>,
    /// Error lines, the library's own left out, sorted.
    stderr: Vec<String>,
    archive: Option<Vec<u8>>,
    /// What was left of the objects.
    objects: Vec<bool>,
    converted: bool,
    /// The library's reason for making the real call, if it gave one.
    fallback: Option<String>,
}

struct Case<'a> {
    dir: &'a TestDir,
    /// `spawn PROGRAM ARG...`, `spawnp ...` or `system WORD...`
    args: Vec<OsString>,
    path: OsString,
    /// The object the host deletes at exit, if any.
    unlink: Option<&'a str>,
    /// `ARSHIM_PID` set to the reserved room, `0000000:000000000000`
    /// (`XRSHIM_PID` without the library).
    reserve: bool,
}

impl Case<'_> {
    fn new<'a>(dir: &'a TestDir, call: &str, program: &str) -> Case<'a> {
        let mut args: Vec<OsString> = vec![call.into(), program.into(), "rcsv".into()];
        args.extend(["lib.a", "one.o", "two.o"].map(OsString::from));
        Case {
            dir,
            args,
            path: "/usr/bin:/bin".into(),
            unlink: None,
            reserve: false,
        }
    }

    /// The objects and no archive, as before every run.
    fn reset(&self) {
        let _ = fs::remove_file(self.dir.join("lib.a"));
        let _ = fs::remove_file(self.dir.join("trace"));
        for (obj, name) in fixtures().objs.iter().zip(["one.o", "two.o"]) {
            fs::copy(obj, self.dir.join(name)).unwrap();
        }
    }

    /// The host's command; at pid `at` (in a pid namespace of its own,
    /// through tests/hosts/at_pid.c) when given.
    fn command(&self, shim: Shim, pad: usize, at: Option<u32>) -> Command {
        let mut cmd = match at {
            None => Command::new(&setup().host),
            Some(pid) => {
                let mut c = Command::new("unshare");
                c.args(["--pid", "--fork", "--mount-proc"])
                    .arg(&setup().at_pid)
                    .arg(pid.to_string())
                    .arg(&setup().host);
                c
            }
        };
        scrub(
            &mut cmd,
            &["ARSHIM_TRACE", "PAD", "HOST_STACK_KIB", "ARSHIM_TOOLS"],
        );
        let (preload, on, tools) = match (shim, at) {
            (Shim::Without, _) => ("XX_PRELOAD", "XRSHIM", "zz,*-zz"),
            // at_pid puts it back for the host alone.
            (_, Some(_)) if shim == Shim::With => ("AT_PID_LD_PRELOAD", "ARSHIM", "ar,*-ar"),
            (_, Some(_)) => ("AT_PID_LD_PRELOAD", "ARSHIM", "zz,*-zz"),
            (Shim::With, None) => ("LD_PRELOAD", "ARSHIM", "ar,*-ar"),
            (Shim::Unmatched, None) => ("LD_PRELOAD", "ARSHIM", "zz,*-zz"),
        };
        cmd.args(&self.args)
            .env(preload, library())
            .env(on, "1")
            .env("ARSHIM_TOOLS", tools)
            .env("ARSHIM_TRACE", self.dir.join("trace"))
            .env("PATH", &self.path)
            .env("LC_ALL", "C")
            .env("PAD", "x".repeat(pad))
            .env("HOST_STACK_KIB", (STACK >> 10).to_string())
            .current_dir(&self.dir.path);
        if let Some(name) = self.unlink {
            cmd.env("HOST_UNLINK_AT_EXIT", self.dir.join(name));
        }
        if self.reserve {
            let var = if shim == Shim::Without {
                "XRSHIM_PID"
            } else {
                "ARSHIM_PID"
            };
            cmd.env(var, "0000000:000000000000");
        }
        cmd
    }

    fn run(&self, shim: Shim, pad: usize) -> Seen {
        self.run_at(shim, pad, None)
    }

    /// `run`, the host at pid `at` when given.
    fn run_at(&self, shim: Shim, pad: usize, at: Option<u32>) -> Seen {
        self.reset();
        let label = match at {
            Some(pid) => format!("{shim:?}-{pad}-at-pid-{pid}"),
            None => format!("{shim:?}-{pad}"),
        };
        let run = run(self.command(shim, pad, at), self.dir, &label);
        let lines = |text: &str, keep: &dyn Fn(&str) -> bool| {
            let mut v: Vec<String> = text.lines().filter(|l| keep(l)).map(String::from).collect();
            v.sort();
            v
        };
        let trace = self.dir.join("trace");
        let fallback = trace_events(&trace, "fallback")
            .first()
            .and_then(|l| json_str_field(l, "reason"));
        Seen {
            stdout: lines(&run.stdout, &|_| true),
            stderr: lines(&run.stderr, &|l| !l.starts_with("arshim[")),
            archive: fs::read(self.dir.join("lib.a")).ok(),
            objects: ["one.o", "two.o"]
                .map(|o| self.dir.join(o).exists())
                .to_vec(),
            converted: !trace_events(&trace, "convert").is_empty()
                || !trace_events(&trace, "handoff").is_empty(),
            fallback,
            run,
        }
    }

    /// Runs without and with the library at `pad`; what a user sees must be
    /// the same. Returns the run with the library.
    fn same(&self, pad: usize) -> Seen {
        self.same_as(Shim::Without, pad)
    }

    /// Runs as `reference` and with the library at `pad`: the same.
    fn same_as(&self, reference: Shim, pad: usize) -> Seen {
        let base = self.run(reference, pad);
        let shim = self.run(Shim::With, pad);
        assert_same(
            &shim,
            &base,
            &format!("PAD of {pad} bytes, {reference:?} and With"),
        );
        shim
    }
}

fn assert_same(shim: &Seen, base: &Seen, what: &str) {
    let both = format!(
        "{what}\n--- without ---\n{}\n--- with ---\n{}\nfallback: {:?}",
        base.run.describe(),
        shim.run.describe(),
        shim.fallback
    );
    assert_eq!(shim.run.code(), base.run.code(), "exit status: {both}");
    assert_eq!(shim.stdout, base.stdout, "output lines: {both}");
    assert_eq!(shim.stderr, base.stderr, "error lines: {both}");
    assert!(shim.archive == base.archive, "the archive differs: {both}");
    assert_eq!(shim.objects, base.objects, "objects left: {both}");
}

/// The host's spawn failed with E2BIG (its own error line says so).
fn assert_too_long(seen: &Seen) {
    assert!(
        seen.stderr
            .iter()
            .any(|l| l.contains("Argument list too long")),
        "{}",
        seen.run.describe()
    );
}

/// The largest `x` in `lo..=hi` for which `ok` holds, `ok(lo)` and `!ok(hi)`
/// given (and `ok` true up to some point, false after).
fn largest(mut lo: usize, mut hi: usize, ok: impl Fn(usize) -> bool) -> usize {
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The largest environment with which the host's spawn works, the library
/// present but not converting; at it, without and with the library; one
/// byte above, unconverted and with the library; then the largest with
/// which the library converts, and one byte above it.
fn exact_limit(case: &Case<'_>) {
    let spawns = |shim: Shim| move |pad: usize| case.run(shim, pad).run.code() == Some(0);
    assert!(
        spawns(Shim::Unmatched)(0),
        "{}",
        case.run(Shim::Unmatched, 0).run.describe()
    );
    let limit = largest(0, 32 * 4096, spawns(Shim::Unmatched));
    let at = case.same(limit);
    assert!(
        !at.converted,
        "converted at the spawn's own limit, with ARSHIM_SPENT added"
    );
    assert!(
        at.fallback.as_deref().is_some_and(|r| r.contains("E2BIG")),
        "fallback reason: {:?}",
        at.fallback
    );
    assert_too_long(&case.same_as(Shim::Unmatched, limit + 1));
    // Every run of the search is checked: converted or not, it works.
    let converts = |pad: usize| {
        let seen = case.run(Shim::With, pad);
        assert_eq!(seen.run.code(), Some(0), "{}", seen.run.describe());
        seen.converted
    };
    assert!(converts(0), "not converted with a small environment");
    let fits = largest(0, limit, converts);
    let last = case.same(fits);
    assert!(last.converted, "{}", last.run.describe());
    let first_out = case.same(fits + 1);
    assert!(!first_out.converted, "{}", first_out.run.describe());
    one_size_whatever_the_pid(case, limit, fits);
    let without = largest(limit, 32 * 4096, spawns(Shim::Without));
    eprintln!(
        "spawn limit: PAD of {without} bytes without the library, {limit} with it unconverted; \
         converted up to {fits} ({} bytes for the conversion)",
        limit - fits
    );
}

/// What the library adds (its claim on the process, the spent mark, the
/// reaper's `--pid`) has one size whatever pid the host got: at pids of 2, 4
/// and 7 digits, the spawn works up to the same `limit` and the conversion
/// fits up to the same `fits` (found at the machine's own pids). Else a
/// build converts, or fails with E2BIG, by the luck of its pids.
fn one_size_whatever_the_pid(case: &Case<'_>, limit: usize, fits: usize) {
    common::require("unshare", "util-linux");
    for pid in [10, 1000, 1_000_000] {
        let at = case.run_at(Shim::Unmatched, limit, Some(pid));
        assert_eq!(at.run.code(), Some(0), "{}", at.run.describe());
        assert_too_long(&case.run_at(Shim::Unmatched, limit + 1, Some(pid)));
        let base = case.run(Shim::Without, fits);
        let last = case.run_at(Shim::With, fits, Some(pid));
        assert_same(&last, &base, &format!("PAD of {fits} bytes at pid {pid}"));
        assert!(last.converted, "at pid {pid}: {}", last.run.describe());
        let base = case.run(Shim::Without, fits + 1);
        let first_out = case.run_at(Shim::With, fits + 1, Some(pid));
        assert_same(
            &first_out,
            &base,
            &format!("PAD of {} bytes at pid {pid}", fits + 1),
        );
        assert!(
            !first_out.converted,
            "at pid {pid}: {}",
            first_out.run.describe()
        );
    }
}

/// With `ARSHIM_PID` set to the reserved room (README, "Configuration"),
/// the first process to load the library claims itself in it, at the same
/// size: the host's spawn works up to the very limit it has without the
/// library (whose variables dummies of the same size replace), and fails
/// one byte over, as it does without.
#[test]
fn a_reserved_claim_costs_no_byte() {
    let dir = TestDir::new("exec-limit-reserved");
    let ar = fixtures().real_ar.clone().into_os_string();
    let mut case = Case::new(&dir, "spawn", ar.to_str().unwrap());
    case.reserve = true;
    let case = &case;
    let spawns = |shim: Shim| move |pad: usize| case.run(shim, pad).run.code() == Some(0);
    let without = largest(0, 32 * 4096, spawns(Shim::Without));
    let with = largest(0, 32 * 4096, spawns(Shim::Unmatched));
    assert_eq!(with, without, "the library's spawn limit, and without it");
    let at = case.same_as(Shim::Unmatched, with);
    assert_eq!(at.run.code(), Some(0), "{}", at.run.describe());
    assert_too_long(&case.same_as(Shim::Unmatched, with + 1));
    // It did claim: the load event says so.
    case.run(Shim::Unmatched, 0);
    let load = trace_events(&dir.join("trace"), "load");
    assert!(
        load.first()
            .is_some_and(|l| l.contains("first process to load the library: claimed")),
        "{load:?}"
    );
}

#[test]
fn environment_at_the_exact_limit() {
    let dir = TestDir::new("exec-limit");
    let ar = fixtures().real_ar.clone().into_os_string();
    exact_limit(&Case::new(&dir, "spawn", ar.to_str().unwrap()));
}

/// The host deletes an object at exit: the deletion is deferred and the
/// reaper, whose arguments name it, runs the archiver.
#[test]
fn environment_at_the_exact_limit_with_a_deferred_deletion() {
    let dir = TestDir::new("exec-limit-deferred");
    let ar = fixtures().real_ar.clone().into_os_string();
    let mut case = Case::new(&dir, "spawn", ar.to_str().unwrap());
    case.unlink = Some("two.o");
    exact_limit(&case);
}

/// At wait time (fork, exec, waitpid): the reaper's exec, with the host's
/// environment and room for the deletions, fits or the host's own wait runs.
#[test]
fn environment_at_the_exact_limit_at_wait_time() {
    let dir = TestDir::new("exec-limit-wait");
    let ar = fixtures().real_ar.clone().into_os_string();
    let mut case = Case::new(&dir, "fork", ar.to_str().unwrap());
    case.unlink = Some("two.o");
    exact_limit(&case);
}

/// A foreign ELF `ar` first on PATH: posix_spawnp fails with ENOEXEC (glibc
/// stops its search there), and so does posix_spawn of its path.
#[test]
fn foreign_elf_through_posix_spawn() {
    let dir = TestDir::new("exec-foreign-spawn");
    let foreign = setup().foreign.join("ar");
    for (call, program) in [("spawnp", "ar"), ("spawn", foreign.to_str().unwrap())] {
        let mut case = Case::new(&dir, call, program);
        case.path = path_of(&setup().foreign);
        let seen = case.same(0);
        assert_eq!(seen.run.code(), Some(3), "{}", seen.run.describe());
        assert!(
            seen.stderr
                .contains(&"host: spawn failed: Exec format error".to_string()),
            "{}",
            seen.run.describe()
        );
        assert!(!seen.converted);
    }
}

/// A foreign ELF `ar` first on PATH through system(): the shell goes on
/// along PATH and runs the next `ar`.
#[test]
fn foreign_elf_through_system() {
    let dir = TestDir::new("exec-foreign-system");
    let mut case = Case::new(&dir, "system", "ar");
    case.path = path_of(&setup().foreign);
    let seen = case.same(0);
    assert_eq!(seen.run.code(), Some(0), "{}", seen.run.describe());
    assert!(seen.archive.is_some(), "{}", seen.run.describe());
    assert!(
        seen.stdout.contains(&"a - one.o".to_string()),
        "{}",
        seen.run.describe()
    );
    // Converted to `sh -c` in the host's pid (the shell's own search), or the
    // real call: either is what system() does.
    eprintln!(
        "system(): converted {}, fallback {:?}",
        seen.converted, seen.fallback
    );
}

/// `DIR:/usr/bin:/bin`
fn path_of(first: &Path) -> OsString {
    let mut p = first.as_os_str().to_owned();
    p.push(":/usr/bin:/bin");
    p
}
