//! Link libgcc's unwinder statically (libgcc_eh.a) instead of through
//! libgcc_s.so.1: the library is loaded into every process of a build, and
//! the extra shared object alone cost ~90 µs per process start here. With
//! panic=abort nothing unwinds; std only needs the symbols to exist.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let Ok(out) = Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let archive = std::path::Path::new(&path);
    if !archive.is_absolute() || !archive.exists() {
        println!("cargo:warning=libgcc_eh.a not found; libarshim.so will depend on libgcc_s.so.1");
        return;
    }
    println!(
        "cargo:rustc-link-search=native={}",
        archive.parent().unwrap().display()
    );
    println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
}
