//! Shell-style globs on program basenames (`ar`, `*-ar`, `llvm-ar*`, `gcc-ar[0-9]`).
//!
//! Matching works on bytes: basenames are not always UTF-8. Supported: `*`, `?`,
//! bracket sets with ranges and `!`/`^` negation. `no_std` and allocation-free:
//! the preload (`preload/`) matches `ARSHIM_HOSTS` with it before any heap
//! exists; the core and the companion match with it too, so that all three agree.

/// The entries of a comma-separated list (`ARSHIM_TOOLS`, `ARSHIM_HOSTS`),
/// with surrounding spaces trimmed.
fn entries(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    list.split(|&b| b == b',').map(trim)
}

/// Every entry must be a non-empty glob with its brackets closed: an empty
/// entry is almost always a typo (`ar,,*-ar`) and is refused.
pub fn list_is_valid(list: &[u8]) -> bool {
    entries(list).all(|e| !e.is_empty() && brackets_balanced(e))
}

/// Does any glob of a valid list match `name`?
pub fn list_matches(list: &[u8], name: &[u8]) -> bool {
    entries(list).any(|p| glob_match(p, name))
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

fn brackets_balanced(p: &[u8]) -> bool {
    let mut i = 0;
    while i < p.len() {
        if p[i] == b'[' {
            match class_end(p, i) {
                Some(end) => i = end,
                None => return false,
            }
        }
        i += 1;
    }
    true
}

/// Index of the `]` closing the class that starts at `open`, if any.
/// A `]` right after `[` or `[!` is a literal member, as in the shell.
fn class_end(p: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    if i < p.len() && (p[i] == b'!' || p[i] == b'^') {
        i += 1;
    }
    if i < p.len() && p[i] == b']' {
        i += 1;
    }
    while i < p.len() {
        if p[i] == b']' {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Does the class `p[open..=close]` contain `c`?
fn class_matches(p: &[u8], open: usize, close: usize, c: u8) -> bool {
    let mut i = open + 1;
    let negate = p[i] == b'!' || p[i] == b'^';
    if negate {
        i += 1;
    }
    let mut found = false;
    while i < close {
        let lo = p[i];
        if i + 2 < close && p[i + 1] == b'-' {
            if lo <= c && c <= p[i + 2] {
                found = true;
            }
            i += 3;
        } else {
            if lo == c {
                found = true;
            }
            i += 1;
        }
    }
    found != negate
}

/// Classic iterative matcher: on a mismatch, backtrack to the last `*`.
pub fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    if let Some(close) = class_end(pattern, p) {
                        if class_matches(pattern, p, close, name[n]) {
                            p = close + 1;
                            n += 1;
                            continue;
                        }
                    } else if name[n] == b'[' {
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                c if c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        glob_match(p.as_bytes(), n.as_bytes())
    }

    #[test]
    fn literals_and_stars() {
        assert!(m("ar", "ar"));
        assert!(!m("ar", "ars"));
        assert!(!m("ar", "a"));
        assert!(m("*-ar", "x86_64-linux-gnu-ar"));
        assert!(!m("*-ar", "ar"));
        assert!(m("llvm-ar*", "llvm-ar"));
        assert!(m("llvm-ar*", "llvm-ar-14"));
        assert!(m("gcc-ar*", "gcc-ar-12"));
        assert!(!m("gcc-ar*", "gcc"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXbYbZ"));
        assert!(m("**ar", "ar"));
    }

    #[test]
    fn question_and_classes() {
        assert!(m("ar?", "ar1"));
        assert!(!m("ar?", "ar"));
        assert!(m("gcc-ar-[0-9]*", "gcc-ar-12"));
        assert!(!m("gcc-ar-[0-9]*", "gcc-ar-x"));
        assert!(m("[!x]ar", "gar"));
        assert!(!m("[!x]ar", "xar"));
        assert!(m("[]]", "]"));
        assert!(m("*ranlib", "x86_64-linux-gnu-ranlib"));
    }

    #[test]
    fn lists() {
        let l = b"ar,*-ar, llvm-ar* ,gcc-ar*";
        assert!(list_is_valid(l));
        assert!(list_matches(l, b"ar"));
        assert!(list_matches(l, b"llvm-ar-14"));
        assert!(list_matches(l, b"gcc-ar-12"));
        assert!(
            !list_matches(l, b"x86_64-linux-gnu-gcc-ar-12"),
            "the default globs are on the name called"
        );
        assert!(!list_matches(l, b"ranlib"));
        assert!(!list_matches(l, b"arshim"));
        for bad in [&b"ar,,x"[..], b"", b"ar,", b"[ar", b" , ar"] {
            assert!(!list_is_valid(bad), "{bad:?}");
        }
    }
}
