//! Real toolchains nobody here wrote (README, "Known hosts"; docs/DESIGN.md,
//! "Conversion" 8, finality and known hosts), installed from Debian's
//! packages by `.ci/run` (`ldc ghc nim ocaml-nox strace`; gcc-ar comes with
//! gcc). A missing tool is a test failure, never a skip.
//!
//! Must convert — each run through `arshim run` in a temp dir:
//!
//! | host | command | spawn | conversion |
//! |---|---|---|---|
//! | gcc-ar 12 | `gcc-ar rcs libf.a ar_one.o ar_two.o` (LTO objects) | `vfork` + exec `/usr/bin/ar --plugin …`, `waitpid` | wait time: the reaper `arshim __reap` replaces gcc-ar in its pid |
//! | ldc2 1.30 | `ldc2 -lib foo.d bar.d -of=libfoo.a --ar=ar` | `posix_spawn("/usr/bin/ar")` | spawn time: ar runs in ldc2's pid |
//! | ghc 9.0 | `ghc -staticlib -o libfoo_hs.a Foo.o`, `--tools '*ranlib'` | `posix_spawnp("x86_64-linux-gnu-ranlib")`, stdio on pipes | spawn time: ranlib runs in ghc's pid |
//!
//! ghc built from source deletes its temp dir after ranlib in its main
//! code: the conversion hands it, and what ghc and its gcc/as children made
//! in it, to the reaper (`ghc_from_source_converts_and_leaves_nothing`).
//! From a prebuilt Foo.o it makes no temp dir.
//!
//! For each: (a) the archive is right (`ar t`, and it links into a C program
//! that calls the library and prints the expected result); (b) it is
//! byte-identical to the archive of a run without the shim (all three hosts
//! are deterministic: Debian's ar writes deterministic archives by default,
//! and ghc -staticlib from the same Foo.o gives the same bytes); the run's
//! stdout/stderr are those of the run without the shim; (c) the exit status is
//! that of the run without the shim, also when the archiver fails (a stand-in
//! that exits 3 first on PATH); (d) proof of the conversion: the trace has
//! `convert`/`handoff` from the host's pid, and `strace -f` around the whole
//! `arshim run` shows the archiver's (spawn time) or the reaper's (wait time)
//! `execve` in the host's pid. Each host also runs once under `--observe`:
//! nothing changes (status, bytes, output; the archiver is a child again).
//!
//! Must refuse (README, "Checking and proving", `arshim verify`): nim and ocamlopt
//! do more work after the archiver; `arshim verify` must say NOT SAFE and
//! name that work.

use common::{
    basename, checked, companion, compile_c, hosts_src, json_num, json_raw_field, json_str_field,
    path_with, reaper, require, trace_dump, trace_lines, Outcome, TestDir,
};
use std::collections::HashMap;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// Every run is killed (with its process group) and fails after this.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------
// Tools, commands, runs

/// A command with a clean environment (no library variables, no outer make),
/// the C locale, run in `cwd`. `XDG_CACHE_HOME` is a dir of this test
/// process: `arshim verify` records verdicts there and `arshim run` reads
/// them, so the user's own ~/.cache neither leaks in nor gets written.
fn clean(program: impl AsRef<std::ffi::OsStr>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    common::scrub(&mut cmd, &[]);
    cmd.env("LC_ALL", "C")
        .env("XDG_CACHE_HOME", prep_root().join("xdg-cache"))
        .current_dir(cwd);
    cmd
}

/// [`common::run_timed`] with [`RUN_TIMEOUT`]; real toolchains' output
/// need not be UTF-8.
fn run(cmd: Command, dir: &TestDir, label: &str) -> Outcome {
    common::run_timed(cmd, dir, label, RUN_TIMEOUT).outcome_lossy()
}

/// Copies the regular files of `from` (not recursive) into a new dir `to`,
/// keeping their modification times: ghc's own archive writer records each
/// member's mtime in its header (it does not write deterministic archives the
/// way Debian's ar does), so identical inputs include identical mtimes.
fn copy_files(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            let dst = to.join(e.file_name());
            fs::copy(e.path(), &dst).unwrap();
            let mtime = e.metadata().unwrap().modified().unwrap();
            fs::File::options()
                .write(true)
                .open(&dst)
                .and_then(|f| f.set_modified(mtime))
                .unwrap_or_else(|err| panic!("set mtime of {}: {err}", dst.display()));
        }
    }
}

/// Size of the generated data member of the gcc-ar archive.
const BLOB_BYTES: usize = 24 << 20;

/// `len` deterministic pseudo-random bytes (xorshift64*).
fn blob(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A dir holding a failing stand-in archiver named `name`: the ELF
/// tests/hosts/failing_ar.c, which says so on stderr, works a little
/// (so that a host that waits for it finds it still running, as it would a
/// real ar) and exits 3.
fn failing_standin(dir: &TestDir, name: &str) -> PathBuf {
    let bin = dir.join("failing-bin");
    fs::create_dir_all(&bin).unwrap();
    // ELF, as a real archiver: ghc feeds its archiver's stdin, and only an
    // ELF archiver is converted then (docs/DESIGN.md, "Conversion" 5).
    compile_c(&hosts_src().join("failing_ar.c"), &bin.join(name));
    bin
}

fn members(archive: &Path, run: &Outcome) -> Vec<String> {
    assert!(
        archive.is_file(),
        "archive {} was not created\n{}",
        archive.display(),
        run.describe()
    );
    let out = checked(Command::new("ar").arg("t").arg(archive), "`ar t`");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn assert_same_bytes(base: &Path, other: &Path, run: &Outcome) {
    let a = fs::read(base).unwrap_or_else(|e| panic!("{}: {e}", base.display()));
    let b =
        fs::read(other).unwrap_or_else(|e| panic!("{}: {e}\n{}", other.display(), run.describe()));
    if a != b {
        let first = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "{} ({} bytes) differs from the archive of the run without the shim {} ({} bytes), \
             first difference at byte {first}\n{}",
            other.display(),
            b.len(),
            base.display(),
            a.len(),
            run.describe()
        );
    }
}

/// Text of a run with the run's own directory name replaced, so runs in
/// sibling directories compare equal.
fn normalized(text: &str, run_dir: &Path) -> String {
    text.replace(&run_dir.display().to_string(), "<RUNDIR>")
        .lines()
        .map(|l| format!("{l}\n"))
        .collect()
}

// ---------------------------------------------------------------------------
// Trace helpers

fn events<'a>(lines: &'a [String], event: &str) -> Vec<&'a String> {
    lines
        .iter()
        .filter(|l| json_str_field(l, "event").as_deref() == Some(event))
        .collect()
}

