//! A fatal error of the companion: the message for the user and the exit status.

use std::fmt;

/// Exit status for bad usage or a missing/unusable library (clap uses 2 too).
pub const EXIT_USAGE: u8 = 2;
/// Exit statuses of a command that could not be run, as POSIX shells report them.
pub const EXIT_CANNOT_EXECUTE: u8 = 126;
pub const EXIT_NOT_FOUND: u8 = 127;

#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    /// One line, without the `arshim: ` prefix (main adds it).
    pub message: String,
    pub code: u8,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(EXIT_USAGE, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "arshim: {}", self.message)
    }
}
