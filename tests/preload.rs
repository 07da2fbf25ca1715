//! The split between the preload (`libarshim.so`, loaded into every process
//! that inherits `LD_PRELOAD`) and the core (`libarshim_core.so`, loaded by
//! the preload only where the shim has work). What a user sees: the core is
//! mapped only in the process that may convert; a broken install (no core,
//! or a core from another build) leaves every run exactly as without the
//! shim, with one warning line.

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `cat /proc/self/maps` with the library preloaded and `vars` set: which
/// of our two objects the process mapped.
fn mapped(dir: &TestDir, label: &str, vars: &[(&str, &str)]) -> (bool, bool, Outcome) {
    mapped_in("cat".as_ref(), dir, label, vars)
}

fn mapped_in(
    program: &Path,
    dir: &TestDir,
    label: &str,
    vars: &[(&str, &str)],
) -> (bool, bool, Outcome) {
    let mut cmd = preloaded(program, dir);
    cmd.arg("/proc/self/maps");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let run = run(cmd, dir, label);
    run.assert_code(0);
    let preload = run.stdout.lines().any(|l| l.ends_with("/libarshim.so"));
    let core = run
        .stdout
        .lines()
        .any(|l| l.ends_with("/libarshim_core.so"));
    (preload, core, run)
}

/// Variables set for one run.
type Vars<'a> = &'a [(&'a str, &'a str)];

#[test]
fn the_core_is_loaded_only_where_the_shim_has_work() {
    let dir = TestDir::new("preload-maps");
    // (variables, is the core expected?, why)
    let cases: &[(Vars, bool, &str)] = &[
        (&[], false, "ARSHIM unset"),
        (&[("ARSHIM", "0")], false, "ARSHIM=0"),
        (
            &[("ARSHIM", "off"), ("ARSHIM_PID", "junk")],
            false,
            "off, whatever else is set",
        ),
        (
            &[("ARSHIM", "1"), ("ARSHIM_PID", "1")],
            false,
            "a descendant of the claimed process",
        ),
        (
            &[("ARSHIM", "1")],
            true,
            "the first process claims the scope",
        ),
        (
            &[("ARSHIM", "1"), ("ARSHIM_HOSTS", "ld*,gold")],
            false,
            "a host glob that names another program",
        ),
        (
            &[("ARSHIM", "1"), ("ARSHIM_HOSTS", "ld*,c[a]t")],
            true,
            "a host glob that names this one",
        ),
        (
            &[("ARSHIM", "1"), ("ARSHIM_HOSTS", "ld,,")],
            true,
            "a bad host list is warned about",
        ),
        (
            &[
                ("ARSHIM", "1"),
                ("ARSHIM_PID", "1"),
                ("ARSHIM_TRACE", "t.jsonl"),
            ],
            true,
            "a trace was asked for",
        ),
    ];
    for (i, (vars, core_expected, why)) in cases.iter().enumerate() {
        let (preload, core, run) = mapped(&dir, &format!("maps-{i}"), vars);
        assert!(
            preload,
            "{why}: libarshim.so not mapped\n{}",
            run.describe()
        );
        assert_eq!(
            core,
            *core_expected,
            "{why}: libarshim_core.so mapped = {core}\n{}",
            run.describe()
        );
        let warned = !library_lines(&run.stderr).is_empty();
        assert_eq!(
            warned,
            vars.contains(&("ARSHIM_HOSTS", "ld,,")),
            "{why}: output from the library\n{}",
            run.describe()
        );
    }
}

