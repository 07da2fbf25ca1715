//! A finished benchmark: its runs and derived figures, as a table for people
//! or a JSON object for machines.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use serde_json::{json, Value};

use super::ab::Side;
use super::stats::{self, Exit, Medians, Ratios};
use crate::measure::Sampled;
use crate::quote;

/// Timelines in the JSON output are thinned to at most this many samples per run.
const JSON_SAMPLES: usize = 2000;

pub struct Report {
    pub command: Vec<OsString>,
    pub hz: u32,
    pub tools: String,
    /// Why cgroup `memory.peak` was not measured, if it was not.
    pub cgroup_skipped: Option<String>,
    /// In run order: A B A B …
    pub runs: Vec<Sampled>,
    pub without: Medians,
    pub with: Medians,
    pub ratios: Ratios,
    /// Runs that failed or pairs that ended differently.
    pub problems: Vec<String>,
}

impl Report {
    pub fn new(
        command: Vec<OsString>,
        hz: u32,
        tools: String,
        cgroup_skipped: Option<String>,
        runs: Vec<Sampled>,
    ) -> Report {
        let without = stats::medians(runs.iter().step_by(2));
        let with = stats::medians(runs.iter().skip(1).step_by(2));
        let exits: Vec<Exit> = runs.iter().map(|r| Exit::from(r.status)).collect();
        Report {
            command,
            hz,
            tools,
            cgroup_skipped,
            ratios: stats::ratios(&without, &with),
            without,
            with,
            problems: stats::exit_problems(&exits),
            runs,
        }
    }

    /// The runs of one side, with their run index (from 0).
    pub fn side(&self, side: Side) -> impl Iterator<Item = (usize, &Sampled)> + Clone {
        self.runs
            .iter()
            .enumerate()
            .filter(move |(i, _)| Side::of_run(*i) == side)
    }

    /// The run (index) with the median wall time of a side.
    pub fn median_run(&self, side: Side) -> Option<usize> {
        let runs: Vec<(usize, &Sampled)> = self.side(side).collect();
        let walls: Vec<f64> = runs.iter().map(|(_, r)| r.wall.as_secs_f64()).collect();
        stats::median_index(&walls).map(|i| runs[i].0)
    }

    pub fn command_line(&self) -> String {
        let words: Vec<String> = self
            .command
            .iter()
            .map(|w| String::from_utf8_lossy(&quote::sh(w.as_bytes())).into_owned())
            .collect();
        words.join(" ")
    }

    pub fn table(&self) -> String {
        let pairs = self.runs.len().div_ceil(2);
        let mut out = format!(
            "arshim bench: {} pair{} of runs, alternating without/with arshim\ncommand: {}\n\n",
            pairs,
            if pairs == 1 { "" } else { "s" },
            self.command_line()
        );
        self.push_rows(&mut out, pairs);
        self.push_notes(&mut out);
        out
    }

    /// The medians' rows, under a header.
    fn push_rows(&self, out: &mut String, pairs: usize) {
        let mut row = |label: &str, a: String, b: String, r: String| {
            out.push_str(&format!("{label:<30}{a:>16}{b:>16}{r:>14}\n"));
        };
        row(
            &format!("median of {pairs} run{}", if pairs == 1 { "" } else { "s" }),
            "without arshim".into(),
            "with arshim".into(),
            "with/without".into(),
        );
        let (a, b, r) = (&self.without, &self.with, &self.ratios);
        row(
            "peak tree RSS",
            mib(a.peak_kib),
            mib(b.peak_kib),
            ratio(r.peak),
        );
        row(
            "tree RSS while archiver ran",
            mib(a.held_kib),
            mib(b.held_kib),
            ratio(r.held),
        );
        row("wall time", secs(a.wall_s), secs(b.wall_s), ratio(r.wall));
        if self.cgroup_skipped.is_none() {
            row(
                "cgroup memory.peak",
                mib(a.cgroup_peak_kib),
                mib(b.cgroup_peak_kib),
                ratio(r.cgroup_peak),
            );
        }
    }

