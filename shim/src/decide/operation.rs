//! What an archiver's command line asks it to do: write an archive, read
//! one, or run an MRI script (docs/DESIGN.md, "Conversion" 10). Only a
//! writer can be a linker's final archiver spawn; a read-only operation
//! (`ar t`, `ar x`, `ar p`, `--help`, `--version`) is followed by more work
//! of the host and is never converted. A compiler driver or a linker
//! (`decide/link.rs`) "writes" when it links. Pure: the arguments only.

use crate::decide::link::{self, Kind};

/// The archiver's operation, as far as conversion cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Writes an archive (`r`, `q`, `d`, `m`, `s`, and `ranlib`); for a
    /// compiler driver or a linker: links.
    Writer,
    /// `-M`: the operation is in the MRI script read from stdin.
    Mri,
    /// Reads only, or asks for help or the version; for a compiler driver
    /// or a linker: does not link. Why, for the trace.
    ReadOnly(&'static str),
}

/// Long options of GNU ar and llvm-ar that take their value as the next
/// argument when it is not attached with `=`.
const LONG_WITH_VALUE: [&[u8]; 5] = [
    b"--plugin",
    b"--target",
    b"--output",
    b"--record-libdeps",
    b"--format",
];

fn is_help_or_version(arg: &[u8]) -> bool {
    matches!(arg, b"--help" | b"--version")
}

/// The operation of `ar`-like archivers (GNU ar, llvm-ar, gcc-ar): the
/// letters of every dash option, or of the first operand (the key, GNU ar's
/// dashless form), options and their values skipped. `args` are the
/// arguments after the program name, `@file`s already expanded.
pub fn of_ar(args: &[Vec<u8>]) -> Operation {
    let mut letters: Vec<u8> = Vec::new();
    let mut skip_value = false;
    for arg in args {
        if skip_value {
            skip_value = false;
            continue;
        }
        if is_help_or_version(arg) {
            return Operation::ReadOnly("the archiver only prints its help or version");
        }
        if arg.starts_with(b"--") {
            skip_value = LONG_WITH_VALUE.contains(&arg.as_slice());
            continue; // `--x=v`, `--thin`, `--rsp-quoting=…`, and `--` itself
        }
        if let Some(opts) = arg.strip_prefix(b"-") {
            if !opts.starts_with(b"X") {
                letters.extend_from_slice(opts); // -X32_64: the AIX object mode
            }
            continue;
        }
        if letters.is_empty() {
            letters.extend_from_slice(arg); // the key, without a dash
        }
        break; // then relpos, count, archive and members
    }
    of_letters(&letters)
}

/// GNU ar's operations are `d m p q r s t x` (one of them) with modifiers;
/// `h`/`H`/`V` print help or the version (binutils ar.c, `usage`).
fn of_letters(letters: &[u8]) -> Operation {
    let has = |set: &[u8]| letters.iter().any(|c| set.contains(c));
    if has(b"hHV") {
        Operation::ReadOnly("the archiver only prints its help or version")
    } else if has(b"dmqr") {
        Operation::Writer
    } else if has(b"M") {
        Operation::Mri
    } else if has(b"tpx") {
        Operation::ReadOnly("read-only archiver operation (t, p or x)")
    } else if has(b"s") {
        Operation::Writer // `ar s`: an index, as ranlib
    } else {
        Operation::ReadOnly("no archiver operation recognised on the command line")
    }
}

/// `ranlib` writes, unless it only prints its help or version.
pub fn of_ranlib(args: &[Vec<u8>]) -> Operation {
    let informative = |a: &Vec<u8>| {
        is_help_or_version(a) || matches!(a.as_slice(), b"-h" | b"-H" | b"-v" | b"-V")
    };
    if args.iter().any(informative) {
        Operation::ReadOnly("ranlib only prints its help or version")
    } else {
        Operation::Writer
    }
}

