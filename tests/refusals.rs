//! Refusals that hold in every process (docs/DESIGN.md, "Scope" and
//! "Conversion" 8): the library itself refuses a known host that does more
//! work after its archiver, however the host was reached — `--hosts` over a
//! real `make`, an exec wrapper (`env`, `nice`), a shell that `exec`s it, a
//! hand-set environment — not only the command `arshim run` execs itself.
//!
//! Real toolchains (installed by `.ci/run`: `ocaml-nox`, `nim`): ocamlopt
//! writes its `.cmxa` after `ar` and `ranlib` (converting leaves a 0-byte
//! `.cmxa`); nim writes its build cache json and a summary line after `ar`.
//! Each form runs without and with the shim in the same work dir: the same
//! exit status and outputs (byte-identical and non-empty), the same stdout,
//! and on stderr exactly one refusal line more. `--force` (`ARSHIM_FORCE=1`)
//! reaches the library through a wrapper too. A missing tool is a failure.

use common::{checked, companion, library, require, run_timed, scrub, Outcome, TestDir};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Every run is killed (with its process group) and fails after this.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

const OCAML_ARGS: [&str; 5] = ["-a", "-o", "mn.cmxa", "m.cmx", "n.cmx"];
/// What ocamlopt -a makes: the archive (by ar, then ranlib) and the .cmxa after them.
const OCAML_OUTPUTS: [&str; 2] = ["mn.a", "mn.cmxa"];

/// A command with a clean environment, the C locale, in `cwd`.
fn clean(program: impl AsRef<OsStr>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    scrub(&mut cmd, &[]);
    cmd.env("LC_ALL", "C")
        .env("XDG_CACHE_HOME", cwd.join("xdg-cache"))
        .current_dir(cwd);
    cmd
}

/// `arshim run OPTS… -- CMD…` in `cwd`.
fn arshim_run(opts: &[&str], cmd: &[&str], cwd: &Path) -> Command {
    let mut c = clean(companion(), cwd);
    c.arg("run").args(opts).arg("--").args(cmd);
    c
}

/// `CMD…` with the library preloaded and `ARSHIM=1` set by hand.
fn hand_set(cmd: &[&str], cwd: &Path) -> Command {
    let mut c = clean(cmd[0], cwd);
    c.args(&cmd[1..])
        .env("LD_PRELOAD", library())
        .env("ARSHIM", "1");
    c
}

fn plain(cmd: &[&str], cwd: &Path) -> Command {
    let mut c = clean(cmd[0], cwd);
    c.args(&cmd[1..]);
    c
}

fn run(cmd: Command, dir: &TestDir, label: &str) -> Outcome {
    run_timed(cmd, dir, label, RUN_TIMEOUT).outcome_lossy()
}

/// A work dir with `m.cmx` and `n.cmx` compiled, and a Makefile whose
/// recipe is `ocamlopt -a -o mn.cmxa m.cmx n.cmx`.
fn ocaml_work(dir: &TestDir) -> PathBuf {
    require("ocamlopt", "ocaml-nox");
    require("make", "make");
    let cwd = dir.join("work");
    fs::create_dir_all(&cwd).unwrap();
    let real = common::real_src();
    fs::copy(real.join("foo.ml"), cwd.join("m.ml")).unwrap();
    fs::write(cwd.join("n.ml"), "let twice x = 2 * x\n").unwrap();
    for src in ["m.ml", "n.ml"] {
        checked(&mut plain(&["ocamlopt", "-c", src], &cwd), "ocamlopt -c");
    }
    let recipe = format!("ocamlopt {}", OCAML_ARGS.join(" "));
    fs::write(cwd.join("Makefile"), format!("all:\n\t{recipe}\n")).unwrap();
    cwd
}

/// The library's lines in a run's stderr, and `run`'s own (`arshim: `).
fn library_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("arshim[") || l.starts_with("arshim: "))
        .collect()
}

/// The one line saying `host` is refused: the library's, in the refused
/// process, or — when `--hosts` names the host — `run`'s, said once for
/// the whole run while the library stays quiet (docs/DESIGN.md, "Scope").
fn is_refusal(line: &str, host: &str) -> bool {
    let library = line.starts_with("arshim[")
        && line.contains(&format!(": {host} is not final ("))
        && line.contains("): not converting");
    let run = line.starts_with(&format!("arshim: {host} is known not to be final: "))
        && line.ends_with("its processes run without conversion (`--force` converts them anyway)");
    library || run
}

