//! Packaging (README, "Install"; docs/DESIGN.md, "Companion"): the shell
//! completions and manual pages the companion generates from its own
//! grammar, `make install` from an existing build without cargo, and `make
//! deb`, whose package unpacked into a temporary root gives a working
//! `arshim doctor` (the companion finds its library in ../lib/arshim/).
//!
//! Nothing skips: a missing bash, groff, make or dpkg-deb fails the test
//! (`.ci/deps` lists them; `make test` installs them as root).

use common::{companion, require, run, Outcome, TestDir};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every subcommand a user can type, each with its own manual page.
const SUBCOMMANDS: &[&str] = &[
    "run",
    "env",
    "bench",
    "doctor",
    "verify",
    "completions",
    "man",
];

fn clean(program: impl AsRef<std::ffi::OsStr>, dir: &TestDir) -> Command {
    let mut cmd = Command::new(program);
    common::scrub(&mut cmd, &["ARSHIM_LIB"]);
    cmd.env("LC_ALL", "C").current_dir(&dir.path);
    cmd
}

fn ok(out: Outcome) -> Outcome {
    out.assert_code(0);
    out
}

#[test]
fn bash_loads_the_completion_script() {
    require("bash", "bash");
    let dir = TestDir::new("completions-bash");
    let mut cmd = clean("bash", &dir);
    cmd.arg("-c")
        .arg(r#"source <("$1" completions bash) && complete -p arshim"#)
        .arg("bash")
        .arg(companion());
    let out = ok(run(cmd, &dir, "bash-source"));
    assert!(
        out.stdout.contains("-F _arshim arshim"),
        "bash has no completion function for arshim\n{}",
        out.describe()
    );
    assert!(out.stderr.is_empty(), "{}", out.describe());
}

#[test]
fn every_shell_gets_a_script_naming_every_subcommand() {
    let dir = TestDir::new("completions-all");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let mut cmd = clean(companion(), &dir);
        cmd.args(["completions", shell]);
        let out = ok(run(cmd, &dir, shell));
        for sub in SUBCOMMANDS {
            assert!(
                out.stdout.contains(sub),
                "{shell}: `{sub}` missing\n{}",
                out.describe()
            );
        }
        if shell == "fish" {
            // A help text inside fish's double quotes unescaped would run
            // when the script loads (`eval "$(arshim env …)"` did).
            assert!(
                !out.stdout.contains("$("),
                "fish: a command substitution in the script\n{}",
                out.describe()
            );
            assert!(out.stdout.contains("-l shell"), "{}", out.describe());
        }
    }
    let mut cmd = clean(companion(), &dir);
    cmd.args(["completions", "csh"]);
    run(cmd, &dir, "csh").assert_code(2);
}

/// `groff -k -man -Tutf8 -ww -P-cbou PAGE`, as `man` renders it (-k: the
/// page is UTF-8, preconv reads it): the plain text, and nothing on stderr
/// (every warning enabled).
fn render(page: &Path, dir: &TestDir) -> String {
    let mut cmd = clean(require("groff", "groff-base"), dir);
    // -P-cbou: plain text, no overstriking for bold and underline.
    cmd.args(["-k", "-man", "-Tutf8", "-ww", "-P-cbou"])
        .arg(page);
    let out = ok(run(cmd, dir, "groff"));
    assert!(
        out.stderr.is_empty(),
        "groff warns about {}\n{}",
        page.display(),
        out.describe()
    );
    out.stdout
}

#[test]
fn the_manual_pages_render_with_their_sections() {
    let dir = TestDir::new("man");
    let mut cmd = clean(companion(), &dir);
    cmd.arg("man");
    let page = ok(run(cmd, &dir, "man")).stdout;
    fs::write(dir.join("printed.1"), &page).unwrap();
    let text = render(&dir.join("printed.1"), &dir);
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SUBCOMMANDS"] {
        assert!(text.lines().any(|l| l == section), "no {section}\n{text}");
    }
    for sub in SUBCOMMANDS {
        assert!(text.contains(&format!("arshim-{sub}(1)")), "{sub}\n{text}");
    }

    let mut cmd = clean(companion(), &dir);
    cmd.args(["man", "--dir"]).arg(dir.join("man1"));
    let listed = ok(run(cmd, &dir, "man-dir")).stdout;
    assert_eq!(listed.lines().count(), 1 + SUBCOMMANDS.len(), "{listed}");
    assert_eq!(fs::read_to_string(dir.join("man1/arshim.1")).unwrap(), page);
    for sub in SUBCOMMANDS {
        let text = render(&dir.join(format!("man1/arshim-{sub}.1")), &dir);
        assert!(text.contains("SYNOPSIS"), "{sub}\n{text}");
        assert!(text.contains(&format!("arshim-{sub}")), "{sub}\n{text}");
    }
}