/// The operation of `program` (its basename names the tool) run with `args`.
pub fn of(program: &[u8], args: &[Vec<u8>]) -> Operation {
    let name = program.rsplit(|&b| b == b'/').next().unwrap_or(program);
    match link::kind(program) {
        Kind::Driver => link::of_driver(args),
        Kind::Linker => link::of_linker(args),
        Kind::Archiver if name.windows(6).any(|w| w == b"ranlib") => of_ranlib(args),
        Kind::Archiver => of_ar(args),
    }
}

/// An MRI script's own operation: it writes only if it saves.
pub fn of_mri(saves: bool) -> Operation {
    if saves {
        Operation::Writer
    } else {
        Operation::ReadOnly("the MRI script never saves an archive")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(program: &str, args: &str) -> Operation {
        let args: Vec<Vec<u8>> = args
            .split_whitespace()
            .map(|a| a.as_bytes().to_vec())
            .collect();
        of(program.as_bytes(), &args)
    }

    fn read_only(o: Operation) -> bool {
        matches!(o, Operation::ReadOnly(_))
    }

    #[test]
    fn writers() {
        for args in [
            "rcs lib.a a.o",
            "-rcs lib.a a.o",
            "cr lib.a a.o",
            "qc lib.a a.o",
            "rvs lib.a a.o",
            "crsT lib.a a.o",
            "d lib.a a.o",
            "m lib.a a.o",
            "s lib.a",
            "-s lib.a",
            "-r -c -s lib.a a.o",
            "--plugin /p.so rcs lib.a a.o",
            "--plugin=/p.so rcs lib.a a.o",
            "--format gnu -rcs lib.a a.o",
            "-X32_64 rcs lib.a a.o",
            "rb x.o lib.a a.o",
        ] {
            assert_eq!(op("/usr/bin/ar", args), Operation::Writer, "{args}");
        }
        assert_eq!(op("llvm-ar-15", "rcs lib.a a.o"), Operation::Writer);
        assert_eq!(op("ranlib", "lib.a"), Operation::Writer);
        assert_eq!(op("x86_64-linux-gnu-ranlib", "-t lib.a"), Operation::Writer);
    }

    #[test]
    fn readers() {
        for args in [
            "t lib.a",
            "tv lib.a",
            "-t lib.a",
            "x in.a",
            "xv in.a",
            "-xO in.a a.o",
            "p in.a a.o",
            "--output /tmp x in.a",
            "--output=/tmp x in.a",
            "--plugin /p.so t lib.a",
            "-tv lib.a",
            "--help",
            "--version",
            "-V",
            "-h",
            "",
        ] {
            assert!(read_only(op("ar", args)), "{args}");
        }
        assert!(read_only(op("llvm-ar", "t lib.a")));
        assert!(read_only(op("gcc-ar", "--version")));
        assert!(read_only(op("ranlib", "--version")));
        assert!(read_only(op("ranlib", "-v")));
        assert!(read_only(op("ranlib", "-h lib.a")));
    }

    #[test]
    fn drivers_and_linkers_write_when_they_link() {
        assert_eq!(op("gcc", "a.o b.o -o prog"), Operation::Writer);
        assert!(read_only(op("gcc", "-c a.c")));
        assert!(read_only(op("x86_64-linux-gnu-gcc", "-v")));
        // `-M` is GNU ar's MRI mode, and gcc's dependency listing
        assert!(read_only(op("cc", "-M a.c")));
        assert_eq!(op("ld.gold", "-o app app.o"), Operation::Writer);
        assert!(read_only(op("ld", "--version")));
    }

    #[test]
    fn the_key_is_the_first_operand_only() {
        // a member named like an operation does not make a reader a writer
        assert!(read_only(op("ar", "t r.a")));
        assert_eq!(op("ar", "rc t.a x.o"), Operation::Writer);
    }

    #[test]
    fn mri_mode() {
        assert_eq!(op("ar", "-M"), Operation::Mri);
        assert_eq!(op("ar", "M"), Operation::Mri);
        assert_eq!(of_mri(true), Operation::Writer);
        assert!(read_only(of_mri(false)));
    }
}
