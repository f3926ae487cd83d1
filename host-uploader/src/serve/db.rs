//! The store, seen as MLflow sees it: experiments, runs with metrics, params
//! and tags, metric histories, artifacts' metadata, registered models.
//!
//! Value mapping (DESIGN.md): integer and float series are MLflow metrics
//! (integers stay integers in the store); a list is one metric with steps
//! 0..n-1; a string series is a tag (its latest value).

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::error::{ApiError, ApiResult};
use crate::sink::MetricValue;
use crate::store::series::{self, Appender, Scalar};
use crate::store::value::{self, ValueKind};
use crate::store::Store;

pub use crate::mlflow::protocol::{
    MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS, MAX_KEY_LEN, MAX_PARAM_LEN, MAX_TAG_LEN,
    RUNLOG_RUN_ID_TAG,
};

/// A metric value: integers stay exact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// An integer.
    I64(i64),
    /// A float (NaN and infinities included).
    F64(f64),
}

impl Num {
    /// As a float, the way MLflow holds every metric.
    pub fn as_f64(self) -> f64 {
        match self {
            Num::I64(v) => v as f64,
            Num::F64(v) => v,
        }
    }

    /// As JSON: integers as integer literals, NaN and infinities as protobuf's strings.
    pub fn to_json(self) -> serde_json::Value {
        match self {
            Num::I64(v) => v.into(),
            Num::F64(v) if v.is_nan() => "NaN".into(),
            Num::F64(v) if v == f64::INFINITY => "Infinity".into(),
            Num::F64(v) if v == f64::NEG_INFINITY => "-Infinity".into(),
            Num::F64(v) => serde_json::Number::from_f64(v)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
        }
    }
}

/// One point of a metric's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Metric name.
    pub key: String,
    /// The value.
    pub value: Num,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The step.
    pub step: i64,
}

impl Point {
    /// MLflow's Metric JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "key": self.key, "value": self.value.to_json(),
            "timestamp": self.timestamp, "step": self.step,
        })
    }
}

/// An experiment.
#[derive(Debug, Clone)]
pub struct Experiment {
    /// Integer id (MLflow shows it as a string).
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Creation time, ms.
    pub created_ms: i64,
}

impl Experiment {
    /// MLflow's Experiment JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "experiment_id": self.id.to_string(), "name": self.name,
            "artifact_location": format!("mlflow-artifacts:/{}", self.id),
            "lifecycle_stage": "active",
            "creation_time": self.created_ms, "last_update_time": self.created_ms,
            "tags": [],
        })
    }
}

/// A run's row.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// Integer key.
    pub pk: i64,
    /// The external id.
    pub run_id: String,
    /// Experiment id.
    pub experiment_id: i64,
    /// RUNNING, FINISHED, FAILED or KILLED.
    pub status: String,
    /// Start, ms.
    pub start_ms: i64,
    /// End, ms.
    pub end_ms: Option<i64>,
    /// Command line of `runlog run`.
    pub command: Option<String>,
    /// Exit code of `runlog run`.
    pub exit_code: Option<i64>,
}

/// A run's data: latest metrics, params and tags.
#[derive(Debug, Clone, Default)]
pub struct RunData {
    /// Latest value of each numeric metric.
    pub metrics: Vec<Point>,
    /// Params, by key.
    pub params: Vec<(String, String)>,
    /// Tags, by key (string metrics included, as their latest value).
    pub tags: Vec<(String, String)>,
}

/// A run with its data.
#[derive(Debug, Clone)]
pub struct Run {
    /// The row.
    pub row: RunRow,
    /// Metrics, params, tags.
    pub data: RunData,
}

impl Run {
    /// The run's name (tag `mlflow.runName`, else its id).
    pub fn name(&self) -> &str {
        self.tag("mlflow.runName").unwrap_or(&self.row.run_id)
    }

    /// A tag's value.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.data
            .tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Where MLflow clients find the run's artifacts (proxied through this server).
    pub fn artifact_uri(&self) -> String {
        format!(
            "mlflow-artifacts:/{}/{}/artifacts",
            self.row.experiment_id, self.row.run_id
        )
    }

