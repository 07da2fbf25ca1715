//! Compilers whose last act is the system linker (docs/DESIGN.md,
//! "Compilers"; README, "Known hosts"), on real toolchains: ldc2 (Debian's
//! `ldc`), rustc and cargo (the toolchain that builds this workspace), ghc.
//! A missing tool is a test failure, never a skip. Each test runs the same
//! build without the shim (in `a/`) and with it (in `b/`, the same sources)
//! and compares what a user sees.
//!
//! | host | command | with arshim |
//! |---|---|---|
//! | ldc2 | `ldc2 app.d -of=app`; `sh -c 'ldc2 …'` under `--hosts ldc2` (and with `--tools 'ar,*-ar,cc'`) | converted: `cc` (the link driver) runs in ldc2's pid; the same binary, byte for byte |
//! | ldc2 | `ldc2 bad.d -of=bad` (undefined symbol) | converted: same status, the linker's own messages; ldc2's last line is the reaper's (docs/DESIGN.md, "Not yet") |
//! | ldc2 | `ldc2 -run app.d x`, `ldc2 @cleanup.rsp` (`-cleanup-obj app.d -of=app`) | refused by the library with one line: the program runs, the object is deleted, as without the shim |
//! | rustc | `rustc main.rs -o main` | refused by `run` with one line; the same binary |
//! | cargo | `cargo build --release` under `run --hosts rustc` | one line for the whole build, every rustc refused quietly, the same binaries |
//! | ghc | `ghc -o prog Main.hs` | not converted; the same binary and output |

use common::{companion, json_num, json_str_field, require, trace_lines, Outcome, TestDir};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Every run is killed (with its process group) and fails after this.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn links_src() -> PathBuf {
    common::real_src().join("links")
}

/// A command with a clean environment (no library variables, no cargo
/// settings of the test harness), the C locale, run in `cwd`.
fn clean(program: impl AsRef<std::ffi::OsStr>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    common::scrub(
        &mut cmd,
        &[
            "RUSTC",
            "RUSTC_WRAPPER",
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET_DIR",
            "MAKEFLAGS",
            "CARGO_MAKEFLAGS",
        ],
    );
    cmd.env("LC_ALL", "C")
        .env("XDG_CACHE_HOME", cwd.join(".xdg-cache"))
        .current_dir(cwd);
    cmd
}

/// `arshim run OPTS -- WORDS` in `cwd`.
fn arshim_run(opts: &[&str], words: &[&str], cwd: &Path) -> Command {
    let mut cmd = clean(companion(), cwd);
    cmd.arg("run").args(opts).arg("--").args(words);
    cmd
}

fn run(cmd: Command, dir: &TestDir, label: &str) -> Outcome {
    common::run_timed(cmd, dir, label, RUN_TIMEOUT).outcome_lossy()
}

/// `words` in `a` without the shim (labelled `base{suffix}`) and in `b`
/// through `arshim run OPTS --trace FILE` (`shim{suffix}`): both outcomes,
/// and the trace file, `trace{suffix}.jsonl` in `dir`.
fn without_and_with(
    dir: &TestDir,
    (a, b): (&Path, &Path),
    opts: &[&str],
    words: &[&str],
    suffix: &str,
) -> (Outcome, Outcome, PathBuf) {
    let mut plain = clean(words[0], a);
    plain.args(&words[1..]);
    let base = run(plain, dir, &format!("base{suffix}"));
    let trace = dir.join(format!("trace{suffix}.jsonl"));
    let mut all = opts.to_vec();
    all.extend(["--trace", trace.to_str().unwrap()]);
    let shim = run(arshim_run(&all, words, b), dir, &format!("shim{suffix}"));
    (base, shim, trace)
}

/// `a/` and `b/` under `dir`, each with a copy of these sources.
fn two_trees(dir: &TestDir, sources: &[&str]) -> (PathBuf, PathBuf) {
    let trees = (dir.join("a"), dir.join("b"));
    for tree in [&trees.0, &trees.1] {
        fs::create_dir_all(tree).unwrap();
        for name in sources {
            fs::copy(links_src().join(name), tree.join(name)).unwrap();
        }
    }
    trees
}

