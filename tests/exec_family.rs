//! The exec family (docs/DESIGN.md, "Conversion" 2): every exec function,
//! called by a host directly and by a forked child of it, behaves exactly as
//! without the library — the same program runs with the same arguments and
//! environment, PATH is searched and a text file without `#!` is run by
//! /bin/sh as glibc does, and a failure (ENOENT, EACCES, E2BIG, ENOEXEC,
//! execveat's "" with and without AT_EMPTY_PATH) returns -1 with the same errno.
//! Each case runs without the library, under `arshim run` (the host is the
//! process in scope: its hooks and its child's are the core's) and with the
//! library preloaded directly (off: the preload's trampolines).

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The programs of these tests, built once: the host, the program it execs,
/// and the directory put first on PATH for the searching calls.
struct Programs {
    host: PathBuf,
    show: PathBuf,
    script: PathBuf,
    noexec: PathBuf,
    bin: PathBuf,
}

fn programs() -> &'static Programs {
    static P: OnceLock<Programs> = OnceLock::new();
    P.get_or_init(|| {
        let dir = fixture_dir().join("exec-family");
        let bin = dir.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let host = dir.join("exec_host");
        compile_c(&hosts_src().join("exec_host.c"), &host);
        let show = bin.join("exec_show");
        compile_c(&hosts_src().join("exec_show.c"), &show);
        // Executable, but neither ELF nor `#!`: execve says ENOEXEC, the
        // searching calls run it with /bin/sh.
        let script = bin.join("exec_script");
        fs::write(
            &script,
            "echo \"script:$0:$*:EXEC_MARK=$EXEC_MARK\"\nexit 5\n",
        )
        .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        // No execute bit at all: EACCES, even for root.
        let noexec = bin.join("exec_noexec");
        fs::copy(&show, &noexec).unwrap();
        fs::set_permissions(&noexec, fs::Permissions::from_mode(0o644)).unwrap();
        Programs {
            host,
            show,
            script,
            noexec,
            bin,
        }
    })
}

/// How the host is started.
#[derive(Clone, Copy, Debug)]
enum Side {
    Without,
    ArshimRun,
    Preloaded,
}

/// `exec_host WHERE FUNC CASE` on `side`, with a clean environment.
fn host(side: Side, args: [&str; 3], dir: &TestDir) -> Command {
    let p = programs();
    let mut cmd = match side {
        Side::ArshimRun => {
            let mut c = Command::new(companion());
            c.args(["run", "--"]).arg(&p.host);
            c
        }
        _ => Command::new(&p.host),
    };
    scrub(&mut cmd, &[]);
    if let Side::Preloaded = side {
        cmd.env("LD_PRELOAD", library());
    }
    cmd.args(args)
        .env("PATH", path_with(&p.bin))
        .env("LC_ALL", "C")
        .env("EXEC_MARK", "inherited")
        .env("EXEC_SHOW", &p.show)
        .env("EXEC_SCRIPT", &p.script)
        .env("EXEC_NOEXEC", &p.noexec)
        .current_dir(&dir.path);
    cmd
}

/// The calls that search PATH (and fall back to /bin/sh on ENOEXEC).
fn searches(func: &str) -> bool {
    matches!(func, "execvp" | "execvpe" | "execlp")
}

/// The calls that take an environment (the others pass on `environ`).
fn given_env(func: &str) -> bool {
    matches!(
        func,
        "execve" | "execvpe" | "execle" | "fexecve" | "execveat"
    )
}

