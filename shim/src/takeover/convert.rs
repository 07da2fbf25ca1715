//! The spawn-time entry point (docs/DESIGN.md, "Conversion" 1): copies the
//! host's spawn arguments, decides, prepares, and converts.
//!
//! `consider` returns only when the real call must be made (not an archiver,
//! observe mode, or any doubt). When it converts, it never returns: the
//! archiver replaces this process, keeping its pid.

use crate::decide::config::Config;
use crate::decide::indirect::{self, StdinSource};
use crate::decide::link;
use crate::decide::plan::{self, Attrs, Facts, FileAction};
use crate::decide::protect::absolute;
use crate::decide::resolve::{self, Candidate, Probe, Unresolved};
use crate::decide::scope::basename;
use crate::facts::fs::{RealFacts, RealProbe};
use crate::facts::indirect::{archiver_inputs, link_output, Stdin};
use crate::facts::proc;
use crate::ffi::state;
use crate::record::logging::info;
use crate::record::mirror;
use crate::record::observe::{self, WouldConvert};
use crate::record::trace::Event;
use crate::takeover::exec::{copy_vector, environ_copy, mark_spent, Exec};
use crate::takeover::report::{fallback, Attempt};
use crate::takeover::restore::{self, Captured};
use crate::takeover::tail::{self, Archiver, Kit, Run};
use crate::takeover::{defer, fit, replay};
use libc::{c_char, posix_spawn_file_actions_t, posix_spawnattr_t};
use std::ffi::{CStr, CString};

/// The spawn call being considered, with the host's own pointers.
pub enum Request {
    Spawn {
        call: &'static str,
        path: *const c_char,
        search: bool,
        actions: *const posix_spawn_file_actions_t,
        attr: *const posix_spawnattr_t,
        argv: *const *mut c_char,
        envp: *const *mut c_char,
    },
    System {
        command: *const c_char,
    },
}

/// glibc's public `posix_spawn_file_actions_t` layout (<spawn.h>): we read
/// only `__used`, the number of actions, to check our mirror saw them all.
#[repr(C)]
struct PublicFileActions {
    allocated: libc::c_int,
    used: libc::c_int,
}

/// Everything a conversion needs, gathered before the point of no return.
struct Ready {
    exec: Exec,
    steps: replay::Prepared,
    notes: Vec<String>,
    /// The archiver's working directory, for its relative operands.
    cwd: Vec<u8>,
    /// What it reads or writes, named directly or indirectly.
    operands: Vec<Vec<u8>>,
}

fn path_var() -> Option<Vec<u8>> {
    // SAFETY: getenv on a NUL-terminated name; copied at once.
    unsafe {
        let p = libc::getenv(c"PATH".as_ptr());
        (!p.is_null()).then(|| CStr::from_ptr(p).to_bytes().to_vec())
    }
}

fn has_relative_entry(path_var: &[u8]) -> bool {
    path_var
        .split(|&b| b == b':')
        .any(|d| d.first() != Some(&b'/'))
}

unsafe fn attrs_of(attr: *const posix_spawnattr_t) -> Attrs {
    let mut flags: libc::c_short = 0;
    let mut pgroup: libc::pid_t = 0;
    let mut sd: libc::sigset_t = std::mem::zeroed();
    let mut ss: libc::sigset_t = std::mem::zeroed();
    libc::posix_spawnattr_getflags(attr, &mut flags);
    libc::posix_spawnattr_getpgroup(attr, &mut pgroup);
    libc::posix_spawnattr_getsigdefault(attr, &mut sd);
    libc::posix_spawnattr_getsigmask(attr, &mut ss);
    Attrs {
        flags,
        pgroup,
        sigdefault: replay::mask_of(&sd),
        sigmask: replay::mask_of(&ss),
    }
}

