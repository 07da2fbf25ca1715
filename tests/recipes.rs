//! The README's "In your build" recipes, each run by its real build driver
//! without and then with arshim on the same fresh project (its outputs moved
//! aside and removed in between: compilers record the directory they ran
//! in): the same exit status, the same output lines, the same archives
//! (members and their contents), and the library's trace shows every link
//! converted.
//!
//! - make: `arshim run --hosts 'ld-legacy*' -- make -j2`;
//! - ninja: `eval "$(arshim env --hosts 'ld-legacy*')"; ninja`;
//! - dub (D's package tool) with ldc2: `arshim run --hosts ldc2 -- dub build`.
//!
//! `ld-legacy` is tests/hosts/bench_host.c: it touches 64 MiB, then
//! posix_spawnp's the real `ar rcs`. The compile steps run `cc` with the
//! library loaded too, and must be untouched. Nothing is skipped: a missing
//! make, ninja, dub or ldc2 is a failure naming the package to install.

use common::{
    companion, compile_c, find_on_path, hosts_src, json_str_field, real_ar, run_timed, scrub,
    trace_events, trace_lines, Outcome, TestDir,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A build of the test's project is killed and fails after this.
const BUILD_TIMEOUT: Duration = Duration::from_secs(120);

const MAKEFILE: &str = "all: libone.a libtwo.a\n\
%.o: %.c\n\tcc -O2 -c -o $@ $<\n\
libone.a: a.o b.o\n\t./ld-legacy 64 $@ a.o b.o\n\
libtwo.a: b.o a.o\n\t./ld-legacy 64 $@ b.o a.o\n\
.PHONY: all\n";

const BUILD_NINJA: &str = "rule cc\n  command = cc -O2 -c -o $out $in\n\
rule link\n  command = ./ld-legacy 64 $out $in\n\
build a.o: cc a.c\n\
build b.o: cc b.c\n\
build libone.a: link a.o b.o\n\
build libtwo.a: link b.o a.o\n";

/// `ldc2 -lib` archives with LLVM's own code unless told to run `ar`.
const DUB_JSON: &str = "{\n  \"name\": \"foo\",\n  \"targetType\": \"staticLibrary\",\n  \
\"dflags-ldc\": [\"--ar=ar\"]\n}\n";

/// A tool the recipe needs, found on PATH or the test fails saying what to install.
fn tool(name: &str, package: &str) -> PathBuf {
    find_on_path(name)
        .unwrap_or_else(|| panic!("{name} is missing: apt-get install {package} (see .ci/run)"))
}

/// The C project (sources and the `ld-legacy` host) in `dir/project`.
fn c_project(dir: &TestDir, build_file: (&str, &str)) -> PathBuf {
    let root = dir.join("project");
    fs::create_dir_all(&root).unwrap();
    compile_c(&hosts_src().join("bench_host.c"), &root.join("ld-legacy"));
    fs::write(root.join("a.c"), "int a(void) { return 1; }\n").unwrap();
    fs::write(root.join("b.c"), "int b(void) { return 2; }\n").unwrap();
    fs::write(root.join(build_file.0), build_file.1).unwrap();
    root
}

/// The dub project (two D modules) in `dir/project`.
fn dub_project(dir: &TestDir) -> PathBuf {
    let root = dir.join("project");
    fs::create_dir_all(root.join("source")).unwrap();
    fs::write(root.join("dub.json"), DUB_JSON).unwrap();
    fs::write(
        root.join("source/foo.d"),
        "module foo;\nint foo() { return 1; }\n",
    )
    .unwrap();
    fs::write(
        root.join("source/bar.d"),
        "module bar;\nint bar() { return 2; }\n",
    )
    .unwrap();
    root
}

/// `program args…` in `root` with a clean environment (no library variables,
/// no outer make) and its own HOME, so that dub's cache stays in the test.
fn build_command(root: &Path, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    scrub(&mut cmd, &[]);
    cmd.args(args)
        .current_dir(root)
        .env("LC_ALL", "C")
        .env("HOME", root.join("home"));
    cmd
}

fn run_build(cmd: Command, dir: &TestDir, label: &str) -> Outcome {
    run_timed(cmd, dir, label, BUILD_TIMEOUT).outcome_lossy()
}

/// The members of an archive, each with its contents (`ar p`), in order.
type Members = Vec<(String, Vec<u8>)>;

/// `ar t`, then `ar p` of each member, with the real archiver.
fn archive_contents(archive: &Path) -> Members {
    let listed = Command::new(real_ar())
        .arg("t")
        .arg(archive)
        .output()
        .unwrap();
    assert!(
        listed.status.success(),
        "ar t {}: {}",
        archive.display(),
        String::from_utf8_lossy(&listed.stderr)
    );
    String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|member| {
            let out = Command::new(real_ar())
                .arg("p")
                .arg(archive)
                .arg(member)
                .output()
                .unwrap();
            assert!(out.status.success(), "ar p {} {member}", archive.display());
            (member.to_string(), out.stdout)
        })
        .collect()
}

/// Output lines in sorted order, without ninja's `[k/n] ` counters:
/// parallel jobs may finish in another order.
fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(
            |l| match l.strip_prefix('[').and_then(|r| r.split_once("] ")) {
                Some((_, rest)) => rest.to_string(),
                None => l.to_string(),
            },
        )
        .collect();
    lines.sort();
    lines
}

/// What a build left in `root`: each archive's members and contents. The
/// archives and every other output (`outputs`) are then removed, so that
/// the next run builds everything again.
fn take_outputs(root: &Path, archives: &[&str], outputs: &[&str]) -> Vec<Members> {
    let taken = archives
        .iter()
        .map(|a| archive_contents(&root.join(a)))
        .collect();
    for out in archives.iter().chain(outputs) {
        let path = root.join(out);
        let _ = fs::remove_dir_all(&path);
        let _ = fs::remove_file(&path);
    }
    taken
}

