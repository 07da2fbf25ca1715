//! What `arshim verify` remembered about this process's own binary
//! (docs/DESIGN.md, "Scope"): pure, from the verdict store's bytes, this
//! executable's path and identity.
//!
//! The store is `verdicts.json`, written by the companion (src/verdicts.rs):
//! `{"version":2,"hosts":[{"path":…,"id":…,"verdict":"SAFE"|"NOT SAFE",
//! "reasons":[…],…},…]}`, where an interpreter's entry also names its script
//! (`"script"`, `"script_id"`): a script host is keyed by both
//! (docs/DESIGN.md, "Verdicts"). Version 3 adds the temps globs a verdict
//! was given with (`"temps"`, `ARSHIM_TEMPS`'s list): a SAFE verdict holds
//! for those only. Versions 1 (no scripts) and 2 (no temps) read the same;
//! a newer version is refused, never guessed at. It is untrusted data: this
//! reads the little JSON it needs with a bounded reader, and anything it
//! cannot read is "no verdict".

/// The store formats this library reads (src/verdicts.rs writes the last).
const FORMATS: [u64; 3] = [1, 2, 3];

/// What the store says about this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    Safe,
    /// With the first reason recorded.
    NotSafe(String),
    /// Verified, but the binary at that path has changed since.
    Changed,
    /// Verified SAFE with other temps globs than this process has (the
    /// verdict's list, empty for none): the conversion it proved handed
    /// other files to the reaper.
    OtherTemps(String),
    Never,
    /// No store to read, or one that cannot be read: why.
    Unreadable(String),
}

/// One stored entry, as far as the library needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// `build-id:HEX` or `fnv1a64:HEX`.
    pub id: String,
    /// The script's `fnv1a64:HEX` when the entry is a script host's.
    pub script_id: Option<String>,
    /// `SAFE` or `NOT SAFE` (anything else is no verdict).
    pub verdict: String,
    pub reason: String,
    /// The temps globs (`ARSHIM_TEMPS`) the verdict was given with.
    pub temps: Option<String>,
}

/// Where the companion keeps the store (src/verdicts.rs): `$XDG_CACHE_HOME`
/// if absolute (the XDG spec ignores relative ones), else `$HOME/.cache`.
pub fn store_location(xdg_cache_home: Option<&[u8]>, home: Option<&[u8]>) -> Option<Vec<u8>> {
    let mut base = match xdg_cache_home.filter(|x| x.first() == Some(&b'/')) {
        Some(xdg) => xdg.to_vec(),
        None => [home.filter(|h| !h.is_empty())?, b"/.cache"].concat(),
    };
    base.extend_from_slice(b"/arshim/verdicts.json");
    Some(base)
}

/// Whether a verdict stored under this binary (its basename) may be heeded:
/// never for an interpreter (docs/DESIGN.md, "Verdicts"). `verify` stores
/// none for one, and one an older `verify` stored for `python3.11` was some
/// script's, not the one this process runs: it reads as no verdict.
pub fn heeded_for(exe_basename: &[u8]) -> bool {
    !arshim_common::names::is_interpreter(exe_basename)
}

/// The verdict for this binary's `id` (and its script's, for a script host)
/// from the entry stored under its key: either one changed is "changed".
pub fn judge(entry: Option<&Stored>, id: Option<&str>, script_id: Option<&str>) -> Known {
    let Some(e) = entry else {
        return Known::Never;
    };
    if id != Some(e.id.as_str()) || script_id != e.script_id.as_deref() {
        return Known::Changed;
    }
    match e.verdict.as_str() {
        "SAFE" => Known::Safe,
        "NOT SAFE" => Known::NotSafe(e.reason.clone()),
        _ => Known::Never,
    }
}

