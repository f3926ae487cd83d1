//! `runlog history list | last | info | promote | assets`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::Tracking;
use crate::cli::{Format, HistoryArgs, HistoryCommand};
use crate::history::chart;
use crate::history::chartdata::{chart_data, is_chartable, needs_history};
use crate::history::comparechart::{self, ComparePanel, RunLine};
use crate::history::render::{self, Layout, RunInfo};
use crate::history::{compare, export};
use crate::history::{HistoryError, HistorySource, RunFilter, RunStatus};
use crate::store::Store;

/// The history behind `tracking`.
pub fn open_source(tracking: &Tracking) -> Result<Box<dyn HistorySource>> {
    match tracking {
        Tracking::Local(dir) => Ok(Box::new(Store::open_existing(dir)?)),
        Tracking::Http(uri) => Ok(Box::new(crate::mlflow::HttpHistory::new(
            crate::mlflow::Client::interactive(uri)?,
        ))),
    }
}

/// Runs one history command; returns the exit code.
pub fn run(args: HistoryArgs, tracking: &Tracking, format: Format) -> Result<i32> {
    check_format(&args.command, format)?;
    if matches!(args.command, HistoryCommand::Gc) {
        return gc(tracking, format);
    }
    let source = match (tracking, &args.command) {
        // `list` or `assets` of a folder that holds no store is an empty
        // answer, not an error (and still creates nothing).
        (Tracking::Local(dir), HistoryCommand::List { .. } | HistoryCommand::Assets) => {
            match Store::open_existing(dir) {
                Err(e @ HistoryError::Empty { .. }) => {
                    return if matches!(args.command, HistoryCommand::List { .. }) {
                        empty_list(&e, format)
                    } else {
                        no_assets(format)
                    };
                }
                other => Box::new(other?) as Box<dyn HistorySource>,
            }
        }
        _ => open_source(tracking)?,
    };
    run_on(source.as_ref(), args.command, format)
}

/// `-o csv` is a format of `export` only.
fn check_format(cmd: &HistoryCommand, format: Format) -> Result<()> {
    if format == Format::Csv && !matches!(cmd, HistoryCommand::Export { .. }) {
        bail!("-o csv is for `runlog history export`; use -o tsv or -o json here");
    }
    Ok(())
}

/// `list` with no runs to show: the empty shape on stdout (`{"runs": []}`,
/// the TSV header, nothing for a table), `why` on stderr for a table; exit 0.
fn empty_list(why: &dyn std::fmt::Display, format: Format) -> Result<i32> {
    if format == Format::Table {
        eprintln!("{why}");
        return Ok(0);
    }
    emit(render::runs(&[], format))
}

/// `assets` with none to show: `{"assets": []}`, the TSV header, or a note on stderr.
fn no_assets(format: Format) -> Result<i32> {
    if format == Format::Table {
        eprintln!(
            "no assets yet (make one with `runlog history promote -r RUN -ap PREFIX -n NAME`)"
        );
        return Ok(0);
    }
    emit(render::assets(&[], format))
}