// ---------------------------------------------------------------------------
// strace -f -e trace=execve,clone,clone3,fork,vfork

/// One `execve` strace saw.
#[derive(Debug, Clone)]
struct Exec {
    /// The process it happened in (after a non-leader thread's execve, the
    /// thread group's pid: the pid the new image has).
    pid: u32,
    path: String,
    /// The strace line of the call (its argv, abbreviated by strace).
    line: String,
    ok: bool,
}

fn strace_execs(text: &str) -> Vec<Exec> {
    let mut execs: Vec<Exec> = Vec::new();
    let mut pending: HashMap<u32, usize> = HashMap::new();
    for line in text.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(pid) = pid.trim().parse::<u32>() else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(args) = rest.strip_prefix("execve(\"") {
            let path = args.split('"').next().unwrap_or("").to_string();
            let unfinished = rest.contains("<unfinished ...>");
            execs.push(Exec {
                pid,
                path,
                line: line.to_string(),
                ok: !unfinished && rest.trim_end().ends_with("= 0"),
            });
            if unfinished {
                pending.insert(pid, execs.len() - 1);
            }
        } else if rest.starts_with("<... execve resumed>") {
            if let Some(i) = pending.remove(&pid) {
                execs[i].ok = rest.trim_end().ends_with("= 0");
            }
        } else if let Some(leader) = rest
            .strip_prefix("+++ superseded by execve in pid ")
            .and_then(|r| r.trim_end_matches(" +++").trim().parse::<u32>().ok())
        {
            // A non-leader thread exec'd: the new image has the leader's pid,
            // and strace reports the result under that pid.
            if let Some(i) = pending.remove(&pid) {
                execs[i].pid = leader;
                pending.insert(leader, i);
            }
        }
    }
    execs
}

/// `strace -f … -o FILE` in front of `cmd`'s program and arguments (the
/// environment and directory are kept). `--seccomp-bpf`: only the traced
/// calls stop the processes (strace falls back to stopping at every call
/// where it cannot); without it ghc's link ran ten times slower under strace.
fn under_strace(cmd: &Command, out: &Path) -> Command {
    let strace = require("strace", "strace");
    let mut s = Command::new(strace);
    s.args(["-f", "--seccomp-bpf"])
        .args(["-e", "trace=execve,clone,clone3,fork,vfork", "-o"])
        .arg(out)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => s.env(k, v),
            None => s.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        s.current_dir(d);
    }
    s
}

/// The pid `arshim run` had: the process that exec'd the companion with
/// `run`; `arshim run` execs the host in that pid.
fn run_pid(execs: &[Exec], strace: &str) -> u32 {
    let comp = companion().display().to_string();
    execs
        .iter()
        .find(|e| e.ok && e.path == comp && e.line.contains("\"run\""))
        .unwrap_or_else(|| panic!("strace shows no execve of {comp} run\n--- strace ---\n{strace}"))
        .pid
}

// ---------------------------------------------------------------------------
// The hosts

#[derive(Clone, Copy, Debug, PartialEq)]
enum Host {
    GccAr,
    Ldc2,
    Ghc,
}

/// The inputs a host needs, prepared once per test binary per host.
struct Prepared {
    /// Directory of files to copy into every run's directory.
    dir: PathBuf,
}

/// The inputs prepared by this test process; those of finished test
/// processes are removed the first time.
fn prep_root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let parent = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("arshim-it");
        fs::create_dir_all(&parent).unwrap();
        for e in fs::read_dir(&parent).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name
                .strip_prefix("real-hosts-prep-")
                .and_then(|p| p.parse::<u32>().ok())
            {
                if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        let root = parent.join(format!("real-hosts-prep-{}", std::process::id()));
        fs::create_dir_all(&root).unwrap();
        root
    })
    .clone()
}

