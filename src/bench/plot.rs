//! The SVG plot: one run of each side (the median run by wall time), tree
//! RSS over time, with the span when the archiver ran shaded and its start
//! marked and labelled; under it, a second panel zoomed on the archiver's
//! phase, each run aligned on its archiver's start, so that what the tree
//! held while the archiver ran stays readable however short that phase is
//! next to the whole run (a linker that takes minutes). Where that phase is
//! half of a run or more (a whole build, whose archivers overlap the other
//! links), the upper panel shows it and there is no second one.
//!
//! plotters' SVG backend writes text as `<text>` elements and, without its
//! `ttf` feature, estimates text sizes itself: no font library is needed.
//! Every text is at least 13 px in the SVG (plotters writes a font size
//! as the given size / 1.24).

use std::path::Path;

use plotters::coord;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::ab::Side;
use super::stats;
use crate::measure::{Sample, Sampled};

const SIZE: (u32, u32) = (1000, 940);
/// Height of the whole-run panel; the zoomed panel has the rest above the legend.
const MAIN_HEIGHT: u32 = 520;
/// Height of the strip under the charts that holds the legend.
const LEGEND_HEIGHT: u32 = 64;
/// Points per line: far more than the plot's width in pixels.
const MAX_POINTS: usize = 4000;
const WITHOUT_COLOR: RGBColor = RGBColor(214, 39, 40);
const WITH_COLOR: RGBColor = RGBColor(31, 119, 180);
const TITLE_PX: u32 = 22;
const TEXT_PX: u32 = 17;

/// One line of the plot.
pub struct Line<'a> {
    pub side: Side,
    /// 1-based, as in the table's progress lines.
    pub run: usize,
    pub sampled: &'a Sampled,
}

fn color(side: Side) -> RGBColor {
    match side {
        Side::Without => WITHOUT_COLOR,
        Side::With => WITH_COLOR,
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Writes the plot of `lines` (typically the median run of each side) to `path`.
pub fn write(path: &Path, title: &str, lines: &[Line]) -> Result<(), String> {
    draw(path, title, lines).map_err(|e| format!("cannot write the plot {}: {e}", path.display()))
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;
type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<coord::types::RangedCoordf64, coord::types::RangedCoordf64>,
>;
type Area<'b> = DrawingArea<SVGBackend<'b>, coord::Shift>;

fn draw(path: &Path, title: &str, lines: &[Line]) -> DrawResult {
    let window = ArchiverWindow::of(lines);
    let height = if window.is_some() {
        SIZE.1
    } else {
        MAIN_HEIGHT + LEGEND_HEIGHT
    };
    let root = SVGBackend::new(path, (SIZE.0, height)).into_drawing_area();
    root.fill(&WHITE)?;
    // The legend goes under the charts, where no curve or label can hide it.
    let (charts, legend) = root.split_vertically(height - LEGEND_HEIGHT);
    let (main, zoom) = charts.split_vertically(MAIN_HEIGHT);
    draw_whole_runs(&main, title, lines)?;
    if let Some(window) = window {
        draw_archiver_phase(&zoom, lines, window)?;
    }
    for (k, line) in lines.iter().enumerate() {
        draw_legend_entry(&legend, k, line)?;
    }
    root.present()?;
    Ok(())
}

/// The upper panel: every sample of each run, from its start to its end.
fn draw_whole_runs(area: &Area, title: &str, lines: &[Line]) -> DrawResult {
    let (x_max, y_max) = ranges(lines);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", TITLE_PX))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    configure_axes(&mut chart, "seconds since start", x_max)?;
    // The archiver's span first, under the lines.
    shade_archiver_spans(&mut chart, lines, y_max)?;
    for line in lines {
        let points = stats::thin(&line.sampled.timeline, MAX_POINTS)
            .iter()
            .map(|s| (s.t, mib(s.rss_kib)))
            .collect::<Vec<_>>();
        chart.draw_series(LineSeries::new(points, color(line.side).stroke_width(2)))?;
    }
    for (k, line) in lines.iter().enumerate() {
        mark_archiver_start(&mut chart, k, line, (x_max, y_max))?;
    }
    Ok(())
}

/// Axes with labels of `TEXT_PX`, MiB on y, and as many decimals on x as
/// the span needs.
fn configure_axes(chart: &mut Chart, x_desc: &str, x_span: f64) -> DrawResult {
    let decimals = if x_span >= 20.0 {
        0
    } else if x_span >= 2.0 {
        1
    } else if x_span >= 0.2 {
        2
    } else {
        3
    };
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("tree RSS (MiB)")
        .label_style(("sans-serif", TEXT_PX))
        .axis_desc_style(("sans-serif", TEXT_PX))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_label_formatter(&move |v| format!("{v:.decimals$}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    Ok(())
}

/// The axes' ends: the longest run, and headroom above the peak for the labels.
fn ranges(lines: &[Line]) -> (f64, f64) {
    let x_max = lines
        .iter()
        .map(|l| l.sampled.wall.as_secs_f64())
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.04;
    let y_max = lines
        .iter()
        .map(|l| mib(l.sampled.peak_kib))
        .fold(1.0, f64::max)
        * 1.25;
    (x_max, y_max)
}

fn shade_archiver_spans(chart: &mut Chart, lines: &[Line], y_max: f64) -> DrawResult {
    for line in lines {
        if let Some((start, end)) = line.sampled.archiver {
            let c = color(line.side);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(start, 0.0), (end, y_max)],
                c.mix(0.10).filled(),
            )))?;
        }
    }
    Ok(())
}

/// The `k`-th line's entry in the legend strip `legend`.
fn draw_legend_entry(legend: &Area, k: usize, line: &Line) -> DrawResult {
    let c = color(line.side);
    let y = 18 + 24 * k as i32;
    legend.draw(&PathElement::new(
        vec![(80, y), (110, y)],
        c.stroke_width(3),
    ))?;
    legend.draw(&Text::new(
        legend_text(line),
        (118, y),
        ("sans-serif", TEXT_PX)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center)),
    ))?;
    Ok(())
}