/// Runs one history command against `source`; returns the exit code.
pub fn run_on(source: &dyn HistorySource, cmd: HistoryCommand, format: Format) -> Result<i32> {
    check_format(&cmd, format)?;
    match cmd {
        HistoryCommand::List {
            experiment,
            status,
            limit,
        } => {
            let filter = RunFilter {
                experiment,
                status: status.as_deref().map(RunStatus::parse).transpose()?,
                limit,
            };
            let runs = source.list_runs(&filter)?;
            if runs.is_empty() {
                return match ensure_not_empty(source) {
                    Ok(()) => empty_list(&"no runs match the filter", format),
                    Err(e) => match e.downcast::<HistoryError>() {
                        Ok(empty @ HistoryError::Empty { .. }) => empty_list(&empty, format),
                        Ok(other) => Err(other.into()),
                        Err(other) => Err(other),
                    },
                };
            }
            emit(render::runs(&runs, format))
        }
        HistoryCommand::Compare {
            runs,
            run,
            metric,
            chart,
        } => {
            let ids: Vec<String> = runs.into_iter().chain(run).collect();
            let details = compare::resolve_runs(source, &ids)?;
            if let Some(file) = &chart {
                draw_compare_chart(source, &details, &metric, file)?;
            }
            let comparison = compare::compare(source, details, &metric)?;
            emit(compare::render(&comparison, format))
        }
        HistoryCommand::Export { run, metric } => {
            let detail = source.run(&run)?;
            let id = detail.summary.run_id;
            let all: Vec<String> = source.metrics(&id)?.into_iter().map(|m| m.name).collect();
            // Checked before anything is written: an error leaves stdout empty.
            if let Some(missing) = metric.iter().find(|m| !all.contains(m)) {
                bail!("run {id} has no metric {missing:?}");
            }
            let mut names = if metric.is_empty() { all } else { metric };
            let mut seen = std::collections::HashSet::new();
            names.retain(|n| seen.insert(n.clone()));
            export_points(source, &id, &names, format)
        }
        HistoryCommand::Last { chart } => {
            let newest = source.list_runs(&RunFilter {
                limit: Some(1),
                ..RunFilter::default()
            })?;
            let Some(newest) = newest.into_iter().next() else {
                return Err(HistoryError::Empty {
                    location: source.location(),
                }
                .into());
            };
            show_info(source, &newest.run_id, chart.as_deref(), format)
        }
        HistoryCommand::Info {
            run,
            metric: Some(name),
            ..
        } => {
            let detail = source.run(&run)?;
            let points = source.metric_history(&detail.summary.run_id, &name)?;
            if points.is_empty() {
                bail!("run {} has no metric {name:?}", detail.summary.run_id);
            }
            emit(render::metric_points(&name, &points, format))
        }
        HistoryCommand::Info {
            run,
            artifact,
            out,
            chart,
            metric: None,
        } => match artifact {
            Some(path) => {
                if chart.is_some() {
                    bail!("--chart draws a run's metrics; it cannot be used with --artifact");
                }
                let detail = source.run(&run)?;
                write_artifact(source, &detail.summary.run_id, &path, out.as_deref())
            }
            None => show_info(source, &run, chart.as_deref(), format),
        },
        HistoryCommand::Promote {
            run,
            artifact_prefix,
            name,
        } => {
            let detail = source.run(&run)?;
            let version = source.promote(&detail.summary.run_id, &artifact_prefix, &name)?;
            emit(render::promoted(&version, format))
        }
        HistoryCommand::Gc => bail!("`runlog history gc` works on a local store"),
        HistoryCommand::Assets => {
            let assets = source.assets()?;
            if assets.is_empty() {
                return no_assets(format);
            }
            emit(render::assets(&assets, format))
        }
    }
}

/// `runlog history gc` (`history/gc.rs`): a local store only.
fn gc(tracking: &Tracking, format: Format) -> Result<i32> {
    let Tracking::Local(dir) = tracking else {
        bail!("`runlog history gc` works on a local store; a tracking server keeps its own files");
    };
    let report = crate::history::gc::collect(&Store::open_existing(dir)?)?;
    emit(match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&report)?),
        _ => format!(
            "removed {} unreferenced blob(s) ({} bytes) and {} leftover(s) of failed promotes; kept {} blob(s)\n",
            report.removed_blobs, report.removed_bytes, report.removed_leftovers, report.kept_blobs
        ),
    })
}

/// Fails with [`HistoryError::Empty`] when the history has no runs at all.
fn ensure_not_empty(source: &dyn HistorySource) -> Result<()> {
    let any = source.list_runs(&RunFilter {
        limit: Some(1),
        ..RunFilter::default()
    })?;
    if any.is_empty() {
        return Err(HistoryError::Empty {
            location: source.location(),
        }
        .into());
    }
    Ok(())
}

/// Gathers what `info` shows about run `id_or_prefix`.
pub fn gather_info(source: &dyn HistorySource, id_or_prefix: &str) -> Result<RunInfo> {
    let run = source.run(id_or_prefix)?;
    let id = run.summary.run_id.clone();
    let metrics = source.metrics(&id)?;
    let artifacts = source.artifacts(&id)?;
    let mut charts = Vec::new();
    for m in metrics.iter().filter(|m| is_chartable(m)) {
        let history = if needs_history(m) {
            Some(source.chart_points(&id, &m.name, chart::MAX_POINTS)?)
        } else {
            None
        };
        if let Some(c) = chart_data(m, history.as_deref()) {
            charts.push(c);
        }
    }
    Ok(RunInfo {
        run,
        metrics,
        artifacts,
        charts,
    })
}

