//! The files a command writes, across the runs of `verify` (docs/DESIGN.md,
//! "verify: files the host writes").
//!
//! Writes through glibc's stdio, by another thread, or to a file closed
//! before exit escape every hook, so the runs are compared by the state of
//! the files they leave, not by calls:
//!
//! - Before run 1, the regular files under the working directory and those
//!   named on the command line are copied aside (`Files::before`, bounded in
//!   count and bytes; the report says when the bound was hit).
//! - After each run, those files, the ones created next to them and the ones
//!   the observe trace names (open for writing when the archiver ended,
//!   opened for writing after it) are read: size, hash, lines (`State`).
//! - Between the runs, what run 1 changed is put back as it was (created
//!   files are removed), so run 2 starts from the same files.
//! - At the end the files are left as run 1 left them: one unconverted run.
//!
//! Only files a run changed are ever written or removed; the archive (kept
//! by `state::Aside`) and verify's own stdin/stdout/stderr are not touched.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::archive;
use super::trace::Event;

/// At most this many files are copied aside before run 1…
const MAX_FILES: usize = 20_000;
/// …and at most this many bytes.
const MAX_BYTES: u64 = 256 << 20;
/// Directory entries visited per walk, files or not.
const MAX_ENTRIES: usize = 100_000;

/// What a run left at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Missing,
    File {
        size: u64,
        hash: u64,
        lines: usize,
    },
    /// Not a regular file (a directory, a FIFO…), or unreadable.
    Other,
}

impl State {
    pub fn of(path: &Path) -> State {
        match fs::symlink_metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => State::Missing,
            Ok(m) if m.is_file() => read_state(path).unwrap_or(State::Other),
            _ => State::Other,
        }
    }
}

fn read_state(path: &Path) -> io::Result<State> {
    let mut reader = Counting {
        inner: fs::File::open(path)?,
        size: 0,
        lines: 0,
    };
    let hash = archive::fnv1a64(&mut reader)?;
    Ok(State::File {
        size: reader.size,
        hash,
        lines: reader.lines,
    })
}

/// Counts bytes and lines as they are read (hashed).
struct Counting<R> {
    inner: R,
    size: u64,
    lines: usize,
}

impl<R: io::Read> io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = buf.get(..n).unwrap_or_default();
        self.size += read.len() as u64;
        self.lines += read.iter().filter(|&&b| b == b'\n').count();
        Ok(n)
    }
}

/// What says a file was not written: inode, size, mtime and ctime (any
/// write moves ctime).
type Stamp = (u64, u64, i64, i64, i64, i64);

