//! What the core records and reports, changing nothing else: the mirror of
//! the host's spawn file actions, observe mode's evidence, the trace file
//! (`ARSHIM_TRACE`) and the log lines on stderr.

pub mod logging;
pub mod mirror;
pub mod observe;
pub mod temps;
/// The trace event builder, shared with the reaper (crate `common/trace/`).
pub use arshim_trace as trace;