    /// What was measured and how, what was not, and the problems.
    fn push_notes(&self, out: &mut String) {
        let seen = |side| {
            self.side(side)
                .filter(|(_, r)| r.archiver.is_some())
                .count()
        };
        out.push_str(&format!(
            "\ntree RSS: sum of VmRSS (/proc/PID/statm) over the command and its descendants, \
             sampled at up to {} Hz.\narchiver ({}) seen in {}/{} runs without and {}/{} with arshim.\n",
            self.hz,
            self.tools,
            seen(Side::Without),
            self.side(Side::Without).count(),
            seen(Side::With),
            self.side(Side::With).count(),
        ));
        if let Some(why) = &self.cgroup_skipped {
            out.push_str(&format!("cgroup v2 memory.peak: not measured ({why}).\n"));
        }
        for problem in &self.problems {
            out.push_str(&format!("problem: {problem}\n"));
        }
    }

    pub fn json(&self) -> Value {
        let side = |m: &Medians| {
            json!({
                "peak_kib": m.peak_kib,
                "held_during_archiver_kib": m.held_kib,
                "wall_s": m.wall_s,
                "cgroup_peak_kib": m.cgroup_peak_kib,
            })
        };
        let runs: Vec<Value> = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| run_json(i, r))
            .collect();
        json!({
            "command": self.command.iter().map(|w| w.to_string_lossy()).collect::<Vec<_>>(),
            "pairs": self.runs.len().div_ceil(2),
            "hz": self.hz,
            "tools": self.tools,
            "memory": "sum of VmRSS over the command's process tree, KiB",
            "cgroup": match &self.cgroup_skipped {
                None => json!({"used": true}),
                Some(why) => json!({"used": false, "reason": why}),
            },
            "median": {"without": side(&self.without), "with": side(&self.with)},
            "ratio": {
                "peak": self.ratios.peak,
                "held_during_archiver": self.ratios.held,
                "wall": self.ratios.wall,
                "cgroup_peak": self.ratios.cgroup_peak,
            },
            "median_run": {
                "without": self.median_run(Side::Without).map(|i| i + 1),
                "with": self.median_run(Side::With).map(|i| i + 1),
            },
            "ok": self.problems.is_empty(),
            "problems": self.problems,
            "runs": runs,
        })
    }
}

