//! The companion's command line as people expect it (docs/DESIGN.md,
//! "Companion"): an unknown option is a usage error, never a command;
//! `run`, `verify` and `bench` see a known host the same way (real ldc2 and
//! ocamlopt, installed by `.ci/run`); the output of `arshim env` can be
//! evaluated twice (dash, bash, zsh, fish, make) and names the linkers in
//! its examples.

use common::*;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// verify and bench run real compilers twice; bounded all the same.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// A command with a clean environment, the C locale, a private verdict
/// store and the library under test, in `cwd`.
fn clean(program: impl AsRef<OsStr>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    scrub(&mut cmd, &["ARSHIM_LIB"]);
    cmd.env("LC_ALL", "C")
        .env("XDG_CACHE_HOME", cwd.join("xdg-cache"))
        .env("ARSHIM_LIB", library())
        .current_dir(cwd);
    cmd
}

fn arshim(args: &[&str], cwd: &Path) -> Command {
    let mut cmd = clean(companion(), cwd);
    cmd.args(args);
    cmd
}

/// `PROGRAM ARGS…` as `clean` makes it: the run without arshim.
fn plain(argv: &[&str], cwd: &Path) -> Command {
    let mut cmd = clean(argv[0], cwd);
    cmd.args(&argv[1..]);
    cmd
}

fn run(cmd: Command, dir: &TestDir, label: &str) -> Outcome {
    run_timed(cmd, dir, label, RUN_TIMEOUT).outcome_lossy()
}

// ---- 1. Unknown options are errors; the command starts at `--` or its first word.

#[test]
fn unknown_options_are_usage_errors_not_commands() {
    let dir = TestDir::new("cli-unknown");
    for sub in ["run", "verify", "bench", "env", "doctor"] {
        for args in [
            [sub, "--obsrve", "--", "true"],
            [sub, "--obsrve", "true", "x"],
        ] {
            let out = run(arshim(&args, &dir.join("")), &dir, sub);
            let ctx = format!("{args:?}\n{}", out.describe());
            assert_eq!(out.code(), Some(2), "{ctx}");
            assert!(
                out.stderr
                    .starts_with("error: unexpected argument '--obsrve' found"),
                "clap's own message\n{ctx}"
            );
            assert!(out.stderr.contains("Usage: arshim"), "{ctx}");
            assert!(!out.stderr.contains("cannot run"), "{ctx}");
        }
    }
}

#[test]
fn the_commands_own_options_are_never_ours() {
    let dir = TestDir::new("cli-command-options");
    let cwd = dir.join("");
    let script = r#"printf '%s\n' "$@"; exit 3"#;
    let words = ["sh", "-c", script, "sh", "--observe", "-n", "--", "x"];
    let base = run(plain(&words, &cwd), &dir, "without");
    base.assert_code(3);
    assert_eq!(base.stdout, "--observe\n-n\n--\nx\n", "{}", base.describe());
    for dashes in [&["run", "--"][..], &["run"]] {
        let mut cmd = arshim(dashes, &cwd);
        cmd.args(words);
        let with = run(cmd, &dir, "with");
        let ctx = format!("{dashes:?}\n{}\n{}", base.describe(), with.describe());
        assert_eq!(with.code(), base.code(), "{ctx}");
        assert_eq!(with.stdout, base.stdout, "{ctx}");
        assert_eq!(with.stderr, base.stderr, "{ctx}");
    }
    // bench measures the same command with or without `--`.
    for dashes in [&["bench", "-n", "1", "--"][..], &["bench", "-n", "1"]] {
        let mut cmd = arshim(dashes, &cwd);
        cmd.args(["sh", "-c", "exit 0", "sh", "--observe"]);
        let out = run(cmd, &dir, "bench");
        out.assert_code(0);
        assert!(
            out.stdout
                .contains("command: sh -c 'exit 0' sh --observe\n"),
            "{}",
            out.describe()
        );
    }
}

// ---- 2. One notion of the host for run, verify and bench.

