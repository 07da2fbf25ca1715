//! Strict values: a value of an `ARSHIM*` variable the library does not
//! understand (`ARSHIM_LOG` included) gives one warning line, quoting at most
//! ~80 bytes of it, and the run is exactly as without the shim.

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

/// A Python build driver: `ar` twice through `subprocess.run`, then a stamp.
const PY_DRIVER: &str = r#"import subprocess, sys
for lib in ("lib1.a", "lib2.a"):
    r = subprocess.run(["ar", "rcs", lib] + sys.argv[1:3])
    print("driver:", lib, r.returncode, flush=True)
open("stamp", "w").write("done\n")
print("driver: stamp written")
"#;

/// `sh -c 'eval "$(arshim env ENV_ARGS)"; python3 driver.py one.o two.o'`,
/// or without the `eval` line.
fn py_driver(name: &str, env_args: Option<&str>) -> (TestDir, Outcome) {
    let dir = TestDir::new(name);
    let fx = fixtures();
    std::fs::write(dir.join("driver.py"), PY_DRIVER).unwrap();
    let eval = match env_args {
        Some(args) => format!(r#"eval "$("$ARSHIM_BIN" env {args})"; "#),
        None => String::new(),
    };
    let mut cmd = command("sh", &dir);
    cmd.arg("-c")
        .arg(format!(
            r#"{eval}"$PY" driver.py "$@"; echo "sh: driver exited $?""#
        ))
        .arg("sh")
        .args(&fx.objs)
        .env("ARSHIM_BIN", companion())
        .env("PY", find_python());
    let run = run(cmd, &dir, "driver");
    (dir, run)
}

/// What a user sees of a driver run: status, stdout, stderr but the
/// library's and the companion's lines, the files made and their members.
fn driver_view(dir: &TestDir, run: &Outcome) -> String {
    let mut view = format!("status {:?}\n{}", run.status.code(), run.stdout);
    for line in run.stderr.lines().filter(|l| !l.contains("arshim")) {
        view += &format!("stderr: {line}\n");
    }
    for lib in ["lib1.a", "lib2.a"] {
        let path = dir.join(lib);
        let members = path.is_file().then(|| ar_members(&path));
        view += &format!("{lib}: {members:?}\n");
    }
    let stamp = std::fs::read_to_string(dir.join("stamp")).ok();
    view + &format!("stamp: {stamp:?}\n")
}

/// `eval "$(arshim env)"` must not make a build driver the claimed process:
/// env without `--hosts` refuses (exit 2, one line saying why), and with
/// `--hosts` naming a linker the driver is left alone.
#[test]
fn env_without_hosts_does_not_claim_a_python_driver() {
    let (dir, without) = py_driver("py-driver-without", None);
    let expected = driver_view(&dir, &without);
    assert!(
        expected.contains("stamp: Some(\"done\\n\")"),
        "{expected}\n{}",
        without.describe()
    );
    for (name, args) in [
        ("py-driver-env", ""),
        ("py-driver-env-hosts", "--hosts 'ld-legacy*'"),
    ] {
        let (dir, with) = py_driver(name, Some(args));
        assert_eq!(driver_view(&dir, &with), expected, "{}", with.describe());
        let refusals: Vec<&str> = with
            .stderr
            .lines()
            .filter(|l| l.contains("arshim"))
            .collect();
        if args.is_empty() {
            assert_eq!(refusals.len(), 1, "{}", with.describe());
            assert!(refusals[0].contains("--hosts"), "{refusals:?}");
        } else {
            assert!(refusals.is_empty(), "{}", with.describe());
        }
    }
}
