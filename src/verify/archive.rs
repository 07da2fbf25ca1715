//! The archive the archiver wrote: where it is (from the archiver's argv) and
//! whether two runs produced the same one.
//!
//! Bytes are compared by a 64-bit FNV-1a hash (dependency-free; it detects
//! accidental differences, which is all we need — nobody forges archives
//! against verify). `ar` embeds timestamps, uids and modes unless run in
//! deterministic mode, so bytes that differ are compared again member by
//! member (`ar t`, `ar p`): the same members with the same contents pass.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

/// The part after the last '/'.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The words of a shell command line whose splitting needs no shell:
/// blanks, single and double quotes (as `Filename.quote` and the like
/// produce), backslash escapes. `None` for anything that expands, redirects
/// or chains commands (`$`, backquotes, globs, `;`, `|`, `>`, …) or assigns.
pub fn plain_words(command: &str) -> Option<Vec<String>> {
    const SPECIAL: &[char] = &[
        '$', '`', ';', '&', '|', '<', '>', '(', ')', '{', '}', '*', '?', '[', ']', '~', '#', '\n',
    ];
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '$' | '`' | '\\' => return None,
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next()?),
            c if SPECIAL.contains(&c) => return None,
            // NAME=value before the command is an assignment.
            '=' if words.is_empty() => return None,
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    (!words.is_empty()).then_some(words)
}

/// The archive an archiver command line writes: for ranlib-like tools the
/// first operand, for ar-like tools the first operand after the key
/// (`ar rcs lib.a a.o` → `lib.a`), skipping GNU ar's long options and the
/// positional operands some modifiers take (`a`/`b`/`i`: a member name, `N`: a count).
pub fn archive_operand(argv: &[String]) -> Option<&str> {
    let (tool, args) = argv.split_first()?;
    if basename(tool).contains("ranlib") {
        return ranlib_operand(args);
    }
    let mut key: Option<&str> = None;
    let mut skip = 0;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        if arg.starts_with('@') {
            return None; // a response file: its contents are not in the trace
        }
        if key.is_none() && arg.starts_with("-X") {
            continue; // -X32_64: AIX object mode, accepted and ignored by GNU ar
        }
        if matches!(arg, "--plugin" | "--target" | "--output") {
            i += 1; // takes a value
            continue;
        }
        if arg.starts_with("--") || (key.is_some() && arg.starts_with('-') && arg.len() > 1) {
            continue; // --plugin=x, --thin, -X32_64, …
        }
        match key {
            None => {
                let k = arg.trim_start_matches('-');
                // The operation letter comes first; the modifiers follow.
                let modifiers = k.get(1..).unwrap_or("");
                skip = usize::from(modifiers.contains(['a', 'b', 'i']))
                    + usize::from(modifiers.contains('N'));
                key = Some(k);
            }
            Some(_) if skip > 0 => skip -= 1,
            Some(_) => return Some(arg),
        }
    }
    None
}

fn ranlib_operand(args: &[String]) -> Option<&str> {
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        if arg == "--plugin" {
            i += 1;
        } else if !arg.starts_with('-') {
            return Some(arg);
        }
    }
    None
}

/// Where the archive is: `operand` relative to the archiver's working
/// directory if known, else to the run's.
pub fn locate(operand: &str, archiver_cwd: Option<&str>, run_cwd: &Path) -> PathBuf {
    let base = archiver_cwd.map_or_else(|| run_cwd.to_path_buf(), PathBuf::from);
    base.join(operand)
}

/// 64-bit FNV-1a over a reader's bytes.
pub fn fnv1a64(mut reader: impl Read) -> io::Result<u64> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(hash),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for &b in &buf[..n] {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

pub fn hash_file(path: &Path) -> io::Result<u64> {
    fnv1a64(io::BufReader::new(fs::File::open(path)?))
}

/// How the archive of the unconverted run compares with the converted one's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    SameBytes {
        hash: u64,
    },
    /// Different bytes, same members with the same contents (timestamps etc.).
    SameMembers {
        members: usize,
        /// Some member names differ by the pid of the run that made them,
        /// or by the time they were made.
        pid_named: bool,
    },
    Different(String),
    /// Could not be compared; why.
    Unknown(String),
}