fn stamp(path: &Path) -> Option<Stamp> {
    let m = fs::symlink_metadata(path).ok()?;
    Some((
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

/// A file seen before run 1.
struct Kept {
    state: State,
    stamp: Option<Stamp>,
    /// Its content, copied aside (`None` beyond the bound).
    copy: Option<PathBuf>,
}

/// A file outside what was copied aside that the observe trace names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub path: PathBuf,
    /// Opened with O_TRUNC/O_EXCL (or fopen "w"/"x"): its content cannot
    /// depend on what was there before.
    pub truncated: bool,
    /// Its size when the archiver ended, if it was open for writing then.
    pub size_at_archiver_end: Option<u64>,
}

/// The files across the runs; `Drop` leaves run 1's files in place.
pub struct Files {
    store: PathBuf,
    cwd: PathBuf,
    /// Before run 1, by path.
    before: BTreeMap<PathBuf, Kept>,
    /// The directories walked before run 1.
    dirs_before: BTreeSet<PathBuf>,
    /// Why the copy aside stopped short, if it did.
    pub bound: Option<String>,
    /// Paths never touched: the archive, verify's own files.
    skip: Vec<PathBuf>,
    own: Vec<(u64, u64)>,
    /// At the end of run 1: every path run 1 changed, and a copy of each.
    first: BTreeMap<PathBuf, (State, Option<PathBuf>)>,
    /// Paths changed by a later run (put back at the end).
    later: BTreeSet<PathBuf>,
    recorded: bool,
}

impl Files {
    /// Copies aside the files under `cwd` and those named in `command`,
    /// into `work` (verify's own dir, never compared).
    pub fn before(cwd: &Path, command: &[std::ffi::OsString], work: &Path) -> io::Result<Files> {
        let store = work.join("files");
        fs::create_dir_all(&store)?;
        let mut files = Files {
            store,
            cwd: cwd.to_path_buf(),
            before: BTreeMap::new(),
            dirs_before: BTreeSet::new(),
            bound: None,
            skip: vec![work.to_path_buf()],
            own: own_files(),
            first: BTreeMap::new(),
            later: BTreeSet::new(),
            recorded: false,
        };
        let (found, dirs) = files.walk();
        files.dirs_before = dirs;
        let named = named_paths(cwd, command);
        let mut bytes = 0u64;
        for path in found.into_iter().chain(named) {
            if files.before.contains_key(&path) {
                continue;
            }
            let kept = files.keep(&path, &mut bytes);
            files.before.insert(path, kept);
        }
        Ok(files)
    }

    /// One file before run 1: its state, and a copy while within the bound.
    fn keep(&mut self, path: &Path, bytes: &mut u64) -> Kept {
        let stamp = stamp(path);
        let state = State::of(path);
        let size = match &state {
            State::File { size, .. } => *size,
            _ => {
                return Kept {
                    state,
                    stamp,
                    copy: None,
                }
            }
        };
        let n = self.before.len();
        if n >= MAX_FILES || *bytes + size > MAX_BYTES {
            if self.bound.is_none() {
                self.bound = Some(format!(
                    "verify puts back at most {MAX_FILES} files and {} MiB; files beyond \
                     (such as {}) started run 2 as run 1 left them",
                    MAX_BYTES >> 20,
                    self.shown(path)
                ));
            }
            return Kept {
                state,
                stamp,
                copy: None,
            };
        }
        let copy = self.store.join(format!("before-{n}"));
        match fs::copy(path, &copy) {
            Ok(_) => {
                *bytes += size;
                Kept {
                    state,
                    stamp,
                    copy: Some(copy),
                }
            }
            Err(_) => Kept {
                state,
                stamp,
                copy: None,
            },
        }
    }

    /// Never touched: the archive (and its hidden copy, `state::Aside`).
    pub fn skip(&mut self, path: &Path) {
        self.skip.push(path.to_path_buf());
    }

    fn skipped(&self, path: &Path) -> bool {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(".arshim-verify-"));
        hidden || self.skip.iter().any(|s| path.starts_with(s)) || self.is_own(path)
    }

    /// verify's own stdin/stdout/stderr, which may be files in the tree.
    fn is_own(&self, path: &Path) -> bool {
        fs::symlink_metadata(path).is_ok_and(|m| self.own.contains(&(m.dev(), m.ino())))
    }

    /// The regular files and directories under the working directory.
    fn walk(&self) -> (Vec<PathBuf>, BTreeSet<PathBuf>) {
        let (mut files, mut dirs) = (Vec::new(), BTreeSet::new());
        let mut todo = vec![self.cwd.clone()];
        let mut seen = 0;
        while let Some(dir) = todo.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<_> = entries.flatten().collect();
            names.sort_by_key(|e| e.file_name());
            for e in names {
                seen += 1;
                if seen > MAX_ENTRIES {
                    return (files, dirs);
                }
                let path = e.path();
                match e.file_type() {
                    Ok(t) if t.is_dir() && !self.skipped(&path) => {
                        dirs.insert(path.clone());
                        todo.push(path);
                    }
                    Ok(t) if t.is_file() && !self.skipped(&path) => files.push(path),
                    _ => {}
                }
            }
        }
        (files, dirs)
    }

    /// Every path a run may have changed: those seen before, those under
    /// the working directory now, and `named` (from the trace).
    fn candidates(&self, named: &[Named]) -> (BTreeSet<PathBuf>, BTreeSet<PathBuf>) {
        let (found, dirs) = self.walk();
        let mut all: BTreeSet<PathBuf> = self.before.keys().cloned().collect();
        all.extend(found);
        all.extend(named.iter().map(|n| n.path.clone()));
        all.extend(self.first.keys().cloned());
        all.retain(|p| !self.skipped(p));
        (all, dirs)
    }

    /// After run 1: what it changed, each copied aside to be put back at the end.
    pub fn after_first(&mut self, named: &[Named]) -> BTreeMap<PathBuf, State> {
        let (all, _) = self.candidates(named);
        let mut states = BTreeMap::new();
        for (i, path) in all.into_iter().enumerate() {
            let now = self.state_now(&path);
            if self.state_before(&path) == Some(&now) {
                states.insert(path, now);
                continue;
            }
            let copy = matches!(now, State::File { .. })
                .then(|| self.store.join(format!("first-{i}")))
                .filter(|c| fs::copy(&path, c).is_ok());
            self.first.insert(path.clone(), (now.clone(), copy));
            states.insert(path, now);
        }
        self.recorded = true;
        states
    }

    /// The state of `path` now; not read again when its stamp says it was
    /// not written since before run 1.
    fn state_now(&self, path: &Path) -> State {
        match self.before.get(path) {
            Some(kept) if kept.stamp.is_some() && kept.stamp == stamp(path) => kept.state.clone(),
            _ => State::of(path),
        }
    }

    /// The state before run 1, when `path` was looked at then (`None`:
    /// outside the walk, not known).
    fn state_before(&self, path: &Path) -> Option<&State> {
        match self.before.get(path) {
            Some(kept) => Some(&kept.state),
            None if path.starts_with(&self.cwd) => Some(&State::Missing),
            None => None,
        }
    }

    /// After a later run: every path's state, and which ones it changed.
    pub fn after_later(&mut self, named: &[Named]) -> BTreeMap<PathBuf, State> {
        let (all, _) = self.candidates(named);
        let mut states = BTreeMap::new();
        for path in all {
            let now = self.state_now(&path);
            if self.state_before(&path) != Some(&now) {
                self.later.insert(path.clone());
            }
            states.insert(path, now);
        }
        states
    }
}

