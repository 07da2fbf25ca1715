//! The host's temporaries (docs/DESIGN.md, "verify: temporaries taken
//! over"): which deletions after the archiver a conversion hands to the
//! reaper, and which it never makes.
//!
//! A deletion by the host's main code after the archiver is taken over only
//! when its path matches the temps globs (`--temps`, the known host's) AND
//! the host created it in this run (the observed run's `created` events:
//! the library records what the process in scope creates, by dev/ino). One
//! that matches but was there before (not the host's) is never removed by a
//! conversion. One the host created that no glob covers gets a hint: the
//! glob that would.
//!
//! Pure: paths and globs in, reasons and lists out.

use std::collections::BTreeSet;

/// The temps globs of a run, `$TMPDIR` expanded: what a conversion hands to
/// the reaper when the host created it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Globs {
    /// As given (`--temps`, then the known host's), for the messages.
    pub shown: Vec<String>,
    /// Absolute globs, `$TMPDIR` replaced by the host's temp dir.
    expanded: Vec<String>,
    /// That temp dir.
    tmp: String,
}

impl Globs {
    /// `user`: the comma list given with `--temps`; `known`: the known
    /// host's; `tmpdir`: the `TMPDIR` the runs get (as the library reads
    /// it: when absolute, else `/tmp`).
    pub fn new(user: Option<&str>, known: &[&str], tmpdir: Option<&str>) -> Globs {
        let tmp = match tmpdir.filter(|t| t.starts_with('/')) {
            Some(t) if t.trim_end_matches('/').is_empty() => "/",
            Some(t) => t.trim_end_matches('/'),
            None => "/tmp",
        };
        let mut shown: Vec<String> = Vec::new();
        let given = user.unwrap_or_default().split(',').map(str::trim);
        for g in given.chain(known.iter().copied()) {
            if !g.is_empty() && !shown.iter().any(|s| s == g) {
                shown.push(g.to_owned());
            }
        }
        let expanded = shown.iter().map(|g| expand(g, tmp)).collect();
        Globs {
            shown,
            expanded,
            tmp: tmp.to_owned(),
        }
    }

    /// The runs' temp dir (`$TMPDIR`, else `/tmp`); empty for no globs.
    pub fn tmpdir(&self) -> &str {
        &self.tmp
    }

    pub fn is_empty(&self) -> bool {
        self.shown.is_empty()
    }

    /// Does a glob match this absolute path or one of its directories (a
    /// temp dir's glob covers what is inside it), as the library matches?
    pub fn matches(&self, path: &str) -> bool {
        let dirs = path
            .match_indices('/')
            .filter(|&(i, _)| i > 0)
            .map(|(i, _)| &path[..i]);
        dirs.chain([path]).any(|p| {
            self.expanded
                .iter()
                .any(|g| arshim_common::glob::glob_match(g.as_bytes(), p.as_bytes()))
        })
    }

    /// `a,b` as `--temps` takes it.
    pub fn list(&self) -> String {
        self.shown.join(",")
    }
}

fn expand(glob: &str, tmp: &str) -> String {
    match glob.strip_prefix("$TMPDIR") {
        Some(rest) if rest.starts_with('/') => format!("{}{rest}", tmp.trim_end_matches('/')),
        _ => glob.to_owned(),
    }
}

/// A file or directory the host created in the observed run (its `created`
/// event), still there when the archiver ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub path: String,
    pub dev: Option<u64>,
    pub ino: Option<u64>,
}

/// One deletion by the host's main code after the archiver (its `after`
/// event of `what: delete`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// As the host named it (relative to its directory or dirfd, maybe).
    pub path: String,
    /// Made absolute by the library when it could.
    pub abs: Option<String>,
    /// What it was just before, when the library could tell.
    pub dev: Option<u64>,
    pub ino: Option<u64>,
}

impl Deletion {
    /// The name to show and to match: absolute when known.
    pub fn shown(&self) -> &str {
        self.abs.as_deref().unwrap_or(&self.path)
    }

