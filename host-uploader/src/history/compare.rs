//! `runlog history compare RUN RUN...`: runs side by side.
//!
//! Params by name with each run's value (a param whose values differ is
//! marked), and for every metric each run's last value, count, and the
//! smallest and largest finite number it logged (from the store's chunk
//! summaries: no point is read). The JSON and TSV shapes are in
//! docs/history.md.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::render::{clean, duration_cell, float_text, json, table, tsv, value_cell, value_field};
use super::source::*;
use super::timefmt;
use crate::cli::Format;

/// Most runs one comparison takes (columns must stay readable, charts distinguishable).
pub const MAX_RUNS: usize = 20;

/// One param across the compared runs.
#[derive(Debug, Clone, Serialize)]
pub struct ParamRow {
    /// The param's key.
    pub name: String,
    /// Each run's value, by run id; a run without the param is absent.
    pub values: BTreeMap<String, String>,
    /// Whether the runs disagree (a run without the param counts as different).
    pub differs: bool,
}

/// One metric of one run, as compare shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MetricStats {
    /// The kind of its latest value.
    pub kind: MetricKind,
    /// How many values were logged under the name.
    pub count: u64,
    /// The latest value.
    pub last: MetricValue,
    /// The latest value's step.
    pub last_step: Option<i64>,
    /// Smallest finite number logged (null when none: strings, lists, only NaN).
    pub min: Option<f64>,
    /// Largest finite number logged.
    pub max: Option<f64>,
}

/// One metric across the compared runs.
#[derive(Debug, Clone, Serialize)]
pub struct MetricRow {
    /// The metric's name.
    pub name: String,
    /// Each run's figures, by run id; a run without the metric is absent.
    pub runs: BTreeMap<String, MetricStats>,
}

/// Everything `compare` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The runs, in the order given.
    pub runs: Vec<RunSummary>,
    /// Params, sorted by name.
    pub params: Vec<ParamRow>,
    /// Metrics, sorted by name.
    pub metrics: Vec<MetricRow>,
}

/// The runs `ids` name (ids or unique prefixes; a run named twice counts
/// once), with their details, in the order given.
pub fn resolve_runs(source: &dyn HistorySource, ids: &[String]) -> HistoryResult<Vec<RunDetail>> {
    if ids.len() < 2 {
        return Err(HistoryError::Invalid(
            "compare needs at least two runs: `runlog history compare RUN RUN...` (or -r RUN -r RUN)"
                .into(),
        ));
    }
    let mut out: Vec<RunDetail> = Vec::new();
    for id in ids {
        let run = source.run(id)?;
        if !out.iter().any(|r| r.summary.run_id == run.summary.run_id) {
            out.push(run);
        }
    }
    if out.len() > MAX_RUNS {
        return Err(HistoryError::Invalid(format!(
            "compare takes at most {MAX_RUNS} runs ({} given)",
            out.len()
        )));
    }
    Ok(out)
}

/// The metric names to compare: `only` (each must exist in some run), else
/// every metric of any run.
pub fn metric_names(
    per_run: &[(String, Vec<MetricSummary>)],
    only: &[String],
) -> HistoryResult<Vec<String>> {
    let all: BTreeSet<&str> = per_run
        .iter()
        .flat_map(|(_, ms)| ms.iter().map(|m| m.name.as_str()))
        .collect();
    if only.is_empty() {
        return Ok(all.into_iter().map(str::to_string).collect());
    }
    for name in only {
        if !all.contains(name.as_str()) {
            return Err(HistoryError::Invalid(format!(
                "none of the compared runs has a metric {name:?}"
            )));
        }
    }
    let wanted: BTreeSet<&str> = only.iter().map(String::as_str).collect();
    Ok(wanted.into_iter().map(str::to_string).collect())
}

