//! The host's temporaries (docs/DESIGN.md, "Conversion" 12): which paths
//! they are (`ARSHIM_TEMPS` and the known host's globs, `$TMPDIR` expanded),
//! how a path a creation names is made absolute without the heap (the
//! hooks run in any thread, or a signal handler), and in which order the
//! reaper deletes what the host created. Pure.

use crate::decide::link::{kind, Kind};
use arshim_common::glob::glob_match;

/// What a glob of `ARSHIM_TEMPS` may start with: an absolute path, or the
/// host's temp dir.
const TMPDIR_PREFIX: &[u8] = b"$TMPDIR/";

/// One entry of a temps list is valid: an absolute glob or one under
/// `$TMPDIR/` (a relative glob would depend on the host's working directory).
pub fn entry_is_valid(entry: &[u8]) -> bool {
    entry.first() == Some(&b'/') || (entry.starts_with(TMPDIR_PREFIX) && entry.len() > 8)
}

/// The host's temp dir: `TMPDIR` when it is an absolute path (what glibc's
/// and GHC's temp-file code use), else `/tmp`.
pub fn tmpdir(var: Option<&[u8]>) -> Vec<u8> {
    match var {
        Some(v) if v.first() == Some(&b'/') => {
            let trimmed = v.len() - v.iter().rev().take_while(|&&b| b == b'/').count();
            if trimmed == 0 {
                b"/".to_vec()
            } else {
                v[..trimmed].to_vec()
            }
        }
        _ => b"/tmp".to_vec(),
    }
}

/// `globs` with a leading `$TMPDIR` replaced by `tmpdir`.
pub fn expand<'a>(globs: impl Iterator<Item = &'a [u8]>, tmpdir: &[u8]) -> Vec<Vec<u8>> {
    globs
        .map(|g| match g.strip_prefix(&TMPDIR_PREFIX[..7]) {
            Some(rest) => [tmpdir, rest].concat(),
            None => g.to_vec(),
        })
        .collect()
}

/// Does `path` (absolute, normalized) or one of its directories match a
/// glob? A temp dir's glob covers what is created inside it.
pub fn matches(globs: &[Vec<u8>], path: &[u8]) -> bool {
    let prefixes = path
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'/' && i > 0)
        .map(|(i, _)| &path[..i])
        .chain(core::iter::once(path));
    let mut prefixes = prefixes;
    prefixes.any(|p| globs.iter().any(|g| glob_match(g, p)))
}

/// `base/path` (or `path` if absolute) into `out`, with `.`, `..` and
/// repeated slashes resolved lexically; its length, or None if it does not
/// fit or `base` is not absolute when needed. Lexical: a symlinked
/// directory followed by `..` may name another file than the kernel's
/// lookup, which the conversion's (dev, ino) check then tells apart.
pub fn absolute_into(base: &[u8], path: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut len = 0;
    if path.first() != Some(&b'/') {
        if base.first() != Some(&b'/') {
            return None;
        }
        len = push_components(base, out, 0)?;
    }
    len = push_components(path, out, len)?;
    if len == 0 {
        *out.first_mut()? = b'/';
        len = 1;
    }
    Some(len)
}

/// Appends `path`'s components to `out[..len]` (no trailing slash).
fn push_components(path: &[u8], out: &mut [u8], mut len: usize) -> Option<usize> {
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                let cut = out.get(..len)?.iter().rposition(|&b| b == b'/');
                len = cut.unwrap_or(0);
            }
            name => {
                let end = len + 1 + name.len();
                let room = out.get_mut(len..end)?;
                room[0] = b'/';
                room[1..].copy_from_slice(name);
                len = end;
            }
        }
    }
    Some(len)
}

/// The order the reaper deletes in: files first (as created), then
/// directories deepest first, so a directory comes after what it holds.
pub fn deletion_order<T>(
    entries: &mut [T],
    is_dir: impl Fn(&T) -> bool,
    path: impl Fn(&T) -> &[u8],
) {
    let depth = |p: &[u8]| p.iter().filter(|&&b| b == b'/').count();
    entries.sort_by_key(|e| match is_dir(e) {
        false => (0, 0),
        true => (1, usize::MAX - depth(path(e))),
    });
}

/// Is an `fopen` mode one that may create its file (`w`, `a`), and does it
/// create exclusively (`x`, glibc's extension)? `r+` never creates.
pub fn fopen_creates(mode: &[u8]) -> Option<bool> {
    match mode.first() {
        Some(b'w') | Some(b'a') => Some(mode.contains(&b'x')),
        _ => None,
    }
}

