//! Verdicts honoured in every process (docs/DESIGN.md, "Scope"): the
//! library itself reads the verdict store for its own binary (path and
//! build-id), so a host `arshim verify` found NOT SAFE is refused however it
//! was reached — through an exec wrapper, a hand-set environment — and with
//! `ARSHIM_VERIFIED_ONLY=1` (`arshim run --verified-only`) only a host
//! verified SAFE converts, also when a shell `exec`s it. An unreadable
//! store is no verdict, said in one line.
//!
//! The host is tests/hosts/verify_host.c (real `ar`): `write-after` writes
//! after.txt after its archiver (NOT SAFE), `final` does nothing more. Each
//! form runs without and with the shim from the same state: the same exit
//! status, archive bytes and after.txt; the trace shows whether it converted.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{companion, compile_c, fixtures, library, Outcome, TestDir};

fn host() -> &'static Path {
    static HOST: OnceLock<PathBuf> = OnceLock::new();
    HOST.get_or_init(|| {
        let out = fixtures().dir.join("verify_host");
        compile_c(&common::hosts_src().join("verify_host.c"), &out);
        out
    })
}

/// PATH without the stand-in `ar`: the real one.
fn real_path() -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let bin = &fixtures().bin;
    std::env::join_paths(std::env::split_paths(&path).filter(|d| d != bin)).unwrap()
}

/// `PROGRAM ARGS…` in `dir` with the real `ar` and the test's own store.
fn command(dir: &TestDir, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
    let mut cmd = common::command(program, dir);
    cmd.env("PATH", real_path())
        .env("HOST_TOUCH_MIB", "16")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("ARSHIM_LIB", library())
        .args(args);
    cmd
}

