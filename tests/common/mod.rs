//! Shared helpers of the arshim integration tests: the library `common` of
//! the package tests/ (tests/Cargo.toml), compiled once and linked into each
//! test binary. The library under test, real host programs compiled at test time
//! (`cc`, `rustc`), a stand-in archiver that reports who ran it and how much
//! memory the host still held, and a runner with a timeout.
//!
//! Nothing here skips: a missing dependency (the library, `cc`, `rustc`, `ar`,
//! `make`) is a test failure with a message saying what to do.
//!
//! - `env`: the scrubbed environment; the library, companion and reaper;
//! - `dirs`: per-test and per-binary temporary directories;
//! - `tools`: compilers and tools on PATH, setup steps that must succeed;
//! - `fixtures`: the hosts, objects and stand-in `ar` built once per binary;
//! - `command`: the commands a test starts (plain, `arshim run`, preloaded);
//! - `run`: the timed runner and its `Outcome`;
//! - `records`: what the stand-in and the hosts wrote during a run;
//! - `assert`: verdicts on a run;
//! - `trace`: reading the ARSHIM_TRACE file;
//! - `handoff`: the wait-time handoff harness (fork host, ELF stand-in `ar`).

mod assert;
mod command;
mod dirs;
mod env;
mod fixtures;
mod handoff;
mod records;
mod run;
mod tools;
mod trace;

pub use assert::*;
pub use command::*;
pub use dirs::*;
pub use env::*;
pub use fixtures::*;
pub use handoff::*;
pub use records::*;
pub use run::*;
pub use tools::*;
pub use trace::*;