/// Is `program` (a path or a name) an assembler: `as`, with a target
/// prefix (`x86_64-linux-gnu-as`) or a version suffix? A compiler driver
/// spawns it with `-o FILE`, and so may a host (docs/DESIGN.md,
/// "Conversion" 12).
fn is_assembler(program: &[u8]) -> bool {
    let base = program.rsplit(|&b| b == b'/').next().unwrap_or(program);
    let name = base
        .split(|&b| b == b'-')
        .take_while(|w| !w.first().is_some_and(u8::is_ascii_digit));
    name.last() == Some(&b"as"[..])
}

/// The file a spawned compiler driver, assembler or linker was told to
/// write: the last `-o FILE` (`-oFILE`, `--output FILE`, `--output=FILE`)
/// of `args` (after the program name, `@FILE`s expanded); None for any
/// other program or without `-o` (what it then writes is not named, and
/// stays: docs/DESIGN.md, "Conversion" 12).
pub fn promised_output<'a>(program: &[u8], args: &'a [Vec<u8>]) -> Option<&'a [u8]> {
    told_output(program, args.iter().map(Vec::as_slice))
}

/// `promised_output` over any words (`@FILE`s already expanded).
pub fn told_output<'a>(program: &[u8], args: impl Iterator<Item = &'a [u8]>) -> Option<&'a [u8]> {
    if !writes_named_output(program) {
        return None;
    }
    let mut scan = OutputScan::default();
    let mut out = None;
    for arg in args {
        match scan.word(arg) {
            Told::Output(value) => out = Some(value),
            Told::Cleared => out = None,
            Told::Nothing => {}
        }
    }
    out.filter(|o| usable_output(o))
}

/// A compiler driver, linker or assembler: told with `-o` what to write.
pub fn writes_named_output(program: &[u8]) -> bool {
    matches!(kind(program), Kind::Driver | Kind::Linker) || is_assembler(program)
}

/// An output that names a file (not empty, not `-` for stdout).
pub fn usable_output(out: &[u8]) -> bool {
    !out.is_empty() && out != b"-"
}

/// What one word does to the output `told_output` finds.
#[derive(Debug, PartialEq, Eq)]
pub enum Told<'w> {
    /// The output is now this (`-oFILE`, `--output=FILE`, the word after `-o`).
    Output(&'w [u8]),
    /// `-o` or `--output`: the next word is the output; none until then.
    Cleared,
    Nothing,
}

/// `told_output`'s rule one word at a time, for words made one by one in
/// a reused buffer (a response file read without a heap, `execs`).
#[derive(Debug, Default)]
pub struct OutputScan {
    value_next: bool,
}

impl OutputScan {
    pub fn word<'w>(&mut self, arg: &'w [u8]) -> Told<'w> {
        if std::mem::take(&mut self.value_next) {
            Told::Output(arg)
        } else if arg == b"-o" || arg == b"--output" {
            self.value_next = true;
            Told::Cleared
        } else if let Some(value) = arg.strip_prefix(b"--output=") {
            Told::Output(value)
        } else if let Some(value) = arg.strip_prefix(b"-o").filter(|_| !arg.starts_with(b"--")) {
            Told::Output(value)
        } else {
            Told::Nothing
        }
    }
}

