//! The numbers of a benchmark: medians, ratios, the representative run of a
//! side, exit-status checks, and thinning a timeline for output.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use super::ab::Side;
use crate::measure::{Sample, Sampled};

/// The median; for an even count, the mean of the middle two.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// B/A: with arshim over without; none when A is zero or either is unknown.
pub fn ratio(without: Option<f64>, with: Option<f64>) -> Option<f64> {
    match (without, with) {
        (Some(a), Some(b)) if a > 0.0 => Some(b / a),
        _ => None,
    }
}

/// The medians of one side's runs (runs that never showed the archiver do
/// not count for `held_kib`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Medians {
    pub peak_kib: Option<f64>,
    pub held_kib: Option<f64>,
    pub wall_s: Option<f64>,
    pub cgroup_peak_kib: Option<f64>,
}

pub fn medians<'a>(runs: impl IntoIterator<Item = &'a Sampled> + Clone) -> Medians {
    let of = |f: &dyn Fn(&Sampled) -> Option<f64>| {
        median(&runs.clone().into_iter().filter_map(f).collect::<Vec<_>>())
    };
    Medians {
        peak_kib: of(&|r| Some(r.peak_kib as f64)),
        held_kib: of(&|r| r.held_during_archiver_kib.map(|k| k as f64)),
        wall_s: of(&|r| Some(r.wall.as_secs_f64())),
        cgroup_peak_kib: of(&|r| r.cgroup_peak_kib.map(|k| k as f64)),
    }
}

/// B/A for each figure.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Ratios {
    pub peak: Option<f64>,
    pub held: Option<f64>,
    pub wall: Option<f64>,
    pub cgroup_peak: Option<f64>,
}

pub fn ratios(without: &Medians, with: &Medians) -> Ratios {
    Ratios {
        peak: ratio(without.peak_kib, with.peak_kib),
        held: ratio(without.held_kib, with.held_kib),
        wall: ratio(without.wall_s, with.wall_s),
        cgroup_peak: ratio(without.cgroup_peak_kib, with.cgroup_peak_kib),
    }
}

/// The index (into `walls`) of the run with the median wall time (the lower
/// middle one for an even count): the run a plot shows.
pub fn median_index(walls: &[f64]) -> Option<usize> {
    let mut order: Vec<usize> = (0..walls.len()).collect();
    order.sort_by(|&a, &b| walls[a].total_cmp(&walls[b]));
    order.get(walls.len().saturating_sub(1) / 2).copied()
}

/// A run's exit, comparable between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl From<ExitStatus> for Exit {
    fn from(status: ExitStatus) -> Exit {
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(sig)) => Exit::Signal(sig),
            // Stopped/continued are never final statuses.
            (None, None) => Exit::Code(-1),
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit status {code}"),
            Exit::Signal(sig) => write!(f, "killed by signal {sig}"),
        }
    }
}

/// Every way the runs' exits make the comparison invalid: a run that did not
/// succeed, and a pair whose two runs ended differently. `exits` are in run
/// order (A B A B …).
pub fn exit_problems(exits: &[Exit]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, exit) in exits.iter().enumerate() {
        if *exit != Exit::Code(0) {
            problems.push(format!(
                "run {} ({}): {exit}",
                i + 1,
                Side::of_run(i).label()
            ));
        }
    }
    for (pair, two) in exits.chunks(2).enumerate() {
        if let [a, b] = two {
            if a != b {
                problems.push(format!(
                    "pair {}: the runs ended differently: {a} without arshim, {b} with arshim",
                    pair + 1
                ));
            }
        }
    }
    problems
}

