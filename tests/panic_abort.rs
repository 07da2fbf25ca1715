//! A panic in anything the library puts into a host's process aborts it:
//! nothing unwinds into the host (docs/DESIGN.md, "Conversion"). The
//! library and its core are built with `panic = "abort"` (Makefile, `build`),
//! and this checks the artifacts `make` left: a `panic = "abort"` build has
//! no code that starts an unwind, i.e. it does not import
//! `_Unwind_RaiseException` (what the unwinding panic runtime calls). The
//! companion, built the other way, is the control: it imports it. The reaper,
//! built with the companion, aborts from its panic hook (unit test
//! `reap::tests::a_panic_after_abort_on_panic_is_sigabrt`).

use common::{companion, library};
use object::read::elf::ElfFile64;
use object::{Endianness, Object, ObjectSymbol};
use std::path::Path;

const START_UNWIND: &str = "_Unwind_RaiseException";

/// The undefined dynamic symbols of the ELF file at `path`.
fn imports(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let elf = ElfFile64::<Endianness>::parse(&*data)
        .unwrap_or_else(|e| panic!("{}: not ELF: {e}", path.display()));
    elf.dynamic_symbols()
        .filter(|s| s.is_undefined())
        .filter_map(|s| s.name().ok().map(str::to_owned))
        .collect()
}

#[test]
fn the_library_and_its_core_cannot_unwind() {
    let lib = library();
    let core = lib.with_file_name("libarshim_core.so");
    for artifact in [&lib, &core] {
        let imported = imports(artifact);
        assert!(
            !imported.iter().any(|s| s == START_UNWIND),
            "{} imports {START_UNWIND}: it was not built with panic = \"abort\" (run `make`)",
            artifact.display()
        );
    }
}

#[test]
fn the_check_sees_an_unwinding_build() {
    // The companion unwinds (the test harness's build): the check must see it,
    // or the test above proves nothing.
    let imported = imports(&companion());
    assert!(
        imported.iter().any(|s| s == START_UNWIND),
        "{} does not import {START_UNWIND}: {imported:?}",
        companion().display()
    );
}