impl Files {
    /// Before run 2 (and a third run): every file a run changed is put back
    /// as it was before run 1; files the runs created are removed, and so
    /// are the directories they created, once empty.
    pub fn put_back_start(&self) -> Vec<String> {
        let mut failed = Vec::new();
        for path in self.touched() {
            if let Err(e) = self.to_start(&path) {
                failed.push(format!("{}: {e}", self.shown(&path)));
            }
        }
        let (_, dirs) = self.walk();
        let created: Vec<&PathBuf> = dirs.difference(&self.dirs_before).collect();
        for dir in created.into_iter().rev() {
            let _ = fs::remove_dir(dir);
        }
        failed
    }

    fn to_start(&self, path: &Path) -> io::Result<()> {
        match self.before.get(path) {
            Some(Kept {
                copy: Some(copy), ..
            }) => copy_to(copy, path),
            Some(Kept {
                state: State::Missing,
                ..
            }) => remove(path),
            // Beyond the bound, or not a regular file: left as it is.
            Some(_) => Ok(()),
            None if path.starts_with(&self.cwd) => remove(path),
            None => Ok(()),
        }
    }

    /// Paths any run changed.
    fn touched(&self) -> BTreeSet<PathBuf> {
        let mut all: BTreeSet<PathBuf> = self.first.keys().cloned().collect();
        all.extend(self.later.iter().cloned());
        all
    }

