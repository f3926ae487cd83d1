//! Charts drawn with text: sparklines for table cells and braille line
//! charts (2x4 dots per character) for `info`, both bounded in width.

/// Eight bar heights, lowest first.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `values` as at most `width` bar characters (bucket means when longer).
/// Non-finite values show as spaces.
pub fn sparkline(values: &[f64], width: usize) -> String {
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let cells: Vec<f64> = if values.len() <= width {
        values.to_vec()
    } else {
        (0..width)
            .map(|b| {
                let lo = b * values.len() / width;
                let hi = ((b + 1) * values.len() / width).max(lo + 1);
                let finite: Vec<f64> = values[lo..hi]
                    .iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .collect();
                if finite.is_empty() {
                    f64::NAN
                } else {
                    finite.iter().sum::<f64>() / finite.len() as f64
                }
            })
            .collect()
    };
    let (lo, hi) = bounds(cells.iter().copied());
    cells
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                ' '
            } else if hi <= lo {
                BARS[3]
            } else {
                let t = (v - lo) / (hi - lo);
                BARS[((t * 7.0).round() as usize).min(7)]
            }
        })
        .collect()
}

fn bounds(it: impl Iterator<Item = f64>) -> (f64, f64) {
    it.filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
}

/// A number in at most about 10 characters, for axis labels.
pub fn compact_num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if v.fract() == 0.0 && a < 1e9 {
        format!("{v:.0}")
    } else if (1e-3..1e6).contains(&a) {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.3e}")
    }
}

/// A line chart of `points` (x, y; all finite) in braille characters, at
/// most `total_width` characters wide including the y labels on the left,
/// `height` lines high plus a line with the x range. Returns the lines
/// without trailing newlines.
pub fn braille_chart(points: &[(f64, f64)], total_width: usize, height: usize) -> Vec<String> {
    braille_chart_over(points, None, total_width, height)
}

/// As [`braille_chart`], with the x axis spanning at least `x_range`: charts
/// of one run given the same range put the same step in the same column, so
/// series logged at different steps (every step, every 10th) line up.
pub fn braille_chart_over(
    points: &[(f64, f64)],
    x_range: Option<(f64, f64)>,
    total_width: usize,
    height: usize,
) -> Vec<String> {
    braille_lines_over(&[points], x_range, total_width, height)
}

/// As [`braille_chart_over`], with several lines (one per rank) drawn over
/// one another on shared axes; each line is joined only to itself.
pub fn braille_lines_over(
    lines: &[&[(f64, f64)]],
    x_range: Option<(f64, f64)>,
    total_width: usize,
    height: usize,
) -> Vec<String> {
    let height = height.max(1);
    let points = || lines.iter().flat_map(|l| l.iter());
    let (ylo0, yhi0) = bounds(points().map(|p| p.1));
    let top = compact_num(yhi0);
    let bottom = compact_num(ylo0);
    let gutter = top.chars().count().max(bottom.chars().count());
    let width = total_width.saturating_sub(gutter + 2).max(2);
    let (dw, dh) = (width * 2, height * 4);
    let mut dots = vec![false; dw * dh];
    let (xlo, xhi) = match x_range {
        Some((lo, hi)) => bounds(points().map(|p| p.0).chain([lo, hi])),
        None => bounds(points().map(|p| p.0)),
    };
    let (ylo, yhi) = (ylo0, yhi0);
    if !(xlo.is_finite() && ylo.is_finite()) {
        return Vec::new();
    }
    let px = |x: f64| -> i64 {
        if xhi > xlo {
            ((x - xlo) / (xhi - xlo) * (dw - 1) as f64).round() as i64
        } else {
            (dw / 2) as i64
        }
    };
    let py = |y: f64| -> i64 {
        // Row 0 is the top.
        if yhi > ylo {
            ((yhi - y) / (yhi - ylo) * (dh - 1) as f64).round() as i64
        } else {
            (dh / 2) as i64
        }
    };
    let mut set = |x: i64, y: i64| {
        if (0..dw as i64).contains(&x) && (0..dh as i64).contains(&y) {
            dots[y as usize * dw + x as usize] = true;
        }
    };
    for points in lines {
        let mut prev: Option<(i64, i64)> = None;
        for &(x, y) in points.iter() {
            let p = (px(x), py(y));
            match prev {
                Some(q) => line(q, p, &mut set),
                None => set(p.0, p.1),
            }
            prev = Some(p);
        }
    }
    let mut out = Vec::with_capacity(height + 1);
    for row in 0..height {
        let mut s = String::with_capacity(gutter + 2 + width * 3);
        let label = match row {
            0 => top.as_str(),
            r if r == height - 1 => bottom.as_str(),
            _ => "",
        };
        s.push_str(&format!("{label:>gutter$} "));
        s.push(if label.is_empty() { '│' } else { '┤' });
        for col in 0..width {
            let mut bits = 0u32;
            for (dx, dy, bit) in [
                (0, 0, 0x01),
                (0, 1, 0x02),
                (0, 2, 0x04),
                (1, 0, 0x08),
                (1, 1, 0x10),
                (1, 2, 0x20),
                (0, 3, 0x40),
                (1, 3, 0x80),
            ] {
                if dots[(row * 4 + dy) * dw + col * 2 + dx] {
                    bits |= bit;
                }
            }
            // An empty cell is a space, not U+2800, so lines trim and copy cleanly.
            s.push(if bits == 0 {
                ' '
            } else {
                char::from_u32(0x2800 + bits).unwrap_or(' ')
            });
        }
        out.push(s.trim_end().to_string());
    }
    let left = compact_num(xlo);
    let right = compact_num(xhi);
    let pad = width.saturating_sub(left.chars().count() + right.chars().count());
    out.push(format!(
        "{:gutter$} └{left}{:pad$}{right}",
        "",
        "",
        gutter = gutter,
        pad = pad
    ));
    out
}

