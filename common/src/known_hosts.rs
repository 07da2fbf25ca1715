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
    /// The line it prints itself for a failed archiver or link, after the
    /// spawn returned: what the reaper prints in its place.
    pub failure_line: Option<LineStyle>,
    /// How we know (shown at --log info).
    pub evidence: &'static str,
    /// Temporaries the host creates in a run and removes in its main code
    /// after its final spawn: globs on absolute paths, a leading `$TMPDIR`
    /// meaning the host's `TMPDIR` (else `/tmp`). Same syntax as
    /// `ARSHIM_TEMPS` (docs/DESIGN.md, "Conversion").
    pub temps: &'static [&'static str],
}

/// The link drivers a compiler host spawns for its link (docs/DESIGN.md,
/// "Compilers"): GCC's and Clang's, by the names Debian installs (`cc`,
/// `gcc-12`, `x86_64-linux-gnu-gcc-12`, `clang-15`); only a run that links
/// can convert ("Conversion" 10).
macro_rules! link_drivers {
    () => {
        "cc,c++,gcc,gcc-[0-9]*,*-gcc,*-gcc-[0-9]*,g++,g++-[0-9]*,*-g++,*-g++-[0-9]*,\
         clang,clang-[0-9]*,clang++,clang++-[0-9]*,*-clang,*-clang++"
    };
}

pub const TABLE: &[KnownHost] = &[
    KnownHost {
        names: &["gcc-ar", "gcc-ar-*", "*-gcc-ar", "*-gcc-ar-*"],
        tools: "ar,*-ar",
        not_final: None,
        failure_status: None,
        failure_line: None,
        evidence: "gcc-ar vforks ar --plugin … and exits with its status",
        temps: &[],
    },
    KnownHost {
        names: &["ldc2", "ldmd2"],
        tools: concat!("ar,*-ar,llvm-ar*,", link_drivers!()),
        not_final: None,
        failure_status: Some(1),
        failure_line: Some(LineStyle::Ldc2),
        evidence: "observed (strace): ldc2 -lib posix_spawns ar, and ldc2 -of=exe (or -shared) \
                   posix_spawns the link driver (cc, or -gcc=/$CC) with its output not captured, \
                   as its last step; waits, exits 1 if it fails",
        temps: &[],
    },
    KnownHost {
        names: &["rustc"],
        tools: link_drivers!(),
        not_final: Some(
            "rustc reads the linker's output through a pipe until the linker ends, then prints \
             it only if the link failed, reads the binary and deletes its temporaries: a \
             conversion would come after the linker ended and would lose rustc's error message",
        ),
        failure_status: Some(1),
        failure_line: None,
        evidence: "observed (strace, incremental or not): a worker thread forks and execs cc with \
                   stdout and stderr on pipes, polls them to EOF, then wait4s; then reads the \
                   binary, unlinks symbols.o, its $TMPDIR/rustc* dir and the .rcgu.o inputs",
        temps: &[],
    },
    KnownHost {
        names: &["ghc", "ghc-*"],
        tools: "*ranlib",
        not_final: None,
        failure_status: Some(1),
        failure_line: Some(LineStyle::Ghc),
        evidence: "observed (strace): ghc -staticlib builds the archive itself, runs ranlib \
                   last, then in its main code unlinks its temp files and rmdirs its temp dir \
                   ($TMPDIR/ghcPID_0); exits 1 if ranlib fails. The files are ghc's own \
                   (mkdir, open O_CREAT of new names, rename of as's ghc_N.o.tmp) or written \
                   by the gcc -S and as it spawned with -o naming a missing file there: all \
                   handed to the reaper (its temps glob); arshim verify says SAFE for \
                   `ghc -staticlib -o libfoo.a Foo.hs` from source",
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
        failure_line: None,
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
        failure_line: None,
        evidence: "observed: system(\"…-ar rc …\"), system(\"…-ranlib …\"), then the .cmxa written",
        temps: &[],
    },
];

/// How a known host reports a failed archiver or link itself, after the
/// spawn returned (docs/DESIGN.md, "Conversion" 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStyle {
    /// ldc2: `Error: PROGRAM failed with status: N`, its `Error: ` bold red
    /// when it writes in colour (seen with ldc2 1.30).
    Ldc2,
    /// ghc, for its ranlib: `` `NAME' failed in phase `Ranlib'. (Exit code:
    /// N)``, never in colour (seen with ghc 9.0.2).
    Ghc,
}