/// The linked program's own run: status and output.
fn run_linked(program: &Path, dir: &TestDir, label: &str) -> (Option<i32>, String) {
    let out = run(Command::new(program), dir, label);
    (out.code(), out.stdout)
}

/// Both builds made the same program: the same bytes, and it runs the same.
fn assert_same_program(base: &Path, shim: &Path, dir: &TestDir, expect: (i32, &str)) {
    let (a, b) = (fs::read(base).unwrap(), fs::read(shim).unwrap());
    assert!(
        a == b,
        "{} and {} differ ({} and {} bytes)",
        base.display(),
        shim.display(),
        a.len(),
        b.len()
    );
    let ran = run_linked(base, dir, "base-program");
    assert_eq!(ran, run_linked(shim, dir, "shim-program"));
    assert_eq!(ran, (Some(expect.0), expect.1.to_owned()));
}

/// The library's lines (`arshim…:`) and the others, apart.
fn split_lines(stderr: &str) -> (Vec<&str>, Vec<&str>) {
    stderr.lines().partition(|l| l.starts_with("arshim"))
}

/// The trace's events named `event`.
fn events<'a>(trace: &'a [String], event: &str) -> Vec<&'a String> {
    let tag = format!("\"event\":\"{event}\"");
    trace.iter().filter(|l| l.contains(&tag)).collect()
}

/// The pid of the process whose executable (by `load` event) is `exe_name`.
fn pids_of(trace: &[String], exe_name: &str) -> Vec<i64> {
    events(trace, "load")
        .into_iter()
        .filter(|l| {
            json_str_field(l, "exe").is_some_and(|e| e.rsplit('/').next() == Some(exe_name))
        })
        .filter_map(|l| json_num(l, "pid"))
        .collect()
}

// ---------------------------------------------------------------------------
// ldc2: final, its link driver converted

#[test]
fn ldc2_link_is_converted_and_the_binary_is_the_same() {
    ldc2_link_converted("links-ldc2", &[], &["ldc2", "app.d", "-of=app"]);
}

/// In a whole build (`--hosts`, here under a shell, which never converts)
/// ldc2 converts with its own globs, as `arshim run -- ldc2` would: its link
/// driver included (README, "Known hosts").
#[test]
fn ldc2_link_in_a_build_converts_with_hosts_alone() {
    ldc2_link_converted(
        "links-ldc2-hosts-alone",
        &["--hosts", "ldc2"],
        &["sh", "-c", "ldc2 app.d -of=app"],
    );
}

/// `--tools` given for the build is what every host uses.
#[test]
fn ldc2_link_in_a_build_converts_with_hosts_and_tools() {
    ldc2_link_converted(
        "links-ldc2-hosts",
        &["--hosts", "ldc2", "--tools", "ar,*-ar,cc"],
        &["sh", "-c", "ldc2 app.d -of=app"],
    );
}

/// `words` without the shim and under `arshim run OPTS`: the same output,
/// the same binary byte for byte, and ldc2's link spawn (`cc`) converted
/// in ldc2's pid.
fn ldc2_link_converted(name: &str, opts: &[&str], words: &[&str]) {
    require("ldc2", "ldc");
    let dir = TestDir::new(name);
    let (a, b) = two_trees(&dir, &["app.d"]);
    let (base, shim, trace) = without_and_with(&dir, (&a, &b), opts, words, "");
    base.assert_code(0);
    shim.assert_code(0);
    assert_eq!(
        (&base.stdout, &base.stderr),
        (&shim.stdout, &shim.stderr),
        "{}\n{}",
        base.describe(),
        shim.describe()
    );
    let lines = trace_lines(&trace);
    let ldc2 = pids_of(&lines, "ldc2");
    let converted = events(&lines, "convert");
    assert!(
        converted.len() == 1
            && json_num(converted[0], "pid").is_some_and(|p| ldc2.contains(&p))
            && json_str_field(converted[0], "program").is_some_and(|p| p.ends_with("/cc")),
        "ldc2's link spawn (cc) was not converted in ldc2's pid:\n{}",
        lines.join("\n")
    );
    assert_same_program(
        &a.join("app"),
        &b.join("app"),
        &dir,
        (3, "linked by ldc2: 1\n"),
    );
    assert!(
        a.join("app.o").is_file() && b.join("app.o").is_file(),
        "ldc2 keeps app.o"
    );
}

