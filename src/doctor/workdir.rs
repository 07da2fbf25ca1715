//! The scratch directory of the probes: a private temp dir holding a copy of
//! the companion to act as the probe host, `bin/ar` (a symlink to the
//! companion: the stand-in archiver), and the probes' traces and records.
//! Removed when doctor is done.

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, DirBuilderExt};
use std::path::{Path, PathBuf};

/// The probe host's file name. Not `arshim`: the library never lets a
/// program of that name convert (it is in its list of drivers), and it must
/// not match the archiver globs either.
pub const HOST_NAME: &str = "doctor-probe-host";

pub struct Workdir {
    pub path: PathBuf,
    /// The copy of the companion that plays the host.
    pub host: PathBuf,
    /// Directory with the stand-in `ar`, to put first on PATH.
    pub bin: PathBuf,
}

impl Workdir {
    /// Creates it in `$TMPDIR` (or /tmp) for the companion at `companion`.
    pub fn create(companion: &Path) -> io::Result<Workdir> {
        let base = std::env::temp_dir();
        let mut n = 0u32;
        let path = loop {
            let path = base.join(format!("arshim-doctor-{}-{n}", std::process::id()));
            // 0700 and must be new: nobody else can plant files in it.
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => break path,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 100 => n += 1,
                Err(e) => return Err(e),
            }
        };
        // From here on Drop cleans up, even on error.
        let mut dir = Workdir {
            host: path.join(HOST_NAME),
            bin: path.join("bin"),
            path,
        };
        // A hard link is free; across filesystems, copy (with its mode).
        if fs::hard_link(companion, &dir.host).is_err() {
            fs::copy(companion, &dir.host)?;
        }
        fs::create_dir(&dir.bin)?;
        symlink(companion, dir.bin.join("ar"))?;
        dir.path = fs::canonicalize(&dir.path)?;
        dir.host = dir.path.join(HOST_NAME);
        dir.bin = dir.path.join("bin");
        Ok(dir)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