fn show_info(
    source: &dyn HistorySource,
    id_or_prefix: &str,
    chart_file: Option<&Path>,
    format: Format,
) -> Result<i32> {
    let info = gather_info(source, id_or_prefix)?;
    if let Some(file) = chart_file {
        if info.charts.is_empty() {
            bail!(
                "run {} has nothing to chart (a chart needs a list metric, or a number logged more than once)",
                info.run.summary.run_id
            );
        }
        let panels = chart::panels(&info.charts).len();
        if panels > chart::MAX_PANELS {
            eprintln!(
                "runlog: warning: the run has {} metrics to chart; {} draws the first {} (by name)",
                panels,
                file.display(),
                chart::MAX_PANELS
            );
        }
        chart::draw_file(file, &info.charts)?;
    }
    let code = emit(render::info(&info, format, Layout::from_env()))?;
    if let (Some(file), Format::Table) = (chart_file, format) {
        eprintln!(
            "chart of {} metric(s) written to {}",
            chart::panels(&info.charts).len().min(chart::MAX_PANELS),
            file.display()
        );
    }
    Ok(code)
}

/// `compare --chart FILE`: one panel per metric that draws as a chart in any
/// of `runs` (or per metric of `only`), one line per run.
fn draw_compare_chart(
    source: &dyn HistorySource,
    runs: &[crate::history::RunDetail],
    only: &[String],
    file: &Path,
) -> Result<()> {
    let mut per_run = Vec::with_capacity(runs.len());
    for r in runs {
        let id = r.summary.run_id.clone();
        let metrics = source.metrics(&id)?;
        per_run.push((id, metrics));
    }
    let names = compare::metric_names(&per_run, only)?;
    let mut panels = Vec::new();
    for name in names {
        let mut panel = ComparePanel {
            name: name.clone(),
            x_label: "index",
            lines: Vec::new(),
        };
        for (id, metrics) in &per_run {
            let Some(m) = metrics.iter().find(|m| m.name == name) else {
                continue;
            };
            let history = if needs_history(m) {
                Some(source.chart_points(id, &m.name, chart::MAX_POINTS)?)
            } else {
                None
            };
            if let Some(c) = chart_data(m, history.as_deref()) {
                if c.x_label == "step" {
                    panel.x_label = "step";
                }
                panel.lines.push(RunLine {
                    label: id.clone(),
                    points: c.points,
                });
            }
        }
        if !panel.lines.is_empty() {
            panels.push(panel);
        }
    }
    let panels = group_rank_panels(panels);
    if panels.is_empty() {
        bail!(
            "the runs have nothing to chart (a chart needs a list metric, or a number logged more than once)"
        );
    }
    if panels.len() > chart::MAX_PANELS {
        eprintln!(
            "runlog: warning: the runs have {} metrics to chart; {} draws the first {} (by name)",
            panels.len(),
            file.display(),
            chart::MAX_PANELS
        );
    }
    comparechart::draw_file(file, &panels)?;
    eprintln!(
        "chart of {} metric(s) of {} runs written to {}",
        panels.len().min(chart::MAX_PANELS),
        runs.len(),
        file.display()
    );
    Ok(())
}

/// Merges the panels of one metric's ranks (`loss`, `loss/rank1`, ...: see
/// [`crate::ranks::group_ranks`]) into one, a line per run per rank.
fn group_rank_panels(panels: Vec<ComparePanel>) -> Vec<ComparePanel> {
    crate::ranks::group_ranks(panels, |p| p.name.as_str())
        .into_iter()
        .map(|g| {
            let ranked = g.is_ranked();
            let mut merged = ComparePanel {
                x_label: "index",
                lines: Vec::new(),
                name: g.name,
            };
            for (rank, p) in g.ranks {
                if p.x_label == "step" {
                    merged.x_label = "step";
                }
                merged.lines.extend(p.lines.into_iter().map(|mut l| {
                    if ranked {
                        l.label = format!("{} {}", l.label, crate::ranks::rank_label(rank));
                    }
                    l
                }));
            }
            merged
        })
        .collect()
}