/// A link that fails: the same status and the same stderr, the linker's
/// messages and then ldc2's own line (`Error: /usr/bin/cc failed with
/// status: 1`), which ldc2 prints after the spawn returns and the reaper
/// prints in its place (docs/DESIGN.md, "Conversion" 6).
#[test]
fn ldc2_failing_link_keeps_status_and_output() {
    require("ldc2", "ldc");
    let dir = TestDir::new("links-ldc2-failing");
    let (a, b) = two_trees(&dir, &["bad.d"]);
    let words = ["ldc2", "bad.d", "-of=bad"];
    let (base, shim, trace) = without_and_with(&dir, (&a, &b), &[], &words, "");
    base.assert_code(1);
    shim.assert_code(1);
    let lines = trace_lines(&trace);
    assert_eq!(events(&lines, "convert").len(), 1, "{}", lines.join("\n"));
    assert!(
        base.stderr
            .contains("undefined reference to `arshim_no_such_symbol'"),
        "{}",
        base.describe()
    );
    assert!(
        base.stderr.ends_with("failed with status: 1\n"),
        "{}",
        base.describe()
    );
    assert_eq!(base.stdout, shim.stdout);
    assert_eq!(base.stderr, shim.stderr, "{}", shim.describe());
}

/// The same failed link on a terminal (`script`), where ldc2 writes its
/// `Error: ` in bold red when `TERM` names a terminal, and not with
/// `-enable-color=false` or `TERM=dumb`: the converted run's transcript is
/// byte for byte the one without the library.
#[test]
fn ldc2_failing_link_on_a_terminal_says_the_same_in_the_same_colours() {
    require("ldc2", "ldc");
    let script = require("script", "bsdutils");
    for (name, term, option) in [
        ("colour", "xterm", ""),
        ("option", "xterm", " -enable-color=false"),
        ("dumb", "dumb", ""),
    ] {
        let dir = TestDir::new(&format!("links-ldc2-tty-{name}"));
        let (a, b) = two_trees(&dir, &["bad.d"]);
        let line = format!("ldc2{option} bad.d -of=bad");
        let on_a_terminal = |cwd: &Path, line: &str| {
            let mut cmd = clean(&script, cwd);
            cmd.env("TERM", term).args(["-qec", line, "/dev/null"]);
            cmd
        };
        let base = run(on_a_terminal(&a, &line), &dir, "base");
        let trace = dir.join("trace.jsonl");
        let with = format!(
            "{} run --trace {} -- {line}",
            companion().display(),
            trace.display()
        );
        let shim = run(on_a_terminal(&b, &with), &dir, "shim");
        base.assert_code(1);
        shim.assert_code(1);
        let lines = trace_lines(&trace);
        assert_eq!(
            events(&lines, "convert").len(),
            1,
            "{name}: {}",
            lines.join("\n")
        );
        let red = "\x1b[1m\x1b[1;31mError: \x1b[m/usr/bin/cc failed with status: 1";
        assert_eq!(
            base.stdout.contains(red),
            name == "colour",
            "{name}: {}",
            base.describe()
        );
        assert_eq!(base.stdout, shim.stdout, "{name}: {}", shim.describe());
        assert_eq!(base.stderr, shim.stderr, "{name}");
    }
}

