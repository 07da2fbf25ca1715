//! Which program a matching spawn runs — an archiver, a compiler driver or a
//! linker — and, for a driver or a linker, whether this run links
//! (docs/DESIGN.md, "Conversion" 10). A compiler host spawns its driver many
//! times (ghc: `gcc -v`, then assembling, then its C stubs, last the link
//! through an `@rsp`): only the link can be its final spawn; every other
//! run is followed by more work of the host and is never converted. Pure:
//! the program's name and its arguments (`@FILE`s already expanded) only.

use crate::decide::operation::Operation;

/// What kind of program a spawn runs, by its basename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `ar`, `*-ar`, `llvm-ar*`, `gcc-ar*`, `*ranlib*`; and any name not
    /// known below (`ARSHIM_TOOLS` names archivers unless said otherwise).
    Archiver,
    /// A compiler driver: `cc`, `gcc`, `g++`, `c++`, `clang`, `clang++`,
    /// with a target prefix (`x86_64-linux-gnu-gcc`) or a version suffix
    /// (`gcc-12`, `clang-15`).
    Driver,
    /// A linker: `ld`, `ld.*`, `*-ld`, `mold`, `lld`, `ld.lld`, `collect2`.
    Linker,
}

impl Kind {
    /// Its name in the trace.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Archiver => "archiver",
            Kind::Driver => "driver",
            Kind::Linker => "linker",
        }
    }
}

/// The tools (after a target prefix and a version suffix are taken off)
/// that are compiler drivers of the GCC or Clang families.
const DRIVERS: [&[u8]; 9] = [
    b"cc",
    b"c++",
    b"gcc",
    b"g++",
    b"clang",
    b"clang++",
    b"gfortran",
    b"gdc",
    b"gccgo",
];

/// Linkers known by their whole (unversioned) name.
const LINKERS: [&[u8]; 6] = [
    b"ld",
    b"mold",
    b"lld",
    b"collect2",
    b"lld-link",
    b"ld64.lld",
];

/// `name` without a version suffix: `-12`, `-15.0.7` (Debian's
/// `gcc-12`, `clang-15`, `llvm-ar-15`).
fn unversioned(name: &[u8]) -> &[u8] {
    let Some(dash) = name.iter().rposition(|&b| b == b'-') else {
        return name;
    };
    let (head, suffix) = name.split_at(dash);
    let version = suffix.get(1..).unwrap_or_default();
    let numeric = version.first().is_some_and(u8::is_ascii_digit)
        && version.iter().all(|b| b.is_ascii_digit() || *b == b'.');
    if numeric && !head.is_empty() {
        head
    } else {
        name
    }
}

/// The program's kind, by the basename of `program` (a path or a name).
pub fn kind(program: &[u8]) -> Kind {
    let base = program.rsplit(|&b| b == b'/').next().unwrap_or(program);
    let name = unversioned(base);
    // the tool after a target triple: `x86_64-linux-gnu-gcc` → `gcc`
    let tool = name.rsplit(|&b| b == b'-').next().unwrap_or(name);
    let archiver = name.windows(6).any(|w| w == b"ranlib")
        || tool == b"ar"
        || name.starts_with(b"llvm-ar")
        || name.starts_with(b"gcc-ar");
    if archiver {
        Kind::Archiver
    } else if DRIVERS.contains(&tool) {
        Kind::Driver
    } else if LINKERS.contains(&name) || tool == b"ld" || tool.starts_with(b"ld.") {
        Kind::Linker
    } else {
        Kind::Archiver
    }
}

/// Driver options that stop before the link, and why, for the trace
/// (GCC manual, "Overall Options"; checked with gcc 12: none of them
/// writes `a.out`).
const STOPS_BEFORE_LINK: [(&[u8], &str); 6] = [
    (
        b"-c",
        "the compiler driver compiles only (-c): it does not link",
    ),
    (
        b"-S",
        "the compiler driver compiles to assembly only (-S): it does not link",
    ),
    (
        b"-E",
        "the compiler driver preprocesses only (-E): it does not link",
    ),
    (
        b"-M",
        "the compiler driver lists dependencies only (-M): it does not link",
    ),
    (
        b"-MM",
        "the compiler driver lists dependencies only (-MM): it does not link",
    ),
    (
        b"-fsyntax-only",
        "the compiler driver checks syntax only (-fsyntax-only): it does not link",
    ),
];

