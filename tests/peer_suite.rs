//! A peer's test suite as a guard (docs/DESIGN.md, "Conversion" 9: never
//! worse than without the shim): CPython's own `test_subprocess` and
//! `test_posix` — thousands of assertions about fork,
//! vfork, posix_spawn, exec, wait*, pipes, fds, signals and environments,
//! written by people who never heard of arshim — must pass exactly as without
//! the shim when Python runs with the library preloaded and claimed by the
//! interpreter (`arshim run -- python -m test …`: exec mode, no archiver
//! involved) and in observe mode (`arshim run --observe …`).
//!
//! Three runs, at the same time (they mostly wait; together about as long as
//! one alone): without the shim, with it, and observing. Each must exit 0; the regrtest summary (from
//! "== Tests result" on, without the duration) must be identical, and so must
//! the outcome of every single test case (from `--junit-xml`: passed, or
//! skipped with the same reason, etc.).
//!
//! The interpreter is the real binary (`sys.executable`): `python3` on PATH
//! may be a pyenv bash script, and a shell would claim the library.
//! On Debian the suite is the package `libpython3.11-testsuite` (.ci/run
//! installs it). A missing interpreter or suite is a failure, never a skip.

use common::{companion, json_str_field, library, trace_lines, Outcome, TestDir};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// One run of the two suites takes ~25 s here alone (~60 s with three at
/// once on a loaded 2-core machine); generous for slow machines.
const RUN_TIMEOUT: Duration = Duration::from_secs(15 * 60);

const SUITES: &[&str] = &["test_subprocess", "test_posix"];

/// Python variables that would change the suite, on top of `common::SCRUBBED_ENV`.
const EXTRA_ENV: &[&str] = &[
    "PYTHONSTARTUP",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONWARNINGS",
];

