//! `arshim-reap`: the reaper on its own. The library execs it in place of a
//! big host (same pid), so it must hold as little as possible while the
//! archiver runs: this binary carries the reaper and nothing else (no CLI,
//! no plotting, no ELF reader). `arshim __reap …` runs the same code.
//!
//! Interface (as the library writes it): `arshim-reap __reap wait|run …`.

use arshim::reap;
use arshim_common::build_id::{self, Note};

/// This build's id, which the library checks before it hands a host over to
/// this file (common/src/build_id.rs). A `.note*` section becomes an ELF
/// note that the linker keeps and maps in a `PT_NOTE` segment.
#[used]
#[link_section = ".note.arshim"]
static BUILD_NOTE: Note = build_id::note(build_id::REAPER);

// Dispatched from .init_array, before Rust's runtime start-up (see `reap::dispatch_early`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
#[link_section = ".init_array"]
static REAP_EARLY: reap::InitHook = reap::dispatch_early;

fn main() {
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|arg| arg == "__reap") {
        reap::main(args)
    }
    eprintln!("arshim-reap: internal helper of libarshim.so; not meant to be run by hand");
    std::process::exit(2);
}
