//! `execl`, `execlp` and `execle`: variadic, which Rust cannot define on
//! stable. Their bodies are C (`execl.c`, compiled by build.rs); a cdylib
//! exports only Rust's symbols, so the exported names are these naked
//! functions: one jump to the C body, every register and the stack left
//! exactly as the caller set them (the variadic arguments included).
//!
//! The C bodies build the vector and call back here, `arshim_preload_NAME`,
//! which is the trampoline of the vector form (`hooks.rs`) — so the core sees
//! an `execl` as the `execv` glibc's `execl` amounts to (docs/DESIGN.md,
//! "Conversion" 2). Those three are declared hidden in C, so the linker binds
//! the calls here directly: no symbol for the dynamic loader to look up.

use crate::hooks;
use core::ffi::{c_char, c_int};

/// One exported variadic function: a tail jump to its C body.
macro_rules! variadic {
    ($($name:ident => $body:ident;)*) => {
        extern "C" {
            $(fn $body();)*
        }
        $(
            // SAFETY: a naked body of one jump to the C function of the same
            // C signature: it neither reads nor moves an argument.
            #[unsafe(naked)]
            #[no_mangle]
            pub unsafe extern "C" fn $name() {
                #[cfg(target_arch = "x86_64")]
                core::arch::naked_asm!("jmp {}", sym $body);
                #[cfg(target_arch = "aarch64")]
                core::arch::naked_asm!("b {}", sym $body);
            }
        )*
    };
}

variadic! {
    execl => arshim_execl;
    execlp => arshim_execlp;
    execle => arshim_execle;
}

/// `execv` for `execl` (glibc: `execve(path, argv, environ)`, the same).
#[no_mangle]
unsafe extern "C" fn arshim_preload_execv(path: *const c_char, argv: *const *mut c_char) -> c_int {
    hooks::execv(path, argv)
}

/// `execvp` for `execlp` (glibc: `execvpe(file, argv, environ)`, the same).
#[no_mangle]
unsafe extern "C" fn arshim_preload_execvp(file: *const c_char, argv: *const *mut c_char) -> c_int {
    hooks::execvp(file, argv)
}

/// `execve` for `execle`.
#[no_mangle]
unsafe extern "C" fn arshim_preload_execve(
    path: *const c_char,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    hooks::execve(path, argv, envp)
}
