//! Integration tests of `arshim verify` with a host's temporaries
//! (docs/DESIGN.md, "verify: temporaries taken over"): deletions after the
//! archiver, by the host's main code, of what the host created in that run
//! are taken over by the conversion when `--temps` (or a known host's
//! temps) covers them; verify says which it saw and whether the converted
//! run reproduced them. Not covered: NOT SAFE, with the `--temps` that
//! would cover them. A deleted file the host did not create, or a
//! temporary it keeps: NOT SAFE whatever the globs.
//!
//! Real hosts compiled at test time: tests/hosts/verify_temps_host.c (C),
//! and ghc -staticlib from a Haskell source. Each test has its own
//! XDG_CACHE_HOME and TMPDIR; each compares with a run without the library.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use common::{companion, compile_c, find_on_path, fixtures, library, Outcome, TestDir};

const TIMEOUT: Duration = Duration::from_secs(300);

fn host() -> &'static Path {
    static HOST: OnceLock<PathBuf> = OnceLock::new();
    HOST.get_or_init(|| {
        let out = fixtures().dir.join("verify_temps_host");
        compile_c(&common::hosts_src().join("verify_temps_host.c"), &out);
        out
    })
}

/// The PATH of the test process without the stand-in `ar`: the real one.
fn real_path() -> OsString {
    let fx = fixtures();
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::env::split_paths(&path).filter(|d| d != &fx.bin)).unwrap()
}

/// The test's TMPDIR, where the host makes its temp dir.
fn tmp(dir: &TestDir) -> PathBuf {
    let tmp = dir.join("tmp");
    fs::create_dir_all(&tmp).unwrap();
    tmp
}

/// `verify_temps_host MODE lib.a one.o two.o`.
fn line(mode: &str) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![host().into(), mode.into(), "lib.a".into()];
    v.extend(fixtures().objs.iter().map(|o| o.clone().into_os_string()));
    v
}

/// `PROGRAM ARGS…` in `dir` with the real `ar`, the test's TMPDIR and store.
fn command(dir: &TestDir, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    let mut cmd = common::command(program, dir);
    cmd.env("PATH", real_path())
        .env("TMPDIR", tmp(dir))
        .env("VT_TMP", tmp(dir))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("ARSHIM_LIB", library());
    cmd
}

fn run(cmd: std::process::Command, dir: &TestDir, label: &str) -> Outcome {
    common::run_timed(cmd, dir, label, TIMEOUT).outcome_lossy()
}

/// The host's line without the library.
fn plain(dir: &TestDir, line: &[OsString], label: &str) -> Outcome {
    let mut cmd = command(dir, &line[0]);
    cmd.args(&line[1..]);
    run(cmd, dir, label)
}

/// `arshim ARGS… -- LINE`.
fn arshim(dir: &TestDir, args: &[&str], line: &[OsString], label: &str) -> Outcome {
    let mut cmd = command(dir, companion());
    cmd.args(args).arg("--").args(line);
    run(cmd, dir, label)
}

/// `arshim verify [OPTS] -- LINE`: the verdict is `label` and the report
/// says each of `says`.
fn verify(dir: &TestDir, opts: &[&str], line: &[OsString], label: &str, says: &[&str]) -> Outcome {
    let mut args = vec!["verify"];
    args.extend(opts);
    let out = arshim(dir, &args, line, "verify");
    let verdict = out
        .stdout
        .lines()
        .find(|l| l.starts_with("verdict: "))
        .unwrap_or_else(|| panic!("no verdict line\n{}", out.describe()));
    assert!(
        verdict.starts_with(&format!("verdict: {label} — ")),
        "expected {label}\n{}",
        out.describe()
    );
    for s in says {
        assert!(out.stdout.contains(s), "{s:?} missing\n{}", out.describe());
    }
    out
}