/// The archiver's start: a dashed vertical line, a dot on the curve, a label.
fn mark_archiver_start(
    chart: &mut Chart,
    k: usize,
    line: &Line,
    (x_max, y_max): (f64, f64),
) -> DrawResult {
    let Some((start, _)) = line.sampled.archiver else {
        return Ok(());
    };
    let c = color(line.side);
    chart.draw_series(DashedLineSeries::new(
        [(start, 0.0), (start, y_max)],
        6,
        4,
        c.stroke_width(1),
    ))?;
    let at = line
        .sampled
        .timeline
        .iter()
        .find(|s| s.archiver)
        .map_or(0.0, |s| mib(s.rss_kib));
    chart.draw_series(std::iter::once(Circle::new((start, at), 4, c.filled())))?;
    // Labels stacked in the headroom; to the left of the line past mid-plot.
    let right_half = start > x_max * 0.5;
    let anchor = Pos::new(
        if right_half { HPos::Right } else { HPos::Left },
        VPos::Center,
    );
    let nudge = x_max * if right_half { -0.006 } else { 0.006 };
    let y = y_max * (0.965 - 0.055 * k as f64);
    chart.draw_series(std::iter::once(Text::new(
        format!("ar starts ({}) at {start:.3} s", line.side.label()),
        (start + nudge, y),
        ("sans-serif", TEXT_PX).into_font().color(&c).pos(anchor),
    )))?;
    Ok(())
}

fn legend_text(line: &Line) -> String {
    let held = line
        .sampled
        .held_during_archiver_kib
        .map_or("archiver not seen".into(), |k| {
            format!("{:.1} MiB while ar ran", mib(k))
        });
    format!(
        "{} (run {}): peak {:.1} MiB, {held}, wall {:.3} s",
        line.side.label(),
        line.run,
        mib(line.sampled.peak_kib),
        line.sampled.wall.as_secs_f64()
    )
}

/// The zoomed panel's x range, in seconds from each run's archiver start:
/// a little before it, to its longest phase, and a little after.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ArchiverWindow {
    before: f64,
    after: f64,
}

impl ArchiverWindow {
    /// `None` when no line saw the archiver, or when its phase already
    /// takes half of a run (a whole build): the upper panel shows it then.
    fn of(lines: &[Line]) -> Option<ArchiverWindow> {
        let longest = lines
            .iter()
            .filter_map(|l| l.sampled.archiver)
            .map(|(start, end)| end - start)
            .reduce(f64::max)?;
        let longest_run = lines
            .iter()
            .map(|l| l.sampled.wall.as_secs_f64())
            .fold(0.0, f64::max);
        if longest > longest_run * 0.5 {
            return None;
        }
        let span = longest.max(1e-3);
        Some(ArchiverWindow {
            before: span * 0.3,
            after: span * 1.15,
        })
    }

    /// The samples of a run whose archiver started at `start`, in the window,
    /// with their times made relative to `start`.
    fn points(&self, timeline: &[Sample], start: f64) -> Vec<(f64, f64)> {
        let inside = timeline
            .iter()
            .filter(|s| s.t >= start - self.before && s.t <= start + self.after)
            .copied()
            .collect::<Vec<_>>();
        stats::thin(&inside, MAX_POINTS)
            .iter()
            .map(|s| (s.t - start, mib(s.rss_kib)))
            .collect()
    }
}

/// One run in the zoomed panel.
struct Zoomed {
    side: Side,
    /// How long its archiver ran, seconds.
    ran_for: f64,
    /// (seconds from the archiver's start, MiB).
    points: Vec<(f64, f64)>,
}

