//! `arshim env`: print the settings to export for a whole build, in the
//! syntax of sh, fish or GNU make.
//!
//! LD_PRELOAD is written as an expression over its value at eval time (not the
//! value we see now), since the output may be saved and used elsewhere. The
//! expression leaves a LD_PRELOAD that already lists the library alone, so
//! evaluating the output twice (a shell rc and a build script) preloads the
//! library once.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::cli::{EnvArgs, Shell};
use crate::failure::Failure;
use crate::settings::{var, Change, Scope, Settings, DEFAULT_TOOLS};
use crate::{locate, preload, quote};

/// Why `env` needs `--hosts`: exported settings outlive the command that
/// printed them, and without a list the first program of the shell to load
/// the library claims it (docs/DESIGN.md, "Scope") — a Python or Perl build
/// driver, which is not on the drivers list, would convert at its first
/// archiver spawn and never run its second.
const NO_HOSTS: &str = "env needs --hosts GLOBS, the names of the linkers that may convert: \
     without it, the first program of the shell to load the library (a build driver too) would \
     be converted at its first archiver spawn and end there. For one command, use `arshim run -- CMD`";

pub fn env(args: EnvArgs) -> Result<(), Failure> {
    let Some(hosts) = args.config.hosts.clone() else {
        return Err(Failure::usage(NO_HOSTS));
    };
    let library = locate::library()?;
    let settings = args
        .config
        .into_settings(Scope::Hosts(hosts), locate::companion()?)?;
    let text = render(args.shell, &library, &settings)?;
    match std::io::stdout().lock().write_all(&text) {
        // A reader that stopped early (`| head`) is not our error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::new(1, format!("cannot write the settings: {e}")))
        }
        _ => Ok(()),
    }
}

/// The full output for `shell`.
pub fn render(shell: Shell, library: &Path, settings: &Settings) -> Result<Vec<u8>, Failure> {
    preload::check_preloadable(library)?;
    let syntax = match shell {
        Shell::Sh => &SH,
        Shell::Fish => &FISH,
        Shell::Make => &MAKE,
    };
    let mut out = Vec::new();
    line(&mut out, syntax.header.as_bytes());
    line(&mut out, &(syntax.preload)(library.as_os_str().as_bytes())?);
    for change in settings.changes() {
        match change {
            Change::Set(name, value) => line(&mut out, &syntax.set(name, value.as_bytes())?),
            Change::Unset(name) => line(&mut out, &syntax.unset(name)),
        }
    }
    if settings.tools.is_none() {
        let note = format!(
            "# {} not set: the library's default is {DEFAULT_TOOLS}",
            var::TOOLS
        );
        line(&mut out, note.as_bytes());
    }
    Ok(out)
}

fn line(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(text);
    out.push(b'\n');
}

/// How one output syntax spells each kind of line.
struct Syntax {
    header: &'static str,
    /// Our library first, then whatever LD_PRELOAD holds when the output is
    /// used, unless one of LD_PRELOAD's entries (split on ':' and ' ', as
    /// ld.so splits it) already is the library.
    preload: fn(&[u8]) -> Result<Vec<u8>, Failure>,
    /// `export NAME=VALUE`: the words before NAME and between it and VALUE.
    set: (&'static [u8], &'static [u8]),
    /// What goes before NAME to unset it, and after it.
    unset: &'static [u8],
    unset_end: &'static [u8],
    /// VALUE (of NAME) quoted for this syntax, or why it cannot be.
    quote: fn(&str, &[u8]) -> Result<Vec<u8>, Failure>,
}

const SH: Syntax = Syntax {
    header: "# arshim settings for sh: eval \"$(arshim env --hosts GLOBS)\"",
    preload: sh_preload,
    set: (b"export ", b"="),
    unset: b"unset ",
    unset_end: b"",
    quote: |_, value| Ok(quote::sh(value)),
};

const FISH: Syntax = Syntax {
    header: "# arshim settings for fish: arshim env --shell fish --hosts GLOBS | source",
    preload: fish_preload,
    set: (b"set -gx ", b" "),
    // `set -e` fails on an unset name; `; or true` (see `unset`) keeps the
    // status of `| source` 0, so `…| source; and make` runs make.
    unset: b"set -e ",
    unset_end: b"; or true",
    quote: |_, value| Ok(quote::fish(value)),
};

