//! Pure decisions: what the environment says, who may convert, which program
//! a call runs, whether a spawn can be replayed, which child is the archiver,
//! which memory may be released and which paths to protect. They touch
//! nothing but their arguments; what they need to know about the real process
//! comes through the traits `resolve::Probe` and `plan::Facts` (answered by
//! `facts/`, faked in the unit tests). No `unsafe` here, by rule:
#![forbid(unsafe_code)]

pub mod arglimit;
pub mod child;
pub mod config;
pub mod memory;
pub mod plan;
pub mod protect;
pub mod resolve;
pub mod scope;
pub mod verdicts;
