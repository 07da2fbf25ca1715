//! Hosts we have proven either way (real toolchains differ; docs/DESIGN.md,
//! "Conversion" 8). For each, by executable basename: which programs count
//! as its archiver, whether the archiver spawn is really its last act, and
//! its own status for a failed archiver.
//!
//! One table for every program: the companion (`arshim run` sets a known
//! host's archiver globs and failure status, `doctor` and `verify` explain
//! with it) and the core, which refuses a known non-final host in every
//! process that would otherwise be in scope, however it was reached
//! (docs/DESIGN.md, "Scope"). `no_std`, allocation-free: names are matched
//! with the shared globs, on bytes.

use crate::glob::glob_match;

/// What we know of one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownHost {
    /// Globs on the executable's basename (the name it is called by).
    pub names: &'static [&'static str],
    /// `ARSHIM_TOOLS` for this host.
    pub tools: &'static str,
    /// `None`: ends with the archiver. `Some(why)`: does more work after it.
    pub not_final: Option<&'static str>,
    /// Its exit status when the archiver fails, if it does not pass the
    /// archiver's own status on (then the reaper reports a failure with it).
    pub failure_status: Option<u8>,
    /// How we know (shown at --log info).
    pub evidence: &'static str,
    /// Temporaries the host creates in a run and removes in its main code
    /// after its final spawn: globs on absolute paths, a leading `$TMPDIR`
    /// meaning the host's `TMPDIR` (else `/tmp`). Same syntax as
    /// `ARSHIM_TEMPS` (docs/DESIGN.md, "Conversion").
    pub temps: &'static [&'static str],
}

pub const TABLE: &[KnownHost] = &[
    KnownHost {
        names: &["gcc-ar", "gcc-ar-*", "*-gcc-ar", "*-gcc-ar-*"],
        tools: "ar,*-ar",
        not_final: None,
        failure_status: None,
        evidence: "gcc-ar vforks ar --plugin … and exits with its status",
        temps: &[],
    },
    KnownHost {
        names: &["ldc2", "ldmd2"],
        tools: "ar,*-ar,llvm-ar*",
        not_final: None,
        failure_status: Some(1),
        evidence: "ldc2 -lib --ar=ar posix_spawns ar as its last step; exits 1 if ar fails",
        temps: &[],
    },
    KnownHost {
        names: &["ghc", "ghc-*"],
        tools: "*ranlib",
        not_final: Some(
            "after ranlib, ghc deletes its temp files and its temp dir ($TMPDIR/ghcPID_0) \
             in its main code: converting would leave behind the .s/.o files its gcc and \
             as children wrote there (only ghc's own are handed to the reaper), and the dir",
        ),
        failure_status: Some(1),
        evidence: "observed (strace): ghc -staticlib builds the archive itself, runs ranlib, \
                   then unlinks its temp files (some written by gcc -S and as, its children) \
                   and rmdirs its temp dir; exits 1 if ranlib fails",
        temps: &["$TMPDIR/ghc*_*"],
    },
    KnownHost {
        names: &["nim", "nim-*"],
        tools: "ar,*-ar",
        not_final: Some(
            "after ar, nim writes its build cache (…/<project>.json) and prints a summary: \
             converting would lose both",
        ),
        failure_status: None,
        evidence: "observed: system(\"ar rcs …\"), then the cache file and the SuccessX line",
        temps: &[],
    },
    KnownHost {
        names: &[
            "ocamlopt",
            "ocamlopt.opt",
            "ocamlopt.byte",
            "ocamlc",
            "ocamlc.opt",
            "ocamlc.byte",
        ],
        tools: "ar,*-ar,*ranlib",
        not_final: Some(
            "after ar, ocamlopt runs ranlib and then writes the .cmxa it opened before: \
             converting leaves a 0-byte .cmxa",
        ),
        failure_status: None,
        evidence: "observed: system(\"…-ar rc …\"), system(\"…-ranlib …\"), then the .cmxa written",
        temps: &[],
    },
];

/// The entry for an executable's basename.
pub fn lookup(basename: &[u8]) -> Option<&'static KnownHost> {
    TABLE
        .iter()
        .find(|h| h.names.iter().any(|p| glob_match(p.as_bytes(), basename)))
}

/// The first of `names` (an executable's and `argv[0]`'s basenames) that is
/// a known host doing more work after its archiver, with the reason.
pub fn not_final<'a>(names: &[&'a [u8]]) -> Option<(&'a [u8], &'static str)> {
    names
        .iter()
        .filter(|n| !n.is_empty())
        .find_map(|n| lookup(n).and_then(|h| h.not_final).map(|why| (*n, why)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hosts_by_name() {
        assert_eq!(lookup(b"ghc").unwrap().tools, "*ranlib");
        assert!(lookup(b"ghc")
            .unwrap()
            .not_final
            .unwrap()
            .contains("temp dir"));
        assert_eq!(lookup(b"ghc-9.0.2").unwrap().tools, "*ranlib");
        assert_eq!(lookup(b"ghc").unwrap().temps, ["$TMPDIR/ghc*_*"]);
        assert!(lookup(b"ldc2").unwrap().temps.is_empty());
        assert!(lookup(b"gcc-ar").unwrap().not_final.is_none());
        assert!(lookup(b"x86_64-linux-gnu-gcc-ar-12").is_some());
        assert!(lookup(b"ldc2").unwrap().not_final.is_none());
        assert!(lookup(b"nim").unwrap().not_final.unwrap().contains("cache"));
        assert!(lookup(b"ocamlopt.opt")
            .unwrap()
            .not_final
            .unwrap()
            .contains(".cmxa"));
        assert!(lookup(b"ocamlc").is_some());
        assert_eq!(lookup(b"gcc"), None);
        assert_eq!(lookup(b"ar"), None);
        assert_eq!(lookup(b"ghcide"), None);
        assert_eq!(lookup(b"ocamlopt2"), None);
        assert_eq!(lookup(b"ghc"), lookup(b"ghc-9"));
        assert_eq!(lookup(b""), None);
    }

    #[test]
    fn not_final_names_the_matching_name() {
        assert_eq!(
            not_final(&[b"ocamlopt.opt", b"ocamlopt"]).map(|(n, _)| n),
            Some(&b"ocamlopt.opt"[..])
        );
        assert_eq!(
            not_final(&[b"my-wrapper", b"nim"]).map(|(n, _)| n),
            Some(&b"nim"[..])
        );
        assert_eq!(not_final(&[b"ldc2", b"ldc2"]), None, "final");
        assert_eq!(not_final(&[b"", b""]), None);
    }
}
