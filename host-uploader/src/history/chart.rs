//! Chart files (`--chart FILE.svg` / `FILE.png`), drawn with plotters: one
//! panel per chartable metric, stacked.
//!
//! Text uses Noto Sans compiled into the binary (crate `ttf-noto-sans`,
//! plotters' `ab_glyph` feature), so drawing needs no system fonts or
//! fontconfig. A series longer than [`MAX_POINTS`] is decimated (per-bucket
//! minimum and maximum), so files stay small and keep the curve's extremes.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chartdata::{decimate, ChartData};
use super::render::clean;

/// Most points drawn per series.
pub const MAX_POINTS: usize = 4000;
/// Width of the image, in pixels.
pub const WIDTH: u32 = 900;
/// Height of one metric's panel, in pixels.
pub const PANEL_HEIGHT: u32 = 280;

const FONT: &str = "sans-serif";

fn register_font() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, ttf_noto_sans::REGULAR).is_ok()
    });
    if ok {
        Ok(())
    } else {
        bail!("the built-in chart font cannot be loaded")
    }
}

/// Draws `charts` into `path`, an SVG or PNG file chosen by its extension.
pub fn draw_file(path: &Path, charts: &[ChartData]) -> Result<()> {
    if charts.is_empty() {
        bail!("nothing to chart");
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    register_font()?;
    let height = PANEL_HEIGHT.saturating_mul(charts.len() as u32);
    let size = (WIDTH, height);
    let fail = |e: String| anyhow!("cannot draw the chart into {}: {e}", path.display());
    match ext.as_deref() {
        Some("svg") => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            draw(&root, charts).map_err(|e| fail(e.to_string()))?;
            root.present().map_err(|e| fail(e.to_string()))?;
        }
        Some("png") => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            draw(&root, charts).map_err(|e| fail(e.to_string()))?;
            root.present().map_err(|e| fail(e.to_string()))?;
        }
        _ => bail!(
            "--chart {}: the file name must end in .svg or .png",
            path.display()
        ),
    }
    // Plotters reports some write failures only on drop; check the file is there.
    std::fs::metadata(path)
        .with_context(|| format!("the chart file {} was not written", path.display()))?;
    Ok(())
}

/// A range that plotters can draw even when all values are equal.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    } else {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - pad, hi + pad)
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    charts: &[ChartData],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let panels = root.split_evenly((charts.len(), 1));
    for (panel, chart) in panels.iter().zip(charts) {
        let points = decimate(&chart.points, MAX_POINTS);
        let (xlo, xhi) = points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.0), b.max(p.0))
            });
        let (ylo, yhi) = points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.1), b.max(p.1))
            });
        let (xlo, xhi) = if xhi > xlo {
            (xlo, xhi)
        } else {
            padded(xlo, xhi)
        };
        let (ylo, yhi) = padded(ylo, yhi);
        let mut ctx = ChartBuilder::on(panel)
            .caption(
                format!("{} ({} points)", clean(&chart.name), chart.points.len()),
                (FONT, 18),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(xlo..xhi, ylo..yhi)?;
        ctx.configure_mesh()
            .x_desc(chart.x_label)
            .label_style((FONT, 12))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        ctx.draw_series(LineSeries::new(
            points,
            ShapeStyle::from(&RGBColor(31, 119, 180)).stroke_width(2),
        ))?;
    }
    Ok(())
}
