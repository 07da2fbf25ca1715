//! Finding the program a spawn call would run, the way the real call would,
//! and checking that `execve` of it will succeed — BEFORE any cleanup runs,
//! because after the cleanups there is no way back to the host. Pure: the
//! file system is asked through `Probe`.

/// What a candidate path is, as far as `execve` cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidate {
    /// Does not exist, or a path component is not a directory (ENOENT/ENOTDIR).
    Missing,
    /// Exists but `execve` would fail with EACCES (not a regular file, no x bit).
    NotExecutable,
    /// An ELF executable this machine runs.
    Elf,
    /// An ELF file this kernel would not load (another machine, class or
    /// byte order, or not an executable): `execve` fails with ENOEXEC.
    Foreign,
    /// A `#!` script and whether its interpreter is an executable file.
    Script { interpreter_ok: bool },
    /// Executable bits but no known format: `execve` fails with ENOEXEC.
    Unknown,
}

/// The file-system questions resolution asks (a real probe in the shim, a map in tests).
pub trait Probe {
    fn candidate(&self, path: &[u8]) -> Candidate;
}

/// glibc's default search path when PATH is unset (`_CS_PATH`).
pub const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    NotFound,
    NotExecutable,
    /// The file exists but is neither ELF nor `#!`: glibc's posix_spawnp and
    /// execve report ENOEXEC and do not retry with a shell.
    NoExecFormat,
    BadInterpreter,
    /// An ELF file for another machine: ENOEXEC, and glibc's posix_spawnp
    /// stops its search there.
    Foreign,
}

impl Unresolved {
    pub fn reason(&self) -> &'static str {
        match self {
            Unresolved::NotFound => "program not found",
            Unresolved::NotExecutable => "program is not an executable file",
            Unresolved::NoExecFormat => "program is neither ELF nor a #! script",
            Unresolved::BadInterpreter => "the script's #! interpreter is not executable",
            Unresolved::Foreign => "program is an ELF file this machine does not run (ENOEXEC)",
        }
    }
}

fn check(c: Candidate) -> Result<(), Unresolved> {
    match c {
        Candidate::Elf
        | Candidate::Script {
            interpreter_ok: true,
        } => Ok(()),
        Candidate::Script {
            interpreter_ok: false,
        } => Err(Unresolved::BadInterpreter),
        Candidate::Missing => Err(Unresolved::NotFound),
        Candidate::NotExecutable => Err(Unresolved::NotExecutable),
        Candidate::Unknown => Err(Unresolved::NoExecFormat),
        Candidate::Foreign => Err(Unresolved::Foreign),
    }
}

/// `posix_spawn`: the path is used as given (relative to the working directory).
pub fn resolve_exact(path: &[u8], probe: &impl Probe) -> Result<Vec<u8>, Unresolved> {
    if path.is_empty() {
        return Err(Unresolved::NotFound);
    }
    check(probe.candidate(path)).map(|_| path.to_vec())
}

/// `posix_spawnp` / `execvp`: glibc's search (posix/execvpe.c): a name with a
/// `/` is used as is; otherwise each PATH entry in order, an empty entry
/// meaning the current directory (the bare name, no `./`). EACCES and ENOENT
/// move on to the next entry; any other failure (ENOEXEC here) stops the search.
/// If only EACCES was seen, the call fails with EACCES.
pub fn resolve_search(
    file: &[u8],
    path_var: Option<&[u8]>,
    probe: &impl Probe,
) -> Result<Vec<u8>, Unresolved> {
    if file.is_empty() {
        return Err(Unresolved::NotFound);
    }
    if file.contains(&b'/') {
        return resolve_exact(file, probe);
    }
    let path_var = path_var.unwrap_or(DEFAULT_PATH);
    let mut saw_eacces = false;
    for dir in path_var.split(|&b| b == b':') {
        let mut candidate = dir.to_vec();
        if !dir.is_empty() {
            candidate.push(b'/');
        }
        candidate.extend_from_slice(file);
        match probe.candidate(&candidate) {
            Candidate::Missing => continue,
            Candidate::NotExecutable => saw_eacces = true,
            other => return check(other).map(|_| candidate),
        }
    }
    Err(if saw_eacces {
        Unresolved::NotExecutable
    } else {
        Unresolved::NotFound
    })
}