/// Returns whether the program is an archiver (when it returns at all).
///
/// # Safety
/// The pointers are the host's arguments to the spawn call, valid for its duration.
pub unsafe fn consider(config: &'static Config, request: &Request) -> bool {
    let Some((call, program, argv)) = the_call(request) else {
        return false;
    };
    let archiver = !program.is_empty() && config.tools.matches(basename(&program));
    Event::new("spawn")
        .str("call", call)
        .str("program", &program)
        .list("argv", argv.iter().map(|a| a.as_bytes()))
        .bool("archiver", archiver)
        .emit(config.trace.as_deref());
    if !archiver {
        return false;
    }
    if !state::is_exec(config) {
        return observe_call(config, request, call, &program, argv);
    }
    let ready = checked(config, request, &program, argv).and_then(|(ready, kit)| {
        // Last: nothing may fail between the capture and the cleanups.
        let captured = restore::for_spawn(&ready.steps.reads(), ready.steps.highest_fd())?;
        Ok((ready, kit, captured))
    });
    match ready {
        Ok((ready, kit, captured)) => convert(config, call, &program, ready, kit, captured),
        Err(reason) => fallback(
            config,
            &Attempt::Spawn {
                call,
                program: &program,
            },
            &reason,
        ),
    }
    true
}

/// Everything a conversion checks before its point of no return, but the
/// capture of the host's state: what the library would do with the call.
unsafe fn checked(
    config: &'static Config,
    request: &Request,
    program: &[u8],
    argv: Vec<CString>,
) -> Result<(Ready, Kit), String> {
    let ready = prepare(request, program, argv)?;
    let mut kit = tail::kit(config)?;
    fit(config, &mut kit, &ready)?;
    Ok((ready, kit))
}

/// Observe mode: the same checks as a conversion, so that the call the
/// trace marks (`would_convert`, whose wait starts the recording) is the
/// one the library would convert, and the others are `fallback` events with
/// their reasons (docs/DESIGN.md, "Conversion" 10). Whether it would convert.
///
/// # Safety
/// As `consider`.
unsafe fn observe_call(
    config: &'static Config,
    request: &Request,
    call: &'static str,
    program: &[u8],
    argv: Vec<CString>,
) -> bool {
    let words: Vec<Vec<u8>> = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
    let ready = match checked(config, request, program, argv) {
        Ok((ready, _)) => ready,
        Err(reason) => {
            fallback(config, &Attempt::Spawn { call, program }, &reason);
            return false;
        }
    };
    info!(
        "{call} of {}: would convert (observe mode)",
        String::from_utf8_lossy(program)
    );
    let tool = ready
        .exec
        .argv
        .first()
        .map(|a| a.as_bytes())
        .unwrap_or_default();
    WouldConvert {
        call,
        program,
        argv: &words,
        child: 0,
        kind: link::kind(tool).name(),
        output: link_output(tool, &operands(&ready.exec), &ready.cwd),
    }
    .emit(config.trace.as_deref());
    observe_file_actions(config, request);
    true
}

/// The call's name, the program it names (for `system`, the command's first
/// word) and its argument vector, copied; `None` when it names no program.
unsafe fn the_call(request: &Request) -> Option<(&'static str, Vec<u8>, Vec<CString>)> {
    match *request {
        Request::Spawn {
            call, path, argv, ..
        } => {
            if path.is_null() {
                return None;
            }
            Some((
                call,
                CStr::from_ptr(path).to_bytes().to_vec(),
                copy_vector(argv),
            ))
        }
        Request::System { command } => {
            if command.is_null() {
                return None; // system(NULL) only asks whether a shell exists
            }
            let cmd = CStr::from_ptr(command);
            let word = resolve::system_program(cmd.to_bytes())
                .unwrap_or_default()
                .to_vec();
            Some((
                "system",
                word,
                vec![CString::from(c"sh"), CString::from(c"-c"), cmd.to_owned()],
            ))
        }
    }
}

/// Everything that can fail, checked while the host can still be returned to.
unsafe fn prepare(request: &Request, program: &[u8], argv: Vec<CString>) -> Result<Ready, String> {
    match *request {
        Request::Spawn {
            search,
            actions,
            attr,
            envp,
            ..
        } => prepare_spawn(program, argv, search, actions, attr, envp),
        Request::System { command } => prepare_system(program, CStr::from_ptr(command), argv),
    }
}