impl Host {
    fn label(self) -> &'static str {
        match self {
            Host::GccAr => "gcc-ar",
            Host::Ldc2 => "ldc2",
            Host::Ghc => "ghc",
        }
    }

    /// The host's program and arguments (a name looked up on PATH, as a user types it).
    fn argv(self) -> Vec<&'static str> {
        match self {
            Host::GccAr => vec![
                "gcc-ar",
                "rcs",
                "libf.a",
                "ar_one.o",
                "ar_two.o",
                "ar_blob.o",
            ],
            Host::Ldc2 => vec!["ldc2", "-lib", "foo.d", "bar.d", "-of=libfoo.a", "--ar=ar"],
            Host::Ghc => vec!["ghc", "-staticlib", "-o", "libfoo_hs.a", "Foo.o"],
        }
    }

    fn archive(self) -> &'static str {
        match self {
            Host::GccAr => "libf.a",
            Host::Ldc2 => "libfoo.a",
            Host::Ghc => "libfoo_hs.a",
        }
    }

    /// `arshim run` options: ghc's last step is ranlib, not ar (its known
    /// host's tools say so too).
    fn run_opts(self) -> Vec<&'static str> {
        match self {
            Host::Ghc => vec!["--tools", "*ranlib"],
            _ => vec![],
        }
    }

    /// The name the failing stand-in must have to be picked up from PATH.
    /// gcc-ar runs `ar` by the absolute path it finds: it looks in gcc's
    /// target tool dirs (none on Debian) and then searches PATH itself for
    /// `ar` (checked with strace: access("<dir>/ar", X_OK) along PATH), so a
    /// stand-in named `ar` first on PATH is the one it runs.
    fn archiver_name(self) -> &'static str {
        match self {
            Host::GccAr | Host::Ldc2 => "ar",
            Host::Ghc => "x86_64-linux-gnu-ranlib",
        }
    }

    /// Basename of the executable the host's pid runs (the load event's exe).
    fn exe_basename_matches(self, exe: &str) -> bool {
        let b = basename(exe);
        match self {
            Host::GccAr => b.contains("gcc-ar"),
            Host::Ldc2 => b == "ldc2",
            Host::Ghc => b == "ghc",
        }
    }

    fn package(self) -> &'static str {
        match self {
            Host::GccAr => "gcc",
            Host::Ldc2 => "ldc",
            Host::Ghc => "ghc",
        }
    }

    fn require(self) {
        require(self.argv()[0], self.package());
        require("ar", "binutils");
        require("cc", "gcc");
    }

    fn prepared(self) -> &'static Prepared {
        static GCC_AR: OnceLock<Prepared> = OnceLock::new();
        static LDC2: OnceLock<Prepared> = OnceLock::new();
        static GHC: OnceLock<Prepared> = OnceLock::new();
        let cell = match self {
            Host::GccAr => &GCC_AR,
            Host::Ldc2 => &LDC2,
            Host::Ghc => &GHC,
        };
        cell.get_or_init(|| {
            self.require();
            let dir = prep_root().join(self.label());
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            let src = common::real_src();
            match self {
                Host::GccAr => {
                    // A big data member (see tests/real/ar_blob.S).
                    fs::write(dir.join("ar_blob.bin"), blob(BLOB_BYTES)).unwrap();
                    checked(
                        clean("cc", &dir)
                            .args(["-c", "-o", "ar_blob.o"])
                            .arg(src.join("ar_blob.S")),
                        "the C compiler `cc` (assembling ar_blob.S)",
                    );
                    fs::remove_file(dir.join("ar_blob.bin")).unwrap();
                    // LTO objects: the reason gcc-ar exists (ar needs gcc's plugin).
                    for n in ["ar_one", "ar_two"] {
                        checked(
                            clean("cc", &dir)
                                .args(["-O2", "-flto", "-Wall", "-Werror", "-c", "-o"])
                                .arg(format!("{n}.o"))
                                .arg(src.join(format!("{n}.c"))),
                            "the C compiler `cc`",
                        );
                    }
                }
                Host::Ldc2 => {
                    // ldc2 compiles and archives in the run itself.
                    for n in ["foo.d", "bar.d"] {
                        fs::copy(src.join(n), dir.join(n)).unwrap();
                    }
                }
                Host::Ghc => {
                    fs::copy(src.join("Foo.hs"), dir.join("Foo.hs")).unwrap();
                    checked(clean("ghc", &dir).args(["-c", "Foo.hs"]), "`ghc -c Foo.hs`");
                    for f in ["Foo.o", "Foo_stub.h"] {
                        assert!(dir.join(f).is_file(), "`ghc -c Foo.hs` made no {f}");
                    }
                }
            }
            Prepared { dir }
        })
    }

    /// A fresh directory `sub` of `dir` with the prepared inputs.
    fn workdir(self, dir: &TestDir, sub: &str) -> PathBuf {
        let w = dir.join(sub);
        copy_files(&self.prepared().dir, &w);
        w
    }

    fn plain(self, cwd: &Path) -> Command {
        let argv = self.argv();
        let mut cmd = clean(argv[0], cwd);
        cmd.args(&argv[1..]);
        cmd
    }

    fn shim(self, cwd: &Path, extra: &[&str]) -> Command {
        let argv = self.argv();
        let mut cmd = clean(companion(), cwd);
        cmd.arg("run")
            .args(self.run_opts())
            .args(extra)
            .arg("--")
            .args(&argv);
        cmd
    }

    /// (a) The archive's members are right and it links into a C program
    /// calling the library, which prints the expected result.
    fn assert_archive_works(self, cwd: &Path, run: &Outcome) {
        let archive = cwd.join(self.archive());
        let names = members(&archive, run);
        let src = common::real_src();
        let prog = cwd.join("prog");
        let (mut link, expected) = match self {
            Host::GccAr => {
                assert_eq!(
                    names,
                    ["ar_one.o", "ar_two.o", "ar_blob.o"],
                    "members of {}\n{}",
                    archive.display(),
                    run.describe()
                );
                let mut c = clean("cc", cwd);
                c.args(["-O2", "-flto", "-o"])
                    .arg(&prog)
                    .arg(src.join("ar_main.c"))
                    .arg(&archive);
                (c, "one(41) = 42, two(21) = 42, blob = 25165824 bytes\n")
            }
            Host::Ldc2 => {
                assert_eq!(
                    names,
                    ["foo.o", "bar.o"],
                    "members of {}\n{}",
                    archive.display(),
                    run.describe()
                );
                // The functions use no D runtime: no druntime/phobos needed.
                let mut c = clean("cc", cwd);
                c.arg("-o")
                    .arg(&prog)
                    .arg(src.join("d_main.c"))
                    .arg(&archive);
                (c, "foo_d(6) = 43, bar_d(6) = 4\n")
            }
            Host::Ghc => {
                // The static library holds Foo.o, the RTS and the Haskell
                // libraries it needs (hundreds of members).
                assert_eq!(
                    names.first().map(String::as_str),
                    Some("Foo.o"),
                    "first member\n{}",
                    run.describe()
                );
                assert!(
                    names.len() > 100,
                    "ghc -staticlib should bundle the RTS and base: {} members\n{}",
                    names.len(),
                    run.describe()
                );
                let nm = checked(Command::new("nm").arg("-A").arg(&archive), "`nm`");
                let nm = String::from_utf8_lossy(&nm.stdout);
                assert!(
                    nm.lines()
                        .any(|l| l.contains(":Foo.o:") && l.ends_with(" T foo")),
                    "`nm` shows no exported `T foo` in Foo.o of {}\n{}",
                    archive.display(),
                    run.describe()
                );
                let libdir = checked(
                    clean("ghc", cwd).arg("--print-libdir"),
                    "`ghc --print-libdir`",
                );
                let libdir = String::from_utf8_lossy(&libdir.stdout).trim().to_string();
                // Debian's ghc 9.0 RTS and base objects are not position
                // independent: link a non-PIE executable; the RTS needs gmp
                // and libffi (dependencies of the ghc package).
                let mut c = clean("cc", cwd);
                c.arg("-no-pie")
                    .arg(format!("-I{libdir}/include"))
                    .arg(format!("-I{}", cwd.display()))
                    .arg("-o")
                    .arg(&prog)
                    .arg(src.join("hs_main.c"))
                    .arg(&archive)
                    .args(["-lgmp", "-lffi", "-lm", "-ldl", "-lpthread", "-lrt"]);
                (c, "foo(10) = 110\n")
            }
        };
        checked(
            &mut link,
            &format!("linking a C program with {}", archive.display()),
        );
        let out = checked(
            &mut clean(&prog, cwd),
            "the C program linked with the archive",
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected,
            "the C program linked with {} printed the wrong result\n{}",
            archive.display(),
            run.describe()
        );
    }
}