/// `ARSHIM_HOSTS` is matched against the executable's own name, as the core
/// reads it from /proc/self/exe, whatever it was called by: through a
/// symlink with another name, or as the interpreter of a `#!` script.
#[test]
fn host_globs_name_the_executable_behind_symlinks_and_scripts() {
    let dir = TestDir::new("preload-exe");
    let cat = which("cat");
    let alias = dir.join("alias");
    std::os::unix::fs::symlink(&cat, &alias).unwrap();
    let kitty = dir.join("kitty"); // a symlink the script's #! line names
    std::os::unix::fs::symlink(&cat, &kitty).unwrap();
    let script = dir.join("script");
    std::fs::write(&script, format!("#!{}\n", kitty.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cat_name = cat.file_name().unwrap().to_str().unwrap().to_string();
    for (program, what) in [(&alias, "a symlink"), (&script, "a script")] {
        // Neither argv[0] (alias; for the script, its interpreter as the #!
        // line names it: kitty) nor the executable (cat): "script" names
        // only the file executed.
        for (hosts, expected) in [(cat_name.as_str(), true), ("script,kitty?,cat?", false)] {
            let label = format!(
                "{}-{expected}",
                program.file_name().unwrap().to_str().unwrap()
            );
            let vars = [("ARSHIM", "1"), ("ARSHIM_HOSTS", hosts)];
            let (_, core, run) = mapped_in(program, &dir, &label, &vars);
            assert_eq!(
                core,
                expected,
                "{what}, ARSHIM_HOSTS={hosts}\n{}",
                run.describe()
            );
        }
    }
}

fn which(program: &str) -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(path.is_absolute(), "{program} not found");
    std::fs::canonicalize(path).unwrap()
}

/// `libarshim.so` copied alone into a directory, with `core` (if any) as the
/// `libarshim_core.so` next to it.
fn install_without_the_real_core(dir: &TestDir, core: Option<&Path>) -> PathBuf {
    let lib_dir = dir.join("lib");
    std::fs::create_dir_all(&lib_dir).unwrap();
    let lib = lib_dir.join("libarshim.so");
    std::fs::copy(library(), &lib).unwrap();
    if let Some(core) = core {
        std::fs::copy(core, lib_dir.join("libarshim_core.so")).unwrap();
    }
    lib
}

/// The host spawns ar with the shim on but a broken install: not converted,
/// the archive and the exit status as without the shim, one warning line for
/// the whole tree (ar, a child that loads the library too, stays silent).
fn broken_install_is_as_without_the_shim(dir: &TestDir, lib: &Path, warning: &str) {
    let fx = fixtures();
    let archive = dir.join("lib.a");
    let mut cmd = command(&fx.host, dir);
    cmd.env("LD_PRELOAD", lib)
        .env("ARSHIM", "1")
        .args(host_args("spawnp", "plain", "ar", &archive));
    let run = run(cmd, dir, "broken");
    run.assert_code(0);
    assert_not_converted(dir, &run, run.pid);
    assert_archive_ok(&archive, &run);
    assert_cleanups_ran(&run);
    let lines = library_lines(&run.stderr);
    assert_eq!(
        lines.len(),
        1,
        "one warning expected, got {lines:?}\n{}",
        run.describe()
    );
    assert!(
        lines[0].contains(warning) && lines[0].ends_with("the shim stays off"),
        "{}",
        run.describe()
    );
}

#[test]
fn a_missing_core_leaves_the_run_as_without_the_shim() {
    let dir = TestDir::new("preload-nocore");
    let lib = install_without_the_real_core(&dir, None);
    broken_install_is_as_without_the_shim(&dir, &lib, "cannot load libarshim_core.so");
}

#[test]
fn a_core_from_another_build_is_refused() {
    let dir = TestDir::new("preload-othercore");
    let src = dir.join("other.c");
    std::fs::write(&src, "int arshim_core_version_of_another_build = 7;\n").unwrap();
    let other = dir.join("other.so");
    compile_c_with(&src, &other, &["-shared", "-fPIC"]);
    let lib = install_without_the_real_core(&dir, Some(&other));
    broken_install_is_as_without_the_shim(
        &dir,
        &lib,
        "libarshim_core.so does not match libarshim.so",
    );
}

fn exported(object: &Path) -> Vec<String> {
    let out = Command::new("nm")
        .args(["-D", "--defined-only", "--format=posix"])
        .arg(object)
        .output()
        .expect("nm (binutils) is required by these tests");
    assert!(out.status.success(), "nm {}", object.display());
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Each interposer of the preload has its `arshim_hook_NAME` in the core,
/// and the core serves no hook the preload does not route. The variadic
/// `execl`, `execlp`, `execle` have none: the preload turns them into its own
/// `execv`, `execvp`, `execve`, which do.
#[test]
fn every_hook_of_the_preload_has_its_counterpart_in_the_core() {
    let variadic = ["execl", "execle", "execlp"];
    let mut preload = exported(&library());
    for name in variadic {
        assert!(
            preload.iter().any(|n| n == name),
            "{name} is not exported: {preload:?}"
        );
    }
    preload.retain(|n| !variadic.contains(&n.as_str()));
    let core_lib = library().with_file_name("libarshim_core.so");
    let core: Vec<String> = exported(&core_lib)
        .into_iter()
        .filter_map(|n| n.strip_prefix("arshim_hook_").map(str::to_string))
        .collect();
    assert!(preload.len() >= 40, "{preload:?}");
    assert_eq!(preload, core);
}
