//! The only place raw pointers from the C library arrive: the core's side of
//! each hook (`hooks`), its export to the preload (`exports`), the next
//! definition of each hooked function (`real`), and the process state every
//! hook reads first (`state`).

// The unit-test build leaves the hooks out: exported, they would interpose
// on the test binary itself.
#[cfg(not(test))]
mod exports;
#[cfg(not(test))]
mod hooks;
pub mod real;
pub mod state;
