//! Whether the converted run reproduced the deletions the conversion took
//! over (docs/DESIGN.md, "verify: temporaries taken over"). The temps live
//! outside the working directory (in `$TMPDIR`), where `files` does not
//! look, and their names change from run to run (`mkdtemp`, a pid): so the
//! directories that held them are listed before the converted run, and
//! what is new there afterwards and matches the globs was left behind.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::temps::{Created, Globs};
use super::trace::Event;

/// What the host created under the globs and still has after the
/// unconverted run (the same file, by dev and ino): a conversion would
/// hand it to the reaper, which removes what the host keeps.
pub fn kept_by_host(created: &[Created], globs: &Globs) -> Vec<String> {
    created
        .iter()
        .filter(|c| globs.matches(&c.path))
        .filter(|c| {
            fs::symlink_metadata(&c.path).is_ok_and(|m| match (c.dev, c.ino) {
                (Some(dev), Some(ino)) => m.dev() == dev && m.ino() == ino,
                _ => true,
            })
        })
        .map(|c| c.path.clone())
        .collect()
}

/// The directories that held the deletions taken over, listed before the
/// converted run.
pub struct Watch {
    /// Each directory and the names it held.
    dirs: Vec<(PathBuf, BTreeSet<OsString>)>,
    /// The paths the observed run deleted (absent again after run 2 when
    /// their names do not change).
    taken: Vec<String>,
}

impl Watch {
    pub fn before_second(taken: &[String]) -> Watch {
        let mut parents: Vec<PathBuf> = Vec::new();
        for t in taken {
            let path = Path::new(t);
            // The topmost of them: none of its ancestors was deleted too.
            let nested = path
                .ancestors()
                .skip(1)
                .any(|a| taken.iter().any(|o| Path::new(o) == a));
            match path.parent() {
                Some(parent) if !nested && !parents.iter().any(|p| p == parent) => {
                    parents.push(parent.to_path_buf())
                }
                _ => {}
            }
        }
        let dirs = parents
            .into_iter()
            .map(|p| (names(&p), p))
            .map(|(n, p)| (p, n));
        Watch {
            dirs: dirs.collect(),
            taken: taken.to_vec(),
        }
    }

    /// What the converted run left that the observed run removed: new
    /// names under the globs in those directories, the observed run's own
    /// paths back again, and what the library handed to the reaper
    /// (`temps` events) still there.
    pub fn left_behind(&self, second: &[Event], globs: &Globs) -> Vec<String> {
        let mut left: BTreeSet<String> = BTreeSet::new();
        for (dir, before) in &self.dirs {
            for name in names(dir).difference(before) {
                let path = dir.join(name).to_string_lossy().into_owned();
                if globs.matches(&path) {
                    left.insert(path);
                }
            }
        }
        let handed = second
            .iter()
            .filter(|e| e.event == "temps")
            .flat_map(|e| e.strings("paths").unwrap_or_default());
        for path in self.taken.iter().cloned().chain(handed) {
            if fs::symlink_metadata(&path).is_ok() {
                left.insert(path);
            }
        }
        // A directory left names what it holds.
        let all: Vec<String> = left.iter().cloned().collect();
        left.retain(|p| {
            !all.iter()
                .any(|o| o != p && p.starts_with(o.as_str()) && p[o.len()..].starts_with('/'))
        });
        left.into_iter().collect()
    }
}

/// The names a directory holds now (none if it cannot be read).
fn names(dir: &Path) -> BTreeSet<OsString> {
    fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("arshim-taken-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn new_names_under_the_globs_are_left_behind() {
        let d = scratch("left");
        let s = |p: PathBuf| p.to_string_lossy().into_owned();
        fs::write(d.join("old.1"), "").unwrap();
        let globs = Globs::new(Some(&format!("{}/my.*", d.display())), &[], None);
        let taken = [s(d.join("my.run1/a.o")), s(d.join("my.run1"))];
        let watch = Watch::before_second(&taken);
        assert_eq!(watch.dirs.len(), 1, "only the topmost's parent");
        assert!(watch.left_behind(&[], &globs).is_empty());
        fs::create_dir(d.join("my.run2")).unwrap();
        fs::write(d.join("my.run2/a.o"), "").unwrap();
        fs::write(d.join("other"), "").unwrap();
        assert_eq!(watch.left_behind(&[], &globs), [s(d.join("my.run2"))]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn what_the_host_keeps_under_the_globs_is_found() {
        let d = scratch("kept");
        let kept = d.join("my.1");
        fs::write(&kept, "").unwrap();
        let m = fs::metadata(&kept).unwrap();
        let made = |p: &Path, ino: Option<u64>| Created {
            path: p.to_string_lossy().into_owned(),
            dev: Some(m.dev()),
            ino,
        };
        let globs = Globs::new(Some(&format!("{}/my.*", d.display())), &[], None);
        let created = [
            made(&kept, Some(m.ino())),
            made(&d.join("my.gone"), Some(1)),
            made(&kept, Some(m.ino() + 1)),
            made(&d.join("other"), None),
        ];
        fs::write(d.join("other"), "").unwrap();
        assert_eq!(
            kept_by_host(&created, &globs),
            [kept.to_string_lossy().into_owned()]
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