/// `arshim run EXTRA --trace TRACE -- HOST…` in a fresh workdir `sub` of
/// `dir`, TRACE being `dir/SUB.trace.jsonl`: the workdir, the trace file
/// and the command.
fn shim_in(host: Host, dir: &TestDir, sub: &str, extra: &[&str]) -> (PathBuf, PathBuf, Command) {
    let cwd = host.workdir(dir, sub);
    let trace = dir.join(format!("{sub}.trace.jsonl"));
    let mut opts = extra.to_vec();
    opts.extend(["--trace", trace.to_str().unwrap()]);
    let cmd = host.shim(&cwd, &opts);
    (cwd, trace, cmd)
}

/// A run under `strace -f`: its outcome, the library's trace, strace's output.
struct Straced {
    out: Outcome,
    lines: Vec<String>,
    text: String,
}

impl Straced {
    /// Runs `cmd` under strace (its output in `dir/strace.txt`); `trace` is
    /// the trace file `cmd` writes.
    fn run(cmd: &Command, trace: &Path, dir: &TestDir, label: &str) -> Straced {
        let st = dir.join("strace.txt");
        let out = run(under_strace(cmd, &st), dir, label);
        Straced {
            out,
            lines: trace_lines(trace),
            text: fs::read_to_string(&st).unwrap_or_default(),
        }
    }

    /// All of it, for failure messages.
    fn ctx(&self) -> String {
        format!(
            "{}\n{}\n--- strace ---\n{}",
            self.out.describe(),
            trace_dump(&self.lines),
            self.text
        )
    }
}

/// The one load event of a process in scope (`ctx` for the failure message).
fn in_scope_load<'a>(lines: &'a [String], ctx: &str) -> &'a String {
    let claimed: Vec<_> = events(lines, "load")
        .into_iter()
        .filter(|l| json_raw_field(l, "in_scope").as_deref() == Some("true"))
        .collect();
    assert_eq!(
        claimed.len(),
        1,
        "exactly one process should be in scope\n{ctx}"
    );
    claimed[0]
}

/// The run `out` in `cwd` left the same archive bytes, stdout and stderr as
/// the run without the shim, `base` in `base_cwd` (`ctx` for the message).
fn assert_same_as_base(
    host: Host,
    (base_cwd, base): (&Path, &Outcome),
    (cwd, out): (&Path, &Outcome),
    ctx: &str,
) {
    assert_same_bytes(
        &base_cwd.join(host.archive()),
        &cwd.join(host.archive()),
        out,
    );
    assert_eq!(
        normalized(&out.stdout, cwd),
        normalized(&base.stdout, base_cwd),
        "stdout differs from the run without the shim\n{ctx}"
    );
    assert_eq!(
        normalized(&out.stderr, cwd),
        normalized(&base.stderr, base_cwd),
        "stderr differs from the run without the shim\n{ctx}"
    );
}

/// The run without the shim: exit 0, a working archive.
fn baseline(host: Host, dir: &TestDir) -> (PathBuf, Outcome) {
    let cwd = host.workdir(dir, "base");
    let out = run(host.plain(&cwd), dir, "base");
    out.assert_code(0);
    host.assert_archive_works(&cwd, &out);
    (cwd, out)
}

/// What the trace says about a converted run: the host's load event (claimed,
/// exec mode) and the `convert` (spawn time) or `handoff` (wait time) from
/// the host's pid. Returns the host's pid and that event.
fn assert_trace_converted(host: Host, lines: &[String], run: &Outcome) -> (u32, String) {
    let ctx = || format!("{}\n{}", run.describe(), trace_dump(lines));
    let claim = in_scope_load(lines, &ctx());
    let exe = json_str_field(claim, "exe").unwrap_or_default();
    assert!(
        host.exe_basename_matches(&exe),
        "the in-scope process is {exe}, not {}\n{}",
        host.label(),
        ctx()
    );
    assert_eq!(
        json_str_field(claim, "mode").as_deref(),
        Some("exec"),
        "{}",
        ctx()
    );
    let pid = json_num(claim, "pid").unwrap() as u32;
    let kind = if host == Host::GccAr {
        "handoff"
    } else {
        "convert"
    };
    let evs = events(lines, kind);
    assert_eq!(
        evs.len(),
        1,
        "the trace should have exactly one `{kind}` event\n{}",
        ctx()
    );
    let ev = evs[0].clone();
    assert_eq!(
        json_num(&ev, "pid"),
        Some(pid as i64),
        "`{kind}` not from the host's pid {pid}\n{}",
        ctx()
    );
    let other = if kind == "convert" {
        "handoff"
    } else {
        "convert"
    };
    assert!(
        events(lines, other).is_empty(),
        "unexpected `{other}` event\n{}",
        ctx()
    );
    assert!(
        events(lines, "fallback").is_empty(),
        "unexpected `fallback` event\n{}",
        ctx()
    );
    (pid, ev)
}

