//! The demo's picture: for every strategy, the share of the install's packages ready over time,
//! with the bound marked, as an SVG (`lockfetch demo --plot FILE.svg`).
//!
//! A needed package is *ready* once the install can use it: a warm one when its download
//! finished, a cold one when its extraction did; so each curve reaches 100 % at its strategy's
//! wall time. Drawn with `plotters`' SVG backend alone: the text is left to the SVG viewer's fonts,
//! so nothing here needs a system font library.

use plotters::prelude::*;

use crate::sim::SimReport;

/// Width and height of the picture, in SVG pixels.
pub const SIZE: (u32, u32) = (960, 540);

/// Width of the legend, right of the chart.
const LEGEND_WIDTH: u32 = 230;

/// The colour of `strategy`'s curve as SVG writes it (`#RRGGBB`).
pub fn colour_hex(strategy: &str) -> String {
    let RGBColor(r, g, b) = colour(strategy);
    format!("#{r:02X}{g:02X}{b:02X}")
}

/// The colour of each strategy's curve (the others get grey).
fn colour(name: &str) -> RGBColor {
    match name {
        "naive" => RGBColor(214, 39, 40),
        "barrier" => RGBColor(255, 127, 14),
        "fifo" => RGBColor(31, 119, 180),
        "scheduler" => RGBColor(44, 160, 44),
        _ => RGBColor(127, 127, 127),
    }
}

/// How `strategy`'s curve is drawn: the scheduler's thickest; barrier's wide and pale, since
/// where its warm packages arrive as fifo's do the two curves coincide, and fifo's, drawn on top,
/// would hide it.
fn curve_style(strategy: &str) -> ShapeStyle {
    match strategy {
        "scheduler" => colour(strategy).stroke_width(3),
        "barrier" => colour(strategy).mix(0.45).stroke_width(6),
        _ => colour(strategy).stroke_width(2),
    }
}

/// The SVG of `report`, titled `title`; an error if drawing fails or no strategy ran.
pub fn render(report: &SimReport, title: &str) -> Result<String, String> {
    let strategies = &report.strategies;
    if strategies.is_empty() {
        return Err("nothing to plot: no strategy ran".into());
    }
    let seconds = |ms: f64| ms / 1000.0;
    let bound = strategies
        .iter()
        .map(|s| s.bound_ms)
        .fold(f64::INFINITY, f64::min);
    let resolved = strategies.iter().map(|s| s.resolve_ms).fold(0.0, f64::max);
    let x_max = seconds(strategies.iter().map(|s| s.wall_ms).fold(bound, f64::max)) * 1.05;
    let failed = |e: &dyn std::fmt::Display| format!("cannot draw the plot: {e}");
    // Enough decimals that the ticks of a short run do not all read the same.
    let decimals = if x_max >= 2.0 {
        1
    } else if x_max >= 0.2 {
        2
    } else {
        3
    };

    // The legend: a line sample and one or two lines of text per entry.
    let mut legend: Vec<(ShapeStyle, bool, Vec<String>)> = strategies
        .iter()
        .map(|s| {
            let label = format!("{} — {:.2} s", s.name, seconds(s.wall_ms));
            (curve_style(&s.name), false, vec![label])
        })
        .collect();
    legend.push((
        RGBColor(150, 150, 150).stroke_width(1),
        true,
        vec![format!("resolution ends — {:.2} s", seconds(resolved))],
    ));
    legend.push((
        BLACK.stroke_width(1),
        true,
        vec![
            format!("bound — {:.2} s", seconds(bound)),
            "(no strategy can finish sooner)".to_string(),
        ],
    ));

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(&e))?;
        let below = root
            .titled(title, ("sans-serif", 19))
            .map_err(|e| failed(&e))?;
        let (left, right) = below.split_horizontally(SIZE.0 - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&left)
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_max, 0f64..100f64)
            .map_err(|e| failed(&e))?;
        chart
            .configure_mesh()
            .x_desc("seconds since resolution started")
            .y_desc("% of the install's packages ready")
            .x_label_formatter(&|s| format!("{s:.decimals$}"))
            .y_label_formatter(&|p| format!("{p:.0} %"))
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(|e| failed(&e))?;
        for s in strategies {
            chart
                .draw_series(LineSeries::new(
                    steps(&s.ready_ms, seconds),
                    curve_style(&s.name),
                ))
                .map_err(|e| failed(&e))?;
        }
        // A dot where each install ends: the last few packages are multi-MB tarballs, so the
        // curve's last steps are too small to see.
        for s in strategies {
            let end = Circle::new((seconds(s.wall_ms), 100.0), 4, colour(&s.name).filled());
            chart
                .draw_series(std::iter::once(end))
                .map_err(|e| failed(&e))?;
        }
        for (at, colour) in [(resolved, RGBColor(150, 150, 150)), (bound, BLACK)] {
            let line = vec![(seconds(at), 0.0), (seconds(at), 100.0)];
            chart
                .draw_series(DashedLineSeries::new(line, 6, 4, colour.stroke_width(1)))
                .map_err(|e| failed(&e))?;
        }

        let mut y = 40;
        for (style, dashed, lines) in legend {
            let sample: &[(i32, i32)] = if dashed {
                &[(0, 9), (12, 21)]
            } else {
                &[(0, 21)]
            };
            for &(from, to) in sample {
                right
                    .draw(&PathElement::new(vec![(from, y), (to, y)], style))
                    .map_err(|e| failed(&e))?;
            }
            for line in lines {
                right
                    .draw(&Text::new(line, (30, y - 8), ("sans-serif", 14)))
                    .map_err(|e| failed(&e))?;
                y += 20;
            }
            y += 6;
        }
        root.present().map_err(|e| failed(&e))?;
    }
    Ok(svg)
}

/// The staircase of a curve: from 0 % at 0, up one package's share at each ready time.
fn steps(ready_ms: &[f64], x: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
    let n = ready_ms.len().max(1) as f64;
    let mut points = Vec::with_capacity(2 * ready_ms.len() + 1);
    points.push((0.0, 0.0));
    for (i, &t) in ready_ms.iter().enumerate() {
        points.push((x(t), i as f64 / n * 100.0));
        points.push((x(t), (i + 1) as f64 / n * 100.0));
    }
    points
}
