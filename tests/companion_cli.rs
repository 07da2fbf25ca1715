//! Integration tests of the companion binary's `run` and `env` subcommands.
//!
//! The library preloaded here is an empty shared object built at test time
//! (the real libarshim.so is not needed to check what the companion sets up).

use common::empty_shared_library;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

struct Fixture {
    dir: PathBuf,
    /// Stands in for libarshim.so.
    lib: PathBuf,
    /// Another preloadable library, as a user might already have in LD_PRELOAD.
    other: PathBuf,
    /// A symlink to `lib`: the same library under another name.
    alias: PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        remove_stale_fixtures(tmp);
        let dir = tmp.join(format!("companion_cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lib = dir.join("libarshim.so");
        let other = dir.join("libother.so");
        for so in [&lib, &other] {
            empty_shared_library(so);
        }
        let alias = dir.join("alias.so");
        let _ = std::fs::remove_file(&alias); // left by an earlier run with the same pid
        std::os::unix::fs::symlink(&lib, &alias).unwrap();
        Fixture {
            dir,
            lib,
            other,
            alias,
        }
    })
}

/// Fixture directories of earlier test processes that have exited.
fn remove_stale_fixtures(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("companion_cli-")) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The companion's and the library's variables (`common::SCRUBBED_ENV`) and
/// `ARSHIM_LIB`, cleared so the caller's environment cannot leak into the tests.
fn clean_env(cmd: &mut Command) -> &mut Command {
    common::scrub(cmd, &["ARSHIM_LIB"])
}