/// Runs `without`, then `with`, from the same state (`outputs` removed
/// first), and checks that the shim refused `host` in one line and changed
/// nothing else; returns each run's outputs.
fn same_as_without(
    dir: &TestDir,
    cwd: &Path,
    outputs: &[&str],
    runs: [(Command, &str); 2],
    host: &str,
) -> [Vec<Vec<u8>>; 2] {
    let [(without, label), (with, with_label)] = runs;
    let base = fresh_run(dir, cwd, outputs, without, label);
    let shim = fresh_run(dir, cwd, outputs, with, with_label);
    let (b, s) = (&base.0, &shim.0);
    let ctx = format!("{}\n{}", b.describe(), s.describe());
    assert_eq!(b.status.code(), s.status.code(), "exit status\n{ctx}");
    assert_eq!(b.status.code(), Some(0), "{ctx}");
    assert_eq!(b.stdout, s.stdout, "stdout\n{ctx}");
    for (name, (a, z)) in outputs.iter().zip(base.1.iter().zip(&shim.1)) {
        assert!(!a.is_empty(), "{name}: empty without the shim\n{ctx}");
        assert!(
            a == z,
            "{name}: {} bytes with the shim, {} without\n{ctx}",
            z.len(),
            a.len()
        );
    }
    let refusals = library_lines(&s.stderr);
    assert_eq!(refusals.len(), 1, "one refusal line\n{ctx}");
    assert!(is_refusal(refusals[0], host), "{ctx}");
    assert!(library_lines(&b.stderr).is_empty(), "{ctx}");
    [base.1, shim.1]
}

/// One run from a state without `outputs`; what it left of them.
fn fresh_run(
    dir: &TestDir,
    cwd: &Path,
    outputs: &[&str],
    cmd: Command,
    label: &str,
) -> (Outcome, Vec<Vec<u8>>) {
    for o in outputs {
        let p = cwd.join(o);
        let _ = fs::remove_file(&p);
        let _ = fs::remove_dir_all(&p);
    }
    let out = run(cmd, dir, label);
    let left = outputs
        .iter()
        .map(|o| fs::read(cwd.join(o)).unwrap_or_default())
        .collect();
    (out, left)
}

/// ocamlopt reached some way, refused: its `.cmxa` and `.a` as without the shim.
fn ocamlopt_refused(name: &str, without: &[&str], with: impl Fn(&Path) -> Command) {
    let dir = TestDir::new(name);
    let cwd = ocaml_work(&dir);
    same_as_without(
        &dir,
        &cwd,
        &OCAML_OUTPUTS,
        [(plain(without, &cwd), "without"), (with(&cwd), "with")],
        "ocamlopt",
    );
}

fn ocaml_cmd<'a>(prefix: &[&'a str]) -> Vec<&'a str> {
    let mut v = prefix.to_vec();
    v.push("ocamlopt");
    v.extend(OCAML_ARGS);
    v
}

#[test]
fn ocamlopt_under_make_with_hosts_is_refused() {
    ocamlopt_refused("refuse-make", &["make", "-s"], |cwd| {
        arshim_run(&["--hosts", "ocamlopt*"], &["make", "-s"], cwd)
    });
}

#[test]
fn ocamlopt_through_env_is_refused() {
    let cmd = ocaml_cmd(&["env"]);
    ocamlopt_refused("refuse-env", &cmd, |cwd| arshim_run(&[], &cmd, cwd));
}

#[test]
fn ocamlopt_through_nice_is_refused() {
    let cmd = ocaml_cmd(&["nice"]);
    ocamlopt_refused("refuse-nice", &cmd, |cwd| arshim_run(&[], &cmd, cwd));
}

#[test]
fn ocamlopt_execd_by_sh_is_refused() {
    let script = format!("exec ocamlopt {}", OCAML_ARGS.join(" "));
    let cmd = ["sh", "-c", script.as_str()];
    ocamlopt_refused("refuse-sh-exec", &cmd, |cwd| arshim_run(&[], &cmd, cwd));
}

