//! The only place raw pointers from the C library arrive: the core's side of
//! each hook (`hooks`), its export to the preload (`exports`) and the next
//! definition of each hooked function (`real`).

// The unit-test build leaves the hooks out: exported, they would interpose
// on the test binary itself.
#[cfg(not(test))]
mod exports;
#[cfg(not(test))]
mod hooks;
pub mod real;