    /// MLflow's Run JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let kv = |v: &[(String, String)]| -> Vec<serde_json::Value> {
            v.iter()
                .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
                .collect()
        };
        let mut info = serde_json::json!({
            "run_id": self.row.run_id, "run_uuid": self.row.run_id,
            "run_name": self.name(), "experiment_id": self.row.experiment_id.to_string(),
            "user_id": self.tag("mlflow.user").unwrap_or(""),
            "status": self.row.status, "start_time": self.row.start_ms,
            "artifact_uri": self.artifact_uri(), "lifecycle_stage": "active",
        });
        if let Some(end) = self.row.end_ms {
            info["end_time"] = end.into();
        }
        serde_json::json!({
            "info": info,
            "data": {
                "metrics": self.data.metrics.iter().map(Point::to_json).collect::<Vec<_>>(),
                "params": kv(&self.data.params),
                "tags": kv(&self.data.tags),
            },
            "inputs": {},
        })
    }
}

/// An artifact's metadata.
#[derive(Debug, Clone)]
pub struct ArtifactRow {
    /// Path under the run's artifacts.
    pub path: String,
    /// Bytes.
    pub size: i64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
}

/// A registered model version (an asset version made by promote).
#[derive(Debug, Clone)]
pub struct ModelVersion {
    /// The model's name.
    pub name: String,
    /// Version number, from 1.
    pub version: i64,
    /// The run it came from.
    pub run_id: String,
    /// Its experiment.
    pub experiment_id: i64,
    /// Artifact prefix within the run.
    pub prefix: String,
    /// When it was made, ms.
    pub created_ms: i64,
}

impl ModelVersion {
    /// MLflow's ModelVersion JSON; the source is the run's artifact prefix.
    pub fn to_json(&self) -> serde_json::Value {
        let source = if self.prefix.is_empty() {
            format!(
                "mlflow-artifacts:/{}/{}/artifacts",
                self.experiment_id, self.run_id
            )
        } else {
            format!(
                "mlflow-artifacts:/{}/{}/artifacts/{}",
                self.experiment_id, self.run_id, self.prefix
            )
        };
        serde_json::json!({
            "name": self.name, "version": self.version.to_string(),
            "creation_timestamp": self.created_ms, "last_updated_timestamp": self.created_ms,
            "current_stage": "None", "source": source, "run_id": self.run_id,
            "status": "READY", "description": "",
        })
    }
}

/// Milliseconds since the Unix epoch: [`runlog_core::host::now_ms`] as SQLite's integer.
pub fn now_ms() -> i64 {
    i64::try_from(runlog_core::host::now_ms()).unwrap_or(i64::MAX)
}

/// A new random run id: [`runlog_core::host::new_run_id`].
pub fn new_run_id() -> ApiResult<String> {
    Ok(runlog_core::host::new_run_id().as_str().to_owned())
}

/// Makes sure experiment id 0 exists, named "Default", as MLflow clients expect.
pub fn ensure_default_experiment(store: &Store) -> ApiResult<()> {
    store.conn().execute(
        "INSERT OR IGNORE INTO experiments (id, name, created_ms) VALUES (0, 'Default', ?1)",
        [now_ms()],
    )?;
    Ok(())
}

fn experiment_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Experiment> {
    Ok(Experiment {
        id: r.get(0)?,
        name: r.get(1)?,
        created_ms: r.get(2)?,
    })
}

/// The experiment called `name`.
pub fn experiment_by_name(c: &Connection, name: &str) -> ApiResult<Option<Experiment>> {
    Ok(c.query_row(
        "SELECT id, name, created_ms FROM experiments WHERE name = ?1",
        [name],
        experiment_from,
    )
    .optional()?)
}

/// The experiment with id `id` (MLflow's string form).
pub fn experiment_by_id(c: &Connection, id: &str) -> ApiResult<Experiment> {
    let n: i64 = id
        .parse()
        .map_err(|_| ApiError::invalid(format!("experiment_id {id:?} is not an experiment id")))?;
    c.query_row(
        "SELECT id, name, created_ms FROM experiments WHERE id = ?1",
        [n],
        experiment_from,
    )
    .optional()?
    .ok_or_else(|| ApiError::not_found(format!("no experiment with id {id}")))
}

/// All experiments, by id.
pub fn experiments(c: &Connection) -> ApiResult<Vec<Experiment>> {
    let mut st = c.prepare_cached("SELECT id, name, created_ms FROM experiments ORDER BY id")?;
    let rows = st.query_map([], experiment_from)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Creates an experiment; fails if the name is taken.
pub fn create_experiment(c: &Connection, name: &str) -> ApiResult<i64> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid("experiment name must not be empty"));
    }
    if experiment_by_name(c, name)?.is_some() {
        return Err(ApiError::exists(format!(
            "experiment {name:?} already exists"
        )));
    }
    c.execute(
        "INSERT INTO experiments (name, created_ms) VALUES (?1, ?2)",
        params![name, now_ms()],
    )?;
    Ok(c.last_insert_rowid())
}