/// At most `max` samples (`max` ≥ 2): each kept sample stands for a bucket of
/// consecutive ones and carries the bucket's highest RSS, so no peak is lost;
/// a bucket showing the archiver anywhere shows it.
pub fn thin(timeline: &[Sample], max: usize) -> Vec<Sample> {
    let max = max.max(2);
    if timeline.len() <= max {
        return timeline.to_vec();
    }
    let size = timeline.len().div_ceil(max);
    timeline
        .chunks(size)
        .map(|bucket| {
            let top = bucket
                .iter()
                .max_by_key(|s| s.rss_kib)
                .expect("chunks are non-empty");
            Sample {
                t: top.t,
                rss_kib: top.rss_kib,
                archiver: bucket.iter().any(|s| s.archiver),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(peak: u64, held: Option<u64>, wall_ms: u64) -> Sampled {
        Sampled {
            status: ExitStatus::from_raw(0),
            wall: Duration::from_millis(wall_ms),
            timeline: vec![],
            peak_kib: peak,
            archiver: held.map(|_| (0.1, 0.2)),
            held_during_archiver_kib: held,
            cgroup_peak_kib: None,
        }
    }

    #[test]
    fn medians_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN, 1.0]), Some(1.0));
    }

    #[test]
    fn ratios_are_with_over_without() {
        assert_eq!(ratio(Some(1000.0), Some(2.0)), Some(0.002));
        assert_eq!(ratio(Some(0.0), Some(2.0)), None);
        assert_eq!(ratio(None, Some(2.0)), None);
        assert_eq!(ratio(Some(2.0), None), None);
    }

    #[test]
    fn medians_of_runs_skip_unseen_archivers() {
        let runs = [
            run(100, Some(90), 10),
            run(300, None, 30),
            run(200, Some(80), 20),
        ];
        let m = medians(&runs);
        assert_eq!(m.peak_kib, Some(200.0));
        assert_eq!(m.held_kib, Some(85.0));
        assert!((m.wall_s.unwrap() - 0.02).abs() < 1e-9);
        assert_eq!(m.cgroup_peak_kib, None);
        let none = medians(&[run(1, None, 1)]);
        assert_eq!(none.held_kib, None);
        let r = ratios(
            &m,
            &Medians {
                held_kib: Some(8.5),
                ..m
            },
        );
        assert_eq!(
            (r.held, r.peak, r.cgroup_peak),
            (Some(0.1), Some(1.0), None)
        );
    }

    #[test]
    fn the_median_run_is_the_middle_wall_time() {
        assert_eq!(median_index(&[0.3, 0.1, 0.2]), Some(2));
        assert_eq!(median_index(&[0.4, 0.1, 0.3, 0.2]), Some(3));
        assert_eq!(median_index(&[0.5]), Some(0));
        assert_eq!(median_index(&[]), None);
    }

    #[test]
    fn exit_problems_name_failed_runs_and_differing_pairs() {
        use Exit::{Code, Signal};
        assert!(exit_problems(&[Code(0), Code(0), Code(0), Code(0)]).is_empty());
        let p = exit_problems(&[Code(0), Code(1), Code(2), Code(2)]);
        assert_eq!(
            p,
            [
                "run 2 (with arshim): exit status 1",
                "run 3 (without arshim): exit status 2",
                "run 4 (with arshim): exit status 2",
                "pair 1: the runs ended differently: exit status 0 without arshim, exit status 1 with arshim",
            ]
        );
        let p = exit_problems(&[Code(0), Signal(9)]);
        assert_eq!(p[0], "run 2 (with arshim): killed by signal 9");
        assert_eq!(Exit::from(ExitStatus::from_raw(9)), Signal(9));
        assert_eq!(Exit::from(ExitStatus::from_raw(3 << 8)), Code(3));
    }

    #[test]
    fn thinning_keeps_peaks_and_archiver_marks() {
        let tl: Vec<Sample> = (0..10)
            .map(|i| Sample {
                t: i as f64,
                rss_kib: if i == 7 { 1000 } else { i },
                archiver: i == 4,
            })
            .collect();
        let thin4 = thin(&tl, 4);
        assert_eq!(thin4.len(), 4, "buckets of 3: 0-2 3-5 6-8 9");
        assert_eq!(thin4[2].rss_kib, 1000);
        assert_eq!(thin4[2].t, 7.0);
        assert!(thin4[1].archiver && !thin4[0].archiver && !thin4[2].archiver);
        assert_eq!(thin(&tl, 100), tl);
    }
}
