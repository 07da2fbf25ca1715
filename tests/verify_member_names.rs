//! Member names that hold the time they were made differ between verify's
//! two runs by themselves (docs/DESIGN.md, "verify: two runs from the same
//! state"): such a host is SAFE, not NOT SAFE "members differ", and its
//! converted run leaves the same members with the same contents as a run
//! without the shim. (A member missing, extra or different is still a
//! difference: the unit tests of `verify::archive` and
//! `verify::member_names`.)
//!
//! The host is tests/hosts/py_spawn_host.py `time-named`: it copies the
//! objects to `m<i>-<unix nanoseconds>.o` and runs the real `ar rcsv` on
//! them with os.posix_spawnp, last; run by the real CPython.

use std::fs;
use std::process::Command;

use common::{companion, fixtures, library, TestDir};

/// PATH without the stand-in `ar`: the real one.
fn real_path() -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let bin = &fixtures().bin;
    std::env::join_paths(std::env::split_paths(&path).filter(|d| d != bin)).unwrap()
}

fn command(dir: &TestDir, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
    let mut cmd = common::command(program, dir);
    cmd.env("PATH", real_path())
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("ARSHIM_LIB", library())
        .args(args);
    cmd
}

/// `python3 host.py time-named lib.a one.o two.o`.
fn host_line() -> Vec<String> {
    let mut v = vec![
        "python3".into(),
        "host.py".into(),
        "time-named".into(),
        "lib.a".into(),
    ];
    v.extend(fixtures().objs.iter().map(|o| o.display().to_string()));
    v
}

/// Leaves no archive or named copies behind.
fn fresh_state(dir: &TestDir) {
    for entry in fs::read_dir(&dir.path).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "lib.a" || (name.starts_with('m') && name.ends_with(".o")) {
            fs::remove_file(&path).unwrap();
        }
    }
}

/// The archive's member contents in order, and its names with the time cut off.
fn members(dir: &TestDir) -> (Vec<String>, Vec<Vec<u8>>) {
    let lib = dir.join("lib.a");
    let ar = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(&fixtures().real_ar)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "ar {args:?}");
        out.stdout
    };
    let names: Vec<String> = String::from_utf8(ar(&["t".as_ref(), lib.as_os_str()]))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let contents = names
        .iter()
        .map(|m| ar(&["p".as_ref(), lib.as_os_str(), m.as_ref()]))
        .collect();
    let stems = names
        .iter()
        .map(|m| m.split('-').next().unwrap().to_owned())
        .collect();
    (stems, contents)
}

#[test]
fn members_named_after_the_time_are_not_a_difference() {
    common::find_python(); // fails, never skips, without python3
    let dir = TestDir::new("verify-time-names");
    fs::copy(
        common::hosts_src().join("py_spawn_host.py"),
        dir.join("host.py"),
    )
    .unwrap();
    let line = host_line();
    let words: Vec<&str> = line.iter().map(String::as_str).collect();

    let without = common::run(command(&dir, "python3", &words[1..]), &dir, "without");
    without.assert_code(0);
    let base = members(&dir);
    assert_eq!(base.0, ["m0", "m1"], "{}", without.describe());
    fresh_state(&dir);

    let mut args = vec!["verify", "--"];
    args.extend(&words);
    let verify = common::run(command(&dir, companion(), &args), &dir, "verify");
    assert!(
        verify.stdout.contains("verdict: SAFE "),
        "{}",
        verify.describe()
    );
    assert!(
        verify.stdout.contains("named after each run's pid or time"),
        "{}",
        verify.describe()
    );
    fresh_state(&dir);

    let mut args = vec!["run", "--verified-only", "--"];
    args.extend(&words);
    let mut cmd = command(&dir, companion(), &args);
    cmd.env("ARSHIM_TRACE", dir.join("trace.jsonl"));
    let with = common::run(cmd, &dir, "with");
    with.assert_code(0);
    let trace = fs::read_to_string(dir.join("trace.jsonl")).unwrap_or_default();
    assert_eq!(
        trace.matches("\"event\":\"convert\"").count(),
        1,
        "{}",
        with.describe()
    );
    assert!(members(&dir) == base, "{}", with.describe());
    assert_eq!(
        with.stdout
            .lines()
            .filter(|l| l.starts_with("a - m"))
            .count(),
        without
            .stdout
            .lines()
            .filter(|l| l.starts_with("a - m"))
            .count(),
        "ar's own lines\n{}\n{}",
        without.describe(),
        with.describe()
    );
}
