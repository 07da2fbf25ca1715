//! A host's temporaries taken over by the reaper (docs/DESIGN.md,
//! "Conversion" 12; README, `--temps`). The host (tests/hosts/temps_host.c)
//! makes a temp dir with `mkdtemp` and files in it (`open O_CREAT|O_EXCL`,
//! `open O_CREAT|O_TRUNC` of a new name, `fopen "w"`), spawns `ar` last
//! (tests/hosts/temps_ar.sh, which may meddle with the dir first, then runs
//! the real `ar`) and deletes them in its main code after the spawn returns
//! — which a conversion never runs. Each case runs the host without the
//! library and through `arshim run`, and compares what a user sees: exit
//! status, `ar v`'s lines, the archive's bytes, and what is left in TMPDIR.

use common::{
    arshim_run, command, compile_c, fixture_dir, fixtures, hosts_src, json_str_field,
    json_str_list, path_with, run, trace_dump, trace_lines, Outcome, TestDir,
};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The hosts and the `ar` wrapper, built once per test binary.
struct Kit {
    host: PathBuf,
    /// tests/hosts/temps_cc_host.c: its temporaries are written by `cc`.
    cc_host: PathBuf,
    /// Holds `ar` (tests/hosts/temps_ar.sh); first on PATH.
    bin: PathBuf,
}

fn kit() -> &'static Kit {
    static KIT: OnceLock<Kit> = OnceLock::new();
    KIT.get_or_init(|| {
        let dir = fixture_dir().join("temps");
        let bin = dir.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let host = dir.join("temps_host");
        compile_c(&hosts_src().join("temps_host.c"), &host);
        let cc_host = dir.join("temps_cc_host");
        compile_c(&hosts_src().join("temps_cc_host.c"), &cc_host);
        let ar = bin.join("ar");
        fs::copy(hosts_src().join("temps_ar.sh"), &ar).unwrap();
        fs::set_permissions(&ar, fs::Permissions::from_mode(0o755)).unwrap();
        Kit { host, cc_host, bin }
    })
}

/// The glob `--temps` is given in these tests.
const GLOB: &str = "$TMPDIR/tool-*";

/// One run of a host in its own working directory `dir/label` with its
/// own TMPDIR (`tmp` there).
struct HostRun {
    maker: Maker,
    out: Outcome,
    cwd: PathBuf,
    trace: Vec<String>,
}

/// Who makes the temporaries: the host itself (tests/hosts/temps_host.c,
/// `ar rcsv lib.a one.o two.o` last), or the `cc` it runs first
/// (tests/hosts/temps_cc_host.c: `cc -c x.c -o $TMPDIR/tool-*/x.o`, then
/// `ar rcsv lib.a` of it).
#[derive(Clone, Copy)]
enum Maker {
    Host,
    Cc,
    /// tests/hosts/py_temps_host.py, run by the real CPython: `cc` and `ar`
    /// through `subprocess.run`, then `shutil.rmtree` of its temp dir.
    Python,
}

impl Maker {
    /// `opts`: None runs the host without the library; Some runs it through
    /// `arshim run OPTS --trace FILE`. `env`: the host's extra variables.
    fn run(
        self,
        dir: &TestDir,
        label: &str,
        opts: Option<&[&str]>,
        env: &[(&str, &str)],
    ) -> HostRun {
        let k = kit();
        let cwd = dir.join(label);
        fs::create_dir_all(cwd.join("tmp")).unwrap();
        let python = common::find_python();
        let program = match self {
            Maker::Host => &k.host,
            Maker::Cc => &k.cc_host,
            Maker::Python => &python,
        };
        let trace = dir.join(format!("{label}.trace.jsonl"));
        let mut cmd = match opts {
            None => command(program, dir),
            Some(opts) => {
                let mut all = opts.to_vec();
                all.extend(["--trace", trace.to_str().unwrap()]);
                arshim_run(&all, program, dir)
            }
        };
        cmd.env("PATH", path_with(&k.bin))
            .env("TMPDIR", cwd.join("tmp"))
            .current_dir(&cwd);
        match self {
            Maker::Host => cmd.args(["ar", "rcsv", "lib.a"]).args(&fixtures().objs),
            Maker::Cc => {
                fs::write(cwd.join("x.c"), "int x(void) { return 42; }\n").unwrap();
                cmd.arg("x.c")
            }
            Maker::Python => {
                fs::write(cwd.join("x.c"), "int x(void) { return 42; }\n").unwrap();
                cmd.arg(hosts_src().join("py_temps_host.py")).arg("x.c")
            }
        };
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = run(cmd, dir, label);
        HostRun {
            maker: self,
            out,
            cwd,
            trace: trace_lines(&trace),
        }
    }

