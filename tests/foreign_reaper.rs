//! The reaper is ours (docs/DESIGN.md, "Conversion" 2): the library hands a
//! host over only to `arshim-reap` of its own build — next to the library or
//! next to `ARSHIM_COMPANION`, carrying the library's build id — never to
//! another program. Anything else: no conversion, the host runs as without
//! the shim, and one warning says the install is broken.
//!
//! Each case installs the library and its core in a directory of the test
//! (as `make install` would, with or without an `arshim-reap`), preloads
//! them by hand, and runs real hosts built at test time — tests/hosts/host.c
//! (`posix_spawnp` of ar, with a failure status so that the conversion goes
//! through the reaper) and tests/hosts/fork_host.c (fork + exec, then
//! waitpid: the handoff at the wait) — without and with the library,
//! comparing what a user sees: exit status, archive members, and who held the
//! host's pid while ar ran (the ELF stand-in tests/hosts/standin_ar.c records
//! its parent).

use arshim_common::build_id::BUILD_ID;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

struct Kit {
    fork_host: PathBuf,
    /// Holds the ELF stand-in `ar`.
    bin: PathBuf,
    /// A program that is not the reaper: records that it ran, exits 1.
    impostor: PathBuf,
    /// A copy of this build's reaper with its build id changed.
    other_build: PathBuf,
}

const IMPOSTOR_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
int main(void)
{
    const char *mark = getenv("IMPOSTOR_RAN");
    FILE *f = mark ? fopen(mark, "w") : NULL;
    if (f)
        fclose(f);
    return 1;
}
"#;

fn kit() -> &'static Kit {
    static KIT: OnceLock<Kit> = OnceLock::new();
    KIT.get_or_init(|| {
        let dir = fixtures().dir.join("foreign-reaper");
        let bin = dir.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let src = hosts_src();
        let fork_host = dir.join("fork_host");
        compile_c(&src.join("fork_host.c"), &fork_host);
        compile_c(&src.join("standin_ar.c"), &bin.join("ar"));
        let impostor = dir.join("impostor");
        fs::write(dir.join("impostor.c"), IMPOSTOR_C).unwrap();
        compile_c(&dir.join("impostor.c"), &impostor);
        let other_build = dir.join("arshim-reap-other-build");
        write_other_build(&other_build);
        Kit {
            fork_host,
            bin,
            impostor,
            other_build,
        }
    })
}

/// This build's reaper with the one copy of the build id in it (its note)
/// changed: a reaper as another build would make it.
fn write_other_build(to: &Path) {
    let mut bytes = fs::read(reaper()).unwrap();
    let at: Vec<usize> = bytes
        .windows(BUILD_ID.len())
        .enumerate()
        .filter(|(_, w)| *w == BUILD_ID)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "the reaper should carry the build id once");
    bytes[at[0]] ^= 0xff;
    fs::write(to, bytes).unwrap();
    make_executable(to);
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// `libarshim.so` and its core copied into `dir/lib/`, with `reaper` (if
/// any) as the `arshim-reap` next to them; the library's path.
fn install(dir: &TestDir, reaper: Option<&Path>) -> PathBuf {
    let lib_dir = dir.join("lib");
    fs::create_dir_all(&lib_dir).unwrap();
    let lib = lib_dir.join("libarshim.so");
    fs::copy(library(), &lib).unwrap();
    let core = library().with_file_name("libarshim_core.so");
    fs::copy(core, lib_dir.join("libarshim_core.so")).unwrap();
    if let Some(reaper) = reaper {
        fs::copy(reaper, lib_dir.join("arshim-reap")).unwrap();
        make_executable(&lib_dir.join("arshim-reap"));
    }
    lib
}

#[derive(Clone, Copy, Debug)]
enum Host {
    /// host.c: `posix_spawnp` of ar, with `ARSHIM_FAILURE_STATUS` set.
    Spawn,
    /// fork_host.c: fork + execvp of ar, then waitpid.
    Fork,
}

impl Host {
    fn command(self, dir: &TestDir) -> Command {
        let k = kit();
        let (program, call, io) = match self {
            Host::Spawn => (&fixtures().host, "spawnp", "plain"),
            Host::Fork => (&k.fork_host, "fork", "waitpid"),
        };
        let mut cmd = command(program, dir);
        cmd.args(host_args(call, io, "ar", &dir.join("lib.a")))
            .env("PATH", path_with(&k.bin))
            .env("IMPOSTOR_RAN", dir.join("impostor.ran"));
        if let Host::Spawn = self {
            cmd.env("ARSHIM_FAILURE_STATUS", "1");
        }
        cmd
    }

    fn exe(self) -> PathBuf {
        match self {
            Host::Spawn => fixtures().host.clone(),
            Host::Fork => kit().fork_host.clone(),
        }
    }
}

/// What a user sees of a run, and who held the host's pid while ar ran.
#[derive(Debug)]
struct Seen {
    out: Outcome,
    members: Vec<String>,
    /// The stand-in's parent executable.
    archiver_parent: String,
    impostor_ran: bool,
    trace: Vec<String>,
}

fn run_host(
    host: Host,
    dir: &TestDir,
    label: &str,
    lib: Option<&Path>,
    companion: Option<&Path>,
) -> Seen {
    for f in ["lib.a", "standin.log", "impostor.ran", "pids"] {
        let _ = fs::remove_file(dir.join(f));
    }
    let trace = dir.join(format!("{label}.trace.jsonl"));
    let mut cmd = host.command(dir);
    if let Some(lib) = lib {
        cmd.env("LD_PRELOAD", lib)
            .env("ARSHIM", "1")
            .env("ARSHIM_TRACE", &trace);
    }
    if let Some(c) = companion {
        cmd.env("ARSHIM_COMPANION", c);
    }
    let out = run(cmd, dir, label);
    let log = fs::read_to_string(dir.join("standin.log")).unwrap_or_default();
    let archiver_parent = log
        .split_whitespace()
        .find_map(|f| f.strip_prefix("parent_exe="))
        .unwrap_or_default()
        .to_string();
    Seen {
        members: if dir.join("lib.a").exists() {
            ar_members(&dir.join("lib.a"))
        } else {
            Vec::new()
        },
        archiver_parent,
        impostor_ran: dir.join("impostor.ran").exists(),
        trace: trace_lines(&trace),
        out,
    }
}