    /// Created by the host in this run: the same file (dev and ino) as a
    /// `created` event's, else the same absolute path when either side
    /// could not tell the file.
    fn created_by_host(&self, created: &[Created]) -> bool {
        created
            .iter()
            .any(|c| match (self.dev, self.ino, c.dev, c.ino) {
                (Some(d), Some(i), Some(cd), Some(ci)) => d == cd && i == ci,
                _ => self.abs.as_deref() == Some(c.path.as_str()),
            })
    }
}

/// The deletions after the archiver, split.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// Created by the host and matched by the globs: the conversion hands
    /// them to the reaper (absolute paths, in order, once each).
    pub taken: Vec<String>,
    /// Matched by the globs but not created by the host in this run.
    pub not_created: Vec<String>,
    /// Created by the host, matched by no glob.
    pub created_uncovered: Vec<String>,
    /// Neither created by the host nor matched.
    pub other: Vec<String>,
}

/// Splits the deletions by the globs and what the host created.
pub fn split(deletions: &[Deletion], created: &[Created], globs: &Globs) -> Split {
    let mut out = Split::default();
    for d in deletions {
        let shown = d.shown().to_owned();
        let absolute = d.abs.is_some();
        let list = match (
            absolute && globs.matches(&shown),
            d.created_by_host(created),
        ) {
            (true, true) => &mut out.taken,
            (true, false) => &mut out.not_created,
            (false, true) => &mut out.created_uncovered,
            (false, false) => &mut out.other,
        };
        if !list.contains(&shown) {
            list.push(shown);
        }
    }
    out
}

/// The globs that would cover `paths` (absolute, created by the host): per
/// topmost path (none of whose ancestors is among them), its parent and
/// its name's stem with a `*` — `/tmp/myhost.*` for `/tmp/myhost.Ab12Cd`,
/// which covers what is under it too. `$TMPDIR/…` when the parent is the
/// runs' temp dir.
pub fn hint(paths: &[String], tmpdir: &str) -> String {
    let mut globs: BTreeSet<String> = BTreeSet::new();
    for p in paths {
        let under_another = paths
            .iter()
            .any(|q| q != p && p.starts_with(q.as_str()) && p[q.len()..].starts_with('/'));
        if under_another {
            continue;
        }
        let (parent, name) = p.rsplit_once('/').unwrap_or(("", p));
        let parent = if !tmpdir.is_empty() && parent == tmpdir.trim_end_matches('/') {
            "$TMPDIR"
        } else {
            parent
        };
        globs.insert(format!("{parent}/{}", stem_glob(name)));
    }
    globs.into_iter().collect::<Vec<_>>().join(",")
}