fn run_json(i: usize, r: &Sampled) -> Value {
    let exit = match Exit::from(r.status) {
        Exit::Code(code) => json!({"code": code}),
        Exit::Signal(sig) => json!({"signal": sig}),
    };
    let timeline: Vec<Value> = stats::thin(&r.timeline, JSON_SAMPLES)
        .iter()
        .map(|s| json!([round(s.t, 4), s.rss_kib]))
        .collect();
    json!({
        "run": i + 1,
        "side": Side::of_run(i).key(),
        "exit": exit,
        "wall_s": round(r.wall.as_secs_f64(), 6),
        "peak_kib": r.peak_kib,
        "archiver_start_s": r.archiver.map(|(s, _)| round(s, 4)),
        "archiver_end_s": r.archiver.map(|(_, e)| round(e, 4)),
        "held_during_archiver_kib": r.held_during_archiver_kib,
        "cgroup_peak_kib": r.cgroup_peak_kib,
        "samples": r.timeline.len(),
        "timeline": timeline,
    })
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

pub fn mib(kib: Option<f64>) -> String {
    kib.map_or("-".into(), |k| format!("{:.1} MiB", k / 1024.0))
}

pub fn secs(s: Option<f64>) -> String {
    s.map_or("-".into(), |s| format!("{s:.3} s"))
}

/// Two significant digits, at least two decimals: 1.00, 0.95, 0.0022.
pub fn ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r > 0.0 => {
            let decimals = (1 - r.log10().floor() as i32).clamp(2, 6) as usize;
            format!("{r:.decimals$}")
        }
        Some(r) => format!("{r:.2}"),
        None => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Sample;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;
    use std::time::Duration;

    fn run(peak: u64, held: u64, wall_ms: u64) -> Sampled {
        Sampled {
            status: ExitStatus::from_raw(0),
            wall: Duration::from_millis(wall_ms),
            timeline: vec![
                Sample {
                    t: 0.0,
                    rss_kib: peak,
                    archiver: false,
                },
                Sample {
                    t: 0.1,
                    rss_kib: held,
                    archiver: true,
                },
            ],
            peak_kib: peak,
            archiver: Some((0.1, 0.2)),
            held_during_archiver_kib: Some(held),
            cgroup_peak_kib: None,
        }
    }

    fn report() -> Report {
        Report::new(
            vec!["ld".into(), "-o".into(), "my lib.a".into()],
            1000,
            "ar".into(),
            Some("no cgroup v2 mount".into()),
            vec![
                run(1024 * 1024, 1024 * 1024, 400),
                run(1024 * 1024, 2048, 380),
            ],
        )
    }

    #[test]
    fn ratios_are_formatted_to_two_significant_digits() {
        assert_eq!(ratio(Some(1.0)), "1.00");
        assert_eq!(ratio(Some(0.951)), "0.95");
        assert_eq!(ratio(Some(0.00223)), "0.0022");
        assert_eq!(ratio(Some(12.5)), "12.50");
        assert_eq!(ratio(None), "-");
        assert_eq!(mib(Some(2048.0)), "2.0 MiB");
        assert_eq!(secs(Some(0.4)), "0.400 s");
    }

    #[test]
    fn table_shows_medians_ratios_and_notes() {
        let t = report().table();
        assert!(t.contains("command: ld -o 'my lib.a'"), "{t}");
        assert!(t.contains("peak tree RSS"), "{t}");
        let held = t
            .lines()
            .find(|l| l.starts_with("tree RSS while archiver ran"))
            .unwrap();
        assert!(
            held.contains("1024.0 MiB") && held.contains("2.0 MiB") && held.ends_with("0.0020"),
            "{held}"
        );
        assert!(t.contains("0.95"), "{t}");
        assert!(t.contains("not measured (no cgroup v2 mount)"), "{t}");
        assert!(!t.contains("problem:"), "{t}");
        assert!(t.contains("seen in 1/1 runs without and 1/1 with"), "{t}");
    }

    #[test]
    fn json_has_runs_medians_ratios_and_timelines() {
        let v = report().json();
        assert_eq!(v["ok"], true);
        assert_eq!(v["pairs"], 1);
        assert_eq!(v["median"]["with"]["held_during_archiver_kib"], 2048.0);
        assert_eq!(
            v["ratio"]["held_during_archiver"],
            2048.0 / (1024.0 * 1024.0)
        );
        assert_eq!(v["runs"][1]["side"], "with");
        assert_eq!(v["runs"][1]["exit"]["code"], 0);
        assert_eq!(v["runs"][0]["timeline"][1][1], 1024 * 1024);
        assert_eq!(v["cgroup"]["used"], false);
        assert_eq!(v["median_run"]["with"], 2);
    }

    #[test]
    fn failures_are_reported() {
        let mut runs = vec![run(10, 5, 1), run(10, 5, 1)];
        runs[1].status = ExitStatus::from_raw(1 << 8);
        let r = Report::new(vec!["x".into()], 200, "ar".into(), None, runs);
        assert_eq!(r.problems.len(), 2);
        assert!(r
            .table()
            .contains("problem: run 2 (with arshim): exit status 1"));
        assert_eq!(r.json()["ok"], false);
        assert!(r.table().contains("cgroup memory.peak"));
    }
}
