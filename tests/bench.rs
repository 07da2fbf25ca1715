//! `arshim bench` on a real host: a C program compiled here that touches
//! 320 MiB, then posix_spawnp's `ar rcs lib.a a.o b.o`, waits and exits with
//! its status. `ar` is a stand-in script first on PATH that sleeps 0.3 s (so
//! the sampler surely sees it) and execs the real archiver.
//!
//! Its own host and stand-in (tests/hosts/bench_host.c, slow_ar.sh);
//! nothing is skipped: a missing library, `cc` or `ar` is a failure saying
//! what to do.

use common::{
    companion, compile_c, compile_object, find_on_path, hosts_src, install_script, library,
    path_with, real_ar, scrub, TestDir,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

const HOST_MIB: u64 = 320;

/// Builds the host (tests/hosts/bench_host.c), two objects and the stand-in
/// `ar` (tests/hosts/slow_ar.sh) in `dir`; returns the stand-in's directory
/// (to put first on PATH).
fn fixture(dir: &Path) -> PathBuf {
    compile_c(&hosts_src().join("bench_host.c"), &dir.join("host"));
    for (name, body) in [
        ("a", "int a(void) { return 1; }\n"),
        ("b", "int b(void) { return 2; }\n"),
    ] {
        let c = dir.join(format!("{name}.c"));
        fs::write(&c, body).unwrap();
        compile_object(&c, &dir.join(format!("{name}.o")));
    }
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    install_script(&hosts_src().join("slow_ar.sh"), &bin.join("ar"));
    bin
}

/// `arshim bench ARGS` in `dir`, with a clean environment and the stand-in first on PATH.
fn bench(dir: &Path, bin: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(companion());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ARSHIM") || name == "LD_PRELOAD" {
            cmd.env_remove(name);
        }
    }
    // An outer make's jobserver must not reach the builds under test.
    scrub(&mut cmd, &[]);
    cmd.current_dir(dir)
        .env("PATH", path_with(bin))
        .env("STANDIN_REAL_AR", real_ar())
        .env("ARSHIM_LIB", library())
        .arg("bench")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("cannot run arshim");
    wait_with_timeout(child, Duration::from_secs(120))
}

fn wait_with_timeout(child: std::process::Child, limit: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // The child we started, by its pid.
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("arshim bench did not finish within {limit:?}");
        }
    }
}