    /// The files as run 1 left them: what one unconverted run leaves.
    pub fn leave_first(&mut self) -> Vec<String> {
        let mut failed = Vec::new();
        if !std::mem::take(&mut self.recorded) {
            return failed;
        }
        for path in self.touched() {
            let done = match self.first.get(&path) {
                Some((_, Some(copy))) => copy_to(copy, &path),
                Some((State::Missing, None)) => remove(&path),
                Some(_) => Ok(()),
                None => self.to_start(&path),
            };
            if let Err(e) = done {
                failed.push(format!("{}: {e}", self.shown(&path)));
            }
        }
        failed
    }

    /// A path as the reasons name it: relative to the working directory when under it.
    pub fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.cwd)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// The paths that are the same file in every run by their name alone:
    /// those that existed before run 1, and those both runs left. A pid in
    /// such a name is not the run's: a run's pid can be any number, and
    /// `/work/build-455/one.o` must stay one file when run 2's archiver
    /// happens to be pid 455.
    pub fn same_names(&self, first: &States, second: &States) -> BTreeSet<PathBuf> {
        let present = |s: &State| *s != State::Missing;
        let existed = self
            .before
            .iter()
            .filter(|(_, kept)| present(&kept.state))
            .map(|(p, _)| p.clone());
        let both = first
            .iter()
            .filter(|(p, s)| present(s) && second.get(*p).is_some_and(present))
            .map(|(p, _)| p.clone());
        existed.chain(both).collect()
    }

    /// Whether `path` starts each run as it was before run 1.
    fn put_back(&self, path: &Path) -> bool {
        match self.before.get(path) {
            Some(kept) => kept.copy.is_some() || kept.state == State::Missing,
            None => path.starts_with(&self.cwd),
        }
    }
}

impl Drop for Files {
    /// An error before the end: the files are left as run 1 left them.
    fn drop(&mut self) {
        let _ = self.leave_first();
    }
}

fn copy_to(copy: &Path, path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(copy, path).map(|_| ())
}

fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// (dev, ino) of verify's own stdin, stdout and stderr.
fn own_files() -> Vec<(u64, u64)> {
    use std::os::fd::BorrowedFd;
    (0..3)
        .filter_map(|fd| {
            // SAFETY: fds 0..3 stay open for the life of the process; the
            // borrow only lives for this fstat.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            let file = fd.try_clone_to_owned().ok()?;
            let meta = fs::File::from(file).metadata().ok()?;
            Some((meta.dev(), meta.ino()))
        })
        .collect()
}

/// Files named on the command line outside the working directory (that
/// is walked anyway): existing regular files, or names in an existing
/// directory. An option's value after `=` or `:` counts too (`-o:x.a`,
/// `--map=x.map`).
fn named_paths(cwd: &Path, command: &[std::ffi::OsString]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for arg in command.iter().skip(1) {
        let arg = arg.to_string_lossy();
        let mut words = vec![arg.as_ref()];
        if arg.starts_with('-') {
            words.extend(arg.split_once(['=', ':']).map(|(_, v)| v));
        }
        for word in words.into_iter().filter(|w| !w.is_empty()) {
            let path = cwd.join(word);
            let known = fs::symlink_metadata(&path).map(|m| m.is_file());
            let fits = match known {
                Ok(is_file) => is_file,
                Err(_) => path.parent().is_some_and(Path::is_dir),
            };
            if fits && !path.starts_with(cwd) && !out.contains(&path) {
                out.push(path);
            }
        }
    }
    out
}

/// The files the observe trace names: open for writing when the archiver
/// ended or by the archiver spawn's file actions (`writing`), opened for
/// writing after it (`after` opens).
pub fn named_in_trace(events: &[Event]) -> Vec<Named> {
    let mut out: Vec<Named> = Vec::new();
    for e in events {
        let wanted = match e.event.as_str() {
            "writing" => true,
            "after" => e.str("what") == Some("open"),
            _ => false,
        };
        if !wanted {
            continue;
        }
        let path = e.str("path").map(|p| match e.str("cwd") {
            Some(cwd) => Path::new(cwd).join(p),
            None => PathBuf::from(p),
        });
        let truncated = e.bool("truncates") == Some(true);
        let size = (e.str("at") == Some("archiver_done"))
            .then(|| e.int("size").and_then(|s| u64::try_from(s).ok()))
            .flatten();
        let Some(path) = path.filter(|p| p.is_absolute()) else {
            continue;
        };
        match out.iter_mut().find(|n| n.path == path) {
            Some(n) => {
                n.truncated |= truncated;
                n.size_at_archiver_end = n.size_at_archiver_end.or(size);
            }
            None => out.push(Named {
                path,
                truncated,
                size_at_archiver_end: size,
            }),
        }
    }
    out
}

