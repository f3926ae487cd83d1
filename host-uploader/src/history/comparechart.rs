//! Chart files of several runs (`history compare --chart FILE.svg|FILE.png`):
//! one panel per metric, one line per run in its own colour, and a legend
//! naming the runs. Drawn with plotters and the built-in font, as
//! [`super::chart`] draws one run.

use std::path::Path;

use anyhow::{bail, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{padded, write_file, Drawing, FONT, MAX_PANELS, MAX_POINTS};
use super::chartdata::decimate;
use super::render::clean;

/// One run's line in a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct RunLine {
    /// The legend's label (the run id, shortened by the caller if it likes).
    pub label: String,
    /// (x, y), all finite, in drawing order.
    pub points: Vec<(f64, f64)>,
}

/// One metric's panel: a line per run that has it.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparePanel {
    /// The metric's name.
    pub name: String,
    /// What x means: `"step"` or `"index"`.
    pub x_label: &'static str,
    /// The runs' lines (at least one).
    pub lines: Vec<RunLine>,
}

/// Colours of the runs' lines, in order (Tableau 10, distinguishable in print).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Draws `panels` (the first [`MAX_PANELS`]) into `path`, SVG or PNG by its extension.
pub fn draw_file(path: &Path, panels: &[ComparePanel]) -> Result<()> {
    let panels: Vec<&ComparePanel> = panels
        .iter()
        .filter(|p| !p.lines.is_empty())
        .take(MAX_PANELS)
        .collect();
    if panels.is_empty() {
        bail!("nothing to chart");
    }
    write_file(path, panels.len(), &Panels(&panels))
}

/// The panels `runlog history compare --chart` draws.
struct Panels<'a>(&'a [&'a ComparePanel]);

impl Drawing for Panels<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        draw(root, self.0)
    }
}

fn bounds<'a>(points: impl Iterator<Item = &'a (f64, f64)>) -> ((f64, f64), (f64, f64)) {
    let inf = (f64::INFINITY, f64::NEG_INFINITY);
    points.fold((inf, inf), |((xa, xb), (ya, yb)), p| {
        ((xa.min(p.0), xb.max(p.0)), (ya.min(p.1), yb.max(p.1)))
    })
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panels: &[&ComparePanel],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let areas = root.split_evenly((panels.len(), 1));
    for (area, panel) in areas.iter().zip(panels) {
        let lines: Vec<(String, Vec<(f64, f64)>)> = panel
            .lines
            .iter()
            .map(|l| (clean(&l.label), decimate(&l.points, MAX_POINTS)))
            .collect();
        let ((xlo, xhi), (ylo, yhi)) = bounds(lines.iter().flat_map(|(_, p)| p.iter()));
        if !(xlo.is_finite() && ylo.is_finite()) {
            continue; // no points in any line
        }
        let (xlo, xhi) = if xhi > xlo {
            (xlo, xhi)
        } else {
            padded(xlo, xhi)
        };
        // As in chart.rs: a range wider than an f64 would make plotters loop.
        let scale = if (yhi - ylo).is_finite() { 1.0 } else { 0.25 };
        let (ylo, yhi) = padded(ylo * scale, yhi * scale);
        let mut ctx = ChartBuilder::on(area)
            .caption(
                // A run of several ranks has a line per rank.
                format!("{} ({} lines)", clean(&panel.name), lines.len()),
                (FONT, 18),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(xlo..xhi, ylo..yhi)?;
        let mut mesh = ctx.configure_mesh();
        if scale != 1.0 {
            mesh.y_desc(format!("value × {scale}"));
        }
        mesh.x_desc(panel.x_label)
            .label_style((FONT, 12))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for (i, (label, points)) in lines.into_iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let style = ShapeStyle::from(&color).stroke_width(2);
            ctx.draw_series(LineSeries::new(
                points.into_iter().map(|(x, y)| (x, y * scale)),
                style,
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        ctx.configure_series_labels()
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    Ok(())
}
