//! A host that runs the compiler driver several times (docs/DESIGN.md,
//! "Conversion" 10): only the run that links can be its final spawn, and
//! only that one is converted; `arshim verify` judges exactly that spawn.
//!
//! The host (tests/hosts/link_host.c) runs `gcc -c a.c`, `gcc -c b.c`, then
//! `gcc a.o b.o -o prog` (with posix_spawnp, with fork + exec, or with the
//! link's arguments in `@link.rsp`); each case runs without and with the
//! library (`--tools gcc,cc`) in sibling directories and compares what a
//! user sees: the exit status, stdout and stderr (ld's warning about `one`
//! included), `prog` byte for byte, and what `prog` prints. A link whose
//! output the host reads through a pipe is never converted ("Conversion"
//! 5), nor is ghc's (`ghc -o prog Main.hs`, `--tools '*gcc*'`).

use common::{
    arshim_run, checked, companion, compile_c, dump_trace, fixtures, hosts_src, json_str_field,
    json_str_list, library, trace_lines, Outcome, TestDir,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The programs the library takes as its tools here.
const TOOLS: &str = "gcc,cc";

/// `a.c` defines `one`, with a link-time warning on its use (ld prints it
/// whenever `b.o`'s reference to it is linked); `b.c` calls it.
const A_C: &str = "int one(void) { return 1; }\n\
    static const char warn[] __attribute__((used, section(\".gnu.warning.one\"))) =\n\
    \"one is only a test\";\n";
const B_C: &str = "#include <stdio.h>\nint one(void);\n\
    int main(void) { printf(\"prog: one() = %d\\n\", one()); return 0; }\n";

fn host() -> &'static Path {
    static HOST: OnceLock<PathBuf> = OnceLock::new();
    HOST.get_or_init(|| {
        let out = fixtures().dir.join("link_host");
        compile_c(&hosts_src().join("link_host.c"), &out);
        out
    })
}

/// A run directory holding the two sources.
fn sources(dir: &TestDir, name: &str) -> PathBuf {
    let run = dir.join(name);
    fs::create_dir_all(&run).unwrap();
    fs::write(run.join("a.c"), A_C).unwrap();
    fs::write(run.join("b.c"), B_C).unwrap();
    run
}

/// What a run left that a user sees.
struct Seen {
    out: Outcome,
    prog: Vec<u8>,
    /// What `prog` prints.
    says: String,
}

fn seen(out: Outcome, run: &Path) -> Seen {
    let prog = fs::read(run.join("prog"))
        .unwrap_or_else(|e| panic!("no prog in {}: {e}\n{}", run.display(), out.describe()));
    let said = checked(&mut Command::new(run.join("prog")), "the linked prog");
    Seen {
        out,
        prog,
        says: String::from_utf8_lossy(&said.stdout).into_owned(),
    }
}

/// The host in `mode` without the library, in `dir/plain`.
fn without(dir: &TestDir, cmd_args: &[&str]) -> Seen {
    let run = sources(dir, "plain");
    let mut cmd = common::command(cmd_args[0], dir);
    cmd.args(&cmd_args[1..]).current_dir(&run);
    seen(common::run(cmd, dir, "plain"), &run)
}

/// The same under `arshim run OPTS --trace T`, in `dir/shim`: what it
/// left, and its trace's lines.
fn with(dir: &TestDir, opts: &[&str], cmd_args: &[&str]) -> (Seen, Vec<String>) {
    let run = sources(dir, "shim");
    let trace = dir.join("trace.jsonl");
    let mut all = opts.to_vec();
    all.extend(["--trace", trace.to_str().unwrap()]);
    let mut cmd = arshim_run(&all, cmd_args[0], dir);
    cmd.args(&cmd_args[1..]).current_dir(&run);
    let out = common::run(cmd, dir, "shim");
    (seen(out, &run), trace_lines(&trace))
}

fn assert_same(plain: &Seen, shim: &Seen, trace: &[String]) {
    let context = || {
        format!(
            "{}\n{}\n{}",
            plain.out.describe(),
            shim.out.describe(),
            trace.join("\n")
        )
    };
    assert_eq!(plain.out.status, shim.out.status, "{}", context());
    assert_eq!(plain.out.stdout, shim.out.stdout, "{}", context());
    assert_eq!(plain.out.stderr, shim.out.stderr, "{}", context());
    assert!(plain.prog == shim.prog, "prog differs\n{}", context());
    assert_eq!(plain.says, "prog: one() = 1\n");
    assert_eq!(plain.says, shim.says, "{}", context());
}

/// The trace's events named in `names`, in order.
fn events_named<'a>(trace: &'a [String], names: &[&str]) -> Vec<&'a String> {
    trace
        .iter()
        .filter(|l| json_str_field(l, "event").is_some_and(|e| names.contains(&e.as_str())))
        .collect()
}