/// The interpreter binary itself (not a pyenv shell shim), with its test suite.
fn find_python() -> PathBuf {
    let exe = common::find_python();
    let probe = Command::new(&exe)
        .args([
            "-c",
            "import test.libregrtest, test.test_subprocess, test.test_posix",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{} has no regression test suite (test_subprocess, test_posix): on Debian install \
         libpython3.11-testsuite (.ci/run does)\n{}",
        exe.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
    exe
}

fn clean(program: impl AsRef<std::ffi::OsStr>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    common::scrub(&mut cmd, EXTRA_ENV);
    let tmp = cwd.join("tmp");
    fs::create_dir_all(&tmp).unwrap();
    cmd.env("LC_ALL", "C")
        .env("TMPDIR", &tmp)
        .env("XDG_CACHE_HOME", cwd.join("xdg-cache"))
        .current_dir(cwd);
    cmd
}

fn run(cmd: Command, dir: &TestDir, label: &str) -> (Outcome, Duration) {
    let finished = common::run_timed(cmd, dir, label, RUN_TIMEOUT);
    let took = finished.took;
    (finished.outcome_lossy(), took)
}

/// regrtest's final summary: the lines from "== Tests result" on, without
/// the duration.
fn summary(out: &Outcome) -> Vec<String> {
    let lines: Vec<&str> = out.stdout.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("== Tests result"))
        .unwrap_or_else(|| {
            panic!(
                "no \"== Tests result\" summary in the output\n{}",
                out.describe()
            )
        });
    lines[start..]
        .iter()
        .map(|l| l.trim_end())
        .filter(|l| !l.is_empty() && !l.starts_with("Total duration"))
        .map(str::to_string)
        .collect()
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let pat = format!(" {name}=\"");
    let at = tag.find(&pat)? + pat.len();
    Some(tag[at..].split('"').next()?.to_string())
}

/// Every test case of the `--junit-xml` report and its outcome: "passed", or
/// "skipped: REASON", "failure: …", "error: …".
fn outcomes(xml_path: &Path, out: &Outcome) -> BTreeMap<String, String> {
    let xml = fs::read_to_string(xml_path).unwrap_or_else(|e| {
        panic!(
            "no junit report {}: {e}\n{}",
            xml_path.display(),
            out.describe()
        )
    });
    let mut map = BTreeMap::new();
    let mut rest = xml.as_str();
    while let Some(i) = rest.find("<testcase ") {
        rest = &rest[i..];
        let tag_end = rest.find('>').expect("unterminated <testcase");
        let tag = &rest[..=tag_end];
        let name = attr(tag, "name").expect("<testcase> without name");
        let (body, next) = if tag.ends_with("/>") {
            ("", &rest[tag_end + 1..])
        } else {
            let close = rest.find("</testcase>").expect("unterminated <testcase>");
            (&rest[tag_end + 1..close], &rest[close..])
        };
        let outcome = ["skipped", "failure", "error"]
            .iter()
            .find_map(|kind| {
                let open = format!("<{kind}");
                let at = body.find(&open)?;
                let inner = &body[at..];
                let gt = inner.find('>')?;
                let text = if inner[..=gt].ends_with("/>") {
                    attr(&inner[..=gt], "message").unwrap_or_default()
                } else {
                    let end = inner.find(&format!("</{kind}>")).unwrap_or(inner.len());
                    inner[gt + 1..end].to_string()
                };
                // A failure's traceback holds paths and line numbers; its kind
                // and first line are what identify it.
                let first = text.lines().next().unwrap_or("").to_string();
                Some(format!("{kind}: {first}"))
            })
            .unwrap_or_else(|| "passed".to_string());
        if let Some(prev) = map.insert(name.clone(), outcome.clone()) {
            // A test case reported twice (re-run): keep both outcomes.
            map.insert(name, format!("{prev} / {outcome}"));
        }
        rest = next;
    }
    assert!(
        map.len() > 100,
        "only {} test cases in {}\n{}",
        map.len(),
        xml_path.display(),
        out.describe()
    );
    map
}

fn diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut d = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => d.push(format!("{k}: {v} -> (missing)")),
            Some(w) if w != v => d.push(format!("{k}: {v} -> {w}")),
            _ => {}
        }
    }
    for (k, w) in b {
        if !a.contains_key(k) {
            d.push(format!("{k}: (missing) -> {w}"));
        }
    }
    d
}

const LABELS: [&str; 3] = ["baseline", "shim", "observe"];

/// The command of one run: the suites without the shim, with it, or
/// observing (with a trace), each in its own working directory.
fn suite_command(label: &str, python: &Path, dir: &TestDir) -> Command {
    let work = dir.join(label);
    fs::create_dir_all(&work).unwrap();
    let mut cmd = match label {
        "baseline" => clean(python, &work),
        "shim" => {
            let mut c = clean(companion(), &work);
            c.args(["run", "--"]).arg(python);
            c
        }
        _ => {
            let mut c = clean(companion(), &work);
            c.args(["run", "--observe", "--trace"])
                .arg(dir.join(format!("{label}.trace.jsonl")))
                .arg("--")
                .arg(python);
            c
        }
    };
    cmd.args(["-m", "test", "--junit-xml"])
        .arg(dir.join(format!("{label}.junit.xml")))
        .args(SUITES);
    cmd
}

/// One run's checks: exit 0 and SUCCESS; in observe mode, the library
/// claimed by the interpreter and nothing converted. Its summary and the
/// outcome of each test case, for the comparison.
fn check_run(label: &str, out: &Outcome, dir: &TestDir) -> (Vec<String>, BTreeMap<String, String>) {
    out.assert_code(0);
    let sum = summary(out);
    assert!(
        sum.iter().any(|l| l.contains("SUCCESS")),
        "[{label}] the suite did not report SUCCESS: {sum:?}\n{}",
        out.describe()
    );
    let cases = outcomes(&dir.join(format!("{label}.junit.xml")), out);
    if label == "observe" {
        check_observed(&dir.join(format!("{label}.trace.jsonl")));
    }
    (sum, cases)
}

