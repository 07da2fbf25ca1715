//! Can the library work in this program at all? Pure rules over the facts
//! `command` gathered about the file, so that each verdict is unit-tested.

use std::path::PathBuf;

use object::elf;

use super::elf::ElfFacts;
use super::report::{Finding, Status};

/// Everything the rules look at, about one executable file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    /// As resolved (what the user will recognise).
    pub path: PathBuf,
    /// Basenames it is known by: the resolved path's and the canonical
    /// path's (the library matches both the executable and `argv[0]`).
    pub names: Vec<String>,
    pub mode: u32,
    /// The owner's user name (or uid), for the setuid explanation.
    pub owner: String,
    /// Has `security.capability` (file capabilities).
    pub capabilities: bool,
    pub content: Content,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Elf(ElfFacts),
    /// Starts like ELF but cannot be read as such.
    BadElf(String),
    Script(Shebang),
    /// Neither ELF nor `#!`: execvp runs it with /bin/sh.
    Other,
}

/// A `#!` line as the kernel reads it: the interpreter, then at most one
/// argument (the rest of the line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shebang {
    pub interpreter: String,
    pub arg: Option<String>,
}

impl Shebang {
    /// For `#!/usr/bin/env [-S] [NAME=VALUE...] X ...`: X, the program env
    /// looks up on PATH and execs (in env's own pid).
    pub fn env_program(&self) -> Option<&str> {
        if basename(&self.interpreter) != "env" {
            return None;
        }
        self.arg
            .as_deref()?
            .split_whitespace()
            .find(|w| !w.starts_with('-') && !w.contains('='))
    }

    /// The program that really runs the script: X for env, else the interpreter.
    pub fn program(&self) -> &str {
        self.env_program().unwrap_or(&self.interpreter)
    }
}

/// Parses the start of a file as the kernel's binfmt_script does.
pub fn parse_shebang(head: &[u8]) -> Option<Shebang> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next().unwrap_or(rest);
    let line = String::from_utf8_lossy(line);
    let line = line.trim_matches([' ', '\t', '\r']);
    let (interpreter, arg) = match line.split_once([' ', '\t']) {
        Some((i, a)) => (i, Some(a.trim_matches([' ', '\t', '\r']))),
        None => (line, None),
    };
    if interpreter.is_empty() {
        return None;
    }
    Some(Shebang {
        interpreter: interpreter.to_string(),
        arg: arg.filter(|a| !a.is_empty()).map(str::to_string),
    })
}

/// Shells and build drivers, which the library never lets convert.
pub use arshim_common::names::DRIVERS;

pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The architecture libarshim.so was built for (it can only be preloaded
/// into programs of the same one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LibraryArch {
    pub class64: bool,
    pub machine: u16,
}

/// Which program is judged: CMD itself, or the interpreter of a CMD script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Command,
    Interpreter,
}

impl Role {
    pub fn check(self) -> &'static str {
        match self {
            Role::Command => "command",
            Role::Interpreter => "interpreter",
        }
    }
}

/// The findings for one program; `shown` is how the user named it (for
/// suggestions).
pub fn assess(
    role: Role,
    shown: &str,
    facts: &FileFacts,
    library: Option<LibraryArch>,
) -> Vec<Finding> {
    let check = role.check();
    let path = facts.path.display();
    let mut out = Vec::new();
    let problem = |reason: String| Finding::new(Status::Problem, check, reason);

    if let Some(secure) = secure_execution(facts) {
        out.push(problem(format!(
            "{path} {secure}: the kernel runs it as a secure-execution program (whenever \
             that changes the user or group id, or grants capabilities), and the dynamic \
             loader then ignores LD_PRELOAD (it would only take a library from \
             the system directories that is itself setuid) — and libarshim.so stays off \
             in such a process anyway. Run a copy without that bit if the program does \
             not need it"
        )));
    }

    match &facts.content {
        Content::BadElf(reason) => out.push(problem(format!("{reason}: it cannot be run"))),
        Content::Elf(elf) => out.extend(assess_elf(role, facts, elf, library)),
        Content::Script(shebang) => out.push(Finding::new(
            Status::Note,
            check,
            match role {
                Role::Command => script_note(&path.to_string(), shown, shebang),
                Role::Interpreter => nested_script_note(&path.to_string(), shebang),
            },
        )),
        Content::Other => out.push(Finding::new(
            Status::Warn,
            check,
            format!(
                "{path} is neither an ELF program nor a #! script: execvp runs such a file \
                 with /bin/sh, and shells never convert"
            ),
        )),
    }

    // An `ok` next to a problem would only confuse.
    if out.iter().any(|f| f.status == Status::Problem) {
        out.retain(|f| f.status != Status::Ok);
    }
    out
}

