//! Chart files (`--chart FILE.svg` / `FILE.png`), drawn with plotters: one
//! panel per chartable metric, stacked; a metric logged by several ranks
//! (`loss`, `loss/rank1`, ...: grouped by [`crate::ranks::group_ranks`]) is
//! one panel with one line per rank and a legend naming the ranks.
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
use super::comparechart::PALETTE;
use super::render::clean;
use crate::ranks::{self, RankGroup};

/// Most points drawn per series.
pub const MAX_POINTS: usize = 4000;
/// Width of the image, in pixels.
pub const WIDTH: u32 = 900;
/// Height of one metric's panel, in pixels.
pub const PANEL_HEIGHT: u32 = 280;
/// Most panels in one file (a 900 x 14000-pixel image at most).
pub const MAX_PANELS: usize = 50;

pub(crate) const FONT: &str = "sans-serif";

pub(crate) fn register_font() -> Result<()> {
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

/// The panels `charts` draw as: one per logged name, one line per rank.
pub fn panels(charts: &[ChartData]) -> Vec<RankGroup<&ChartData>> {
    ranks::group_ranks(charts, |c| c.name.as_str())
}

/// Draws `charts` (the first [`MAX_PANELS`] [`panels`]) into `path`, an SVG
/// or PNG file chosen by its extension.
pub fn draw_file(path: &Path, charts: &[ChartData]) -> Result<()> {
    let mut charts = panels(charts);
    if charts.is_empty() {
        bail!("nothing to chart");
    }
    charts.truncate(MAX_PANELS);
    let charts = &charts[..];
    write_file(path, charts.len(), &Panels(charts))
}

/// Something that draws itself on any plotters backend (SVG or PNG).
pub(crate) trait Drawing {
    /// Draws onto `root`.
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>;
}

/// The panels `runlog history info --chart` draws.
struct Panels<'a>(&'a [RankGroup<&'a ChartData>]);

impl Drawing for Panels<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        draw(root, self.0)
    }
}

