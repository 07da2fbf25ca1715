//! Which paths the archiver needs, and whether a deletion touches one of
//! them: lexical path reasoning over bytes, no file system access (`canon`
//! is passed in). Used for the deferred deletions (docs/DESIGN.md,
//! "Conversion" 4).

/// `base` + `path`, with `.` and `..` resolved lexically.
pub fn absolute(base: &[u8], path: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    let joined = if path.first() == Some(&b'/') {
        vec![path]
    } else {
        vec![base, path]
    };
    for piece in joined {
        for c in piece.split(|&b| b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
    }
    let mut out = Vec::new();
    for p in &parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// Split an absolute normalized path into its directory and last component.
pub fn split_parent(abs: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = abs.iter().rposition(|&b| b == b'/')?;
    let name = &abs[i + 1..];
    if name.is_empty() {
        return None;
    }
    Some((if i == 0 { &b"/"[..] } else { &abs[..i] }, name))
}

/// Is deleting `target` deleting something the archiver needs: one of the
/// protected paths itself, or a directory on the way to one?
pub fn is_protected(target: &[u8], protected: &[Vec<u8>]) -> bool {
    protected.iter().any(|p| {
        p.as_slice() == target
            || (p.len() > target.len()
                && p.starts_with(target)
                && (target == b"/" || p[target.len()] == b'/'))
    })
}

/// The paths the archiver reads or writes: every operand of its command
/// line, as given relative to its working directory, and as the file system
/// resolves it (`canon`: realpath of the path, or of its directory).
pub fn protected_paths(
    args: &[Vec<u8>],
    cwd: &[u8],
    canon: impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for arg in args {
        if arg.is_empty() || arg[0] == b'-' {
            continue;
        }
        let arg = arg.strip_prefix(b"@").unwrap_or(arg);
        let abs = absolute(cwd, arg);
        if let Some(real) = canon(&abs) {
            out.push(real);
        }
        if let Some((dir, name)) = split_parent(&abs) {
            if let Some(mut real_dir) = canon(dir) {
                if real_dir != b"/" {
                    real_dir.push(b'/');
                }
                real_dir.extend_from_slice(name);
                out.push(real_dir);
            }
        }
        out.push(abs);
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn absolute_paths() {
        assert_eq!(absolute(b"/w", b"a.o"), v("/w/a.o"));
        assert_eq!(absolute(b"/w/x", b"../a.o"), v("/w/a.o"));
        assert_eq!(absolute(b"/w", b"/t/./b//c.o"), v("/t/b/c.o"));
        assert_eq!(absolute(b"/", b".."), v("/"));
    }

    #[test]
    fn parents() {
        assert_eq!(split_parent(b"/t/a.o"), Some((&b"/t"[..], &b"a.o"[..])));
        assert_eq!(split_parent(b"/a"), Some((&b"/"[..], &b"a"[..])));
        assert_eq!(split_parent(b"/"), None);
    }

    #[test]
    fn protection_covers_files_and_their_directories() {
        let p = vec![v("/tmp/ld123/a.o"), v("/out/lib.a")];
        assert!(is_protected(b"/tmp/ld123/a.o", &p));
        assert!(
            is_protected(b"/tmp/ld123", &p),
            "the temp dir holding an input"
        );
        assert!(is_protected(b"/tmp", &p));
        assert!(
            !is_protected(b"/tmp/ld12", &p),
            "a prefix that is not a directory on the way"
        );
        assert!(!is_protected(b"/tmp/ld123/a.o.tmp", &p));
        assert!(
            !is_protected(b"/tmp/ld123/map.txt", &p),
            "other files in the temp dir go at once"
        );
        assert!(is_protected(b"/out/lib.a", &p));
    }

    #[test]
    fn operands_relative_to_the_archivers_directory() {
        let canon = |p: &[u8]| -> Option<Vec<u8>> {
            // /w/tmp is a symlink to /real/tmp
            p.strip_prefix(b"/w/tmp")
                .map(|rest| [&b"/real/tmp"[..], rest].concat())
        };
        let args = vec![
            v("rcs"),
            v("lib.a"),
            v("tmp/a.o"),
            v("--plugin=/x.so"),
            v("@list"),
        ];
        let p = protected_paths(&args, b"/w", canon);
        assert!(p.contains(&v("/w/lib.a")));
        assert!(p.contains(&v("/w/tmp/a.o")));
        assert!(p.contains(&v("/real/tmp/a.o")));
        assert!(p.contains(&v("/w/list")));
        assert!(
            !p.iter().any(|x| x.ends_with(b"x.so")),
            "options are not operands"
        );
    }
}
