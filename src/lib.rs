//! What the two binaries share: the reaper (`arshim-reap`, and the
//! companion's `arshim __reap`) and the companion's exit statuses, which the
//! reaper's own failures use too.
//!
//! The reaper's `.init_array` entry stays in each binary (`REAP_EARLY`): a
//! static of a library is linked only if something refers to it.

pub mod failure;
pub mod reap;