/// `arshim ARGS` with a clean environment and the fixture library.
fn arshim(args: &[&str]) -> Command {
    let mut cmd = Command::new(common::companion());
    clean_env(&mut cmd)
        .args(args)
        .env("ARSHIM_LIB", &fixture().lib);
    cmd
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Runs `arshim run OPTIONS -- sh -c SCRIPT` and returns (pid of the spawned process, output).
fn run_sh(options: &[&str], script: &str, tweak: impl FnOnce(&mut Command)) -> (u32, Output) {
    let mut args = vec!["run"];
    args.extend_from_slice(options);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    let mut cmd = arshim(&args);
    tweak(&mut cmd);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    (pid, child.wait_with_output().unwrap())
}

fn lib() -> String {
    fixture().lib.display().to_string()
}

#[test]
fn run_scopes_to_the_execd_command_pid() {
    // field 22 of /proc/$$/stat, the start time: the 20th after the ')'
    let (pid, out) = run_sh(
        &[],
        r#"echo "$ARSHIM $ARSHIM_PID $$:$(cut -d')' -f2- /proc/$$/stat | awk '{print $20}')""#,
        |_| {},
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let got = stdout(&out);
    let words: Vec<&str> = got.split_whitespace().collect();
    assert_eq!(words.len(), 3, "{got}");
    let (shell_pid, start) = words[2].split_once(':').unwrap();
    let (shell_pid, start): (u32, u64) = (shell_pid.parse().unwrap(), start.parse().unwrap());
    assert_eq!(shell_pid, pid, "{got}");
    // Zero-padded to seven and twelve digits: one size whatever the pid.
    assert_eq!(
        words[1],
        format!("{pid:07}:{start:012}"),
        "ARSHIM_PID is the command's pid and start time"
    );
}

/// `--hosts` naming only hosts known not to be final (`rustc`): the library
/// would refuse every process it brings into scope, so the command runs
/// without it, after the one line that says why; any other name in the
/// list, a glob, `--force` or `--trace` keeps it.
#[test]
fn run_hosts_of_only_non_final_hosts_runs_without_the_library() {
    let lib = lib();
    let script = r#"echo "[$LD_PRELOAD]"; exit 3"#;
    let (_, out) = run_sh(&["--hosts", "rustc,nim"], script, |_| {});
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "[]\n", "{}", stderr(&out));
    let err = stderr(&out);
    let said: Vec<&str> = err.lines().collect();
    assert_eq!(said.len(), 2, "one line for each host: {said:?}");
    assert!(
        said[0].contains("rustc is known not to be final"),
        "{said:?}"
    );
    let trace = fixture().dir.join("only-not-final.trace");
    let kept: [&[&str]; 4] = [
        &["--hosts", "rustc,ld"],
        &["--hosts", "rust*"],
        &["--hosts", "rustc", "--force"],
        &["--hosts", "rustc", "--trace", trace.to_str().unwrap()],
    ];
    for options in kept {
        let (_, out) = run_sh(options, script, |_| {});
        assert_eq!(out.status.code(), Some(3), "{options:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("[{lib}]\n"), "{options:?}");
    }
}

#[test]
fn run_puts_the_library_first_once() {
    let f = fixture();
    let existing = format!(
        "{} {}:{}::{}",
        f.alias.display(),
        f.other.display(),
        lib(),
        lib()
    );
    let (_, out) = run_sh(&[], r#"echo "$LD_PRELOAD""#, |c| {
        c.env("LD_PRELOAD", &existing);
    });
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{}:{}\n", lib(), f.other.display()));
}

#[test]
fn run_without_existing_preload_sets_just_the_library() {
    let (_, out) = run_sh(&[], r#"echo "$LD_PRELOAD""#, |_| {});
    assert_eq!(stdout(&out), format!("{}\n", lib()));
}

#[test]
fn run_with_hosts_removes_the_pid() {
    let (_, out) = run_sh(
        &["--hosts", "ld-legacy*,sh"],
        r#"echo "${ARSHIM_PID-unset}|$ARSHIM_HOSTS""#,
        |c| {
            c.env("ARSHIM_PID", "12345");
        },
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "unset|ld-legacy*,sh\n");
}

#[test]
fn run_passes_the_other_settings() {
    let f = fixture();
    let (_, out) = run_sh(
        &[
            "--observe",
            "--tools",
            "ar,*-ar",
            "--log",
            "debug",
            "--trace",
            "trace.jsonl",
        ],
        r#"printf '%s\n' "$ARSHIM" "$ARSHIM_TOOLS" "$ARSHIM_LOG" "$ARSHIM_TRACE" "${ARSHIM_SPENT-unset}" "$ARSHIM_COMPANION""#,
        |c| {
            c.current_dir(&f.dir).env("ARSHIM_SPENT", "1");
        },
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let companion = std::fs::canonicalize(common::companion()).unwrap();
    assert_eq!(
        stdout(&out),
        format!(
            "observe\nar,*-ar\ndebug\n{}\nunset\n{}\n",
            f.dir.join("trace.jsonl").display(),
            companion.display()
        )
    );
}

#[test]
fn run_exits_with_the_command_status() {
    let (_, out) = run_sh(&[], "exit 7", |_| {});
    assert_eq!(out.status.code(), Some(7));
}

#[test]
fn run_passes_arguments_untouched() {
    let out = arshim(&["run", "--", "printf", "[%s]", "--observe", "a b", "-x"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "[--observe][a b][-x]");
}

#[test]
fn run_missing_command_exits_127() {
    let out = arshim(&["run", "--", "arshim-no-such-command-xyz", "arg"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let err = stderr(&out);
    assert!(
        err.starts_with("arshim: cannot run arshim-no-such-command-xyz: "),
        "{err}"
    );
}

#[test]
fn run_unexecutable_command_exits_126() {
    let script = fixture().dir.join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let out = arshim(&["run", "--", script.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(
        stderr(&out).starts_with("arshim: cannot run "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn run_without_command_is_a_usage_error() {
    for args in [&["run", "--"][..], &["run"], &["run", "--observe"]] {
        let out = arshim(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("Usage: arshim run"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn run_rejects_bad_globs() {
    for args in [
        &["run", "--tools", "", "--", "true"][..],
        &["run", "--hosts", "a,,b", "--", "true"],
    ] {
        let out = arshim(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn missing_library_override_is_a_clear_error() {
    let nowhere = fixture().dir.join("no-such-lib.so");
    for sub in [&["run", "--", "true"][..], &["env", "--hosts", "ld"]] {
        let out = arshim(sub).env("ARSHIM_LIB", &nowhere).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("ARSHIM_LIB={}", nowhere.display())),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
}

/// Runs `SCRIPT` in sh with a clean environment plus `$ARSHIM_BIN` and the
/// fixture library, so the script can `eval "$("$ARSHIM_BIN" env …)"`.
fn sh_with_arshim(script: &str) -> String {
    let mut cmd = Command::new("sh");
    clean_env(&mut cmd);
    let out = cmd
        .arg("-c")
        .arg(script)
        .env("ARSHIM_BIN", common::companion())
        .env("ARSHIM_LIB", &fixture().lib)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn env_output_evals_in_sh() {
    let got = sh_with_arshim(
        r#"eval "$("$ARSHIM_BIN" env --hosts ld)" || exit 9; echo "$LD_PRELOAD|$ARSHIM|${ARSHIM_PID-unset}""#,
    );
    assert_eq!(got, format!("{}|1|unset\n", lib()));
}

#[test]
fn env_output_evals_in_sh_after_existing_preload() {
    let other = fixture().other.display().to_string();
    let got = sh_with_arshim(&format!(
        r#"export LD_PRELOAD='{other}' ARSHIM_PID=1 ARSHIM_SPENT=1
           eval "$("$ARSHIM_BIN" env --hosts ld)" || exit 9
           echo "$LD_PRELOAD|${{ARSHIM_PID-unset}}|${{ARSHIM_SPENT-unset}}""#
    ));
    assert_eq!(got, format!("{}:{other}|unset|unset\n", lib()));
}

#[test]
fn env_output_quotes_globs_for_sh() {
    let got = sh_with_arshim(concat!(
        r#"eval "$("$ARSHIM_BIN" env --observe --tools 'ar,*-ar' --hosts 'ld-legacy*')" || exit 9;"#,
        r#"printf '%s\n' "$ARSHIM" "$ARSHIM_TOOLS" "$ARSHIM_HOSTS" "$ARSHIM_COMPANION""#,
    ));
    let companion = std::fs::canonicalize(common::companion()).unwrap();
    assert_eq!(
        got,
        format!("observe\nar,*-ar\nld-legacy*\n{}\n", companion.display())
    );
}

#[test]
fn env_notes_the_default_tools() {
    let out = arshim(&["env", "--hosts", "ld"]).output().unwrap();
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("ar,*-ar,llvm-ar*,gcc-ar*"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn env_fish_text() {
    let out = arshim(&["env", "--shell", "fish", "--tools", "ar", "--hosts", "ld"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains(&format!("set -gx LD_PRELOAD {} $LD_PRELOAD\n", lib())),
        "{text}"
    );
    assert!(text.contains("set -gx ARSHIM 1\n"), "{text}");
    assert!(text.contains("set -gx ARSHIM_TOOLS ar\n"), "{text}");
}

#[test]
fn env_make_output_works_in_make() {
    assert!(
        Command::new("make").arg("--version").output().is_ok(),
        "make is not installed (.ci/run installs it)"
    );
    let f = fixture();
    let out = arshim(&[
        "env", "--shell", "make", "--tools", "ar,*-ar", "--hosts", "ld*",
    ])
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mk = f.dir.join("arshim.mk");
    std::fs::write(&mk, &out.stdout).unwrap();
    let makefile = f.dir.join("Makefile.test");
    std::fs::write(
        &makefile,
        format!(
            "include {}\nall:\n\t@echo \"$$LD_PRELOAD|$$ARSHIM|$$ARSHIM_TOOLS|$$ARSHIM_HOSTS|$${{ARSHIM_PID-unset}}\"\n",
            mk.display()
        ),
    )
    .unwrap();
    let out = Command::new("make")
        .arg("-s")
        .arg("-f")
        .arg(&makefile)
        .env("LD_PRELOAD", &f.other)
        .env("ARSHIM_PID", "99")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("{} {}|1|ar,*-ar|ld*|unset\n", lib(), f.other.display())
    );
}

#[test]
fn help_and_version() {
    let out = arshim(&["--version"]).output().unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("arshim "));
    for args in [&["--help"][..], &["run", "--help"], &["env", "--help"]] {
        let out = arshim(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(stdout(&out).contains("Usage: arshim"), "{args:?}");
    }
    let out = arshim(&[]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "no subcommand prints help and fails"
    );
}
