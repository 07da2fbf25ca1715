//! The gate every process passes at load: is there anything for the shim to
//! do here at all? Most processes that inherit the library (every compiler
//! and shell of a build) are answered here, by the small preload
//! (`preload/`) before the core library is even loaded; the core reads the
//! environment with it again.
//!
//! `no_std` and allocation-free: the preload has no heap and no std.

use crate::glob;
use core::ffi::{c_char, CStr};

/// At most this many `ARSHIM*` variables are read (the contract has 11).
pub const MAX_ENTRIES: usize = 32;

/// The raw `ARSHIM*` entries of an environment.
pub struct Entries {
    found: [&'static [u8]; MAX_ENTRIES],
    len: usize,
}

impl Entries {
    pub fn as_slice(&self) -> &[&'static [u8]] {
        &self.found[..self.len]
    }
}

/// Reads a NULL-terminated `environ`-style array: the `ARSHIM*` entries, or
/// `None` when `ARSHIM=` itself is absent (the common case, one pass and
/// nothing else).
///
/// # Safety
/// `env` is NULL or a NULL-terminated array of NUL-terminated strings that
/// stay alive and unchanged for the rest of the process (the loader's
/// `environ` before `main`).
pub unsafe fn scan(env: *const *const c_char) -> Option<Entries> {
    let mut out = Entries {
        found: [&[]; MAX_ENTRIES],
        len: 0,
    };
    let mut on = false;
    let mut p = env;
    if p.is_null() {
        return None;
    }
    while !(*p).is_null() {
        let entry: &'static [u8] = CStr::from_ptr(*p).to_bytes();
        if entry.starts_with(b"ARSHIM") {
            on |= entry.starts_with(b"ARSHIM=");
            if out.len < MAX_ENTRIES {
                out.found[out.len] = entry;
                out.len += 1;
            }
        }
        p = p.add(1);
    }
    on.then_some(out)
}

/// Finds `NAME=value` in a list of raw environment entries.
pub fn lookup<'a>(env: &[&'a [u8]], name: &str) -> Option<&'a [u8]> {
    let name = name.as_bytes();
    env.iter().find_map(|entry| {
        if entry.len() > name.len() && entry.starts_with(name) && entry[name.len()] == b'=' {
            Some(&entry[name.len() + 1..])
        } else {
            None
        }
    })
}

/// The widest pid Linux gives (`PID_MAX_LIMIT`, 4 194 304): seven digits.
pub const PID_DIGITS: usize = 7;
/// A start time in clock ticks (100 a second): twelve digits are 300 years
/// of uptime.
pub const TICKS_DIGITS: usize = 12;

/// A number written zero-padded to a fixed width.
#[derive(Debug, Clone, Copy)]
pub struct Padded {
    n: u64,
    width: usize,
}

impl core::fmt::Display for Padded {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:0width$}", self.n, width = self.width)
    }
}

/// A pid as the library and the companion write it into an environment or
/// the reaper's arguments: zero-padded to `PID_DIGITS`, so that what they
/// add has one size whatever pid a process got, and a command that fits
/// the kernel's limit once fits it every time (docs/DESIGN.md, "Scope").
pub fn pid_text(pid: i32) -> Padded {
    Padded {
        n: u64::try_from(pid).unwrap_or(0),
        width: PID_DIGITS,
    }
}

/// `ARSHIM_PID`'s room reserved and not yet claimed: the first process to
/// load the library claims itself in it, at the same size (docs/DESIGN.md,
/// "Scope"), so that the library adds no byte to any environment.
pub const UNCLAIMED: &[u8] = b"0000000:000000000000";

/// The claim `ARSHIM_PID` holds, if it holds one (`UNCLAIMED` is none).
pub fn claim_value<'a>(env: &[&'a [u8]]) -> Option<&'a [u8]> {
    lookup(env, "ARSHIM_PID").filter(|v| *v != UNCLAIMED)
}

/// A claim as `ARSHIM_PID` holds it: `PID:START`, both zero-padded
/// (`pid_text`, `TICKS_DIGITS`), or the pid alone when the start is unknown.
#[derive(Debug, Clone, Copy)]
pub struct ClaimText {
    pid: i32,
    start: Option<u64>,
}

impl core::fmt::Display for ClaimText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", pid_text(self.pid))?;
        match self.start {
            Some(n) => write!(
                f,
                ":{}",
                Padded {
                    n,
                    width: TICKS_DIGITS
                }
            ),
            None => Ok(()),
        }
    }
}

pub fn claim_text(pid: i32, start: Option<u64>) -> ClaimText {
    ClaimText { pid, start }
}

