//! `runlog history` over the embedded store: its [`HistorySource`]
//! implementation, reading through the store's typed repository
//! (`store::repo`: runs, params, tags, artifacts, series summaries) and its
//! points (`store::series`: chunks).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::source::*;
use crate::store::repo::{self, runs::RunListing};
use crate::store::{series, Store, DB_FILE};

/// How many candidates an ambiguous-prefix error lists.
const MAX_CANDIDATES: usize = 10;

impl Store {
    /// Opens an existing store for queries; unlike [`Store::open`] it never
    /// creates one, so a mistyped `--tracking-uri` is reported, not silently
    /// turned into a new empty store.
    pub fn open_existing(dir: &Path) -> HistoryResult<Self> {
        if !dir.join(DB_FILE).is_file() {
            return Err(HistoryError::Empty {
                location: format!("{} (no runlog store there)", dir.display()),
            });
        }
        Ok(Store::open(dir)?)
    }

    /// The internal key of the run `run_id` (exact id).
    pub(crate) fn run_key(&self, run_id: &str) -> HistoryResult<i64> {
        repo::runs::key_of(self.conn(), run_id)
            .map_err(sql)?
            .ok_or_else(|| HistoryError::UnknownRun(run_id.to_string()))
    }

    /// The full id of the run `id_or_prefix` names: itself, or the one run id it prefixes.
    pub fn resolve_run(&self, id_or_prefix: &str) -> HistoryResult<String> {
        if id_or_prefix.is_empty() {
            return Err(HistoryError::Invalid("the run id is empty".into()));
        }
        let conn = self.conn();
        if repo::runs::key_of(conn, id_or_prefix)
            .map_err(sql)?
            .is_some()
        {
            return Ok(id_or_prefix.to_string());
        }
        let found = repo::runs::ids_with_prefix(conn, id_or_prefix, MAX_CANDIDATES as i64 + 1)
            .map_err(sql)?;
        match found.len() {
            0 => {
                if self.is_empty()? {
                    Err(HistoryError::Empty {
                        location: self.location(),
                    })
                } else {
                    Err(HistoryError::UnknownRun(id_or_prefix.to_string()))
                }
            }
            1 => Ok(found.into_iter().next().unwrap_or_default()),
            _ => {
                let total = repo::runs::count_with_prefix(conn, id_or_prefix).map_err(sql)?;
                let mut candidates: Vec<String> = found.into_iter().take(MAX_CANDIDATES).collect();
                if total as usize > candidates.len() {
                    candidates.push(format!("... ({} in all)", total));
                }
                Err(HistoryError::AmbiguousRun {
                    prefix: id_or_prefix.to_string(),
                    candidates,
                })
            }
        }
    }

    fn is_empty(&self) -> HistoryResult<bool> {
        repo::runs::none(self.conn()).map_err(sql)
    }

    /// Where the file of artifact `path` of run `run_id` is, after checking
    /// that `path` cannot leave the run's folder.
    pub(crate) fn artifact_file(&self, run_id: &str, path: &str) -> HistoryResult<PathBuf> {
        check_relative_path(path)?;
        Ok(self.artifact_dir(run_id).join(path))
    }
}

/// Accepts `a/b/c` made of normal components only (no `..`, `.`, empty or absolute parts).
pub(crate) fn check_relative_path(path: &str) -> HistoryResult<()> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains('\0')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(HistoryError::Invalid(format!(
            "{path:?} is not a valid artifact path (use a relative path like dir/file.txt)"
        )));
    }
    Ok(())
}

pub(crate) fn sql(err: rusqlite::Error) -> HistoryError {
    HistoryError::Other(anyhow::Error::new(err).context("history database query failed"))
}

fn status_from_db(s: &str) -> RunStatus {
    // The schema's CHECK constraint admits only these four.
    RunStatus::parse(s).unwrap_or(RunStatus::Running)
}

/// The history view of a stored value.
fn history_value(v: crate::store::value::MetricValue) -> MetricValue {
    use crate::store::value::MetricValue as Stored;
    match v {
        Stored::I64(i) => MetricValue::Int(i),
        Stored::F64(f) => MetricValue::Float(f),
        Stored::Str(s) => MetricValue::Text(s),
        Stored::F64List(l) => MetricValue::FloatList(l),
        Stored::I64List(l) => MetricValue::IntList(l),
    }
}