/// The line a conversion prints for the host when its archiver or link
/// fails: the host's style, and whether the host would have used colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureLine {
    pub style: LineStyle,
    pub colour: bool,
}

impl LineStyle {
    /// Whether ldc2 writes its messages in colour: as its last
    /// `-enable-color[=BOOL]` says (`args`: its arguments, response files
    /// expanded; `None` when they could not be read), else when stderr is a
    /// terminal and `TERM` is set, not empty and not `dumb`.
    pub fn colour(self, args: Option<&[&[u8]]>, stderr_tty: bool, term: Option<&[u8]>) -> bool {
        if self == LineStyle::Ghc {
            return false;
        }
        let chosen = args.and_then(|args| {
            args.iter().rev().find_map(|arg| {
                let rest = arg
                    .strip_prefix(b"--enable-color")
                    .or_else(|| arg.strip_prefix(b"-enable-color"))?;
                match rest {
                    b"" => Some(true),
                    b"=true" | b"=TRUE" | b"=True" | b"=1" => Some(true),
                    b"=false" | b"=FALSE" | b"=False" | b"=0" => Some(false),
                    _ => None,
                }
            })
        });
        chosen.unwrap_or_else(|| stderr_tty && term.is_some_and(|t| !t.is_empty() && t != b"dumb"))
    }
}

impl FailureLine {
    /// As the reaper's argument: `ldc2`, or `ldc2+colour`.
    pub fn arg(self) -> &'static str {
        match (self.style, self.colour) {
            (LineStyle::Ldc2, false) => "ldc2",
            (LineStyle::Ldc2, true) => "ldc2+colour",
            (LineStyle::Ghc, _) => "ghc",
        }
    }

    pub fn parse(arg: &str) -> Option<FailureLine> {
        let (style, colour) = match arg.strip_suffix("+colour") {
            Some(style) => (style, true),
            None => (arg, false),
        };
        match (style, colour) {
            ("ldc2", _) => Some(FailureLine {
                style: LineStyle::Ldc2,
                colour,
            }),
            ("ghc", false) => Some(FailureLine {
                style: LineStyle::Ghc,
                colour,
            }),
            _ => None,
        }
    }
}

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

/// Options with which a final known host does more work after its final
/// spawn (docs/DESIGN.md, "Compilers"): the host by its entry's first name,
/// the options (alone, or `OPTION=VALUE` with a value other than `false`
/// or `0`), and why. They are looked for in the arguments with the
/// response files (`@FILE`) expanded; one that cannot be read may hold any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotFinalWith {
    pub host: &'static str,
    pub options: &'static [&'static str],
    pub why: &'static str,
}

pub const NOT_FINAL_WITH: &[NotFinalWith] = &[NotFinalWith {
    host: "ldc2",
    options: &["-run", "--run", "-cleanup-obj", "--cleanup-obj"],
    why: "with -run ldc2 runs the program it linked, then deletes it; with -cleanup-obj it \
          deletes its object files after the link: converting the link would lose that work",
}];

impl NotFinalWith {
    /// The rule for a known host among `names` (an executable's and
    /// `argv[0]`'s basenames), if it has one.
    pub fn for_names(names: &[&[u8]]) -> Option<&'static NotFinalWith> {
        let first = names
            .iter()
            .filter(|n| !n.is_empty())
            .find_map(|n| lookup(n))?
            .names
            .first()?;
        NOT_FINAL_WITH.iter().find(|rule| rule.host == *first)
    }

    /// Whether `arg` (one of the host's arguments, response files
    /// expanded) is one of the options.
    pub fn given(&self, arg: &[u8]) -> bool {
        self.options.iter().any(|option| {
            let option = option.as_bytes();
            match arg.strip_prefix(option) {
                Some(b"") => true,
                Some(rest) => match rest.strip_prefix(b"=") {
                    Some(value) => value != b"false" && value != b"0",
                    None => false,
                },
                None => false,
            }
        })
    }
}