/// Bresenham's line from `a` to `b`, both ends included.
fn line(a: (i64, i64), b: (i64, i64), set: &mut impl FnMut(i64, i64)) {
    let (mut x, mut y) = a;
    let dx = (b.0 - x).abs();
    let dy = -(b.1 - y).abs();
    let sx = if x < b.0 { 1 } else { -1 };
    let sy = if y < b.1 { 1 } else { -1 };
    let mut err = dx + dy;
    loop {
        set(x, y);
        if (x, y) == b {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_spans_lowest_to_highest_bar_and_bounds_width() {
        assert_eq!(
            sparkline(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 20),
            "▁▂▃▄▅▆▇█"
        );
        let long: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let s = sparkline(&long, 30);
        assert_eq!(s.chars().count(), 30);
        assert!(s.starts_with('▁') && s.ends_with('█'));
        assert_eq!(sparkline(&[2.0, 2.0], 10), "▄▄");
    }

    #[test]
    fn a_shared_step_range_lines_series_up() {
        // val/acc at steps 9..199 drawn over train/loss's range 0..199.
        let acc: Vec<(f64, f64)> = (0..20).map(|i| (9.0 + 10.0 * i as f64, i as f64)).collect();
        let own = braille_chart(&acc, 40, 4);
        assert!(own.last().unwrap().contains("└9 "), "{own:?}");
        let shared = braille_chart_over(&acc, Some((0.0, 199.0)), 40, 4);
        let axis = shared.last().unwrap();
        assert!(axis.contains("└0 ") && axis.ends_with("199"), "{axis}");
        // Step 9 is no longer the first column: the first cell is blank.
        let bottom = &shared[3];
        let first_cell = bottom.split('┤').nth(1).unwrap().chars().next().unwrap();
        assert_eq!(first_cell, ' ', "{shared:?}");
    }

    #[test]
    fn several_lines_share_axes_and_are_not_joined() {
        // Rank 0 flat at 0, rank 1 flat at 10: two horizontal lines, top and
        // bottom rows, and nothing in between (no segment joins them).
        let r0 = [(0.0, 0.0), (9.0, 0.0)];
        let r1 = [(0.0, 10.0), (9.0, 10.0)];
        let lines = braille_lines_over(&[&r0, &r1], None, 30, 3);
        assert_eq!(lines.len(), 4);
        let dots = |l: &str| {
            l.chars()
                .filter(|c| ('\u{2801}'..='\u{28ff}').contains(c))
                .count()
        };
        assert!(dots(&lines[0]) > 10 && dots(&lines[2]) > 10, "{lines:?}");
        assert_eq!(dots(&lines[1]), 0, "{lines:?}");
        assert!(
            lines[0].starts_with("10 ") && lines[2].starts_with(" 0 "),
            "{lines:?}"
        );
    }

    #[test]
    fn braille_chart_is_bounded_and_draws_the_extremes() {
        let pts: Vec<(f64, f64)> = (0..500).map(|i| (i as f64, (i as f64).sin())).collect();
        let lines = braille_chart(&pts, 40, 4);
        assert_eq!(lines.len(), 5);
        for l in &lines {
            assert!(l.chars().count() <= 40, "{l}");
        }
        // The maximum is in the top row, the minimum in the bottom row.
        assert!(lines[0]
            .chars()
            .any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)));
        assert!(lines[3]
            .chars()
            .any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)));
        assert!(lines[4].contains("└0") && lines[4].ends_with("499"));
    }

    #[test]
    fn a_rising_line_goes_from_bottom_left_to_top_right() {
        let lines = braille_chart(&[(0.0, 0.0), (1.0, 1.0)], 7, 1);
        // One row: the first cell has a bottom-left dot, the last a top-right dot.
        let cells: Vec<char> = lines[0].chars().skip_while(|&c| c != '┤').skip(1).collect();
        assert_eq!(cells.len(), 4);
        assert_ne!(cells[0] as u32 & 0x40, 0);
        assert_ne!(cells[3] as u32 & 0x08, 0);
    }

    #[test]
    fn extreme_values_draw_without_overflow() {
        for pts in [
            vec![(0.0, -f64::MAX), (1.0, f64::MAX)],
            vec![(0.0, f64::MAX), (1.0, f64::MAX)],
            vec![(-9e18, 1e-300), (9e18, 2e-300)],
        ] {
            let lines = braille_chart(&pts, 30, 3);
            assert_eq!(lines.len(), 4);
            assert!(lines.iter().all(|l| l.chars().count() <= 30), "{lines:?}");
            let ys: Vec<f64> = pts.iter().map(|p| p.1).collect();
            assert_eq!(sparkline(&ys, 10).chars().count(), 2);
        }
    }
}