/// `posix_spawn`/`posix_spawnp`: the program resolved as the call would, the
/// file actions (all of them seen by the mirror) and attributes planned.
unsafe fn prepare_spawn(
    program: &[u8],
    argv: Vec<CString>,
    search: bool,
    actions: *const posix_spawn_file_actions_t,
    attr: *const posix_spawnattr_t,
    envp: *const *mut c_char,
) -> Result<Ready, String> {
    let pid = libc::getpid();
    let path_var = path_var();
    let resolved = if search {
        resolve::resolve_search(program, path_var.as_deref(), &RealProbe)
    } else {
        resolve::resolve_exact(program, &RealProbe)
    }
    .map_err(|e| e.reason().to_string())?;
    let recorded = recorded_actions(actions)?;
    let attrs = (!attr.is_null()).then(|| attrs_of(attr));
    let plan = plan::plan(&recorded, attrs.as_ref(), &RealFacts)?;
    let relative_search =
        search && !program.contains(&b'/') && path_var.as_deref().is_some_and(has_relative_entry);
    if plan.changes_cwd && (resolved.first() != Some(&b'/') || relative_search) {
        return Err("relative program path with a working-directory change".into());
    }
    let exec = Exec {
        path: CString::new(resolved).map_err(|_| "NUL in path")?,
        argv,
        envp: mark_spent(copy_vector(envp), pid),
    };
    let cwd = plan
        .final_dir()
        .map(|d| d.to_vec())
        .unwrap_or_else(proc::cwd);
    let cwd_known = !plan.changes_cwd || plan.final_dir().is_some();
    fed_stdin_ok(&indirect::stdin_source(&recorded), exec.path.as_bytes())?;
    let stdin = || spawn_stdin(&recorded);
    let operands = inputs(&exec, &cwd, cwd_known, stdin)?;
    let tool = exec.argv.first().map(|a| a.as_bytes()).unwrap_or_default();
    link::captured_output(tool, &plan.captured)?;
    Ok(Ready {
        exec,
        steps: replay::prepare(&plan.steps)?,
        notes: plan.notes,
        cwd,
        operands,
    })
}

/// Observe mode: the files the archiver spawn's file actions open for writing,
/// into the trace (`observe::file_action_writes`).
///
/// # Safety
/// As `consider`.
unsafe fn observe_file_actions(config: &'static Config, request: &Request) {
    if let Request::Spawn { actions, .. } = request {
        if let Ok(recorded) = recorded_actions(*actions) {
            observe::file_action_writes(&recorded, config.trace.as_deref());
        }
    }
}

/// The file actions the mirror recorded for `actions`, if it saw them all.
unsafe fn recorded_actions(
    actions: *const posix_spawn_file_actions_t,
) -> Result<Vec<FileAction>, String> {
    if actions.is_null() {
        return Ok(Vec::new());
    }
    let used = (*(actions as *const PublicFileActions)).used;
    match mirror::snapshot(actions as usize) {
        Some(v) if v.len() == used as usize => Ok(v),
        _ => Err("file actions were not all seen by the shim".into()),
    }
}

/// `system(command)`: the program exec'd directly when the command is simple
/// words, else `/bin/sh -c command` in this pid.
fn prepare_system(program: &[u8], command: &CStr, argv: Vec<CString>) -> Result<Ready, String> {
    if program.is_empty() {
        return Err("command does not start with a plain program name".into());
    }
    let resolved = resolve::resolve_search(program, path_var().as_deref(), &RealProbe);
    if resolved == Err(Unresolved::NotFound) {
        return Err("program not found on PATH (the shell would report it)".into());
    }
    let archiver = resolved.as_deref().unwrap_or_default();
    fed_stdin_ok(&StdinSource::HostFd(0), archiver)?;
    // SAFETY: getpid has no preconditions.
    let envp = mark_spent(environ_copy(), unsafe { libc::getpid() });
    let exec = match (resolved, resolve::simple_words(command.to_bytes())) {
        // What the shell would exec itself, without the fork dash adds.
        (Ok(path), Some(words)) => Exec {
            path: CString::new(path).map_err(|_| "NUL in path")?,
            argv: words
                .into_iter()
                .map(|w| CString::new(w).expect("from a C string"))
                .collect(),
            envp,
        },
        // Anything else is the shell's business, in this pid.
        _ => {
            resolve::resolve_exact(b"/bin/sh", &RealProbe)
                .map_err(|_| "/bin/sh is not executable")?;
            Exec {
                path: CString::from(c"/bin/sh"),
                argv,
                envp,
            }
        }
    };
    let cwd = proc::cwd();
    // The shell's own redirections are not followed: an MRI script behind
    // one is not read, and the command is not converted.
    let stdin = || match command.to_bytes().contains(&b'<') {
        true => Stdin::Unknown("a shell redirection"),
        false => Stdin::Path(b"/proc/self/fd/0".to_vec()),
    };
    let operands = inputs(&exec, &cwd, true, stdin)?;
    Ok(Ready {
        exec,
        steps: replay::prepare(&[])?,
        notes: Vec::new(),
        cwd,
        operands,
    })
}