/// `arshim run --trace T OPTS -- LINE`: the run and what the library did
/// (`convert`, `handoff`, `fallback: REASON`, or `nothing`).
fn run_traced(dir: &TestDir, opts: &[&str], line: &[OsString], label: &str) -> (Outcome, String) {
    let trace = dir.join(format!("{label}.trace"));
    let trace_arg = trace.to_string_lossy().into_owned();
    let mut args = vec!["run", "--trace", &trace_arg];
    args.extend(opts);
    let out = arshim(dir, &args, line, label);
    (out, common::what_the_library_did(&trace))
}

/// What is in the test's TMPDIR but verify's own work dirs.
fn in_tmp(dir: &TestDir) -> BTreeSet<String> {
    fs::read_dir(tmp(dir))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("arshim-verify-"))
        .collect()
}

/// The archive's members and contents, as a user sees them (`ar p` of each).
fn archive(dir: &TestDir) -> Vec<(String, Vec<u8>)> {
    let ar = &fixtures().real_ar;
    let names = std::process::Command::new(ar)
        .arg("t")
        .arg(dir.join("lib.a"))
        .output()
        .unwrap();
    assert!(
        names.status.success(),
        "no archive in {}",
        dir.path.display()
    );
    String::from_utf8_lossy(&names.stdout)
        .lines()
        .map(|m| {
            let p = std::process::Command::new(ar)
                .arg("p")
                .arg(dir.join("lib.a"))
                .arg(m)
                .output()
                .unwrap();
            (m.to_owned(), p.stdout)
        })
        .collect()
}

/// Without `--temps`, the deletions of the host's own temp dir after ar
/// are NOT SAFE (a conversion never makes them), and verify names the
/// glob that would cover them (was: NOT SAFE without the hint).
#[test]
fn without_temps_the_hosts_own_temporaries_are_not_safe_with_a_hint() {
    let dir = TestDir::new("vtemps-hint");
    let line = line("created");
    let base = plain(&dir, &line, "plain");
    base.assert_code(0);
    assert!(in_tmp(&dir).is_empty(), "{:?}", in_tmp(&dir));
    let _ = fs::remove_file(dir.join("lib.a"));

    let out = verify(
        &dir,
        &[],
        &line,
        "NOT SAFE",
        &[
            "after ar exited, the process deleted ",
            "the process created them in this run: rerun with --temps '$TMPDIR/vthost.*'",
        ],
    );
    out.assert_code(1);
    assert!(in_tmp(&dir).is_empty(), "{:?}", in_tmp(&dir));
}

