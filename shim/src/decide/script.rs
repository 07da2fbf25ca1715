//! Which script file an interpreter runs, from its own argv (docs/DESIGN.md,
//! "Verdicts"): a script host's verdict is keyed by interpreter *and*
//! script, so the library must find the script the way the interpreter does.
//!
//! Conservative by rule: any option whose syntax is not known here, a
//! program given inline (`-c`, `-e`), a module (`-m`), stdin (`-`), a search
//! of PATH (`perl -S`, `ruby -S`), a change of directory before the script is
//! found (`ruby -C`) — all are "no script": no verdict, never someone else's.
//! Pure and allocation-free: it runs in the host.

/// The interpreters whose command line is read here; any other (lua, awk,
/// java …) runs no script this module can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Python,
    Perl,
    Ruby,
    Node,
}

/// `python3.11`, `pypy3` → Python, and so on (versions as in
/// `arshim_common::names::is_interpreter`).
fn family(basename: &[u8]) -> Option<Family> {
    let versioned = |name: &[u8], prefix: &str| {
        name.strip_prefix(prefix.as_bytes()).is_some_and(|v| {
            v.iter()
                .all(|b| b.is_ascii_digit() || *b == b'.' || *b == b'-')
        })
    };
    [
        ("python", Family::Python),
        ("pypy", Family::Python),
        ("perl", Family::Perl),
        ("ruby", Family::Ruby),
        ("nodejs", Family::Node),
        ("node", Family::Node),
    ]
    .into_iter()
    .find(|(prefix, _)| versioned(basename, prefix))
    .map(|(_, f)| f)
}

/// The script operand of `interpreter args…` (`args` without argv[0]), as
/// the interpreter named by `basename` would take it; `None` when it runs no
/// script file or when unsure.
pub fn script_operand<'a>(basename: &[u8], args: &[&'a [u8]]) -> Option<&'a [u8]> {
    let rules: fn(&[u8]) -> Opt = match family(basename)? {
        Family::Python => python,
        Family::Perl => perl,
        Family::Ruby => ruby,
        Family::Node => node,
    };
    let mut i = 0;
    loop {
        let arg = *args.get(i)?;
        if arg == b"--" {
            return plain(args.get(i + 1).copied()?);
        }
        if arg.first() != Some(&b'-') || arg == b"-" {
            return plain(arg);
        }
        i += match rules(arg) {
            Opt::Flag => 1,
            Opt::TakesNext => 2,
            Opt::NoScript => return None,
        };
    }
}

/// A script operand that names a file: not stdin, not empty.
fn plain(arg: &[u8]) -> Option<&[u8]> {
    (!arg.is_empty() && arg != b"-").then_some(arg)
}

/// What one option argument (starting with `-`) means for finding the script.
#[derive(Debug, PartialEq, Eq)]
enum Opt {
    /// Nothing more to skip.
    Flag,
    /// The next argument is this option's value.
    TakesNext,
    /// No script file, or not sure.
    NoScript,
}

/// Bundled short options (`-bBu`, `-Wdefault`) by a table: letters that
/// stand alone, letters whose value is the rest of the argument or else the
/// next argument. Any other letter: `NoScript`.
fn short(arg: &[u8], alone: &[u8], valued: &[u8]) -> Opt {
    let letters = arg.get(1..).unwrap_or_default();
    if letters.is_empty() {
        return Opt::NoScript;
    }
    for (at, letter) in letters.iter().enumerate() {
        if valued.contains(letter) {
            let attached = letters.len() > at + 1;
            return if attached { Opt::Flag } else { Opt::TakesNext };
        }
        if !alone.contains(letter) {
            return Opt::NoScript;
        }
    }
    Opt::Flag
}

/// CPython's `python [option] … [-c cmd | -m mod | file | -] [arg] …`
/// (`Python/getopt.c`): `-c`, `-m`, help and version run no script file.
fn python(arg: &[u8]) -> Opt {
    if arg.starts_with(b"--") {
        return match arg {
            b"--check-hash-based-pycs" => Opt::TakesNext,
            _ => Opt::NoScript, // --help, --version and unknown ones
        };
    }
    short(arg, b"bBdEiIOPqRsSuvx", b"WX")
}

/// `perl [switches] [--] [programfile]` (perlrun): `-e`/`-E` are the
/// program, `-S` searches PATH, `-x` looks for a `#!` line inside it; the
/// values of `-I`, `-M`, `-m` must be attached (a separate one is not sure).
fn perl(arg: &[u8]) -> Opt {
    if arg.starts_with(b"--") {
        return Opt::NoScript;
    }
    let letters = arg.get(1..).unwrap_or_default();
    match letters.first() {
        Some(b'I' | b'M' | b'm') if letters.len() > 1 => Opt::Flag,
        // -S (not listed) searches PATH for the script.
        _ => short(arg, b"acnpstTuUwW", b""),
    }
}