/// What the archiver reads or writes (docs/DESIGN.md, "Conversion" 4),
/// `@FILE`s and an MRI script read now; an error when it only reads
/// ("Conversion" 10) or when what it names cannot be read.
fn inputs(
    exec: &Exec,
    cwd: &[u8],
    cwd_known: bool,
    stdin: impl FnOnce() -> Stdin,
) -> Result<Vec<Vec<u8>>, String> {
    let args = operands(exec);
    let indirect = |a: &Vec<u8>| a.first() == Some(&b'@') || a.as_slice() == b"-M";
    if !cwd_known && args.iter().any(indirect) {
        return Err("the archiver's directory is not known to read what it names".into());
    }
    let shell = exec.path.as_bytes() == b"/bin/sh";
    if shell && args.iter().any(|w| shell_computed(w)) {
        return Err("the shell computes or quotes the archiver's operands".into());
    }
    let program = exec.argv.first().map(|a| a.as_bytes()).unwrap_or_default();
    let program = match program {
        b"sh" if shell => operands_program(exec),
        p => p,
    };
    archiver_inputs(program, &args, cwd, stdin)
}

/// A word of a shell command that the shell expands (`$`, `` ` ``, a
/// glob) or that names a response file behind quotes: its operands are
/// not known.
fn shell_computed(word: &[u8]) -> bool {
    word.iter()
        .any(|&c| matches!(c, b'$' | b'`' | b'*' | b'?' | b'['))
        || word.iter().skip(1).any(|&c| c == b'@')
}

/// The program of `sh -c CMD`: CMD's first word.
fn operands_program(exec: &Exec) -> &[u8] {
    exec.argv
        .get(2)
        .and_then(|c| c.as_bytes().split(|&b| b == b' ' || b == b'\t').next())
        .unwrap_or_default()
}

/// A stdin pipe the host feeds (docs/DESIGN.md, "Conversion" 5) may go
/// unread only by an ELF archiver: GNU ar, llvm-ar and ranlib read their
/// stdin only for `-M`, which needs a script we can read. Anything else (a
/// wrapper script) may read it: not converted.
fn fed_stdin_ok(source: &StdinSource, archiver: &[u8]) -> Result<(), String> {
    let StdinSource::HostFd(fd) = *source else {
        return Ok(());
    };
    let facts = RealFacts;
    let fed = facts
        .pipe(fd)
        .is_some_and(|p| p.readable && facts.holds_pipe_end(p.id, false));
    if !fed || RealProbe.candidate(archiver) == Candidate::Elf {
        return Ok(());
    }
    Err(
        "fd 0: a pipe the host feeds, and the archiver is not an ELF program that leaves it unread"
            .into(),
    )
}

/// The archiver's stdin once the file actions ran, as a path to read.
fn spawn_stdin(actions: &[FileAction]) -> Stdin {
    match indirect::stdin_source(actions) {
        StdinSource::HostFd(fd) => Stdin::Path(format!("/proc/self/fd/{fd}").into_bytes()),
        StdinSource::Path(path) => Stdin::Path(absolute(&proc::cwd(), &path)),
        StdinSource::Closed => Stdin::Closed,
        StdinSource::Unknown => Stdin::Unknown("set up by the file actions in a way not followed"),
    }
}

/// The exec the conversion ends in, and the reaper's, fit the kernel's
/// limits (docs/DESIGN.md, "Conversion" 1).
fn fit(config: &Config, kit: &mut Kit, ready: &Ready) -> Result<(), &'static str> {
    let exec = &ready.exec;
    let protected = defer::protected_for(&ready.operands, &ready.cwd);
    fit::spawn_time(
        config,
        kit,
        exec,
        &protected,
        shell_headroom(exec, &ready.cwd),
    )
}

