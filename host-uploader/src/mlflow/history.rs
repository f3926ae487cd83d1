//! [`HttpHistory`]: `runlog history` over an MLflow tracking server.
//!
//! MLflow holds every metric as a float and every string as a tag, so what
//! comes back is mapped the other way: a value the server sends as an
//! integer literal (as `runlog serve` does for integers) is an integer; tags
//! other than MLflow's (`mlflow.*`) and runlog's own (`runlog.*`) are text
//! metrics. Runs are named by the server's run id; a run uploaded by runlog
//! can also be named by the id its program gave it (tag `runlog.run_id`).

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{json, Value};

use super::client::{is_already_exists, is_not_found, Client};
use super::deliver::delivered_marks;
use super::protocol::json::Num;
use super::protocol::RUNLOG_RUN_ID_TAG;
use crate::history::{
    ArtifactEntry, Asset, AssetFile, AssetVersion, HistoryError, HistoryResult, HistorySource,
    MetricKind, MetricPoint, MetricSummary, MetricValue, RunDetail, RunFilter, RunStatus,
    RunSummary,
};

/// A run history on an MLflow tracking server.
#[derive(Debug)]
pub struct HttpHistory {
    client: Client,
}

fn other(e: anyhow::Error) -> HistoryError {
    HistoryError::Other(e)
}

fn is_system_tag(k: &str) -> bool {
    k.starts_with("mlflow.") || k.starts_with("runlog.")
}

