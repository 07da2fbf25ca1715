//! Running a command with a timeout, in its own process group, and what the
//! run left (status, output, time).

use super::dirs::TestDir;
use std::fs;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Every run is killed (with its whole process group) and fails after this.
pub const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Outcome {
    pub label: String,
    /// The test directory (kept when the test fails).
    pub dir: PathBuf,
    /// The pid of the process the test spawned.
    pub pid: u32,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Everything about this run, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "[{} in {}] pid {} exited with {:?} (signal {:?})\n--- stdout ---\n{}--- stderr ---\n{}--------------",
            self.label,
            self.dir.display(),
            self.pid,
            self.status.code(),
            self.status.signal(),
            self.stdout,
            self.stderr
        )
    }

    pub fn assert_code(&self, code: i32) {
        assert_eq!(
            self.code(),
            Some(code),
            "unexpected exit status\n{}",
            self.describe()
        );
    }
}

fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// What a timed run left: the process, its status, where its output went
/// and how long it took.
pub struct Finished {
    pub label: String,
    pub dir: PathBuf,
    pub pid: u32,
    pub status: ExitStatus,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub took: Duration,
}

impl Finished {
    /// The run with its output as text (it must be UTF-8).
    pub fn outcome(self) -> Outcome {
        let (stdout, stderr) = (
            fs::read_to_string(&self.stdout).unwrap(),
            fs::read_to_string(&self.stderr).unwrap(),
        );
        self.with(stdout, stderr)
    }

    /// The same for real toolchains, whose output need not be UTF-8.
    pub fn outcome_lossy(self) -> Outcome {
        let lossy = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap()).into_owned();
        let (stdout, stderr) = (lossy(&self.stdout), lossy(&self.stderr));
        self.with(stdout, stderr)
    }

    fn with(self, stdout: String, stderr: String) -> Outcome {
        Outcome {
            label: self.label,
            dir: self.dir,
            pid: self.pid,
            status: self.status,
            stdout,
            stderr,
        }
    }
}

/// Run `cmd` with stdin from /dev/null and stdout/stderr into files of `dir`
/// (so the host's stdout is fully buffered), in its own process group; after
/// `timeout` the group is killed and the test fails.
pub fn run_timed(mut cmd: Command, dir: &TestDir, label: &str, timeout: Duration) -> Finished {
    let out_path = dir.join(format!("{label}.stdout"));
    let err_path = dir.join(format!("{label}.stderr"));
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .process_group(0);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let pid = child.id();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if started.elapsed() > timeout {
            kill_group(pid);
            let _ = child.wait();
            panic!(
                "[{label}] hung: killed after {} s: {cmd:?}\n--- stdout ---\n{}--- stderr ---\n{}(dir {})",
                timeout.as_secs(),
                fs::read_to_string(&out_path).unwrap_or_default(),
                fs::read_to_string(&err_path).unwrap_or_default(),
                dir.path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Finished {
        label: label.to_string(),
        dir: dir.path.clone(),
        pid,
        status,
        stdout: out_path,
        stderr: err_path,
        took: started.elapsed(),
    }
}

/// [`run_timed`] with [`TIMEOUT`], output as text.
pub fn run(cmd: Command, dir: &TestDir, label: &str) -> Outcome {
    run_timed(cmd, dir, label, TIMEOUT).outcome()
}