/// Observe mode was really on, claimed by the interpreter, and converted
/// nothing.
fn check_observed(trace: &Path) {
    let lines = trace_lines(trace);
    assert!(
        lines.iter().any(|l| {
            json_str_field(l, "event").as_deref() == Some("load")
                && json_str_field(l, "mode").as_deref() == Some("observe")
                && l.contains("\"in_scope\":true")
                && json_str_field(l, "exe").is_some_and(|e| e.contains("python"))
        }),
        "Python did not claim the library in observe mode ({} trace lines)",
        lines.len()
    );
    for ev in ["convert", "handoff"] {
        let hits: Vec<_> = lines
            .iter()
            .filter(|l| json_str_field(l, "event").as_deref() == Some(ev))
            .collect();
        assert!(hits.is_empty(), "`{ev}` events in observe mode: {hits:?}");
    }
}

#[test]
fn cpython_test_subprocess_and_test_posix_pass_as_without_the_shim() {
    let python = find_python();
    library();
    let dir = TestDir::new("peer-suite");

    // The library really is loaded and claimed by the interpreter when run
    // like the suite below (a quick probe, with a trace).
    let probe_trace = dir.join("probe.trace.jsonl");
    let mut cmd = clean(companion(), &dir.path);
    cmd.arg("run")
        .arg("--trace")
        .arg(&probe_trace)
        .arg("--")
        .arg(&python)
        .args([
            "-c",
            "m = open('/proc/self/maps').read(); \
             print('/libarshim.so' in m and '/libarshim_core.so' in m)",
        ]);
    let (probe, _) = run(cmd, &dir, "probe");
    probe.assert_code(0);
    assert_eq!(
        probe.stdout,
        "True\n",
        "the library or its core is not mapped in Python\n{}",
        probe.describe()
    );
    let probe_lines = trace_lines(&probe_trace);
    assert!(
        probe_lines.iter().any(|l| {
            json_str_field(l, "event").as_deref() == Some("load")
                && json_str_field(l, "mode").as_deref() == Some("exec")
                && l.contains("\"in_scope\":true")
                && json_str_field(l, "exe").is_some_and(|e| e.contains("python"))
        }),
        "Python did not claim the library in exec mode\n{}",
        probe_lines.join("\n")
    );

    // The three runs at once: each spends most of its time waiting (the
    // suites' sleeps, timeouts and children), so together they take about
    // as long as the slowest one alone. Each is checked as before.
    let finished: Vec<(&str, Outcome, Duration)> = std::thread::scope(|s| {
        let runs: Vec<_> = LABELS
            .iter()
            .map(|&label| {
                let cmd = suite_command(label, &python, &dir);
                let dir = &dir;
                s.spawn(move || {
                    let (out, t) = run(cmd, dir, label);
                    (label, out, t)
                })
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut took = Vec::new();
    let mut results = Vec::new();
    for (label, out, t) in finished {
        eprintln!(
            "peer suite [{label}]: {:.1} s, exit {:?}",
            t.as_secs_f64(),
            out.code()
        );
        took.push((label, t));
        let (sum, cases) = check_run(label, &out, &dir);
        results.push((label, out, sum, cases));
    }

    let (_, base_out, base_sum, base_cases) = &results[0];
    for (label, out, sum, cases) in &results[1..] {
        assert_eq!(
            sum,
            base_sum,
            "[{label}] the regrtest summary differs from the run without the shim\n{}\n{}",
            base_out.describe(),
            out.describe()
        );
        let d = diff(base_cases, cases);
        assert!(
            d.is_empty(),
            "[{label}] {} test case(s) ended differently than without the shim:\n{}",
            d.len(),
            d.join("\n")
        );
    }
    eprintln!(
        "peer suite: {} test cases, summary {:?}; timings: {}",
        base_cases.len(),
        base_sum,
        took.iter()
            .map(|(l, t)| format!("{l} {:.1} s", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