/// A SAFE verdict holds only with the temps globs it was given with
/// (docs/DESIGN.md, "Verdicts"): `temps` is this process's `ARSHIM_TEMPS`.
/// The lists are compared as sets of globs.
pub fn judge_temps(known: Known, entry: Option<&Stored>, temps: Option<&[u8]>) -> Known {
    let stored = entry.and_then(|e| e.temps.as_deref()).unwrap_or_default();
    match known {
        Known::Safe if globs_of(stored.as_bytes()) != globs_of(temps.unwrap_or_default()) => {
            Known::OtherTemps(stored.to_owned())
        }
        other => other,
    }
}

/// A comma list's globs, trimmed, sorted, once each.
fn globs_of(list: &[u8]) -> Vec<&[u8]> {
    let mut globs: Vec<&[u8]> = list
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|g| !g.is_empty())
        .collect();
    globs.sort_unstable();
    globs.dedup();
    globs
}

/// The entry stored under `path` and, for a script host, its canonical
/// `script` (an entry with a script never answers for the bare binary, nor
/// one without for a script), or why the store cannot be read.
pub fn entry_for(
    store: &[u8],
    path: &[u8],
    script: Option<&[u8]>,
) -> Result<Option<Stored>, &'static str> {
    let mut r = Reader { s: store, i: 0 };
    let (mut found, mut version) = (None, None);
    r.object(0, &mut |r, key| match key {
        b"hosts" => r.array(1, &mut |r| {
            let (key, e) = r.host()?;
            if found.is_none() && key.path == path && key.script.as_deref() == script {
                found = Some(e);
            }
            Some(())
        }),
        b"version" => {
            version = Some(r.whole_number()?);
            Some(())
        }
        _ => r.skip(1),
    })
    .ok_or("not a verdict file")?;
    r.ws();
    if r.i != store.len() {
        return Err("not a verdict file");
    }
    // A store older than versions existed has none: the first format.
    if !FORMATS.contains(&version.unwrap_or(1)) {
        return Err("a newer format than this arshim reads (a newer arshim wrote it)");
    }
    Ok(found)
}

/// What an entry is stored under: the binary's path and, for a script
/// host, the script's.
struct Key {
    path: Vec<u8>,
    script: Option<Vec<u8>>,
}