// ---------------------------------------------------------------------------
// (a) (b) the converted run: right archive, same bytes, same output

/// Converted runs per host in [`converts`]: a conversion must happen every time.
const ROUNDS: usize = 3;

fn converts(host: Host) {
    let dir = TestDir::new(&format!("real-{}-converts", host.label()));
    let (base_cwd, base) = baseline(host, &dir);
    for round in 1..=ROUNDS {
        converted_run(host, &dir, &base_cwd, &base, &format!("shim{round}"));
    }
}

fn converted_run(host: Host, dir: &TestDir, base_cwd: &Path, base: &Outcome, label: &str) {
    let (cwd, trace, cmd) = shim_in(host, dir, label, &[]);
    let out = run(cmd, dir, label);
    let lines = trace_lines(&trace);
    assert_eq!(
        out.code(),
        base.code(),
        "exit status differs from the run without the shim ({:?})\n{}\n{}",
        base.code(),
        out.describe(),
        trace_dump(&lines)
    );
    let (pid, ev) = assert_trace_converted(host, &lines, &out);
    // `arshim run` execs the host: the host's pid is the pid the test started.
    assert_eq!(
        pid,
        out.pid,
        "the host is not the process `arshim run` became\n{}",
        trace_dump(&lines)
    );
    match host {
        Host::GccAr => {
            let prog = json_str_field(&ev, "program").unwrap_or_default();
            assert_eq!(
                basename(&prog),
                "ar",
                "handoff of the wrong program\n{}",
                trace_dump(&lines)
            );
            assert_eq!(
                events(&lines, "reap").len(),
                1,
                "the reaper did not start\n{}",
                trace_dump(&lines)
            );
        }
        Host::Ldc2 => {
            assert_eq!(
                json_str_field(&ev, "path").as_deref(),
                Some("/usr/bin/ar"),
                "{}",
                trace_dump(&lines)
            );
        }
        Host::Ghc => {
            assert_eq!(
                json_str_field(&ev, "call").as_deref(),
                Some("posix_spawnp"),
                "{}",
                trace_dump(&lines)
            );
            let path = json_str_field(&ev, "path").unwrap_or_default();
            assert_eq!(
                basename(&path),
                "x86_64-linux-gnu-ranlib",
                "{}",
                trace_dump(&lines)
            );
            // ghc feeds the archiver's stdin from a pipe and reads its
            // stdout/stderr: the notes say what became of them.
            let notes = json_raw_field(&ev, "notes").unwrap_or_default();
            let raw = ev.clone();
            assert!(
                raw.contains("fd 0") && raw.contains("/dev/null"),
                "the notes should say the stdin pipe became /dev/null: {notes}\n{}",
                trace_dump(&lines)
            );
            assert!(
                raw.contains("fd 1") && raw.contains("fd 2"),
                "the notes should say the stdout/stderr capture pipes were not replayed\n{}",
                trace_dump(&lines)
            );
        }
    }
    host.assert_archive_works(&cwd, &out);
    assert_same_as_base(
        host,
        (base_cwd, base),
        (&cwd, &out),
        &format!("{}\n{}", base.describe(), out.describe()),
    );
}

#[test]
fn gcc_ar_converts_archive_right_and_identical() {
    converts(Host::GccAr);
}

#[test]
fn ldc2_converts_archive_right_and_identical() {
    converts(Host::Ldc2);
}

#[test]
fn ghc_staticlib_converts_archive_right_and_identical() {
    converts(Host::Ghc);
}

// ---------------------------------------------------------------------------
// (c) a failing archiver: the same exit status as without the shim

fn failing_archiver(host: Host) {
    host.require();
    let dir = TestDir::new(&format!("real-{}-failing", host.label()));
    let bin = failing_standin(&dir, host.archiver_name());
    let path = path_with(&bin);

    let base_cwd = host.workdir(&dir, "base");
    let mut cmd = host.plain(&base_cwd);
    cmd.env("PATH", &path);
    let base = run(cmd, &dir, "base");
    assert!(
        base.stderr.contains("failing stand-in"),
        "without the shim, {} did not run the failing stand-in {}\n{}",
        host.label(),
        bin.join(host.archiver_name()).display(),
        base.describe()
    );
    assert_ne!(
        base.code(),
        Some(0),
        "the host should fail when its archiver fails\n{}",
        base.describe()
    );

    let (_cwd, trace, mut cmd) = shim_in(host, &dir, "shim", &[]);
    cmd.env("PATH", &path);
    let out = run(cmd, &dir, "shim");
    let lines = trace_lines(&trace);
    assert!(
        out.stderr.contains("failing stand-in"),
        "with the shim, the failing stand-in did not run\n{}\n{}",
        out.describe(),
        trace_dump(&lines)
    );
    // The failing archiver was really converted (not left to the real call).
    assert!(
        !events(&lines, "convert").is_empty() || !events(&lines, "handoff").is_empty(),
        "the failing archiver's spawn was not converted: this run does not test the converted path\n{}\n{}",
        out.describe(),
        trace_dump(&lines)
    );
    assert_eq!(
        (out.code(), out.status.signal()),
        (base.code(), base.status.signal()),
        "{}: exit status with the shim differs from the run without it when the archiver fails \
         (the archiver exits 3)\n--- without the shim ---\n{}\n--- with the shim ---\n{}\n{}",
        host.label(),
        base.describe(),
        out.describe(),
        trace_dump(&lines)
    );
    // ldc2 and ghc say the failure in their own line, which the reaper
    // prints for them (docs/DESIGN.md, "Conversion" 6): stderr is the same
    // too (gcc-ar passes the archiver's status on and says nothing).
    if matches!(host, Host::Ldc2 | Host::Ghc) {
        assert_eq!(out.stderr, base.stderr, "{}", out.describe());
    }
}

