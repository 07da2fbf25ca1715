//! Pure decisions: what the environment says, who may convert, which program
//! a call runs, whether a spawn can be replayed, which child is the archiver,
//! which memory may be released, which paths to protect (named directly or
//! through `@FILE`s and MRI scripts) and whether the archiver only reads.
//! They touch nothing but their arguments; what they need to know about the
//! real process comes through the traits `resolve::Probe` and `plan::Facts`
//! (answered by `facts/`, faked in the unit tests). No `unsafe` here, by rule:
#![forbid(unsafe_code)]

pub mod arglimit;
pub mod child;
pub mod config;
pub mod indirect;
pub mod memory;
pub mod operation;
pub mod plan;
pub mod protect;
pub mod resolve;
pub mod scope;
pub mod script;
pub mod temps;
pub mod verdicts;