/// What `sh -c CMD` may add when it execs the archiver itself: `PWD=` the
/// working directory (dash exports it), a path of up to PATH_MAX, and one
/// pointer per word.
fn shell_headroom(exec: &Exec, cwd: &[u8]) -> u64 {
    match exec.argv.as_slice() {
        [_, flag, cmd] if exec.path.as_bytes() == b"/bin/sh" && flag.as_bytes() == b"-c" => {
            let words = cmd.as_bytes().split(|&b| b == b' ' || b == b'\t').count();
            (b"PWD=".len() + cwd.len() + 1 + 8 + libc::PATH_MAX as usize + 1 + 8 * words) as u64
        }
        _ => 0,
    }
}

/// The operands of the archiver: for `sh -c CMD`, the words of CMD.
fn operands(exec: &Exec) -> Vec<Vec<u8>> {
    let argv: Vec<&[u8]> = exec.argv.iter().map(|a| a.as_bytes()).collect();
    match argv.as_slice() {
        [_, flag, cmd] if exec.path.as_bytes() == b"/bin/sh" && *flag == b"-c" => cmd
            .split(|&b| b == b' ' || b == b'\t')
            .skip(1)
            .map(|w| w.to_vec())
            .collect(),
        _ => argv.iter().skip(1).map(|a| a.to_vec()).collect(),
    }
}

/// The point of no return: the tail, to the archiver (or the reaper, which
/// runs the archiver and then does the deferred deletions).
unsafe fn convert(
    config: &Config,
    call: &str,
    program: &[u8],
    ready: Ready,
    kit: Kit,
    captured: Captured,
) -> ! {
    let Ready {
        exec,
        steps,
        notes,
        cwd,
        operands,
    } = ready;
    Event::new("convert")
        .str("call", call)
        .str("program", program)
        .str("path", exec.path.as_bytes())
        .list("notes", notes.iter().map(|n| n.as_bytes()))
        .emit(config.trace.as_deref());
    info!(
        "{call} of {}: converting to execve of {} after the host's cleanups",
        String::from_utf8_lossy(program),
        exec.path.to_string_lossy()
    );
    let archiver = Archiver {
        operands: &operands,
        cwd: &cwd,
    };
    let job = Run::new(exec, steps).restoring(captured);
    // The spawn-time job's `Back` has no values: `take_over` never returns.
    // (Rust 1.88, the declared rust-version, calls the empty match itself
    // unreachable; later releases do not.)
    #[allow(unreachable_code)]
    match tail::take_over(config, kit, archiver, job) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archiver_operands() {
        let exec = |path: &str, argv: &[&str]| Exec {
            path: CString::new(path).unwrap(),
            argv: argv.iter().map(|a| CString::new(*a).unwrap()).collect(),
            envp: vec![],
        };
        let ops = operands(&exec("/usr/bin/ar", &["ar", "rcs", "lib.a", "a.o"]));
        assert_eq!(
            ops,
            vec![b"rcs".to_vec(), b"lib.a".to_vec(), b"a.o".to_vec()]
        );
        let ops = operands(&exec("/bin/sh", &["sh", "-c", "ar rcs lib.a  t/a.o"]));
        assert_eq!(
            ops,
            vec![
                b"rcs".to_vec(),
                b"lib.a".to_vec(),
                b"".to_vec(),
                b"t/a.o".to_vec()
            ]
        );
    }

    #[test]
    fn shell_words_we_do_not_guess_at() {
        assert!(shell_computed(b"$OBJS"));
        assert!(shell_computed(b"`cat list`"));
        assert!(shell_computed(b"'@objs.rsp'"));
        assert!(shell_computed(b"tmp/*.o"));
        assert!(!shell_computed(b"@objs.rsp"));
        assert!(!shell_computed(b"lib.a"));
    }

    #[test]
    fn relative_path_entries() {
        assert!(has_relative_entry(b"/bin::/usr/bin"));
        assert!(has_relative_entry(b"bin:/usr/bin"));
        assert!(!has_relative_entry(b"/bin:/usr/bin"));
    }
}