#[test]
fn gcc_ar_failing_archiver_same_exit_status() {
    failing_archiver(Host::GccAr);
}

#[test]
fn ldc2_failing_archiver_same_exit_status() {
    failing_archiver(Host::Ldc2);
}

#[test]
fn ghc_failing_ranlib_same_exit_status() {
    failing_archiver(Host::Ghc);
}

// ---------------------------------------------------------------------------
// (d) proof with strace -f: who exec'd the archiver, in which pid

fn strace_proof(host: Host) {
    host.require();
    let dir = TestDir::new(&format!("real-{}-strace", host.label()));
    let (cwd, trace, cmd) = shim_in(host, &dir, "shim", &[]);
    let st = Straced::run(&cmd, &trace, &dir, "strace");
    let (out, lines, text) = (&st.out, &st.lines, &st.text);
    let ctx = || st.ctx();
    out.assert_code(0);
    host.assert_archive_works(&cwd, out);

    let execs = strace_execs(text);
    let host_pid = run_pid(&execs, text);
    let (trace_pid, ev) = assert_trace_converted(host, lines, out);
    assert_eq!(
        trace_pid,
        host_pid,
        "the trace's host pid is not the pid strace saw run the host\n{}",
        ctx()
    );
    let in_host: Vec<&Exec> = execs.iter().filter(|e| e.ok && e.pid == host_pid).collect();
    assert!(
        in_host.iter().any(|e| host.exe_basename_matches(&e.path)),
        "strace shows no execve of {} in pid {host_pid}\n{}",
        host.label(),
        ctx()
    );
    match host {
        Host::Ldc2 | Host::Ghc => {
            // Spawn time, through the reaper: ldc2 and ghc report any archiver
            // failure as exit 1, so `arshim run` (known hosts) has the library
            // exec the reaper in the host's pid, which runs the archiver as
            // its child and reports a failure the way the host would.
            let archiver = json_str_field(&ev, "path").unwrap();
            let comp = reaper().display().to_string();
            let reap_idx = execs
                .iter()
                .position(|e| e.ok && e.pid == host_pid && e.path == comp && e.line.contains("\"run\""))
                .unwrap_or_else(|| {
                    panic!("strace shows no execve of the reaper ({comp} __reap run) in the host's pid {host_pid}\n{}", ctx())
                });
            assert_eq!(
                in_host.last().map(|e| e.path.as_str()),
                Some(comp.as_str()),
                "the reaper should be the host pid's last image\n{}",
                ctx()
            );
            let reap = events(lines, "reap");
            assert!(
                reap.len() == 1 && json_num(reap[0], "pid") == Some(host_pid as i64),
                "the trace's `reap` event should come from the host's pid {host_pid}\n{}",
                ctx()
            );
            let child = json_num(reap[0], "child").expect("reap without child") as u32;
            let ar_idx = execs
                .iter()
                .position(|e| e.ok && e.pid == child && e.path == archiver)
                .unwrap_or_else(|| {
                    panic!(
                        "strace shows no execve of {archiver} in the reaper's child {child}\n{}",
                        ctx()
                    )
                });
            assert!(
                reap_idx < ar_idx,
                "the archiver ran before the reaper replaced the host\n{}",
                ctx()
            );
            let elsewhere: Vec<_> = execs
                .iter()
                .filter(|e| e.ok && e.path == archiver && e.pid != child)
                .collect();
            assert!(
                elsewhere.is_empty(),
                "the archiver also ran in another process: {elsewhere:?}\n{}",
                ctx()
            );
        }
        Host::GccAr => {
            // Wait time: gcc-ar vforks ar (a child), then the host's pid
            // becomes the companion's reaper (`arshim __reap`), which waits
            // for that child.
            let child = json_num(&ev, "child").expect("handoff without child") as u32;
            let ar_idx = execs
                .iter()
                .position(|e| e.ok && e.pid == child && basename(&e.path) == "ar")
                .unwrap_or_else(|| {
                    panic!(
                        "strace shows no execve of ar in the handoff's child {child}\n{}",
                        ctx()
                    )
                });
            let comp = reaper().display().to_string();
            let reap_idx = execs
                .iter()
                .position(|e| e.ok && e.pid == host_pid && e.path == comp && e.line.contains("\"__reap\""))
                .unwrap_or_else(|| panic!("strace shows no execve of the reaper ({comp} __reap) in the host's pid {host_pid}\n{}", ctx()));
            assert!(
                ar_idx < reap_idx,
                "the reaper replaced the host before ar was exec'd\n{}",
                ctx()
            );
            assert_eq!(
                in_host.last().map(|e| e.path.as_str()),
                Some(comp.as_str()),
                "the reaper should be the host pid's last image\n{}",
                ctx()
            );
            let reap = events(lines, "reap");
            assert!(
                reap.len() == 1 && json_num(reap[0], "pid") == Some(host_pid as i64),
                "the trace's `reap` event should come from the host's pid {host_pid}\n{}",
                ctx()
            );
        }
    }
}

#[test]
fn gcc_ar_strace_shows_reaper_in_host_pid() {
    strace_proof(Host::GccAr);
}

#[test]
fn ldc2_strace_shows_ar_in_host_pid() {
    strace_proof(Host::Ldc2);
}