/// What a run left, by path.
pub type States = BTreeMap<PathBuf, State>;

/// What a run left, by path with the run's own pids masked (ldc2 `-lib -`
/// writes `__stdin_PID.o`): the key, the path, the state.
pub type Masked = BTreeMap<String, (PathBuf, State)>;

/// `states` keyed by path with the pids of its run (`pids`) masked, as
/// archive members are (`archive::mask_pids`), and numbers that read as a
/// time of the runs (`member_names::mask_times`: a generator naming its
/// objects after the time). A path in `exact` is its own key: the same
/// name in every run is the same file, whatever pid a run happened to get
/// (`Files::same_names`). A run's states also list the paths an earlier
/// run left (missing now): one that masks like a file this run has is the
/// same file, so it is left out. Two files of one run that mask alike keep
/// their pid-masked keys: one never hides the other.
pub fn masked(states: &States, pids: &[i64], exact: &BTreeSet<PathBuf>) -> Masked {
    let window = super::member_names::recent(std::time::SystemTime::now());
    let keys: Vec<(String, String)> = states
        .keys()
        .map(|path| {
            let text = path.to_string_lossy();
            if exact.contains(path) {
                return (text.to_string(), text.to_string());
            }
            let by_pid = archive::mask_pids(&text, pids);
            let by_time = super::member_names::mask_times(&by_pid, window);
            (by_pid, by_time)
        })
        .collect();
    // Per time-masked key: how many paths are there, and how many missing.
    let mut uses: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for ((_, state), (_, by_time)) in states.iter().zip(&keys) {
        let u = uses.entry(by_time.as_str()).or_default();
        if *state == State::Missing {
            u.1 += 1;
        } else {
            u.0 += 1;
        }
    }
    let mut out = Masked::new();
    for ((path, state), (by_pid, by_time)) in states.iter().zip(&keys) {
        let (present, missing) = uses.get(by_time.as_str()).copied().unwrap_or_default();
        let key = match (state == &State::Missing, present, missing) {
            (true, 1.., _) => continue,
            (false, 1, _) | (true, 0, 1) => by_time.clone(),
            _ => by_pid.clone(),
        };
        out.insert(key, (path.clone(), state.clone()));
    }
    out
}

/// The files of two runs, compared.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Compared {
    /// Key (`Masked`), path, and how it differs ("map.txt: 300 lines
    /// without the library, 291 with it").
    pub differ: Vec<(String, PathBuf, String)>,
    /// Files a run wrote that are the same after both.
    pub same: Vec<String>,
    /// Files not compared: their state may depend on how run 1 left them.
    pub not_compared: Vec<String>,
    /// Of those, the ones written after the archiver ended (SAFE is not earned).
    pub unearned: Vec<String>,
}

impl Files {
    /// Run 1 (`first`, unconverted) against a later run (`other`).
    pub fn compare(&self, first: &Masked, other: &Masked, named: &[Named]) -> Compared {
        let mut out = Compared::default();
        let keys: BTreeSet<&String> = first.keys().chain(other.keys()).collect();
        for key in keys {
            let (pa, a) = entry(first, key);
            let (pb, b) = entry(other, key);
            let Some(path) = pa.or(pb) else { continue };
            // A name with a pid in it is new in each run: before, missing.
            let before = |p: Option<&PathBuf>| p.and_then(|p| self.state_before(p));
            if before(pa) == Some(&a) && before(pb) == Some(&b) {
                continue; // no run changed it
            }
            let name = self.shown(path);
            let comparable = self.put_back(path)
                || (a == State::Missing && b == State::Missing)
                || named.iter().any(|n| &n.path == path && n.truncated);
            if !comparable {
                self.not_comparable(path, &a, named, &mut out);
            } else if a == b {
                out.same.push(name);
            } else {
                out.differ
                    .push((key.clone(), path.clone(), describe(&name, &a, &b)));
            }
        }
        out
    }

