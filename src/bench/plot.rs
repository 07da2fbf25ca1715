//! The SVG plot: one run of each side, tree RSS over time, with the span when
//! the archiver ran shaded and its start marked and labelled.
//!
//! plotters' SVG backend writes text as `<text>` elements and, without its
//! `ttf` feature, estimates text sizes itself: no font library is needed.

use std::path::Path;

use plotters::coord;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::ab::Side;
use super::stats;
use crate::measure::Sampled;

const SIZE: (u32, u32) = (1000, 600);
/// Height of the strip under the chart that holds the legend.
const LEGEND_HEIGHT: u32 = 56;
/// Points per line: far more than the plot's width in pixels.
const MAX_POINTS: usize = 4000;
const WITHOUT_COLOR: RGBColor = RGBColor(214, 39, 40);
const WITH_COLOR: RGBColor = RGBColor(31, 119, 180);

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
    let (x_max, y_max) = ranges(lines);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    // The legend goes under the chart, where no curve or label can hide it.
    let (top, bottom) = root.split_vertically(SIZE.1 - LEGEND_HEIGHT);
    let mut chart = ChartBuilder::on(&top)
        .caption(title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds since start")
        .y_desc("tree RSS (MiB)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_label_formatter(&|v| format!("{v:.2}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    // The archiver's span first, under the lines.
    shade_archiver_spans(&mut chart, lines, y_max)?;
    for (k, line) in lines.iter().enumerate() {
        draw_curve(&mut chart, &bottom, k, line)?;
    }
    for (k, line) in lines.iter().enumerate() {
        mark_archiver_start(&mut chart, k, line, (x_max, y_max))?;
    }
    root.present()?;
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

/// The `k`-th line's curve, and its entry in the legend strip `bottom`.
fn draw_curve(chart: &mut Chart, bottom: &Area, k: usize, line: &Line) -> DrawResult {
    let c = color(line.side);
    let points: Vec<(f64, f64)> = stats::thin(&line.sampled.timeline, MAX_POINTS)
        .iter()
        .map(|s| (s.t, mib(s.rss_kib)))
        .collect();
    chart.draw_series(LineSeries::new(points, c.stroke_width(2)))?;

    let y = 16 + 22 * k as i32;
    bottom.draw(&PathElement::new(
        vec![(80, y), (110, y)],
        c.stroke_width(3),
    ))?;
    bottom.draw(&Text::new(
        legend(line),
        (118, y),
        ("sans-serif", 14)
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
        ("sans-serif", 14).into_font().color(&c).pos(anchor),
    )))?;
    Ok(())
}

fn legend(line: &Line) -> String {
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