#[test]
fn ghc_strace_shows_ranlib_in_host_pid() {
    strace_proof(Host::Ghc);
}

// ---------------------------------------------------------------------------
// --observe: no behaviour change

fn observe_changes_nothing(host: Host) {
    let dir = TestDir::new(&format!("real-{}-observe", host.label()));
    let (base_cwd, base) = baseline(host, &dir);

    let (cwd, trace, cmd) = shim_in(host, &dir, "observe", &["--observe"]);
    let st = Straced::run(&cmd, &trace, &dir, "observe");
    let (out, lines, text) = (&st.out, &st.lines, &st.text);
    let ctx = || st.ctx();
    assert_eq!(
        out.code(),
        base.code(),
        "exit status differs from the run without the shim\n{}",
        ctx()
    );
    host.assert_archive_works(&cwd, out);
    assert_same_as_base(host, (&base_cwd, &base), (&cwd, out), &ctx());

    // The library was there, observing, in the host ...
    let claim = in_scope_load(lines, &ctx());
    assert_eq!(
        json_str_field(claim, "mode").as_deref(),
        Some("observe"),
        "{}",
        ctx()
    );
    let exe = json_str_field(claim, "exe").unwrap_or_default();
    assert!(
        host.exe_basename_matches(&exe),
        "in-scope process {exe}\n{}",
        ctx()
    );
    let host_pid = json_num(claim, "pid").unwrap() as u32;
    // ... it saw the archiver end ...
    let done = events(lines, "archiver_done");
    assert!(
        done.iter()
            .any(|l| json_num(l, "pid") == Some(host_pid as i64)),
        "no `archiver_done` from the host's pid {host_pid}\n{}",
        ctx()
    );
    // ... and changed nothing: no conversion, the archiver was a separate process.
    for ev in ["convert", "handoff", "defer"] {
        assert!(
            events(lines, ev).is_empty(),
            "`{ev}` event in observe mode\n{}",
            ctx()
        );
    }
    let execs = strace_execs(text);
    assert_eq!(run_pid(&execs, text), host_pid, "{}", ctx());
    let archiver = host.archiver_name();
    let in_host: Vec<_> = execs.iter().filter(|e| e.ok && e.pid == host_pid).collect();
    assert!(
        in_host.iter().all(|e| basename(&e.path) != archiver
            && !(e.path == companion().display().to_string() && e.line.contains("__reap"))),
        "observe mode exec'd the archiver or the reaper in the host's pid\n{}",
        ctx()
    );
    assert!(
        execs
            .iter()
            .any(|e| e.ok && e.pid != host_pid && basename(&e.path) == archiver),
        "strace shows no archiver process\n{}",
        ctx()
    );
}

#[test]
fn gcc_ar_observe_changes_nothing() {
    observe_changes_nothing(Host::GccAr);
}

#[test]
fn ldc2_observe_changes_nothing() {
    observe_changes_nothing(Host::Ldc2);
}

#[test]
fn ghc_observe_changes_nothing() {
    observe_changes_nothing(Host::Ghc);
}