fn run_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        pk: r.get(0)?,
        run_id: r.get(1)?,
        experiment_id: r.get(2)?,
        status: r.get(3)?,
        start_ms: r.get(4)?,
        end_ms: r.get(5)?,
        command: r.get(6)?,
        exit_code: r.get(7)?,
    })
}

const RUN_COLS: &str = "id, run_id, experiment_id, status, start_ms, end_ms, command, exit_code";

/// The run `run_id`, or RESOURCE_DOES_NOT_EXIST.
pub fn run_row(c: &Connection, run_id: &str) -> ApiResult<RunRow> {
    c.prepare_cached(&format!("SELECT {RUN_COLS} FROM runs WHERE run_id = ?1"))?
        .query_row([run_id], run_from)
        .optional()?
        .ok_or_else(|| ApiError::not_found(format!("run {run_id:?} not found")))
}

/// Runs of these experiments (all when empty), newest first.
pub fn run_rows(c: &Connection, experiment_ids: &[i64]) -> ApiResult<Vec<RunRow>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {RUN_COLS} FROM runs ORDER BY start_ms DESC, id DESC"
    ))?;
    let rows = st.query_map([], run_from)?;
    let mut out = Vec::new();
    for r in rows {
        let r = r?;
        if experiment_ids.is_empty() || experiment_ids.contains(&r.experiment_id) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Checks a status name.
pub fn check_status(s: &str) -> ApiResult<&str> {
    match s {
        "RUNNING" | "FINISHED" | "FAILED" | "KILLED" => Ok(s),
        "SCHEDULED" => Ok("RUNNING"),
        _ => Err(ApiError::invalid(format!(
            "status {s:?} is not one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED"
        ))),
    }
}

/// Creates a run in experiment `experiment_id` with these tags.
pub fn create_run(
    store: &mut Store,
    experiment_id: i64,
    start_ms: i64,
    tags: &[(String, String)],
) -> ApiResult<String> {
    for (k, v) in tags {
        check_key(k)?;
        check_len("tag value", v, MAX_TAG_LEN)?;
    }
    // A run uploaded by runlog keeps the id its program gave it, when free, so
    // `runlog history` shows the same id here as in the program's own store.
    let wanted = tags
        .iter()
        .find(|(k, _)| k == RUNLOG_RUN_ID_TAG)
        .map(|(_, v)| v.as_str())
        .filter(|v| runlog_core::rules::check_run_id(v).is_ok());
    let tx = immediate(store)?;
    // Checked inside the write transaction: of two uploaders of one
    // multi-node run creating it at once, the second joins the first's run
    // (docs/ranks.md) instead of making a second one.
    let existing = |w: &str| -> rusqlite::Result<bool> {
        tx.query_row("SELECT 1 FROM runs WHERE run_id = ?1", [w], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
    };
    let run_id = match wanted {
        Some(w) if existing(w)? => return Ok(w.to_string()),
        Some(w) => w.to_string(),
        None => new_run_id()?,
    };
    tx.execute(
        "INSERT INTO runs (run_id, experiment_id, status, start_ms) VALUES (?1, ?2, 'RUNNING', ?3)",
        params![run_id, experiment_id, start_ms],
    )?;
    let pk = tx.last_insert_rowid();
    for (k, v) in tags {
        tx.execute(
            "INSERT OR REPLACE INTO tags (run, key, value) VALUES (?1, ?2, ?3)",
            params![pk, k, v],
        )?;
    }
    tx.commit()?;
    Ok(run_id)
}

/// Sets a run's status and end time, and optionally its name.
pub fn update_run(
    store: &mut Store,
    run: &RunRow,
    status: Option<&str>,
    end_ms: Option<i64>,
    run_name: Option<&str>,
) -> ApiResult<()> {
    let tx = immediate(store)?;
    if let Some(s) = status {
        tx.execute(
            "UPDATE runs SET status = ?1 WHERE id = ?2",
            params![check_status(s)?, run.pk],
        )?;
    }
    if let Some(e) = end_ms {
        tx.execute(
            "UPDATE runs SET end_ms = ?1 WHERE id = ?2",
            params![e, run.pk],
        )?;
    }
    if let Some(n) = run_name {
        tx.execute(
            "INSERT OR REPLACE INTO tags (run, key, value) VALUES (?1, 'mlflow.runName', ?2)",
            params![run.pk, n],
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn immediate(store: &mut Store) -> ApiResult<Transaction<'_>> {
    Ok(store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?)
}

impl From<Scalar> for Num {
    fn from(v: Scalar) -> Self {
        match v {
            Scalar::I64(i) => Num::I64(i),
            Scalar::F64(f) => Num::F64(f),
        }
    }
}

/// A run's latest metrics, params and tags.
pub fn run_data(c: &Connection, run: &RunRow) -> ApiResult<RunData> {
    let mut data = RunData::default();
    let mut st = c.prepare_cached(
        "SELECT name, kind, last_value, last_step, last_ms FROM series WHERE run = ?1 ORDER BY name",
    )?;
    let mut rows = st.query([run.pk])?;
    let mut string_tags = Vec::new();
    while let Some(r) = rows.next()? {
        let name: String = r.get(0)?;
        let kind: ValueKind = r.get(1)?;
        let step: Option<i64> = r.get(3)?;
        let ts: i64 = r.get::<_, Option<i64>>(4)?.unwrap_or(run.start_ms);
        let (value, step) = match value::from_sql(kind, r.get_ref(2)?) {
            Some(MetricValue::I64(i)) => (Num::I64(i), step.unwrap_or(0)),
            Some(MetricValue::F64(f)) => (Num::F64(f), step.unwrap_or(0)),
            Some(MetricValue::F64List(l)) => match l.last() {
                Some(f) => (Num::F64(*f), l.len() as i64 - 1),
                None => continue,
            },
            Some(MetricValue::I64List(l)) => match l.last() {
                Some(i) => (Num::I64(*i), l.len() as i64 - 1),
                None => continue,
            },
            Some(MetricValue::Str(t)) => {
                string_tags.push((name, t));
                continue;
            }
            None => continue,
        };
        data.metrics.push(Point {
            key: name,
            value,
            timestamp: ts,
            step,
        });
    }
    drop(rows);
    let mut st = c.prepare_cached("SELECT key, value FROM params WHERE run = ?1 ORDER BY key")?;
    data.params = st
        .query_map([run.pk], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut st = c.prepare_cached("SELECT key, value FROM tags WHERE run = ?1 ORDER BY key")?;
    let mut tags: Vec<(String, String)> = st
        .query_map([run.pk], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (k, v) in string_tags {
        if !tags.iter().any(|(t, _)| *t == k) {
            tags.push((k, v));
        }
    }
    if let Some(cmd) = &run.command {
        tags.push(("runlog.command".into(), cmd.clone()));
    }
    if let Some(code) = run.exit_code {
        tags.push(("runlog.exit_code".into(), code.to_string()));
    }
    tags.sort();
    data.tags = tags;
    Ok(data)
}

/// The run `run_id` with its data.
pub fn run(c: &Connection, run_id: &str) -> ApiResult<Run> {
    let row = run_row(c, run_id)?;
    let data = run_data(c, &row)?;
    Ok(Run { row, data })
}

/// Every value of metric `key` of a run, in logging order; lists expand to steps 0..n-1.
/// Returns the points from `offset` on, at most `limit`, and whether more follow.
pub fn metric_history(
    c: &Connection,
    run: &RunRow,
    key: &str,
    offset: usize,
    limit: usize,
) -> ApiResult<(Vec<Point>, bool)> {
    let Some(series) = series::find(c, run.pk, key)? else {
        return Ok((Vec::new(), false));
    };
    let (numbers, more) = series::numbers(c, series, offset as u64, limit)
        .map_err(|e| ApiError::internal(format!("{e:#}")))?;
    let points = numbers
        .into_iter()
        .map(|n| Point {
            key: key.to_string(),
            value: n.value.into(),
            timestamp: n.time_ms,
            step: n.step,
        })
        .collect();
    Ok((points, more))
}

/// Checks an MLflow key (metric, param or tag name).
pub fn check_key(k: &str) -> ApiResult<()> {
    if k.is_empty() || k.len() > MAX_KEY_LEN {
        return Err(ApiError::invalid(format!(
            "key {k:?} must be 1 to {MAX_KEY_LEN} bytes long"
        )));
    }
    if k.split('/').any(|s| s == ".." || s == ".") || k.starts_with('/') {
        return Err(ApiError::invalid(format!(
            "key {k:?} is not allowed (no '.', '..' or leading '/' segments)"
        )));
    }
    Ok(())
}

fn check_len(what: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.len() > max {
        return Err(ApiError::invalid(format!(
            "{what} is {} bytes, over MLflow's limit of {max}",
            v.len()
        )));
    }
    Ok(())
}

/// A metric as it arrives in a request.
#[derive(Debug, Clone, Copy)]
pub struct MetricIn<'a> {
    /// Name.
    pub key: &'a str,
    /// Value.
    pub value: Num,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// Step.
    pub step: i64,
}

/// Logs metrics, params and tags into a run in one transaction (MLflow's
/// runs/log-batch, within its limits). Params are write-once: logging a
/// different value for a key fails; the same value again is fine.
pub fn log_batch(
    store: &mut Store,
    run: &RunRow,
    metrics: &[MetricIn<'_>],
    params_in: &[(&str, &str)],
    tags: &[(&str, &str)],
) -> ApiResult<()> {
    if metrics.len() > MAX_BATCH_METRICS {
        return Err(ApiError::invalid(format!(
            "a batch may hold at most {MAX_BATCH_METRICS} metrics; this one has {}",
            metrics.len()
        )));
    }
    if params_in.len() > MAX_BATCH_PARAMS {
        return Err(ApiError::invalid(format!(
            "a batch may hold at most {MAX_BATCH_PARAMS} params; this one has {}",
            params_in.len()
        )));
    }
    if tags.len() > MAX_BATCH_TAGS {
        return Err(ApiError::invalid(format!(
            "a batch may hold at most {MAX_BATCH_TAGS} tags; this one has {}",
            tags.len()
        )));
    }
    for m in metrics {
        check_key(m.key)?;
    }
    for (k, v) in params_in {
        check_key(k)?;
        check_len("param value", v, MAX_PARAM_LEN)?;
    }
    for (k, v) in tags {
        check_key(k)?;
        check_len("tag value", v, MAX_TAG_LEN)?;
    }
    let tx = immediate(store)?;
    if already_applied(&tx, run, tags)? {
        // A retry of a request whose answer was lost: applying it again
        // would log its metrics twice.
        return Ok(());
    }
    for (k, v) in params_in {
        let old: Option<String> = tx
            .prepare_cached("SELECT value FROM params WHERE run = ?1 AND key = ?2")?
            .query_row(params![run.pk, k], |r| r.get(0))
            .optional()?;
        match old {
            Some(o) if o == *v => {}
            Some(o) => {
                return Err(ApiError::invalid(format!(
                    "param {k:?} was already logged with value {o:?}; params cannot change (new value {v:?})"
                )))
            }
            None => {
                tx.prepare_cached("INSERT INTO params (run, key, value) VALUES (?1, ?2, ?3)")?
                    .execute(params![run.pk, k, v])?;
            }
        }
    }
    for (k, v) in tags {
        tx.prepare_cached("INSERT OR REPLACE INTO tags (run, key, value) VALUES (?1, ?2, ?3)")?
            .execute(params![run.pk, k, v])?;
    }
    if !metrics.is_empty() {
        append_metrics(&tx, run.pk, metrics)?;
    }
    tx.commit()?;
    Ok(())
}

/// Whether a request stamped with a runlog stream mark (see
/// `mlflow::sink`) was applied before: same sending session, and a position
/// at or before the one already recorded.
fn already_applied(tx: &Transaction<'_>, run: &RunRow, tags: &[(&str, &str)]) -> ApiResult<bool> {
    use crate::mlflow::protocol::{StreamMark, STREAM_TAG_PREFIX};
    for (k, v) in tags {
        if !k.starts_with(STREAM_TAG_PREFIX) {
            continue;
        }
        let Some(new) = StreamMark::parse(v) else {
            continue;
        };
        let old: Option<String> = tx
            .prepare_cached("SELECT value FROM tags WHERE run = ?1 AND key = ?2")?
            .query_row(params![run.pk, k], |r| r.get(0))
            .optional()?;
        if let Some(old) = old.as_deref().and_then(StreamMark::parse) {
            if old.session == new.session && (new.next_seq, new.part) <= (old.next_seq, old.part) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn append_metrics(tx: &Transaction<'_>, run: i64, metrics: &[MetricIn<'_>]) -> ApiResult<()> {
    let internal = |e: anyhow::Error| ApiError::internal(format!("{e:#}"));
    let mut points = Appender::new(tx, run).map_err(internal)?;
    for m in metrics {
        let value = match m.value {
            Num::I64(i) => MetricValue::I64(i),
            Num::F64(f) => MetricValue::F64(f),
        };
        points
            .push(tx, m.key, value, Some(m.step), m.timestamp)
            .map_err(internal)?;
    }
    points.finish(tx).map_err(internal)
}

/// Sets one tag.
pub fn set_tag(store: &mut Store, run: &RunRow, key: &str, value: &str) -> ApiResult<()> {
    log_batch(store, run, &[], &[], &[(key, value)])
}

/// A run's artifacts, by path.
pub fn artifacts(c: &Connection, run: &RunRow) -> ApiResult<Vec<ArtifactRow>> {
    let mut st =
        c.prepare_cached("SELECT path, size, sha256 FROM artifacts WHERE run = ?1 ORDER BY path")?;
    let rows = st.query_map([run.pk], |r| {
        Ok(ArtifactRow {
            path: r.get(0)?,
            size: r.get(1)?,
            sha256: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records (or replaces) an artifact's metadata once its file is in place.
pub fn record_artifact(
    c: &Connection,
    run: &RunRow,
    path: &str,
    size: u64,
    sha: &str,
) -> ApiResult<()> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO artifacts (run, path, size, sha256, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![run.pk, path, size as i64, sha, now_ms()])?;
    Ok(())
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Path relative to the run's artifact root.
    pub path: String,
    /// A directory (has entries below it).
    pub is_dir: bool,
    /// Size of a file.
    pub size: Option<i64>,
}

/// The immediate children of `dir` ("" for the root) among a run's artifacts.
pub fn list_dir(all: &[ArtifactRow], dir: &str) -> Vec<ListEntry> {
    let dir = dir.trim_matches('/');
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut out: Vec<ListEntry> = Vec::new();
    for a in all {
        let Some(rest) = a.path.strip_prefix(&prefix) else {
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        match rest.split_once('/') {
            Some((d, _)) => {
                let p = format!("{prefix}{d}");
                if !out.iter().any(|e| e.path == p) {
                    out.push(ListEntry {
                        path: p,
                        is_dir: true,
                        size: None,
                    });
                }
            }
            None => out.push(ListEntry {
                path: a.path.clone(),
                is_dir: false,
                size: Some(a.size),
            }),
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Creates a registered model (an asset) with no versions yet.
pub fn create_model(c: &Connection, name: &str) -> ApiResult<i64> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid("registered model name must not be empty"));
    }
    let existing: Option<i64> = c
        .query_row("SELECT id FROM assets WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?;
    if existing.is_some() {
        return Err(ApiError::exists(format!(
            "registered model {name:?} already exists"
        )));
    }
    let now = now_ms();
    c.execute(
        "INSERT INTO assets (name, created_ms) VALUES (?1, ?2)",
        params![name, now],
    )?;
    Ok(now)
}

/// A registered model's id and creation time.
pub fn model(c: &Connection, name: &str) -> ApiResult<(i64, i64)> {
    c.query_row(
        "SELECT id, created_ms FROM assets WHERE name = ?1",
        [name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?
    .ok_or_else(|| ApiError::not_found(format!("registered model {name:?} not found")))
}

/// Names of all registered models.
pub fn model_names(c: &Connection) -> ApiResult<Vec<String>> {
    let mut st = c.prepare_cached("SELECT name FROM assets ORDER BY name")?;
    let rows = st.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Makes version n+1 of model `name` from the artifacts of `run` under `prefix`.
pub fn create_model_version(
    store: &mut Store,
    name: &str,
    run: &RunRow,
    prefix: &str,
) -> ApiResult<ModelVersion> {
    let (asset, _) = model(store.conn(), name)?;
    let prefix = prefix.trim_matches('/').to_string();
    let files: Vec<ArtifactRow> = artifacts(store.conn(), run)?
        .into_iter()
        .filter(|a| {
            prefix.is_empty() || a.path == prefix || a.path.starts_with(&format!("{prefix}/"))
        })
        .collect();
    if files.is_empty() {
        return Err(ApiError::invalid(format!(
            "run {} has no artifacts under {prefix:?}",
            run.run_id
        )));
    }
    let now = now_ms();
    let tx = immediate(store)?;
    let version: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM asset_versions WHERE asset = ?1",
        [asset],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO asset_versions (asset, version, run, prefix, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![asset, version, run.pk, prefix, now],
    )?;
    for f in &files {
        tx.execute(
            "INSERT INTO asset_files (asset, version, path, size, sha256) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![asset, version, f.path, f.size, f.sha256],
        )?;
    }
    tx.commit()?;
    Ok(ModelVersion {
        name: name.to_string(),
        version,
        run_id: run.run_id.clone(),
        experiment_id: run.experiment_id,
        prefix,
        created_ms: now,
    })
}

/// Versions of model `name` (all models when `None`), oldest first.
pub fn model_versions(c: &Connection, name: Option<&str>) -> ApiResult<Vec<ModelVersion>> {
    let mut st = c.prepare_cached(
        "SELECT a.name, v.version, r.run_id, r.experiment_id, v.prefix, v.created_ms
         FROM asset_versions v JOIN assets a ON a.id = v.asset JOIN runs r ON r.id = v.run
         ORDER BY a.name, v.version",
    )?;
    let rows = st.query_map([], |r| {
        Ok(ModelVersion {
            name: r.get(0)?,
            version: r.get(1)?,
            run_id: r.get(2)?,
            experiment_id: r.get(3)?,
            prefix: r.get(4)?,
            created_ms: r.get(5)?,
        })
    })?;
    let mut out = Vec::new();
    for v in rows {
        let v = v?;
        if name.is_none_or(|n| n == v.name) {
            out.push(v);
        }
    }
    Ok(out)
}

/// How far a run has got: its `next_ord` (which grows with every value
/// stored into it) and its status. One primary-key lookup: the live feed
/// polls it.
pub fn run_progress(c: &Connection, run: &RunRow) -> ApiResult<(i64, String)> {
    Ok(
        c.prepare_cached("SELECT next_ord, status FROM runs WHERE id = ?1")?
            .query_row([run.pk], |r| Ok((r.get(0)?, r.get(1)?)))?,
    )
}

/// A run's series: id and name.
pub fn series_of(c: &Connection, run: &RunRow) -> ApiResult<Vec<(i64, String)>> {
    let mut st = c.prepare_cached("SELECT id, name FROM series WHERE run = ?1 ORDER BY id")?;
    let rows = st.query_map([run.pk], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The index the next value of a series will get: how many points its chunks hold.
pub fn series_end(c: &Connection, series: i64) -> ApiResult<i64> {
    Ok(
        c.prepare_cached("SELECT COALESCE(SUM(count), 0) FROM chunks WHERE series = ?1")?
            .query_row([series], |r| r.get(0))?,
    )
}

/// The numeric points of series `series` (named `key`) stored at index
/// `from` or later, at most `limit` stored values (lists expand to steps
/// 0..n-1); returns them and the index to continue from.
pub fn series_tail(
    c: &Connection,
    series: i64,
    key: &str,
    from: i64,
    limit: usize,
) -> ApiResult<(Vec<Point>, i64)> {
    let from = from.max(0);
    let (stored, _) = series::points(c, series, from as u64, limit)
        .map_err(|e| ApiError::internal(format!("{e:#}")))?;
    let next = from + stored.len() as i64;
    let mut out = Vec::new();
    for p in stored {
        let point = |step, value: Num| Point {
            key: key.to_string(),
            value,
            timestamp: p.time_ms,
            step,
        };
        match &p.value {
            MetricValue::I64(i) => out.push(point(p.step, Num::I64(*i))),
            MetricValue::F64(f) => out.push(point(p.step, Num::F64(*f))),
            MetricValue::Str(_) => {}
            MetricValue::F64List(l) => out.extend(
                l.iter()
                    .enumerate()
                    .map(|(i, f)| point(i as i64, Num::F64(*f))),
            ),
            MetricValue::I64List(l) => out.extend(
                l.iter()
                    .enumerate()
                    .map(|(i, v)| point(i as i64, Num::I64(*v))),
            ),
        }
    }
    Ok((out, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Store, RunRow) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        ensure_default_experiment(&store).unwrap();
        let tags = vec![(RUNLOG_RUN_ID_TAG.to_string(), "my-run".to_string())];
        let id = create_run(&mut store, 0, 1, &tags).unwrap();
        assert_eq!(id, "my-run", "runlog's own run id is kept");
        let row = run_row(store.conn(), &id).unwrap();
        (dir, store, row)
    }

    fn m(key: &str, value: Num, step: i64) -> MetricIn<'_> {
        MetricIn {
            key,
            value,
            timestamp: 5,
            step,
        }
    }

    #[test]
    fn a_retried_request_is_applied_once_per_session() {
        let (_d, mut store, run) = setup();
        let key = crate::mlflow::protocol::stream_tag("ring-1");
        let batch = [m("x", Num::I64(1), 0), m("x", Num::I64(2), 1)];
        let send = |store: &mut Store, seq: u64, part: u64, session: &str| {
            let mark = crate::mlflow::protocol::StreamMark {
                next_seq: seq,
                part,
                done: true,
                session,
            }
            .format();
            log_batch(store, &run, &batch, &[], &[(key.as_str(), mark.as_str())]).unwrap();
        };
        let count = |store: &Store| {
            metric_history(store.conn(), &run, "x", 0, 100)
                .unwrap()
                .0
                .len()
        };
        send(&mut store, 10, 0, "a");
        assert_eq!(count(&store), 2);
        send(&mut store, 10, 0, "a");
        assert_eq!(count(&store), 2, "the same request again is dropped");
        send(&mut store, 10, 1, "a");
        assert_eq!(count(&store), 4, "the next part is applied");
        send(&mut store, 10, 0, "b");
        assert_eq!(
            count(&store),
            6,
            "another session is never dropped (at least once)"
        );
    }

    #[test]
    fn integers_stay_exact_and_lists_expand() {
        let (_d, mut store, run) = setup();
        let big = 9_007_199_254_740_993i64;
        log_batch(
            &mut store,
            &run,
            &[m("n", Num::I64(big), 0), m("f", Num::F64(f64::NAN), 0)],
            &[],
            &[],
        )
        .unwrap();
        let data = run_data(store.conn(), &run).unwrap();
        let n = data.metrics.iter().find(|p| p.key == "n").unwrap();
        assert_eq!(n.value, Num::I64(big));
        assert_eq!(n.value.to_json().to_string(), "9007199254740993");
        let f = data.metrics.iter().find(|p| p.key == "f").unwrap();
        assert_eq!(f.value.to_json(), serde_json::json!("NaN"));
        // A list series written by the drain: one metric, steps 0..n-1.
        let tx = store.conn_mut().transaction().unwrap();
        let mut points = Appender::new(&tx, run.pk).unwrap();
        points
            .push(
                &tx,
                "l",
                MetricValue::F64List(vec![1.5, 2.5, 3.5]),
                Some(0),
                7,
            )
            .unwrap();
        points.finish(&tx).unwrap();
        tx.commit().unwrap();
        let (h, more) = metric_history(store.conn(), &run, "l", 0, 2).unwrap();
        assert!(more);
        assert_eq!(
            h.iter().map(|p| (p.step, p.value)).collect::<Vec<_>>(),
            vec![(0, Num::F64(1.5)), (1, Num::F64(2.5))]
        );
        let data = run_data(store.conn(), &run).unwrap();
        let l = data.metrics.iter().find(|p| p.key == "l").unwrap();
        assert_eq!((l.step, l.value), (2, Num::F64(3.5)));
    }

    #[test]
    fn batch_limits_and_params_are_enforced() {
        let (_d, mut store, run) = setup();
        let many: Vec<MetricIn<'_>> = (0..1001).map(|i| m("x", Num::I64(i), i)).collect();
        let e = log_batch(&mut store, &run, &many, &[], &[]).unwrap_err();
        assert!(e.message.contains("at most 1000 metrics"), "{e}");
        assert_eq!(
            metric_history(store.conn(), &run, "x", 0, 10)
                .unwrap()
                .0
                .len(),
            0
        );
        log_batch(&mut store, &run, &[], &[("lr", "0.1")], &[]).unwrap();
        log_batch(&mut store, &run, &[], &[("lr", "0.1")], &[]).unwrap();
        let e = log_batch(&mut store, &run, &[], &[("lr", "0.2")], &[]).unwrap_err();
        assert_eq!(e.code, "INVALID_PARAMETER_VALUE");
    }

    #[test]
    fn listing_shows_one_level() {
        let a = |p: &str| ArtifactRow {
            path: p.into(),
            size: 1,
            sha256: String::new(),
        };
        let all = [a("a.txt"), a("d/b.txt"), a("d/e/c.txt")];
        let paths = |dir| {
            list_dir(&all, dir)
                .into_iter()
                .map(|e| (e.path, e.is_dir))
                .collect::<Vec<_>>()
        };
        assert_eq!(paths(""), vec![("a.txt".into(), false), ("d".into(), true)]);
        assert_eq!(
            paths("d"),
            vec![("d/b.txt".into(), false), ("d/e".into(), true)]
        );
    }
}