/// `make -C <source tree> TARGET VARS…` with cargo replaced by `false`: it
/// must not build (the build is there).
fn make(target: &str, vars: &[String], dir: &TestDir) -> Outcome {
    let mut cmd = clean(require("make", "make"), dir);
    let release = companion().parent().unwrap().to_path_buf();
    cmd.arg("-C")
        .arg(common::repo_root())
        .arg(target)
        .arg("CARGO=false")
        .arg(format!("RELEASE={}", release.display()))
        .args(vars);
    ok(run(cmd, dir, &format!("make-{target}")))
}

/// The files of an installed tree under `prefix`.
fn assert_layout(prefix: &Path) {
    let mut expected: Vec<String> = [
        "bin/arshim",
        "lib/arshim/libarshim.so",
        "lib/arshim/libarshim_core.so",
        "lib/arshim/arshim-reap",
        "share/man/man1/arshim.1",
        "share/bash-completion/completions/arshim",
        "share/zsh/site-functions/_arshim",
        "share/fish/vendor_completions.d/arshim.fish",
    ]
    .map(String::from)
    .to_vec();
    expected.extend(
        SUBCOMMANDS
            .iter()
            .map(|s| format!("share/man/man1/arshim-{s}.1")),
    );
    for file in expected {
        let path = prefix.join(&file);
        assert!(
            fs::metadata(&path).is_ok_and(|m| m.len() > 0),
            "{} missing or empty",
            path.display()
        );
    }
}

/// The installed companion's doctor: every check ok, the library found in
/// the installed layout, the reaper next to it.
fn assert_doctor_ok(prefix: &Path, dir: &TestDir) {
    let mut cmd = clean(prefix.join("bin/arshim"), dir);
    cmd.arg("doctor");
    let out = ok(run(cmd, dir, "installed-doctor"));
    let lib = prefix.join("lib/arshim/libarshim.so");
    for needle in [
        format!("ok      library: {} (the installed layout", lib.display()),
        format!(
            "ok      reaper: {}",
            prefix.join("lib/arshim/arshim-reap").display()
        ),
        "ok      spawn-time probe".to_string(),
        "ok      wait-time probe".to_string(),
    ] {
        assert!(
            out.stdout.contains(&needle),
            "{needle:?}\n{}",
            out.describe()
        );
    }
    assert!(!out.stdout.contains("problem"), "{}", out.describe());
}

#[test]
fn make_install_copies_the_build_without_cargo_and_the_installed_doctor_passes() {
    let dir = TestDir::new("install");
    let root = dir.join("root");
    make(
        "install",
        &[
            "PREFIX=/opt/arshim".into(),
            format!("DESTDIR={}", root.display()),
        ],
        &dir,
    );
    let prefix = root.join("opt/arshim");
    assert_layout(&prefix);
    assert_doctor_ok(&prefix, &dir);
}

#[test]
fn make_deb_builds_a_package_that_works_unpacked() {
    let dpkg_deb = require("dpkg-deb", "dpkg");
    let dir = TestDir::new("deb");
    make(
        "deb",
        &[format!("DEBDIR={}", dir.join("deb").display())],
        &dir,
    );
    let debs: Vec<PathBuf> = fs::read_dir(dir.join("deb"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "{debs:?}");
    let mut cmd = clean(&dpkg_deb, &dir);
    cmd.args(["--field"])
        .arg(&debs[0])
        .args(["Package", "Version"]);
    let fields = ok(run(cmd, &dir, "dpkg-deb-field")).stdout;
    assert!(fields.contains("Package: arshim"), "{fields}");

    let unpacked = dir.join("unpacked");
    let mut cmd = clean(&dpkg_deb, &dir);
    cmd.arg("-x").arg(&debs[0]).arg(&unpacked);
    ok(run(cmd, &dir, "dpkg-deb-x"));
    assert_layout(&unpacked.join("usr"));
    assert_doctor_ok(&unpacked.join("usr"), &dir);
}
