//! Compiles `src/execl.c` (the variadic execl, execlp, execle; see
//! `src/execl.rs`) and links it into libarshim.so.
//!
//! `$CC` (default `cc`) is run directly rather than through the `cc` crate:
//! one file, one native target, fixed flags, and no build dependency for
//! every build of the preload. The flags keep the object free of new
//! imports: no stack protector (`__stack_chk_fail`), no PLT.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out.join("execl.o");
    let cc = env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let status = Command::new(&cc)
        .args([
            "-c",
            "-std=gnu11",
            "-O2",
            "-fPIC",
            "-fno-plt",
            "-fno-stack-protector",
            "-fvisibility=hidden",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-o",
        ])
        .arg(&object)
        .arg("src/execl.c")
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {cc}: {e}"));
    assert!(status.success(), "{cc} failed on src/execl.c");
    println!("cargo::rustc-cdylib-link-arg={}", object.display());
    println!("cargo::rerun-if-changed=src/execl.c");
    println!("cargo::rerun-if-env-changed=CC");
}