/// Why the kernel would set AT_SECURE for it, if it would.
fn secure_execution(facts: &FileFacts) -> Option<String> {
    let mut why = Vec::new();
    if facts.mode & 0o4000 != 0 {
        why.push(format!("is setuid (owner {})", facts.owner));
    }
    // Set-group-ID without group execute means mandatory locking, not setgid.
    if facts.mode & 0o2010 == 0o2010 {
        why.push("is setgid".to_string());
    }
    if facts.capabilities {
        why.push("has file capabilities".to_string());
    }
    (!why.is_empty()).then(|| why.join(" and "))
}

fn assess_elf(
    role: Role,
    facts: &FileFacts,
    elf: &ElfFacts,
    library: Option<LibraryArch>,
) -> Vec<Finding> {
    let check = role.check();
    let path = facts.path.display().to_string();
    if let Some(reason) = never_preloaded(&path, elf, library) {
        return vec![Finding::new(Status::Problem, check, reason)];
    }
    let interp = elf.interp.as_deref().unwrap_or_default();
    let mut out = vec![loader_finding(check, &path, elf, interp)];
    // (A shell as a script's interpreter is already explained by the script's note.)
    let driver = facts.names.iter().find(|n| DRIVERS.contains(&n.as_str()));
    if let (Some(name), Role::Command) = (driver, role) {
        out.push(Finding::new(
            Status::Warn,
            check,
            format!(
                "{name} is a shell or build driver: the library never converts in it (its \
                 archiver runs are not its last act). It passes the library on to what it \
                 starts: use `arshim run --hosts LINKER -- {name} …` with your linker's name"
            ),
        ));
    }
    out
}

/// Why the library can never be loaded into this ELF file, if it cannot:
/// not a program, statically linked, or of another architecture.
fn never_preloaded(path: &str, elf: &ElfFacts, library: Option<LibraryArch>) -> Option<String> {
    if elf.e_type != elf::ET_EXEC && elf.e_type != elf::ET_DYN {
        let kind = match elf.e_type {
            elf::ET_REL => "a relocatable object (.o)",
            elf::ET_CORE => "a core dump",
            _ => "not a program",
        };
        return Some(format!(
            "{path} is an ELF file but {kind}: it cannot be run"
        ));
    }
    if elf.interp.is_none() {
        let go = if elf.go {
            "It is a Go program: Go's own linker (cmd/link) is built this way, and it needs \
             the Go change that makes the linker run its exit cleanups and then exec the \
             archiver itself (go-cmd-link-execarchive.patch in arshim's sources), not arshim"
        } else {
            "Link it dynamically against glibc, or change the program so that it execs the \
             archiver itself as its last act (as the Go patch does for Go's own cmd/link, \
             which is static too)"
        };
        return Some(format!(
            "{path} is statically linked (no program interpreter): the kernel starts it \
             without the dynamic loader, and only the dynamic loader reads LD_PRELOAD, so \
             libarshim.so can never be loaded into it. {go}"
        ));
    }
    let lib = library?;
    if (lib.class64, lib.machine) == (elf.class64, elf.machine) {
        return None;
    }
    let lib_arch = ElfFacts {
        class64: lib.class64,
        machine: lib.machine,
        ..elf.clone()
    }
    .arch();
    Some(format!(
        "{path} is {} code but libarshim.so is {lib_arch}: the loader refuses to \
         preload a library of another architecture (\"wrong ELF class\") and ignores it",
        elf.arch()
    ))
}

