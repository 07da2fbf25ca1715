//! Remembered verdicts of `arshim verify`, per host binary, so that
//! `arshim run` can warn before converting a host proven NOT SAFE and
//! `--verified-only` can convert only hosts proven SAFE.
//!
//! One JSON file, `$XDG_CACHE_HOME/arshim/verdicts.json` (default
//! `~/.cache/arshim/verdicts.json`): a cache in the XDG sense — deleting it
//! only forgets verdicts. One entry per canonical host path, with the identity
//! of the contents it was verified with (ELF build-id or hash): a rebuilt host
//! no longer matches, and counts as changed, not verified. A script host is
//! keyed by interpreter and script together (docs/DESIGN.md, "Verdicts"):
//! its entry also holds the script's canonical path and hash, which the
//! library finds in its own argv.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde_json::{json, Map, Value};

use crate::verify::identity::{identify, HostId};

const FILE: &str = "verdicts.json";
/// 2: entries may name a script; 3: entries may hold the temps globs their
/// verdict was given with. Versions 1 and 2 (none do) read the same; a
/// newer one is refused, never guessed at.
const FORMAT_VERSION: u64 = 3;
const READABLE_FORMATS: [u64; 3] = [1, 2, FORMAT_VERSION];

/// The outcome of `arshim verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Safe,
    NotSafe,
    CannotTell,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Safe => "SAFE",
            Verdict::NotSafe => "NOT SAFE",
            Verdict::CannotTell => "CANNOT TELL",
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Safe => 0,
            Verdict::NotSafe => 1,
            Verdict::CannotTell => 2,
        }
    }

    fn from_label(label: &str) -> Option<Verdict> {
        [Verdict::Safe, Verdict::NotSafe, Verdict::CannotTell]
            .into_iter()
            .find(|v| v.label() == label)
    }
}

/// One remembered verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub host: HostId,
    /// The script an interpreter ran (path and `fnv1a64:` hash): the host
    /// is then the pair.
    pub script: Option<HostId>,
    /// SAFE or NOT SAFE: CANNOT TELL is not remembered.
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    /// Seconds since the epoch.
    pub time: u64,
    /// The command that was verified, for the messages.
    pub command: String,
    /// The `--temps` globs it was verified with (docs/DESIGN.md,
    /// "Verdicts"): a SAFE verdict holds for those only.
    pub temps: Option<String>,
}

impl Entry {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "path": self.host.path.to_string_lossy(),
            "id": self.host.id,
            "verdict": self.verdict.label(),
            "reasons": self.reasons,
            "time": self.time,
            "command": self.command,
        });
        if let (Some(script), Some(map)) = (&self.script, v.as_object_mut()) {
            map.insert("script".into(), script.path.to_string_lossy().into());
            map.insert("script_id".into(), script.id.clone().into());
        }
        if let (Some(temps), Some(map)) = (&self.temps, v.as_object_mut()) {
            map.insert("temps".into(), temps.clone().into());
        }
        v
    }

    fn from_json(v: &Value) -> Option<Entry> {
        let s = |k: &str| v.get(k).and_then(Value::as_str);
        Some(Entry {
            host: HostId {
                path: PathBuf::from(s("path")?),
                id: s("id")?.to_owned(),
            },
            script: match v.get("script") {
                None => None,
                Some(path) => Some(HostId {
                    path: PathBuf::from(path.as_str()?),
                    id: s("script_id")?.to_owned(),
                }),
            },
            verdict: Verdict::from_label(s("verdict")?)?,
            reasons: v
                .get("reasons")?
                .as_array()?
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect(),
            time: v.get("time")?.as_u64()?,
            command: s("command").unwrap_or_default().to_owned(),
            temps: s("temps").map(str::to_owned),
        })
    }

    /// The path and the script's path, if any: what the entry is stored under.
    fn key(&self) -> (&Path, Option<&Path>) {
        (
            &self.host.path,
            self.script.as_ref().map(|s| s.path.as_path()),
        )
    }

    /// "NOT SAFE on 2026-11-25 11:30 UTC (`ld …`)".
    pub fn summary(&self) -> String {
        format!(
            "{} on {} (`{}`)",
            self.verdict.label(),
            utc(self.time),
            self.command
        )
    }

    /// The first reason, for one-line messages.
    pub fn first_reason(&self) -> &str {
        self.reasons
            .first()
            .map_or("no reason recorded", String::as_str)
    }
}

/// What the store says about one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Verified(Entry),
    /// Verified, but the binary at that path has changed since.
    Changed(Entry),
    Never,
}