/// `ruby [switches] [--] [programfile]` (ruby(1)): `-e` is the program,
/// `-S` searches PATH, `-x` and `-C dir` change where the script is found;
/// `-I` and `-r` take a value, attached or next.
fn ruby(arg: &[u8]) -> Opt {
    if arg.starts_with(b"--") {
        let feature = arg.starts_with(b"--disable-")
            || arg.starts_with(b"--enable-")
            || arg.starts_with(b"--disable=")
            || arg.starts_with(b"--enable=");
        return if feature { Opt::Flag } else { Opt::NoScript };
    }
    short(arg, b"acdlnpsw", b"Ir")
}

/// `node [options] [script.js | -e … | -] [--] [arguments]`: long options
/// only with an attached `=value` or from a short list of value-less ones;
/// `-r`/`--require`/`--import` take the next argument. `-e`, `-p`, `-i`,
/// `-c` (check only) run no script file.
fn node(arg: &[u8]) -> Opt {
    const BARE: &[&[u8]] = &[
        b"--no-warnings",
        b"--no-deprecation",
        b"--trace-warnings",
        b"--trace-deprecation",
        b"--enable-source-maps",
        b"--preserve-symlinks",
        b"--preserve-symlinks-main",
        b"--expose-gc",
        b"--abort-on-uncaught-exception",
    ];
    match arg {
        b"-r" | b"--require" | b"--import" => Opt::TakesNext,
        _ if BARE.contains(&arg) => Opt::Flag,
        _ if arg.starts_with(b"--") && arg.contains(&b'=') => {
            // --eval=…, --print=…: inline programs.
            let inline = arg.starts_with(b"--eval=") || arg.starts_with(b"--print=");
            if inline {
                Opt::NoScript
            } else {
                Opt::Flag
            }
        }
        _ => Opt::NoScript,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(line: &str) -> Option<String> {
        let words: Vec<&str> = line.split(' ').collect();
        let args: Vec<&[u8]> = words[1..].iter().map(|w| w.as_bytes()).collect();
        script_operand(words[0].as_bytes(), &args).map(|s| String::from_utf8_lossy(s).into_owned())
    }

    #[test]
    fn python_finds_its_script_after_its_options() {
        for (line, want) in [
            ("python3 build.py x y", Some("build.py")),
            ("python3.11 -u -X dev -W ignore build.py", Some("build.py")),
            (
                "python3 -OO -bB -Wdefault -Xfrozen_modules=off a.py",
                Some("a.py"),
            ),
            ("python3 -- -weird.py", Some("-weird.py")),
            ("pypy3 -E a.py", Some("a.py")),
            ("python3 --check-hash-based-pycs always a.py", Some("a.py")),
            ("python3 -c print(1) a.py", None),
            ("python3 -cprint(1)", None),
            ("python3 -m build a.py", None),
            ("python3 -uc pass", None),
            ("python3 - a.py", None),
            ("python3", None),
            ("python3 -u", None),
            ("python3 -W", None),
            ("python3 -V a.py", None),
            ("python3 --help a.py", None),
            ("python3 -Z a.py", None),
            ("python3 --", None),
        ] {
            assert_eq!(script(line).as_deref(), want, "{line}");
        }
    }

    #[test]
    fn perl_ruby_and_node() {
        for (line, want) in [
            ("perl -w build.pl", Some("build.pl")),
            ("perl5.36.0 -Ilib -MFoo -wT build.pl", Some("build.pl")),
            ("perl -I lib build.pl", None),
            ("perl -e 1 build.pl", None),
            ("perl -S build.pl", None),
            ("perl -wS build.pl", None),
            ("perl -x build.pl", None),
            ("ruby -w -I lib -rjson build.rb", Some("build.rb")),
            ("ruby --disable-gems b.rb", Some("b.rb")),
            ("ruby -e 1", None),
            ("ruby -C dir b.rb", None),
            ("ruby -S b.rb", None),
            ("node build.js", Some("build.js")),
            (
                "nodejs --max-old-space-size=512 -r ts-node/register b.js",
                Some("b.js"),
            ),
            ("node --no-warnings b.js", Some("b.js")),
            ("node -e 1 b.js", None),
            ("node --eval=1 b.js", None),
            ("node --title t b.js", None),
            ("node -", None),
        ] {
            assert_eq!(script(line).as_deref(), want, "{line}");
        }
    }

    #[test]
    fn other_interpreters_and_programs_name_no_script() {
        for line in [
            "lua build.lua",
            "awk -f x.awk",
            "ld a.o",
            "pythonx a.py",
            "sh a.sh",
        ] {
            assert_eq!(script(line), None, "{line}");
        }
        assert_eq!(script_operand(b"python3", &[b""]), None, "an empty operand");
    }
}
