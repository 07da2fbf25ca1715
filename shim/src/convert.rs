//! The decision at a spawn call, and the conversion itself.
//!
//! `consider` returns only when the real call must be made (not an archiver,
//! observe mode, or any doubt). When it converts, it never returns: the
//! archiver replaces this process, keeping its pid.

use crate::config::Config;
use crate::logging::{info, warn_line};
use crate::plan::{self, Attrs, FileAction};
use crate::replay;
use crate::resolve::{self, Unresolved};
use crate::scope::basename;
use crate::sys::{RealFacts, RealProbe};
use crate::trace::Event;
use crate::{cleanup, mirror, state};
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
    System { command: *const c_char },
}

/// glibc's public `posix_spawn_file_actions_t` layout (<spawn.h>): we read
/// only `__used`, the number of actions, to check our mirror saw them all.
#[repr(C)]
struct PublicFileActions {
    allocated: libc::c_int,
    used: libc::c_int,
}

/// A NULL-terminated array of C strings, copied.
unsafe fn copy_vector(v: *const *mut c_char) -> Vec<CString> {
    let mut out = Vec::new();
    if v.is_null() {
        return out;
    }
    let mut i = 0;
    loop {
        let p = *v.add(i);
        if p.is_null() {
            return out;
        }
        out.push(CStr::from_ptr(p).to_owned());
        i += 1;
    }
}

extern "C" {
    static environ: *const *mut c_char;
}

