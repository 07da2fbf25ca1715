//! A real multi-process build with the library exported to every process
//! (README, "Environment"; docs/DESIGN.md, "Scope": a build driver that
//! claims never converts): `LD_PRELOAD=…/libarshim.so ARSHIM=1 make -j2` on
//! a multi-directory C project with its own recursive Makefile
//! (tests/real/cproj): static libraries made with `ar rcs` by make's recipes
//! (one recipe goes on with `ranlib` after ar) and by a build tool of the
//! project that keeps working after its own `ar` returns (it writes a
//! manifest), then linked, run and checked by later recipes.
//!
//! With `ARSHIM=1` and no `ARSHIM_PID`/`ARSHIM_HOSTS`, the first process that
//! loads the library claims it: that is make, a build driver, so it warns
//! once and nothing converts anywhere. Asserted: the build succeeds, every
//! file of the tree is byte-identical to a build without the library (same
//! path, so nothing path-dependent can differ), the trace has no conversion
//! (`convert`, `handoff`, `defer`) and every process it saw load the library
//! (make, the compilers, ar, ranlib, the project's tool) was out of scope,
//! the claimer being make.
//!
//! (The `cargo build` of a crate whose build script uses the `cc` crate is
//! not done here: `cc` is not in this machine's cargo registry cache and the
//! tests do not fetch crates.)

use common::{json_str_field, library, require, trace_lines, Outcome, TestDir};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// Make variables that would change the build, on top of `common::SCRUBBED_ENV`.
const EXTRA_ENV: &[&str] = &["CC", "CFLAGS", "AR", "ARFLAGS"];

fn project_src() -> PathBuf {
    common::real_src().join("cproj")
}

/// Copies a directory tree (regular files and dirs).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        let ty = e.file_type().unwrap();
        let dst = to.join(e.file_name());
        if ty.is_dir() {
            copy_tree(&e.path(), &dst);
        } else if ty.is_file() {
            fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// Every regular file under `root`, by relative path, with its bytes.
fn tree_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let ty = e.file_type().unwrap();
            if ty.is_dir() {
                walk(root, &e.path(), out);
            } else if ty.is_file() {
                let rel = e.path().strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// FNV-1a 64: a short fingerprint of a file for the failure messages.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn make_j2(work: &Path, dir: &TestDir, label: &str, preload: Option<&Path>) -> Outcome {
    let mut cmd = Command::new("make");
    common::scrub(&mut cmd, EXTRA_ENV);
    cmd.arg("-j2").current_dir(work).env("LC_ALL", "C");
    if let Some(trace) = preload {
        cmd.env("LD_PRELOAD", library())
            .env("ARSHIM", "1")
            .env("ARSHIM_TRACE", trace);
    }
    // In its own process group, killed with it after RUN_TIMEOUT.
    common::run_timed(cmd, dir, label, RUN_TIMEOUT).outcome_lossy()
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

#[test]
fn make_j2_with_the_library_exported_globally_builds_the_same_and_converts_nothing() {
    for (tool, pkg) in [
        ("make", "make"),
        ("cc", "gcc"),
        ("ar", "binutils"),
        ("ranlib", "binutils"),
    ] {
        require(tool, pkg);
    }
    library();
    let dir = TestDir::new("global-build");
    // Both builds happen in the same directory `work`, moved aside after.
    let work = dir.join("work");

    copy_tree(&project_src(), &work);
    let base = make_j2(&work, &dir, "base", None);
    base.assert_code(0);
    assert!(
        base.stdout.contains("check: OK"),
        "the project's check did not pass\n{}",
        base.describe()
    );
    fs::rename(&work, dir.join("base")).unwrap();

    copy_tree(&project_src(), &work);
    let trace = dir.join("trace.jsonl");
    let out = make_j2(&work, &dir, "preloaded", Some(&trace));
    let lines = trace_lines(&trace);
    let ctx = || {
        format!(
            "{}\n--- trace ---\n{}\n-------------",
            out.describe(),
            lines.join("\n")
        )
    };
    assert_eq!(
        out.code(),
        Some(0),
        "the build failed with the library exported\n{}",
        ctx()
    );
    assert!(
        out.stdout.contains("check: OK"),
        "the project's check did not pass\n{}",
        ctx()
    );
    fs::rename(&work, dir.join("preloaded")).unwrap();

    // Identical outputs: every file of the tree, byte for byte.
    let a = tree_files(&dir.join("base"));
    let b = tree_files(&dir.join("preloaded"));
    for built in [
        "libgreet/libgreet.a",
        "libcalc/libcalc.a",
        "app/libextra.a",
        "app/libextra.manifest",
        "app/app",
        "app/report.txt",
        "tools/packer",
    ] {
        assert!(
            a.contains_key(built),
            "the build without the library made no {built}\n{}",
            base.describe()
        );
    }
    let mut diffs = Vec::new();
    for (path, bytes) in &a {
        match b.get(path) {
            None => diffs.push(format!("{path}: missing with the library")),
            Some(other) if other != bytes => diffs.push(format!(
                "{path}: {} bytes fnv {:016x} without, {} bytes fnv {:016x} with the library",
                bytes.len(),
                fnv(bytes),
                other.len(),
                fnv(other)
            )),
            _ => {}
        }
    }
    for path in b.keys().filter(|p| !a.contains_key(*p)) {
        diffs.push(format!("{path}: only with the library"));
    }
    assert!(
        diffs.is_empty(),
        "the builds differ:\n{}\n{}",
        diffs.join("\n"),
        ctx()
    );

    // No conversion anywhere.
    for ev in ["convert", "handoff", "defer"] {
        let hits: Vec<_> = lines
            .iter()
            .filter(|l| json_str_field(l, "event").as_deref() == Some(ev))
            .collect();
        assert!(
            hits.is_empty(),
            "`{ev}` events in a global build: {hits:?}\n{}",
            ctx()
        );
    }
    let loads: Vec<&String> = lines
        .iter()
        .filter(|l| json_str_field(l, "event").as_deref() == Some("load"))
        .collect();
    let in_scope: Vec<_> = loads
        .iter()
        .filter(|l| !l.contains("\"in_scope\":false"))
        .collect();
    assert!(
        in_scope.is_empty(),
        "processes in scope in a global build: {in_scope:?}\n{}",
        ctx()
    );
    // The claimer is the top make (the process the test started).
    let top = format!("\"pid\":{},", out.pid);
    let claimer: Vec<_> = loads.iter().filter(|l| l.contains(&top)).collect();
    assert!(
        !claimer.is_empty()
            && claimer
                .iter()
                .all(|l| json_str_field(l, "exe").is_some_and(|e| basename(&e) == "make")),
        "the top make (pid {}) should be the claimer: {claimer:?}\n{}",
        out.pid,
        ctx()
    );
    // The library really was in every kind of process of the build.
    let exes: Vec<String> = loads
        .iter()
        .filter_map(|l| json_str_field(l, "exe"))
        .map(|e| basename(&e).to_string())
        .collect();
    for want in ["make", "ar", "ranlib", "packer", "cc1", "app"] {
        assert!(
            exes.iter()
                .any(|e| e == want || e.ends_with(&format!("-{want}"))),
            "no `load` event from {want}: the library did not reach it (saw {exes:?})\n{}",
            ctx()
        );
    }
    // make claimed the library: one warning line, once for the whole build.
    let warnings: Vec<_> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("arshim["))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "expected exactly one warning from the library\n{}",
        ctx()
    );
}