    /// The two runs of a case: without the library, then through `arshim run
    /// OPTS`, each with the variables `env(label)` gives. The first must exit
    /// `status`, the second convert, and a user must see the same from both.
    fn converted_pair<E>(
        self,
        dir: &TestDir,
        opts: &[&str],
        status: i32,
        env: E,
    ) -> (HostRun, HostRun)
    where
        E: Fn(&str) -> Vec<(&'static str, String)>,
    {
        let base = self.run(dir, "base", None, &refs(&env("base")));
        base.out.assert_code(status);
        let shim = self.run(dir, "shim", Some(opts), &refs(&env("shim")));
        assert!(shim.converted(), "{}", shim.describe());
        assert_same_for_the_user(&shim, &base);
        (base, shim)
    }
}

/// The same variables for both runs of a pair.
fn same<'a>(
    vars: &'a [(&'static str, &'a str)],
) -> impl Fn(&str) -> Vec<(&'static str, String)> + 'a {
    move |_| vars.iter().map(|&(k, v)| (k, v.to_string())).collect()
}

fn refs<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

impl HostRun {
    fn tmp(&self) -> PathBuf {
        self.cwd.join("tmp")
    }

    /// What is left under TMPDIR, relative, sorted, `tool-XXXXXX` masked.
    fn left(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.tmp(), &self.tmp(), &mut out);
        out.sort();
        out
    }

    fn archive(&self) -> Option<Vec<u8>> {
        fs::read(self.cwd.join("lib.a")).ok()
    }

    /// Converted at the spawn, or handed to the reaper at the wait.
    fn converted(&self) -> bool {
        self.events("convert")
            .chain(self.events("handoff"))
            .next()
            .is_some()
    }

    fn events<'a>(&'a self, event: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.trace
            .iter()
            .filter(move |l| json_str_field(l, "event").as_deref() == Some(event))
    }

    /// The paths of the `temps` event (what was handed to the reaper).
    fn handed(&self) -> Vec<String> {
        self.events("temps")
            .flat_map(|l| json_str_list(l, "paths").unwrap_or_default())
            .collect()
    }

    /// `handed`, relative to TMPDIR, `tool-XXXXXX` masked.
    fn handed_masked(&self) -> Vec<String> {
        self.handed()
            .iter()
            .map(|p| mask(p.rsplit("/tmp/").next().unwrap()))
            .collect()
    }

    fn describe(&self) -> String {
        format!("{}\n{}", self.out.describe(), trace_dump(&self.trace))
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let masked = mask(&rel);
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.push(format!("{masked}/"));
            walk(root, &path, out);
        } else if meta.file_type().is_symlink() {
            out.push(format!("{masked} -> symlink"));
        } else {
            out.push(masked);
        }
    }
}

/// `tool-AbC123/x` → `tool-*/x`: mkdtemp's name (6 characters from C, 8
/// from Python) differs between runs.
fn mask(rel: &str) -> String {
    match rel.strip_prefix("tool-") {
        Some(rest) if rest.len() >= 6 && !rel.starts_with("tool-keep") => {
            let end = rest.find('/').unwrap_or(rest.len());
            format!("tool-*{}", &rest[end..])
        }
        _ => rel.to_string(),
    }
}

/// Same status, same output (`ar v`'s lines), same archive bytes. The `cc`
/// host's `ar v` names each member by its path, under each run's own temp
/// dir: its lines are compared by the member's name.
fn assert_same_for_the_user(shim: &HostRun, base: &HostRun) {
    let both = format!("{}\n{}", base.describe(), shim.describe());
    let lines = |run: &HostRun| -> Vec<String> {
        run.out
            .stdout
            .lines()
            .map(|l| match (run.maker, l.strip_prefix("a - ")) {
                (Maker::Cc | Maker::Python, Some(path)) => {
                    format!("a - {}", path.rsplit('/').next().unwrap())
                }
                _ => l.to_string(),
            })
            .collect()
    };
    assert_eq!(shim.out.code(), base.out.code(), "exit status\n{both}");
    assert_eq!(lines(shim), lines(base), "stdout\n{both}");
    assert_eq!(shim.out.stderr, base.out.stderr, "stderr\n{both}");
    assert_eq!(shim.archive(), base.archive(), "archive bytes\n{both}");
}

fn temps_opts() -> [&'static str; 2] {
    ["--temps", GLOB]
}

