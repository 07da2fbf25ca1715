//! What `arshim doctor` prints: one line per finding,
//! `<status padded to 8> <check>: <plain reason>`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// The check passed.
    Ok,
    /// A fact worth knowing; nothing is wrong.
    Note,
    /// Something may not work as expected, but nothing blocks use.
    Warn,
    /// Something blocks use: doctor exits non-zero.
    Problem,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Note => "note",
            Status::Warn => "warn",
            Status::Problem => "problem",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub status: Status,
    pub check: &'static str,
    pub reason: String,
}

impl Finding {
    pub fn new(status: Status, check: &'static str, reason: impl Into<String>) -> Finding {
        Finding {
            status,
            check,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Statuses padded to the longest ("problem") plus one space, so the
        // check names line up.
        write!(
            f,
            "{:<8}{}: {}",
            self.status.word(),
            self.check,
            self.reason
        )
    }
}

/// Findings, printed as they come (a probe can take a moment: the user sees
/// progress) and counted for the exit status.
#[derive(Debug, Default)]
pub struct Report {
    problems: usize,
}

impl Report {
    pub fn add(&mut self, finding: Finding) {
        if finding.status == Status::Problem {
            self.problems += 1;
        }
        println!("{finding}");
    }

    pub fn extend(&mut self, findings: impl IntoIterator<Item = Finding>) {
        for f in findings {
            self.add(f);
        }
    }

    pub fn problems(&self) -> usize {
        self.problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_aligned() {
        let ok = Finding::new(Status::Ok, "ar", "/usr/bin/ar");
        let bad = Finding::new(Status::Problem, "library", "missing");
        assert_eq!(ok.to_string(), "ok      ar: /usr/bin/ar");
        assert_eq!(bad.to_string(), "problem library: missing");
        assert_eq!(
            Finding::new(Status::Warn, "x", "y").to_string(),
            "warn    x: y"
        );
        assert_eq!(
            Finding::new(Status::Note, "x", "y").to_string(),
            "note    x: y"
        );
    }
}
