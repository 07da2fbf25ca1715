//! Integration tests of which verdicts `arshim verify` remembers, and for
//! which program (docs/DESIGN.md, "Verdicts"): a verdict is earned by a run
//! that succeeded, was converted and whose archive was compared; a failed
//! run never replaces one; and it belongs to the host that spawned the
//! archiver, never to an exec wrapper, a shell or an interpreter.
//!
//! Real hosts: the C host tests/hosts/verify_host.c, the real `ar`,
//! `gcc-ar`, `ldc2`, `ocamlopt` and `python3`. Each test has its own
//! XDG_CACHE_HOME, and reads the store file itself.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{companion, compile_c, fixtures, library, require, Outcome, TestDir};

fn host() -> &'static Path {
    static HOST: OnceLock<PathBuf> = OnceLock::new();
    HOST.get_or_init(|| {
        let out = fixtures().dir.join("verify_trust_host");
        compile_c(&common::hosts_src().join("verify_host.c"), &out);
        out
    })
}

/// The PATH of the test process without the stand-in `ar`: the real one.
fn real_path() -> std::ffi::OsString {
    let fx = fixtures();
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::env::split_paths(&path).filter(|d| d != &fx.bin)).unwrap()
}

/// `arshim ARGS… -- CMD…` in `dir` with the real `ar` and the test's own store.
fn arshim(dir: &TestDir, args: &[&str], cmd_line: &[&std::ffi::OsStr]) -> Command {
    let mut cmd = common::command(companion(), dir);
    cmd.env("PATH", real_path())
        .env("HOST_TOUCH_MIB", "16")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("ARSHIM_LIB", library())
        .args(args)
        .arg("--")
        .args(cmd_line);
    cmd
}

/// `verify_host MODE lib.a OBJ…` as a command line (`missing.o` when `missing`).
fn host_line(mode: &str, missing: bool) -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = vec![host().into(), mode.into(), "lib.a".into()];
    v.extend(fixtures().objs.iter().map(|o| o.clone().into_os_string()));
    if missing {
        v.push("missing.o".into());
    }
    v
}

fn os(v: &[std::ffi::OsString]) -> Vec<&std::ffi::OsStr> {
    v.iter().map(|s| s.as_os_str()).collect()
}

fn verify(dir: &TestDir, line: &[std::ffi::OsString], label: &str) -> Outcome {
    common::run_timed(
        arshim(dir, &["verify"], &os(line)),
        dir,
        label,
        std::time::Duration::from_secs(300),
    )
    .outcome_lossy()
}

fn assert_verdict(out: &Outcome, label: &str, code: i32) {
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("verdict: "))
        .unwrap_or_else(|| panic!("no verdict line\n{}", out.describe()));
    assert!(
        line.starts_with(&format!("verdict: {label} — ")),
        "expected {label}\n{}",
        out.describe()
    );
    out.assert_code(code);
}

/// The store's text ("" when there is none).
fn store(dir: &TestDir) -> String {
    fs::read_to_string(dir.join("cache/arshim/verdicts.json")).unwrap_or_default()
}

/// The verdict stored for `path` (canonical), if any: `"SAFE"`, `"NOT SAFE"`.
fn stored_for(dir: &TestDir, path: &Path) -> Option<String> {
    let text = store(dir);
    if text.is_empty() {
        return None;
    }
    let root: serde_json::Value = serde_json::from_str(&text).expect("a JSON store");
    let canonical = fs::canonicalize(path).unwrap();
    root["hosts"]
        .as_array()?
        .iter()
        .find(|e| e["path"].as_str() == Some(&*canonical.to_string_lossy()))
        .map(|e| e["verdict"].as_str().unwrap_or_default().to_owned())
}