/// With `--temps` covering them: SAFE, the report says they were taken
/// over, nothing is left in TMPDIR; the verdict keeps its temps, and
/// `run --verified-only` converts with them (nothing left, the same
/// archive and status as without the library) — but not with other temps.
#[test]
fn with_temps_the_conversion_takes_them_over_and_the_verdict_keeps_them() {
    let dir = TestDir::new("vtemps-safe");
    let line = line("created");
    let base = plain(&dir, &line, "plain");
    base.assert_code(0);
    let want = archive(&dir);
    let _ = fs::remove_file(dir.join("lib.a"));

    let out = verify(
        &dir,
        &["--temps", "$TMPDIR/vthost.*"],
        &line,
        "SAFE",
        &[
            "  temps:    deleted after the archiver: ",
            "taken over by the conversion: yes (all gone after the converted run)",
        ],
    );
    out.assert_code(0);
    assert!(in_tmp(&dir).is_empty(), "{:?}", in_tmp(&dir));
    let store = fs::read_to_string(dir.join("cache/arshim/verdicts.json")).unwrap();
    assert!(store.contains(r#""temps": "$TMPDIR/vthost.*""#), "{store}");
    let _ = fs::remove_file(dir.join("lib.a"));

    let (run, what) = run_traced(&dir, &["--verified-only"], &line, "verified");
    assert_eq!(what, "convert", "{}", run.describe());
    assert_eq!(run.code(), base.code(), "{}", run.describe());
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""));
    assert_eq!(archive(&dir), want);
    assert!(in_tmp(&dir).is_empty(), "{:?}", in_tmp(&dir));
    let _ = fs::remove_file(dir.join("lib.a"));

    let other = ["--verified-only", "--temps", "$TMPDIR/other.*"];
    let (run, what) = run_traced(&dir, &other, &line, "other-temps");
    assert_eq!(what, "nothing", "{}", run.describe());
    assert!(
        run.stderr
            .contains("was verified SAFE with --temps '$TMPDIR/vthost.*'"),
        "{}",
        run.describe()
    );
    assert_eq!(run.code(), base.code(), "{}", run.describe());
    assert_eq!(archive(&dir), want);
    assert!(in_tmp(&dir).is_empty(), "{:?}", in_tmp(&dir));
    let _ = fs::remove_file(dir.join("lib.a"));

    // Through a shell the library judges the host itself: its ARSHIM_TEMPS
    // must be the verdict's.
    let words: Vec<String> = line
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let shell: Vec<OsString> = vec![
        "sh".into(),
        "-c".into(),
        format!("exec {}", words.join(" ")).into(),
    ];
    for (label, temps, converts) in [
        ("sh-same", "$TMPDIR/vthost.*", true),
        ("sh-other", "$TMPDIR/other.*", false),
    ] {
        let opts = ["--verified-only", "--temps", temps];
        let (run, what) = run_traced(&dir, &opts, &shell, label);
        assert_eq!(what == "convert", converts, "{what}\n{}", run.describe());
        if !converts {
            assert!(
                run.stderr.contains(
                    "was verified SAFE with ARSHIM_TEMPS=$TMPDIR/vthost.*, not with this \
                     ARSHIM_TEMPS: not converting (ARSHIM_VERIFIED_ONLY=1)"
                ),
                "{}",
                run.describe()
            );
        }
        assert_eq!(run.code(), base.code(), "{}", run.describe());
        assert_eq!(archive(&dir), want);
        assert!(in_tmp(&dir).is_empty(), "{:?}", in_tmp(&dir));
        let _ = fs::remove_file(dir.join("lib.a"));
    }
}

/// A command whose converted run makes its temp dir otherwise (a child
/// `mkdir`, which the library does not count as the host's): the observed
/// run's deletions are covered, but the converted run leaves the dir
/// behind, and verify says so: NOT SAFE (the temps' existence is compared
/// after the converted run, not assumed from the observed one).
#[test]
fn temporaries_the_converted_run_leaves_behind_are_not_safe() {
    let dir = TestDir::new("vtemps-left");
    let line = line("sneaky");
    let out = verify(
        &dir,
        &["--temps", "$TMPDIR/vthost.*"],
        &line,
        "NOT SAFE",
        &[
            "taken over by the conversion: no: ",
            "the host's temporaries were not all removed by the converted run: ",
        ],
    );
    out.assert_code(1);
    let left = in_tmp(&dir);
    assert_eq!(left.len(), 1, "{left:?}");
    let name = left.iter().next().unwrap();
    assert!(
        out.stdout
            .contains(&format!("{}/{name} left behind", tmp(&dir).display())),
        "{}",
        out.describe()
    );
}

/// A file that was there before the run (not the host's), deleted after
/// ar: NOT SAFE even with a glob covering it — the conversion hands the
/// reaper only what the host created.
#[test]
fn a_deleted_file_the_host_did_not_create_is_not_safe_even_when_covered() {
    let dir = TestDir::new("vtemps-foreign");
    let line = line("foreign");
    let foreign = tmp(&dir).join("foreign.tmp");
    fs::write(&foreign, "not the host's\n").unwrap();
    let base = plain(&dir, &line, "plain");
    base.assert_code(0);
    assert!(!foreign.exists());
    fs::write(&foreign, "not the host's\n").unwrap();
    let _ = fs::remove_file(dir.join("lib.a"));

    let out = verify(
        &dir,
        &["--temps", "$TMPDIR/*"],
        &line,
        "NOT SAFE",
        &[&format!(
            "deleted {} in its main code: a conversion never makes those deletions",
            foreign.display()
        )],
    );
    out.assert_code(1);
    assert!(
        out.stdout
            .contains("they match the temps globs ($TMPDIR/*) but the process did not create them"),
        "{}",
        out.describe()
    );
}