/// A run's summary as the history shows it.
fn summary_of(r: &RunListing) -> RunSummary {
    RunSummary {
        run_id: r.run_id.clone(),
        experiment: r.experiment.clone(),
        status: status_from_db(&r.status),
        start_ms: r.start_ms,
        end_ms: r.end_ms,
        duration_ms: r.end_ms.map(|e| e.saturating_sub(r.start_ms)),
        metric_count: r.series,
        artifact_count: r.artifacts,
        mlflow_run_id: None,
    }
}

impl Store {
    /// `r`'s summary, with the MLflow run it was delivered to (the first
    /// tracking URI's, by name, if it went to several).
    fn summary_with_remote(&self, r: &RunListing) -> RunSummary {
        let mut s = summary_of(r);
        s.mlflow_run_id = self
            .remote_runs(&r.run_id)
            .ok()
            .and_then(|v| v.into_iter().next())
            .map(|(_, id)| id);
        s
    }
}

impl Store {
    /// The row id of series `name` of run `run_id`.
    fn series_key(&self, run_id: &str, name: &str) -> HistoryResult<i64> {
        let key = self.run_key(run_id)?;
        series::find(self.conn(), key, name)
            .map_err(sql)?
            .ok_or_else(|| HistoryError::Invalid(format!("run {run_id} has no metric {name:?}")))
    }
}

impl HistorySource for Store {
    fn location(&self) -> String {
        self.dir().display().to_string()
    }

    fn list_runs(&self, filter: &RunFilter) -> HistoryResult<Vec<RunSummary>> {
        let limit = filter
            .limit
            .map(|l| i64::try_from(l).unwrap_or(i64::MAX))
            .unwrap_or(-1);
        let status = filter.status.map(RunStatus::as_str);
        let rows = repo::runs::listings(self.conn(), filter.experiment.as_deref(), status, limit)
            .map_err(sql)?;
        Ok(rows.iter().map(|r| self.summary_with_remote(r)).collect())
    }

    fn run(&self, id_or_prefix: &str) -> HistoryResult<RunDetail> {
        let run_id = self.resolve_run(id_or_prefix)?;
        let conn = self.conn();
        let r = repo::runs::listing(conn, &run_id)
            .map_err(sql)?
            .ok_or_else(|| HistoryError::UnknownRun(run_id.clone()))?;
        let pairs =
            |v: Vec<(String, String)>| -> BTreeMap<String, String> { v.into_iter().collect() };
        Ok(RunDetail {
            summary: self.summary_with_remote(&r),
            command: r.command,
            exit_code: r.exit_code,
            dropped: r.dropped,
            lost_records: r.lost_records,
            lost_frames: r.lost_frames,
            params: pairs(repo::params::params_of(conn, r.pk).map_err(sql)?),
            tags: pairs(repo::params::tags_of(conn, r.pk).map_err(sql)?),
        })
    }