/// The gcc runs that compile are left alone with the driver's reason (a
/// spawned one at its spawn and again at its wait); the link alone, last,
/// is converted.
fn assert_only_the_link_converted(trace: &[String], took_over: &str) {
    let seq: Vec<String> = events_named(trace, &["fallback", "convert", "handoff"])
        .iter()
        .map(|l| json_str_field(l, "event").unwrap())
        .collect();
    let (last, before) = seq.split_last().unwrap();
    assert!(
        last == took_over && before.len() >= 2 && before.iter().all(|e| e == "fallback"),
        "{seq:?}\n{}",
        trace.join("\n")
    );
    for f in events_named(trace, &["fallback"]) {
        let reason = json_str_field(f, "reason").unwrap();
        assert!(
            reason.contains("compiles only (-c)"),
            "{reason}\n{}",
            trace.join("\n")
        );
    }
}

fn converted_case(name: &str, mode: &str, took_over: &str) {
    let dir = TestDir::new(name);
    let args = [host().to_str().unwrap(), mode, "gcc"];
    let plain = without(&dir, &args);
    let (shim, trace) = with(&dir, &["--tools", TOOLS], &args);
    assert_same(&plain, &shim, &trace);
    assert_only_the_link_converted(&trace, took_over);
}

#[test]
fn posix_spawned_link_alone_is_converted() {
    converted_case("link-spawn", "spawn", "convert");
}

#[test]
fn forked_link_alone_is_handed_off() {
    let dir = TestDir::new("link-fork");
    let args = [host().to_str().unwrap(), "fork", "gcc"];
    let plain = without(&dir, &args);
    let (shim, trace) = with(&dir, &["--tools", TOOLS], &args);
    assert_same(&plain, &shim, &trace);
    assert_only_the_link_converted(&trace, "handoff");
    let handoff = events_named(&trace, &["handoff"])[0];
    let argv = json_str_list(handoff, "argv").unwrap();
    assert_eq!(argv, ["gcc", "a.o", "b.o", "-o", "prog"], "{handoff}");
}

#[test]
fn link_through_a_response_file_alone_is_converted() {
    converted_case("link-rsp", "rsp", "convert");
}

/// The last spawn's fallback (the link's) gives the captured output as
/// its reason (its wait is the wait-time rule's: "Conversion" 2).
fn assert_link_left_alone(trace: &[String]) {
    let at_spawn: Vec<&String> = events_named(trace, &["fallback"])
        .into_iter()
        .filter(|l| json_str_field(l, "call").as_deref() != Some("wait"))
        .collect();
    let last = json_str_field(at_spawn.last().unwrap(), "reason").unwrap();
    assert!(
        last.starts_with("the host captures the output of its compiler driver or linker"),
        "{last}\n{}",
        trace.join("\n")
    );
}

/// `arshim verify --tools gcc,cc -- link_host MODE gcc` in a fresh dir.
fn verify(dir: &TestDir, cmd_args: &[&str], tools: &str) -> Outcome {
    let run = sources(dir, "verify");
    let mut cmd = common::command(companion(), dir);
    cmd.env("XDG_CACHE_HOME", dir.join("cache"))
        .env("ARSHIM_LIB", library())
        .args(["verify", "--tools", tools, "--"])
        .args(cmd_args)
        .current_dir(&run);
    common::run_timed(cmd, dir, "verify", common::TIMEOUT * 4).outcome_lossy()
}

fn assert_says(out: &Outcome, needles: &[&str]) {
    for needle in needles {
        assert!(
            out.stdout.contains(needle),
            "{needle:?} missing\n{}",
            out.describe()
        );
    }
}

#[test]
fn verify_judges_the_link_and_finds_it_safe() {
    for (mode, link, call) in [
        (
            "spawn",
            "`gcc a.o b.o -o prog` (posix_spawnp)",
            "(posix_spawnp)",
        ),
        ("fork", "`gcc a.o b.o -o prog` (fork)", "(fork)"),
        ("rsp", "`gcc @link.rsp` (posix_spawnp)", "(posix_spawnp)"),
    ] {
        let dir = TestDir::new(&format!("link-verify-{mode}"));
        let out = verify(&dir, &[host().to_str().unwrap(), mode, "gcc"], TOOLS);
        assert_says(
            &out,
            &[
                "verdict: SAFE — ",
                &format!("link:     {link}"),
                "prog is byte for byte the same",
                &format!("not converted: `gcc -c a.c -o a.o` {call}: the compiler driver compiles only (-c)"),
                &format!("not converted: `gcc -c b.c -o b.o` {call}: "),
            ],
        );
        out.assert_code(0);
    }
}