/// Gathers the comparison of `runs` (see [`resolve_runs`]), limited to metrics `only` if given.
pub fn compare(
    source: &dyn HistorySource,
    runs: Vec<RunDetail>,
    only: &[String],
) -> HistoryResult<Comparison> {
    let mut per_run = Vec::with_capacity(runs.len());
    for r in &runs {
        per_run.push((r.summary.run_id.clone(), source.metrics(&r.summary.run_id)?));
    }
    let names = metric_names(&per_run, only)?;
    let mut metrics = Vec::with_capacity(names.len());
    for name in names {
        let mut row = MetricRow {
            name: name.clone(),
            runs: BTreeMap::new(),
        };
        for (id, ms) in &per_run {
            let Some(m) = ms.iter().find(|m| m.name == name) else {
                continue;
            };
            let range = match m.kind {
                MetricKind::Int | MetricKind::Float => source.metric_range(id, &name)?,
                _ => None,
            };
            row.runs.insert(
                id.clone(),
                MetricStats {
                    kind: m.kind,
                    count: m.count,
                    last: m.last.clone(),
                    last_step: m.last_step,
                    min: range.map(|r| r.0),
                    max: range.map(|r| r.1),
                },
            );
        }
        metrics.push(row);
    }
    let keys: BTreeSet<&String> = runs.iter().flat_map(|r| r.params.keys()).collect();
    let params = keys
        .into_iter()
        .map(|k| {
            let values: BTreeMap<String, String> = runs
                .iter()
                .filter_map(|r| {
                    r.params
                        .get(k)
                        .map(|v| (r.summary.run_id.clone(), v.clone()))
                })
                .collect();
            let distinct: BTreeSet<&String> = values.values().collect();
            ParamRow {
                name: k.clone(),
                differs: values.len() < runs.len() || distinct.len() > 1,
                values,
            }
        })
        .collect();
    Ok(Comparison {
        runs: runs.into_iter().map(|r| r.summary).collect(),
        params,
        metrics,
    })
}

/// The shortest prefix length (at least 8) that tells `ids` apart, for column headers.
fn short_len(ids: &[&str]) -> usize {
    let longest = ids.iter().map(|i| i.chars().count()).max().unwrap_or(0);
    (8..longest)
        .find(|&n| {
            let set: BTreeSet<String> = ids.iter().map(|i| i.chars().take(n).collect()).collect();
            set.len() == ids.len()
        })
        .unwrap_or(longest)
}

fn stat_field(v: Option<f64>) -> String {
    v.map(float_text).unwrap_or_default()
}

/// Renders a comparison in `format`.
pub fn render(c: &Comparison, format: Format) -> String {
    match format {
        Format::Json => json(c),
        Format::Table => render_table(c),
        Format::Tsv | Format::Csv => render_tsv(c),
    }
}

fn render_tsv(c: &Comparison) -> String {
    let ids: Vec<&str> = c.runs.iter().map(|r| r.run_id.as_str()).collect();
    let mut header = vec!["section", "name", "stat"];
    header.extend(ids.iter().copied());
    let mut rows: Vec<Vec<String>> = Vec::new();
    let run_row = |name: &str, f: &dyn Fn(&RunSummary) -> String| {
        let mut row = vec!["run".to_string(), name.to_string(), String::new()];
        row.extend(c.runs.iter().map(f));
        row
    };
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    rows.push(run_row("experiment", &|r| r.experiment.clone()));
    rows.push(run_row("status", &|r| r.status.to_string()));
    rows.push(run_row("start_ms", &|r| r.start_ms.to_string()));
    rows.push(run_row("end_ms", &|r| opt(r.end_ms)));
    rows.push(run_row("duration_ms", &|r| opt(r.duration_ms)));
    for p in &c.params {
        let mut row = vec!["param".to_string(), p.name.clone(), String::new()];
        row.extend(
            ids.iter()
                .map(|id| p.values.get(*id).cloned().unwrap_or_default()),
        );
        rows.push(row);
    }
    for m in &c.metrics {
        type Stat = fn(&MetricStats) -> String;
        let stats: [(&str, Stat); 5] = [
            ("last", |s| value_field(&s.last)),
            ("min", |s| stat_field(s.min)),
            ("max", |s| stat_field(s.max)),
            ("count", |s| s.count.to_string()),
            ("last_step", |s| {
                s.last_step.map(|v| v.to_string()).unwrap_or_default()
            }),
        ];
        for (stat, f) in stats {
            let mut row = vec!["metric".to_string(), m.name.clone(), stat.to_string()];
            row.extend(
                ids.iter()
                    .map(|id| m.runs.get(*id).map(f).unwrap_or_default()),
            );
            rows.push(row);
        }
    }
    tsv(&header, &rows)
}