    /// A file outside what is put back, whose start state may matter.
    fn not_comparable(&self, path: &Path, first: &State, named: &[Named], out: &mut Compared) {
        let name = self.shown(path);
        out.not_compared.push(name.clone());
        let at_end = named
            .iter()
            .find(|n| n.path == path)
            .and_then(|n| n.size_at_archiver_end);
        let grew = match (at_end, first) {
            (Some(size), State::File { size: now, .. }) => *now != size,
            (Some(_), _) => true,
            (None, _) => false,
        };
        if grew {
            out.unearned.push(format!(
                "{name} was written after the archiver ended, and is outside what verify \
                 puts back between the runs: not compared"
            ));
        }
    }
}

/// The path and state under `key`; missing when the run left nothing there.
pub fn entry<'a>(states: &'a Masked, key: &str) -> (Option<&'a PathBuf>, State) {
    match states.get(key) {
        Some((path, state)) => (Some(path), state.clone()),
        None => (None, State::Missing),
    }
}

/// How `name` differs: `a` without the library, `b` with it.
pub fn describe(name: &str, a: &State, b: &State) -> String {
    let without = "without the library";
    match (a, b) {
        (State::File { lines: la, .. }, State::File { lines: lb, .. }) if la != lb => {
            format!("{name}: {la} lines {without}, {lb} with it")
        }
        (State::File { size: sa, .. }, State::File { size: sb, .. }) if sa != sb => {
            format!("{name}: {sa} bytes {without}, {sb} with it")
        }
        (State::File { size, .. }, State::File { .. }) => {
            format!("{name}: {size} bytes in both runs, but not the same bytes")
        }
        (State::File { size, .. }, State::Missing) => {
            format!("{name}: written {without} ({size} bytes), missing with it")
        }
        (State::Missing, State::File { size, .. }) => {
            format!("{name}: missing {without}, written with it ({size} bytes)")
        }
        _ => format!("{name}: not the same file {without} and with it"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `masked` with no name known to be the same in both runs.
    fn keyed(states: &States, pids: &[i64]) -> Masked {
        masked(states, pids, &BTreeSet::new())
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("arshim-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("cwd/sub")).unwrap();
        d
    }

    #[test]
    fn runs_start_from_the_same_files_and_end_as_run_one_left_them() {
        let d = dir("runs");
        let cwd = d.join("cwd");
        fs::write(cwd.join("log"), "old\n").unwrap();
        fs::write(cwd.join("sub/keep"), "same\n").unwrap();
        let mut files = Files::before(&cwd, &[], &d.join("work")).unwrap();

        fs::write(cwd.join("log"), "old\nrun 1\n").unwrap();
        fs::create_dir(cwd.join("new")).unwrap();
        fs::write(cwd.join("new/map"), "a\nb\n").unwrap();
        let first = files.after_first(&[]);
        assert!(files.put_back_start().is_empty());
        assert_eq!(fs::read_to_string(cwd.join("log")).unwrap(), "old\n");
        assert!(!cwd.join("new").exists(), "created dir removed");

        fs::write(cwd.join("log"), "old\nrun 2\n").unwrap();
        fs::write(cwd.join("other"), "x").unwrap();
        let second = files.after_later(&[]);
        let c = files.compare(&keyed(&first, &[]), &keyed(&second, &[]), &[]);
        assert_eq!(
            c.differ
                .iter()
                .map(|(_, _, d)| d.as_str())
                .collect::<Vec<_>>(),
            [
                "log: 10 bytes in both runs, but not the same bytes",
                "new/map: written without the library (4 bytes), missing with it",
                "other: missing without the library, written with it (1 bytes)",
            ]
        );
        assert!(files.leave_first().is_empty());
        assert_eq!(fs::read_to_string(cwd.join("log")).unwrap(), "old\nrun 1\n");
        assert_eq!(fs::read_to_string(cwd.join("new/map")).unwrap(), "a\nb\n");
        assert!(!cwd.join("other").exists());
        assert_eq!(fs::read_to_string(cwd.join("sub/keep")).unwrap(), "same\n");
        drop(files);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn names_with_the_runs_own_pid_are_the_same_file() {
        let d = dir("pids");
        let cwd = d.join("cwd");
        let files = Files::before(&cwd, &[], &d.join("work")).unwrap();
        let f = State::File {
            size: 3,
            hash: 3,
            lines: 0,
        };
        let first = BTreeMap::from([(cwd.join("__stdin_41.o"), f.clone())]);
        let second = BTreeMap::from([(cwd.join("__stdin_52.o"), f)]);
        let c = files.compare(&keyed(&first, &[41]), &keyed(&second, &[52]), &[]);
        assert!(c.differ.is_empty(), "{c:?}");
        assert_eq!(c.same, ["__stdin_41.o"]);
        let c = files.compare(&keyed(&first, &[41]), &keyed(&second, &[41]), &[]);
        assert_eq!(c.differ.len(), 2, "not a pid of run 2: {c:?}");
        fs::remove_dir_all(&d).unwrap();
    }

    /// The fixture at `/…/build-455/one.o` is one file in both runs, even
    /// when run 2's archiver is pid 455: a name that existed before run 1,
    /// or that both runs left, is its own key.
    #[test]
    fn a_name_both_runs_left_is_one_file_whatever_the_pids() {
        let d = dir("same-names");
        let cwd = d.join("cwd");
        let input = d.join("build-455/one.o");
        fs::create_dir_all(input.parent().unwrap()).unwrap();
        fs::write(&input, "obj").unwrap();
        let cmd = ["ar".into(), input.clone().into_os_string()];
        let files = Files::before(&cwd, &cmd, &d.join("work")).unwrap();
        let f = State::File {
            size: 3,
            hash: 3,
            lines: 0,
        };
        let made = cwd.join("out-455.txt");
        let first = BTreeMap::from([(input.clone(), f.clone()), (made.clone(), f.clone())]);
        let second = first.clone();
        // Without the rule, run 2's pid 455 splits each name in two.
        let c = files.compare(&keyed(&first, &[300]), &keyed(&second, &[455]), &[]);
        assert_eq!(c.differ.len(), 4, "{c:?}");
        let exact = files.same_names(&first, &second);
        assert_eq!(exact, BTreeSet::from([input.clone(), made.clone()]));
        let c = files.compare(
            &masked(&first, &[300], &exact),
            &masked(&second, &[455], &exact),
            &[],
        );
        assert!(c.differ.is_empty(), "{c:?}");
        // One that existed before run 1 and that run 2 deleted: one finding.
        let second = BTreeMap::from([(input.clone(), State::Missing), (made, f)]);
        let exact = files.same_names(&first, &second);
        let c = files.compare(
            &masked(&first, &[300], &exact),
            &masked(&second, &[455], &exact),
            &[],
        );
        let found: Vec<&str> = c.differ.iter().map(|(_, _, t)| t.as_str()).collect();
        assert_eq!(
            found,
            [format!(
                "{}: written without the library (3 bytes), missing with it",
                input.display()
            )],
        );
        drop(files);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn names_with_a_time_of_the_runs_are_the_same_file() {
        let d = dir("times");
        let cwd = d.join("cwd");
        let files = Files::before(&cwd, &[], &d.join("work")).unwrap();
        let f = State::File {
            size: 3,
            hash: 3,
            lines: 0,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let first = BTreeMap::from([
            (cwd.join(format!("m0-{now}.o")), f.clone()),
            (cwd.join(format!("m1-{}.o", now + 7)), f.clone()),
        ]);
        let second = BTreeMap::from([
            (cwd.join(format!("m0-{}.o", now + 1000)), f.clone()),
            (cwd.join(format!("m1-{}.o", now + 1007)), f.clone()),
        ]);
        let c = files.compare(&keyed(&first, &[]), &keyed(&second, &[]), &[]);
        assert!(c.differ.is_empty(), "{c:?}");
        // Two files of one run that mask alike are both kept.
        let both = BTreeMap::from([
            (cwd.join(format!("m-{now}.o")), f.clone()),
            (cwd.join(format!("m-{}.o", now + 1)), f),
        ]);
        assert_eq!(keyed(&both, &[]).len(), 2);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn differences_in_words() {
        let f = |size, lines| State::File {
            size,
            hash: size,
            lines,
        };
        assert_eq!(
            describe("map.txt", &f(900, 300), &f(873, 291)),
            "map.txt: 300 lines without the library, 291 with it"
        );
        assert_eq!(
            describe("x", &f(9, 1), &f(8, 1)),
            "x: 9 bytes without the library, 8 with it"
        );
    }

    #[test]
    fn files_outside_are_compared_when_truncated_else_listed() {
        let d = dir("outside");
        let cwd = d.join("cwd");
        let outside = d.join("out.log");
        let files = Files::before(&cwd, &[], &d.join("work")).unwrap();
        let named = |truncated, size| {
            vec![Named {
                path: outside.clone(),
                truncated,
                size_at_archiver_end: size,
            }]
        };
        let f = |size| State::File {
            size,
            hash: size,
            lines: 1,
        };
        let first = keyed(&BTreeMap::from([(outside.clone(), f(4))]), &[]);
        let second = keyed(&BTreeMap::from([(outside.clone(), f(8))]), &[]);
        let c = files.compare(&first, &second, &named(true, None));
        assert_eq!(c.differ.len(), 1);
        let c = files.compare(&first, &second, &named(false, Some(4)));
        assert!(c.differ.is_empty() && c.unearned.is_empty());
        assert_eq!(c.not_compared.len(), 1);
        let c = files.compare(&first, &second, &named(false, Some(2)));
        assert_eq!(c.unearned.len(), 1, "grew after the archiver: {c:?}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn trace_names_files_open_when_the_archiver_ended_and_opened_after() {
        let text = concat!(
            r#"{"pid":1,"event":"writing","at":"archiver_done","fd":3,"path":"/w/map.txt","size":7}"#,
            "\n",
            r#"{"pid":1,"event":"after","what":"open","path":"build.log","cwd":"/w","truncates":true}"#,
            "\n",
            r#"{"pid":1,"event":"after","what":"open","path":"/w/map.txt","truncates":false}"#,
            "\n",
            r#"{"pid":1,"event":"writing","at":"spawn","fd":1,"path":"l/ar.log","cwd":"/w","truncates":true}"#,
        );
        let named = named_in_trace(&super::super::trace::parse(text).0);
        assert_eq!(
            named,
            [
                Named {
                    path: "/w/map.txt".into(),
                    truncated: false,
                    size_at_archiver_end: Some(7)
                },
                Named {
                    path: "/w/build.log".into(),
                    truncated: true,
                    size_at_archiver_end: None
                },
                Named {
                    path: "/w/l/ar.log".into(),
                    truncated: true,
                    size_at_archiver_end: None
                },
            ]
        );
    }

    #[test]
    fn options_name_files_too() {
        let d = dir("named");
        let cwd = d.join("cwd");
        let cmd: Vec<std::ffi::OsString> = vec![
            "ld".into(),
            format!("--map={}", d.join("x.map").display()).into(),
            "in-cwd.o".into(),
            "/nonexistent/dir/y".into(),
        ];
        assert_eq!(named_paths(&cwd, &cmd), [d.join("x.map")]);
        fs::remove_dir_all(&d).unwrap();
    }
}