/// The two runs look the same to a user: status, output lines, archives.
fn assert_same_build(
    (without, without_archives): (&Outcome, &[Members]),
    (with, with_archives): (&Outcome, &[Members]),
    archives: &[&str],
) {
    without.assert_code(0);
    with.assert_code(0);
    let both = || format!("{}\n{}", without.describe(), with.describe());
    assert_eq!(
        sorted_lines(&without.stdout),
        sorted_lines(&with.stdout),
        "same stdout\n{}",
        both()
    );
    assert_eq!(
        sorted_lines(&without.stderr),
        sorted_lines(&with.stderr),
        "same stderr\n{}",
        both()
    );
    for ((name, a), b) in archives.iter().zip(without_archives).zip(with_archives) {
        let members = |x: &Members| x.iter().map(|m| m.0.clone()).collect::<Vec<_>>();
        assert!(a.len() >= 2, "{name}: members {:?}", members(a));
        assert_eq!(members(a), members(b), "{name}: same members");
        assert!(a == b, "{name}: the members' contents differ\n{}", both());
    }
}

/// Every link converted: one `convert` event per linker run, each turning
/// the spawn of `ar` into an exec, and nothing else converted.
fn assert_links_converted(trace: &Path, links: usize, with: &Outcome) {
    let converted = trace_events(trace, "convert");
    let lines = trace_lines(trace).join("\n");
    assert_eq!(
        converted.len(),
        links,
        "every link converted, nothing else:\n{lines}\n{}",
        with.describe()
    );
    for event in &converted {
        let program = json_str_field(event, "program").unwrap_or_default();
        assert!(
            program == "ar" || program.ends_with("/ar"),
            "the archiver was converted: {event}"
        );
    }
}

/// `--trace FILE` as an argument, FILE in the test directory.
fn trace_file(dir: &TestDir, name: &str) -> PathBuf {
    dir.join(format!("{name}.trace.jsonl"))
}

const C_ARCHIVES: [&str; 2] = ["libone.a", "libtwo.a"];
const C_OUTPUTS: [&str; 4] = ["a.o", "b.o", ".ninja_log", ".ninja_deps"];

#[test]
fn make_recipe_converts_every_link() {
    let make = tool("make", "make");
    let dir = TestDir::new("recipe-make");
    let root = c_project(&dir, ("Makefile", MAKEFILE));
    let without = run_build(build_command(&root, &make, &["-j2"]), &dir, "make-without");
    let without_archives = take_outputs(&root, &C_ARCHIVES, &C_OUTPUTS);

    let trace = trace_file(&dir, "make");
    let recipe = [
        "run",
        "--hosts",
        "ld-legacy*",
        "--trace",
        trace.to_str().unwrap(),
        "--",
        make.to_str().unwrap(),
        "-j2",
    ];
    let with = run_build(
        build_command(&root, companion(), &recipe),
        &dir,
        "make-with",
    );
    let with_archives = take_outputs(&root, &C_ARCHIVES, &C_OUTPUTS);
    assert_same_build(
        (&without, &without_archives),
        (&with, &with_archives),
        &C_ARCHIVES,
    );
    assert_links_converted(&trace, 2, &with);
}

#[test]
fn ninja_recipe_with_arshim_env_converts_every_link() {
    let ninja = tool("ninja", "ninja-build");
    let dir = TestDir::new("recipe-ninja");
    let root = c_project(&dir, ("build.ninja", BUILD_NINJA));
    let without = run_build(
        build_command(&root, &ninja, &["-j2"]),
        &dir,
        "ninja-without",
    );
    let without_archives = take_outputs(&root, &C_ARCHIVES, &C_OUTPUTS);

    let trace = trace_file(&dir, "ninja");
    // The README's shell recipe, as a user types it.
    let script =
        r#"eval "$("$ARSHIM_BIN" env --hosts 'ld-legacy*' --trace "$TRACE")" && exec "$NINJA" -j2"#;
    let mut cmd = build_command(&root, "/bin/sh", &["-c", script]);
    cmd.env("ARSHIM_BIN", companion())
        .env("TRACE", &trace)
        .env("NINJA", &ninja);
    let with = run_build(cmd, &dir, "ninja-with");
    let with_archives = take_outputs(&root, &C_ARCHIVES, &C_OUTPUTS);
    assert_same_build(
        (&without, &without_archives),
        (&with, &with_archives),
        &C_ARCHIVES,
    );
    assert_links_converted(&trace, 2, &with);
}

#[test]
fn dub_recipe_converts_ldc2s_archiver() {
    let dub = tool("dub", "dub");
    tool("ldc2", "ldc");
    let dir = TestDir::new("recipe-dub");
    let root = dub_project(&dir);
    let (archives, outputs) = (["libfoo.a"], [".dub", "home"]);
    let args = ["build", "--compiler=ldc2"];
    let without = run_build(build_command(&root, &dub, &args), &dir, "dub-without");
    let without_archives = take_outputs(&root, &archives, &outputs);

    let trace = trace_file(&dir, "dub");
    let mut recipe = vec![
        "run",
        "--hosts",
        "ldc2",
        "--trace",
        trace.to_str().unwrap(),
        "--",
        dub.to_str().unwrap(),
    ];
    recipe.extend(args);
    let with = run_build(build_command(&root, companion(), &recipe), &dir, "dub-with");
    let with_archives = take_outputs(&root, &archives, &outputs);
    assert_same_build(
        (&without, &without_archives),
        (&with, &with_archives),
        &archives,
    );
    assert_links_converted(&trace, 1, &with);
}