/// `name` with every decimal number that is one of `pids` replaced by
/// `<pid>`: a member named after the process that made it (ldc2 `-lib`
/// names it `__stdin_PID.o`) differs from one run to the next by itself.
pub fn mask_pids(name: &str, pids: &[i64]) -> String {
    super::member_names::mask_numbers(name, |digits| {
        digits
            .parse::<i64>()
            .is_ok_and(|n| pids.contains(&n))
            .then_some("<pid>")
    })
}

/// `name` as the runs are compared: each run's own pids masked
/// (`mask_pids`), and numbers that read as a time of the runs
/// (`member_names::mask_times`).
fn masked(name: &str, pids: &[i64], window: (u64, u64)) -> String {
    super::member_names::mask_times(&mask_pids(name, pids), window)
}

/// The member names of both runs paired in order when they are the same
/// once each run's own pids and times are masked; `None` when they are not.
pub fn pair_members<'a>(
    first: &'a [String],
    second: &'a [String],
    pids: (&[i64], &[i64]),
) -> Option<Vec<(&'a str, &'a str)>> {
    pair_members_at(first, second, pids, recent_times())
}

/// The times a member name may hold from a run of this `verify`.
fn recent_times() -> (u64, u64) {
    super::member_names::recent(std::time::SystemTime::now())
}

/// `pair_members` with the times of the runs in `window`.
fn pair_members_at<'a>(
    first: &'a [String],
    second: &'a [String],
    pids: (&[i64], &[i64]),
    window: (u64, u64),
) -> Option<Vec<(&'a str, &'a str)>> {
    if first.len() != second.len() {
        return None;
    }
    first
        .iter()
        .zip(second)
        .map(|(a, b)| {
            (a == b || masked(a, pids.0, window) == masked(b, pids.1, window))
                .then_some((a.as_str(), b.as_str()))
        })
        .collect()
}

/// Compares two archives, with `ar` (found on PATH) for the member check;
/// `pids` are the processes of each run (see `pair_members`).
pub fn compare(first: &Path, second: &Path, pids: (&[i64], &[i64])) -> Comparison {
    let (a, b) = match (hash_file(first), hash_file(second)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return Comparison::Unknown(format!("cannot read: {e}")),
    };
    if a == b {
        return Comparison::SameBytes { hash: a };
    }
    let (ma, mb) = match (members(first), members(second)) {
        (Ok(ma), Ok(mb)) => (ma, mb),
        (Err(e), _) | (_, Err(e)) => {
            return Comparison::Unknown(format!("the bytes differ and `ar t` failed: {e}"))
        }
    };
    let Some(pairs) = pair_members(&ma, &mb, pids) else {
        return Comparison::Different(format!(
            "members differ: [{}] unconverted, [{}] converted",
            ma.join(" "),
            mb.join(" ")
        ));
    };
    for (m, n) in pairs {
        match (member_bytes(first, m), member_bytes(second, n)) {
            (Ok(x), Ok(y)) if x == y => {}
            (Ok(_), Ok(_)) => return Comparison::Different(format!("member {m} differs")),
            (Err(e), _) | (_, Err(e)) => {
                return Comparison::Unknown(format!("the bytes differ and `ar p` failed: {e}"))
            }
        }
    }
    Comparison::SameMembers {
        members: ma.len(),
        pid_named: ma != mb,
    }
}

/// Whether the first archive has every member of the second (pids masked)
/// and more: the mark of a first run that added to an archive that was
/// there before `verify` started.
pub fn first_has_more_members(first: &Path, second: &Path, pids: (&[i64], &[i64])) -> bool {
    let (Ok(ma), Ok(mb)) = (members(first), members(second)) else {
        return false;
    };
    let window = recent_times();
    let first: Vec<String> = ma.iter().map(|m| masked(m, pids.0, window)).collect();
    ma.len() > mb.len()
        && mb
            .iter()
            .all(|m| first.contains(&masked(m, pids.1, window)))
}