/// Writes `drawing`, `panels` panels tall, into `path`: an SVG or PNG file
/// chosen by its extension.
pub(crate) fn write_file(path: &Path, panels: usize, drawing: &impl Drawing) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    register_font()?;
    let size = (WIDTH, PANEL_HEIGHT.saturating_mul(panels as u32));
    let fail = |e: String| anyhow!("cannot draw the chart into {}: {e}", path.display());
    match ext.as_deref() {
        Some("svg") => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            drawing.draw(&root).map_err(|e| fail(e.to_string()))?;
            root.present().map_err(|e| fail(e.to_string()))?;
        }
        Some("png") => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            drawing.draw(&root).map_err(|e| fail(e.to_string()))?;
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
/// `lo .. hi` (finite, `hi - lo` finite) with a margin, kept finite and non-empty.
pub(crate) fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else if lo == 0.0 {
        1.0
    } else {
        lo.abs() * 0.1
    };
    let (a, b) = ((lo - pad).max(-f64::MAX), (hi + pad).min(f64::MAX));
    if b > a && (b - a).is_finite() {
        (a, b)
    } else {
        (lo, hi)
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    charts: &[RankGroup<&ChartData>],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let panels = root.split_evenly((charts.len(), 1));
    for (panel, group) in panels.iter().zip(charts) {
        let lines: Vec<(u32, Vec<(f64, f64)>)> = group
            .ranks
            .iter()
            .map(|(rank, c)| (*rank, decimate(&c.points, MAX_POINTS)))
            .collect();
        let all = || lines.iter().flat_map(|(_, p)| p.iter());
        let (xlo, xhi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.0), b.max(p.0))
        });
        let (ylo, yhi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
        let (xlo, xhi) = if xhi > xlo {
            (xlo, xhi)
        } else {
            padded(xlo, xhi)
        };
        // Values spanning more than an f64 can hold (e.g. -1e308 .. 1e308)
        // would give plotters an infinite range, on which it loops forever:
        // draw them scaled down, and say so on the axis.
        let scale = if (yhi - ylo).is_finite() { 1.0 } else { 0.25 };
        let (ylo, yhi) = padded(ylo * scale, yhi * scale);
        let values: u64 = group.ranks.iter().map(|(_, c)| c.values).sum();
        let caption = if group.is_ranked() {
            format!(
                "{} ({} ranks, {values} points)",
                clean(&group.name),
                lines.len()
            )
        } else {
            format!("{} ({values} points)", clean(&group.name))
        };
        let x_label = if group.ranks.iter().any(|(_, c)| c.x_label == "step") {
            "step"
        } else {
            "index"
        };
        let mut ctx = ChartBuilder::on(panel)
            .caption(caption, (FONT, 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(xlo..xhi, ylo..yhi)?;
        let mut mesh = ctx.configure_mesh();
        if scale != 1.0 {
            mesh.y_desc(format!("value × {scale}"));
        }
        mesh.x_desc(x_label)
            .label_style((FONT, 12))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for (i, (rank, points)) in lines.into_iter().enumerate() {
            let style = ShapeStyle::from(&PALETTE[i % PALETTE.len()]).stroke_width(2);
            let series = ctx.draw_series(LineSeries::new(
                points.into_iter().map(|(x, y)| (x, y * scale)),
                style,
            ))?;
            if group.is_ranked() {
                // A filled square, not a line: the file's polylines are the data's.
                series.label(ranks::rank_label(rank)).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], style.filled())
                });
            }
        }
        if group.is_ranked() {
            ctx.configure_series_labels()
                .label_font((FONT, 12))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .position(SeriesLabelPosition::UpperRight)
                .draw()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(points: Vec<(f64, f64)>) -> ChartData {
        ChartData {
            name: "m".into(),
            x_label: "step",
            values: points.len() as u64,
            points,
        }
    }

    #[test]
    fn extreme_and_degenerate_ranges_still_draw() {
        let dir = tempfile::tempdir().unwrap();
        let cases = vec![
            chart(vec![(0.0, 1.0)]),
            chart(vec![(0.0, 5.0), (1.0, 5.0)]),
            chart(vec![(3.0, 0.0), (3.0, 1.0)]),
            chart(vec![(0.0, -1e308), (1.0, 1e308)]),
            chart(vec![(0.0, -f64::MAX), (1.0, f64::MAX)]),
            chart(vec![(0.0, -8e307), (1.0, 8e307)]),
            chart(vec![(0.0, f64::MAX), (1.0, f64::MAX)]),
            chart(vec![(0.0, -f64::MAX), (1.0, -f64::MAX)]),
            chart(vec![
                (-9e18, f64::MIN_POSITIVE),
                (9e18, 2.0 * f64::MIN_POSITIVE),
            ]),
            chart(vec![(0.0, 1e-300), (1.0, 1e300)]),
        ];
        let only: Option<usize> = std::env::var("CHART_CASE")
            .ok()
            .and_then(|v| v.parse().ok());
        for (i, c) in cases.into_iter().enumerate() {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            for ext in ["svg", "png"] {
                let path = dir.path().join(format!("{i}.{ext}"));
                draw_file(&path, std::slice::from_ref(&c)).unwrap();
                assert!(std::fs::metadata(&path).unwrap().len() > 0);
            }
        }
    }

    #[test]
    fn ranks_of_one_metric_are_one_panel_with_a_line_and_a_legend_entry_each() {
        let dir = tempfile::tempdir().unwrap();
        let mut charts = Vec::new();
        for name in ["loss", "loss/rank1", "loss/rank2", "acc"] {
            let mut c = chart(vec![(0.0, 1.0), (1.0, 2.0), (2.0, 0.5)]);
            c.name = name.into();
            charts.push(c);
        }
        assert_eq!(panels(&charts).len(), 2);
        let path = dir.path().join("ranks.svg");
        draw_file(&path, &charts).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        // Data lines have 3 points (the mesh's lines are polylines of 2).
        let data_lines = svg
            .split("<polyline")
            .skip(1)
            .filter(|p| {
                let pts = p.split("points=\"").nth(1).unwrap_or("");
                pts[..pts.find('"').unwrap_or(0)].split_whitespace().count() == 3
            })
            .count();
        assert_eq!(data_lines, 4, "3 rank lines + acc");
        for label in ["rank 0", "rank 1", "rank 2"] {
            assert_eq!(svg.matches(&format!(">\n{label}\n<")).count(), 1, "{label}");
        }
        assert!(svg.contains("loss (3 ranks, 9 points)"), "{svg}");
        assert!(svg.contains("acc (3 points)"));
    }

    #[test]
    fn files_hold_at_most_max_panels() {
        let dir = tempfile::tempdir().unwrap();
        let charts: Vec<ChartData> = (0..MAX_PANELS + 5)
            .map(|i| ChartData {
                name: format!("m{i}"),
                ..chart(vec![(0.0, 0.0), (1.0, i as f64)])
            })
            .collect();
        let path = dir.path().join("many.png");
        draw_file(&path, &charts).unwrap();
        let decoder = png::Decoder::new(std::fs::File::open(&path).unwrap());
        let info = decoder.read_info().unwrap();
        let (w, h) = info.info().size();
        assert_eq!((w, h), (WIDTH, PANEL_HEIGHT * MAX_PANELS as u32));
    }
}