#[test]
fn temps_are_removed_after_the_archiver() {
    removed_after_the_archiver("temps-removed", &[], "convert");
}

/// The same at the wait call: fork + exec, handed to the reaper at `waitpid`.
#[test]
fn temps_are_removed_after_a_forked_archiver() {
    removed_after_the_archiver("temps-fork", &[("HOST_CALL", "fork")], "handoff");
}

fn removed_after_the_archiver(name: &str, env: &[(&str, &str)], event: &str) {
    let dir = TestDir::new(name);
    let base = Maker::Host.run(&dir, "base", None, env);
    base.out.assert_code(0);
    assert!(base.out.stdout.contains("a - "), "{}", base.describe());
    assert_eq!(base.left(), Vec::<String>::new(), "{}", base.describe());

    let shim = Maker::Host.run(&dir, "shim", Some(&temps_opts()), env);
    assert!(shim.events(event).next().is_some(), "{}", shim.describe());
    assert_same_for_the_user(&shim, &base);
    assert_eq!(shim.left(), Vec::<String>::new(), "{}", shim.describe());
    assert_eq!(
        shim.handed_masked(),
        ["tool-*/a.tmp", "tool-*/b.tmp", "tool-*/c.tmp", "tool-*"],
        "files first, then their directory\n{}",
        shim.describe()
    );
}

#[test]
fn a_failing_archiver_leaves_nothing_either() {
    let dir = TestDir::new("temps-failing");
    let env = same(&[("TEMPS_AR_ACTION", "fail")]);
    let (base, shim) = Maker::Host.converted_pair(&dir, &temps_opts(), 3, env);
    assert_eq!(base.left(), Vec::<String>::new(), "{}", base.describe());
    assert_eq!(shim.left(), Vec::<String>::new(), "{}", shim.describe());
}

/// Without globs the library cannot know what the host deletes after its
/// spawn: it converts, and the temporaries stay (README, `--temps`).
#[test]
fn without_temps_they_are_left_behind() {
    let dir = TestDir::new("temps-unknown");
    let (base, shim) = Maker::Host.converted_pair(&dir, &[], 0, same(&[]));
    assert_eq!(base.left(), Vec::<String>::new());
    assert_eq!(
        shim.left(),
        ["tool-*/", "tool-*/a.tmp", "tool-*/b.tmp", "tool-*/c.tmp"],
        "{}",
        shim.describe()
    );
    assert!(shim.handed().is_empty(), "{}", shim.describe());
}

/// A file matching the glob that was there before the run, which the host
/// opens with O_CREAT|O_TRUNC and deletes: not created by the host, so the
/// conversion never deletes it.
#[test]
fn a_file_that_was_there_before_is_not_deleted() {
    let dir = TestDir::new("temps-reused");
    let keep = |label: &str| {
        let keep = dir.join(label).join("tmp").join("tool-keep.txt");
        fs::create_dir_all(keep.parent().unwrap()).unwrap();
        fs::write(&keep, "precious\n").unwrap();
        vec![("HOST_REUSE", keep.to_str().unwrap().to_string())]
    };
    let (base, shim) = Maker::Host.converted_pair(&dir, &temps_opts(), 0, keep);
    assert_eq!(
        base.left(),
        Vec::<String>::new(),
        "the host deletes it itself"
    );
    assert_eq!(shim.left(), ["tool-keep.txt"], "{}", shim.describe());
    assert_eq!(
        fs::read_to_string(shim.tmp().join("tool-keep.txt")).unwrap(),
        "temporary reused\n"
    );
}

/// A temporary replaced by a symlink while the archiver runs: the reaper
/// neither follows nor deletes it (nor rmdirs what still holds it).
#[test]
fn a_temp_replaced_by_a_symlink_is_not_followed() {
    let dir = TestDir::new("temps-symlink");
    let victim = |label: &str| dir.join(format!("{label}-victim.txt"));
    let env = |label: &str| {
        fs::write(victim(label), "precious\n").unwrap();
        vec![
            ("TEMPS_AR_ACTION", "symlink".to_string()),
            ("TEMPS_VICTIM", victim(label).to_str().unwrap().to_string()),
        ]
    };
    let (base, shim) = Maker::Host.converted_pair(&dir, &temps_opts(), 0, env);
    for label in ["base", "shim"] {
        assert_eq!(fs::read_to_string(victim(label)).unwrap(), "precious\n");
    }
    assert_eq!(
        base.left(),
        Vec::<String>::new(),
        "the host unlinks the link"
    );
    assert_eq!(
        shim.left(),
        ["tool-*/", "tool-*/a.tmp -> symlink"],
        "{}",
        shim.describe()
    );
}