/// `ghc -staticlib` from source: after ranlib ghc deletes its temp files and
/// its temp dir (`$TMPDIR/ghcPID_0`) in its main code — its own files and
/// the `.s`/`.o` its gcc and as children were told (`-o`) to write there,
/// which count as its own (docs/DESIGN.md, "Conversion" 12). verify says
/// SAFE, the deletions taken over; `arshim run` converts it without
/// `--force`, the reaper removes them all: nothing is left in TMPDIR, and the
/// archive is that of the run without the shim (but for the mtime ghc's own
/// archive writer gives Foo.o, the time it was compiled).
#[test]
fn ghc_from_source_converts_and_leaves_nothing() {
    Host::Ghc.require();
    let dir = TestDir::new("real-ghc-source");
    let fresh = |sub: &str| {
        let cwd = dir.join(sub);
        fs::create_dir_all(cwd.join("tmp")).unwrap();
        fs::copy(common::real_src().join("Foo.hs"), cwd.join("Foo.hs")).unwrap();
        cwd
    };
    let argv = ["-staticlib", "-o", "libfoo_hs.a", "Foo.hs"];
    let left = |cwd: &Path| -> Vec<String> {
        fs::read_dir(cwd.join("tmp"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };

    let base_cwd = fresh("base");
    let mut cmd = clean("ghc", &base_cwd);
    cmd.env("TMPDIR", base_cwd.join("tmp")).args(argv);
    let base = run(cmd, &dir, "base");
    base.assert_code(0);
    Host::Ghc.assert_archive_works(&base_cwd, &base);
    assert!(left(&base_cwd).is_empty(), "{:?}", left(&base_cwd));

    let cwd = fresh("verify");
    let mut cmd = clean(companion(), &cwd);
    cmd.env("TMPDIR", cwd.join("tmp"))
        .env("XDG_CACHE_HOME", dir.join("xdg-cache"))
        .args(["verify", "--", "ghc"])
        .args(argv);
    let out = run(cmd, &dir, "verify");
    out.assert_code(0);
    assert!(
        out.stdout.contains("verdict: SAFE — ")
            && out
                .stdout
                .contains("taken over by the conversion: yes (all gone after the converted run)"),
        "{}",
        out.describe()
    );
    assert!(left(&cwd).is_empty(), "{:?}", left(&cwd));

    let cwd = fresh("run");
    let trace = dir.join("run.trace.jsonl");
    let mut cmd = clean(companion(), &cwd);
    cmd.env("TMPDIR", cwd.join("tmp"))
        .env("XDG_CACHE_HOME", dir.join("xdg-cache-run"))
        .args(["run", "--trace", trace.to_str().unwrap(), "--", "ghc"])
        .args(argv);
    let out = run(cmd, &dir, "run");
    let lines = trace_lines(&trace);
    out.assert_code(0);
    assert!(
        !events(&lines, "convert").is_empty(),
        "{}\n{}",
        out.describe(),
        trace_dump(&lines)
    );
    assert_eq!((&out.stdout, &out.stderr), (&base.stdout, &base.stderr));
    Host::Ghc.assert_archive_works(&cwd, &out);
    let archive = |cwd: &Path| without_mtimes(&fs::read(cwd.join("libfoo_hs.a")).unwrap());
    assert!(archive(&cwd) == archive(&base_cwd), "the archives differ");
    assert!(
        left(&cwd).is_empty(),
        "{:?}\n{}",
        left(&cwd),
        trace_dump(&lines)
    );
}

/// An `ar` archive with each member header's mtime field blanked.
fn without_mtimes(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut at = 8; // "!<arch>\n"
    while at + 60 <= out.len() {
        let size: usize = std::str::from_utf8(&out[at + 48..at + 58])
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        out[at + 16..at + 28].fill(b' ');
        at += 60 + size + size % 2;
    }
    out
}

// ---------------------------------------------------------------------------
// Must refuse: `arshim verify` on hosts that work after the archiver

fn verify_output(out: &Outcome) -> String {
    format!("{}\n{}", out.stdout, out.stderr)
}

fn assert_not_safe(out: &Outcome) {
    assert_ne!(
        out.code(),
        Some(0),
        "`arshim verify` should exit non-zero on a non-final host\n{}",
        out.describe()
    );
    assert!(
        verify_output(out).contains("NOT SAFE"),
        "`arshim verify` should say NOT SAFE\n{}",
        out.describe()
    );
}

/// nim: `system("ar rcs …")`, then it writes `<nimcache>/libfoo_nim.json`
/// and prints its `[SuccessX]` hint on stderr.
#[test]
fn verify_refuses_nim() {
    require("nim", "nim");
    require("ar", "binutils");
    let dir = TestDir::new("real-verify-nim");
    let cwd = dir.join("work");
    fs::create_dir_all(&cwd).unwrap();
    fs::copy(common::real_src().join("foo.nim"), cwd.join("foo.nim")).unwrap();
    let nimcache = cwd.join("nimcache");
    let args = [
        "c".to_string(),
        "--app:staticlib".into(),
        "--noMain".into(),
        format!("--nimcache:{}", nimcache.display()),
        "-o:libfoo_nim.a".into(),
        "foo.nim".into(),
    ];

    // The fixture works without the shim: archive, then the json written after it.
    let mut cmd = clean("nim", &cwd);
    cmd.args(&args);
    let base = run(cmd, &dir, "base");
    base.assert_code(0);
    let json = nimcache.join("libfoo_nim.json");
    assert!(
        json.is_file(),
        "nim wrote no {}\n{}",
        json.display(),
        base.describe()
    );
    assert!(!members(&cwd.join("libfoo_nim.a"), &base).is_empty());

    let mut cmd = clean(companion(), &cwd);
    cmd.env("XDG_CACHE_HOME", dir.join("xdg-cache"))
        .args(["verify", "--", "nim"])
        .args(&args);
    let out = run(cmd, &dir, "verify");
    assert_not_safe(&out);
    // It names what happens after the archiver: the json file it writes, or
    // the hint it prints (a line about stdout/stderr that is not just the
    // echoed command).
    let text = verify_output(&out);
    let names_json = text.contains("libfoo_nim.json");
    let names_print = text.lines().any(|l| {
        !l.contains("foo.nim")
            && ["fd 1", "fd 2", "stdout", "stderr", "printed", "prints"]
                .iter()
                .any(|k| l.contains(k))
    });
    assert!(
        names_json || names_print,
        "`arshim verify` should name what nim does after the archiver \
         (writes {} / prints its hint)\n{}",
        json.display(),
        out.describe()
    );
}

/// ocamlopt: `system("…-ar rc foo.a foo.o")`, then `system("…-ranlib foo.a")`,
/// then it writes foo.cmxa (converting leaves a 0-byte foo.cmxa).
#[test]
fn verify_refuses_ocamlopt() {
    require("ocamlopt", "ocaml-nox");
    require("ar", "binutils");
    let dir = TestDir::new("real-verify-ocamlopt");
    let cwd = dir.join("work");
    fs::create_dir_all(&cwd).unwrap();
    fs::copy(common::real_src().join("foo.ml"), cwd.join("foo.ml")).unwrap();
    checked(
        clean("ocamlopt", &cwd).args(["-c", "foo.ml"]),
        "`ocamlopt -c foo.ml`",
    );
    let args = ["-a", "-o", "foo.cmxa", "foo.cmx"];

    let mut cmd = clean("ocamlopt", &cwd);
    cmd.args(args);
    let base = run(cmd, &dir, "base");
    base.assert_code(0);
    let cmxa = cwd.join("foo.cmxa");
    let len = fs::metadata(&cmxa).map(|m| m.len()).unwrap_or(0);
    assert!(
        len > 0,
        "ocamlopt wrote no (or an empty) {}\n{}",
        cmxa.display(),
        base.describe()
    );
    assert!(!members(&cwd.join("foo.a"), &base).is_empty());

    let mut cmd = clean(companion(), &cwd);
    cmd.env("XDG_CACHE_HOME", dir.join("xdg-cache"))
        .args(["verify", "--", "ocamlopt"])
        .args(args);
    let out = run(cmd, &dir, "verify");
    assert_not_safe(&out);
    // It names what happens after the archiver: ranlib, or the .cmxa written
    // (in a line that is not just the echoed command).
    let text = verify_output(&out);
    let names_ranlib = text.contains("ranlib");
    let names_cmxa = text
        .lines()
        .any(|l| l.contains("foo.cmxa") && !l.contains("ocamlopt"));
    assert!(
        names_ranlib || names_cmxa,
        "`arshim verify` should name what ocamlopt does after the archiver (ranlib, writing foo.cmxa)\n{}",
        out.describe()
    );
}