/// With `-run` ldc2 runs the program it linked (then deletes it), with
/// `-cleanup-obj` it deletes its object file after the link: both are work
/// after the link spawn (also from a response file, as dub passes options),
/// so the library refuses such a run with one line,
/// and the run is the one without the shim (docs/DESIGN.md, "Compilers").
#[test]
fn ldc2_run_and_cleanup_obj_are_refused_and_do_their_work() {
    require("ldc2", "ldc");
    let dir = TestDir::new("links-ldc2-options");
    let (a, b) = two_trees(&dir, &["app.d"]);
    for tree in [&a, &b] {
        // dub hands ldc2 its options in a response file
        fs::write(tree.join("cleanup.rsp"), "-cleanup-obj app.d \"-of=app\"\n").unwrap();
    }
    for (words, label, option) in [
        (&["ldc2", "-run", "app.d", "x"][..], "run", "-run"),
        (&["ldc2", "@cleanup.rsp"][..], "cleanup", "-cleanup-obj"),
    ] {
        let suffix = format!("-{label}");
        let (base, shim, trace) = without_and_with(&dir, (&a, &b), &[], words, &suffix);
        assert_eq!(
            base.code(),
            shim.code(),
            "{}\n{}",
            base.describe(),
            shim.describe()
        );
        assert_eq!(base.stdout, shim.stdout, "{}", shim.describe());
        let (said, rest) = split_lines(&shim.stderr);
        assert!(
            said.len() == 1 && said[0].contains(&format!("ldc2 {option} is not final")),
            "{}",
            shim.describe()
        );
        // -run names the program it linked in $TMPDIR differently each run
        let base_lines: Vec<&str> = base.stderr.lines().collect();
        assert_eq!(masked_temp_names(&rest), masked_temp_names(&base_lines));
        let lines = trace_lines(&trace);
        assert!(events(&lines, "convert").is_empty(), "{}", lines.join("\n"));
    }
    // -run: the program ran (its line, its status) and was deleted
    assert!(
        fs::read_to_string(dir.join("shim-run.stdout")).unwrap() == "linked by ldc2: 2\n",
        "the program did not run under the shim"
    );
    // -cleanup-obj: the same binary, the object file deleted in both trees
    assert_same_program(
        &a.join("app"),
        &b.join("app"),
        &dir,
        (3, "linked by ldc2: 1\n"),
    );
    assert!(!a.join("app.o").exists() && !b.join("app.o").exists());
}

/// Lines with each word `/tmp/NAME-SUFFIX` made `/tmp/NAME-*`.
fn masked_temp_names(lines: &[&str]) -> Vec<String> {
    let mask = |word: &str| match (word.strip_prefix("/tmp/"), word.rfind('-')) {
        (Some(_), Some(dash)) => format!("{}-*", &word[..dash]),
        _ => word.to_owned(),
    };
    lines
        .iter()
        .map(|l| l.split(' ').map(mask).collect::<Vec<_>>().join(" "))
        .collect()
}

// ---------------------------------------------------------------------------
// rustc: known, not final

/// The one line `run` says for rustc, and the rest of stderr.
fn assert_refused_once<'a>(shim: &'a Outcome, host: &str) -> Vec<&'a str> {
    let (said, rest) = split_lines(&shim.stderr);
    assert!(
        said.len() == 1
            && said[0].starts_with(&format!("arshim: {host} is known not to "))
            && said[0].contains("reads the linker's output through a pipe"),
        "expected one line saying why {host} is refused\n{}",
        shim.describe()
    );
    rest
}

#[test]
fn rustc_is_refused_with_one_line_and_builds_the_same() {
    require("rustc", "rustup");
    let dir = TestDir::new("links-rustc");
    let (a, b) = two_trees(&dir, &["main.rs"]);
    let words = ["rustc", "main.rs", "-o", "main"];
    let mut plain = clean(words[0], &a);
    plain.args(&words[1..]);
    let base = run(plain, &dir, "base");
    let shim = run(arshim_run(&[], &words, &b), &dir, "shim");
    base.assert_code(0);
    shim.assert_code(0);
    let rest = assert_refused_once(&shim, "rustc");
    assert_eq!(rest, base.stderr.lines().collect::<Vec<_>>());
    assert_eq!(base.stdout, shim.stdout);
    assert_same_program(
        &a.join("main"),
        &b.join("main"),
        &dir,
        (3, "linked by rustc\n"),
    );
}