    fn metrics(&self, run_id: &str) -> HistoryResult<Vec<MetricSummary>> {
        let key = self.run_key(run_id)?;
        let rows = repo::metrics::latest(self.conn(), key).map_err(sql)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let last = r.value.map(history_value).ok_or_else(|| {
                HistoryError::Other(anyhow::anyhow!(
                    "the store holds a malformed metric value (kind {})",
                    r.kind
                ))
            })?;
            out.push(MetricSummary {
                name: r.name,
                kind: last.kind(),
                count: r.count,
                last,
                last_step: r.step,
                last_time_ms: r.time_ms,
            });
        }
        Ok(out)
    }

    fn metric_history(&self, run_id: &str, name: &str) -> HistoryResult<Vec<MetricPoint>> {
        let series = self.series_key(run_id, name)?;
        Ok(series::all_points(self.conn(), series)?
            .into_iter()
            .map(|p| MetricPoint {
                step: p.step,
                time_ms: p.time_ms,
                value: history_value(p.value),
            })
            .collect())
    }

    fn chart_points(
        &self,
        run_id: &str,
        name: &str,
        max_points: usize,
    ) -> HistoryResult<Vec<(f64, f64)>> {
        let series = self.series_key(run_id, name)?;
        Ok(series::chart(self.conn(), series, max_points)?)
    }

    fn metric_range(&self, run_id: &str, name: &str) -> HistoryResult<Option<(f64, f64)>> {
        let series = self.series_key(run_id, name)?;
        Ok(series::range(self.conn(), series)?)
    }

    fn for_each_point(
        &self,
        run_id: &str,
        name: &str,
        each: &mut dyn FnMut(MetricPoint) -> HistoryResult<()>,
    ) -> HistoryResult<()> {
        // A page of chunks at a time: memory stays bounded however long the series.
        const PAGE: usize = 16 * crate::store::CHUNK_POINTS;
        let series = self.series_key(run_id, name)?;
        let mut offset = 0u64;
        loop {
            let (page, more) = series::points(self.conn(), series, offset, PAGE)?;
            offset += page.len() as u64;
            let empty = page.is_empty();
            for p in page {
                each(MetricPoint {
                    step: p.step,
                    time_ms: p.time_ms,
                    value: history_value(p.value),
                })?;
            }
            if !more || empty {
                return Ok(());
            }
        }
    }

    fn artifacts(&self, run_id: &str) -> HistoryResult<Vec<ArtifactEntry>> {
        let key = self.run_key(run_id)?;
        let rows = repo::artifacts::of_run(self.conn(), key).map_err(sql)?;
        Ok(rows
            .into_iter()
            .map(|a| ArtifactEntry {
                path: a.path,
                size: a.size.max(0) as u64,
                sha256: Some(a.sha256),
            })
            .collect())
    }

    fn read_artifact(&self, run_id: &str, path: &str, out: &mut dyn Write) -> HistoryResult<u64> {
        let key = self.run_key(run_id)?;
        let conn = self.conn();
        let size = repo::artifacts::size_of(conn, key, path).map_err(sql)?;
        if size.is_none() {
            let dir = format!("{}/", path.trim_end_matches('/'));
            let under = repo::artifacts::paths_under(conn, key, &dir).map_err(sql)?;
            return Err(HistoryError::MissingArtifact {
                run_id: run_id.to_string(),
                path: path.to_string(),
                under,
            });
        }
        let file = self.artifact_file(run_id, path)?;
        let mut f = File::open(&file).with_context(|| {
            format!(
                "artifact {path:?} of run {run_id} is recorded but its file {} cannot be read",
                file.display()
            )
        })?;
        match io::copy(&mut f, out) {
            Ok(n) => Ok(n),
            Err(e) => Err(HistoryError::Other(
                anyhow::Error::new(e).context(format!("cannot copy artifact {path:?}")),
            )),
        }
    }

    fn promote(&self, run_id: &str, prefix: &str, name: &str) -> HistoryResult<AssetVersion> {
        super::assets::promote(self, run_id, prefix, name)
    }

    fn assets(&self) -> HistoryResult<Vec<Asset>> {
        super::assets::list(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{Batch, Item, RunRef, Sink};

    fn store_with(ids: &[&str]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        for (i, id) in ids.iter().enumerate() {
            let mut b = Batch::new(RunRef {
                run_id: id.to_string(),
                experiment: "e".into(),
            });
            b.items.push(Item::RunStart {
                time_ms: Some(1000 + i as u64),
                command: None,
            });
            Sink::commit(&mut store, &b).unwrap();
        }
        (dir, store)
    }

    #[test]
    fn an_exact_id_wins_over_longer_ids_it_prefixes() {
        let (_d, store) = store_with(&["abc", "abcd", "abce"]);
        assert_eq!(store.resolve_run("abc").unwrap(), "abc");
        assert_eq!(store.resolve_run("abcd").unwrap(), "abcd");
        match store.resolve_run("ab") {
            Err(HistoryError::AmbiguousRun { candidates, .. }) => {
                assert_eq!(candidates, ["abc", "abcd", "abce"])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ambiguity_lists_at_most_ten_candidates_and_the_total() {
        let ids: Vec<String> = (0..15).map(|i| format!("run{i:02}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let (_d, store) = store_with(&refs);
        match store.resolve_run("run") {
            Err(e @ HistoryError::AmbiguousRun { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("run09") && !msg.contains("run10"), "{msg}");
                assert!(msg.contains("(15 in all)"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
        // Prefix matching is literal: LIKE wildcards mean nothing.
        assert!(matches!(
            store.resolve_run("run%"),
            Err(HistoryError::UnknownRun(_))
        ));
    }

    #[test]
    fn paths_cannot_leave_the_run_folder() {
        for bad in ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", ""] {
            assert!(check_relative_path(bad).is_err(), "{bad:?}");
        }
        assert!(check_relative_path("a/b.txt").is_ok());
    }
}
