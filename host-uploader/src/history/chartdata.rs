//! Which metrics draw as charts, and their points.
//!
//! A list metric draws its latest list (x = index 0..n-1); a numeric scalar
//! logged more than once draws every value (x = step). Non-finite values are
//! left out of charts (they have no place on an axis); tables still show them.

use super::source::{MetricKind, MetricSummary};

/// A metric's points, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartData {
    /// The metric's name.
    pub name: String,
    /// What x means: `"step"` or `"index"`.
    pub x_label: &'static str,
    /// (x, y) in drawing order, all finite.
    pub points: Vec<(f64, f64)>,
    /// How many values the chart stands for: a list's finite elements, or
    /// every value a number series logged (a long series draws fewer points).
    pub values: u64,
}

/// Whether `m` draws as a chart.
pub fn is_chartable(m: &MetricSummary) -> bool {
    match m.kind {
        MetricKind::FloatList | MetricKind::IntList => true,
        MetricKind::Int | MetricKind::Float => m.count > 1,
        MetricKind::Text => false,
    }
}

/// Whether drawing `m` needs its full history (scalars do; lists use their latest value).
pub fn needs_history(m: &MetricSummary) -> bool {
    is_chartable(m) && !m.kind.is_list()
}

/// The chart of `m`, given its drawable points (step, value) when
/// [`needs_history`] says so (see `HistorySource::chart_points`).
pub fn chart_data(m: &MetricSummary, history: Option<&[(f64, f64)]>) -> Option<ChartData> {
    if !is_chartable(m) {
        return None;
    }
    let (x_label, points): (_, Vec<(f64, f64)>) = if let Some(list) = m.last.list_f64() {
        (
            "index",
            list.into_iter()
                .enumerate()
                .map(|(i, y)| (i as f64, y))
                .collect(),
        )
    } else {
        ("step", history?.to_vec())
    };
    let points: Vec<(f64, f64)> = points
        .into_iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let values = if x_label == "index" {
        points.len() as u64
    } else {
        m.count.max(points.len() as u64)
    };
    (!points.is_empty()).then(|| ChartData {
        name: m.name.clone(),
        x_label,
        points,
        values,
    })
}

/// At most about `max` points keeping the shape: the first, last, and each
/// bucket's minimum and maximum in their original order.
pub fn decimate(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    let max = max.max(4);
    if points.len() <= max {
        return points.to_vec();
    }
    let buckets = (max - 2) / 2;
    let inner = &points[1..points.len() - 1];
    let mut out = Vec::with_capacity(max);
    out.push(points[0]);
    for b in 0..buckets {
        let lo = b * inner.len() / buckets;
        let hi = ((b + 1) * inner.len() / buckets)
            .max(lo + 1)
            .min(inner.len());
        let chunk = &inner[lo..hi];
        let (mut imin, mut imax) = (0, 0);
        for (i, p) in chunk.iter().enumerate() {
            if p.1 < chunk[imin].1 {
                imin = i;
            }
            if p.1 > chunk[imax].1 {
                imax = i;
            }
        }
        let (a, b) = (imin.min(imax), imin.max(imax));
        out.push(chunk[a]);
        if b != a {
            out.push(chunk[b]);
        }
    }
    out.push(points[points.len() - 1]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::source::MetricValue;

    fn summary(kind: MetricKind, count: u64, last: MetricValue) -> MetricSummary {
        MetricSummary {
            name: "m".into(),
            kind,
            count,
            last,
            last_step: None,
            last_time_ms: None,
        }
    }

    #[test]
    fn lists_chart_their_latest_value_and_drop_non_finite() {
        let m = summary(
            MetricKind::FloatList,
            1,
            MetricValue::FloatList(vec![1.0, f64::NAN, 3.0]),
        );
        let c = chart_data(&m, None).unwrap();
        assert_eq!(c.points, vec![(0.0, 1.0), (2.0, 3.0)]);
        assert_eq!(c.x_label, "index");
    }

    #[test]
    fn scalars_chart_only_when_logged_more_than_once() {
        assert!(!is_chartable(&summary(
            MetricKind::Int,
            1,
            MetricValue::Int(3)
        )));
        assert!(is_chartable(&summary(
            MetricKind::Int,
            2,
            MetricValue::Int(3)
        )));
        assert!(!is_chartable(&summary(
            MetricKind::Text,
            5,
            MetricValue::Text("x".into())
        )));
    }

    #[test]
    fn decimation_keeps_extremes_and_bounds() {
        let pts: Vec<(f64, f64)> = (0..10_000)
            .map(|i| (i as f64, if i == 5000 { 99.0 } else { (i % 7) as f64 }))
            .collect();
        let d = decimate(&pts, 100);
        assert!(d.len() <= 100);
        assert!(d.iter().any(|p| p.1 == 99.0));
        assert_eq!(d.first(), pts.first());
        assert_eq!(d.last(), pts.last());
        assert!(d.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