/// A temporary replaced by another file of the same name: not the host's,
/// not deleted.
#[test]
fn a_temp_replaced_by_another_file_is_not_deleted() {
    let dir = TestDir::new("temps-other");
    let env = same(&[("TEMPS_AR_ACTION", "other")]);
    let (base, shim) = Maker::Host.converted_pair(&dir, &temps_opts(), 0, env);
    assert_eq!(base.left(), Vec::<String>::new());
    assert_eq!(
        shim.left(),
        ["tool-*/", "tool-*/b.tmp"],
        "{}",
        shim.describe()
    );
}

/// A directory holding a file the host did not create stays, with that
/// file, as the host's own rmdir leaves it.
#[test]
fn a_directory_holding_a_foreign_file_stays_as_without_the_library() {
    let dir = TestDir::new("temps-foreign");
    let env = same(&[("TEMPS_AR_ACTION", "foreign")]);
    let (base, shim) = Maker::Host.converted_pair(&dir, &temps_opts(), 0, env);
    assert_eq!(base.left(), ["tool-*/", "tool-*/foreign.txt"]);
    assert_eq!(shim.left(), base.left(), "{}", shim.describe());
}

/// Creations from several threads at once are all recorded (the arena is
/// lock-free) and all handed to the reaper.
#[test]
fn temps_made_by_several_threads_are_all_removed() {
    let dir = TestDir::new("temps-threads");
    let env = same(&[("HOST_TEMPS_N", "400"), ("HOST_THREADS", "4")]);
    let (_, shim) = Maker::Host.converted_pair(&dir, &temps_opts(), 0, env);
    assert_eq!(shim.handed().len(), 404, "{}", shim.describe());
    assert_eq!(shim.left(), Vec::<String>::new(), "{}", shim.describe());
}

/// More creations than the library's arena holds: what the host would
/// delete is not known whole, so the spawn is the real call.
#[test]
fn too_many_temps_fall_back() {
    let dir = TestDir::new("temps-full");
    let env = [("HOST_TEMPS_N", "1100")];
    let base = Maker::Host.run(&dir, "base", None, &env);
    base.out.assert_code(0);
    let shim = Maker::Host.run(&dir, "shim", Some(&temps_opts()), &env);
    assert!(!shim.converted(), "{}", shim.describe());
    assert!(
        shim.events("fallback")
            .any(|l| l.contains("more temporaries than the library can record")),
        "{}",
        shim.describe()
    );
    assert_same_for_the_user(&shim, &base);
    assert_eq!(shim.left(), Vec::<String>::new(), "{}", shim.describe());
}

/// `arshim env --temps` exports ARSHIM_TEMPS; a glob that is not absolute
/// is a usage error.
#[test]
fn env_and_run_take_temps() {
    let dir = TestDir::new("temps-cli");
    let mut cmd = command(common::companion(), &dir);
    cmd.args(["env", "--hosts", "tool", "--temps", GLOB]);
    let out = run(cmd, &dir, "env");
    out.assert_code(0);
    assert!(
        out.stdout.contains("export ARSHIM_TEMPS='$TMPDIR/tool-*'"),
        "{}",
        out.describe()
    );
    let mut cmd = command(common::companion(), &dir);
    cmd.args(["run", "--temps", "tool-*", "--", "true"]);
    let out = run(cmd, &dir, "relative");
    out.assert_code(2);
    assert!(
        out.stderr.contains("not an absolute path"),
        "{}",
        out.describe()
    );
}