/// What the program run by a successful call prints, or the failure line.
fn expected(func: &str, case: &str) -> String {
    let mark = if given_env(func) {
        "given"
    } else {
        "inherited"
    };
    let shown =
        |extra: &str| format!("argv[0]={func}\nargv[1]=a b\nargv[2]=c\n{extra}EXEC_MARK={mark}\n");
    let failed = |errno: &str| format!("{func}: -1 errno {errno}\n");
    match case {
        "run" | "empty" => shown(""),
        "script" if searches(func) => {
            let path = programs().bin.join("exec_script");
            format!("script:{}:a b c:EXEC_MARK={mark}\n", path.display())
        }
        "script" => failed("ENOEXEC"),
        "enoent" if func == "fexecve" => failed("EINVAL"),
        "enoent" => failed("ENOENT"),
        "eacces" | "empty_eacces" => failed("EACCES"),
        "empty_noflag" => failed("ENOENT"),
        "e2big" => failed("E2BIG"),
        _ => unreachable!("case {case}"),
    }
}

/// The exit status of the program a successful call runs (or 3: failed).
fn expected_status(func: &str, case: &str) -> i32 {
    match expected(func, case) {
        s if s.starts_with(&format!("{func}: -1")) => 3,
        s if s.starts_with("script:") => 5,
        _ => 7,
    }
}

/// `func` with every case, direct and in a forked child: the same stdout,
/// stderr and status on every side, and what glibc's call does.
fn check_function(func: &str) {
    let dir = TestDir::new(&format!("exec-{func}"));
    let mut cases = vec!["run", "script", "enoent", "eacces", "e2big"];
    if func == "execveat" {
        cases.extend(["empty", "empty_eacces", "empty_noflag"]);
    }
    for case in cases {
        for place in ["direct", "child"] {
            let (want_out, want_code) = match place {
                "direct" => (expected(func, case), expected_status(func, case)),
                _ => (
                    format!(
                        "{}child status {}\n",
                        expected(func, case),
                        expected_status(func, case)
                    ),
                    0,
                ),
            };
            let label = |side: Side| format!("{func}-{case}-{place}-{side:?}");
            let without = run(
                host(Side::Without, [place, func, case], &dir),
                &dir,
                &label(Side::Without),
            );
            assert_eq!(without.stdout, want_out, "{}", without.describe());
            without.assert_code(want_code);
            assert_eq!(without.stderr, "", "{}", without.describe());
            for side in [Side::ArshimRun, Side::Preloaded] {
                let with = run(host(side, [place, func, case], &dir), &dir, &label(side));
                assert_eq!(
                    (&with.stdout, &with.stderr, with.code()),
                    (&without.stdout, &without.stderr, without.code()),
                    "{func} {case} {place}: {side:?} differs from without\n{}\n{}",
                    without.describe(),
                    with.describe()
                );
            }
        }
    }
}

#[test]
fn execve_behaves_as_without() {
    check_function("execve");
}

#[test]
fn execv_behaves_as_without() {
    check_function("execv");
}

#[test]
fn execvp_behaves_as_without() {
    check_function("execvp");
}

#[test]
fn execvpe_behaves_as_without() {
    check_function("execvpe");
}

#[test]
fn execl_behaves_as_without() {
    check_function("execl");
}

#[test]
fn execlp_behaves_as_without() {
    check_function("execlp");
}

#[test]
fn execle_behaves_as_without() {
    check_function("execle");
}

#[test]
fn fexecve_behaves_as_without() {
    check_function("fexecve");
}

#[test]
fn execveat_behaves_as_without() {
    check_function("execveat");
}

