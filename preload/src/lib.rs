//! libarshim.so — the preload. Every process of a build that inherits
//! `LD_PRELOAD` loads this, so it is kept to what such a process must pay:
//! `no_std`, no heap, a few imports, and a constructor that reads the
//! environment once.
//!
//! Where the shim has work (the process that claims the scope, a host glob
//! to match, a value to warn about, a trace to write) it loads the core,
//! `libarshim_core.so`, from its own directory and routes its hooks there.
//! Everywhere else the hooks stay tail jumps to the C library.

#![no_std]

mod exe;
mod execl;
mod hooks;

use arshim_common::gate;
use arshim_common::preload_abi::{Preload, CORE_FILE, INIT_SYMBOL, VERSION};
use arshim_common::raw_line::Line;
use core::ffi::{c_char, c_int, c_void, CStr};
use core::ptr::null_mut;

extern "C" {
    static environ: *const *const c_char;
    static program_invocation_name: *const c_char;
}

/// Nothing here can panic in practice (no indexing out of bounds, no
/// arithmetic that overflows); if it did, stopping is the only sound
/// answer inside someone else's process: nothing may unwind into the host.
#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

#[ctor::ctor(unsafe)]
fn arshim_load() {
    // SAFETY: run once by the loader, single-threaded, with `environ` set up.
    unsafe { on_load() }
}

/// Raw libc only: this runs inside the loader, before the host's `main`
/// (no std in any case; see rust-lang/rust#130210 for why that matters).
unsafe fn on_load() {
    let Some(entries) = gate::scan(environ) else {
        return;
    };
    // A secure-execution process (setuid, setgid, file capabilities) is never
    // in scope (docs/DESIGN.md, "Scope"), and its environment is the caller's,
    // not its owner's: nothing is loaded, written, warned or set there, so no
    // variable can make it touch a file with its privileges. `getauxval` is
    // already imported (exe.rs): this costs no new import, only a scan of the
    // auxiliary vector, and only where `ARSHIM` is set.
    if libc::getauxval(libc::AT_SECURE) != 0 {
        return;
    }
    let env = entries.as_slice();
    if !gate::needs_core(env, libc::getpid()) {
        return;
    }
    if let Some(hosts) = gate::hosts_to_match(env) {
        // The name called first (no syscall), then the executable's.
        let argv0 = if program_invocation_name.is_null() {
            &b""[..]
        } else {
            CStr::from_ptr(program_invocation_name).to_bytes()
        };
        let mut buf = [0u8; 4096];
        if !gate::names_a_host(hosts, argv0) && !gate::names_a_host(hosts, exe::path(&mut buf)) {
            return;
        }
    }
    load_core(env);
}

/// `dlsym(RTLD_NEXT, name)` from this object: what the core's real-function
/// table is filled from (`Preload::next`).
unsafe extern "C" fn next(name: *const c_char) -> *mut c_void {
    libc::dlsym(libc::RTLD_NEXT, name)
}

/// Loads the core next to this file and, if it takes the process in scope,
/// routes every hook to it. Any failure leaves the process exactly as
/// without the shim, with one warning per process tree.
unsafe fn load_core(env: &[&[u8]]) {
    let mut info: libc::Dl_info = core::mem::zeroed();
    // SAFETY: dladdr only reads the loader's tables for an address of ours.
    if libc::dladdr(next as *const c_void, &mut info) == 0 || info.dli_fname.is_null() {
        return warn(env, b"cannot tell where libarshim.so was loaded from", None);
    }
    // The loader keeps this name for as long as we are loaded (for good).
    let own: &'static CStr = CStr::from_ptr(info.dli_fname);
    let mut path = [0u8; 4096];
    let Some(core_path) = sibling(own.to_bytes(), CORE_FILE.as_bytes(), &mut path) else {
        return warn(env, b"the path of libarshim.so is too long", None);
    };
    let handle = libc::dlopen(core_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
    if handle.is_null() {
        return warn(env, b"cannot load libarshim_core.so", last_dl_error());
    }
    // Every counterpart first: routing some hooks and not others would be
    // worse than routing none.
    let mut targets = [null_mut(); hooks::COUNT];
    for (target, symbol) in targets.iter_mut().zip(hooks::CORE_SYMBOLS.iter()) {
        *target = libc::dlsym(handle, symbol.as_ptr().cast());
        if target.is_null() {
            return warn(
                env,
                b"libarshim_core.so does not match libarshim.so (a hook is missing)",
                None,
            );
        }
    }
    let init = libc::dlsym(handle, INIT_SYMBOL.as_ptr());
    if init.is_null() {
        return warn(
            env,
            b"libarshim_core.so does not match libarshim.so (no init)",
            None,
        );
    }
    // SAFETY: the core defines `arshim_core_init` with this signature
    // (common/src/preload_abi.rs), checked by the VERSION it compares.
    let init: unsafe extern "C" fn(*const Preload) -> c_int = core::mem::transmute(init);
    let preload = Preload {
        version: VERSION,
        path: own.as_ptr(),
        next,
    };
    if init(&preload) == 1 {
        hooks::route_to_core(&targets);
    }
}

/// `dir(own)/file` NUL-terminated in `buf`, or None if it does not fit.
fn sibling<'a>(own: &[u8], file: &[u8], buf: &'a mut [u8]) -> Option<&'a CStr> {
    let dir: &[u8] = match own.iter().rposition(|&b| b == b'/') {
        Some(i) => &own[..i],
        None => b".",
    };
    let len = dir.len() + 1 + file.len();
    if len + 1 > buf.len() {
        return None;
    }
    buf[..dir.len()].copy_from_slice(dir);
    buf[dir.len()] = b'/';
    buf[dir.len() + 1..len].copy_from_slice(file);
    buf[len] = 0;
    CStr::from_bytes_with_nul(&buf[..=len]).ok()
}

unsafe fn last_dl_error() -> Option<&'static [u8]> {
    let e = libc::dlerror();
    (!e.is_null()).then(|| CStr::from_ptr(e).to_bytes())
}

/// One line on stderr, `arshim[PID]: …; the shim stays off`, once per
/// process tree (the mark `ARSHIM_WARNED` is inherited).
unsafe fn warn(env: &[&[u8]], what: &[u8], detail: Option<&[u8]>) {
    if gate::lookup(env, "ARSHIM_WARNED").is_some() {
        return;
    }
    let mut line = Line::new();
    line.push(b"arshim[");
    line.push_number(libc::getpid() as u32);
    line.push(b"]: ");
    line.push(what);
    if let Some(d) = detail {
        line.push(b" (");
        line.push(d);
        line.push(b")");
    }
    line.push(b"; the shim stays off\n");
    line.write_to_stderr();
    libc::setenv(c"ARSHIM_WARNED".as_ptr(), c"1".as_ptr(), 1);
}