/// Whether LD_PRELOAD applies as the library was built for: glibc's loader.
fn loader_finding(check: &'static str, path: &str, elf: &ElfFacts, interp: &str) -> Finding {
    if is_glibc(elf) {
        return Finding::new(
            Status::Ok,
            check,
            format!(
                "{path} is dynamically linked against glibc (loader {interp}): \
                 LD_PRELOAD applies"
            ),
        );
    }
    let which = if interp.contains("ld-musl") {
        " (musl)"
    } else {
        ""
    };
    Finding::new(
        Status::Warn,
        check,
        format!(
            "{path} is dynamically linked, but not against glibc (loader {interp}{which}): \
             libarshim.so is built for glibc and untested here — whether this loader \
             loads it at all (it needs glibc's libc.so.6), whether its posix_spawn, \
             system and wait hooks see this C library's calls, and whether the exit \
             handlers and stdio buffers are flushed before the exec. Look with \
             `arshim run --observe --trace FILE -- CMD …` for a load and a spawn event"
        ),
    )
}

/// glibc's loader is ld-linux*.so.* (ld64.so.* on some 64-bit ports), and
/// glibc programs need libc.so.6.
fn is_glibc(elf: &ElfFacts) -> bool {
    let loader = elf.interp.as_deref().map(basename).unwrap_or("");
    loader.starts_with("ld-linux")
        || loader.starts_with("ld64.so")
        || elf.needed.iter().any(|n| n == "libc.so.6")
}

/// The interpreter of a script is a script too: typically a version
/// manager's shim (pyenv, rbenv) that finally execs the real interpreter.
fn nested_script_note(path: &str, shebang: &Shebang) -> String {
    format!(
        "{path} is itself a script, run by {} (a version manager's shim?): the program it \
         finally execs is the one that loads the library; check that one with `arshim \
         doctor PATH`",
        shebang.program()
    )
}

