//! Turning query results into tables, JSON and TSV (see docs/history.md for
//! the JSON and TSV shapes, which scripts rely on).
//!
//! Everything here works on the [`source`](super::source) types only. Text
//! that came from outside (metric names, strings, paths) has its control
//! characters escaped in tables, so a logged string cannot drive the terminal.

use std::fmt::Write as _;

use serde::Serialize;

use super::chartdata::ChartData;
use super::source::*;
use super::termchart::{braille_lines_over, compact_num, sparkline};
use super::timefmt;
use crate::cli::Format;
use crate::ranks::{self, split_series_name};

/// Everything `info` shows about a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// The run itself.
    pub run: RunDetail,
    /// Its metrics, sorted by name; in JSON, when some series is a rank's,
    /// each also has `logged_name` and `rank` (a series `loss/rank2` is rank
    /// 2's `loss`: docs/ranks.md).
    #[serde(serialize_with = "ranked_metrics")]
    pub metrics: Vec<MetricSummary>,
    /// Its artifact files, sorted by path.
    pub artifacts: Vec<ArtifactEntry>,
    /// Charts of the metrics that draw as charts (not part of the JSON).
    #[serde(skip)]
    pub charts: Vec<ChartData>,
}

/// Layout of text output.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Terminal width in characters.
    pub columns: usize,
}

impl Layout {
    /// From `$COLUMNS`, else 100; kept within 40..=240.
    pub fn from_env() -> Self {
        let columns = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .unwrap_or(100)
            .clamp(40, 240);
        Layout { columns }
    }
}

/// A metric with the rank it was logged by (see [`crate::ranks`]).
#[derive(Serialize)]
struct RankedMetric<'a> {
    #[serde(flatten)]
    metric: &'a MetricSummary,
    logged_name: &'a str,
    rank: u32,
}

fn ranked_metrics<S: serde::Serializer>(
    metrics: &[MetricSummary],
    ser: S,
) -> Result<S::Ok, S::Error> {
    // A run without ranks keeps the JSON earlier runlogs wrote (a store
    // upgraded from 60ea9eb prints what 60ea9eb printed: store_migration.rs).
    if !metrics.iter().any(|m| split_series_name(&m.name).1 > 0) {
        return ser.collect_seq(metrics);
    }
    ser.collect_seq(metrics.iter().map(|m| {
        let (logged_name, rank) = split_series_name(&m.name);
        RankedMetric {
            metric: m,
            logged_name,
            rank,
        }
    }))
}

#[derive(Serialize)]
struct RunsDoc<'a> {
    runs: &'a [RunSummary],
}

#[derive(Serialize)]
struct AssetsDoc<'a> {
    assets: &'a [Asset],
}

pub(crate) fn json<T: Serialize>(v: &T) -> String {
    // Serialising these plain types cannot fail (string keys, no maps with other keys).
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\":{e:?}}}"));
    s.push('\n');
    s
}