/// `export`: streams the points to stdout; a reader that goes away is not an error.
fn export_points(
    source: &dyn HistorySource,
    run_id: &str,
    names: &[String],
    format: Format,
) -> Result<i32> {
    let mut w = PipeWatch {
        inner: io::BufWriter::with_capacity(1 << 16, io::stdout().lock()),
        broken: false,
    };
    match export::export(source, run_id, names, format, &mut w) {
        Ok(_) => Ok(0),
        Err(_) if w.broken => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Writes rendered output to stdout. A reader that went away (`| head`) is not an error.
fn emit(text: String) -> Result<i32> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(e).context("cannot write to standard output"),
    }
}

/// Remembers whether its writer's reader went away.
struct PipeWatch<W> {
    inner: W,
    broken: bool,
}

impl<W: Write> Write for PipeWatch<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| {
            self.broken |= e.kind() == io::ErrorKind::BrokenPipe;
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(|e| {
            self.broken |= e.kind() == io::ErrorKind::BrokenPipe;
        })
    }
}

/// `info -a PATH [--out FILE]`: the artifact's bytes, unchanged.
fn write_artifact(
    source: &dyn HistorySource,
    run_id: &str,
    path: &str,
    out: Option<&Path>,
) -> Result<i32> {
    match out {
        None => {
            let mut w = PipeWatch {
                inner: io::stdout().lock(),
                broken: false,
            };
            let result = source
                .read_artifact(run_id, path, &mut w)
                .map(|_| ())
                .and_then(|()| w.flush().map_err(HistoryError::from));
            match result {
                Ok(()) => Ok(0),
                Err(_) if w.broken => Ok(0),
                Err(e) => Err(e.into()),
            }
        }
        Some(file) => {
            // Write beside the target, then rename: FILE is whole or untouched.
            let tmp = partial_name(file);
            let result = (|| -> Result<u64> {
                let f = fs::File::create(&tmp)
                    .with_context(|| format!("cannot create {}", tmp.display()))?;
                let mut w = io::BufWriter::new(f);
                let n = source.read_artifact(run_id, path, &mut w)?;
                let f = w
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(|| format!("cannot write {}", tmp.display()))?;
                f.sync_all()
                    .with_context(|| format!("cannot write {}", tmp.display()))?;
                fs::rename(&tmp, file).with_context(|| {
                    format!("cannot move {} to {}", tmp.display(), file.display())
                })?;
                Ok(n)
            })();
            match result {
                Ok(n) => {
                    eprintln!("wrote {n} bytes to {}", file.display());
                    Ok(0)
                }
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    Err(e)
                }
            }
        }
    }
}

fn partial_name(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "artifact".into());
    file.with_file_name(format!(".{name}.runlog-part-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(name: &str, x_label: &'static str, runs: &[&str]) -> ComparePanel {
        ComparePanel {
            name: name.into(),
            x_label,
            lines: runs
                .iter()
                .map(|r| RunLine {
                    label: r.to_string(),
                    points: vec![(0.0, 1.0)],
                })
                .collect(),
        }
    }

    #[test]
    fn compare_panels_of_one_metrics_ranks_merge_into_a_line_per_run_per_rank() {
        let merged = group_rank_panels(vec![
            panel("acc", "step", &["r1", "r2"]),
            panel("loss", "index", &["r1", "r2"]),
            panel("loss/rank1", "step", &["r1"]),
        ]);
        let shape: Vec<(&str, &str, Vec<&str>)> = merged
            .iter()
            .map(|p| {
                let labels = p.lines.iter().map(|l| l.label.as_str()).collect();
                (p.name.as_str(), p.x_label, labels)
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                ("acc", "step", vec!["r1", "r2"]),
                ("loss", "step", vec!["r1 rank 0", "r2 rank 0", "r1 rank 1"]),
            ]
        );
    }
}