/// A process id as the contract writes it: a positive decimal integer
/// (leading zeros allowed: `pid_text` writes them).
pub fn parse_pid(v: &[u8]) -> Option<i32> {
    if v.is_empty() {
        return None;
    }
    let mut n: i32 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i32::from(b - b'0'))?;
    }
    (n > 0).then_some(n)
}

/// A claim as `ARSHIM_PID` writes it: `PID:START`, the process's start time
/// (field 22 of `/proc/PID/stat`, clock ticks since boot) naming one process
/// for its whole life (docs/DESIGN.md, "Scope"), or a bare `PID` set by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub pid: i32,
    pub start: Option<u64>,
}

pub fn parse_claim(v: &[u8]) -> Option<Claim> {
    let (pid, start) = match v.iter().position(|&b| b == b':') {
        Some(i) => (&v[..i], Some(parse_ticks(&v[i + 1..])?)),
        None => (v, None),
    };
    Some(Claim {
        pid: parse_pid(pid)?,
        start,
    })
}

/// Decimal digits only, no sign, no blank, no overflow.
fn parse_ticks(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit()
            .then_some(())
            .and(n.checked_mul(10)?.checked_add(u64::from(b - b'0')))
    })
}

/// The start time (field 22) in the text of `/proc/PID/stat`. The second
/// field, the command name in parentheses, may hold spaces and parentheses
/// itself (`(a) (b)`), so fields are counted from after the LAST `)`: there
/// the third field (state) begins.
pub fn start_time_in_stat(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let mut fields = stat[close + 1..]
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    parse_ticks(fields.nth(22 - 3)?)
}

/// The cheap test for the common out-of-scope case: `ARSHIM_PID` is a valid
/// claim on a pid other than `me` (its start time is the core's to check, in
/// the one process whose pid matches), and neither `ARSHIM_HOSTS` (which could still bring
/// this process into scope) nor `ARSHIM_TRACE` (whose `load` event the user
/// asked for) is set. A bad value answers `false`: the core warns about it.
pub fn names_another_process(env: &[&[u8]], me: i32) -> bool {
    if lookup(env, "ARSHIM_HOSTS").is_some() || lookup(env, "ARSHIM_TRACE").is_some() {
        return false;
    }
    matches!(claim_value(env).and_then(parse_claim), Some(c) if c.pid != me)
}

/// The values `ARSHIM` accepts (any case), by the mode they select.
pub const MODE_OFF: &[&[u8]] = &[b"", b"0", b"off"];
pub const MODE_EXEC: &[&[u8]] = &[b"1", b"on", b"exec"];
pub const MODE_OBSERVE: &[&[u8]] = &[b"observe"];

pub fn is_one_of(value: &[u8], words: &[&[u8]]) -> bool {
    words.iter().any(|w| value.eq_ignore_ascii_case(w))
}

/// `ARSHIM` explicitly off (`0`, `off` or empty, any case): valid, so no
/// warning is owed, and nothing to load.
pub fn switched_off(env: &[&[u8]]) -> bool {
    match lookup(env, "ARSHIM") {
        Some(v) => is_one_of(v, MODE_OFF),
        None => true,
    }
}

/// With `ARSHIM_HOSTS`, being in scope is a matter of names: the list to
/// match this process's names against, when the gate may settle it alone —
/// the list and `ARSHIM` are valid (else the core owes a warning) and no
/// trace was asked for (else the core writes the `load` event).
pub fn hosts_to_match<'a>(env: &[&'a [u8]]) -> Option<&'a [u8]> {
    if lookup(env, "ARSHIM_TRACE").is_some() {
        return None;
    }
    let mode = lookup(env, "ARSHIM")?;
    if !is_one_of(mode, MODE_EXEC) && !is_one_of(mode, MODE_OBSERVE) {
        return None;
    }
    lookup(env, "ARSHIM_HOSTS").filter(|list| glob::list_is_valid(list))
}

/// Does `path`'s basename match the `ARSHIM_HOSTS` list? As the core's scope
/// decision asks of `/proc/self/exe` and of `argv[0]`.
pub fn names_a_host(hosts: &[u8], path: &[u8]) -> bool {
    let name = basename(path);
    !name.is_empty() && glob::list_matches(hosts, name)
}

/// Where a symlink at `link` that reads `target` points, written to `out`
/// (an absolute target as is, a relative one from the link's directory);
/// its length, or None if it does not fit.
pub fn follow(link: &[u8], target: &[u8], out: &mut [u8]) -> Option<usize> {
    let dir: &[u8] = if target.first() == Some(&b'/') {
        b""
    } else {
        match link.iter().rposition(|&b| b == b'/') {
            Some(i) => &link[..=i],
            None => b"",
        }
    };
    let len = dir.len() + target.len();
    if len >= out.len() {
        return None;
    }
    out[..dir.len()].copy_from_slice(dir);
    out[dir.len()..len].copy_from_slice(target);
    Some(len)
}

