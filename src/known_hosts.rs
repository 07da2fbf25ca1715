//! Hosts we have proven either way (real toolchains differ). For each, by
//! executable basename: which programs count as its archiver, and whether
//! the archiver spawn is really its last act. `arshim run` uses the globs when
//! the user gave none, and refuses to convert a known non-final host unless
//! forced (docs/DESIGN.md, "Conversion" 8).

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
}

pub const TABLE: &[KnownHost] = &[
    KnownHost {
        names: &["gcc-ar", "gcc-ar-*", "*-gcc-ar", "*-gcc-ar-*"],
        tools: "ar,*-ar",
        not_final: None,
        failure_status: None,
        evidence: "gcc-ar vforks ar --plugin … and exits with its status",
    },
    KnownHost {
        names: &["ldc2", "ldmd2"],
        tools: "ar,*-ar,llvm-ar*",
        not_final: None,
        failure_status: Some(1),
        evidence: "ldc2 -lib --ar=ar posix_spawns ar as its last step; exits 1 if ar fails",
    },
    KnownHost {
        names: &["ghc", "ghc-*"],
        tools: "*ranlib",
        not_final: None,
        failure_status: Some(1),
        evidence:
            "ghc -staticlib builds the archive itself and runs ranlib last; exits 1 if it fails",
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
    },
];

/// `*` matches any run of characters (names here need nothing more).
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => name.strip_prefix(head).is_some_and(|rest| {
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob(tail, &rest[i..]))
        }),
    }
}

/// The entry for an executable's basename.
pub fn lookup(basename: &str) -> Option<&'static KnownHost> {
    TABLE
        .iter()
        .find(|h| h.names.iter().any(|p| glob(p, basename)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hosts_by_name() {
        assert_eq!(lookup("ghc").unwrap().tools, "*ranlib");
        assert_eq!(lookup("ghc-9.0.2").unwrap().tools, "*ranlib");
        assert!(lookup("gcc-ar").unwrap().not_final.is_none());
        assert!(lookup("x86_64-linux-gnu-gcc-ar-12").is_some());
        assert!(lookup("ldc2").unwrap().not_final.is_none());
        assert!(lookup("nim").unwrap().not_final.unwrap().contains("cache"));
        assert!(lookup("ocamlopt.opt")
            .unwrap()
            .not_final
            .unwrap()
            .contains(".cmxa"));
        assert!(lookup("ocamlc").is_some());
        assert_eq!(lookup("gcc"), None);
        assert_eq!(lookup("ar"), None);
        assert_eq!(lookup("ghcide"), None);
    }

    #[test]
    fn globs() {
        assert!(glob("*-gcc-ar-*", "x86_64-linux-gnu-gcc-ar-12"));
        assert!(glob("ghc-*", "ghc-9"));
        assert!(!glob("ghc-*", "ghc"));
        assert!(glob("ocamlopt", "ocamlopt"));
        assert!(!glob("ocamlopt", "ocamlopt2"));
    }
}
