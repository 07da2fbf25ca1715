//! What `arshim verify` prints: the command, what the trace showed, the
//! verdict with its reasons, the memory figures and notes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::analysis::{Analysis, Finality};
use crate::measure::Sampled;
use crate::verdicts::Verdict;

#[derive(Debug, Default)]
pub struct Report {
    command: String,
    facts: Vec<(&'static str, String)>,
    verdict: Option<(Verdict, Vec<String>)>,
    /// Peak tree RSS and RSS held while the archiver ran, KiB, per run.
    first: Option<(u64, Option<u64>)>,
    second: Option<(u64, Option<u64>)>,
    notes: Vec<String>,
    remembered: Option<String>,
}

impl Report {
    pub fn new(command: String) -> Report {
        Report {
            command,
            ..Report::default()
        }
    }

    /// The facts of the observed run: host, archiver call, what came after.
    pub fn describe(&mut self, a: &Analysis) {
        if let Some(host) = &a.host {
            self.facts.push(("host", host.clone()));
        }
        if let Some(ar) = &a.archiver {
            let what = if ar.is_link() { "link" } else { "archiver" };
            self.facts
                .push((what, format!("`{}` ({})", ar.shown(), ar.call)));
        }
        if matches!(a.finality, Finality::Final) {
            let after = match (a.deletions, a.taken.len()) {
                (0, 0) => "nothing".to_owned(),
                (n, 0) => {
                    format!("{n} deletion(s) only, by the exit handlers (a conversion runs them)")
                }
                (0, t) => format!(
                    "{t} deletion(s) of the host's temporaries, which a conversion hands to the \
                     reaper"
                ),
                (n, t) => format!(
                    "{t} deletion(s) of the host's temporaries, which a conversion hands to the \
                     reaper, and {n} by the exit handlers (a conversion runs them)"
                ),
            };
            self.facts.push(("after it", after));
        }
        self.notes.extend(a.notes.iter().cloned());
    }

    /// One more fact of the runs, shown with the others.
    pub fn fact(&mut self, what: &'static str, text: String) {
        self.facts.push((what, text));
    }

    pub fn memory_first(&mut self, s: &Sampled) {
        self.first = Some((s.peak_kib, s.held_during_archiver_kib));
    }

    pub fn memory_second(&mut self, s: &Sampled) {
        self.second = Some((s.peak_kib, s.held_during_archiver_kib));
    }

    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    pub fn verdict(&mut self, verdict: Verdict, reasons: Vec<String>) {
        self.verdict = Some((verdict, reasons));
    }

    pub fn final_verdict(&self) -> Verdict {
        self.verdict
            .as_ref()
            .map_or(Verdict::CannotTell, |(v, _)| *v)
    }

    pub fn reasons(&self) -> &[String] {
        self.verdict.as_ref().map_or(&[], |(_, r)| r.as_slice())
    }

    pub fn first_reason(&self) -> &str {
        self.reasons().first().map_or("", String::as_str)
    }

