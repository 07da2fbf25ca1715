//! A claim names one process for its life (pid and start time): a later
//! process that reuses the pid of a claimed process that ended never
//! converts. Pid reuse is made on purpose in a fresh pid namespace
//! (`unshare -pf --mount-proc`, as root), by writing the pid before the
//! wanted one to its `/proc/sys/kernel/ns_last_pid`.

use common::*;
use std::process::Command;

/// In a fresh pid namespace: `arshim run -- sh` records its claim and exits;
/// then the C host is started with the same pid and, per `claim`, nothing of
/// the shim (`None`), that claim (`"old"`), or the bare pid set by hand
/// (`"bare"`).
fn reuse(name: &str, claim: Option<&str>) -> (TestDir, Outcome) {
    let dir = TestDir::new(name);
    let fx = fixtures();
    let env = match claim {
        None => "",
        Some("old") => r#"ARSHIM=1 ARSHIM_PID="$claim" LD_PRELOAD="$LIB""#,
        Some(_) => r#"ARSHIM=1 ARSHIM_PID="$pid" LD_PRELOAD="$LIB""#,
    };
    let script = format!(
        r#"set -u
"$ARSHIM_BIN" run -- sh -c 'printf %s "$ARSHIM_PID" > claim' || exit 90
claim=$(cat claim); pid=${{claim%%:*}}
echo "claim $claim" >&2
sleep 0.2
echo $((pid - 1)) > /proc/sys/kernel/ns_last_pid || exit 91
{env} "$HOST" spawnp plain ar lib.a "$O1" "$O2"
echo "host exited $?"
"#
    );
    let mut cmd = command("timeout", &dir);
    cmd.args(["60", "unshare", "-pf", "--mount-proc", "sh", "-c", &script])
        .env("ARSHIM_BIN", companion())
        .env("LIB", library())
        .env("HOST", &fx.host)
        .env("O1", &fx.objs[0])
        .env("O2", &fx.objs[1]);
    let run = run(cmd, &dir, "reuse");
    assert_archive_ok(&dir.join("lib.a"), &run);
    (dir, run)
}

/// The host's pid in the namespace, which must be the claimed one.
fn reused_pid(dir: &TestDir, run: &Outcome) -> u32 {
    let claim = std::fs::read_to_string(dir.join("claim")).unwrap();
    let (pid, start) = claim.split_once(':').unwrap_or_else(|| {
        panic!(
            "arshim run's claim {claim:?} has no start time\n{}",
            run.describe()
        )
    });
    assert!(start.parse::<u64>().is_ok(), "{claim:?}");
    let host = host_pid(dir, "host", run);
    assert_eq!(
        pid.parse::<u32>().ok(),
        Some(host),
        "the host did not get the claimed pid back\n{}",
        run.describe()
    );
    host
}

#[test]
fn a_reused_pid_does_not_inherit_the_claim() {
    assert!(
        Command::new("unshare").arg("--version").output().is_ok(),
        "unshare is not installed (Debian: util-linux)"
    );
    let (dir, without) = reuse("pid-reuse-without", None);
    without.assert_code(0);
    let host = reused_pid(&dir, &without);
    assert_not_converted(&dir, &without, host);

    let (dir, with) = reuse("pid-reuse-with", Some("old"));
    let host = reused_pid(&dir, &with);
    assert_not_converted(&dir, &with, host);
    assert_eq!(with.status.code(), without.status.code());
    assert_eq!(with.stdout, without.stdout, "{}", with.describe());
    assert_silent(&with);

    // The same pid set by hand, bare: today's meaning, whoever has the pid.
    let (dir, bare) = reuse("pid-reuse-bare", Some("bare"));
    let host = reused_pid(&dir, &bare);
    let call = single_standin_call(&dir, &bare);
    assert_eq!(call.pid, host, "a bare pid converts\n{}", bare.describe());
}