/// The run with the library is the run without it, and the library said
/// once why it did not convert.
fn as_without_the_shim(host: Host, plain: &Seen, shim: &Seen, warning: &str) {
    let ctx = || {
        format!(
            "{}\n{}\n{}",
            plain.out.describe(),
            shim.out.describe(),
            trace_dump(&shim.trace)
        )
    };
    assert_eq!(shim.out.status, plain.out.status, "{}", ctx());
    assert_eq!(shim.members, plain.members, "{}", ctx());
    assert_eq!(plain.members, ["one.o", "two.o"], "{}", ctx());
    assert_eq!(
        shim.archiver_parent,
        host.exe().to_str().unwrap(),
        "the host itself should have waited for ar\n{}",
        ctx()
    );
    assert!(!shim.impostor_ran, "the impostor ran\n{}", ctx());
    let lines = library_lines(&shim.out.stderr);
    assert!(
        lines.len() == 1 && lines[0].contains(warning) && lines[0].contains("nothing converts"),
        "one warning expected ({warning:?}), got {lines:?}\n{}",
        ctx()
    );
    assert!(
        shim.trace
            .iter()
            .any(|e| e.contains("\"fallback\"") && e.contains("arshim-reap")),
        "no fallback event naming arshim-reap\n{}",
        ctx()
    );
}

/// The issue's case: a library installed without its reaper, and
/// `ARSHIM_COMPANION` naming another program. That program is never run.
fn companion_naming_another_program(host: Host) {
    let dir = TestDir::new(&format!("foreign-companion-{host:?}").to_lowercase());
    let lib = install(&dir, None);
    let plain = run_host(host, &dir, "plain", None, None);
    let shim = run_host(host, &dir, "shim", Some(&lib), Some(&kit().impostor));
    as_without_the_shim(host, &plain, &shim, "no arshim-reap next to the library");
}

#[test]
fn a_companion_naming_another_program_is_never_run_spawn_time() {
    companion_naming_another_program(Host::Spawn);
}

#[test]
fn a_companion_naming_another_program_is_never_run_wait_time() {
    companion_naming_another_program(Host::Fork);
}

/// An `arshim-reap` next to the library that is not of its build: another
/// program under that name, or a reaper of another build.
fn arshim_reap_of_another_kind(host: Host) {
    for (name, reaper) in [
        ("impostor", &kit().impostor),
        ("other-build", &kit().other_build),
    ] {
        let dir = TestDir::new(&format!("foreign-reap-{name}-{host:?}").to_lowercase());
        let lib = install(&dir, Some(reaper));
        let plain = run_host(host, &dir, "plain", None, None);
        let shim = run_host(host, &dir, "shim", Some(&lib), Some(&kit().impostor));
        let installed = dir.join("lib/arshim-reap");
        let warning = format!(
            "{} is not the arshim-reap of this library's build",
            installed.display()
        );
        as_without_the_shim(host, &plain, &shim, &warning);
    }
}

#[test]
fn an_arshim_reap_not_of_this_build_is_refused_spawn_time() {
    arshim_reap_of_another_kind(Host::Spawn);
}

#[test]
fn an_arshim_reap_not_of_this_build_is_refused_wait_time() {
    arshim_reap_of_another_kind(Host::Fork);
}

/// The control: the same install with this build's reaper converts, and the
/// installed reaper holds the host's pid while ar runs.
#[test]
fn the_reaper_of_this_build_is_used() {
    for host in [Host::Spawn, Host::Fork] {
        let dir = TestDir::new(&format!("foreign-ours-{host:?}").to_lowercase());
        let lib = install(&dir, Some(&reaper()));
        let plain = run_host(host, &dir, "plain", None, None);
        let shim = run_host(host, &dir, "shim", Some(&lib), Some(&kit().impostor));
        let ctx = || format!("{}\n{}", shim.out.describe(), trace_dump(&shim.trace));
        assert_eq!(shim.out.status, plain.out.status, "{}", ctx());
        assert_eq!(shim.members, plain.members, "{}", ctx());
        assert_eq!(
            shim.archiver_parent,
            dir.join("lib/arshim-reap").to_str().unwrap(),
            "{}",
            ctx()
        );
        assert!(!shim.impostor_ran, "{}", ctx());
        assert_silent(&shim.out);
    }
}

/// `arshim doctor` names a reaper of another build as a problem.
#[test]
fn doctor_reports_a_reaper_of_another_build() {
    let dir = TestDir::new("foreign-doctor");
    let lib = install(&dir, Some(&kit().other_build));
    let mut cmd = command(companion(), &dir);
    cmd.arg("doctor").env("ARSHIM_LIB", &lib);
    let out = run(cmd, &dir, "doctor");
    out.assert_code(1);
    let reaper_line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("problem") && l.contains("reaper:"))
        .unwrap_or_else(|| panic!("no reaper problem\n{}", out.describe()));
    for part in [
        dir.join("lib/arshim-reap").to_str().unwrap(),
        "is not the arshim-reap of this build",
        "nothing converts",
    ] {
        assert!(
            reaper_line.contains(part),
            "{part:?} missing\n{}",
            out.describe()
        );
    }
}
