//! Who may convert. Only the claimed process (pid-scoped by `arshim run`, or
//! the first process that loads the library when nothing is claimed) converts;
//! its descendants never do; shells and build drivers never do, and when one
//! of them is the claimer, nothing converts and the library warns (at most)
//! once.

use common::*;
use std::path::Path;

fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// A Makefile whose first target, `lib.a`, runs `archive_recipe` (recipe
/// lines without their tab), and whose second writes `marker` after it.
fn archive_then_marker(dir: &TestDir, archive_recipe: &[String]) -> std::path::PathBuf {
    let makefile = dir.join("Makefile");
    let recipe: String = archive_recipe.iter().map(|l| format!("\t{l}\n")).collect();
    std::fs::write(
        &makefile,
        format!("all: marker\nlib.a:\n{recipe}marker: lib.a\n\techo built > $@\n"),
    )
    .unwrap();
    makefile
}

/// The recipe after the archiver ran: make wrote the marker.
fn assert_marker_built(dir: &TestDir, run: &Outcome) {
    assert_eq!(
        std::fs::read_to_string(dir.join("marker")).unwrap_or_default(),
        "built\n",
        "the recipe after ar did not run\n{}",
        run.describe()
    );
}

/// The library warned about `claimer` (a process that is never converted)
/// at most once.
fn assert_warned_at_most_once(run: &Outcome, claimer: &str) {
    let lines = library_lines(&run.stderr);
    assert!(
        lines.len() <= 1,
        "the warning about {claimer} should appear at most once, got {lines:?}\n{}",
        run.describe()
    );
}

/// `ARSHIM=1 LD_PRELOAD=<lib> make -f Makefile`: the first recipe is the
/// stand-in `ar` (make spawns it), the second writes a marker after it.
#[test]
fn make_is_never_converted() {
    let dir = TestDir::new("make");
    let fx = fixtures();
    let makefile = archive_then_marker(
        &dir,
        &[format!(
            "ar rcs $@ {} {}",
            fx.objs[0].display(),
            fx.objs[1].display()
        )],
    );
    let mut cmd = preloaded("make", &dir);
    cmd.env("ARSHIM", "1").arg("-f").arg(&makefile);
    let run = run(cmd, &dir, "make");
    run.assert_code(0);
    let make_pid = run.pid;
    let call = single_standin_call(&dir, &run);
    assert_ne!(
        call.pid,
        make_pid,
        "make was converted into the archiver\n{}",
        run.describe()
    );
    assert_eq!(
        call.ppid,
        make_pid,
        "the archiver should be make's child\n{}",
        run.describe()
    );
    assert_archive_ok(&dir.join("lib.a"), &run);
    assert_marker_built(&dir, &run);
    assert_warned_at_most_once(&run, "make (a build driver)");
}

/// `arshim run -- host parent host spawnp …`: the claimed process (the outer
/// host) spawns a second host, whose archiver spawn must not convert; the outer
/// host continues after it.
#[test]
fn child_of_claimed_process_never_converts() {
    let dir = TestDir::new("child-of-claimed");
    let fx = fixtures();
    let archive = dir.join("lib.a");
    let mut cmd = arshim_run(&[], &fx.host, &dir);
    cmd.env("HOST_TOUCH_MIB", HOST_MIB.to_string())
        .arg("parent")
        .arg(&fx.host)
        .args(host_args("spawnp", "plain", "ar", &archive));
    let run = run(cmd, &dir, "nested");
    run.assert_code(0);
    let outer = host_pid(&dir, "parent", &run);
    let inner = host_pid(&dir, "host", &run);
    assert_eq!(
        outer,
        run.pid,
        "`arshim run` should exec the outer host\n{}",
        run.describe()
    );
    assert_ne!(inner, outer);
    let call = assert_not_converted(&dir, &run, inner);
    assert_eq!(call.ppid, inner, "{}", run.describe());
    assert_archive_ok(&archive, &run);
    assert_in_order(
        &run.stdout,
        &[
            "parent: starting inner host\n",
            "standin: archiving\n",
            "host: buffered line\n",
            "host: atexit ran\n",
            "parent: inner host exited with 0\n",
            "parent: still running after the inner host\n",
        ],
        "stdout",
        &run,
    );
    assert_silent(&run);
}

/// `ARSHIM=1 LD_PRELOAD=<lib> host …` (no ARSHIM_PID): the first process that
/// loads the library claims itself and converts.
#[test]
fn first_process_claims_itself_and_converts() {
    let dir = TestDir::new("self-claim");
    let fx = fixtures();
    let archive = dir.join("lib.a");
    let mut cmd = preloaded(&fx.host, &dir);
    cmd.env("ARSHIM", "1")
        .args(host_args("spawnp", "plain", "ar", &archive));
    let run = run(cmd, &dir, "self-claim");
    run.assert_code(0);
    assert_converted(&dir, &run);
    assert_archive_ok(&archive, &run);
    assert_cleanups_ran(&run);
    assert_silent(&run);
}