/// The last path component.
pub fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Must the core library be loaded into this process, as far as the
/// environment tells? Everything the gate cannot settle (a claim to make, a
/// bad value to warn about, a trace to write) is the core's to decide; host
/// globs are matched next, by the caller, with [`hosts_to_match`].
pub fn needs_core(env: &[&[u8]], me: i32) -> bool {
    !switched_off(env) && !names_another_process(env, me)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descendants_are_recognised_cheaply() {
        let env: &[&[u8]] = &[b"ARSHIM=1", b"ARSHIM_PID=10"];
        assert!(names_another_process(env, 11));
        assert!(
            !names_another_process(env, 10),
            "the claimed process itself"
        );
        let env: &[&[u8]] = &[b"ARSHIM=1", b"ARSHIM_PID=10", b"ARSHIM_HOSTS=ld"];
        assert!(!names_another_process(env, 11), "hosts may still match");
        let env: &[&[u8]] = &[b"ARSHIM=1", b"ARSHIM_PID=10", b"ARSHIM_TRACE=/t"];
        assert!(
            !names_another_process(env, 11),
            "its load event was asked for"
        );
        let env: &[&[u8]] = &[b"ARSHIM=1", b"ARSHIM_PID=x"];
        assert!(
            !names_another_process(env, 11),
            "a bad value still gets its warning"
        );
        let env: &[&[u8]] = &[b"ARSHIM=1"];
        assert!(!names_another_process(env, 11), "the first loader claims");
    }

    #[test]
    fn claims_name_a_pid_and_maybe_its_start() {
        let c = |pid, start| Some(Claim { pid, start });
        assert_eq!(parse_claim(b"42"), c(42, None));
        assert_eq!(parse_claim(b"42:123456"), c(42, Some(123456)));
        assert_eq!(parse_claim(b"42:0"), c(42, Some(0)));
        for bad in [
            &b"42:"[..],
            b":5",
            b"42:x",
            b"42:5:6",
            b"42: 5",
            b"42:-5",
            b"0:5",
            b"42:99999999999999999999",
        ] {
            assert_eq!(parse_claim(bad), None, "{:?}", bad);
        }
        let env: &[&[u8]] = &[b"ARSHIM=1", b"ARSHIM_PID=10:777"];
        assert!(names_another_process(env, 11));
        assert!(!names_another_process(env, 10), "the core checks the start");
    }

    #[test]
    fn start_time_is_field_22_counted_after_the_last_paren() {
        let tail = " S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21\n";
        let stat = |comm: &str| format!("77 ({comm}){tail}").into_bytes();
        assert_eq!(start_time_in_stat(&stat("ld")), Some(987654));
        assert_eq!(start_time_in_stat(&stat("a) (b")), Some(987654));
        assert_eq!(start_time_in_stat(&stat(") 1 2 3 (")), Some(987654));
        assert_eq!(start_time_in_stat(&stat("two words")), Some(987654));
        assert_eq!(start_time_in_stat(b"77 (ld) S 1 2 3"), None, "cut short");
        assert_eq!(start_time_in_stat(b"77 ld S"), None, "no comm");
    }

    #[test]
    fn pids_are_strict() {
        assert_eq!(parse_pid(b"42"), Some(42));
        for bad in [&b""[..], b"0", b"-1", b"+1", b"1x", b" 1", b"99999999999"] {
            assert_eq!(parse_pid(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn lookup_needs_exact_name() {
        let env: &[&[u8]] = &[b"ARSHIM_PIDX=1", b"ARSHIM_PID=2", b"ARSHIM"];
        assert_eq!(lookup(env, "ARSHIM_PID"), Some(&b"2"[..]));
        assert_eq!(lookup(env, "ARSHIM"), None);
        let env: &[&[u8]] = &[b"ARSHIM="];
        assert_eq!(lookup(env, "ARSHIM"), Some(&b""[..]));
    }

    #[test]
    fn only_what_the_core_must_see_loads_it() {
        assert!(!needs_core(&[b"ARSHIM=0"], 5));
        assert!(!needs_core(&[b"ARSHIM=Off", b"ARSHIM_PID=x"], 5));
        assert!(!needs_core(&[b"ARSHIM=1", b"ARSHIM_PID=4"], 5));
        assert!(needs_core(&[b"ARSHIM=1", b"ARSHIM_PID=5"], 5));
        assert!(needs_core(&[b"ARSHIM=1"], 5), "the first process claims");
        assert!(
            needs_core(&[b"ARSHIM=maybe"], 5),
            "a bad value is warned about"
        );
        assert!(needs_core(
            &[b"ARSHIM=observe", b"ARSHIM_PID=4", b"ARSHIM_HOSTS=ld"],
            5
        ));
    }

    #[test]
    fn host_globs_are_matched_by_the_gate_when_nothing_else_is_owed() {
        let hosts = |env: &[&'static [u8]]| hosts_to_match(env);
        assert_eq!(
            hosts(&[b"ARSHIM=1", b"ARSHIM_HOSTS=ld*,gold"]),
            Some(&b"ld*,gold"[..])
        );
        assert_eq!(
            hosts(&[b"ARSHIM=Observe", b"ARSHIM_HOSTS=ld"]),
            Some(&b"ld"[..])
        );
        assert_eq!(
            hosts(&[b"ARSHIM=1"]),
            None,
            "no list: the first process claims"
        );
        assert_eq!(
            hosts(&[b"ARSHIM=1", b"ARSHIM_HOSTS=ld,,x"]),
            None,
            "a bad list is warned about"
        );
        assert_eq!(
            hosts(&[b"ARSHIM=yes", b"ARSHIM_HOSTS=ld"]),
            None,
            "a bad mode is warned about"
        );
        assert_eq!(
            hosts(&[b"ARSHIM=1", b"ARSHIM_HOSTS=ld", b"ARSHIM_TRACE=/t"]),
            None
        );
        assert!(names_a_host(b"ld*", b"/usr/bin/ld.bfd"));
        assert!(!names_a_host(b"ld*", b"/usr/bin/cc1"));
        assert!(
            !names_a_host(b"*", b"/usr/bin/"),
            "an empty name matches nothing"
        );
    }

    #[test]
    fn symlinks_are_followed_from_their_directory() {
        let mut out = [0u8; 64];
        let mut f =
            |link: &[u8], target: &[u8]| follow(link, target, &mut out).map(|n| out[..n].to_vec());
        assert_eq!(
            f(b"/usr/bin/ld", b"x86_64-linux-gnu-ld"),
            Some(b"/usr/bin/x86_64-linux-gnu-ld".to_vec())
        );
        assert_eq!(
            f(b"/usr/bin/cc", b"/etc/alternatives/cc"),
            Some(b"/etc/alternatives/cc".to_vec())
        );
        assert_eq!(f(b"ld", b"../lib/ld.bfd"), Some(b"../lib/ld.bfd".to_vec()));
        assert_eq!(f(b"./bin/ld", b"ld.gold"), Some(b"./bin/ld.gold".to_vec()));
        assert_eq!(f(b"/a", &[b'x'; 80]), None, "too long");
    }

    #[test]
    fn scan_reads_a_raw_environment() {
        let raw = [
            c"PATH=/bin".as_ptr(),
            c"ARSHIM_PID=3".as_ptr(),
            c"ARSHIM=1".as_ptr(),
            core::ptr::null(),
        ];
        // SAFETY: a NULL-terminated array of static C strings.
        let found = unsafe { scan(raw.as_ptr()) }.expect("ARSHIM= present");
        assert_eq!(found.as_slice(), &[&b"ARSHIM_PID=3"[..], b"ARSHIM=1"]);
        let raw = [c"ARSHIMX=1".as_ptr(), core::ptr::null()];
        // SAFETY: as above.
        assert!(unsafe { scan(raw.as_ptr()) }.is_none());
        // SAFETY: NULL is allowed.
        assert!(unsafe { scan(core::ptr::null()) }.is_none());
    }

    #[test]
    fn reserved_room_is_no_claim() {
        let env: &[&[u8]] = &[b"ARSHIM=1", b"ARSHIM_PID=0000000:000000000000"];
        assert_eq!(claim_value(env), None);
        assert!(!names_another_process(env, 5), "the core loads, to claim");
        assert_eq!(
            UNCLAIMED.len(),
            claim_text(4_194_304, Some(1)).to_string().len()
        );
        let env: &[&[u8]] = &[b"ARSHIM=1", b"ARSHIM_PID=0000010:000000000000"];
        assert!(names_another_process(env, 5), "a driver's claim is one");
    }

    #[test]
    fn pids_and_claims_have_one_width() {
        assert_eq!(pid_text(455).to_string(), "0000455");
        assert_eq!(pid_text(4_194_304).to_string(), "4194304");
        assert_eq!(
            claim_text(9, Some(1234)).to_string(),
            "0000009:000000001234"
        );
        assert_eq!(claim_text(32_767, None).to_string(), "0032767");
        for (pid, start) in [(1, 5), (300, 99_999), (4_194_304, 10_u64.pow(11))] {
            let text = claim_text(pid, Some(start)).to_string();
            assert_eq!(text.len(), PID_DIGITS + 1 + TICKS_DIGITS);
            let claim = parse_claim(text.as_bytes()).unwrap();
            assert_eq!((claim.pid, claim.start), (pid, Some(start)));
        }
        assert_eq!(parse_pid(b"0000455"), Some(455));
    }
}