/// Paths the store has entries for.
fn stored_paths(dir: &TestDir) -> Vec<String> {
    let text = store(dir);
    if text.is_empty() {
        return Vec::new();
    }
    let root: serde_json::Value = serde_json::from_str(&text).expect("a JSON store");
    root["hosts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["path"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Earned

/// A host that exits 1 silently when ar fails, else installs the archive:
/// verified with a missing input it must not be remembered SAFE (it was:
/// "a verdict on a failing command proves little"), and verified with good
/// inputs it is NOT SAFE (installed.a is written after the archiver).
#[test]
fn a_failing_command_is_cannot_tell_and_not_remembered() {
    let dir = TestDir::new("trust-failing");
    let out = verify(&dir, &host_line("install", true), "verify-missing");
    assert_verdict(&out, "CANNOT TELL", 2);
    assert!(
        out.stdout.contains("the command failed"),
        "{}",
        out.describe()
    );
    assert_eq!(stored_for(&dir, host()), None, "{}", store(&dir));

    let out = verify(&dir, &host_line("install", false), "verify-good");
    assert_verdict(&out, "NOT SAFE", 1);
    assert_eq!(stored_for(&dir, host()).as_deref(), Some("NOT SAFE"));
}

/// `gcc-ar rcs lib.a missing.o` was remembered SAFE although the second run
/// showed no conversion; with its inputs, gcc-ar stays SAFE.
#[test]
fn gcc_ar_with_a_missing_input_is_not_remembered() {
    let gcc_ar = require("gcc-ar", "gcc");
    let dir = TestDir::new("trust-gcc-ar");
    let line: Vec<std::ffi::OsString> = vec![
        "gcc-ar".into(),
        "rcs".into(),
        "lib.a".into(),
        "missing.o".into(),
    ];
    let out = verify(&dir, &line, "verify-missing");
    assert_verdict(&out, "CANNOT TELL", 2);
    assert_eq!(stored_for(&dir, &gcc_ar), None, "{}", store(&dir));

    let mut line = vec!["gcc-ar".into(), "rcs".into(), "lib.a".into()];
    line.extend(fixtures().objs.iter().map(|o| o.clone().into_os_string()));
    let out = verify(&dir, &line, "verify-good");
    assert_verdict(&out, "SAFE", 0);
    assert_eq!(stored_for(&dir, &gcc_ar).as_deref(), Some("SAFE"));
}

/// A host verified SAFE, then run with an input that makes ar fail (it
/// then prints an error line after ar): the stored SAFE stays.
#[test]
fn a_failed_run_never_replaces_an_earned_verdict() {
    let dir = TestDir::new("trust-keep");
    let out = verify(&dir, &host_line("final", false), "verify-good");
    assert_verdict(&out, "SAFE", 0);
    assert_eq!(stored_for(&dir, host()).as_deref(), Some("SAFE"));
    let before = store(&dir);

    let out = verify(&dir, &host_line("final", true), "verify-failing");
    assert_verdict(&out, "CANNOT TELL", 2);
    assert_eq!(store(&dir), before, "the store changed\n{}", out.describe());
}

/// ldc2 whose archive path is a directory: ar fails, ldc2 prints its error
/// after it. The SAFE stored for ldc2 stays (it was replaced by NOT SAFE).
#[test]
fn an_ldc2_run_whose_ar_fails_keeps_its_safe() {
    let ldc2 = require("ldc2", "ldc");
    let dir = TestDir::new("trust-ldc2");
    let real = common::real_src();
    for f in ["foo.d", "bar.d"] {
        fs::copy(real.join(f), dir.join(f)).unwrap();
    }
    let line = |out: &str| -> Vec<std::ffi::OsString> {
        ["ldc2", "-lib", "foo.d", "bar.d", out, "--ar=ar"]
            .map(Into::into)
            .to_vec()
    };
    let out = verify(&dir, &line("-of=libfoo.a"), "verify-good");
    assert_verdict(&out, "SAFE", 0);
    assert_eq!(stored_for(&dir, &ldc2).as_deref(), Some("SAFE"));
    let before = store(&dir);

    fs::create_dir(dir.join("libdir.a")).unwrap();
    let out = verify(&dir, &line("-of=libdir.a"), "verify-failing");
    assert!(out.code() != Some(0), "{}", out.describe());
    assert_eq!(store(&dir), before, "the store changed\n{}", out.describe());
}

// ---------------------------------------------------------------------------
// Belongs to the host

/// `verify -- env HOST` and `verify -- sh -c 'exec HOST …'`: the verdict is
/// stored for the host only, never for env or the shell.
#[test]
fn wrappers_and_shells_get_no_verdict() {
    let dir = TestDir::new("trust-wrappers");
    let mut line: Vec<std::ffi::OsString> = vec!["env".into()];
    line.extend(host_line("final", false));
    let out = verify(&dir, &line, "verify-env");
    assert_verdict(&out, "SAFE", 0);
    let shell_line: Vec<String> = host_line("final", false)
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let script = format!("exec {}", shell_line.join(" "));
    let line: Vec<std::ffi::OsString> = vec!["sh".into(), "-c".into(), script.into()];
    let out = verify(&dir, &line, "verify-sh");
    assert_verdict(&out, "SAFE", 0);

    let host = fs::canonicalize(host()).unwrap();
    assert_eq!(
        stored_paths(&dir),
        vec![host.to_string_lossy().into_owned()],
        "only the host\n{}",
        store(&dir)
    );
}

/// After `verify -- env HOST` and `verify -- sh -c 'exec HOST'` stored SAFE,
/// `run --verified-only -- env ocamlopt …` and `-- sh -c 'exec ocamlopt …'`
/// leave the same foo.cmxa as without the library (a conversion leaves a
/// 0-byte one).
#[test]
fn verified_only_never_converts_on_a_wrappers_verdict() {
    require("ocamlopt", "ocaml-nox");
    let dir = TestDir::new("trust-ocamlopt");
    let mut line: Vec<std::ffi::OsString> = vec!["env".into()];
    line.extend(host_line("final", false));
    assert_verdict(&verify(&dir, &line, "verify-env"), "SAFE", 0);
    let script = format!(
        "exec {}",
        host_line("final", false)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let line: Vec<std::ffi::OsString> = vec!["sh".into(), "-c".into(), script.into()];
    assert_verdict(&verify(&dir, &line, "verify-sh"), "SAFE", 0);

    let real = common::real_src();
    fs::copy(real.join("foo.ml"), dir.join("foo.ml")).unwrap();
    let mut c = common::command("ocamlopt", &dir);
    c.env("PATH", real_path()).args(["-c", "foo.ml"]);
    common::checked(&mut c, "ocamlopt -c foo.ml");
    let cmxa = dir.join("foo.cmxa");
    let mut base = common::command("ocamlopt", &dir);
    base.env("PATH", real_path())
        .args(["-a", "-o", "foo.cmxa", "foo.cmx"]);
    common::run(base, &dir, "base").assert_code(0);
    let want = fs::read(&cmxa).unwrap();
    assert!(!want.is_empty());

    let wrapped: [Vec<&str>; 2] = [
        vec!["env", "ocamlopt", "-a", "-o", "foo.cmxa", "foo.cmx"],
        vec!["sh", "-c", "exec ocamlopt -a -o foo.cmxa foo.cmx"],
    ];
    for (i, w) in wrapped.iter().enumerate() {
        fs::remove_file(&cmxa).unwrap();
        let words: Vec<&std::ffi::OsStr> = w.iter().map(std::ffi::OsStr::new).collect();
        let out = common::run(
            arshim(&dir, &["run", "--verified-only"], &words),
            &dir,
            &format!("run-{i}"),
        );
        out.assert_code(0);
        assert_eq!(
            fs::read(&cmxa).unwrap_or_default(),
            want,
            "{w:?}: foo.cmxa differs from the run without the library\n{}",
            out.describe()
        );
    }
}

/// `verify -- python3 script.py`: nothing is stored for the interpreter
/// alone (it was: the next Python script converted on it); an entry under
/// the interpreter's path names the script (docs/DESIGN.md, "Verdicts").
#[test]
fn a_python_script_gives_no_verdict_to_the_interpreter() {
    require("python3", "python3");
    let dir = TestDir::new("trust-python");
    let mut line: Vec<std::ffi::OsString> = vec![
        "python3".into(),
        common::hosts_src().join("py_host.py").into(),
        "lib.a".into(),
    ];
    line.extend(fixtures().objs.iter().map(|o| o.clone().into_os_string()));
    let out = verify(&dir, &line, "verify-py");
    assert!(out.stdout.contains("verdict: "), "{}", out.describe());
    let text = store(&dir);
    let script = common::hosts_src()
        .join("py_host.py")
        .canonicalize()
        .unwrap();
    let root: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let entries = root["hosts"].as_array().cloned().unwrap_or_default();
    let python_alone = entries.iter().any(|e| {
        let under_python = e["path"].as_str().is_some_and(|p| {
            Path::new(p)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("python"))
        });
        under_python && e["script"].as_str() != script.to_str()
    });
    assert!(
        !python_alone,
        "a verdict for the interpreter alone\n{text}\n{}",
        out.describe()
    );
}

/// The GNU build-id of `path` as `build-id:HEX`, by `readelf -n`.
fn build_id(path: &Path) -> String {
    require("readelf", "binutils");
    let out = Command::new("readelf")
        .arg("-n")
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .unwrap_or_else(|| panic!("no build-id in {}:\n{text}", path.display()));
    format!("build-id:{hex}")
}

/// A SAFE verdict an older `verify` stored for the interpreter (from some
/// other script) is not heeded: `run --verified-only -- python3 script.py`
/// is refused, and the script runs as without the library.
#[test]
fn a_verdict_stored_for_the_interpreter_is_not_heeded() {
    require("python3", "python3");
    let dir = TestDir::new("trust-python-old");
    let exe = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let exe = fs::canonicalize(String::from_utf8_lossy(&exe.stdout).trim()).unwrap();
    let entry = serde_json::json!({
        "version": 1,
        "hosts": [{
            "path": exe.to_string_lossy(),
            "id": build_id(&exe),
            "verdict": "SAFE",
            "reasons": ["stored by an older verify for another script"],
            "time": 1,
            "command": "python3 other.py",
        }],
    });
    fs::create_dir_all(dir.join("cache/arshim")).unwrap();
    fs::write(dir.join("cache/arshim/verdicts.json"), entry.to_string()).unwrap();

    let mut line: Vec<std::ffi::OsString> = vec![
        "python3".into(),
        common::hosts_src().join("py_host.py").into(),
        "lib.a".into(),
    ];
    line.extend(fixtures().objs.iter().map(|o| o.clone().into_os_string()));
    let out = common::run(
        arshim(&dir, &["run", "--verified-only"], &os(&line)),
        &dir,
        "run",
    );
    out.assert_code(0);
    assert!(
        out.stderr.contains("never been verified SAFE"),
        "the interpreter's verdict was heeded\n{}",
        out.describe()
    );
    // Not converted: the script's atexit handler ran in its own process.
    assert!(
        out.stdout.contains("host: atexit ran"),
        "{}",
        out.describe()
    );
}