/// Why a driver that only prints does not link.
const ONLY_PRINTS: &str =
    "the compiler driver only prints (--version, --help, -dumpversion, -print-*, -###): it does not link";

/// Driver options that print something and exit, whatever else is given
/// (`-###` prints the commands without running them).
fn only_prints(arg: &[u8]) -> bool {
    matches!(
        arg,
        b"--version"
            | b"-###"
            | b"--target-help"
            | b"-dumpversion"
            | b"-dumpfullversion"
            | b"-dumpmachine"
            | b"-dumpspecs"
    ) || arg.starts_with(b"--help")
        || arg.starts_with(b"-print-")
        || arg.starts_with(b"--print-")
}

/// Driver options whose value is the next argument (GCC and Clang): that
/// value is not an input file.
const WITH_VALUE: [&[u8]; 42] = [
    b"-o",
    b"-x",
    b"-I",
    b"-L",
    b"-l",
    b"-D",
    b"-U",
    b"-A",
    b"-u",
    b"-T",
    b"-e",
    b"-z",
    b"-G",
    b"-B",
    b"-MF",
    b"-MT",
    b"-MQ",
    b"-include",
    b"-imacros",
    b"-isystem",
    b"-idirafter",
    b"-iprefix",
    b"-iwithprefix",
    b"-iwithprefixbefore",
    b"-isysroot",
    b"-iquote",
    b"-imultilib",
    b"-Xlinker",
    b"-Xassembler",
    b"-Xpreprocessor",
    b"-Xclang",
    b"-mllvm",
    b"-target",
    b"-arch",
    b"-aux-info",
    b"--param",
    b"--sysroot",
    b"-dumpbase",
    b"-dumpbase-ext",
    b"-dumpdir",
    b"--output",
    b"-wrapper",
];

/// Whether a compiler driver run with `args` (after the program name,
/// `@FILE`s expanded) links: `Writer` if it does, `ReadOnly(why)` if it
/// stops before the link, only prints, or has no input file (`gcc -v`,
/// ghc's `gcc -Wl,--version` probe).
pub fn of_driver(args: &[Vec<u8>]) -> Operation {
    let mut inputs = 0usize;
    let mut skip_value = false;
    for arg in args {
        if skip_value {
            skip_value = false;
            continue;
        }
        let arg = arg.as_slice();
        if only_prints(arg) {
            return Operation::ReadOnly(ONLY_PRINTS);
        }
        if let Some((_, why)) = STOPS_BEFORE_LINK.iter().find(|(o, _)| *o == arg) {
            return Operation::ReadOnly(why);
        }
        if WITH_VALUE.contains(&arg) {
            skip_value = true;
        } else if arg == b"-" || !arg.starts_with(b"-") {
            inputs += 1; // a file operand; `-` is stdin (with `-x`)
        }
    }
    if inputs == 0 {
        Operation::ReadOnly("the compiler driver has no input file: it does not link")
    } else {
        Operation::Writer
    }
}

/// Whether a linker run with `args` links: it does unless it only prints
/// its help or version (`--help`, `--version` anywhere: GNU ld exits after
/// printing; `-v`/`-V` alone).
pub fn of_linker(args: &[Vec<u8>]) -> Operation {
    let prints = |a: &Vec<u8>| matches!(a.as_slice(), b"--help" | b"--version");
    let alone = matches!(args, [only] if matches!(only.as_slice(), b"-v" | b"-V"));
    if args.is_empty() || alone || args.iter().any(prints) {
        Operation::ReadOnly("the linker only prints its help or version: it does not link")
    } else {
        Operation::Writer
    }
}

/// Why a link whose output the host captures is not converted.
const CAPTURED: &str = "the host captures the output of its compiler driver or linker through a \
     pipe: it reads it and acts on it after the link ends (a conversion would write it to the \
     host's own stdout/stderr and lose what the host does with it)";

/// A compiler driver's or linker's spawn whose stdout or stderr goes to a
/// pipe the host reads (`captured`: those fds, from the replay plan) is not
/// converted: ghc filters and reformats the linker's messages, rustc prints
/// them only when the link failed. An archiver prints nothing on success,
/// and still writes to the host's own stdout/stderr instead
/// (docs/DESIGN.md, "Conversion" 5).
pub fn captured_output(program: &[u8], captured: &[i32]) -> Result<(), &'static str> {
    match kind(program) {
        Kind::Driver | Kind::Linker if !captured.is_empty() => Err(CAPTURED),
        _ => Ok(()),
    }
}