/// The store's file from the environment's values: `$XDG_CACHE_HOME` if
/// absolute (the XDG spec says to ignore relative ones), else `$HOME/.cache`.
pub fn location(xdg_cache_home: Option<&OsStr>, home: Option<&OsStr>) -> Option<PathBuf> {
    let base = match xdg_cache_home.map(Path::new).filter(|p| p.is_absolute()) {
        Some(xdg) => xdg.to_path_buf(),
        None => Path::new(home.filter(|h| !h.is_empty())?).join(".cache"),
    };
    Some(base.join("arshim").join(FILE))
}

pub struct Store {
    pub file: PathBuf,
}

impl Store {
    pub fn from_env() -> Result<Store, String> {
        location(
            std::env::var_os("XDG_CACHE_HOME").as_deref(),
            std::env::var_os("HOME").as_deref(),
        )
        .map(|file| Store { file })
        .ok_or_else(|| "neither XDG_CACHE_HOME nor HOME is set".to_owned())
    }

    /// All entries; none if the file does not exist yet. The file is data,
    /// not trusted (docs/DESIGN.md, "Scope"): opened without blocking (a
    /// FIFO does not hang), never through a symlink (the library does not
    /// follow one either), a regular file of at most
    /// [`arshim_common::verdict_store::MAX_BYTES`].
    pub fn load(&self) -> io::Result<Vec<Entry>> {
        let text = match read_bounded(&self.file) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        parse(&text).map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))
    }

    pub fn lookup(&self, host: &HostId) -> io::Result<Lookup> {
        Ok(find(&self.load()?, host, None))
    }

    /// Adds or replaces the entry for `entry`'s host (and script). Concurrent verifies
    /// are serialised by a lock file; the file is replaced atomically, so a
    /// concurrent `arshim run` reads either the old or the new one.
    pub fn record(&self, entry: Entry) -> io::Result<()> {
        let dir = self.file.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let _lock = lock(&dir.join(format!("{FILE}.lock")))?;
        if is_symlink(&self.file) {
            // Replacing it would cut the link; writing through it would
            // give the library a store it refuses to read.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a symlink (not replaced; point XDG_CACHE_HOME at the real directory)",
            ));
        }
        let mut entries = self.load()?;
        upsert(&mut entries, entry);
        let tmp = dir.join(format!("{FILE}.{}.tmp", std::process::id()));
        let _ = fs::remove_file(&tmp); // a leftover of a crashed verify of this pid
        let mut out = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        out.write_all(render(&entries).as_bytes())?;
        out.sync_all()?;
        fs::rename(&tmp, &self.file)
    }
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// The whole store as text: no FIFO wait, no symlink, no device, no file
/// bigger than the bound (a symlink to /dev/zero would read forever).
fn read_bounded(path: &Path) -> io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => {
                io::Error::new(io::ErrorKind::InvalidInput, "a symlink (not followed)")
            }
            _ => e,
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let max = arshim_common::verdict_store::MAX_BYTES as u64;
    if meta.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bigger than {} MiB", max >> 20),
        ));
    }
    let mut text = String::new();
    file.take(max + 1).read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bigger than {} MiB", max >> 20),
        ));
    }
    Ok(text)
}

/// Holds an exclusive flock on `path` until dropped.
fn lock(path: &Path) -> io::Result<Flock<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| errno.into())
}

fn parse(text: &str) -> Result<Vec<Entry>, String> {
    const NOT_OURS: &str = "not a verdict file (delete it to start afresh)";
    let root: Value = serde_json::from_str(text).map_err(|_| NOT_OURS.to_owned())?;
    // A store older than versions existed has none: the first format.
    let version = root.get("version").map_or(Some(1), Value::as_u64);
    if !version.is_some_and(|v| READABLE_FORMATS.contains(&v)) {
        return Err(format!(
            "format version {} is not one this arshim reads (a newer arshim wrote it; \
             not read, not replaced)",
            root.get("version").map_or(String::new(), Value::to_string)
        ));
    }
    let hosts = root
        .get("hosts")
        .and_then(Value::as_array)
        .ok_or_else(|| NOT_OURS.to_owned())?;
    // Entries this version cannot read are dropped rather than failing all lookups.
    Ok(hosts.iter().filter_map(Entry::from_json).collect())
}

fn render(entries: &[Entry]) -> String {
    let mut root = Map::new();
    root.insert("version".into(), FORMAT_VERSION.into());
    root.insert(
        "hosts".into(),
        Value::Array(entries.iter().map(Entry::to_json).collect()),
    );
    let mut text = serde_json::to_string_pretty(&Value::Object(root)).expect("plain JSON values");
    text.push('\n');
    text
}

fn upsert(entries: &mut Vec<Entry>, entry: Entry) {
    entries.retain(|e| e.key() != entry.key());
    entries.push(entry);
}