/// The program word of a `system()` command, if the command starts with a
/// plain word we can reason about. Anything the shell would treat specially
/// before or inside the first word (assignments, quotes, expansions,
/// redirections, subshells, keywords) yields `None`: not ours to convert.
pub fn system_program(command: &[u8]) -> Option<&[u8]> {
    let start = command.iter().position(|&b| b != b' ' && b != b'\t')?;
    let rest = &command[start..];
    let end = rest
        .iter()
        .position(|&b| matches!(b, b' ' | b'\t' | b'\n' | b';' | b'&' | b'|'))
        .unwrap_or(rest.len());
    let word = &rest[..end];
    let special = |b: &u8| {
        matches!(
            b,
            b'=' | b'\''
                | b'"'
                | b'$'
                | b'`'
                | b'\\'
                | b'<'
                | b'>'
                | b'('
                | b')'
                | b'{'
                | b'}'
                | b'*'
                | b'?'
                | b'['
                | b'~'
                | b'#'
                | b'!'
        )
    };
    if word.is_empty() || word.iter().any(special) {
        return None;
    }
    const KEYWORDS: &[&[u8]] = &[
        b"if", b"for", b"while", b"until", b"case", b"exec", b"command", b"time",
    ];
    if KEYWORDS.contains(&word) {
        return None;
    }
    Some(word)
}

/// The words of a `system()` command that the shell would run as one simple
/// command without any expansion: only blanks between words made of
/// `[A-Za-z0-9_./+,:@%=-]`. Such a command can be exec'd directly, as the shell
/// itself would exec it; `/bin/sh` (dash) would fork first, so the archiver
/// would not keep the host's pid.
pub fn simple_words(command: &[u8]) -> Option<Vec<&[u8]>> {
    let plain = |b: &u8| b.is_ascii_alphanumeric() || b"_./+,:@%=-".contains(b);
    let words: Vec<&[u8]> = command
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() || !words.iter().all(|w| w.iter().all(plain)) || words[0].contains(&b'=') {
        return None;
    }
    Some(words)
}

/// The program interpreter an ELF file names (`PT_INTERP`, e.g.
/// `/lib64/ld-linux-x86-64.so.2`), if its header and that segment lie within
/// `head`. When the interpreter is missing, `execve` fails with ENOENT
/// exactly as for a missing file — and only after our cleanups, unless the
/// probe asks first.
pub fn elf_interpreter(head: &[u8]) -> Option<&[u8]> {
    if !head.starts_with(b"\x7fELF") || head.len() < 0x34 {
        return None;
    }
    let wide = match head[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match head[5] {
        1 => true,
        2 => false,
        _ => return None,
    };
    let num = |at: usize, len: usize| -> Option<u64> {
        let bytes = head.get(at..at.checked_add(len)?)?;
        let mut v: u64 = 0;
        for i in 0..len {
            let b = if little { bytes[len - 1 - i] } else { bytes[i] };
            v = v << 8 | u64::from(b);
        }
        Some(v)
    };
    let (phoff, phentsize, phnum) = if wide {
        (num(0x20, 8)?, num(0x36, 2)?, num(0x38, 2)?)
    } else {
        (num(0x1c, 4)?, num(0x2a, 2)?, num(0x2c, 2)?)
    };
    const PT_INTERP: u64 = 3;
    for i in 0..phnum {
        let ph = usize::try_from(phoff.checked_add(i.checked_mul(phentsize)?)?).ok()?;
        if num(ph, 4)? != PT_INTERP {
            continue;
        }
        let (offset, size) = if wide {
            (num(ph + 0x08, 8)?, num(ph + 0x20, 8)?)
        } else {
            (num(ph + 0x04, 4)?, num(ph + 0x10, 4)?)
        };
        let start = usize::try_from(offset).ok()?;
        let path = head.get(start..start.checked_add(usize::try_from(size).ok()?)?)?;
        let path = &path[..path.iter().position(|&b| b == 0).unwrap_or(path.len())];
        return (!path.is_empty()).then_some(path);
    }
    None
}

/// What the kernel's ELF loader (fs/binfmt_elf.c) checks of a header before
/// it loads a file: class, byte order, machine, type and program header size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ElfIdentity {
    class: u8,
    data: u8,
    machine: u16,
    kind: u16,
    phentsize: u16,
}