const MAKE: Syntax = Syntax {
    header: "# arshim settings for GNU make: include this file from the top Makefile",
    preload: make_preload,
    set: (b"export ", b" := "),
    // Keeps an inherited value away from recipes and sub-makes.
    unset: b"unexport ",
    unset_end: b"",
    quote: make_value,
};

impl Syntax {
    fn set(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, Failure> {
        let (before, between) = self.set;
        Ok([
            before,
            name.as_bytes(),
            between,
            &(self.quote)(name, value)?,
        ]
        .concat())
    }

    fn unset(&self, name: &str) -> Vec<u8> {
        [self.unset, name.as_bytes(), self.unset_end].concat()
    }
}

/// sh: a `case` on LD_PRELOAD padded with spaces; ':' joins only when there
/// is something to join, so no empty entry.
fn sh_preload(library: &[u8]) -> Result<Vec<u8>, Failure> {
    let lib = quote::sh(library);
    Ok([
        &b"case \" ${LD_PRELOAD-} \" in *[\\ :]"[..],
        &lib,
        b"[\\ :]*) export LD_PRELOAD ;; *) export LD_PRELOAD=",
        &lib,
        b"\"${LD_PRELOAD:+:$LD_PRELOAD}\" ;; esac",
    ]
    .concat())
}

/// fish: a regex on LD_PRELOAD padded with spaces (a list is joined with
/// spaces, which is also how fish exports it and ld.so splits it); an unset
/// LD_PRELOAD expands to nothing.
fn fish_preload(library: &[u8]) -> Result<Vec<u8>, Failure> {
    let mut regex = b"[ :]".to_vec();
    for &b in library {
        // PCRE2: a backslash before an ASCII non-alphanumeric is that character.
        if b.is_ascii() && !b.is_ascii_alphanumeric() {
            regex.push(b'\\');
        }
        regex.push(b);
    }
    regex.extend_from_slice(b"[ :]");
    Ok([
        &b"string match -qr -- "[..],
        &quote::fish(&regex),
        b" \" $LD_PRELOAD \"; or set -gx LD_PRELOAD ",
        &quote::fish(library),
        b" $LD_PRELOAD",
    ]
    .concat())
}

/// GNU make: the library in a variable of its own (a ',' or ')' in its path
/// cannot break the function calls), `%` escaped for `filter`; entries
/// space-separated (ld.so accepts it); strip avoids a trailing blank.
fn make_preload(library: &[u8]) -> Result<Vec<u8>, Failure> {
    Ok([
        &b"arshim_library := "[..],
        &make_value(var::PRELOAD, library)?,
        b"\nexport LD_PRELOAD := $(strip $(if $(filter $(subst %,\\%,$(arshim_library)),\
          $(subst :, ,$(LD_PRELOAD))),$(LD_PRELOAD),$(arshim_library) $(LD_PRELOAD)))",
    ]
    .concat())
}

fn make_value(name: &str, value: &[u8]) -> Result<Vec<u8>, Failure> {
    quote::make(value).map_err(|why| {
        Failure::usage(format!(
            "{name}={}: cannot be written for make: it {why}",
            String::from_utf8_lossy(value)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Mode;
    use std::path::PathBuf;

    const LIB: &str = "/opt/arshim/lib/arshim/libarshim.so";

    fn settings(tools: Option<&str>, scope: Scope) -> Settings {
        Settings {
            mode: Mode::Exec,
            scope,
            tools: tools.map(str::to_owned),
            log: None,
            trace: None,
            companion: PathBuf::from("/opt/arshim/bin/arshim"),
            failure_status: None,
            force: false,
            verified_only: false,
            temps: None,
        }
    }

    fn text(shell: Shell, s: &Settings) -> String {
        String::from_utf8(render(shell, Path::new(LIB), s).unwrap()).unwrap()
    }

    #[test]
    fn sh_output() {
        assert_eq!(
            text(Shell::Sh, &settings(None, Scope::Hosts("ld*".into()))),
            "# arshim settings for sh: eval \"$(arshim env --hosts GLOBS)\"\n\
             case \" ${LD_PRELOAD-} \" in *[\\ :]/opt/arshim/lib/arshim/libarshim.so[\\ :]*) \
             export LD_PRELOAD ;; *) export LD_PRELOAD=/opt/arshim/lib/arshim/libarshim.so\
             \"${LD_PRELOAD:+:$LD_PRELOAD}\" ;; esac\n\
             export ARSHIM=1\n\
             unset ARSHIM_PID\n\
             export ARSHIM_HOSTS='ld*'\n\
             export ARSHIM_COMPANION=/opt/arshim/bin/arshim\n\
             unset ARSHIM_FAILURE_STATUS\n\
             unset ARSHIM_FORCE\n\
             unset ARSHIM_VERIFIED_ONLY\n\
             unset ARSHIM_SPENT\n\
             # ARSHIM_TOOLS not set: the library's default is ar,*-ar,llvm-ar*,gcc-ar*\n"
        );
    }

    #[test]
    fn sh_quotes_globs() {
        let t = text(
            Shell::Sh,
            &settings(Some("*-ar,ar"), Scope::Hosts("ld-legacy*".into())),
        );
        assert!(t.contains("export ARSHIM_TOOLS='*-ar,ar'\n"), "{t}");
        assert!(t.contains("export ARSHIM_HOSTS='ld-legacy*'\n"), "{t}");
        assert!(!t.contains("not set"), "{t}");
    }

    #[test]
    fn fish_output() {
        let t = text(
            Shell::Fish,
            &settings(Some("ar,*-ar"), Scope::Hosts("ld".into())),
        );
        assert!(
            t.contains(&format!(
                "string match -qr -- '[ :]\\\\/opt\\\\/arshim\\\\/lib\\\\/arshim\\\\/libarshim\\\\.so[ :]' \
                 \" $LD_PRELOAD \"; or set -gx LD_PRELOAD {LIB} $LD_PRELOAD\n"
            )),
            "{t}"
        );
        assert!(t.contains("set -gx ARSHIM 1\n"), "{t}");
        assert!(t.contains("set -gx ARSHIM_TOOLS 'ar,*-ar'\n"), "{t}");
        assert!(t.contains("set -e ARSHIM_PID; or true\n"), "{t}");
        assert!(!t.contains("export"), "{t}");
    }

    #[test]
    fn make_output() {
        let t = text(
            Shell::Make,
            &settings(Some("ar,*-ar"), Scope::Hosts("ld".into())),
        );
        assert!(
            t.contains(&format!(
                "arshim_library := {LIB}\nexport LD_PRELOAD := $(strip $(if $(filter \
                 $(subst %,\\%,$(arshim_library)),$(subst :, ,$(LD_PRELOAD))),$(LD_PRELOAD),\
                 $(arshim_library) $(LD_PRELOAD)))\n"
            )),
            "{t}"
        );
        assert!(t.contains("export ARSHIM := 1\n"), "{t}");
        assert!(t.contains("export ARSHIM_TOOLS := ar,*-ar\n"), "{t}");
        assert!(t.contains("export ARSHIM_HOSTS := ld\n"), "{t}");
        assert!(t.contains("unexport ARSHIM_PID\n"), "{t}");
    }

    #[test]
    fn make_refuses_unspellable_values() {
        let mut s = settings(None, Scope::Hosts("ld".into()));
        s.log = Some("info\nall".into());
        let err = render(Shell::Make, Path::new(LIB), &s).unwrap_err();
        assert!(err.message.contains("ARSHIM_LOG"), "{}", err.message);
        assert!(
            render(Shell::Sh, Path::new(LIB), &s).is_ok(),
            "sh can quote a newline"
        );
    }

    #[test]
    fn observe_and_tracing_are_exported() {
        let mut s = settings(None, Scope::Hosts("ld".into()));
        s.mode = Mode::Observe;
        s.trace = Some("/tmp/my trace.jsonl".into());
        let t = text(Shell::Sh, &s);
        assert!(t.contains("export ARSHIM=observe\n"), "{t}");
        assert!(
            t.contains("export ARSHIM_TRACE='/tmp/my trace.jsonl'\n"),
            "{t}"
        );
    }

    #[test]
    fn unpreloadable_library_is_refused() {
        let s = settings(None, Scope::Hosts("ld".into()));
        assert!(render(Shell::Sh, Path::new("/a b/libarshim.so"), &s).is_err());
    }
}