/// Was a file whose identity is `born` made at or after `since` (the
/// spawn's time, from the coarse clock the kernel stamps files with)? An
/// unknown birth time never counts.
pub fn born_since(born: (i64, u32), since: (i64, u32)) -> bool {
    born != (0, 0) && born >= since
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abs(base: &str, path: &str) -> Option<String> {
        let mut out = [0u8; 64];
        absolute_into(base.as_bytes(), path.as_bytes(), &mut out)
            .map(|n| String::from_utf8(out[..n].to_vec()).unwrap())
    }

    #[test]
    fn paths_made_absolute_lexically_on_the_stack() {
        assert_eq!(abs("/w", "a.o").as_deref(), Some("/w/a.o"));
        assert_eq!(abs("/w/x", "../b//./c").as_deref(), Some("/w/b/c"));
        assert_eq!(abs("/ignored", "/t/./d/").as_deref(), Some("/t/d"));
        assert_eq!(abs("/", "..").as_deref(), Some("/"));
        assert_eq!(abs("rel", "a"), None, "a base must be absolute");
        assert_eq!(abs("/w", &"n".repeat(70)), None, "does not fit");
    }

    #[test]
    fn entries_and_expansion() {
        assert!(entry_is_valid(b"/tmp/x*"));
        assert!(entry_is_valid(b"$TMPDIR/ghc*_*"));
        assert!(!entry_is_valid(b"ghc*"));
        assert!(!entry_is_valid(b"$TMPDIR/"));
        assert!(!entry_is_valid(b"$HOME/x"));
        assert_eq!(tmpdir(Some(b"/t/tmp/")), b"/t/tmp");
        assert_eq!(tmpdir(Some(b"relative")), b"/tmp");
        assert_eq!(tmpdir(None), b"/tmp");
        let e = expand([&b"$TMPDIR/ghc*_*"[..], b"/x/y"].into_iter(), b"/t");
        assert_eq!(e, [b"/t/ghc*_*".to_vec(), b"/x/y".to_vec()]);
    }

    #[test]
    fn a_glob_covers_what_its_directory_holds() {
        let g = vec![b"/t/ghc*_*".to_vec(), b"/w/keep".to_vec()];
        assert!(matches(&g, b"/t/ghc12_0"));
        assert!(matches(&g, b"/t/ghc12_0/ghc_3.s"));
        assert!(matches(&g, b"/w/keep/a/b"));
        assert!(!matches(&g, b"/w/keeper"));
        assert!(!matches(&g, b"/t/other"));
        assert!(!matches(&g, b"/w"));
    }

    #[test]
    fn files_then_directories_deepest_first() {
        let mut v = vec![
            ("/t/d", true),
            ("/t/d/a", false),
            ("/t/d/e", true),
            ("/t/d/e/b", false),
        ];
        deletion_order(&mut v, |e| e.1, |e| e.0.as_bytes());
        assert_eq!(
            v.iter().map(|e| e.0).collect::<Vec<_>>(),
            ["/t/d/a", "/t/d/e/b", "/t/d/e", "/t/d"]
        );
    }

    #[test]
    fn fopen_modes() {
        assert_eq!(fopen_creates(b"w"), Some(false));
        assert_eq!(fopen_creates(b"a+"), Some(false));
        assert_eq!(fopen_creates(b"wx"), Some(true));
        assert_eq!(fopen_creates(b"r+"), None);
        assert_eq!(fopen_creates(b""), None);
    }

    /// The scan one word at a time says what `told_output` says.
    #[test]
    fn the_output_scan_is_told_outputs_rule() {
        let cases: [&[&[u8]]; 5] = [
            &[b"-c", b"x.c", b"-o", b"a.o"],
            &[b"-oa.o", b"-o", b"b.o"],
            &[b"--output=c.o", b"x.s"],
            &[b"-o", b"a.o", b"-o"],
            &[b"--oformat", b"elf", b"-o", b"-"],
        ];
        for words in cases {
            let mut scan = OutputScan::default();
            let mut out = None;
            for w in words {
                match scan.word(w) {
                    Told::Output(v) => out = Some(v),
                    Told::Cleared => out = None,
                    Told::Nothing => {}
                }
            }
            let told = told_output(b"as", words.iter().copied());
            assert_eq!(out.filter(|o| usable_output(o)), told, "{words:?}");
        }
    }

    #[test]
    fn what_a_spawned_tool_promises_to_write() {
        let w = |s: &str| {
            s.split_whitespace()
                .map(|a| a.as_bytes().to_vec())
                .collect::<Vec<_>>()
        };
        let gcc = w("-x assembler -c /t/a.s -o /t/a.o.tmp");
        assert_eq!(
            promised_output(b"x86_64-linux-gnu-gcc", &gcc),
            Some(&b"/t/a.o.tmp"[..])
        );
        assert_eq!(
            promised_output(b"/usr/bin/as", &w("--64 -o x.o x.s")),
            Some(&b"x.o"[..])
        );
        assert_eq!(
            promised_output(b"x86_64-linux-gnu-as", &w("-ox.o x.s")),
            Some(&b"x.o"[..])
        );
        assert_eq!(
            promised_output(b"ld.gold", &w("-r --output=y.o a.o")),
            Some(&b"y.o"[..])
        );
        assert_eq!(promised_output(b"cc", &w("-c x.c")), None, "not named");
        assert_eq!(
            promised_output(b"ar", &w("rcs -o x.a")),
            None,
            "an archiver"
        );
        assert_eq!(promised_output(b"python3", &w("-o x")), None);
        assert_eq!(
            promised_output(b"cc", &w("--oformat x -o -")),
            None,
            "stdout"
        );
        assert!(!is_assembler(b"gas-like"));
        assert!(is_assembler(b"as-2.40"));
    }

    #[test]
    fn born_at_or_after_the_spawn() {
        assert!(born_since((10, 5), (10, 5)));
        assert!(born_since((11, 0), (10, 5)));
        assert!(!born_since((10, 4), (10, 5)));
        assert!(!born_since((0, 0), (0, 0)), "unknown birth");
    }
}