/// Escapes control characters (and the escape character `\`) for one line of a table.
pub(crate) fn clean(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() || c == '\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Escapes one TSV field: `\` as `\\`, tab as `\t`, newline as `\n`, CR as `\r`.
pub(crate) fn tsv_field(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// Tab-separated values: the header line, then one line per row, every field escaped.
pub(crate) fn tsv(header: &[&str], rows: &[Vec<String>]) -> String {
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let fields: Vec<String> = row.iter().map(|f| tsv_field(f)).collect();
        out.push_str(&fields.join("\t"));
        out.push('\n');
    }
    out
}

/// Cuts `s` to at most `max` characters, ending with `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Aligned columns; `right[i]` right-aligns column `i`. Cells are cleaned first.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>], right: &[bool]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clean(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let pad = widths[i].saturating_sub(c.chars().count());
            if right.get(i).copied().unwrap_or(false) {
                l.push_str(&" ".repeat(pad));
                l.push_str(c);
            } else {
                l.push_str(c);
                l.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    line(&header, &mut out);
    for r in &rows {
        line(r, &mut out);
    }
    out
}

pub(crate) fn duration_cell(r: &RunSummary) -> String {
    match r.duration_ms {
        Some(d) => timefmt::duration(d),
        None => "running".into(),
    }
}

/// `runlog history list`.
pub fn runs(runs: &[RunSummary], format: Format) -> String {
    match format {
        Format::Json => json(&RunsDoc { runs }),
        Format::Tsv | Format::Csv => {
            let header = [
                "run_id",
                "experiment",
                "status",
                "start_ms",
                "end_ms",
                "duration_ms",
                "metrics",
                "artifacts",
                "mlflow_run_id",
            ];
            let mut rows = Vec::new();
            for r in runs {
                rows.push(vec![
                    r.run_id.clone(),
                    r.experiment.clone(),
                    r.status.to_string(),
                    r.start_ms.to_string(),
                    r.end_ms.map(|v| v.to_string()).unwrap_or_default(),
                    r.duration_ms.map(|v| v.to_string()).unwrap_or_default(),
                    r.metric_count.to_string(),
                    r.artifact_count.to_string(),
                    r.mlflow_run_id.clone().unwrap_or_default(),
                ]);
            }
            tsv(&header, &rows)
        }
        Format::Table => {
            // The MLflow column only when a run was delivered somewhere.
            let mlflow = runs.iter().any(|r| r.mlflow_run_id.is_some());
            let rows: Vec<Vec<String>> = runs
                .iter()
                .map(|r| {
                    let mut row = vec![
                        r.run_id.clone(),
                        r.experiment.clone(),
                        r.status.to_string(),
                        timefmt::utc(r.start_ms),
                        duration_cell(r),
                        r.metric_count.to_string(),
                        r.artifact_count.to_string(),
                    ];
                    if mlflow {
                        row.push(r.mlflow_run_id.clone().unwrap_or_else(|| "-".into()));
                    }
                    row
                })
                .collect();
            let mut header = vec![
                "RUN",
                "EXPERIMENT",
                "STATUS",
                "START (UTC)",
                "DURATION",
                "METRICS",
                "ARTIFACTS",
            ];
            let mut right = vec![false, false, false, false, true, true, true];
            if mlflow {
                header.push("MLFLOW RUN");
                right.push(false);
            }
            table(&header, &rows, &right)
        }
    }
}

/// A value in one table cell: numbers exactly, strings quoted, lists summarised.
pub(crate) fn value_cell(v: &MetricValue, max: usize) -> String {
    match v {
        MetricValue::Int(i) => i.to_string(),
        MetricValue::Float(f) => float_text(*f),
        MetricValue::Text(s) => truncate(&format!("\"{s}\""), max),
        MetricValue::FloatList(_) | MetricValue::IntList(_) => {
            let xs = v.list_f64().unwrap_or_default();
            let finite = xs.iter().copied().filter(|x| x.is_finite());
            let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(x), b.max(x))
            });
            if lo.is_finite() {
                format!(
                    "[{} values, {} .. {}]",
                    xs.len(),
                    compact_num(lo),
                    compact_num(hi)
                )
            } else {
                format!("[{} values]", xs.len())
            }
        }
    }
}

/// A float as Rust prints it (shortest exact form), with non-finite values
/// named as in the JSON output.
pub(crate) fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "Infinity".into()
    } else if f == f64::NEG_INFINITY {
        "-Infinity".into()
    } else {
        f.to_string()
    }
}

