//! Quoting values so each shell (and make) reads back exactly the bytes we mean.
//! Values that need no quoting are printed bare, for readable output.

/// Bytes that mean nothing special to sh, fish or make in a word.
fn is_plain(value: &[u8]) -> bool {
    !value.is_empty()
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:,=+@-".contains(b))
}

/// POSIX sh: single quotes; an embedded `'` becomes `'\''`.
pub fn sh(value: &[u8]) -> Vec<u8> {
    if is_plain(value) {
        return value.to_vec();
    }
    let mut out = vec![b'\''];
    for &b in value {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// fish: single quotes, inside which only `\\` and `\'` are escapes.
pub fn fish(value: &[u8]) -> Vec<u8> {
    if is_plain(value) {
        return value.to_vec();
    }
    let mut out = vec![b'\''];
    for &b in value {
        if b == b'\'' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'\'');
    out
}

/// GNU make, right-hand side of `:=`: `$` is doubled and `#` escaped. Some
/// values have no spelling there (a newline, leading blanks that make strips,
/// a trailing backslash that joins lines): those are refused with the reason.
pub fn make(value: &[u8]) -> Result<Vec<u8>, &'static str> {
    if value.contains(&b'\n') {
        return Err("contains a newline");
    }
    if value.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
        return Err("starts with a blank, which make would strip");
    }
    if value.last() == Some(&b'\\') {
        return Err("ends with a backslash, which make would read as a line continuation");
    }
    let mut out = Vec::with_capacity(value.len());
    for &b in value {
        match b {
            b'$' => out.extend_from_slice(b"$$"),
            b'#' => out.extend_from_slice(b"\\#"),
            _ => out.push(b),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn plain_values_stay_bare() {
        assert_eq!(s(sh(b"/usr/lib/libarshim.so")), "/usr/lib/libarshim.so");
        assert_eq!(s(fish(b"1")), "1");
        assert_eq!(s(sh(b"arshim=debug,x")), "arshim=debug,x");
    }

    #[test]
    fn sh_quotes_globs_spaces_and_quotes() {
        assert_eq!(s(sh(b"ar,*-ar")), "'ar,*-ar'");
        assert_eq!(s(sh(b"a b")), "'a b'");
        assert_eq!(s(sh(b"it's")), r"'it'\''s'");
        assert_eq!(s(sh(b"")), "''");
        assert_eq!(s(sh(b"$HOME `x` \\")), r"'$HOME `x` \'");
    }

    #[test]
    fn sh_quoting_round_trips_through_a_real_shell() {
        let tricky = "it's a \"test\" $HOME `id` \\ * ? ~ \n end";
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", s(sh(tricky.as_bytes()))))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), tricky);
    }

    #[test]
    fn fish_escapes_backslash_and_quote() {
        assert_eq!(s(fish(b"ar,*-ar")), "'ar,*-ar'");
        assert_eq!(s(fish(b"it's")), r"'it\'s'");
        assert_eq!(s(fish(br"a\b")), r"'a\\b'");
        assert_eq!(s(fish(b"")), "''");
    }

    #[test]
    fn make_escapes_dollar_and_hash() {
        assert_eq!(s(make(b"ar,*-ar").unwrap()), "ar,*-ar");
        assert_eq!(s(make(b"/p/$x#y").unwrap()), r"/p/$$x\#y");
        assert_eq!(s(make(b"a b").unwrap()), "a b");
    }

    #[test]
    fn make_refuses_what_it_cannot_spell() {
        assert!(make(b"a\nb").is_err());
        assert!(make(b" a").is_err());
        assert!(make(b"a\\").is_err());
    }
}
