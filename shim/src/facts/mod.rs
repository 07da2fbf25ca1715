//! Read-only questions to the kernel, the file system and `/proc`: the real
//! answers behind `decide::resolve::Probe` and `decide::plan::Facts`, and
//! what the entry points ask about this process and its children. Nothing
//! here changes the process or a file.

pub mod fs;
pub mod indirect;
pub mod pids;
pub mod proc;
pub mod script;
pub mod temps;
pub mod verdicts;