/// The host's command line in MODE: `HOST MODE lib.a one.o two.o`.
fn host_line(mode: &str) -> Vec<String> {
    let mut v = vec![host().display().to_string(), mode.into(), "lib.a".into()];
    v.extend(fixtures().objs.iter().map(|o| o.display().to_string()));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `arshim verify -- HOST MODE …`: the verdict is stored.
fn verified(dir: &TestDir, mode: &str, label: &str) {
    let mut args = vec!["verify", "--"];
    let line = host_line(mode);
    args.extend(strs(&line));
    let out = common::run(command(dir, companion(), &args), dir, "verify");
    assert!(
        out.stdout.contains(&format!("verdict: {label} ")),
        "{}",
        out.describe()
    );
}

/// What a run left: its outcome, after.txt, the archive, the conversions
/// in its trace.
struct Left {
    out: Outcome,
    after: Option<String>,
    archive: Vec<u8>,
    converted: usize,
}

fn fresh(dir: &TestDir, mut cmd: Command, label: &str) -> Left {
    for f in ["after.txt", "lib.a", "trace.jsonl"] {
        let _ = fs::remove_file(dir.join(f));
    }
    cmd.env("ARSHIM_TRACE", dir.join("trace.jsonl"));
    let out = common::run(cmd, dir, label);
    let trace = fs::read_to_string(dir.join("trace.jsonl")).unwrap_or_default();
    Left {
        after: fs::read_to_string(dir.join("after.txt")).ok(),
        archive: fs::read(dir.join("lib.a")).unwrap_or_default(),
        converted: trace.matches("\"event\":\"convert\"").count(),
        out,
    }
}

/// `with` did what `without` did, unconverted, and said so in one line
/// containing `says`.
fn refused_like_without(without: &Left, with: &Left, says: &str) {
    let ctx = format!("{}\n{}", without.out.describe(), with.out.describe());
    assert_eq!(without.out.code(), Some(0), "{ctx}");
    assert_eq!(with.out.code(), without.out.code(), "{ctx}");
    assert_eq!(with.after, without.after, "after.txt\n{ctx}");
    assert!(!without.archive.is_empty(), "{ctx}");
    assert!(with.archive == without.archive, "archive bytes\n{ctx}");
    assert_eq!(with.converted, 0, "converted\n{ctx}");
    let lines: Vec<&str> = with
        .out
        .stderr
        .lines()
        .filter(|l| l.starts_with("arshim"))
        .collect();
    assert_eq!(lines.len(), 1, "one line\n{ctx}");
    assert!(lines[0].contains(says), "{ctx}");
}

const NOT_SAFE: &str = "verify_host was verified NOT SAFE (after ar exited, the process ";

#[test]
fn not_safe_host_through_env_is_refused() {
    let dir = TestDir::new("verdict-env");
    verified(&dir, "write-after", "NOT SAFE");
    let line = host_line("write-after");
    let mut wrapped = vec!["env"];
    wrapped.extend(strs(&line));
    let without = fresh(&dir, command(&dir, "env", &wrapped[1..]), "without");
    assert_eq!(without.after.as_deref(), Some("done\n"));
    let mut args = vec!["run", "--"];
    args.extend(&wrapped);
    let with = fresh(&dir, command(&dir, companion(), &args), "with");
    refused_like_without(&without, &with, NOT_SAFE);
}

#[test]
fn not_safe_host_with_a_hand_set_environment_is_refused() {
    let dir = TestDir::new("verdict-hand-set");
    verified(&dir, "write-after", "NOT SAFE");
    let line = host_line("write-after");
    let without = fresh(&dir, command(&dir, &line[0], &strs(&line[1..])), "without");
    let mut cmd = command(&dir, &line[0], &strs(&line[1..]));
    cmd.env("LD_PRELOAD", library()).env("ARSHIM", "1");
    let with = fresh(&dir, cmd, "with");
    refused_like_without(&without, &with, NOT_SAFE);

    // ARSHIM_FORCE=1 converts it anyway, and loses after.txt as the verdict said.
    let mut cmd = command(&dir, &line[0], &strs(&line[1..]));
    cmd.env("LD_PRELOAD", library())
        .env("ARSHIM", "1")
        .env("ARSHIM_FORCE", "1");
    let forced = fresh(&dir, cmd, "forced");
    assert_eq!(
        (forced.converted, forced.after.as_deref()),
        (1, None),
        "{}",
        forced.out.describe()
    );
}

/// `arshim run --verified-only -- sh -c 'exec HOST final …'`.
fn verified_only_through_sh(dir: &TestDir, label: &str) -> Left {
    let script = format!("exec {}", host_line("final").join(" "));
    let args = ["run", "--verified-only", "--", "sh", "-c", &script];
    fresh(dir, command(dir, companion(), &args), label)
}

#[test]
fn verified_only_refuses_an_unverified_host_execd_by_sh() {
    let dir = TestDir::new("verdict-only-sh");
    let script = format!("exec {}", host_line("final").join(" "));
    let without = fresh(&dir, command(&dir, "sh", &["-c", &script]), "without");
    let with = verified_only_through_sh(&dir, "unverified");
    refused_like_without(
        &without,
        &with,
        "verify_host has never been verified SAFE: not converting (ARSHIM_VERIFIED_ONLY=1)",
    );

    // Once verified SAFE (path and build-id), the same form converts.
    verified(&dir, "final", "SAFE");
    let safe = verified_only_through_sh(&dir, "safe");
    safe.out.assert_code(0);
    assert_eq!(safe.converted, 1, "{}", safe.out.describe());
    assert!(safe.archive == without.archive, "{}", safe.out.describe());
}

#[test]
fn an_unreadable_store_is_no_verdict_said_once() {
    let dir = TestDir::new("verdict-bad-store");
    let store = dir.join("cache/arshim/verdicts.json");
    fs::create_dir_all(store.parent().unwrap()).unwrap();
    let script = format!("exec {}", host_line("final").join(" "));
    let without = fresh(&dir, command(&dir, "sh", &["-c", &script]), "without");
    // A symlink is not followed, a FIFO not opened for long, junk not believed.
    for (kind, make) in [
        (
            "symlink",
            &(|p: &Path| std::os::unix::fs::symlink("/etc/hostname", p))
                as &dyn Fn(&Path) -> std::io::Result<()>,
        ),
        ("fifo", &|p: &Path| {
            common::checked(Command::new("mkfifo").arg(p), "mkfifo");
            Ok(())
        }),
        ("junk", &|p: &Path| fs::write(p, "{\"hosts\": [{\"path\": ")),
        // A format this library does not know is refused, not guessed at.
        ("newer-format", &|p: &Path| {
            fs::write(p, "{\"version\": 4, \"hosts\": []}")
        }),
    ] {
        let _ = fs::remove_file(&store);
        make(&store).unwrap();
        let mut with = verified_only_through_sh(&dir, kind);
        let store_line = with
            .out
            .stderr
            .lines()
            .filter(|l| l.contains("verdict store /") && l.ends_with("read as no verdict"))
            .count();
        assert_eq!(store_line, 1, "[{kind}]\n{}", with.out.describe());
        with.out.stderr = with
            .out
            .stderr
            .lines()
            .filter(|l| !l.contains("verdict store /"))
            .map(|l| format!("{l}\n"))
            .collect();
        refused_like_without(&without, &with, "(the verdict store cannot be read)");
    }
}

/// Makes one form of store at the path it is given.
type MakeStore = Box<dyn Fn(&Path)>;

/// The store's forms that cannot be read, made at `p`.
fn unreadable_stores() -> Vec<(&'static str, MakeStore)> {
    vec![
        (
            "fifo",
            Box::new(|p: &Path| {
                common::checked(Command::new("mkfifo").arg(p), "mkfifo");
            }),
        ),
        (
            "symlink-to-dev-zero",
            Box::new(|p: &Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap()),
        ),
        (
            "five-mib",
            Box::new(|p: &Path| fs::write(p, vec![b' '; 5 << 20]).unwrap()),
        ),
        (
            "junk",
            Box::new(|p: &Path| fs::write(p, "{\"hosts\": [{\"path\": ").unwrap()),
        ),
        (
            "newer-format",
            Box::new(|p: &Path| fs::write(p, "{\"version\": 4, \"hosts\": []}").unwrap()),
        ),
    ]
}

#[test]
fn run_with_an_unreadable_store_says_so_at_the_default_level() {
    let dir = TestDir::new("verdict-run-bad-store");
    let store = dir.join("cache/arshim/verdicts.json");
    fs::create_dir_all(store.parent().unwrap()).unwrap();
    let without = fresh(
        &dir,
        command(&dir, host(), &strs(&host_line("final"))[1..]),
        "without",
    );
    for (kind, make) in unreadable_stores() {
        let _ = fs::remove_file(&store);
        make(&store);
        for verified_only in [false, true] {
            let companion = companion();
            let mut args = vec!["timeout", "20", companion.to_str().unwrap(), "run"];
            if verified_only {
                args.push("--verified-only");
            }
            args.push("--");
            let line = host_line("final");
            args.extend(strs(&line));
            let with = fresh(&dir, command(&dir, args[0], &args[1..]), kind);
            let ctx = format!(
                "[{kind}, verified_only {verified_only}]\n{}",
                with.out.describe()
            );
            assert_eq!(with.out.code(), Some(0), "{ctx}");
            assert!(with.archive == without.archive, "archive bytes\n{ctx}");
            let said: Vec<&str> = with
                .out
                .stderr
                .lines()
                .filter(|l| l.contains("verdict store"))
                .collect();
            assert_eq!(said.len(), 1, "one line about the store\n{ctx}");
            assert!(said[0].contains(&store.display().to_string()), "{ctx}");
            assert!(said[0].contains("cannot be read"), "{ctx}");
            assert_eq!(
                with.converted,
                usize::from(!verified_only),
                "converted\n{ctx}"
            );
        }
    }
}

#[test]
fn verify_never_replaces_a_symlinked_store() {
    let dir = TestDir::new("verdict-symlinked-store");
    let real = dir.join("elsewhere.json");
    fs::write(&real, "{}").unwrap();
    let store = dir.join("cache/arshim/verdicts.json");
    fs::create_dir_all(store.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&real, &store).unwrap();
    let mut args = vec!["verify", "--"];
    let line = host_line("final");
    args.extend(strs(&line));
    let out = common::run(command(&dir, companion(), &args), &dir, "verify");
    assert!(
        fs::symlink_metadata(&store)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the store is still a symlink\n{}",
        out.describe()
    );
    assert_eq!(
        fs::read_to_string(&real).unwrap(),
        "{}",
        "its target untouched"
    );
    assert!(
        out.stdout.contains("the verdict was not remembered") && out.stdout.contains("symlink"),
        "{}",
        out.describe()
    );
}
