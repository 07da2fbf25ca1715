//! Strict values: a value of an `ARSHIM*` variable the library does not
//! understand (`ARSHIM_LOG` included) gives one warning line, quoting at most
//! ~80 bytes of it, and the run is exactly as without the shim.

mod common;

use common::*;

/// The C host spawning the stand-in `ar` (posix_spawnp), in its own directory.
fn host(dir: &TestDir, with: Option<&str>) -> Outcome {
    let fx = fixtures();
    let archive = dir.join("lib.a");
    let mut cmd = match with {
        Some(log) => {
            let mut c = preloaded(&fx.host, dir);
            c.env("ARSHIM", "1").env("ARSHIM_LOG", log);
            c
        }
        None => command(&fx.host, dir),
    };
    cmd.args(host_args("spawnp", "plain", "ar", &archive));
    let run = run(cmd, dir, if with.is_some() { "with" } else { "without" });
    assert_archive_ok(&archive, &run);
    run
}

/// A bad `ARSHIM_LOG`: one warning naming it and quoting `shown`, and the
/// host's own spawn made the archive, as without the shim.
fn assert_refused(name: &str, log: &str, shown: &str) {
    let without = host(&TestDir::new(&format!("{name}-without")), None);
    let dir = TestDir::new(&format!("{name}-with"));
    let with = host(&dir, Some(log));
    assert_eq!(
        with.status.code(),
        without.status.code(),
        "{}",
        with.describe()
    );
    assert_eq!(with.stdout, without.stdout, "{}", with.describe());
    assert_not_converted(&dir, &with, with.pid);
    let lines = library_lines(&with.stderr);
    assert_eq!(lines.len(), 1, "one warning line\n{}", with.describe());
    let others: Vec<&str> = with.stderr.lines().filter(|l| !lines.contains(l)).collect();
    assert_eq!(
        others,
        without.stderr.lines().collect::<Vec<_>>(),
        "nothing else (no env_logger line)\n{}",
        with.describe()
    );
    let line = lines[0];
    for part in ["ARSHIM_LOG=", shown, "the shim stays off", "trace"] {
        assert!(line.contains(part), "{part:?} missing from {line:?}");
    }
    assert!(line.len() < 400, "a {} byte warning", line.len());
}

#[test]
fn log_good_filter_converts() {
    let without = host(&TestDir::new("log-good-without"), None);
    let dir = TestDir::new("log-good-with");
    let with = host(&dir, Some("warn,arshim=info"));
    assert_eq!(
        with.status.code(),
        without.status.code(),
        "{}",
        with.describe()
    );
    assert_converted(&dir, &with);
    assert_cleanups_before_archiver(&with);
    assert!(
        !with.stderr.contains("invalid logging spec"),
        "{}",
        with.describe()
    );
}

#[test]
fn log_bad_level_is_refused() {
    assert_refused("log-loud", "loud", "\"loud\"");
}

#[test]
fn log_bad_module_level_is_refused() {
    assert_refused("log-module", "info,foo=nope", "\"info,foo=nope\"");
}

#[test]
fn log_huge_value_is_quoted_short() {
    let huge = format!("info,{}", "x".repeat(100_000));
    let shown = format!("\"info,{}\"\u{2026} (100005 bytes)", "x".repeat(75));
    assert_refused("log-huge", &huge, &shown);
}