#[test]
fn ocamlopt_with_a_hand_set_environment_is_refused() {
    let cmd = ocaml_cmd(&[]);
    ocamlopt_refused("refuse-hand-set", &cmd, |cwd| hand_set(&cmd, cwd));
}

/// `--force` reaches the library through a wrapper (`ARSHIM_FORCE=1`): the
/// host converts, and loses what it writes after the archiver, as the
/// refusal line warns.
#[test]
fn force_converts_anyway_through_a_wrapper() {
    let dir = TestDir::new("refuse-force");
    let cwd = ocaml_work(&dir);
    let cmd = ocaml_cmd(&["env"]);
    let (out, left) = fresh_run(
        &dir,
        &cwd,
        &OCAML_OUTPUTS,
        arshim_run(&["--force"], &cmd, &cwd),
        "forced",
    );
    out.assert_code(0);
    assert!(library_lines(&out.stderr).is_empty(), "{}", out.describe());
    assert!(!left[0].is_empty(), "ar ran\n{}", out.describe());
    assert!(
        left[1].is_empty(),
        "converted: the .cmxa written after ar is lost\n{}",
        out.describe()
    );
}

/// nim `c --app:staticlib` in `cwd`: the archive, and the build cache json
/// and `[SuccessX]` line it writes after ar.
fn nim_work(dir: &TestDir) -> (PathBuf, Vec<String>) {
    require("nim", "nim");
    let cwd = dir.join("work");
    fs::create_dir_all(&cwd).unwrap();
    let real = common::real_src();
    fs::copy(real.join("foo.nim"), cwd.join("foo.nim")).unwrap();
    let args = [
        "nim",
        "c",
        "--app:staticlib",
        "--noMain",
        "--nimcache:nimcache",
        "-o:libfoo_nim.a",
        "foo.nim",
    ];
    let recipe = args.join(" ");
    fs::write(cwd.join("Makefile"), format!("all:\n\t@{recipe}\n")).unwrap();
    (cwd, args.iter().map(|s| s.to_string()).collect())
}

/// nim reached some way, refused: its archive, cache json and summary as
/// without the shim (its stdout/stderr carry timings, so only the
/// `[SuccessX]` line is compared).
fn nim_refused(name: &str, without: &[&str], with: impl Fn(&Path) -> Command) {
    let dir = TestDir::new(name);
    let (cwd, _) = nim_work(&dir);
    let outputs = ["libfoo_nim.a", "nimcache/libfoo_nim.json", "nimcache"];
    let base = fresh_run(&dir, &cwd, &outputs, plain(without, &cwd), "without");
    let shim = fresh_run(&dir, &cwd, &outputs, with(&cwd), "with");
    let ctx = format!("{}\n{}", base.0.describe(), shim.0.describe());
    assert_eq!(base.0.status.code(), Some(0), "{ctx}");
    assert_eq!(shim.0.status.code(), Some(0), "{ctx}");
    for (name, (a, z)) in outputs[..2].iter().zip(base.1.iter().zip(&shim.1)) {
        assert!(!a.is_empty(), "{name}: empty without the shim\n{ctx}");
        assert!(!z.is_empty(), "{name}: lost with the shim\n{ctx}");
    }
    assert_eq!(base.1[0], shim.1[0], "archive bytes\n{ctx}");
    let success = |o: &Outcome| {
        format!("{}{}", o.stdout, o.stderr)
            .matches("[SuccessX]")
            .count()
    };
    assert_eq!(success(&base.0), 1, "{ctx}");
    assert_eq!(success(&shim.0), 1, "{ctx}");
    let refusals = library_lines(&shim.0.stderr);
    assert_eq!(refusals.len(), 1, "{ctx}");
    assert!(is_refusal(refusals[0], "nim"), "{ctx}");
}

#[test]
fn nim_under_make_with_hosts_is_refused() {
    nim_refused("refuse-nim-make", &["make", "-s"], |cwd| {
        arshim_run(&["--hosts", "nim"], &["make", "-s"], cwd)
    });
}

#[test]
fn nim_through_env_is_refused() {
    let dir = TestDir::new("refuse-nim-args");
    let (_, args) = nim_work(&dir);
    let mut cmd: Vec<&str> = vec!["env"];
    cmd.extend(args.iter().map(String::as_str));
    nim_refused("refuse-nim-env", &cmd, |cwd| arshim_run(&[], &cmd, cwd));
}