#[test]
fn captured_link_output_is_not_converted() {
    let dir = TestDir::new("link-capture");
    let args = [host().to_str().unwrap(), "capture", "gcc"];
    let plain = without(&dir, &args);
    assert!(
        plain
            .out
            .stdout
            .contains("host: the linker said: [/usr/bin/ld: b.o: in function `main':"),
        "{}",
        plain.out.describe()
    );
    let (shim, trace) = with(&dir, &["--tools", TOOLS], &args);
    assert_same(&plain, &shim, &trace);
    assert!(
        events_named(&trace, &["convert", "handoff"]).is_empty(),
        "{}",
        trace.join("\n")
    );
    assert_link_left_alone(&trace);

    let out = verify(&TestDir::new("link-capture-verify"), &args, TOOLS);
    assert_says(
        &out,
        &[
            "verdict: CANNOT TELL — ",
            "the library would convert none of the 3 call(s) that matched the archiver globs; \
             the last, `gcc a.o b.o -o prog` (posix_spawnp), is not converted: the host \
             captures the output of its compiler driver or linker through a pipe",
        ],
    );
    out.assert_code(2);
}

/// ghc 9.0 (`.ci/run` installs it): `ghc -o prog Main.hs` with two modules
/// runs gcc to assemble each module, to compile its C stubs, to probe the
/// linker, and last to link through an `@rsp` file, with its output on
/// pipes that ghc reads: nothing is converted, and the build is the same.
const MAIN_HS: &str = "import A\nmain :: IO ()\nmain = print (answer + 1)\n";
const A_HS: &str = "module A where\nanswer :: Int\nanswer = 41\n";

fn ghc_sources(dir: &TestDir, name: &str) -> PathBuf {
    let run = dir.join(name);
    fs::create_dir_all(&run).unwrap();
    fs::write(run.join("Main.hs"), MAIN_HS).unwrap();
    fs::write(run.join("A.hs"), A_HS).unwrap();
    run
}

fn ghc_run(dir: &TestDir, name: &str, opts: Option<&[&str]>) -> (Outcome, PathBuf) {
    let run = ghc_sources(dir, name);
    let ghc = ["ghc", "-o", "prog", "Main.hs"];
    let mut cmd = match opts {
        None => common::command(ghc[0], dir),
        Some(opts) => arshim_run(opts, ghc[0], dir),
    };
    cmd.args(&ghc[1..]).current_dir(&run);
    let out = common::run_timed(cmd, dir, name, common::TIMEOUT * 4).outcome_lossy();
    (out, run)
}

#[test]
fn ghc_link_is_not_converted_and_verify_names_it() {
    let dir = TestDir::new("link-ghc");
    let (plain, plain_dir) = ghc_run(&dir, "plain", None);
    plain.assert_code(0);
    let trace = dir.join("trace.jsonl");
    let opts = [
        "--tools",
        "*gcc*",
        "--force",
        "--trace",
        trace.to_str().unwrap(),
    ];
    let (shim, shim_dir) = ghc_run(&dir, "shim", Some(&opts));
    let lines = trace_lines(&trace);
    let context = format!(
        "{}\n{}\n{}",
        plain.describe(),
        shim.describe(),
        dump_trace(&trace)
    );
    assert_eq!(plain.status, shim.status, "{context}");
    assert_eq!(plain.stdout, shim.stdout, "{context}");
    let forced = |l: &&str| l.starts_with("arshim: warning: converting ghc although ");
    let stderr: Vec<&str> = shim.stderr.lines().filter(|l| !forced(l)).collect();
    assert_eq!(
        plain.stderr.lines().collect::<Vec<_>>(),
        stderr,
        "{context}"
    );
    let said = |d: &Path| checked(&mut Command::new(d.join("prog")), "ghc's prog").stdout;
    assert_eq!(said(&plain_dir), b"42\n");
    assert_eq!(said(&plain_dir), said(&shim_dir), "{context}");
    assert!(
        fs::read(plain_dir.join("prog")).unwrap() == fs::read(shim_dir.join("prog")).unwrap(),
        "prog differs\n{context}"
    );
    assert!(
        events_named(&lines, &["convert", "handoff"]).is_empty(),
        "{context}"
    );
    assert_link_left_alone(&lines);

    let run = ghc_sources(&dir, "verify");
    let mut cmd = common::command(companion(), &dir);
    cmd.env("XDG_CACHE_HOME", dir.join("cache"))
        .env("ARSHIM_LIB", library())
        .args([
            "verify", "--tools", "*gcc*", "--", "ghc", "-o", "prog", "Main.hs",
        ])
        .current_dir(&run);
    let out = common::run_timed(cmd, &dir, "verify", common::TIMEOUT * 4).outcome_lossy();
    assert_says(
        &out,
        &[
            "verdict: CANNOT TELL — ",
            "the last, `x86_64-linux-gnu-gcc @/tmp/ghc",
            ".rsp` (posix_spawnp), is not converted: the host captures the output of its \
             compiler driver or linker through a pipe",
            "not converted: `x86_64-linux-gnu-gcc -v` (posix_spawnp): the compiler driver has \
             no input file",
        ],
    );
    out.assert_code(2);
}