/// A temporary the host keeps (it deletes only some): a glob covering it
/// would have the reaper remove it: NOT SAFE.
#[test]
fn a_temporary_the_host_keeps_under_the_globs_is_not_safe() {
    let dir = TestDir::new("vtemps-kept");
    let line = line("kept");
    let out = verify(
        &dir,
        &["--temps", "$TMPDIR/vthost.*"],
        &line,
        "NOT SAFE",
        &["under the temps globs ($TMPDIR/vthost.*) and keeps it: a conversion would hand it to the reaper"],
    );
    out.assert_code(1);
    let left = in_tmp(&dir);
    assert_eq!(left.len(), 1, "the unconverted run's temp dir: {left:?}");
}

/// ghc -staticlib from a Haskell source makes $TMPDIR/ghcPID_0 and
/// removes it after ranlib in its main code. verify, with ghc's known
/// temps, says which of those deletions it saw, and its verdict is what a
/// conversion does: SAFE with "taken over … yes" exactly when the
/// converted run (`arshim run --force`) leaves nothing in TMPDIR; else NOT
/// SAFE naming what the conversion would not remove — and it leaves it.
#[test]
fn ghc_staticlib_verdict_is_what_its_conversion_leaves() {
    let ghc = find_on_path("ghc").unwrap_or_else(|| {
        panic!("`ghc` is not installed: this test needs it (Debian package `ghc`)")
    });
    let dir = TestDir::new("vtemps-ghc");
    let src = common::real_src().join("Foo.hs");
    fs::copy(&src, dir.join("Foo.hs")).unwrap();
    let line: Vec<OsString> = [ghc.as_os_str(), "-staticlib".as_ref()]
        .into_iter()
        .map(OsString::from)
        .chain(["-o", "libfoo_hs.a", "Foo.hs"].map(OsString::from))
        .collect();
    let base = plain(&dir, &line, "plain");
    base.assert_code(0);
    assert!(in_tmp(&dir).is_empty(), "{:?}", in_tmp(&dir));
    let clean = || {
        for f in ["libfoo_hs.a", "Foo.o", "Foo.hi"] {
            let _ = fs::remove_file(dir.join(f));
        }
    };
    clean();

    let out = arshim(&dir, &["verify"], &line, "verify");
    let safe = out.stdout.contains("verdict: SAFE — ");
    let tmp_ghc = format!("{}/ghc", tmp(&dir).display());
    if safe {
        out.assert_code(0);
        assert!(
            out.stdout
                .contains("taken over by the conversion: yes (all gone after the converted run)")
                && out.stdout.contains(&tmp_ghc),
            "{}",
            out.describe()
        );
    } else {
        out.assert_code(1);
        assert!(
            out.stdout.contains("verdict: NOT SAFE — ")
                && out
                    .stdout
                    .lines()
                    .any(|l| l.contains("the process deleted ") && l.contains(&tmp_ghc)),
            "verify names ghc's temporaries the conversion would leave\n{}",
            out.describe()
        );
    }
    assert!(in_tmp(&dir).is_empty(), "{:?}", in_tmp(&dir));
    clean();

    let (run, what) = run_traced(&dir, &["--force"], &line, "forced");
    run.assert_code(0);
    assert_eq!(what, "convert", "{}", run.describe());
    assert_eq!(
        in_tmp(&dir).is_empty(),
        safe,
        "verify said {}, the conversion left {:?}\n{}",
        if safe { "SAFE" } else { "NOT SAFE" },
        in_tmp(&dir),
        out.describe()
    );
}