/// A crate with a library and two binaries, no dependencies (no network).
fn write_crate(tree: &Path) {
    fs::create_dir_all(tree.join("src/bin")).unwrap();
    let files = [
        (
            "Cargo.toml",
            "[package]\nname = \"links\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [workspace]\n",
        ),
        (
            "src/lib.rs",
            "pub fn greet(who: &str) -> String {\n    format!(\"hello, {who}\")\n}\n",
        ),
        (
            "src/bin/one.rs",
            "fn main() {\n    println!(\"{}\", links::greet(\"one\"));\n}\n",
        ),
        (
            "src/bin/two.rs",
            "fn main() {\n    println!(\"{}\", links::greet(\"two\"));\n    std::process::exit(2);\n}\n",
        ),
    ];
    for (name, text) in files {
        fs::write(tree.join(name), text).unwrap();
    }
}

/// cargo's lines with the tree's path and the build's time taken out.
fn cargo_lines(lines: &[&str], tree: &Path) -> Vec<String> {
    let tree = tree.to_str().unwrap();
    lines
        .iter()
        .map(|l| {
            let l = l.replace(tree, "TREE");
            match l.find(" target(s) in ") {
                Some(at) => l[..at].to_owned(),
                None => l,
            }
        })
        .collect()
}

#[test]
fn cargo_build_under_run_hosts_rustc_says_it_once_and_builds_the_same() {
    require("cargo", "rustup");
    let dir = TestDir::new("links-cargo");
    let (a, b) = (dir.join("a"), dir.join("b"));
    write_crate(&a);
    write_crate(&b);
    let words = ["cargo", "build", "--release", "--offline"];
    let (base, shim, trace) = without_and_with(&dir, (&a, &b), &["--hosts", "rustc"], &words, "");
    base.assert_code(0);
    shim.assert_code(0);
    let rest = assert_refused_once(&shim, "rustc");
    let base_lines: Vec<&str> = base.stderr.lines().collect();
    assert_eq!(cargo_lines(&rest, &b), cargo_lines(&base_lines, &a));
    let lines = trace_lines(&trace);
    let rustc = pids_of(&lines, "rustc");
    let refused = events(&lines, "load")
        .into_iter()
        .filter(|l| json_str_field(l, "reason").as_deref() == Some("known host that is not final"))
        .count();
    assert!(
        rustc.len() >= 3 && refused == rustc.len(),
        "every rustc (the crate's three and cargo's probe) must be refused:\n{}",
        lines.join("\n")
    );
    for event in ["convert", "handoff"] {
        assert!(events(&lines, event).is_empty(), "{}", lines.join("\n"));
    }
    let release = |tree: &Path, bin: &str| tree.join("target/release").join(bin);
    assert_same_program(
        &release(&a, "one"),
        &release(&b, "one"),
        &dir,
        (0, "hello, one\n"),
    );
    assert_same_program(
        &release(&a, "two"),
        &release(&b, "two"),
        &dir,
        (2, "hello, two\n"),
    );
}

// ---------------------------------------------------------------------------
// ghc: its link is not final

#[test]
fn ghc_link_is_not_converted_and_builds_the_same() {
    require("ghc", "ghc");
    let dir = TestDir::new("links-ghc");
    let (a, b) = two_trees(&dir, &["Main.hs", "Greet.hs"]);
    let words = ["ghc", "-o", "prog", "Main.hs"];
    let (base, shim, trace) = without_and_with(&dir, (&a, &b), &[], &words, "");
    base.assert_code(0);
    shim.assert_code(0);
    assert!(base.stdout.contains("Linking prog"), "{}", base.describe());
    assert_eq!(base.stdout, shim.stdout);
    let (said, rest) = split_lines(&shim.stderr);
    assert!(said.len() <= 1, "{}", shim.describe());
    assert_eq!(rest, base.stderr.lines().collect::<Vec<_>>());
    // Refused by `run` (no library, no trace) or, in scope, nothing converted.
    let lines = if trace.exists() {
        trace_lines(&trace)
    } else {
        Vec::new()
    };
    for event in ["convert", "handoff"] {
        assert!(events(&lines, event).is_empty(), "{}", lines.join("\n"));
    }
    assert_same_program(
        &a.join("prog"),
        &b.join("prog"),
        &dir,
        (0, "hello, links\n"),
    );
}