fn tags(run: &Value) -> Vec<(String, String)> {
    run["data"]["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t["key"].as_str()?.to_string(),
                t["value"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// A metric value from MLflow JSON: integer literals stay integers.
fn value_of(v: &Value) -> Option<MetricValue> {
    Num::from_json(v).map(|n| match n {
        Num::I64(i) => MetricValue::Int(i),
        Num::F64(f) => MetricValue::Float(f),
    })
}

fn status(s: &str) -> RunStatus {
    RunStatus::parse(s).unwrap_or(RunStatus::Running)
}

impl HttpHistory {
    /// The history on the server at `base`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    fn experiments(&self) -> HistoryResult<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let mut token = String::new();
        loop {
            let mut body = json!({ "max_results": 1000 });
            if !token.is_empty() {
                body["page_token"] = token.clone().into();
            }
            let v = self
                .client
                .post("experiments/search", &body)
                .map_err(other)?;
            for e in v["experiments"].as_array().into_iter().flatten() {
                if let (Some(id), Some(name)) = (e["experiment_id"].as_str(), e["name"].as_str()) {
                    out.insert(id.to_string(), name.to_string());
                }
            }
            match v["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => token = t.to_string(),
                _ => return Ok(out),
            }
        }
    }

    /// Runs (as MLflow JSON), newest first.
    fn search(
        &self,
        ids: &[String],
        filter: &str,
        limit: Option<usize>,
    ) -> HistoryResult<Vec<Value>> {
        let mut out = Vec::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut token = String::new();
        loop {
            let want = limit.map_or(1000, |l| (l - out.len()).min(1000));
            let mut body = json!({
                "experiment_ids": ids, "filter": filter, "max_results": want,
                "order_by": ["attributes.start_time DESC"],
            });
            if !token.is_empty() {
                body["page_token"] = token.clone().into();
            }
            let v = self.client.post("runs/search", &body).map_err(other)?;
            out.extend(v["runs"].as_array().cloned().unwrap_or_default());
            if limit.is_some_and(|l| out.len() >= l) {
                out.truncate(limit.unwrap_or(usize::MAX));
                return Ok(out);
            }
            match v["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => token = t.to_string(),
                _ => return Ok(out),
            }
        }
    }

    fn get_run(&self, run_id: &str) -> HistoryResult<Value> {
        match self.client.get("runs/get", &[("run_id", run_id)]) {
            Ok(v) => Ok(v["run"].clone()),
            Err(e) if is_not_found(&e) => Err(HistoryError::UnknownRun(run_id.to_string())),
            Err(e) => Err(other(e)),
        }
    }

    /// The run named `id_or_prefix`: a server run id, a runlog run id, or a unique prefix of either.
    fn resolve(&self, id_or_prefix: &str) -> HistoryResult<Value> {
        if id_or_prefix.is_empty() {
            return Err(HistoryError::Invalid("give a run id".into()));
        }
        match self.get_run(id_or_prefix) {
            Ok(r) => return Ok(r),
            Err(HistoryError::UnknownRun(_)) => {}
            // MLflow answers a malformed id with 400, not 404.
            Err(HistoryError::Other(e))
                if e.downcast_ref::<super::MlflowError>()
                    .is_some_and(|m| m.status == 400) => {}
            Err(e) => return Err(e),
        }
        let exps: Vec<String> = self.experiments()?.into_keys().collect();
        let all = self.search(&exps, "", None)?;
        if all.is_empty() {
            return Err(HistoryError::Empty {
                location: self.location(),
            });
        }
        let ids = |r: &Value| -> Vec<String> {
            let mut v = vec![r["info"]["run_id"].as_str().unwrap_or("").to_string()];
            if let Some((_, t)) = tags(r).into_iter().find(|(k, _)| k == RUNLOG_RUN_ID_TAG) {
                v.push(t);
            }
            // A run `runlog sync` delivered names its runlog run id in its sync tag.
            v.extend(delivered_marks(r).into_iter().map(|m| m.run).take(1));
            v
        };
        if let Some(r) = all
            .iter()
            .find(|r| ids(r).iter().any(|i| i == id_or_prefix))
        {
            return Ok(r.clone());
        }
        let matching: Vec<&Value> = all
            .iter()
            .filter(|r| ids(r).iter().any(|i| i.starts_with(id_or_prefix)))
            .collect();
        match matching.as_slice() {
            [] => Err(HistoryError::UnknownRun(id_or_prefix.to_string())),
            [one] => Ok((*one).clone()),
            many => {
                let mut candidates: Vec<String> = many
                    .iter()
                    .map(|r| r["info"]["run_id"].as_str().unwrap_or("").to_string())
                    .collect();
                candidates.sort();
                candidates.truncate(10);
                Err(HistoryError::AmbiguousRun {
                    prefix: id_or_prefix.to_string(),
                    candidates,
                })
            }
        }
    }

    fn list_dir(
        &self,
        run_id: &str,
        path: &str,
        out: &mut Vec<ArtifactEntry>,
    ) -> HistoryResult<()> {
        let mut q = vec![("run_id", run_id)];
        if !path.is_empty() {
            q.push(("path", path));
        }
        let v = self.client.get("artifacts/list", &q).map_err(other)?;
        for f in v["files"].as_array().into_iter().flatten() {
            let p = f["path"].as_str().unwrap_or("").to_string();
            if p.is_empty() {
                continue;
            }
            if f["is_dir"].as_bool().unwrap_or(false) {
                self.list_dir(run_id, &p, out)?;
            } else {
                out.push(ArtifactEntry {
                    path: p,
                    size: int(&f["file_size"]).unwrap_or(0).max(0) as u64,
                    sha256: None,
                });
            }
        }
        Ok(())
    }

    fn summary(&self, run: &Value, names: &BTreeMap<String, String>) -> HistoryResult<RunSummary> {
        let info = &run["info"];
        let run_id = info["run_id"].as_str().unwrap_or("").to_string();
        let start_ms = int(&info["start_time"]).unwrap_or(0);
        let end_ms = int(&info["end_time"]);
        let exp = info["experiment_id"].as_str().unwrap_or("");
        let mut artifacts = Vec::new();
        self.list_dir(&run_id, "", &mut artifacts)?;
        let text_metrics = tags(run).iter().filter(|(k, _)| !is_system_tag(k)).count();
        Ok(RunSummary {
            experiment: names.get(exp).cloned().unwrap_or_else(|| exp.to_string()),
            status: status(info["status"].as_str().unwrap_or("")),
            start_ms,
            end_ms,
            duration_ms: end_ms.map(|e| e.saturating_sub(start_ms)),
            metric_count: (run["data"]["metrics"].as_array().map_or(0, Vec::len) + text_metrics)
                as u64,
            artifact_count: artifacts.len() as u64,
            mlflow_run_id: None,
            run_id,
        })
    }

    fn history_points(&self, run_id: &str, name: &str) -> HistoryResult<Vec<MetricPoint>> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut q = vec![("run_id", run_id), ("metric_key", name)];
            if !token.is_empty() {
                q.push(("page_token", &token));
            }
            let v = self.client.get("metrics/get-history", &q).map_err(other)?;
            for m in v["metrics"].as_array().into_iter().flatten() {
                if let Some(value) = value_of(&m["value"]) {
                    out.push(MetricPoint {
                        step: int(&m["step"]).unwrap_or(0),
                        time_ms: int(&m["timestamp"]).unwrap_or(0),
                        value,
                    });
                }
            }
            match v["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => token = t.to_string(),
                _ => return Ok(out),
            }
        }
    }

    fn version_of(&self, v: &Value) -> HistoryResult<AssetVersion> {
        let source = v["source"].as_str().unwrap_or("").to_string();
        let run_id = v["run_id"].as_str().unwrap_or("").to_string();
        // The prefix is the source's path under the run's artifact root.
        let prefix = source
            .split_once("/artifacts/")
            .map(|(_, p)| p.to_string())
            .unwrap_or_default();
        let mut files = Vec::new();
        if !run_id.is_empty() {
            let mut all = Vec::new();
            if self.list_dir(&run_id, "", &mut all).is_ok() {
                files = all
                    .into_iter()
                    .filter(|a| {
                        prefix.is_empty()
                            || a.path == prefix
                            || a.path.starts_with(&format!("{prefix}/"))
                    })
                    .map(|a| AssetFile {
                        path: a.path,
                        size: a.size,
                        sha256: a.sha256,
                    })
                    .collect();
            }
        }
        Ok(AssetVersion {
            name: v["name"].as_str().unwrap_or("").to_string(),
            version: int(&v["version"]).unwrap_or(0).max(0) as u64,
            run_id,
            prefix,
            created_ms: int(&v["creation_timestamp"]).unwrap_or(0),
            location: Some(source),
            files,
        })
    }
}