/// `myhost.Ab12Cd` → `myhost.*`, `ghc1234_0` → `ghc*`, `rustcAbC123`
/// → `rustc*`: the part a temp-name generator keeps (before the first
/// separator, else all but mkdtemp's six random characters, without a
/// pid or counter), then `*`. A name with no such part is kept whole.
fn stem_glob(name: &str) -> String {
    let is_sep = |c: char| matches!(c, '.' | '_' | '-');
    let first_sep = name
        .char_indices()
        .skip(1)
        .find(|&(_, c)| is_sep(c))
        .map(|(i, _)| i);
    let base = match first_sep {
        Some(i) => &name[..i],
        None if name.len() > 6 && name.is_char_boundary(name.len() - 6) => &name[..name.len() - 6],
        None => name,
    };
    let base = base.trim_end_matches(|c: char| c.is_ascii_digit());
    if base.len() == name.len() || !base.chars().any(|c| c.is_alphanumeric()) {
        return name.to_owned();
    }
    match name[base.len()..].chars().next() {
        Some(sep) if is_sep(sep) => format!("{base}{sep}*"),
        _ => format!("{base}*"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(user: &str, known: &[&str]) -> Globs {
        Globs::new(Some(user), known, Some("/t/"))
    }

    fn del(path: &str, dev_ino: Option<(u64, u64)>) -> Deletion {
        Deletion {
            path: path.to_owned(),
            abs: path.starts_with('/').then(|| path.to_owned()),
            dev: dev_ino.map(|d| d.0),
            ino: dev_ino.map(|d| d.1),
        }
    }

    fn made(path: &str, dev_ino: Option<(u64, u64)>) -> Created {
        Created {
            path: path.to_owned(),
            dev: dev_ino.map(|d| d.0),
            ino: dev_ino.map(|d| d.1),
        }
    }

    #[test]
    fn globs_expand_tmpdir_and_cover_what_is_under_a_directory() {
        let g = globs(" /w/*.o ,$TMPDIR/my.*", &["$TMPDIR/ghc*_*", "/w/*.o"]);
        assert_eq!(g.shown, ["/w/*.o", "$TMPDIR/my.*", "$TMPDIR/ghc*_*"]);
        assert_eq!(g.list(), "/w/*.o,$TMPDIR/my.*,$TMPDIR/ghc*_*");
        assert!(g.matches("/t/my.Ab12"));
        assert!(g.matches("/t/my.Ab12/a.o"));
        assert!(g.matches("/t/ghc123_0/ghc_1.rsp"));
        assert!(!g.matches("/tmp/my.Ab12"));
        assert!(!g.matches("/t/other"));
        let unset = Globs::new(Some("$TMPDIR/x*"), &[], None);
        assert!(unset.matches("/tmp/x1"));
        let relative = Globs::new(Some("$TMPDIR/x*"), &[], Some("rel"));
        assert!(relative.matches("/tmp/x1/y"));
        assert!(!globs("/w/keep", &[]).matches("/w/keeper"));
        assert!(!globs("/w/keep", &[]).matches("/w"));
        assert!(Globs::new(None, &[], None).is_empty());
        assert!(!Globs::new(Some("$TMPDIRx/a"), &[], None).matches("/tmpx/a"));
    }

    #[test]
    fn deletions_split_by_glob_and_by_who_created_them() {
        let g = globs("$TMPDIR/my.*", &[]);
        let created = [
            made("/t/my.1", Some((1, 10))),
            made("/t/my.1/a.o", Some((1, 11))),
            made("/w/x.o", Some((1, 12))),
            made("/t/my.2/b", None),
        ];
        let dels = [
            del("/t/my.1/a.o", Some((1, 11))),
            del("/t/my.1/a.o", Some((1, 11))),
            del("/t/my.1", Some((1, 10))),
            // Same path as a created file, but another file: not the host's.
            del("/t/my.1/c", Some((1, 99))),
            del("/t/my.2/b", Some((1, 13))),
            del("/w/x.o", Some((1, 12))),
            del("/w/y.o", Some((1, 14))),
            del("rel.o", None),
        ];
        let s = split(&dels, &created, &g);
        assert_eq!(s.taken, ["/t/my.1/a.o", "/t/my.1", "/t/my.2/b"]);
        assert_eq!(s.not_created, ["/t/my.1/c"]);
        assert_eq!(s.created_uncovered, ["/w/x.o"]);
        assert_eq!(s.other, ["/w/y.o", "rel.o"]);
    }

    #[test]
    fn hints_name_the_topmost_created_paths_by_their_stem() {
        let paths = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            hint(
                &paths(&["/tmp/myhost.Ab12Cd/a.o", "/tmp/myhost.Ab12Cd"]),
                "/tmp"
            ),
            "$TMPDIR/myhost.*"
        );
        assert_eq!(hint(&paths(&["/t/ghc1234_0"]), "/tmp"), "/t/ghc*");
        assert_eq!(
            hint(&paths(&["/w/rustcAbC123", "/w/x.o"]), "/tmp"),
            "/w/rustc*,/w/x.*"
        );
        assert_eq!(stem_glob("vthost.Xy12Ab"), "vthost.*");
        assert_eq!(stem_glob("cc1234.res"), "cc*");
        assert_eq!(stem_glob("ab"), "ab");
        assert_eq!(stem_glob("tmp123"), "tmp*");
        assert_eq!(stem_glob(".hidden"), ".hidden");
        assert_eq!(stem_glob("123"), "123");
    }
}