fn render_table(c: &Comparison) -> String {
    let ids: Vec<&str> = c.runs.iter().map(|r| r.run_id.as_str()).collect();
    let n = short_len(&ids);
    let heads: Vec<String> = ids.iter().map(|i| i.chars().take(n).collect()).collect();
    let header = |first: &[&str]| -> Vec<String> {
        first
            .iter()
            .map(|s| s.to_string())
            .chain(heads.iter().cloned())
            .collect()
    };
    let mut out = String::new();

    let h = header(&["RUN"]);
    let row = |name: &str, cell: fn(&RunSummary) -> String| -> Vec<String> {
        std::iter::once(name.to_string())
            .chain(c.runs.iter().map(cell))
            .collect()
    };
    let rows = vec![
        row("experiment", |r| r.experiment.clone()),
        row("status", |r| r.status.to_string()),
        row("start (UTC)", |r| timefmt::utc(r.start_ms)),
        row("duration", duration_cell),
    ];
    out.push_str(&table(&refs(&h), &rows, &[]));

    if !c.params.is_empty() {
        out.push('\n');
        let h = header(&["", "PARAM"]);
        let rows: Vec<Vec<String>> = c
            .params
            .iter()
            .map(|p| {
                let mut row = vec![if p.differs { "*" } else { "" }.to_string(), p.name.clone()];
                row.extend(ids.iter().map(|id| {
                    p.values
                        .get(*id)
                        .map(|v| clean(v))
                        .unwrap_or_else(|| "-".into())
                }));
                row
            })
            .collect();
        out.push_str(&table(&refs(&h), &rows, &[]));
    }

    if !c.metrics.is_empty() {
        out.push('\n');
        let h = header(&["METRIC", "STAT"]);
        let mut right = vec![false, false];
        right.extend(ids.iter().map(|_| true));
        let mut rows = Vec::new();
        for m in &c.metrics {
            type Stat = fn(&MetricStats) -> Option<String>;
            let stats: [(&str, Stat); 3] = [
                ("last", |s| Some(value_cell(&s.last, 30))),
                ("min", |s| s.min.map(float_text)),
                ("max", |s| s.max.map(float_text)),
            ];
            for (i, (stat, f)) in stats.iter().enumerate() {
                let mut row = vec![
                    if i == 0 {
                        m.name.clone()
                    } else {
                        String::new()
                    },
                    stat.to_string(),
                ];
                row.extend(
                    ids.iter()
                        .map(|id| m.runs.get(*id).and_then(f).unwrap_or_else(|| "-".into())),
                );
                rows.push(row);
            }
        }
        out.push_str(&table(&refs(&h), &rows, &right));
    } else {
        out.push_str("\nno metrics\n");
    }
    out
}

fn refs(h: &[String]) -> Vec<&str> {
    h.iter().map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_use_the_shortest_distinguishing_prefix() {
        assert_eq!(short_len(&["abcdefghij1", "abcdefghij2"]), 11);
        assert_eq!(short_len(&["0123456789abcdef", "fedcba9876543210"]), 8);
        assert_eq!(short_len(&["a1", "b2"]), 2);
    }
}