/// Whether an archiver command line runs an MRI script from its stdin
/// (`ar -M`).
pub fn reads_mri_script(argv: &[String]) -> bool {
    // The key is the first argument that is no long option.
    argv.iter()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .is_some_and(|a| a == "-M" || a == "M")
}

/// The archive an MRI script saves: the operand of its last `CREATE`,
/// `CREATETHIN` or `OPEN` (binutils arparse.y: `SAVE` writes the archive
/// those opened). `*` or `;` starts a comment; GNU ar has no quoting.
pub fn mri_archive(script: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(script);
    let mut archive = None;
    for line in text.lines() {
        let line = line.split(['*', ';']).next().unwrap_or("");
        let mut words = line
            .split(|c: char| c.is_ascii_whitespace() || matches!(c, ',' | '(' | ')'))
            .filter(|w| !w.is_empty());
        let Some(command) = words.next() else {
            continue;
        };
        let command = command.to_ascii_uppercase();
        if matches!(command.as_str(), "CREATE" | "CREATETHIN" | "OPEN") {
            archive = words.next().map(str::to_owned);
        }
    }
    archive
}

/// What a run did to the archive file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Produced {
    Missing,
    /// There, but not modified during the run: a stale file, or the archiver
    /// wrote elsewhere (it ran in another directory).
    Untouched,
    Written,
}

/// The state of `path` after a run that started at `start` (a time taken
/// from the filesystem's own clock: see `verify::fs_now`).
pub fn produced(path: &Path, start: SystemTime) -> Produced {
    match fs::metadata(path).and_then(|m| m.modified()) {
        Err(_) => Produced::Missing,
        // ar replaces the archive (a new file, renamed over it): fresh mtime.
        Ok(mtime) if mtime >= start => Produced::Written,
        Ok(_) => Produced::Untouched,
    }
}

/// Enough of a file's metadata to tell that it was rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
}

pub fn fingerprint(path: &Path) -> Option<Fingerprint> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path).ok()?;
    Some(Fingerprint {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime: (m.mtime(), m.mtime_nsec()),
    })
}

/// The state of `path` after a run, given its fingerprint before it.
pub fn changed(path: &Path, before: Option<Fingerprint>) -> Produced {
    match fingerprint(path) {
        None => Produced::Missing,
        Some(now) if Some(now) == before => Produced::Untouched,
        Some(_) => Produced::Written,
    }
}

/// One conclusion about the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A check that passed.
    Check(String),
    /// A difference the conversion made: NOT SAFE.
    Problem(String),
    /// Not compared, and why.
    Note(String),
}

/// Judges the archive `name` from what each run did to it; `compare` (the
/// bytes, then the members) runs only when both runs wrote it.
pub fn judge(
    name: &str,
    first: Produced,
    second: Produced,
    compare: impl FnOnce() -> Comparison,
) -> Finding {
    judge_file(&format!("archive {name}"), first, second, compare)
}

/// [`judge`] for any file the judged call writes: `name` says what it is
/// ("archive lib.a", "linked file prog").
pub fn judge_file(
    name: &str,
    first: Produced,
    second: Produced,
    compare: impl FnOnce() -> Comparison,
) -> Finding {
    use Produced::{Missing, Untouched, Written};
    match (first, second) {
        (Untouched, _) => Finding::Note(format!(
            "the {name} was not written by the first run (the archiver may have run \
             in another directory): not compared"
        )),
        (Missing, Missing) => Finding::Note(format!("the {name} existed after neither run")),
        (Missing, _) => Finding::Problem(format!("the {name} exists only after the converted run")),
        (Written, Missing) => Finding::Problem(format!("the converted run left no {name}")),
        (Written, Untouched) => {
            Finding::Problem(format!("the converted run did not write the {name}"))
        }
        (Written, Written) => match compare() {
            Comparison::SameBytes { hash } => Finding::Check(format!(
                "the {name} is byte for byte the same (FNV-1a 64 {hash:016x})"
            )),
            Comparison::SameMembers {
                members,
                pid_named: false,
            } => Finding::Check(format!(
                "the {name} has the same {members} member(s) with the same contents \
                 (its bytes differ: timestamps)"
            )),
            Comparison::SameMembers {
                members,
                pid_named: true,
            } => Finding::Check(format!(
                "the {name} has the same {members} member(s) with the same contents, \
                 named after each run's pid or time"
            )),
            Comparison::Different(what) => Finding::Problem(format!("the {name} differs: {what}")),
            Comparison::Unknown(why) => {
                Finding::Note(format!("the {name} could not be compared: {why}"))
            }
        },
    }
}