fn elf_identity(head: &[u8]) -> Option<ElfIdentity> {
    if !head.starts_with(b"\x7fELF") {
        return None;
    }
    let (class, data) = (*head.get(4)?, *head.get(5)?);
    let half = |at: usize| -> Option<u16> {
        let b: [u8; 2] = head.get(at..at + 2)?.try_into().ok()?;
        Some(if data == 2 {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let phentsize_at = if class == 2 { 0x36 } else { 0x2a };
    Some(ElfIdentity {
        class,
        data,
        machine: half(18)?,
        kind: half(16)?,
        phentsize: half(phentsize_at)?,
    })
}

/// Would this kernel load the ELF file starting with `head`, where `own` is
/// the start of an ELF file it runs (this process's)? Same class, byte
/// order and machine, an executable or shared object (ET_EXEC, ET_DYN), and
/// program headers of that class's size. Anything else is ENOEXEC, or a
/// compatibility mode not taken for granted.
pub fn elf_runs_here(head: &[u8], own: &[u8]) -> bool {
    const ET_EXEC: u16 = 2;
    const ET_DYN: u16 = 3;
    let (Some(it), Some(me)) = (elf_identity(head), elf_identity(own)) else {
        return false;
    };
    let phentsize = match it.class {
        1 => 32,
        2 => 56,
        _ => return false,
    };
    it.class == me.class
        && it.data == me.data
        && it.machine == me.machine
        && matches!(it.kind, ET_EXEC | ET_DYN)
        && it.phentsize == phentsize
}

/// The optional argument of a `#!` line: the rest of the line after the
/// interpreter, blanks around it trimmed (fs/binfmt_script.c passes it as
/// one argument).
pub fn shebang_argument(head: &[u8]) -> Option<&[u8]> {
    let interp = shebang_interpreter(head)?;
    let line = head.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let at = line.windows(interp.len()).position(|w| w == interp)? + interp.len();
    let rest = line.get(at..)?;
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = rest.iter().position(|b| !blank(b))?;
    let end = rest.iter().rposition(|b| !blank(b))? + 1;
    rest.get(start..end)
}

/// The interpreter path of a `#!` line (first word after `#!`).
pub fn shebang_interpreter(head: &[u8]) -> Option<&[u8]> {
    let line = head.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let start = line.iter().position(|&b| b != b' ' && b != b'\t')?;
    let word = &line[start..];
    let end = word
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(word.len());
    Some(&word[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn elf_interpreters_are_read_from_the_program_headers() {
        // This very test binary: a dynamically linked ELF.
        let me = std::fs::read("/proc/self/exe").unwrap();
        let interp = elf_interpreter(&me[..me.len().min(4096)]).expect("PT_INTERP");
        assert!(
            interp.starts_with(b"/") && interp.windows(3).any(|w| w == b"ld-"),
            "{interp:?}"
        );
        assert_eq!(elf_interpreter(b"#!/bin/sh\n"), None);
        assert_eq!(elf_interpreter(&me[..0x40]), None, "headers cut short");
        let mut bad = me[..4096.min(me.len())].to_vec();
        bad[4] = 9;
        assert_eq!(elf_interpreter(&bad), None, "unknown class");
    }

    struct Map(HashMap<&'static str, Candidate>);
    impl Probe for Map {
        fn candidate(&self, path: &[u8]) -> Candidate {
            self.0
                .get(std::str::from_utf8(path).unwrap())
                .cloned()
                .unwrap_or(Candidate::Missing)
        }
    }
    fn fs(entries: &[(&'static str, Candidate)]) -> Map {
        Map(entries.iter().cloned().collect())
    }
    fn s(r: Result<Vec<u8>, Unresolved>) -> Result<String, Unresolved> {
        r.map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn search_in_order() {
        let f = fs(&[
            ("/usr/bin/ar", Candidate::Elf),
            ("/opt/bin/ar", Candidate::Elf),
        ]);
        assert_eq!(
            s(resolve_search(b"ar", Some(b"/opt/bin:/usr/bin"), &f)),
            Ok("/opt/bin/ar".into())
        );
        assert_eq!(
            s(resolve_search(b"ar", Some(b"/nope:/usr/bin"), &f)),
            Ok("/usr/bin/ar".into())
        );
        assert_eq!(
            s(resolve_search(b"ar", Some(b"/nope"), &f)),
            Err(Unresolved::NotFound)
        );
    }

    #[test]
    fn default_path_when_unset() {
        let f = fs(&[("/usr/bin/ar", Candidate::Elf)]);
        assert_eq!(s(resolve_search(b"ar", None, &f)), Ok("/usr/bin/ar".into()));
        let f = fs(&[("/usr/local/bin/ar", Candidate::Elf)]);
        assert_eq!(
            s(resolve_search(b"ar", None, &f)),
            Err(Unresolved::NotFound)
        );
    }

    #[test]
    fn empty_entry_is_current_directory() {
        let f = fs(&[("ar", Candidate::Elf), ("/usr/bin/ar", Candidate::Elf)]);
        assert_eq!(
            s(resolve_search(b"ar", Some(b":/usr/bin"), &f)),
            Ok("ar".into())
        );
        assert_eq!(
            s(resolve_search(b"ar", Some(b"/usr/bin:"), &f)),
            Ok("/usr/bin/ar".into())
        );
        assert_eq!(
            s(resolve_search(b"ar", Some(b""), &f)),
            Ok("ar".into()),
            "PATH= searches cwd"
        );
    }

    #[test]
    fn eacces_continues_enoexec_stops() {
        let f = fs(&[
            ("/a/ar", Candidate::NotExecutable),
            ("/b/ar", Candidate::Elf),
        ]);
        assert_eq!(
            s(resolve_search(b"ar", Some(b"/a:/b"), &f)),
            Ok("/b/ar".into())
        );
        let f = fs(&[("/a/ar", Candidate::NotExecutable)]);
        assert_eq!(
            s(resolve_search(b"ar", Some(b"/a:/b"), &f)),
            Err(Unresolved::NotExecutable)
        );
        // a script without #! : posix_spawnp fails with ENOEXEC, no shell retry
        let f = fs(&[("/a/ar", Candidate::Unknown), ("/b/ar", Candidate::Elf)]);
        assert_eq!(
            s(resolve_search(b"ar", Some(b"/a:/b"), &f)),
            Err(Unresolved::NoExecFormat)
        );
        let f = fs(&[(
            "/a/ar",
            Candidate::Script {
                interpreter_ok: true,
            },
        )]);
        assert_eq!(
            s(resolve_search(b"ar", Some(b"/a"), &f)),
            Ok("/a/ar".into())
        );
        let f = fs(&[(
            "/a/ar",
            Candidate::Script {
                interpreter_ok: false,
            },
        )]);
        assert_eq!(
            s(resolve_search(b"ar", Some(b"/a"), &f)),
            Err(Unresolved::BadInterpreter)
        );
    }

    #[test]
    fn slash_means_no_search() {
        let f = fs(&[("/usr/bin/ar", Candidate::Elf), ("bin/ar", Candidate::Elf)]);
        assert_eq!(
            s(resolve_search(b"bin/ar", Some(b"/usr"), &f)),
            Ok("bin/ar".into())
        );
        assert_eq!(
            s(resolve_search(b"/x/ar", Some(b"/usr/bin"), &f)),
            Err(Unresolved::NotFound)
        );
        assert_eq!(
            s(resolve_exact(b"/usr/bin/ar", &f)),
            Ok("/usr/bin/ar".into())
        );
        assert_eq!(s(resolve_exact(b"", &f)), Err(Unresolved::NotFound));
        assert_eq!(s(resolve_search(b"", None, &f)), Err(Unresolved::NotFound));
    }

    #[test]
    fn system_first_word() {
        let p =
            |c: &str| system_program(c.as_bytes()).map(|w| String::from_utf8(w.to_vec()).unwrap());
        assert_eq!(p("ar rcs lib.a a.o b.o"), Some("ar".into()));
        assert_eq!(p("  /usr/bin/ar rcs x.a"), Some("/usr/bin/ar".into()));
        assert_eq!(
            p("x86_64-linux-gnu-ar rc foo.a foo.o && echo ok"),
            Some("x86_64-linux-gnu-ar".into())
        );
        assert_eq!(p("ar;echo"), Some("ar".into()));
        assert_eq!(p("FOO=1 ar rcs x.a"), None);
        assert_eq!(p("'ar' rcs x.a"), None);
        assert_eq!(p("$AR rcs x.a"), None);
        assert_eq!(p("(ar rcs x.a)"), None);
        assert_eq!(p("exec ar rcs x.a"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("   "), None);
    }

    #[test]
    fn simple_commands() {
        let w = |c: &str| {
            simple_words(c.as_bytes()).map(|v| {
                v.iter()
                    .map(|w| String::from_utf8(w.to_vec()).unwrap())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(
            w("ar rcs lib.a a.o  b.o"),
            Some(vec![
                "ar".into(),
                "rcs".into(),
                "lib.a".into(),
                "a.o".into(),
                "b.o".into()
            ])
        );
        assert_eq!(
            w("ar --plugin=/x/liblto.so rc x.a"),
            Some(vec![
                "ar".into(),
                "--plugin=/x/liblto.so".into(),
                "rc".into(),
                "x.a".into()
            ])
        );
        assert_eq!(w("ar rcs x.a *.o"), None);
        assert_eq!(w("ar rcs x.a a.o && echo ok"), None);
        assert_eq!(w("ar rcs 'my lib.a' a.o"), None);
        assert_eq!(w("ar rcs $OUT a.o"), None);
        assert_eq!(w("ar rcs x.a a.o > log"), None);
        assert_eq!(w("A=1 ar rcs x.a"), None);
        assert_eq!(w("ar rcs x.a ~/a.o"), None);
        assert_eq!(w("ar rcs x.a a.o\nrm a.o"), None);
        assert_eq!(w(""), None);
    }

    #[test]
    fn shebangs() {
        assert_eq!(
            shebang_interpreter(b"#!/bin/sh\necho"),
            Some(&b"/bin/sh"[..])
        );
        assert_eq!(
            shebang_interpreter(b"#! /usr/bin/env python3\n"),
            Some(&b"/usr/bin/env"[..])
        );
        assert_eq!(shebang_interpreter(b"#!\n"), None);
        assert_eq!(shebang_interpreter(b"\x7fELF"), None);
    }

    #[test]
    fn a_foreign_elf_stops_the_search_as_enoexec() {
        let probe = Map(HashMap::from([
            ("/a/ar", Candidate::Foreign),
            ("/b/ar", Candidate::Elf),
        ]));
        assert_eq!(
            resolve_search(b"ar", Some(b"/a:/b"), &probe),
            Err(Unresolved::Foreign)
        );
        assert_eq!(resolve_exact(b"/a/ar", &probe), Err(Unresolved::Foreign));
    }

    #[test]
    fn elf_headers_are_compared_with_this_machine() {
        let me = std::fs::read("/proc/self/exe").unwrap();
        let me = &me[..64];
        assert!(elf_runs_here(me, me));
        let patched = |at: usize, bytes: &[u8]| {
            let mut h = me.to_vec();
            h[at..at + bytes.len()].copy_from_slice(bytes);
            h
        };
        assert!(!elf_runs_here(&patched(18, &[0xb7, 0]), me), "machine");
        assert!(!elf_runs_here(&patched(4, &[1]), me), "class");
        assert!(!elf_runs_here(&patched(5, &[2]), me), "byte order");
        assert!(!elf_runs_here(&patched(16, &[1, 0]), me), "ET_REL");
        assert!(!elf_runs_here(b"#!/bin/sh\n", me));
        assert!(!elf_runs_here(&me[..10], me), "cut short");
    }

    #[test]
    fn shebang_arguments() {
        assert_eq!(shebang_argument(b"#!/bin/sh\n"), None);
        assert_eq!(shebang_argument(b"#! /bin/sh -e \nx"), Some(&b"-e"[..]));
        assert_eq!(
            shebang_argument(b"#!/usr/bin/env  python3 -u\n"),
            Some(&b"python3 -u"[..])
        );
    }
}
