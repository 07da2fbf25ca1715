//! Taking the process over: the spawn-time and wait-time entry points
//! (docs/DESIGN.md, "Conversion" 1 and 2), and everything up to and past the
//! point of no return — the host's cleanups with deletions deferred, the
//! replay of the spawn's steps, the memory release, the reaper's command line
//! and the `execve`. The only place where the host is changed for good.

pub mod cleanup;
pub mod companion;
pub mod convert;
pub mod defer;
pub mod exec;
pub mod fit;
pub mod hidden;
pub mod python;
pub mod reaper;
pub mod release;
pub mod replay;
pub mod report;
pub mod restore;
pub mod tail;
pub mod temps;
pub mod wait;