fn ar(args: &[&std::ffi::OsStr]) -> io::Result<Vec<u8>> {
    let out = Command::new("ar")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run ar: {e}")))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ar {}: {}",
            args[0].to_string_lossy(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

fn members(archive: &Path) -> io::Result<Vec<String>> {
    let out = ar(&["t".as_ref(), archive.as_os_str()])?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .map(str::to_owned)
        .collect())
}

fn member_bytes(archive: &Path, member: &str) -> io::Result<Vec<u8>> {
    ar(&["p".as_ref(), archive.as_os_str(), member.as_ref()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn operand(s: &str) -> Option<String> {
        archive_operand(&argv(s)).map(str::to_owned)
    }

    #[test]
    fn ar_archive_is_the_operand_after_the_key() {
        assert_eq!(operand("ar rcs lib.a a.o b.o").as_deref(), Some("lib.a"));
        assert_eq!(
            operand("/usr/bin/ar -rcs out/lib.a a.o").as_deref(),
            Some("out/lib.a")
        );
        assert_eq!(
            operand("x86_64-linux-gnu-ar rcD l.a").as_deref(),
            Some("l.a")
        );
        assert_eq!(operand("llvm-ar-17 qc l.a a.o").as_deref(), Some("l.a"));
        assert_eq!(operand("ar s l.a").as_deref(), Some("l.a"));
    }

    #[test]
    fn ar_options_and_modifier_operands_are_skipped() {
        assert_eq!(
            operand("gcc-ar --plugin /p/liblto.so rcs l.a a.o").as_deref(),
            Some("l.a")
        );
        assert_eq!(operand("ar --thin rc l.a a.o").as_deref(), Some("l.a"));
        assert_eq!(
            operand("ar rc --target=elf64 l.a a.o").as_deref(),
            Some("l.a")
        );
        assert_eq!(operand("ar rcb old.o l.a new.o").as_deref(), Some("l.a"));
        assert_eq!(operand("ar xN 2 l.a a.o").as_deref(), Some("l.a"));
        assert_eq!(operand("ar -X32_64 rc l.a a.o").as_deref(), Some("l.a"));
    }

    #[test]
    fn unknowable_archives() {
        assert_eq!(operand("ar"), None);
        assert_eq!(operand("ar rcs"), None);
        assert_eq!(operand("ar @args.rsp"), None);
        assert_eq!(archive_operand(&[]), None);
    }

    #[test]
    fn ranlib_archive_is_the_first_operand() {
        assert_eq!(operand("ranlib lib.a").as_deref(), Some("lib.a"));
        assert_eq!(operand("llvm-ranlib -D lib.a").as_deref(), Some("lib.a"));
        assert_eq!(operand("ranlib --plugin p.so l.a").as_deref(), Some("l.a"));
        assert_eq!(operand("ranlib -t"), None);
    }

    #[test]
    fn plain_command_lines_are_split_like_sh() {
        let words = |c: &str| plain_words(c).map(|w| w.join("|"));
        assert_eq!(
            words("ar  rcs lib.a\ta.o").as_deref(),
            Some("ar|rcs|lib.a|a.o")
        );
        assert_eq!(
            words("x86_64-linux-gnu-ar rc 'foo.a'  'foo.o'").as_deref(),
            Some("x86_64-linux-gnu-ar|rc|foo.a|foo.o")
        );
        assert_eq!(
            words("ar rcs 'my lib.a' x\\ y.o").as_deref(),
            Some("ar|rcs|my lib.a|x y.o")
        );
        assert_eq!(
            words("ar rcs \"l.a\"'' a.o").as_deref(),
            Some("ar|rcs|l.a|a.o")
        );
        assert_eq!(
            words("ar rcs ''").as_deref(),
            Some("ar|rcs|"),
            "an empty word counts"
        );
        assert_eq!(words("ar rcs --x=y").as_deref(), Some("ar|rcs|--x=y"));
        for shelly in [
            "ar rcs $OUT",
            "ar rcs \"$OUT\"",
            "ar rcs l.a *.o",
            "ar x >log",
            "ar x; ranlib l.a",
            "A=1 ar",
            "ar rcs 'unclosed",
            "ar rcs l.a\\",
            "",
            "   ",
        ] {
            assert_eq!(plain_words(shelly), None, "{shelly}");
        }
    }

    #[test]
    fn member_names_holding_a_runs_pid_pair_up() {
        let v = |s: &str| argv(s);
        let (a, b) = (v("__stdin_20972.o x1.o"), v("__stdin_20975.o x1.o"));
        let pairs = pair_members(&a, &b, (&[20972, 7], &[20975])).unwrap();
        assert_eq!(
            pairs,
            [("__stdin_20972.o", "__stdin_20975.o"), ("x1.o", "x1.o")]
        );
        // A number that is no pid of the run is a real difference.
        assert_eq!(pair_members(&a, &b, (&[1], &[20975])), None);
        assert_eq!(pair_members(&a, &b[..1], (&[20972], &[20975])), None);
        assert_eq!(mask_pids("a12b12", &[12]), "a<pid>b<pid>");
        assert_eq!(mask_pids("a123", &[12]), "a123");
    }

    #[test]
    fn member_names_holding_a_runs_time_pair_up_and_nothing_else_does() {
        let v = |s: &str| argv(s);
        let now = 1_795_606_310u64;
        let w = (now - 86_400, now + 60);
        let (a, b) = (
            v("obj-1795606310123456789.o x1.o"),
            v("obj-1795606311987654321.o x1.o"),
        );
        let pairs = pair_members_at(&a, &b, (&[], &[]), w).unwrap();
        assert_eq!(
            pairs[0],
            ("obj-1795606310123456789.o", "obj-1795606311987654321.o")
        );
        let secs = (v("o-1795606310.o"), v("o-1795606312.o"));
        assert!(pair_members_at(&secs.0, &secs.1, (&[], &[]), w).is_some());
        // One missing, one extra, another name: still a difference.
        assert_eq!(pair_members_at(&a, &b[..1], (&[], &[]), w), None);
        let extra = v("obj-1795606311987654321.o x1.o x2.o");
        assert_eq!(pair_members_at(&a, &extra, (&[], &[]), w), None);
        let renamed = v("obj-1795606311987654321.o y1.o");
        assert_eq!(pair_members_at(&a, &renamed, (&[], &[]), w), None);
        // A number that is no time of the runs is a real difference.
        let old = (v("obj-1600000000.o"), v("obj-1600000001.o"));
        assert_eq!(pair_members_at(&old.0, &old.1, (&[], &[]), w), None);
        // A pid and a time in one name.
        let both = (v("t20972-1795606310.o"), v("t20975-1795606333.o"));
        assert!(pair_members_at(&both.0, &both.1, (&[20972], &[20975]), w).is_some());
        assert_eq!(pair_members_at(&both.0, &both.1, (&[1], &[20975]), w), None);
    }

    #[test]
    fn mri_scripts_name_their_archive() {
        let s = b"* comment\ncreate out/libm.a\naddmod a.o, b.o\nsave\nend\n";
        assert_eq!(mri_archive(s).as_deref(), Some("out/libm.a"));
        assert_eq!(mri_archive(b"OPEN l.a ; x\nLIST\n").as_deref(), Some("l.a"));
        assert_eq!(mri_archive(b"ADDMOD a.o\n"), None);
        assert!(reads_mri_script(&v2("ar -M")));
        assert!(reads_mri_script(&v2("ar --plugin=p.so -M")));
        assert!(!reads_mri_script(&v2("ar rcs l.a M")));
        assert!(!reads_mri_script(&v2("ar rcs l.a")));
    }

    fn v2(s: &str) -> Vec<String> {
        argv(s)
    }

    #[test]
    fn archive_is_located_in_the_archivers_cwd() {
        let run = Path::new("/run");
        assert_eq!(locate("l.a", None, run), Path::new("/run/l.a"));
        assert_eq!(locate("l.a", Some("/w"), run), Path::new("/w/l.a"));
        assert_eq!(locate("/abs/l.a", Some("/w"), run), Path::new("/abs/l.a"));
    }

    #[test]
    fn fnv1a64_known_values() {
        assert_eq!(fnv1a64(&b""[..]).unwrap(), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(&b"a"[..]).unwrap(), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(&b"foobar"[..]).unwrap(), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn archive_judgements() {
        use Produced::{Missing, Untouched, Written};
        // (first run, second run, what comparing finds if asked, kind, text)
        let cases = [
            (
                Untouched,
                Written,
                None,
                "note",
                "not written by the first run",
            ),
            (Missing, Missing, None, "note", "existed after neither run"),
            (
                Missing,
                Written,
                None,
                "problem",
                "only after the converted run",
            ),
            (Written, Missing, None, "problem", "left no archive l.a"),
            (Written, Untouched, None, "problem", "did not write"),
            (
                Written,
                Written,
                Some(Comparison::SameBytes { hash: 0xab }),
                "check",
                "byte for byte the same (FNV-1a 64 00000000000000ab)",
            ),
            (
                Written,
                Written,
                Some(Comparison::SameMembers {
                    members: 2,
                    pid_named: false,
                }),
                "check",
                "same 2 member(s)",
            ),
            (
                Written,
                Written,
                Some(Comparison::Different("member b.o differs".into())),
                "problem",
                "l.a differs: member b.o differs",
            ),
            (
                Written,
                Written,
                Some(Comparison::Unknown("cannot run ar".into())),
                "note",
                "could not be compared: cannot run ar",
            ),
        ];
        for (first, second, comparison, kind, needle) in cases {
            let f = judge("l.a", first, second, || comparison.expect("compared"));
            let (k, text) = match &f {
                Finding::Check(t) => ("check", t),
                Finding::Problem(t) => ("problem", t),
                Finding::Note(t) => ("note", t),
            };
            assert!(k == kind && text.contains(needle), "{f:?}");
        }
    }

    #[test]
    fn produced_follows_the_mtime() {
        let dir = std::env::temp_dir().join(format!("arshim-produced-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("l.a");
        let before = SystemTime::now() - std::time::Duration::from_secs(60);
        assert_eq!(produced(&f, before), Produced::Missing);
        fs::write(&f, "!<arch>\n").unwrap();
        assert_eq!(produced(&f, before), Produced::Written);
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert_eq!(produced(&f, later), Produced::Untouched);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_rewritten_file_has_a_new_fingerprint() {
        let dir = std::env::temp_dir().join(format!("arshim-fingerprint-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("l.a");
        assert_eq!(changed(&f, None), Produced::Missing);
        fs::write(&f, "one").unwrap();
        assert_eq!(changed(&f, None), Produced::Written);
        let before = fingerprint(&f);
        assert_eq!(changed(&f, before), Produced::Untouched);
        // As ar does: a new file renamed over the old one.
        let tmp = dir.join("tmp");
        fs::write(&tmp, "two").unwrap();
        fs::rename(&tmp, &f).unwrap();
        assert_eq!(changed(&f, before), Produced::Written);
        fs::remove_dir_all(&dir).unwrap();
    }
}
