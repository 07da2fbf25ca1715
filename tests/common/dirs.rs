//! Temporary directories: one per test, one of fixtures per test binary.

use super::env::profile_dir;
use std::fs;
use std::path::{Path, PathBuf};

/// `target/tmp/arshim-it` (`target/tmp` is what `CARGO_TARGET_TMPDIR` names
/// inside a test).
fn tmp_root() -> PathBuf {
    let target = profile_dir();
    let target = target.parent().expect("target/<profile> has a parent");
    target.join("tmp").join("arshim-it")
}

/// Removes the entries of `root` that `owner` names as kept by a test
/// process that has finished (failed tests keep their dirs for a look).
fn sweep_finished(root: &Path, owner: impl Fn(&str) -> Option<u32>) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = owner(&name) {
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A per-test directory, removed when the test passes and kept (its path is in
/// the failure messages) when it fails.
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        let root = tmp_root();
        // Dirs this test kept when it failed in earlier, finished test processes.
        let prefix = format!("{name}-");
        sweep_finished(&root, |file_name| {
            file_name.strip_prefix(&prefix)?.parse::<u32>().ok()
        });
        let path = root.join(format!("{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TestDir { path }
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// The per-binary fixture dir; dirs of earlier, finished test processes are removed.
pub fn fixture_dir() -> PathBuf {
    let root = tmp_root().join("fixtures");
    fs::create_dir_all(&root).unwrap();
    sweep_finished(&root, |name| name.rsplit('-').next()?.parse::<u32>().ok());
    let exe = std::env::current_exe().unwrap();
    let stem = exe.file_stem().unwrap().to_string_lossy().into_owned();
    let dir = root.join(format!("{stem}-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir
}