fn script_note(path: &str, shown: &str, shebang: &Shebang) -> String {
    if basename(&shebang.interpreter) == "env" && shebang.env_program().is_none() {
        return format!(
            "{path} is a script run by {}, which names no program: it cannot run as a linker",
            shebang.interpreter
        );
    }
    let runner = match shebang.env_program() {
        Some(x) => format!("{x} (through {})", shebang.interpreter),
        None => shebang.interpreter.clone(),
    };
    let program = basename(shebang.program());
    if DRIVERS.contains(&program) {
        return format!(
            "{path} is a script run by {runner}; the interpreter process is the one that \
             loads the library, and shells and build drivers never convert. If the script \
             ends by exec'ing the real linker (`exec LINKER \"$@\"`), `arshim run -- {shown}` \
             still works (the linker keeps the claim); otherwise use `arshim run --hosts \
             LINKER -- {shown}` with the linker's name, or run the linker directly"
        );
    }
    format!(
        "{path} is a script run by {runner}: the interpreter process ({program}) is the one \
         that loads the library and may convert. `arshim run -- {shown}` works (the \
         interpreter keeps the script's pid, and with it the claim); in a build that runs \
         the script for you, use `arshim run --hosts {program} -- BUILD …` (then any \
         {program} process may convert), or run the real program directly"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glibc_elf() -> ElfFacts {
        ElfFacts {
            class64: true,
            machine: elf::EM_X86_64,
            e_type: elf::ET_DYN,
            interp: Some("/lib64/ld-linux-x86-64.so.2".into()),
            needed: vec!["libc.so.6".into()],
            go: false,
        }
    }

    fn file(content: Content) -> FileFacts {
        FileFacts {
            path: "/usr/bin/ld-legacy".into(),
            names: vec!["ld-legacy".into()],
            mode: 0o100755,
            owner: "root".into(),
            capabilities: false,
            content,
        }
    }

    const X86_64: Option<LibraryArch> = Some(LibraryArch {
        class64: true,
        machine: elf::EM_X86_64,
    });

    fn statuses(f: &[Finding]) -> Vec<Status> {
        f.iter().map(|f| f.status).collect()
    }

    fn text(f: &[Finding]) -> String {
        f.iter().map(|f| f.to_string() + "\n").collect()
    }

    #[test]
    fn dynamic_glibc_program_is_ok() {
        let f = assess(
            Role::Command,
            "ld-legacy",
            &file(Content::Elf(glibc_elf())),
            X86_64,
        );
        assert_eq!(statuses(&f), [Status::Ok], "{}", text(&f));
        assert!(text(&f).contains("glibc"));
        // No section headers (needed unknown): the loader's name decides.
        let mut e = glibc_elf();
        e.needed.clear();
        let f = assess(Role::Command, "x", &file(Content::Elf(e)), X86_64);
        assert_eq!(statuses(&f), [Status::Ok]);
    }

    #[test]
    fn static_program_is_a_problem_that_names_the_go_patch() {
        let mut e = glibc_elf();
        e.interp = None;
        e.needed.clear();
        let f = assess(Role::Command, "x", &file(Content::Elf(e.clone())), X86_64);
        assert_eq!(statuses(&f), [Status::Problem]);
        let t = text(&f);
        assert!(
            t.contains("statically linked") && t.contains("LD_PRELOAD"),
            "{t}"
        );
        assert!(t.contains("cmd/link"), "{t}");
        e.go = true;
        let t = text(&assess(Role::Command, "x", &file(Content::Elf(e)), X86_64));
        assert!(t.contains("It is a Go program"), "{t}");
    }

    #[test]
    fn setuid_setgid_and_capabilities_are_problems() {
        for (mode, caps, word) in [
            (0o104755, false, "setuid (owner root)"),
            (0o102755, false, "setgid"),
            (0o100755, true, "file capabilities"),
        ] {
            let mut facts = file(Content::Elf(glibc_elf()));
            facts.mode = mode;
            facts.capabilities = caps;
            let f = assess(Role::Command, "x", &facts, X86_64);
            assert_eq!(statuses(&f), [Status::Problem], "{}", text(&f));
            let t = text(&f);
            assert!(t.contains(word) && t.contains("ignores LD_PRELOAD"), "{t}");
        }
        // Set-group-ID without group execute is mandatory locking: harmless.
        let mut facts = file(Content::Elf(glibc_elf()));
        facts.mode = 0o102745;
        assert_eq!(
            statuses(&assess(Role::Command, "x", &facts, X86_64)),
            [Status::Ok]
        );
    }

    #[test]
    fn musl_is_a_warning_that_says_what_is_untested() {
        let mut e = glibc_elf();
        e.interp = Some("/lib/ld-musl-x86_64.so.1".into());
        e.needed = vec!["libc.so".into()];
        let f = assess(Role::Command, "x", &file(Content::Elf(e)), X86_64);
        assert_eq!(statuses(&f), [Status::Warn]);
        let t = text(&f);
        assert!(
            t.contains("not against glibc") && t.contains("musl") && t.contains("untested"),
            "{t}"
        );
    }

    #[test]
    fn other_architecture_is_a_problem() {
        let mut e = glibc_elf();
        e.class64 = false;
        e.machine = elf::EM_386;
        e.interp = Some("/lib/ld-linux.so.2".into());
        let f = assess(Role::Command, "x", &file(Content::Elf(e)), X86_64);
        assert_eq!(statuses(&f), [Status::Problem]);
        assert!(
            text(&f).contains("32-bit x86 code but libarshim.so is x86-64"),
            "{}",
            text(&f)
        );
    }

    #[test]
    fn objects_and_broken_files_are_problems() {
        let mut e = glibc_elf();
        e.e_type = elf::ET_REL;
        assert_eq!(
            statuses(&assess(Role::Command, "x", &file(Content::Elf(e)), X86_64)),
            [Status::Problem]
        );
        let f = assess(
            Role::Command,
            "x",
            &file(Content::BadElf("x: bad".into())),
            X86_64,
        );
        assert_eq!(statuses(&f), [Status::Problem]);
    }

    #[test]
    fn drivers_get_a_warning_next_to_ok() {
        let mut facts = file(Content::Elf(glibc_elf()));
        facts.names = vec!["make".into()];
        let f = assess(Role::Command, "make", &facts, X86_64);
        assert_eq!(statuses(&f), [Status::Ok, Status::Warn]);
        assert!(text(&f).contains("--hosts LINKER -- make"), "{}", text(&f));
    }

    #[test]
    fn shebang_lines_parse_like_the_kernel() {
        let s = parse_shebang(b"#!/usr/bin/env python3\nprint(1)\n").unwrap();
        assert_eq!(s.interpreter, "/usr/bin/env");
        assert_eq!(s.arg.as_deref(), Some("python3"));
        assert_eq!(s.env_program(), Some("python3"));
        assert_eq!(s.program(), "python3");
        let s = parse_shebang(b"#! /bin/sh -e -u\r\n").unwrap();
        assert_eq!(
            (s.interpreter.as_str(), s.arg.as_deref()),
            ("/bin/sh", Some("-e -u"))
        );
        assert_eq!(s.env_program(), None);
        let s = parse_shebang(b"#!/usr/bin/env -S LC_ALL=C perl -w\n").unwrap();
        assert_eq!(s.env_program(), Some("perl"));
        assert_eq!(parse_shebang(b"#!\n"), None);
        assert_eq!(parse_shebang(b"\x7fELF"), None);
    }

    #[test]
    fn scripts_name_the_interpreter_and_suggest_hosts() {
        let py = parse_shebang(b"#!/usr/bin/env python3\n").unwrap();
        let f = assess(
            Role::Command,
            "./link.py",
            &file(Content::Script(py)),
            X86_64,
        );
        assert_eq!(statuses(&f), [Status::Note]);
        let t = text(&f);
        assert!(t.contains("python3 (through /usr/bin/env)"), "{t}");
        assert!(t.contains("--hosts python3 -- BUILD"), "{t}");
        assert!(t.contains("`arshim run -- ./link.py` works"), "{t}");

        let sh = parse_shebang(b"#!/bin/sh\n").unwrap();
        let t = text(&assess(
            Role::Command,
            "./ld.sh",
            &file(Content::Script(sh)),
            X86_64,
        ));
        assert!(
            t.contains("run by /bin/sh") && t.contains("shells and build drivers never convert"),
            "{t}"
        );

        let env = parse_shebang(b"#!/usr/bin/env\n").unwrap();
        let t = text(&assess(
            Role::Command,
            "x",
            &file(Content::Script(env)),
            X86_64,
        ));
        assert!(t.contains("names no program"), "{t}");
    }

    #[test]
    fn interpreters_are_judged_without_repeating_the_script_note() {
        let mut sh = file(Content::Elf(glibc_elf()));
        sh.names = vec!["sh".into(), "dash".into()];
        let f = assess(Role::Interpreter, "/bin/sh", &sh, X86_64);
        assert_eq!(statuses(&f), [Status::Ok], "{}", text(&f));
        assert_eq!(f[0].check, "interpreter");

        let shim = parse_shebang(b"#!/usr/bin/env bash\n").unwrap();
        let f = assess(
            Role::Interpreter,
            "python3",
            &file(Content::Script(shim)),
            X86_64,
        );
        assert_eq!(statuses(&f), [Status::Note]);
        assert!(
            text(&f).contains("itself a script, run by bash"),
            "{}",
            text(&f)
        );
    }

    #[test]
    fn neither_elf_nor_script_is_run_by_the_shell() {
        let f = assess(Role::Command, "x", &file(Content::Other), X86_64);
        assert_eq!(statuses(&f), [Status::Warn]);
        assert!(text(&f).contains("/bin/sh"));
    }
}