/// A value as one TSV field: numbers as Rust prints them (`NaN`, `inf`), lists comma-separated.
pub(crate) fn value_field(v: &MetricValue) -> String {
    match v {
        MetricValue::Int(i) => i.to_string(),
        MetricValue::Float(f) => float_text(*f),
        MetricValue::Text(s) => s.clone(),
        MetricValue::FloatList(xs) => xs
            .iter()
            .map(|&x| float_text(x))
            .collect::<Vec<_>>()
            .join(","),
        MetricValue::IntList(xs) => xs
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// `runlog history info` / `last`.
pub fn info(info: &RunInfo, format: Format, layout: Layout) -> String {
    match format {
        Format::Json => json(info),
        Format::Tsv | Format::Csv => info_tsv(info),
        Format::Table => info_table(info, layout),
    }
}

fn info_tsv(info: &RunInfo) -> String {
    let r = &info.run;
    let s = &r.summary;
    // `rank` last, so scripts reading the first seven columns by position still work.
    let header = [
        "section", "name", "kind", "count", "step", "size", "value", "rank",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut field = |name: &str, value: String| {
        rows.push(vec![
            "run".into(),
            name.into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            value,
        ]);
    };
    field("run_id", s.run_id.clone());
    field("experiment", s.experiment.clone());
    field("status", s.status.to_string());
    field("start_ms", s.start_ms.to_string());
    field(
        "end_ms",
        s.end_ms.map(|v| v.to_string()).unwrap_or_default(),
    );
    field(
        "duration_ms",
        s.duration_ms.map(|v| v.to_string()).unwrap_or_default(),
    );
    field("command", r.command.clone().unwrap_or_default());
    field(
        "exit_code",
        r.exit_code.map(|v| v.to_string()).unwrap_or_default(),
    );
    field("dropped", r.dropped.to_string());
    field("lost_records", r.lost_records.to_string());
    field("lost_frames", r.lost_frames.to_string());
    field("mlflow_run_id", s.mlflow_run_id.clone().unwrap_or_default());
    for (k, v) in &r.params {
        rows.push(vec![
            "param".into(),
            k.clone(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            v.clone(),
        ]);
    }
    for (k, v) in &r.tags {
        rows.push(vec![
            "tag".into(),
            k.clone(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            v.clone(),
        ]);
    }
    for m in &info.metrics {
        rows.push(vec![
            "metric".into(),
            m.name.clone(),
            m.kind.as_str().into(),
            m.count.to_string(),
            m.last_step.map(|v| v.to_string()).unwrap_or_default(),
            String::new(),
            value_field(&m.last),
            split_series_name(&m.name).1.to_string(),
        ]);
    }
    for a in &info.artifacts {
        rows.push(vec![
            "artifact".into(),
            a.path.clone(),
            "file".into(),
            String::new(),
            String::new(),
            a.size.to_string(),
            a.sha256.clone().unwrap_or_default(),
        ]);
    }
    for row in &mut rows {
        row.resize(header.len(), String::new());
    }
    tsv(&header, &rows)
}

fn info_table(info: &RunInfo, layout: Layout) -> String {
    let r = &info.run;
    let s = &r.summary;
    let mut out = String::new();
    let mut kv: Vec<(&str, String)> = vec![
        ("run", s.run_id.clone()),
        ("experiment", s.experiment.clone()),
        (
            "status",
            match r.exit_code {
                Some(c) => format!("{} (exit code {c})", s.status),
                None => s.status.to_string(),
            },
        ),
        ("start", format!("{} UTC", timefmt::utc(s.start_ms))),
    ];
    if let Some(end) = s.end_ms {
        kv.push(("end", format!("{} UTC", timefmt::utc(end))));
    }
    kv.push(("duration", duration_cell(s)));
    if let Some(id) = &s.mlflow_run_id {
        kv.push(("mlflow run", id.clone()));
    }
    if let Some(c) = &r.command {
        kv.push(("command", c.clone()));
    }
    if r.dropped > 0 {
        kv.push((
            "dropped",
            format!("{} log calls (the ring was full)", r.dropped),
        ));
    }
    if r.lost_records > 0 || r.lost_frames > 0 {
        kv.push((
            "lost",
            format!(
                "{} records and {} damaged frames lost in transit",
                r.lost_records, r.lost_frames
            ),
        ));
    }
    for (k, v) in &kv {
        let _ = writeln!(out, "{k:<11}{}", clean(v));
    }

    // Params and tags each get a section (MLflow's hyperparameters can be
    // many, and long): NAME and VALUE, sorted by name.
    let value_width = (layout.columns / 2).clamp(16, 100);
    for (title, pairs) in [("params", &r.params), ("tags", &r.tags)] {
        if !pairs.is_empty() {
            let _ = writeln!(out, "\n{title} ({})", pairs.len());
            let rows: Vec<Vec<String>> = pairs
                .iter()
                .map(|(k, v)| vec![k.clone(), truncate(v, value_width)])
                .collect();
            out.push_str(&table(&["NAME", "VALUE"], &rows, &[false, false]));
        }
    }

    out.push('\n');
    if info.metrics.is_empty() {
        out.push_str("no metrics\n");
    } else {
        let _ = writeln!(out, "metrics ({})", info.metrics.len());
        let value_width = (layout.columns / 3).clamp(16, 60);
        // Series of several ranks: grouped under the logged name, a RANK column.
        let groups = ranks::group_ranks(&info.metrics, |m| m.name.as_str());
        let ranked = groups.iter().any(|g| g.is_ranked());
        let rows: Vec<Vec<String>> = groups
            .iter()
            .flat_map(|g| g.ranks.iter().map(move |(rank, m)| (g, *rank, *m)))
            .map(|(g, rank, m)| {
                let trend = info
                    .charts
                    .iter()
                    .find(|c| c.name == m.name)
                    .map(|c| {
                        let ys: Vec<f64> = c.points.iter().map(|p| p.1).collect();
                        sparkline(&ys, 24)
                    })
                    .unwrap_or_default();
                let mut row = vec![
                    g.name.clone(),
                    m.kind.as_str().to_string(),
                    m.count.to_string(),
                    value_cell(&m.last, value_width),
                    m.last_step.map(|v| v.to_string()).unwrap_or_default(),
                    trend,
                ];
                if ranked {
                    row.insert(1, rank.to_string());
                }
                row
            })
            .collect();
        if ranked {
            out.push_str(&table(
                &["NAME", "RANK", "KIND", "COUNT", "LAST", "STEP", "TREND"],
                &rows,
                &[false, true, false, true, true, true, false],
            ));
        } else {
            out.push_str(&table(
                &["NAME", "KIND", "COUNT", "LAST", "STEP", "TREND"],
                &rows,
                &[false, false, true, true, true, false],
            ));
        }
    }

    if !info.charts.is_empty() {
        // Indent 2; braille_chart's width includes its labels.
        let chart_width = layout.columns.saturating_sub(2).min(80);
        // Step charts share one x range, so the same step is the same column
        // in each (train/loss every step and val/acc every 10th line up).
        let steps = info
            .charts
            .iter()
            .filter(|c| c.x_label == "step")
            .flat_map(|c| c.points.iter().map(|p| p.0));
        let step_range = steps.fold(None, |r: Option<(f64, f64)>, x| {
            Some(r.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
        });
        // One chart per logged name: a metric of several ranks draws a
        // line per rank over shared axes.
        for g in super::chart::panels(&info.charts) {
            let points: usize = g.ranks.iter().map(|(_, c)| c.points.len()).sum();
            let step = g.ranks.iter().any(|(_, c)| c.x_label == "step");
            let x_label = if step { "step" } else { "index" };
            let who = if g.is_ranked() {
                let list: Vec<String> = g.ranks.iter().map(|(r, _)| r.to_string()).collect();
                format!("ranks {}: one line each, ", list.join(", "))
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "\n{} ({who}{points} points, x = {x_label})",
                clean(&g.name),
            );
            let range = if step { step_range } else { None };
            let lines: Vec<&[(f64, f64)]> =
                g.ranks.iter().map(|(_, c)| c.points.as_slice()).collect();
            for line in braille_lines_over(&lines, range, chart_width, 4) {
                let _ = writeln!(out, "  {line}");
            }
        }
    }

    out.push('\n');
    if info.artifacts.is_empty() {
        out.push_str("no artifacts\n");
    } else {
        let total: u64 = info.artifacts.iter().map(|a| a.size).sum();
        let _ = writeln!(
            out,
            "artifacts ({}, {})",
            info.artifacts.len(),
            timefmt::size(total)
        );
        let rows: Vec<Vec<String>> = info
            .artifacts
            .iter()
            .map(|a| vec![a.path.clone(), a.size.to_string(), timefmt::size(a.size)])
            .collect();
        out.push_str(&table(
            &["PATH", "BYTES", "SIZE"],
            &rows,
            &[false, true, true],
        ));
    }
    out
}

/// `runlog history promote`.
pub fn promoted(v: &AssetVersion, format: Format) -> String {
    let bytes: u64 = v.files.iter().map(|f| f.size).sum();
    match format {
        Format::Json => json(v),
        Format::Tsv | Format::Csv => tsv(
            &[
                "name", "version", "run_id", "prefix", "files", "bytes", "location",
            ],
            &[vec![
                v.name.clone(),
                v.version.to_string(),
                v.run_id.clone(),
                v.prefix.clone(),
                v.files.len().to_string(),
                bytes.to_string(),
                v.location.clone().unwrap_or_default(),
            ]],
        ),
        Format::Table => {
            let mut out = format!(
                "promoted {} version {} from run {} ({}: {} file{}, {})\n",
                clean(&v.name),
                v.version,
                v.run_id,
                clean(&v.prefix),
                v.files.len(),
                if v.files.len() == 1 { "" } else { "s" },
                timefmt::size(bytes)
            );
            if let Some(loc) = &v.location {
                let _ = writeln!(out, "stored at {}", clean(loc));
            }
            out
        }
    }
}

#[derive(Serialize)]
struct PointsDoc<'a> {
    name: &'a str,
    points: &'a [MetricPoint],
}

/// `runlog history info -r RUN -m NAME`: every value of one metric, in
/// logging order, with its step (explicit, or the logging order) and time.
pub fn metric_points(name: &str, points: &[MetricPoint], format: Format) -> String {
    match format {
        Format::Json => json(&PointsDoc { name, points }),
        Format::Tsv | Format::Csv => tsv(
            &["step", "time_ms", "kind", "value"],
            &points
                .iter()
                .map(|p| {
                    vec![
                        p.step.to_string(),
                        p.time_ms.to_string(),
                        p.value.kind().as_str().into(),
                        value_field(&p.value),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
        Format::Table => {
            let mut out = format!("{} ({} values)\n", clean(name), points.len());
            let rows: Vec<Vec<String>> = points
                .iter()
                .map(|p| {
                    vec![
                        p.step.to_string(),
                        timefmt::utc(p.time_ms),
                        value_cell(&p.value, 60),
                    ]
                })
                .collect();
            out.push_str(&table(
                &["STEP", "TIME (UTC)", "VALUE"],
                &rows,
                &[true, false, true],
            ));
            out
        }
    }
}

/// `runlog history assets`.
pub fn assets(assets: &[Asset], format: Format) -> String {
    match format {
        Format::Json => json(&AssetsDoc { assets }),
        Format::Tsv | Format::Csv => {
            let header = [
                "name",
                "version",
                "run_id",
                "prefix",
                "files",
                "bytes",
                "created_ms",
                "location",
            ];
            let mut rows = Vec::new();
            for a in assets {
                for v in &a.versions {
                    rows.push(vec![
                        a.name.clone(),
                        v.version.to_string(),
                        v.run_id.clone(),
                        v.prefix.clone(),
                        v.files.len().to_string(),
                        v.files.iter().map(|f| f.size).sum::<u64>().to_string(),
                        v.created_ms.to_string(),
                        v.location.clone().unwrap_or_default(),
                    ]);
                }
            }
            tsv(&header, &rows)
        }
        Format::Table => {
            let mut rows = Vec::new();
            for a in assets {
                for v in &a.versions {
                    rows.push(vec![
                        a.name.clone(),
                        v.version.to_string(),
                        v.run_id.clone(),
                        v.prefix.clone(),
                        v.files.len().to_string(),
                        timefmt::size(v.files.iter().map(|f| f.size).sum()),
                        timefmt::utc(v.created_ms),
                    ]);
                }
            }
            table(
                &[
                    "ASSET",
                    "VERSION",
                    "RUN",
                    "PREFIX",
                    "FILES",
                    "SIZE",
                    "PROMOTED (UTC)",
                ],
                &rows,
                &[false, true, false, false, true, true, false],
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        assert_eq!(clean("a\x1b[2Jb\nc"), "a\\u{1b}[2Jb\\nc");
        assert_eq!(tsv_field("a\tb\\c\n"), "a\\tb\\\\c\\n");
    }

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["A", "N"],
            &[vec!["xx".into(), "1".into()], vec!["y".into(), "22".into()]],
            &[false, true],
        );
        assert_eq!(t, "A    N\nxx   1\ny   22\n");
    }

    #[test]
    fn list_cells_summarise() {
        let v = MetricValue::IntList(vec![3, 1, 2]);
        assert_eq!(value_cell(&v, 40), "[3 values, 1 .. 3]");
        assert_eq!(value_field(&v), "3,1,2");
    }
}