fn kib(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn bench_shows_the_memory_released_while_ar_runs() {
    let dir = TestDir::new("bench-host");
    let bin = fixture(&dir.path);
    let mib = HOST_MIB.to_string();
    let out = bench(
        &dir.path,
        &bin,
        &[
            "-n", "2", "--json", "--plot", "out.svg", "--", "./host", &mib, "lib.a", "a.o", "b.o",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{stderr}", out.status);
    for i in 1..=4 {
        assert!(
            stderr.contains(&format!("run {i}/4")),
            "progress shown: {stderr}"
        );
    }

    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(json["ok"], true, "{json:#}");
    assert_eq!(json["pairs"], 2);
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    let sides: Vec<&str> = runs.iter().map(|r| r["side"].as_str().unwrap()).collect();
    assert_eq!(sides, ["without", "with", "without", "with"], "alternating");
    for r in runs {
        assert_eq!(r["exit"]["code"], 0, "{r:#}");
        assert!(
            r["archiver_start_s"].is_number(),
            "archiver seen: {}",
            r["run"]
        );
        assert!(
            r["timeline"].as_array().unwrap().len() > 50,
            "sampled often"
        );
    }

    let without = kib(&json["median"]["without"]["held_during_archiver_kib"]);
    let with = kib(&json["median"]["with"]["held_during_archiver_kib"]);
    assert!(
        without >= (HOST_MIB * 1024) as f64,
        "without arshim, the host still holds its {HOST_MIB} MiB while ar runs: {without} KiB"
    );
    assert!(
        with < without,
        "with arshim, less is held while ar runs: {with} KiB vs {without} KiB"
    );
    // The host is gone: what remains is the archiver itself (GNU ar maps ~60 MiB).
    assert!(
        with < 128.0 * 1024.0,
        "with arshim: {with} KiB held while ar ran"
    );
    let peak_without = kib(&json["median"]["without"]["peak_kib"]);
    assert!(peak_without >= (HOST_MIB * 1024) as f64, "{peak_without}");
    let ratio = json["ratio"]["held_during_archiver"].as_f64().unwrap();
    assert!((ratio - with / without).abs() < 1e-9);

    let svg = fs::read_to_string(dir.path.join("out.svg")).expect("the plot was written");
    let head = svg.trim_start();
    assert!(
        head.starts_with("<svg") || head.starts_with("<?xml"),
        "{}",
        &svg[..80.min(svg.len())]
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    let lines = svg.matches("<polyline").count() + svg.matches("<path").count();
    assert!(lines >= 2, "two timelines: {lines} polylines/paths");
    assert!(svg.contains("ar starts (without arshim)") && svg.contains("ar starts (with arshim)"));
    assert!(fs::metadata(dir.path.join("lib.a")).unwrap().len() > 0);
}

#[test]
fn bench_table_and_failing_runs() {
    let dir = TestDir::new("bench-fail");
    let bin = fixture(&dir.path);
    // A missing object: ar fails in every run, the same way on both sides.
    let out = bench(
        &dir.path,
        &bin,
        &["-n", "1", "--", "./host", "8", "lib.a", "a.o", "missing.o"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("peak tree RSS"),
        "the table is still printed: {stdout}"
    );
    assert!(stdout.contains("tree RSS while archiver ran"), "{stdout}");
    assert!(stdout.contains("wall time"), "{stdout}");
    assert!(
        stdout.contains("problem: run 1 (without arshim): exit status 1"),
        "{stdout}"
    );
    assert!(
        stderr.contains("missing.o"),
        "the failed run's output is shown: {stderr}"
    );
    assert!(stderr.contains("the comparison is not valid"), "{stderr}");
}

#[test]
fn bench_refuses_a_command_that_does_not_exist() {
    let dir = TestDir::new("bench-missing");
    let out = bench(
        &dir.path,
        &dir.path,
        &["-n", "1", "--", "./no-such-program"],
    );
    assert_eq!(
        out.status.code(),
        Some(127),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot run ./no-such-program"));
}

/// The stand-in `ar` of the whole-build test: sleeps long enough that the
/// second link starts while the first link's archiver still runs.
const BUILD_AR: &str = "#!/bin/sh\nsleep 2.5\nexec \"$STANDIN_REAL_AR\" \"$@\"\n";

/// Two links of HOST_MIB each under `make -j2`, the second started 1.2 s
/// after the first: without arshim the first host still holds its memory
/// (waiting for its archiver) when the second touches its own.
const BUILD_MAKEFILE: &str = "all: lib1.a lib2.a\n\
lib1.a: a.o b.o\n\t./host 320 lib1.a a.o b.o\n\
lib2.a: a.o b.o\n\tsleep 1.2\n\t./host 320 lib2.a a.o b.o\n\
.PHONY: all\n";

#[test]
fn bench_with_hosts_measures_a_whole_parallel_build() {
    let dir = TestDir::new("bench-build");
    let bin = fixture(&dir.path);
    fs::write(bin.join("ar"), BUILD_AR).unwrap();
    fs::write(dir.path.join("Makefile"), BUILD_MAKEFILE).unwrap();
    let make = find_on_path("make").expect("make is missing: apt-get install make");
    let make = make.to_str().unwrap();
    let out = bench(
        &dir.path,
        &bin,
        &[
            "-n", "1", "--json", "--hosts", "host", "--", make, "-B", "-j2",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{stderr}", out.status);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(json["ok"], true, "{json:#}");
    let both = 2 * HOST_MIB * 1024;
    let without = kib(&json["median"]["without"]["peak_kib"]);
    let with = kib(&json["median"]["with"]["peak_kib"]);
    assert!(
        without >= both as f64,
        "without arshim, both hosts are resident at once: peak {without} KiB"
    );
    // Converted, each host is gone once its archiver starts: one host at a time.
    assert!(
        with < (HOST_MIB + 200) as f64 * 1024.0,
        "with arshim --hosts host, make's links convert: peak {with} KiB (without: {without} KiB)"
    );
    for lib in ["lib1.a", "lib2.a"] {
        assert_eq!(
            common::ar_members(&dir.path.join(lib)),
            ["a.o", "b.o"],
            "{lib}"
        );
    }
}