/// The entry of `host` running `script` (`None`: the binary alone): a
/// script's entry never answers for another script or the bare interpreter.
fn find(entries: &[Entry], host: &HostId, script: Option<&HostId>) -> Lookup {
    let key = (host.path.as_path(), script.map(|s| s.path.as_path()));
    match entries.iter().find(|e| e.key() == key) {
        Some(e)
            if e.host.id == host.id
                && e.script.as_ref().map(|s| &s.id) == script.map(|s| &s.id) =>
        {
            Lookup::Verified(e.clone())
        }
        Some(e) => Lookup::Changed(e.clone()),
        None => Lookup::Never,
    }
}

/// What `arshim run` needs to know about the command it is about to exec.
#[derive(Debug)]
pub enum HostStatus {
    Known(PathBuf, Lookup),
    /// The command could not be found or read: why.
    Unknown(String),
    /// The verdict store at this path could not be read: why.
    StoreUnreadable(PathBuf, String),
}

/// Resolves `program` like execvp and looks its verdict up.
pub fn status_of_command(program: &OsStr) -> HostStatus {
    let Some(path) = crate::pathsearch::found(program) else {
        return HostStatus::Unknown(format!("{}: not found on PATH", program.to_string_lossy()));
    };
    let host = match identify(&path) {
        Ok(h) => h,
        Err(e) => return HostStatus::Unknown(format!("{}: {e}", path.display())),
    };
    let store = match Store::from_env() {
        Ok(s) => s,
        Err(e) => return HostStatus::Unknown(format!("no verdict store: {e}")),
    };
    match store.lookup(&host) {
        Ok(l) => HostStatus::Known(host.path, l),
        Err(e) => HostStatus::StoreUnreadable(store.file, e.to_string()),
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// "2026-11-25 11:30 UTC" (days to civil date: Howard Hinnant's algorithm).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (hour, minute) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, id: &str, verdict: Verdict) -> Entry {
        Entry {
            host: HostId {
                path: path.into(),
                id: id.into(),
            },
            script: None,
            verdict,
            reasons: vec!["after ar exited, the process wrote to x".into()],
            time: 1_795_606_310,
            command: "ld -o x".into(),
            temps: None,
        }
    }

    fn temp_store(name: &str) -> (PathBuf, Store) {
        let dir =
            std::env::temp_dir().join(format!("arshim-verdicts-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let file = location(Some(dir.as_os_str()), None).unwrap();
        (dir, Store { file })
    }

    #[test]
    fn location_follows_xdg() {
        let p = |x: Option<&str>, h: Option<&str>| location(x.map(OsStr::new), h.map(OsStr::new));
        assert_eq!(
            p(Some("/c"), Some("/h")),
            Some("/c/arshim/verdicts.json".into())
        );
        assert_eq!(
            p(None, Some("/h")),
            Some("/h/.cache/arshim/verdicts.json".into())
        );
        assert_eq!(
            p(Some("rel"), Some("/h")),
            Some("/h/.cache/arshim/verdicts.json".into()),
            "relative XDG paths are ignored"
        );
        assert_eq!(p(Some(""), None), None);
    }

    #[test]
    fn record_then_lookup() {
        let (dir, store) = temp_store("roundtrip");
        let host = HostId {
            path: "/bin/ld".into(),
            id: "build-id:ab".into(),
        };
        assert_eq!(store.lookup(&host).unwrap(), Lookup::Never, "no file yet");
        let e = entry("/bin/ld", "build-id:ab", Verdict::NotSafe);
        store.record(e.clone()).unwrap();
        store
            .record(entry("/bin/other", "build-id:cd", Verdict::Safe))
            .unwrap();
        assert_eq!(store.lookup(&host).unwrap(), Lookup::Verified(e.clone()));
        let rebuilt = HostId {
            id: "build-id:ef".into(),
            ..host.clone()
        };
        assert_eq!(store.lookup(&rebuilt).unwrap(), Lookup::Changed(e));

        // A new verdict for the same path replaces the old one.
        store
            .record(entry("/bin/ld", "build-id:ef", Verdict::Safe))
            .unwrap();
        let all = store.load().unwrap();
        assert_eq!(all.len(), 2);
        assert!(matches!(
            store.lookup(&rebuilt).unwrap(),
            Lookup::Verified(Entry {
                verdict: Verdict::Safe,
                ..
            })
        ));
        let text = fs::read_to_string(&store.file).unwrap();
        assert!(
            text.contains("\"verdict\": \"SAFE\"") && text.contains("\"version\": 3"),
            "{text}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    fn hid(path: &str, id: &str) -> HostId {
        HostId {
            path: path.into(),
            id: id.into(),
        }
    }

    #[test]
    fn a_script_hosts_entry_is_keyed_by_interpreter_and_script() {
        let (dir, store) = temp_store("scripts");
        let py = hid("/usr/bin/python3.11", "build-id:aa");
        let (a, b) = (
            hid("/src/a.py", "fnv1a64:01"),
            hid("/src/b.py", "fnv1a64:02"),
        );
        let mut safe_a = entry("/usr/bin/python3.11", "build-id:aa", Verdict::Safe);
        safe_a.script = Some(a.clone());
        let mut not_safe_b = entry("/usr/bin/python3.11", "build-id:aa", Verdict::NotSafe);
        not_safe_b.script = Some(b.clone());
        store.record(safe_a.clone()).unwrap();
        store.record(not_safe_b.clone()).unwrap();
        let all = store.load().unwrap();
        assert_eq!(all.len(), 2, "one entry per script");
        assert_eq!(find(&all, &py, Some(&a)), Lookup::Verified(safe_a.clone()));
        assert_eq!(find(&all, &py, Some(&b)), Lookup::Verified(not_safe_b));
        assert_eq!(
            find(&all, &py, None),
            Lookup::Never,
            "not the interpreter's"
        );
        let c = hid("/src/c.py", "fnv1a64:01");
        assert_eq!(
            find(&all, &py, Some(&c)),
            Lookup::Never,
            "not another script's"
        );
        let edited = hid("/src/a.py", "fnv1a64:09");
        assert_eq!(find(&all, &py, Some(&edited)), Lookup::Changed(safe_a));
        let text = fs::read_to_string(&store.file).unwrap();
        assert!(
            text.contains("\"version\": 3") && text.contains("\"script_id\": \"fnv1a64:01\""),
            "{text}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_temps_a_verdict_was_given_with_are_kept() {
        let (dir, store) = temp_store("temps");
        let mut e = entry("/bin/vthost", "build-id:ab", Verdict::Safe);
        e.temps = Some("$TMPDIR/vthost.*".into());
        store.record(e.clone()).unwrap();
        let host = hid("/bin/vthost", "build-id:ab");
        assert_eq!(store.lookup(&host).unwrap(), Lookup::Verified(e));
        let text = fs::read_to_string(&store.file).unwrap();
        assert!(text.contains(r#""temps": "$TMPDIR/vthost.*""#), "{text}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_older_format_reads_a_newer_is_refused() {
        let v1 = r#"{"version":1,"hosts":[{"path":"/b","id":"y","verdict":"SAFE","reasons":[],"time":2}]}"#;
        assert_eq!(parse(v1).unwrap().len(), 1);
        assert_eq!(parse(r#"{"hosts":[]}"#).unwrap().len(), 0);
        let v2 = r#"{"version":2,"hosts":[{"path":"/b","id":"y","verdict":"SAFE","reasons":[],"time":2}]}"#;
        assert_eq!(parse(v2).unwrap()[0].temps, None);
        let err = parse(r#"{"version":4,"hosts":[]}"#).unwrap_err();
        assert!(err.starts_with("format version 4 is not one"), "{err}");
        assert!(parse(r#"{"version":"x","hosts":[]}"#).is_err());
        // A newer store is not replaced by a verify of this version either.
        let (dir, store) = temp_store("newer");
        fs::create_dir_all(store.file.parent().unwrap()).unwrap();
        fs::write(&store.file, r#"{"version":4,"hosts":[]}"#).unwrap();
        assert!(store.record(entry("/a", "i", Verdict::Safe)).is_err());
        assert_eq!(
            fs::read_to_string(&store.file).unwrap(),
            r#"{"version":4,"hosts":[]}"#
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_an_empty_store() {
        let (dir, store) = temp_store("corrupt");
        fs::create_dir_all(store.file.parent().unwrap()).unwrap();
        fs::write(&store.file, "{ not json").unwrap();
        let err = store.load().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("delete it"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unreadable_entries_are_skipped() {
        let text = r#"{"version":1,"hosts":[{"path":"/a","id":"x","verdict":"MAYBE","reasons":[],"time":1},
            {"path":"/b","id":"y","verdict":"SAFE","reasons":["ok"],"time":2,"command":"b"}]}"#;
        let entries = parse(text).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].host.path, Path::new("/b"));
        assert_eq!(entries[0].first_reason(), "ok");
    }

    #[test]
    fn cannot_tell_is_never_parsed_back_as_safe() {
        assert_eq!(
            Verdict::from_label("CANNOT TELL"),
            Some(Verdict::CannotTell)
        );
        assert_eq!(Verdict::from_label("safe"), None);
        assert_eq!(
            [Verdict::Safe, Verdict::NotSafe, Verdict::CannotTell].map(Verdict::exit_code),
            [0, 1, 2]
        );
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_795_606_310), "2026-11-25 11:31 UTC");
        assert!(entry("/a", "i", Verdict::NotSafe)
            .summary()
            .starts_with("NOT SAFE on 2026-11-25 11:31 UTC (`ld -o x`)"));
    }
}