/// As `not_final`, with the whole entry (the core says the refusal unless
/// the companion already said it for the entry).
pub fn not_final_entry<'a>(names: &[&'a [u8]]) -> Option<(&'a [u8], &'static KnownHost)> {
    names
        .iter()
        .filter(|n| !n.is_empty())
        .find_map(|n| lookup(n).filter(|h| h.not_final.is_some()).map(|h| (*n, h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldc2_reports_a_failed_tool_in_its_own_line() {
        assert_eq!(lookup(b"ldc2").unwrap().failure_line, Some(LineStyle::Ldc2));
        assert_eq!(lookup(b"ghc").unwrap().failure_line, Some(LineStyle::Ghc));
        assert_eq!(lookup(b"gcc-ar").unwrap().failure_line, None);
        let plain = FailureLine {
            style: LineStyle::Ldc2,
            colour: false,
        };
        let colour = FailureLine {
            colour: true,
            ..plain
        };
        let ghc = FailureLine {
            style: LineStyle::Ghc,
            colour: false,
        };
        for line in [plain, colour, ghc] {
            assert_eq!(FailureLine::parse(line.arg()), Some(line));
        }
        assert_eq!(FailureLine::parse("gcc"), None);
        assert_eq!(FailureLine::parse("ghc+colour"), None);
        assert!(!LineStyle::Ghc.colour(Some(&[]), true, Some(b"xterm")));
    }

    #[test]
    fn ldc2_colour_is_its_option_else_a_terminal_with_a_term() {
        let ldc2 = LineStyle::Ldc2;
        assert!(ldc2.colour(Some(&[]), true, Some(b"xterm")));
        assert!(!ldc2.colour(Some(&[]), true, Some(b"dumb")));
        assert!(!ldc2.colour(Some(&[]), true, Some(b"")));
        assert!(!ldc2.colour(Some(&[]), true, None));
        assert!(!ldc2.colour(Some(&[]), false, Some(b"xterm")));
        assert!(!ldc2.colour(None, false, Some(b"xterm")));
        let on: &[&[u8]] = &[b"-enable-color"];
        assert!(ldc2.colour(Some(on), false, None));
        let off: &[&[u8]] = &[b"-enable-color", b"x.d", b"--enable-color=false"];
        assert!(!ldc2.colour(Some(off), true, Some(b"xterm")));
        let odd: &[&[u8]] = &[b"-enable-colorful"];
        assert!(!ldc2.colour(Some(odd), false, Some(b"xterm")));
    }

    #[test]
    fn finds_hosts_by_name() {
        assert_eq!(lookup(b"ghc").unwrap().tools, "*ranlib");
        assert!(lookup(b"ghc").unwrap().not_final.is_none());
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
    fn compilers_link_with_the_system_drivers() {
        use crate::glob::list_matches;
        let ldc2 = lookup(b"ldmd2").unwrap().tools.as_bytes();
        let rustc = lookup(b"rustc").unwrap();
        assert!(rustc.not_final.unwrap().contains("error message"));
        for driver in [
            &b"cc"[..],
            b"gcc",
            b"gcc-12",
            b"x86_64-linux-gnu-gcc-12",
            b"c++",
            b"clang-15",
            b"aarch64-linux-gnu-g++",
        ] {
            assert!(list_matches(ldc2, driver), "{driver:?}");
            assert!(list_matches(rustc.tools.as_bytes(), driver), "{driver:?}");
        }
        for other in [&b"gcc-ar"[..], b"gcc-nm-12", b"ccache", b"ld", b"rustdoc"] {
            assert!(!list_matches(rustc.tools.as_bytes(), other), "{other:?}");
        }
        assert!(list_matches(ldc2, b"ar") && list_matches(ldc2, b"llvm-ar-14"));
        assert_eq!(lookup(b"rustdoc"), None);
    }

    #[test]
    fn ldc2_is_not_final_with_run_or_cleanup_obj() {
        let rule = NotFinalWith::for_names(&[b"ldmd2", b""]).unwrap();
        assert_eq!(rule.host, "ldc2");
        for arg in [
            &b"-run"[..],
            b"--run",
            b"-cleanup-obj",
            b"--cleanup-obj=true",
        ] {
            assert!(rule.given(arg), "{arg:?}");
        }
        for arg in [
            &b"-cleanup-obj=false"[..],
            b"-cleanup-obj=0",
            b"-running",
            b"app.d",
            b"-of=app",
            b"",
        ] {
            assert!(!rule.given(arg), "{arg:?}");
        }
        assert_eq!(NotFinalWith::for_names(&[b"gcc-ar", b"gcc-ar"]), None);
        assert_eq!(NotFinalWith::for_names(&[b"ld", b"ld"]), None);
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