impl HistorySource for HttpHistory {
    fn location(&self) -> String {
        self.client.base().to_string()
    }

    fn list_runs(&self, filter: &RunFilter) -> HistoryResult<Vec<RunSummary>> {
        let names = self.experiments()?;
        let ids: Vec<String> = names
            .iter()
            .filter(|(_, n)| filter.experiment.as_ref().is_none_or(|e| e == *n))
            .map(|(id, _)| id.clone())
            .collect();
        let f = filter
            .status
            .map(|s| format!("attributes.status = '{}'", s.as_str()))
            .unwrap_or_default();
        let runs = self.search(&ids, &f, filter.limit)?;
        runs.iter().map(|r| self.summary(r, &names)).collect()
    }

    fn run(&self, id_or_prefix: &str) -> HistoryResult<RunDetail> {
        let run = self.resolve(id_or_prefix)?;
        let names = self.experiments()?;
        let summary = self.summary(&run, &names)?;
        let all = tags(&run);
        let get = |k: &str| all.iter().find(|(t, _)| t == k).map(|(_, v)| v.clone());
        let params = run["data"]["params"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some((
                    p["key"].as_str()?.to_string(),
                    p["value"].as_str()?.to_string(),
                ))
            })
            .collect();
        Ok(RunDetail {
            summary,
            command: get("runlog.command").or_else(|| get("mlflow.source.name")),
            exit_code: get("runlog.exit_code")
                .and_then(|v| v.parse().ok())
                .or_else(|| delivered_marks(&run).into_iter().find_map(|m| m.exit)),
            dropped: get("runlog.dropped")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            lost_frames: get("runlog.lost_frames")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            lost_records: get("runlog.lost_records")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            params,
            tags: all
                .iter()
                .filter(|(k, _)| is_system_tag(k))
                .cloned()
                .collect(),
        })
    }

    fn metrics(&self, run_id: &str) -> HistoryResult<Vec<MetricSummary>> {
        let run = self.get_run(run_id)?;
        let mut out = Vec::new();
        for m in run["data"]["metrics"].as_array().into_iter().flatten() {
            let Some(name) = m["key"].as_str() else {
                continue;
            };
            let Some(last) = value_of(&m["value"]) else {
                continue;
            };
            let count = self.history_points(run_id, name)?.len() as u64;
            out.push(MetricSummary {
                name: name.to_string(),
                kind: last.kind(),
                count,
                last,
                last_step: int(&m["step"]),
                last_time_ms: int(&m["timestamp"]),
            });
        }
        for (k, v) in tags(&run).into_iter().filter(|(k, _)| !is_system_tag(k)) {
            out.push(MetricSummary {
                name: k,
                kind: MetricKind::Text,
                count: 1,
                last: MetricValue::Text(v),
                last_step: None,
                last_time_ms: None,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn metric_history(&self, run_id: &str, name: &str) -> HistoryResult<Vec<MetricPoint>> {
        let points = self.history_points(run_id, name)?;
        if !points.is_empty() {
            return Ok(points);
        }
        let run = self.get_run(run_id)?;
        Ok(tags(&run)
            .into_iter()
            .filter(|(k, _)| k == name && !is_system_tag(k))
            .map(|(_, v)| MetricPoint {
                step: 0,
                time_ms: int(&run["info"]["start_time"]).unwrap_or(0),
                value: MetricValue::Text(v),
            })
            .collect())
    }

    fn artifacts(&self, run_id: &str) -> HistoryResult<Vec<ArtifactEntry>> {
        let mut out = Vec::new();
        self.list_dir(run_id, "", &mut out)?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn read_artifact(&self, run_id: &str, path: &str, out: &mut dyn Write) -> HistoryResult<u64> {
        if runlog_core::rules::check_artifact_path(path).is_err() {
            return Err(HistoryError::Invalid(format!(
                "{path:?} is not a valid artifact path"
            )));
        }
        let run = self.get_run(run_id)?;
        let all = self.artifacts(run_id)?;
        if !all.iter().any(|a| a.path == path) {
            let dir = format!("{path}/");
            return Err(HistoryError::MissingArtifact {
                run_id: run_id.to_string(),
                path: path.to_string(),
                under: all
                    .into_iter()
                    .filter(|a| a.path.starts_with(&dir))
                    .map(|a| a.path)
                    .collect(),
            });
        }
        let uri = run["info"]["artifact_uri"].as_str().unwrap_or("");
        let url = self.client.artifact_url(uri, path).map_err(other)?;
        self.client.download(&url, out).map_err(other)
    }

    fn promote(&self, run_id: &str, prefix: &str, name: &str) -> HistoryResult<AssetVersion> {
        if name.trim().is_empty() {
            return Err(HistoryError::Invalid("give the asset a name".into()));
        }
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() && runlog_core::rules::check_artifact_path(prefix).is_err() {
            return Err(HistoryError::Invalid(format!(
                "{prefix:?} is not a valid artifact prefix"
            )));
        }
        let run = self.get_run(run_id)?;
        let files = self.artifacts(run_id)?;
        let dir = format!("{prefix}/");
        if !files
            .iter()
            .any(|a| prefix.is_empty() || a.path == prefix || a.path.starts_with(&dir))
        {
            return Err(HistoryError::Invalid(format!(
                "run {run_id} has no artifacts under {prefix:?}"
            )));
        }
        match self
            .client
            .post("registered-models/create", &json!({ "name": name }))
        {
            Ok(_) => {}
            Err(e) if is_already_exists(&e) => {}
            Err(e) => return Err(other(e)),
        }
        let root = run["info"]["artifact_uri"]
            .as_str()
            .unwrap_or("")
            .trim_end_matches('/');
        let source = if prefix.is_empty() {
            root.to_string()
        } else {
            format!("{root}/{prefix}")
        };
        let v = self
            .client
            .post(
                "model-versions/create",
                &json!({ "name": name, "source": source, "run_id": run["info"]["run_id"] }),
            )
            .map_err(other)?;
        self.version_of(&v["model_version"])
    }

    fn assets(&self) -> HistoryResult<Vec<Asset>> {
        let v = self
            .client
            .get("registered-models/search", &[("max_results", "1000")])
            .map_err(other)?;
        let mut out = Vec::new();
        for m in v["registered_models"].as_array().into_iter().flatten() {
            let Some(name) = m["name"].as_str() else {
                continue;
            };
            let vs = self
                .client
                .get(
                    "model-versions/search",
                    &[("filter", &format!("name = '{}'", name.replace('\'', "\\'")))],
                )
                .map_err(other)?;
            let mut versions = Vec::new();
            for mv in vs["model_versions"].as_array().into_iter().flatten() {
                versions.push(self.version_of(mv)?);
            }
            versions.sort_by_key(|v| v.version);
            out.push(Asset {
                name: name.to_string(),
                created_ms: int(&m["creation_timestamp"]).unwrap_or(0),
                versions,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}
