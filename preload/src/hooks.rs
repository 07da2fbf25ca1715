//! The exported interposers: one per C library function the shim may need
//! to see, each with that function's exact C signature.
//!
//! Each is a trampoline through one slot: the next definition (the C
//! library's, resolved on first use with `dlsym(RTLD_NEXT)`) while the shim
//! has nothing to do in this process, the core's `arshim_hook_NAME` once the
//! core took the process in scope. The common path is one load, one test and
//! a tail jump: no register saved, nothing called first. What each hook does
//! when routed to the core, and which edge cases it keeps, is documented on
//! the core's hook (`shim/src/ffi/hooks.rs`). The list of hooks is
//! `arshim_common::for_each_hook!` (common/src/hooks.rs).

use arshim_common::hooks::prelude::*;
pub use arshim_common::hooks::COUNT;
use core::sync::atomic::{AtomicPtr, Ordering};

/// The trampolines and their tables, for every entry of the hook list.
macro_rules! hooks {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty, missing: $missing:expr;)*) => {
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy)]
        enum Hook { $($name),* }

        /// The C names, NUL-terminated.
        static NAMES: [&[u8]; COUNT] = [$(concat!(stringify!($name), "\0").as_bytes()),*];

        /// The core's counterparts, `arshim_hook_NAME` (`shim/src/ffi/exports.rs`).
        pub static CORE_SYMBOLS: [&[u8]; COUNT] =
            [$(concat!("arshim_hook_", stringify!($name), "\0").as_bytes()),*];

        /// Where each hook jumps: null until first resolved. In `.data`, not
        /// `.bss`: the slots are all of the preload's zeroed data, and a
        /// `.bss` that runs past the page of the file's last data costs every
        /// process one more `mmap` at load (the loader maps the zeroed tail
        /// apart); file-backed, they never do, however the hook list grows.
        #[link_section = ".data"]
        static SLOTS: [AtomicPtr<c_void>; COUNT] = [const { AtomicPtr::new(null_mut()) }; COUNT];

        $(
            #[no_mangle]
            pub unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
                type Real = unsafe extern "C" fn($($ty),*) -> $ret;
                let target = SLOTS[Hook::$name as usize].load(Ordering::Acquire);
                if !target.is_null() {
                    // SAFETY: `target` is the next definition of this very C
                    // function, or the core's hook declared with the same
                    // signature; both are non-null function addresses.
                    let f: Real = core::mem::transmute(target);
                    return f($($arg),*);
                }
                return first_call($($arg),*);

                /// Out of line, so that the common path saves no register.
                #[cold]
                #[inline(never)]
                unsafe fn first_call($($arg: $ty),*) -> $ret {
                    let target = resolve(Hook::$name as usize);
                    if target.is_null() {
                        return $missing;
                    }
                    // SAFETY: as above.
                    let f: Real = core::mem::transmute(target);
                    f($($arg),*)
                }
            }
        )*
    };
}

/// The next definition of hook `i`, cached in its slot; null if the C
/// library has none. Racing threads store the same value; a slot the core
/// already took is left alone.
#[cold]
#[inline(never)]
fn resolve(i: usize) -> *mut c_void {
    if i == Hook::fork as usize {
        resolve_exec_family();
    }
    // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT (relative to this
    // object, the caller) skips our own definition.
    let real = unsafe { libc::dlsym(libc::RTLD_NEXT, NAMES[i].as_ptr().cast()) };
    match SLOTS[i].compare_exchange(null_mut(), real, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => real,
        Err(current) => current,
    }
}

/// The exec functions a forked child calls, resolved in the parent at its
/// first `fork`: a child must not be the first to resolve them, since
/// `dlsym` takes the loader's lock, which another thread of a multi-threaded
/// parent may have held at the fork (docs/DESIGN.md, "Conversion" 2). A
/// process that never forks through `fork` (vfork, clone, or glibc's
/// internal fork) still resolves them on first use.
#[cold]
#[inline(never)]
fn resolve_exec_family() {
    const EXEC_FAMILY: [Hook; 6] = [
        Hook::execve,
        Hook::execv,
        Hook::execvp,
        Hook::execvpe,
        Hook::fexecve,
        Hook::execveat,
    ];
    for hook in EXEC_FAMILY {
        if SLOTS[hook as usize].load(Ordering::Acquire).is_null() {
            resolve(hook as usize);
        }
    }
}

/// Routes every hook to the core. All-or-nothing: `targets` holds every
/// core counterpart (checked by the caller), stored before any hook is
/// used by the process in scope (we run in the constructor).
pub fn route_to_core(targets: &[*mut c_void; COUNT]) {
    for (slot, &target) in SLOTS.iter().zip(targets) {
        slot.store(target, Ordering::Release);
    }
}

arshim_common::for_each_hook!(hooks);
