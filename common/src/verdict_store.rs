//! The verdict store's limits, the same for the library that reads it in
//! every process that would convert and for the companion that writes it.

/// A store bigger than this is not read: thousands of entries fit in it; a
/// bigger file is not ours (or not a store) and would cost every run.
pub const MAX_BYTES: usize = 4 << 20;