/// What the host's children wrote into its temp dir (`cc -c x.c -o
/// $TMPDIR/tool-*/x.o`: missing at the spawn, born after it) is the host's
/// too: converted, nothing is left, the archive is the same. Also when
/// `cc`'s arguments come through an `@rsp` file, and when the host renames
/// what `cc` wrote (as ghc does with its assembler's `ghc_6.o.tmp`); and
/// when the host starts `cc` and `ar` with fork and exec (`cc`'s exec
/// record tells what it was told to write, `@rsp` read, and that it was
/// missing, whatever blocking wait reaps it, `wait(-1)` beside another
/// child too; `ar` is handed off at the wait).
#[test]
fn what_the_hosts_compiler_writes_is_removed_too() {
    const FORK: (&str, &str) = ("HOST_CC_FORK", "1");
    for (name, env) in [
        ("temps-cc", &[][..]),
        ("temps-cc-rsp", &[("HOST_CC_RSP", "1")][..]),
        ("temps-cc-rename", &[("HOST_CC_RENAME", "1")][..]),
        ("temps-cc-fork", &[FORK][..]),
        ("temps-cc-fork-rsp", &[FORK, ("HOST_CC_RSP", "1")][..]),
        (
            "temps-cc-fork-wait-any",
            &[FORK, ("HOST_CC_WAIT_ANY", "1")][..],
        ),
        ("temps-cc-fork-rename", &[FORK, ("HOST_CC_RENAME", "1")][..]),
    ] {
        let dir = TestDir::new(name);
        let (base, shim) = Maker::Cc.converted_pair(&dir, &temps_opts(), 0, same(env));
        assert!(base.out.stdout.contains("a - "), "{}", base.describe());
        assert_eq!(base.left(), Vec::<String>::new(), "{}", base.describe());
        assert_eq!(
            shim.left(),
            Vec::<String>::new(),
            "{name}: {}",
            shim.describe()
        );
        let forked = name.contains("fork");
        let event = if forked { "handoff" } else { "convert" };
        assert!(
            shim.events(event).next().is_some(),
            "{name}: {}",
            shim.describe()
        );
        let handed = shim.handed_masked();
        let mut expected = vec!["tool-*/x.o", "tool-*"];
        if name.ends_with("-rsp") {
            expected.insert(0, "tool-*/cc.rsp");
        }
        assert_eq!(handed, expected, "{name}: {}", shim.describe());
    }
}

/// A file that existed before the spawn, named by `cc -o`, which the host
/// deletes after `ar`: not made in this run, so the conversion never
/// deletes it (it is left, overwritten by `cc`, as the run leaves it).
/// A real interpreter doing the same: CPython's `subprocess.run` starts
/// `cc` and `ar` (fork or vfork, then exec), and `shutil.rmtree` removes
/// the temp dir after `ar`. Handed off at the wait for `ar`, nothing is
/// left either: `cc`'s exec record told what it was to write.
#[test]
fn a_python_hosts_compiled_temporaries_are_removed() {
    let dir = TestDir::new("temps-python");
    let (base, shim) = Maker::Python.converted_pair(&dir, &temps_opts(), 0, same(&[]));
    assert!(base.out.stdout.contains("a - "), "{}", base.describe());
    assert_eq!(base.left(), Vec::<String>::new(), "{}", base.describe());
    assert!(
        shim.events("handoff").next().is_some(),
        "{}",
        shim.describe()
    );
    assert_eq!(shim.left(), Vec::<String>::new(), "{}", shim.describe());
    assert_eq!(
        shim.handed_masked(),
        ["tool-*/x.o", "tool-*"],
        "{}",
        shim.describe()
    );
}

/// Likewise when the host forks and execs `cc`: the file keeps its birth
/// time from before `cc`'s exec.
#[test]
fn a_file_there_before_the_compiler_wrote_it_is_not_deleted() {
    for (name, fork) in [("temps-cc-existing", "0"), ("temps-cc-fork-existing", "1")] {
        let dir = TestDir::new(name);
        let keep = |label: &str| {
            let keep = dir.join(label).join("tmp").join("tool-keep.o");
            fs::create_dir_all(keep.parent().unwrap()).unwrap();
            fs::write(&keep, "precious\n").unwrap();
            vec![
                ("HOST_CC_OUT", keep.to_str().unwrap().to_string()),
                ("HOST_CC_FORK", fork.to_string()),
            ]
        };
        let (base, shim) = Maker::Cc.converted_pair(&dir, &temps_opts(), 0, keep);
        assert_eq!(
            base.left(),
            Vec::<String>::new(),
            "{name}: the host deletes it"
        );
        assert_eq!(shim.left(), ["tool-keep.o"], "{name}: {}", shim.describe());
    }
}

/// What `cc` wrote, replaced by another file of the same name before the
/// archiver ends: not the host's any more, left (with its directory).
#[test]
fn a_compiler_output_replaced_before_the_archiver_ends_is_left() {
    let dir = TestDir::new("temps-cc-replaced");
    let env = same(&[("TEMPS_AR_ACTION", "replace")]);
    let (base, shim) = Maker::Cc.converted_pair(&dir, &temps_opts(), 0, env);
    assert_eq!(base.left(), Vec::<String>::new(), "{}", base.describe());
    assert_eq!(
        shim.left(),
        ["tool-*/", "tool-*/x.o"],
        "{}",
        shim.describe()
    );
    let other = shim
        .tmp()
        .read_dir()
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    assert_eq!(fs::read_to_string(other.join("x.o")).unwrap(), "other\n");
}