/// A work dir with ldc2's two D sources; its command line (`--ar=ar`: the
/// archiver is spawned, as a legacy setup does).
fn ldc2_work(dir: &TestDir) -> (PathBuf, [&'static str; 6]) {
    require("ldc2", "ldc");
    require("ar", "binutils");
    let cwd = dir.join("work");
    fs::create_dir_all(&cwd).unwrap();
    let real = common::real_src();
    for n in ["foo.d", "bar.d"] {
        fs::copy(real.join(n), cwd.join(n)).unwrap();
    }
    let argv = ["ldc2", "-lib", "foo.d", "bar.d", "-of=libfoo.a", "--ar=ar"];
    (cwd, argv)
}

/// ocamlopt, known not to end with its archiver: two compiled units and the
/// `-a` command line that archives them.
fn ocamlopt_work(dir: &TestDir) -> (PathBuf, [&'static str; 6]) {
    require("ocamlopt", "ocaml-nox");
    let cwd = dir.join("work");
    fs::create_dir_all(&cwd).unwrap();
    let real = common::real_src();
    fs::copy(real.join("foo.ml"), cwd.join("m.ml")).unwrap();
    fs::write(cwd.join("n.ml"), "let twice x = 2 * x\n").unwrap();
    for src in ["m.ml", "n.ml"] {
        checked(clean("ocamlopt", &cwd).args(["-c", src]), "ocamlopt -c");
    }
    let argv = ["ocamlopt", "-a", "-o", "mn.cmxa", "m.cmx", "n.cmx"];
    (cwd, argv)
}

/// The archive's member names and their contents, as `ar t` and `ar p` show them.
fn archive_contents(archive: &Path) -> (String, Vec<u8>) {
    let ar = |op: &str| {
        let mut cmd = Command::new("ar");
        checked(cmd.arg(op).arg(archive), "ar").stdout
    };
    (String::from_utf8(ar("t")).unwrap(), ar("p"))
}

/// `arshim SUB OPTS -- ARGV` in `cwd`.
fn through(sub: &[&str], argv: &[&str], cwd: &Path) -> Command {
    let mut cmd = arshim(sub, cwd);
    cmd.arg("--").args(argv);
    cmd
}

#[test]
fn ldc2_is_the_same_host_for_run_verify_and_bench() {
    let dir = TestDir::new("cli-host-ldc2");
    let (cwd, argv) = ldc2_work(&dir);
    let archive = cwd.join("libfoo.a");
    let base = run(plain(&argv, &cwd), &dir, "without");
    base.assert_code(0);
    let members = archive_contents(&archive);
    assert!(members.0.contains("foo.o"), "{members:?}");
    fs::remove_file(&archive).unwrap();

    let with = run(through(&["run", "--log", "info"], &argv, &cwd), &dir, "run");
    with.assert_code(0);
    assert_eq!(archive_contents(&archive), members, "{}", with.describe());
    // ldc2's archivers and its link drivers (docs/DESIGN.md, "Compilers")
    let globs = "ar,*-ar,llvm-ar*,cc,c++,gcc,gcc-[0-9]*,*-gcc,*-gcc-[0-9]*,g++,g++-[0-9]*,\
                 *-g++,*-g++-[0-9]*,clang,clang-[0-9]*,clang++,clang++-[0-9]*,*-clang,*-clang++";
    let tools = format!("archiver globs {globs}");
    assert!(
        with.stderr.contains(&format!("known host ldc2: {tools}")),
        "{}",
        with.describe()
    );

    let verified = run(through(&["verify"], &argv, &cwd), &dir, "verify");
    verified.assert_code(0);
    let ctx = verified.describe();
    assert!(verified.stdout.contains("verdict: SAFE"), "{ctx}");
    assert!(
        verified
            .stdout
            .contains(&format!("  - known host ldc2: {tools}\n")),
        "{ctx}"
    );
    assert_eq!(archive_contents(&archive), members, "{ctx}");

    let bench = run(through(&["bench", "-n", "1"], &argv, &cwd), &dir, "bench");
    bench.assert_code(0);
    let ctx = bench.describe();
    assert!(
        bench
            .stderr
            .contains(&format!("arshim bench: known host ldc2: {tools}\n")),
        "{ctx}"
    );
    assert!(
        bench.stdout.contains(&format!(
            "archiver ({globs}) seen in 1/1 runs without and 1/1 with arshim."
        )),
        "{ctx}"
    );
    assert!(!bench.stdout.contains("not converted"), "{ctx}");
}

#[test]
fn a_known_non_final_host_is_refused_alike_by_run_verify_and_bench() {
    let dir = TestDir::new("cli-host-ocamlopt");
    let (cwd, argv) = ocamlopt_work(&dir);
    let outputs = ["mn.a", "mn.cmxa"];
    let fresh = |cmd: Command, label: &str| {
        for o in outputs {
            let _ = fs::remove_file(cwd.join(o));
        }
        let out = run(cmd, &dir, label);
        let left: Vec<Vec<u8>> = outputs
            .iter()
            .map(|o| fs::read(cwd.join(o)).unwrap_or_default())
            .collect();
        (out, left)
    };
    let (base, made) = fresh(plain(&argv, &cwd), "without");
    base.assert_code(0);
    assert!(made.iter().all(|m| !m.is_empty()), "{}", base.describe());
    let (with, left) = fresh(through(&["run"], &argv, &cwd), "run");
    with.assert_code(0);
    assert_eq!(left, made, "{}", with.describe());
    let refused = "ocamlopt is known not to end with its archiver: after ar, ocamlopt runs ranlib";
    assert!(with.stderr.contains(refused), "{}", with.describe());

    let (verified, left) = fresh(through(&["verify"], &argv, &cwd), "verify");
    let ctx = verified.describe();
    verified.assert_code(1);
    assert!(verified.stdout.contains("verdict: NOT SAFE"), "{ctx}");
    assert!(verified.stdout.contains(refused), "{ctx}");
    assert!(
        verified
            .stdout
            .contains("`arshim run` runs it without conversion"),
        "{ctx}"
    );
    assert_eq!(left, made, "{ctx}");

    let (bench, left) = fresh(through(&["bench", "-n", "1"], &argv, &cwd), "bench");
    let ctx = bench.describe();
    bench.assert_code(0);
    assert!(
        bench.stderr.contains(&format!("arshim bench: {refused}")),
        "{ctx}"
    );
    assert!(
        bench.stdout.contains("archiver (ar,*-ar,*ranlib) seen"),
        "{ctx}"
    );
    assert!(
        bench.stdout.contains("ocamlopt is known not to end with its archiver, and `arshim run` runs it without conversion"),
        "{ctx}"
    );
    assert_eq!(left, made, "{ctx}");
}

// ---- 3. `env`: idempotent in every syntax; bash and zsh are sh.

struct EnvKit {
    dir: TestDir,
    /// Stands in for libarshim.so (an empty shared object).
    lib: PathBuf,
    /// A library the user already preloads.
    other: PathBuf,
}

fn env_kit(name: &str) -> EnvKit {
    let dir = TestDir::new(name);
    let lib = dir.join("libarshim.so");
    let other = dir.join("libother.so");
    for so in [&lib, &other] {
        empty_shared_library(so);
    }
    EnvKit { dir, lib, other }
}

impl EnvKit {
    fn settings(&self, shell: &str) -> Vec<u8> {
        let mut cmd = arshim(
            &["env", "--shell", shell, "--hosts", "ld-legacy*"],
            &self.dir.join(""),
        );
        cmd.env("ARSHIM_LIB", &self.lib);
        let out = checked(&mut cmd, "arshim env");
        out.stdout
    }

    /// What `LD_PRELOAD` is after `shell` evaluated the settings twice,
    /// starting from `initial`.
    fn twice(&self, shell: &str, syntax: &str, initial: Option<&str>) -> String {
        let file = self.dir.join(format!("settings.{syntax}"));
        fs::write(&file, self.settings(syntax)).unwrap();
        let f = file.display();
        let mut cmd = Command::new(require(shell, shell));
        scrub(&mut cmd, &[]);
        match syntax {
            "fish" => cmd.args(["--no-config", "-c"]).arg(format!(
                "source '{f}'; or exit 9; source '{f}'; or exit 9; printf '%s\\n' \"$LD_PRELOAD\"; sh -c 'printf \"%s\\n\" \"$LD_PRELOAD\"'"
            )),
            _ => cmd.arg("-c").arg(format!(
                "eval \"$(cat '{f}')\" || exit 9; eval \"$(cat '{f}')\" || exit 9; printf '%s\\n' \"$LD_PRELOAD\"; sh -c 'printf \"%s\\n\" \"$LD_PRELOAD\"'"
            )),
        };
        if let Some(v) = initial {
            cmd.env("LD_PRELOAD", v);
        }
        let out = checked(&mut cmd, shell);
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{shell}: {text}");
        // What the shell holds is what it exports (fish joins its list with spaces).
        assert_eq!(lines[0], lines[1], "{shell}: exported differently");
        lines[0].to_owned()
    }
}

#[test]
fn env_output_is_idempotent_in_every_shell_and_make() {
    let kit = env_kit("cli-env-idem");
    let (lib, other) = (
        kit.lib.display().to_string(),
        kit.other.display().to_string(),
    );
    let cases = [
        (None, lib.clone()),
        (Some(other.clone()), format!("{lib}:{other}")),
        // Already there, anywhere, split as ld.so splits (':' and ' '): kept.
        (Some(format!("{other} {lib}")), format!("{other} {lib}")),
        (Some(format!("{other}:{lib}")), format!("{other}:{lib}")),
        // Only a name that ends like it: not ours.
        (Some(format!("/x{lib}")), format!("{lib}:/x{lib}")),
    ];
    for shell in ["dash", "bash", "zsh"] {
        for (initial, want) in &cases {
            let got = kit.twice(shell, "sh", initial.as_deref());
            assert_eq!(&got, want, "{shell} from {initial:?}");
        }
    }
    let fish_cases = [
        (None, lib.clone()),
        (Some(other.clone()), format!("{lib} {other}")),
        (Some(format!("{other}:{lib}")), format!("{other}:{lib}")),
        (Some(format!("{other} {lib}")), format!("{other} {lib}")),
    ];
    for (initial, want) in &fish_cases {
        let got = kit.twice("fish", "fish", initial.as_deref());
        assert_eq!(&got, want, "fish from {initial:?}");
    }
    let make_cases = [
        (None, lib.clone()),
        (Some(other.clone()), format!("{lib} {other}")),
        (Some(format!("{other}:{lib}")), format!("{other}:{lib}")),
    ];
    for (initial, want) in &make_cases {
        assert_eq!(
            &make_twice(&kit, initial.as_deref()),
            want,
            "make from {initial:?}"
        );
    }
}

/// `LD_PRELOAD` in a recipe of a Makefile that includes the settings twice.
fn make_twice(kit: &EnvKit, initial: Option<&str>) -> String {
    require("make", "make");
    let mk = kit.dir.join("arshim.mk");
    fs::write(&mk, kit.settings("make")).unwrap();
    let makefile = kit.dir.join("Makefile.twice");
    let m = mk.display();
    fs::write(
        &makefile,
        format!("include {m}\ninclude {m}\nall:\n\t@printf '%s\\n' \"$$LD_PRELOAD\"\n"),
    )
    .unwrap();
    let mut cmd = Command::new("make");
    scrub(&mut cmd, &[]).arg("-s").arg("-f").arg(&makefile);
    if let Some(v) = initial {
        cmd.env("LD_PRELOAD", v);
    }
    let out = checked(&mut cmd, "make");
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

#[test]
fn env_takes_bash_and_zsh_as_sh() {
    let kit = env_kit("cli-env-shells");
    let sh = kit.settings("sh");
    for shell in ["bash", "zsh"] {
        assert_eq!(kit.settings(shell), sh, "--shell {shell}");
    }
}

#[test]
fn env_with_an_empty_host_list_gives_a_host_example() {
    let dir = TestDir::new("cli-env-empty-hosts");
    let out = run(arshim(&["env", "--hosts", ""], &dir.join("")), &dir, "env");
    let ctx = out.describe();
    assert_eq!(out.code(), Some(2), "{ctx}");
    assert!(out.stderr.contains("such as ld-legacy*,ldc2"), "{ctx}");
    assert!(
        !out.stderr.contains("ar,*-ar"),
        "an archiver example for --hosts\n{ctx}"
    );
}

// ---- Output read only in part: the way other tools end, not a panic.

/// `arshim doctor | head -1`, `arshim completions bash | head -1`, `arshim man | head -1` (output
/// longer than a pipe holds): the companion ends by SIGPIPE, quietly, as
/// `cat` would — never "panicked … Broken pipe".
#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    let dir = TestDir::new("cli-pipe");
    for sub in [&["completions", "bash"][..], &["man"][..], &["doctor"][..]] {
        let mut cmd = arshim(sub, &dir.path);
        // A pipe whose read end is closed before arshim starts: every
        // write fails, whatever the timing.
        let mut fds = [0; 2];
        // SAFETY: pipe fills the two fds; the read end is closed at once,
        // the write end handed to the child (Stdio owns it from here).
        let write_end = unsafe {
            assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
            libc::close(fds[0]);
            <std::process::Stdio as std::os::fd::FromRawFd>::from_raw_fd(fds[1])
        };
        cmd.stdout(write_end).stderr(std::process::Stdio::piped());
        let out = cmd.output().expect("arshim runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{sub:?}: {stderr}"
        );
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGPIPE),
            "{sub:?}: {:?}",
            out.status
        );
    }
}