/// A shell that loads the library first claims, warns (at most once), and
/// nothing converts: neither its child host, nor a host it execs in place
/// (same pid as the claimer).
fn shell_claimer(exec: bool) {
    let name = if exec { "shell-exec" } else { "shell-child" };
    let dir = TestDir::new(name);
    let fx = fixtures();
    let archive = dir.join("lib.a");
    let host_cmd = format!(
        "{} spawnp plain ar {} {} {}",
        sh_quote(&fx.host),
        sh_quote(&archive),
        sh_quote(&fx.objs[0]),
        sh_quote(&fx.objs[1])
    );
    // What the claim adds to the environment: `env` shows it, then the host.
    let shown = "env | grep -E '^ARSHIM_(PID|SPENT)=' | sort";
    let script = if exec {
        format!("{shown}; exec {host_cmd}")
    } else {
        format!("{shown}; {host_cmd}; status=$?; echo \"shell: after the host\"; exit $status")
    };
    let mut cmd = preloaded("sh", &dir);
    cmd.env("ARSHIM", "1").arg("-c").arg(script);
    let run = run(cmd, &dir, name);
    run.assert_code(0);
    let host = host_pid(&dir, "host", &run);
    if exec {
        assert_eq!(host, run.pid, "{}", run.describe());
    } else {
        assert_ne!(host, run.pid, "{}", run.describe());
        assert!(
            run.stdout.ends_with("shell: after the host\n"),
            "{}",
            run.describe()
        );
    }
    assert_not_converted(&dir, &run, host);
    assert_archive_ok(&archive, &run);
    assert_cleanups_ran(&run);
    assert_warned_at_most_once(&run, "the shell claimer");
    // One variable of one size: the shell's pid with a start no process has.
    assert_eq!(
        run.stdout.lines().next(),
        Some(format!("ARSHIM_PID={:07}:000000000000", run.pid).as_str()),
        "{}",
        run.describe()
    );
    assert!(!run.stdout.contains("ARSHIM_SPENT="), "{}", run.describe());
}

#[test]
fn shell_claimer_child_never_converts() {
    shell_claimer(false);
}

#[test]
fn shell_claimer_exec_in_place_never_converts() {
    shell_claimer(true);
}

/// `ARSHIM_HOSTS` exported for a whole make run: make and the shells of its
/// recipes load only the preload (the gate matches the globs itself); the
/// host the globs name converts: ar runs in its pid, which no longer holds
/// its memory, and make goes on with the next recipe.
#[test]
fn hosts_glob_converts_the_named_host_inside_make() {
    let dir = TestDir::new("hosts-make");
    let fx = fixtures();
    let host_name = fx.host.file_name().unwrap().to_str().unwrap().to_string();
    let makefile = archive_then_marker(
        &dir,
        &[
            "grep -c libarshim_core /proc/self/maps > shell-maps-core || true".to_string(),
            format!(
                "{} spawnp plain ar $@ {} {}",
                sh_quote(&fx.host),
                fx.objs[0].display(),
                fx.objs[1].display()
            ),
        ],
    );
    let mut cmd = preloaded("make", &dir);
    cmd.env("ARSHIM", "1")
        .env("ARSHIM_HOSTS", format!("ld-legacy,{host_name}"))
        .arg("-f")
        .arg(&makefile);
    let run = run(cmd, &dir, "make");
    run.assert_code(0);
    let host = host_pid(&dir, "host", &run);
    let call = single_standin_call(&dir, &run);
    assert_eq!(
        call.pid, host,
        "the host named by ARSHIM_HOSTS was not converted: ar ran as pid {}, the host is {host}\n{}",
        call.pid,
        run.describe()
    );
    assert!(
        call.self_rss_kib < FREED_KIB,
        "the host's pid held {} KiB while ar ran\n{}",
        call.self_rss_kib,
        run.describe()
    );
    assert_archive_ok(&dir.join("lib.a"), &run);
    assert_cleanups_ran(&run);
    assert_marker_built(&dir, &run);
    assert_eq!(
        std::fs::read_to_string(dir.join("shell-maps-core")).unwrap_or_default(),
        "0\n",
        "the core was loaded into a process ARSHIM_HOSTS does not name (grep)\n{}",
        run.describe()
    );
    assert_silent(&run);
}