/// What to `execve`, fully built before the cleanups run.
struct Exec {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

/// The environment for the new image: the host's claim is marked spent so
/// the image (same pid) never converts again.
fn mark_spent(mut envp: Vec<CString>, pid: i32) -> Vec<CString> {
    envp.retain(|e| !e.as_bytes().starts_with(b"ARSHIM_SPENT="));
    envp.push(CString::new(format!("ARSHIM_SPENT={pid}")).expect("no NUL in a number"));
    envp
}

fn path_var() -> Option<Vec<u8>> {
    // SAFETY: getenv on a NUL-terminated name; copied at once.
    unsafe {
        let p = libc::getenv(c"PATH".as_ptr());
        (!p.is_null()).then(|| CStr::from_ptr(p).to_bytes().to_vec())
    }
}

fn has_relative_entry(path_var: &[u8]) -> bool {
    path_var.split(|&b| b == b':').any(|d| d.first() != Some(&b'/'))
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
    Attrs { flags, pgroup, sigdefault: replay::mask_of(&sd), sigmask: replay::mask_of(&ss) }
}

fn fallback(config: &Config, call: &str, program: &[u8], reason: &str) {
    Event::new("fallback")
        .str("call", call)
        .str("program", program)
        .str("reason", reason)
        .emit(config.trace.as_deref());
    info!("{call} of {}: not converted: {reason}", String::from_utf8_lossy(program));
}

/// # Safety
/// The pointers are the host's arguments to the spawn call, valid for its duration.
pub unsafe fn consider(config: &'static Config, request: &Request) {
    let (call, program, argv): (&str, Vec<u8>, Vec<CString>) = match *request {
        Request::Spawn { call, path, argv, .. } => {
            if path.is_null() {
                return;
            }
            (call, CStr::from_ptr(path).to_bytes().to_vec(), copy_vector(argv))
        }
        Request::System { command } => {
            if command.is_null() {
                return; // system(NULL) only asks whether a shell exists
            }
            let cmd = CStr::from_ptr(command);
            let word = resolve::system_program(cmd.to_bytes()).unwrap_or_default().to_vec();
            (
                "system",
                word,
                vec![CString::from(c"sh"), CString::from(c"-c"), cmd.to_owned()],
            )
        }
    };
    let archiver = !program.is_empty() && config.tools.matches(basename(&program));
    Event::new("spawn")
        .str("call", call)
        .str("program", &program)
        .list("argv", argv.iter().map(|a| a.as_bytes()))
        .bool("archiver", archiver)
        .emit(config.trace.as_deref());
    if !archiver {
        return;
    }
    if !state::is_exec(config) {
        info!("{call} of {}: archiver seen (observe mode)", String::from_utf8_lossy(&program));
        return;
    }
    match prepare(request, &program, argv) {
        Ok((exec, steps, notes)) => convert(config, call, &program, exec, steps, notes),
        Err(reason) => fallback(config, call, &program, &reason),
    }
}

/// Everything that can fail, checked while the host can still be returned to.
unsafe fn prepare(
    request: &Request,
    program: &[u8],
    argv: Vec<CString>,
) -> Result<(Exec, replay::Prepared, Vec<String>), String> {
    let pid = libc::getpid();
    match *request {
        Request::Spawn { search, actions, attr, envp, .. } => {
            let path_var = path_var();
            let resolved = if search {
                resolve::resolve_search(program, path_var.as_deref(), &RealProbe)
            } else {
                resolve::resolve_exact(program, &RealProbe)
            }
            .map_err(|e| e.reason().to_string())?;

            let recorded: Vec<FileAction> = if actions.is_null() {
                Vec::new()
            } else {
                let used = (*(actions as *const PublicFileActions)).used;
                match mirror::snapshot(actions as usize) {
                    Some(v) if v.len() == used as usize => v,
                    _ => return Err("file actions were not all seen by the shim".into()),
                }
            };
            let attrs = (!attr.is_null()).then(|| attrs_of(attr));
            let plan = plan::plan(&recorded, attrs.as_ref(), &RealFacts)?;
            let relative_search = search && !program.contains(&b'/') && path_var.as_deref().map_or(false, has_relative_entry);
            if plan.changes_cwd && (resolved.first() != Some(&b'/') || relative_search) {
                return Err("relative program path with a working-directory change".into());
            }
            let exec = Exec {
                path: CString::new(resolved).map_err(|_| "NUL in path")?,
                argv,
                envp: mark_spent(copy_vector(envp), pid),
            };
            Ok((exec, replay::prepare(&plan.steps)?, plan.notes))
        }
        Request::System { command } => {
            if program.is_empty() {
                return Err("command does not start with a plain program name".into());
            }
            let resolved = resolve::resolve_search(program, path_var().as_deref(), &RealProbe);
            if resolved == Err(Unresolved::NotFound) {
                return Err("program not found on PATH (the shell would report it)".into());
            }
            let envp = mark_spent(copy_vector(environ), pid);
            let words = resolve::simple_words(CStr::from_ptr(command).to_bytes());
            let exec = match (resolved, words) {
                // What the shell would exec itself, without the fork dash adds.
                (Ok(path), Some(words)) => Exec {
                    path: CString::new(path).map_err(|_| "NUL in path")?,
                    argv: words.into_iter().map(|w| CString::new(w).expect("from a C string")).collect(),
                    envp,
                },
                // Anything else is the shell's business, in this pid.
                _ => {
                    resolve::resolve_exact(b"/bin/sh", &RealProbe).map_err(|_| "/bin/sh is not executable")?;
                    Exec { path: CString::from(c"/bin/sh"), argv, envp }
                }
            };
            Ok((exec, replay::prepare(&[])?, Vec::new()))
        }
    }
}

/// The point of no return: cleanups, replay, execve.
unsafe fn convert(config: &Config, call: &str, program: &[u8], exec: Exec, steps: replay::Prepared, notes: Vec<String>) -> ! {
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
    let mut argv: Vec<*const c_char> = exec.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const c_char> = exec.envp.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let message = format!("execve of {} failed after the host's cleanups ran", exec.path.to_string_lossy());

    // Whatever the cleanups spawn goes straight to the real calls.
    state::deactivate();
    cleanup::run_pending();
    if let Err(e) = replay::run(&steps) {
        warn_line(&format!("{message}: {e}; exiting 127"));
        libc::_exit(127);
    }
    replay::disarm_timers();
    libc::execve(exec.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
    let err = std::io::Error::last_os_error();
    warn_line(&format!("{message}: {err}; exiting 127"));
    libc::_exit(127);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spent_marker_replaces_an_old_one() {
        let env = vec![CString::new("A=1").unwrap(), CString::new("ARSHIM_SPENT=3").unwrap()];
        let out = mark_spent(env, 42);
        let out: Vec<_> = out.iter().map(|c| c.to_str().unwrap()).collect();
        assert_eq!(out, ["A=1", "ARSHIM_SPENT=42"]);
    }

    #[test]
    fn relative_path_entries() {
        assert!(has_relative_entry(b"/bin::/usr/bin"));
        assert!(has_relative_entry(b"bin:/usr/bin"));
        assert!(!has_relative_entry(b"/bin:/usr/bin"));
    }
}