/// Nesting deeper than this is not a verdict file.
const MAX_DEPTH: usize = 16;

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|b| b" \t\r\n".contains(b)) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        let ok = self.s.get(self.i) == Some(&b);
        self.i += usize::from(ok);
        ok
    }

    /// `{ "key": value, … }`, each value read by `each` (given its key).
    fn object(
        &mut self,
        depth: usize,
        each: &mut dyn FnMut(&mut Self, &[u8]) -> Option<()>,
    ) -> Option<()> {
        if depth > MAX_DEPTH || !self.eat(b'{') {
            return None;
        }
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            self.ws();
            let key = self.string()?;
            if !self.eat(b':') {
                return None;
            }
            each(self, &key)?;
            if self.eat(b'}') {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// `[ value, … ]`, each value read by `each`.
    fn array(&mut self, depth: usize, each: &mut dyn FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if depth > MAX_DEPTH || !self.eat(b'[') {
            return None;
        }
        if self.eat(b']') {
            return Some(());
        }
        loop {
            each(self)?;
            if self.eat(b']') {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// One entry of `hosts`: its key and what the library needs of it.
    fn host(&mut self) -> Option<(Key, Stored)> {
        let (mut path, mut id, mut verdict, mut reason) = (None, None, None, None);
        let (mut script, mut script_id, mut temps) = (None, None, None);
        self.object(2, &mut |r, key| {
            match key {
                b"path" => path = Some(r.string_value()?),
                b"id" => id = Some(r.string_value()?),
                b"script" => script = Some(r.string_value()?),
                b"script_id" => script_id = Some(r.string_value()?),
                b"verdict" => verdict = Some(r.string_value()?),
                b"temps" => temps = Some(r.string_value()?),
                b"reasons" => reason = Some(r.first_string(3)?),
                _ => r.skip(3)?,
            }
            Some(())
        })?;
        let text = |v: Vec<u8>| String::from_utf8_lossy(&v).into_owned();
        let stored = Stored {
            id: text(id.unwrap_or_default()),
            // A script without its hash can never match: "" is no hash.
            script_id: script.as_ref().map(|_| text(script_id.unwrap_or_default())),
            verdict: text(verdict.unwrap_or_default()),
            reason: text(reason.flatten().unwrap_or_default()),
            temps: temps.map(text),
        };
        let path = path?;
        Some((Key { path, script }, stored))
    }

    /// A non-negative integer that fits in 64 bits (the format's version).
    fn whole_number(&mut self) -> Option<u64> {
        self.ws();
        let start = self.i;
        self.scalar()?;
        std::str::from_utf8(self.s.get(start..self.i)?)
            .ok()?
            .parse()
            .ok()
    }

    fn string_value(&mut self) -> Option<Vec<u8>> {
        self.ws();
        self.string()
    }

    /// An array's first string (`reasons`), if it has one.
    fn first_string(&mut self, depth: usize) -> Option<Option<Vec<u8>>> {
        let mut first = None;
        self.array(depth, &mut |r| {
            r.ws();
            match r.s.get(r.i) {
                Some(b'"') if first.is_none() => first = Some(r.string()?),
                _ => r.skip(depth + 1)?,
            }
            Some(())
        })?;
        Some(first)
    }

    /// Any value, read and dropped.
    fn skip(&mut self, depth: usize) -> Option<()> {
        self.ws();
        match *self.s.get(self.i)? {
            b'"' => self.string().map(drop),
            b'{' => self.object(depth, &mut |r, _| r.skip(depth + 1)),
            b'[' => self.array(depth, &mut |r| r.skip(depth + 1)),
            _ => self.scalar(),
        }
    }

    /// A number, `true`, `false` or `null`.
    fn scalar(&mut self) -> Option<()> {
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
        {
            self.i += 1;
        }
        let word = &self.s[start..self.i];
        let number = word
            .first()
            .is_some_and(|b| b.is_ascii_digit() || *b == b'-');
        (number || [&b"true"[..], b"false", b"null"].contains(&word)).then_some(())
    }

    /// A string at the cursor, unescaped (`\uXXXX` as UTF-8).
    fn string(&mut self) -> Option<Vec<u8>> {
        if self.s.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let b = *self.s.get(self.i)?;
            self.i += 1;
            match b {
                b'"' => return Some(out),
                b'\\' => self.escape(&mut out)?,
                0..=0x1f => return None,
                _ => out.push(b),
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let b = *self.s.get(self.i)?;
        self.i += 1;
        let c = match b {
            b'"' | b'\\' | b'/' => char::from(b),
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => self.unicode()?,
            _ => return None,
        };
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        Some(())
    }

    /// After `\u`: four hex digits, a surrogate pair as one character.
    fn unicode(&mut self) -> Option<char> {
        let hi = self.hex4()?;
        if !(0xd800..0xdc00).contains(&hi) {
            return char::from_u32(hi);
        }
        if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
            return None;
        }
        self.i += 2;
        let lo = self.hex4()?;
        if !(0xdc00..0xe000).contains(&lo) {
            return None;
        }
        char::from_u32(0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
        self.i += 4;
        u32::from_str_radix(digits, 16).ok()
    }
}

/// The GNU build-id in the bytes of a PT_NOTE segment (ELF notes: namesz,
/// descsz, type, then the name and the descriptor, each padded to 4 bytes),
/// as the companion writes it: `build-id:HEX`.
pub fn build_id(notes: &[u8]) -> Option<String> {
    const NT_GNU_BUILD_ID: u32 = 3;
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(notes.get(at..at + 4)?.try_into().ok()?))
    };
    let pad = |n: usize| n.checked_add(3).map(|n| n & !3);
    let mut at = 0;
    while at + 12 <= notes.len() {
        let (namesz, descsz, kind) = (word(at)? as usize, word(at + 4)? as usize, word(at + 8)?);
        let name_at = at + 12;
        let desc_at = name_at.checked_add(pad(namesz)?)?;
        let end = desc_at.checked_add(pad(descsz)?)?;
        let desc = notes.get(desc_at..desc_at.checked_add(descsz)?)?;
        if kind == NT_GNU_BUILD_ID && notes.get(name_at..name_at + namesz)? == b"GNU\0" {
            let hex: String = desc.iter().map(|b| format!("{b:02x}")).collect();
            return Some(format!("build-id:{hex}"));
        }
        at = end;
    }
    None
}

/// `fnv1a64:HEX` of a file's bytes, fed in chunks (the companion's identity
/// of a binary without a build-id).
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn id(&self) -> String {
        format!("fnv1a64:{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_verdict_is_heeded_for_an_interpreter() {
        assert!(!heeded_for(b"python3.11"));
        assert!(!heeded_for(b"perl"));
        assert!(heeded_for(b"ldc2"));
        assert!(heeded_for(b"ld"));
    }

    const STORE: &str = r#"{
  "version": 1,
  "hosts": [
    {"path": "/usr/bin/ld-old", "id": "build-id:00", "verdict": "SAFE", "reasons": [], "time": 1},
    {
      "path": "/opt/t\u00e9st/host",
      "id": "build-id:ab12",
      "verdict": "NOT SAFE",
      "reasons": ["after ar exited, the process wrote to \"after.txt\"", "x"],
      "time": 1795606310,
      "command": "host write-after",
      "extra": {"nested": [1, -2.5e3, true, null, {"a": "b"}]}
    }
  ]
}
"#;

    fn stored(id: &str, verdict: &str) -> Stored {
        Stored {
            id: id.into(),
            script_id: None,
            verdict: verdict.into(),
            reason: "why".into(),
            temps: None,
        }
    }

    #[test]
    fn finds_the_entry_of_a_path() {
        let e = entry_for(STORE.as_bytes(), "/opt/tést/host".as_bytes(), None)
            .unwrap()
            .unwrap();
        assert_eq!(e.id, "build-id:ab12");
        assert_eq!(e.verdict, "NOT SAFE");
        assert_eq!(
            e.reason,
            "after ar exited, the process wrote to \"after.txt\""
        );
        let safe = entry_for(STORE.as_bytes(), b"/usr/bin/ld-old", None)
            .unwrap()
            .unwrap();
        assert_eq!((safe.verdict.as_str(), safe.reason.as_str()), ("SAFE", ""));
        assert_eq!(
            entry_for(STORE.as_bytes(), b"/usr/bin/ld", None).unwrap(),
            None
        );
        assert_eq!(
            entry_for(br#"{"version":1,"hosts":[]}"#, b"/a", None).unwrap(),
            None
        );
    }

    #[test]
    fn anything_else_is_not_a_verdict_file() {
        for bad in [
            &b""[..],
            b"{",
            b"[]",
            b"{\"hosts\": [}",
            b"{\"hosts\": [{\"path\": \"/a\"}] } trailing",
            b"{\"hosts\": [{\"path\": \"/a\\q\"}]}",
            b"{\"hosts\": [{\"path\": \"\\ud800\"}]}",
            b"{\"hosts\": [{\"id\": \"x\"}]}",
            b"{\"hosts\": [{\"path\": \"/a\", \"x\": nope}]}",
            b"{\"hosts\": [{\"path\": \"/a\nb\"}]}",
        ] {
            assert!(
                entry_for(bad, b"/a", None).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert!(entry_for(deep.as_bytes(), b"/a", None).is_err());
    }

    #[test]
    fn store_follows_xdg_like_the_companion() {
        let at = |x: Option<&str>, h: Option<&str>| {
            store_location(x.map(str::as_bytes), h.map(str::as_bytes))
        };
        assert_eq!(
            at(Some("/c"), Some("/h")).unwrap(),
            b"/c/arshim/verdicts.json"
        );
        assert_eq!(
            at(Some("rel"), Some("/h")).unwrap(),
            b"/h/.cache/arshim/verdicts.json"
        );
        assert_eq!(at(None, Some("")), None);
    }

    #[test]
    fn judgement() {
        let ns = stored("build-id:ab", "NOT SAFE");
        assert_eq!(
            judge(Some(&ns), Some("build-id:ab"), None),
            Known::NotSafe("why".into())
        );
        assert_eq!(judge(Some(&ns), Some("build-id:cd"), None), Known::Changed);
        assert_eq!(judge(Some(&ns), None, None), Known::Changed);
        let safe = stored("build-id:ab", "SAFE");
        assert_eq!(judge(Some(&safe), Some("build-id:ab"), None), Known::Safe);
        let odd = stored("build-id:ab", "CANNOT TELL");
        assert_eq!(judge(Some(&odd), Some("build-id:ab"), None), Known::Never);
        assert_eq!(judge(None, Some("build-id:ab"), None), Known::Never);
    }

    #[test]
    fn a_safe_verdict_holds_for_its_temps_only() {
        let store = br#"{"version": 3, "hosts": [
          {"path": "/usr/bin/vthost", "id": "build-id:aa", "verdict": "SAFE", "reasons": [],
           "time": 1, "temps": "$TMPDIR/vt.*, /w/*.o"},
          {"path": "/usr/bin/ld", "id": "build-id:bb", "verdict": "SAFE", "reasons": [], "time": 1}
        ]}"#;
        let e = entry_for(store, b"/usr/bin/vthost", None).unwrap().unwrap();
        assert_eq!(e.temps.as_deref(), Some("$TMPDIR/vt.*, /w/*.o"));
        let safe = || judge(Some(&e), Some("build-id:aa"), None);
        let with = |t: Option<&[u8]>| judge_temps(safe(), Some(&e), t);
        assert_eq!(with(Some(b"/w/*.o,$TMPDIR/vt.*")), Known::Safe);
        assert_eq!(with(Some(b" $TMPDIR/vt.* ,/w/*.o,/w/*.o")), Known::Safe);
        let other = Known::OtherTemps("$TMPDIR/vt.*, /w/*.o".into());
        assert_eq!(with(None), other);
        assert_eq!(with(Some(b"$TMPDIR/vt.*")), other);
        let ld = entry_for(store, b"/usr/bin/ld", None).unwrap().unwrap();
        let ld_safe = || judge(Some(&ld), Some("build-id:bb"), None);
        assert_eq!(judge_temps(ld_safe(), Some(&ld), None), Known::Safe);
        assert_eq!(judge_temps(ld_safe(), Some(&ld), Some(b"")), Known::Safe);
        assert_eq!(
            judge_temps(ld_safe(), Some(&ld), Some(b"/t/*")),
            Known::OtherTemps(String::new())
        );
        assert_eq!(
            judge_temps(Known::Changed, Some(&ld), Some(b"/t/*")),
            Known::Changed,
            "only a SAFE verdict is narrowed"
        );
    }

    const SCRIPTS: &str = r#"{"version": 2, "hosts": [
      {"path": "/usr/bin/python3.11", "id": "build-id:aa", "script": "/src/a.py",
       "script_id": "fnv1a64:01", "verdict": "SAFE", "reasons": [], "time": 1},
      {"path": "/usr/bin/python3.11", "id": "build-id:aa", "script": "/src/c.py",
       "script_id": "fnv1a64:03", "verdict": "NOT SAFE", "reasons": ["c"], "time": 1},
      {"path": "/usr/bin/python3.11", "id": "build-id:aa", "verdict": "SAFE",
       "reasons": [], "time": 1}
    ]}"#;

    #[test]
    fn a_script_hosts_verdict_is_its_scripts_only() {
        let find = |script: Option<&str>| {
            entry_for(
                SCRIPTS.as_bytes(),
                b"/usr/bin/python3.11",
                script.map(str::as_bytes),
            )
            .unwrap()
        };
        let a = find(Some("/src/a.py")).unwrap();
        assert_eq!(a.script_id.as_deref(), Some("fnv1a64:01"));
        let aa = Some("build-id:aa");
        assert_eq!(judge(Some(&a), aa, Some("fnv1a64:01")), Known::Safe);
        assert_eq!(
            judge(Some(&a), aa, Some("fnv1a64:99")),
            Known::Changed,
            "edited"
        );
        assert_eq!(judge(Some(&a), aa, None), Known::Changed);
        assert_eq!(
            judge(Some(&a), Some("build-id:bb"), Some("fnv1a64:01")),
            Known::Changed
        );
        let c = find(Some("/src/c.py")).unwrap();
        assert_eq!(
            judge(Some(&c), aa, Some("fnv1a64:03")),
            Known::NotSafe("c".into())
        );
        assert_eq!(find(Some("/src/b.py")), None, "another script");
        // The entry without a script (an older verify's) is the bare binary's.
        assert_eq!(find(None).unwrap().script_id, None);
        // A script without its hash never matches.
        let no_hash = br#"{"version":2,"hosts":[{"path":"/p","id":"i","script":"/s",
            "verdict":"SAFE","reasons":[]}]}"#;
        let e = entry_for(no_hash, b"/p", Some(b"/s")).unwrap().unwrap();
        assert_eq!(
            judge(Some(&e), Some("i"), Some("fnv1a64:01")),
            Known::Changed
        );
    }

    #[test]
    fn only_known_formats_are_read() {
        for ok in [
            &br#"{"hosts":[]}"#[..],
            br#"{"version":1,"hosts":[]}"#,
            br#"{"hosts":[],"version":2}"#,
            br#"{"hosts":[],"version":3}"#,
        ] {
            assert_eq!(entry_for(ok, b"/a", None), Ok(None));
        }
        for newer in [
            &br#"{"version":4,"hosts":[]}"#[..],
            br#"{"version":"2","hosts":[]}"#,
            br#"{"version":-1,"hosts":[]}"#,
        ] {
            assert!(entry_for(newer, b"/a", None).is_err());
        }
        let e = entry_for(br#"{"version":4,"hosts":[]}"#, b"/a", None).unwrap_err();
        assert!(e.contains("newer format"), "{e}");
    }

    #[test]
    fn build_id_notes() {
        let mut notes = Vec::new();
        // an ABI tag note first, then the build-id
        for (name, desc, kind) in [
            (&b"GNU\0"[..], &[0u8, 0, 0, 0, 3, 0, 0, 0][..], 1u32),
            (b"GNU\0", &[0xab, 0x01, 0xff], 3),
        ] {
            notes.extend_from_slice(&(name.len() as u32).to_ne_bytes());
            notes.extend_from_slice(&(desc.len() as u32).to_ne_bytes());
            notes.extend_from_slice(&kind.to_ne_bytes());
            notes.extend_from_slice(name);
            notes.extend_from_slice(desc);
            notes.resize(notes.len().div_ceil(4) * 4, 0);
        }
        assert_eq!(build_id(&notes).as_deref(), Some("build-id:ab01ff"));
        assert_eq!(build_id(&notes[..20]), None, "truncated");
        assert_eq!(build_id(&[]), None);
    }

    #[test]
    fn fnv_matches_the_companion() {
        let mut h = Fnv1a::default();
        assert_eq!(h.id(), "fnv1a64:cbf29ce484222325");
        h.feed(b"a");
        assert_eq!(h.id(), "fnv1a64:af63dc4c8601ec8c");
    }
}