/// The host's `execl` binds to libarshim.so, whose `execl` hands its vector
/// to our own `execv` trampoline (a direct call: no binding to see), and the
/// exec functions were resolved in the parent at its fork: the child binds
/// nothing of the exec family to the C library, so it never runs `dlsym`
/// (and never takes the loader's lock) between fork and exec.
#[test]
fn execl_binds_to_the_preload_and_the_child_resolves_nothing() {
    let dir = TestDir::new("exec-bindings");
    let mut cmd = host(Side::Preloaded, ["child", "execl", "run"], &dir);
    cmd.env("LD_DEBUG", "bindings");
    let out = run(cmd, &dir, "bindings");
    out.assert_code(0);
    assert_eq!(
        out.stdout,
        format!("{}child status 7\n", expected("execl", "run"))
    );
    let lib = library();
    let lib = lib.to_str().unwrap();
    let parent = format!("{}:", out.pid);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("binding file"))
        .collect();
    let binds = |in_parent: bool, from: &str, to: &str, symbol: &str| {
        lines.iter().any(|l| {
            l.trim_start().starts_with(&parent) == in_parent
                && l.contains(&format!("binding file {from} ["))
                && l.contains(&format!("] to {to}"))
                && l.contains(&format!("symbol `{symbol}'"))
        })
    };
    let host = programs().host.to_str().unwrap().to_owned();
    // The C library, as the loader names it in these lines.
    let libc = lines
        .iter()
        .find_map(|l| l.split("] to ").nth(1).filter(|t| t.contains("/libc.so")))
        .and_then(|t| t.split(" [").next())
        .unwrap_or_else(|| panic!("no binding to the C library\n{}", out.describe()))
        .to_owned();
    assert!(
        binds(false, &host, lib, "execl"),
        "the child's execl is not bound to {lib}\n{}",
        out.describe()
    );
    for f in [
        "execve", "execv", "execvp", "execvpe", "fexecve", "execveat",
    ] {
        assert!(
            binds(true, lib, &libc, f),
            "the parent did not resolve {f} at its fork\n{}",
            out.describe()
        );
        assert!(
            !binds(false, lib, &libc, f),
            "the child resolved {f} itself\n{}",
            out.describe()
        );
    }
}

/// In a forked child of the process in scope, each variadic call reaches the
/// core's hook of the vector form it amounts to (execl → execv, execlp →
/// execvp, execle → execve): a breakpoint there, under gdb, is hit in the
/// child, called from libarshim.so, and the program then runs as without.
#[test]
fn the_variadic_calls_reach_the_core_in_a_child_in_scope() {
    let dir = TestDir::new("exec-variadic-core");
    let p = programs();
    for (func, hook) in [
        ("execl", "arshim_hook_execv"),
        ("execlp", "arshim_hook_execvp"),
        ("execle", "arshim_hook_execve"),
    ] {
        let script = dir.join(format!("{func}.gdb"));
        let env = |k: &str, v: &std::path::Path| format!("set environment {k} {}\n", v.display());
        fs::write(
            &script,
            [
                // No shell: it would be the first process and claim the scope.
                "set startup-with-shell off\nset breakpoint pending on\n".to_owned(),
                "set follow-fork-mode child\nset detach-on-fork on\nset environment ARSHIM 1\n"
                    .to_owned(),
                env("LD_PRELOAD", &library()),
                env("EXEC_SHOW", &p.show),
                env("PATH", std::path::Path::new(&path_with(&p.bin))),
                "set environment EXEC_MARK inherited\n".to_owned(),
                format!("break {hook}\nrun\nbt 3\ncontinue\n"),
            ]
            .concat(),
        )
        .unwrap();
        let gdb = find_on_path("gdb").expect("gdb is required by this test (Debian: gdb)");
        let mut cmd = Command::new(gdb);
        scrub(&mut cmd, &[]);
        cmd.args(["-nx", "-q", "-batch", "-x"])
            .arg(&script)
            .arg("--args")
            .arg(&p.host)
            .args(["child", func, "run"])
            .current_dir(&dir.path);
        let out = run_timed(cmd, &dir, func, TIMEOUT).outcome_lossy();
        let text = format!("{}{}", out.stdout, out.stderr);
        let hit = text.lines().any(|l| {
            l.contains("hit Breakpoint 1") && l.contains(hook) && l.contains("libarshim_core.so")
        });
        let from_preload = text
            .lines()
            .any(|l| l.starts_with("#1") && l.contains("libarshim.so"));
        assert!(
            hit && from_preload,
            "{func} did not reach {hook} from libarshim.so\n{}",
            out.describe()
        );
        // gdb's lines and the program's share stdout: each in order.
        assert!(
            out.stdout.contains(&expected(func, "run")) && out.stdout.contains("child status 7\n"),
            "{func} under gdb did not run the program as without\n{}",
            out.describe()
        );
    }
}