/// The lower panel: each run around its archiver's start (x = 0), the span
/// it ran shaded, on a y scale fitted to this window.
fn draw_archiver_phase(area: &Area, lines: &[Line], window: ArchiverWindow) -> DrawResult {
    let curves: Vec<Zoomed> = lines
        .iter()
        .filter_map(|l| {
            let (start, end) = l.sampled.archiver?;
            Some(Zoomed {
                side: l.side,
                ran_for: end - start,
                points: window.points(&l.sampled.timeline, start),
            })
        })
        .collect();
    let y_max = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "zoom on the archiver: each run from its archiver's start (0), shaded while it ran",
            ("sans-serif", TEXT_PX + 1),
        )
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d(-window.before..window.after, 0.0..y_max)?;
    let span = window.before + window.after;
    configure_axes(&mut chart, "seconds from the archiver's start", span)?;
    for curve in &curves {
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, 0.0), (curve.ran_for, y_max)],
            color(curve.side).mix(0.10).filled(),
        )))?;
    }
    for curve in curves {
        let c = color(curve.side);
        chart.draw_series(LineSeries::new(curve.points, c.stroke_width(2)))?;
    }
    chart.draw_series(DashedLineSeries::new(
        [(0.0, 0.0), (0.0, y_max)],
        6,
        4,
        BLACK.stroke_width(1),
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Sample;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;
    use std::time::Duration;

    fn sampled(held: u64) -> Sampled {
        let timeline: Vec<Sample> = (0..100)
            .map(|i| Sample {
                t: i as f64 / 100.0,
                rss_kib: if i < 60 { 300 * 1024 } else { held },
                archiver: i >= 60,
            })
            .collect();
        Sampled {
            status: ExitStatus::from_raw(0),
            wall: Duration::from_secs(1),
            timeline,
            peak_kib: 300 * 1024,
            archiver: Some((0.6, 1.0)),
            held_during_archiver_kib: Some(held),
            cgroup_peak_kib: None,
        }
    }

    #[test]
    fn writes_an_svg_with_both_lines_and_the_markers() {
        let dir = std::env::temp_dir().join(format!("arshim-plot-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.svg");
        let (a, b) = (sampled(301 * 1024), sampled(2048));
        let lines = [
            Line {
                side: Side::Without,
                run: 1,
                sampled: &a,
            },
            Line {
                side: Side::With,
                run: 2,
                sampled: &b,
            },
        ];
        write(&path, "test & <plot>", &lines).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.matches("<polyline").count() >= 2, "{svg}");
        assert!(svg.contains("ar starts (without arshim) at 0.600 s"));
        assert!(svg.contains("ar starts (with arshim)"));
        assert!(
            svg.contains("with arshim (run 2): peak 300.0 MiB, 2.0 MiB while ar ran, wall 1.000 s")
        );
        assert!(svg.contains("&lt;plot&gt;"), "text is escaped");
        assert!(svg.contains("zoom on the archiver"), "the second panel");
        assert!(
            svg.matches("<polyline").count() >= 4,
            "both lines in both panels"
        );
        for size in font_sizes(&svg) {
            assert!(size >= 12.0, "every text is at least 12 px: {size}");
        }
    }

    /// The `font-size` of every `<text>` of an SVG.
    fn font_sizes(svg: &str) -> Vec<f64> {
        svg.split("font-size=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next()?.parse().ok())
            .collect()
    }

    #[test]
    fn the_zoom_window_follows_the_longest_archiver_phase() {
        let (a, b) = (sampled(1), sampled(2));
        let mut c = sampled(3);
        c.archiver = Some((0.2, 1.0));
        let line = |sampled| Line {
            side: Side::With,
            run: 1,
            sampled,
        };
        let w = ArchiverWindow::of(&[line(&a), line(&b)]).unwrap();
        assert!((w.after - 0.4 * 1.15).abs() < 1e-9 && (w.before - 0.4 * 0.3).abs() < 1e-9);
        assert_eq!(
            ArchiverWindow::of(&[line(&a), line(&c)]),
            None,
            "an archiver phase of most of the run needs no zoom"
        );
        let points = w.points(&b.timeline, 0.6);
        assert!(points.first().unwrap().0 >= -0.4 * 0.3 - 1e-9);
        assert!(points.iter().any(|p| p.0 == 0.0));
        let mut none = sampled(1);
        none.archiver = None;
        assert_eq!(ArchiverWindow::of(&[line(&none)]), None);
    }

    #[test]
    fn an_unwritable_path_is_an_error() {
        let a = sampled(1);
        let lines = [Line {
            side: Side::With,
            run: 1,
            sampled: &a,
        }];
        let err = write(Path::new("/nonexistent-dir/x.svg"), "t", &lines).unwrap_err();
        assert!(err.contains("/nonexistent-dir/x.svg"), "{err}");
    }
}