    pub fn remembered(&mut self, file: &Path, hosts: &[PathBuf]) {
        let hosts: Vec<String> = hosts.iter().map(|h| h.display().to_string()).collect();
        self.remembered = Some(format!(
            "{} for {} (in {})",
            self.final_verdict().label(),
            hosts.join(" and "),
            file.display()
        ));
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "arshim verify: {}", self.command);
        for (what, fact) in &self.facts {
            let _ = writeln!(out, "  {:<9} {fact}", format!("{what}:"));
        }
        let verdict = self.final_verdict();
        let headline = match verdict {
            Verdict::Safe => {
                "the archiver spawn is final, and converting it changed nothing but memory"
            }
            Verdict::NotSafe => "converting this command would change what it does",
            Verdict::CannotTell => "this run proves neither way (nothing is remembered)",
        };
        let _ = writeln!(out, "verdict: {} — {headline}", verdict.label());
        for r in self.reasons() {
            let _ = writeln!(out, "  - {r}");
        }
        if let Some(memory) = memory_lines(self.first, self.second) {
            let _ = writeln!(out, "memory (resident, whole process tree):");
            for m in memory {
                let _ = writeln!(out, "  - {m}");
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "notes:");
            for n in &self.notes {
                let _ = writeln!(out, "  - {n}");
            }
        }
        if let Some(r) = &self.remembered {
            let _ = writeln!(out, "remembered: {r}");
        }
        out
    }
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The memory figures of one or both runs, in words.
fn memory_lines(
    first: Option<(u64, Option<u64>)>,
    second: Option<(u64, Option<u64>)>,
) -> Option<Vec<String>> {
    let (peak1, held1) = first?;
    let Some((peak2, held2)) = second else {
        return Some(vec![format!("peak: {} (observed run only)", mib(peak1))]);
    };
    let mut lines = vec![format!(
        "peak: {} unconverted, {} converted ({})",
        mib(peak1),
        mib(peak2),
        ratio(peak2, peak1)
    )];
    let held = |h: Option<u64>| h.map_or_else(|| "not sampled (too short)".to_owned(), mib);
    if held1.is_some() || held2.is_some() {
        lines.push(format!(
            "while the archiver ran: {} unconverted, {} converted",
            held(held1),
            held(held2)
        ));
    }
    Some(lines)
}

/// "0.52× the unconverted run".
fn ratio(converted: u64, unconverted: u64) -> String {
    if unconverted == 0 {
        return "no ratio: nothing sampled".to_owned();
    }
    format!(
        "{:.2}× the unconverted run",
        converted as f64 / unconverted as f64
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::analysis::ArchiverCall;

    fn analysis(finality: Finality) -> Analysis {
        Analysis {
            host: Some("/w/host".into()),
            archiver: Some(ArchiverCall {
                call: "posix_spawnp".into(),
                program: "ar".into(),
                argv: Some(vec!["ar".into(), "rcs".into(), "lib.a".into()]),
                command: None,
                cwd: None,
                output: None,
            }),
            finality,
            deletions: 2,
            exited: true,
            taken: vec![],
            created: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn safe_report_lists_checks_and_memory() {
        let mut r = Report::new("./host x".into());
        r.describe(&analysis(Finality::Final));
        r.first = Some((200 * 1024, Some(200 * 1024)));
        r.second = Some((100 * 1024, Some(1024)));
        r.verdict(
            Verdict::Safe,
            vec!["same exit status in both runs: exit status 0".into()],
        );
        r.remembered(Path::new("/c/v.json"), &["/w/host".into()]);
        let text = r.render();
        for needle in [
            "arshim verify: ./host x\n",
            "  host:     /w/host\n",
            "  archiver: `ar rcs lib.a` (posix_spawnp)\n",
            "  after it: 2 deletion(s) only",
            "verdict: SAFE — ",
            "  - same exit status",
            "peak: 200.0 MiB unconverted, 100.0 MiB converted (0.50× the unconverted run)",
            "while the archiver ran: 200.0 MiB unconverted, 1.0 MiB converted",
            "remembered: SAFE for /w/host (in /c/v.json)",
        ] {
            assert!(text.contains(needle), "{needle:?} missing in\n{text}");
        }
        assert!(!text.contains("notes:"));
    }

    #[test]
    fn not_safe_report_has_reasons_and_the_observed_peak() {
        let reasons = vec!["after ar exited, the process wrote to stdout".to_owned()];
        let mut r = Report::new("h".into());
        r.describe(&analysis(Finality::NotFinal(reasons.clone())));
        r.first = Some((2048, None));
        r.verdict(Verdict::NotSafe, reasons);
        r.note("n1".into());
        let text = r.render();
        assert!(text.contains("verdict: NOT SAFE — "), "{text}");
        assert!(text.contains("  - after ar exited, the process wrote to stdout\n"));
        assert!(text.contains("peak: 2.0 MiB (observed run only)"));
        assert!(text.contains("notes:\n  - n1\n"));
        assert!(!text.contains("after it:"), "only for final spawns");
        assert_eq!(
            r.first_reason(),
            "after ar exited, the process wrote to stdout"
        );
    }

    #[test]
    fn no_verdict_means_cannot_tell() {
        let r = Report::new("h".into());
        assert_eq!(r.final_verdict(), Verdict::CannotTell);
        assert_eq!(r.first_reason(), "");
        assert_eq!(ratio(1, 0), "no ratio: nothing sampled");
    }
}
