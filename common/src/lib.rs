//! What the four programs of arshim share, so that they agree by
//! construction: the preload (`libarshim.so`, no heap, no std), the core
//! (`libarshim_core.so`), the reaper (`arshim-reap`) and the companion
//! (`arshim`).
//!
//! Everything here is `no_std` and allocation-free: the preload's
//! constraints. (The trace event builder, which needs a heap, is the
//! sibling crate `common/trace/`.)

// Unit tests run with std (the harness needs it); the library never does.
#![cfg_attr(not(test), no_std)]

pub mod build_id;
pub mod gate;
pub mod glob;
pub mod hooks;
pub mod known_hosts;
pub mod names;
pub mod preload_abi;
pub mod raw_line;
pub mod verdict_store;
