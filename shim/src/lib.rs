//! libarshim.so — preloaded into a legacy linker, turns its final archiver
//! spawn into an `execve` of the same process after the pending cleanups ran.
//!
//! Layout: `config` (environment), `scope` (who may convert), `glob`,
//! `resolve` (which program a call runs), `plan` (can the spawn's file actions
//! and attributes be replayed), `mirror` (side table of file actions),
//! `convert` (the decision and the conversion), `replay`, `cleanup`, `trace`,
//! `logging`; FFI stays in `hooks`, `real`, `sys`, `state` and the constructor below.

// The unit-test build leaves out the exported hooks (they would interpose on
// the test binary itself), so everything only they reach looks unused there.
#![cfg_attr(test, allow(dead_code))]

mod cleanup;
mod companion;
mod config;
mod convert;
mod defer;
mod glob;
mod handoff;
#[cfg(not(test))]
mod hooks;
mod logging;
mod mirror;
mod observe;
mod plan;
mod python;
mod real;
mod reaper;
mod replay;
mod resolve;
mod scope;
mod state;
mod sys;
mod trace;
mod wait;

use libc::c_char;
use std::ffi::CStr;

extern "C" {
    static environ: *const *const c_char;
    static program_invocation_name: *const c_char;
}

/// At most this many `ARSHIM*` variables are read (there are 11).
const MAX_ENTRIES: usize = 32;

/// The raw `ARSHIM*` entries of the environment the process started with.
/// Reads `environ` directly: no std::env (its lock), nothing lazy, and no
/// heap (the out-of-scope processes of a build stop right after this).
unsafe fn arshim_entries() -> ([&'static [u8]; MAX_ENTRIES], usize) {
    let mut out: [&[u8]; MAX_ENTRIES] = [&[]; MAX_ENTRIES];
    let mut n = 0;
    let mut p = environ;
    if p.is_null() {
        return (out, 0);
    }
    while !(*p).is_null() && n < MAX_ENTRIES {
        let entry = CStr::from_ptr(*p).to_bytes();
        if entry.starts_with(b"ARSHIM") {
            out[n] = entry;
            n += 1;
        }
        p = p.add(1);
    }
    (out, n)
}

/// Is `ARSHIM=` present at all? The common case (absent) allocates nothing.
unsafe fn mentions_arshim() -> bool {
    let mut p = environ;
    if p.is_null() {
        return false;
    }
    while !(*p).is_null() {
        if CStr::from_ptr(*p).to_bytes().starts_with(b"ARSHIM=") {
            return true;
        }
        p = p.add(1);
    }
    false
}

fn exe_path() -> Vec<u8> {
    let mut buf = [0u8; 4096];
    // SAFETY: readlink into a buffer we own, bounded by its length.
    let n = unsafe {
        libc::readlink(
            c"/proc/self/exe".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n <= 0 {
        return Vec::new();
    }
    buf[..n as usize].to_vec()
}

/// Runs in the loader, before the host's `main`: raw libc only (no logger,
/// no std::thread, no `Once`; rust-lang/rust#130210).
unsafe fn on_load() {
    if !mentions_arshim() {
        return;
    }
    let (found, n) = arshim_entries();
    let entries = &found[..n];
    if config::names_another_process(entries, libc::getpid()) {
        // A descendant of the claimed process, in a build that exported the
        // variables: nothing could bring it into scope, so skip the rest
        // (parsing, /proc/self/exe) — it runs in every compiler of the build.
        return;
    }
    let config = match config::parse(|name| config::lookup(entries, name)) {
        Ok(c) => c,
        Err(e) => {
            // One warning for the whole process tree: descendants inherit the mark.
            if config::lookup(entries, "ARSHIM_WARNED").is_none() {
                logging::warn_line(&e.to_string());
                libc::setenv(c"ARSHIM_WARNED".as_ptr(), c"1".as_ptr(), 1);
            }
            return;
        }
    };
    if config.mode == config::Mode::Off {
        return;
    }
    let pid = libc::getpid();
    let exe = exe_path();
    let argv0 = if program_invocation_name.is_null() {
        &b""[..]
    } else {
        CStr::from_ptr(program_invocation_name).to_bytes()
    };
    let me = scope::Identity {
        pid,
        exe: scope::basename(&exe),
        argv0: scope::basename(argv0),
        secure: libc::getauxval(libc::AT_SECURE) != 0,
    };
    let decision = scope::decide(&config, &me);
    if let Some(w) = &decision.warning {
        logging::warn_line(w);
    }
    if let (Some(n), Some(_)) = (&decision.note, &config.log) {
        logging::warn_line(n);
    }
    let pid_text = std::ffi::CString::new(pid.to_string()).expect("digits");
    if decision.claim {
        libc::setenv(c"ARSHIM_PID".as_ptr(), pid_text.as_ptr(), 1);
    }
    if decision.spend {
        libc::setenv(c"ARSHIM_SPENT".as_ptr(), pid_text.as_ptr(), 1);
    }
    trace::Event::new("load")
        .str("exe", &exe)
        .str(
            "mode",
            match decision.mode {
                config::Mode::Off => "off",
                config::Mode::Observe => "observe",
                config::Mode::Exec => "exec",
            },
        )
        .bool("in_scope", decision.mode != config::Mode::Off)
        .str("reason", decision.reason)
        .emit(config.trace.as_deref());
    if decision.mode != config::Mode::Off {
        real::resolve_all();
        let traced = config.trace.is_some();
        state::activate(
            config::Config {
                mode: decision.mode,
                ..config
            },
            pid,
        );
        if traced {
            // Registered first, so it runs after the host's own handlers.
            libc::atexit(trace_exit);
        }
    }
}

/// `{"event":"exit"}` when the host exits normally (not when it converted:
/// the conversion turns the hooks off before running the handlers).
extern "C" fn trace_exit() {
    if let Some(config) = state::scope_config() {
        observe::at_exit();
        trace::Event::new("exit").emit(config.trace.as_deref());
    }
}

#[cfg(not(test))]
#[ctor::ctor(unsafe)]
fn arshim_load() {
    // SAFETY: called once by the loader, single-threaded, with environ set up.
    unsafe { on_load() }
}
