//! What the preload (`libarshim.so`, crate `preload/`) and the core
//! (`libarshim_core.so`, crate `shim/`) agree on. Both are built from this
//! file; `VERSION` changes whenever anything here does, and a core whose
//! version differs refuses to start (the shim then stays off).

use core::ffi::{c_char, c_void};

pub const VERSION: u32 = 1;

/// The core's file name, looked up in the preload's own directory (and
/// checked for by the companion's `doctor`).
pub const CORE_FILE: &str = "libarshim_core.so";

/// `extern "C" fn(*const Preload) -> c_int`: 1 when the core took the
/// process in scope and its hooks must be routed to, 0 when it stays off.
pub const INIT_SYMBOL: &core::ffi::CStr = c"arshim_core_init";

// Each hook `NAME` of the preload is served by the core's `arshim_hook_NAME`
// (the preload's `hooks!` and the core's `export_name`s spell it out).

/// Handed by the preload to the core's init.
#[repr(C)]
pub struct Preload {
    pub version: u32,
    /// The path the preload was loaded from (NUL-terminated): the entry to
    /// take out of `LD_PRELOAD` for the reaper, the directory of companions.
    pub path: *const c_char,
    /// `dlsym(RTLD_NEXT, name)` performed from the preload: the definition
    /// after ours in the global search order, which the core (loaded with
    /// RTLD_LOCAL) could not find by itself.
    pub next: unsafe extern "C" fn(name: *const c_char) -> *mut c_void,
}