/// The file a link writes: the last `-o FILE` (`-oFILE`, `--output FILE`,
/// `--output=FILE`), else `a.out`. `args` after the program name, `@FILE`s
/// expanded.
pub fn output(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out: &[u8] = b"a.out";
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let arg = arg.as_slice();
        if arg == b"-o" || arg == b"--output" {
            if let Some(value) = args.next() {
                out = value;
            }
        } else if let Some(value) = arg.strip_prefix(b"--output=") {
            out = value;
        } else if let Some(value) = arg.strip_prefix(b"-o") {
            out = value;
        }
    }
    out.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(args: &str) -> Vec<Vec<u8>> {
        args.split_whitespace()
            .map(|a| a.as_bytes().to_vec())
            .collect()
    }

    fn links(args: &str) -> bool {
        of_driver(&words(args)) == Operation::Writer
    }

    #[test]
    fn kinds_by_basename() {
        for archiver in [
            "ar",
            "/usr/bin/ar",
            "x86_64-linux-gnu-ar",
            "llvm-ar",
            "llvm-ar-15",
            "gcc-ar",
            "gcc-ar-12",
            "x86_64-linux-gnu-gcc-ar-12",
            "ranlib",
            "x86_64-linux-gnu-ranlib",
            "llvm-ranlib-15",
            "my-archiver",
            "arwrapper.sh",
        ] {
            assert_eq!(kind(archiver.as_bytes()), Kind::Archiver, "{archiver}");
        }
        for driver in [
            "cc",
            "/usr/bin/cc",
            "c++",
            "gcc",
            "g++",
            "gcc-12",
            "g++-12",
            "clang",
            "clang++",
            "clang-15",
            "clang++-15",
            "x86_64-linux-gnu-gcc",
            "/usr/bin/x86_64-linux-gnu-gcc",
            "x86_64-linux-gnu-gcc-12",
            "x86_64-linux-gnu-g++",
            "aarch64-linux-gnu-cc",
            "x86_64-w64-mingw32-c++",
        ] {
            assert_eq!(kind(driver.as_bytes()), Kind::Driver, "{driver}");
        }
        for linker in [
            "ld",
            "/usr/bin/ld",
            "ld.gold",
            "/usr/bin/ld.gold",
            "ld.bfd",
            "ld.lld",
            "ld.lld-15",
            "x86_64-linux-gnu-ld",
            "x86_64-linux-gnu-ld.gold",
            "mold",
            "lld",
            "/usr/lib/gcc/x86_64-linux-gnu/12/collect2",
        ] {
            assert_eq!(kind(linker.as_bytes()), Kind::Linker, "{linker}");
        }
    }

    /// ghc 9.0.2's gcc spawns for `ghc -o prog Main.hs`, in order
    /// (/work/s16-traces/hs/ghc.trace, and the rsp files it kept with
    /// `-keep-tmp-files`): only the last one links.
    #[test]
    fn ghc_spawns_only_the_last_links() {
        assert!(!links("-v"));
        assert!(!links(
            "-iquote. -no-pie -fno-PIC -x assembler -c /tmp/ghc16995_0/ghc_2.s -o Main.o.tmp"
        ));
        // ghc_9.rsp: its C stub
        assert!(!links(
            "-c /tmp/ghc20781_0/ghc_7.c -o /tmp/ghc20781_0/ghc_8.o -no-pie -fno-PIC \
             -I/usr/lib/ghc/include"
        ));
        // ghc_12.rsp
        assert!(!links(
            "-c /tmp/ghc20781_0/ghc_10.s -o /tmp/ghc20781_0/ghc_11.o"
        ));
        // its linker probe
        assert!(!links("-Wl,--version -fuse-ld=gold"));
        // ghc_13.rsp: the link
        assert!(links(
            "-fuse-ld=gold -Wl,--no-as-needed -o prog -no-pie -fno-PIC -Wl,--gc-sections \
             ./A.o Main.o -L/usr/lib/ghc/base-4.15.1.0 -L/usr/lib/ghc/rts \
             /tmp/ghc20781_0/ghc_8.o /tmp/ghc20781_0/ghc_11.o \
             -Wl,-u,base_GHCziTopHandler_runIO_closure -lHSbase-4.15.1.0 -lHSrts -lm -lrt -ldl"
        ));
    }

    /// ldc2's and rustc's link spawns (/work/s16-traces/d/ldc.trace,
    /// /work/s16-traces/rs.trace).
    #[test]
    fn ldc2_and_rustc_links() {
        assert!(links(
            "app.o /usr/lib/ldc_rt.dso.o -o app -L/usr/lib -lphobos2-ldc-shared \
             -ldruntime-ldc-shared -Wl,--gc-sections -lrt -ldl -lpthread -lm -m64"
        ));
        assert!(links(
            "-m64 /tmp/s16/rustcu1AkWH/symbols.o main.main.235e3519f142be8b-cgu.0.rcgu.o \
             -Wl,--as-needed -Wl,-Bstatic /root/.rustup/lib/libstd-abc.rlib -Wl,-Bdynamic \
             -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -B/root/.rustup/gcc-ld \
             -fuse-ld=lld -Wl,--eh-frame-hdr -Wl,-z,noexecstack -L /root/.rustup/lib \
             -o main -Wl,--gc-sections -pie -Wl,-z,relro,-z,now -nodefaultlibs"
        ));
    }

    #[test]
    fn stops_before_the_link() {
        for args in [
            "-c a.c",
            "-c a.c -o a.o",
            "-O2 -S a.c",
            "-E a.c",
            "-M a.c",
            "-MM a.c",
            "-fsyntax-only a.c",
            "-x c -c -",
        ] {
            assert!(!links(args), "{args}");
        }
        assert!(links("-MD -MF a.d a.c -o prog"));
        assert!(links("-MMD a.c"));
        assert!(links("-v a.o b.o -o prog"));
        assert!(links("-x c - -o prog"));
    }

    #[test]
    fn only_prints() {
        for args in [
            "--version",
            "--version a.c",
            "--help",
            "--help=optimizers",
            "-dumpversion",
            "-dumpfullversion",
            "-dumpmachine",
            "-dumpspecs a.c",
            "-print-file-name=libc.so",
            "-print-search-dirs",
            "-print-prog-name=ld",
            "--print-file-name=libc.so",
            "-### a.c -o prog",
            "-v",
            "",
        ] {
            assert!(!links(args), "{args}");
        }
    }

    #[test]
    fn option_values_are_not_inputs() {
        for args in [
            "-o prog",
            "-L /usr/lib -l m -o prog",
            "-Xlinker --verbose",
            "-include config.h -isystem /usr/include/x -o prog",
            "-x assembler",
            "-MF deps.d -MT target",
        ] {
            assert!(!links(args), "{args}");
        }
        assert!(links("-dumpbase main main.o -o prog"));
    }

    #[test]
    fn captured_output_stops_links_only() {
        assert!(captured_output(b"x86_64-linux-gnu-gcc", &[1, 2]).is_err());
        assert!(captured_output(b"/usr/bin/ld.gold", &[2]).is_err());
        assert!(captured_output(b"gcc", &[]).is_ok());
        assert!(captured_output(b"x86_64-linux-gnu-ranlib", &[1, 2]).is_ok());
        assert!(captured_output(b"ar", &[1]).is_ok());
    }

    #[test]
    fn the_output_of_a_link() {
        let out = |args: &str| String::from_utf8(output(&words(args))).unwrap();
        assert_eq!(out("a.o b.o -o prog"), "prog");
        assert_eq!(out("a.o -oprog"), "prog");
        assert_eq!(out("-o first a.o -o second"), "second");
        assert_eq!(out("--output=app app.o"), "app");
        assert_eq!(out("--output app app.o"), "app");
        assert_eq!(out("a.o b.o"), "a.out");
        assert_eq!(out("a.o -o"), "a.out");
    }

    #[test]
    fn linkers() {
        let linker = |args: &str| of_linker(&words(args)) == Operation::Writer;
        assert!(linker("@/tmp/cclYvaTs")); // not expanded here: still an operand
        assert!(linker("-plugin /usr/lib/liblto_plugin.so -o app app.o -lc"));
        assert!(linker("-v -o app app.o"));
        assert!(!linker("--version"));
        assert!(!linker("-v"));
        assert!(!linker("-V"));
        assert!(!linker("--help"));
        assert!(!linker(""));
    }
}
