//! The store, seen as MLflow sees it: `runlog serve`'s side of the typed
//! repository (`store::repo`). What is here is MLflow's, not SQL: its
//! limits and key rules, its error codes (a missing row is
//! RESOURCE_DOES_NOT_EXIST), which writes go together in one transaction,
//! and the paging of metric histories. The JSON shapes are
//! `crate::protocol::json`.

use rusqlite::{Transaction, TransactionBehavior};

use super::error::{ApiError, ApiResult};
use crate::store::repo::{self, params::ParamWrite};
use crate::store::series::{self, Appender};
use crate::store::value::MetricValue;
use crate::store::Store;

pub use crate::protocol::json::{Num, Point, Run, RunData};
pub use crate::protocol::{
    MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS, MAX_KEY_LEN, MAX_PARAM_LEN, MAX_TAG_LEN,
    RUNLOG_RUN_ID_TAG,
};
pub use crate::store::repo::artifacts::ArtifactRow;
pub use crate::store::repo::experiments::Experiment;
pub use crate::store::repo::models::ModelVersion;
pub use crate::store::repo::runs::RunRow;

/// Milliseconds since the Unix epoch: [`runlog_core::host::now_ms`] as SQLite's integer.
pub fn now_ms() -> i64 {
    repo::sql_i64(runlog_core::host::now_ms())
}

/// A new random run id: [`runlog_core::host::new_run_id`].
pub fn new_run_id() -> ApiResult<String> {
    Ok(runlog_core::host::new_run_id().as_str().to_owned())
}

/// Makes sure experiment id 0 exists, named "Default", as MLflow clients expect.
pub fn ensure_default_experiment(store: &Store) -> ApiResult<()> {
    Ok(repo::experiments::ensure_default(store.conn(), now_ms())?)
}

/// The experiment called `name`.
pub fn experiment_by_name(c: &rusqlite::Connection, name: &str) -> ApiResult<Option<Experiment>> {
    Ok(repo::experiments::by_name(c, name)?)
}

/// The experiment with id `id` (MLflow's string form).
pub fn experiment_by_id(c: &rusqlite::Connection, id: &str) -> ApiResult<Experiment> {
    let n: i64 = id
        .parse()
        .map_err(|_| ApiError::invalid(format!("experiment_id {id:?} is not an experiment id")))?;
    repo::experiments::by_id(c, n)?
        .ok_or_else(|| ApiError::not_found(format!("no experiment with id {id}")))
}

/// All experiments, by id.
pub fn experiments(c: &rusqlite::Connection) -> ApiResult<Vec<Experiment>> {
    Ok(repo::experiments::all(c)?)
}

/// Creates an experiment; fails if the name is taken.
pub fn create_experiment(c: &rusqlite::Connection, name: &str) -> ApiResult<i64> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid("experiment name must not be empty"));
    }
    // One statement decides: a check by name first raced with concurrent
    // creators into a UNIQUE failure (HTTP 500).
    repo::experiments::create(c, name, now_ms())?
        .ok_or_else(|| ApiError::exists(format!("experiment {name:?} already exists")))
}

/// The run `run_id`, or RESOURCE_DOES_NOT_EXIST.
pub fn run_row(c: &rusqlite::Connection, run_id: &str) -> ApiResult<RunRow> {
    repo::runs::by_run_id(c, run_id)?
        .ok_or_else(|| ApiError::not_found(format!("run {run_id:?} not found")))
}

/// Runs of these experiments (all when empty), newest first.
pub fn run_rows(c: &rusqlite::Connection, experiment_ids: &[i64]) -> ApiResult<Vec<RunRow>> {
    let mut out = repo::runs::all(c)?;
    out.retain(|r| experiment_ids.is_empty() || experiment_ids.contains(&r.experiment_id));
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
    let run_id = match wanted {
        Some(w) if repo::runs::key_of(&tx, w)?.is_some() => return Ok(w.to_string()),
        Some(w) => w.to_string(),
        None => new_run_id()?,
    };
    let pk = repo::runs::insert(&tx, &run_id, experiment_id, start_ms, None)?;
    for (k, v) in tags {
        repo::params::set_tag(&tx, pk, k, v)?;
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
        repo::runs::set_status(&tx, run.pk, check_status(s)?)?;
    }
    if let Some(e) = end_ms {
        repo::runs::set_end_ms(&tx, run.pk, e)?;
    }
    if let Some(n) = run_name {
        repo::params::set_tag(&tx, run.pk, "mlflow.runName", n)?;
    }
    tx.commit()?;
    Ok(())
}

fn immediate(store: &mut Store) -> ApiResult<Transaction<'_>> {
    Ok(store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?)
}

/// A run's latest metrics, params and tags.
pub fn run_data(c: &rusqlite::Connection, run: &RunRow) -> ApiResult<RunData> {
    Ok(RunData::from_store(
        run,
        repo::metrics::latest(c, run.pk)?,
        repo::params::params_of(c, run.pk)?,
        repo::params::tags_of(c, run.pk)?,
    ))
}

/// The run `run_id` with its data.
pub fn run(c: &rusqlite::Connection, run_id: &str) -> ApiResult<Run> {
    let row = run_row(c, run_id)?;
    let data = run_data(c, &row)?;
    Ok(Run { row, data })
}

/// Every value of metric `key` of a run, in logging order; lists expand to steps 0..n-1.
/// Returns the points from `offset` on, at most `limit`, and whether more follow.
pub fn metric_history(
    c: &rusqlite::Connection,
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

/// Checks a param or tag value against MLflow's limit, which counts
/// characters (as the C API and the drain do, through the same constants).
fn check_len(what: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.len() > max && v.chars().count() > max {
        return Err(ApiError::invalid(format!(
            "{what} is {} characters, over MLflow's limit of {max}",
            v.chars().count()
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
        if let ParamWrite::Refused(o) = repo::params::put_param(&tx, run.pk, k, v)? {
            // Dropping `tx` rolls back what this batch wrote so far.
            return Err(ApiError::invalid(format!(
                "param {k:?} was already logged with value {o:?}; params cannot change (new value {v:?})"
            )));
        }
    }
    for (k, v) in tags {
        repo::params::set_tag(&tx, run.pk, k, v)?;
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
    use crate::protocol::{StreamMark, STREAM_TAG_PREFIX};
    for (k, v) in tags {
        if !k.starts_with(STREAM_TAG_PREFIX) {
            continue;
        }
        let Some(new) = StreamMark::parse(v) else {
            continue;
        };
        let old = repo::params::tag(tx, run.pk, k)?;
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
pub fn artifacts(c: &rusqlite::Connection, run: &RunRow) -> ApiResult<Vec<ArtifactRow>> {
    Ok(repo::artifacts::of_run(c, run.pk)?)
}

/// Records (or replaces) an artifact's metadata once its file is in place.
pub fn record_artifact(
    c: &rusqlite::Connection,
    run: &RunRow,
    path: &str,
    size: u64,
    sha: &str,
) -> ApiResult<()> {
    let size = repo::sql_i64(size);
    Ok(repo::artifacts::record(
        c,
        run.pk,
        path,
        size,
        sha,
        now_ms(),
    )?)
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

/// Creates a registered model (an asset) with no versions yet; returns its creation time.
pub fn create_model(c: &rusqlite::Connection, name: &str) -> ApiResult<i64> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid("registered model name must not be empty"));
    }
    let now = now_ms();
    match repo::models::create(c, name, now)? {
        Some(_) => Ok(now),
        None => Err(ApiError::exists(format!(
            "registered model {name:?} already exists"
        ))),
    }
}

/// A registered model's id and creation time.
pub fn model(c: &rusqlite::Connection, name: &str) -> ApiResult<(i64, i64)> {
    repo::models::by_name(c, name)?
        .ok_or_else(|| ApiError::not_found(format!("registered model {name:?} not found")))
}

/// Names of all registered models.
pub fn model_names(c: &rusqlite::Connection) -> ApiResult<Vec<String>> {
    Ok(repo::models::names(c)?)
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
    let version = repo::models::next_version(&tx, asset)?;
    repo::models::insert_version(&tx, asset, version, run.pk, &prefix, now)?;
    for f in &files {
        repo::models::insert_file(&tx, asset, version, &f.path, f.size, &f.sha256)?;
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
pub fn model_versions(
    c: &rusqlite::Connection,
    name: Option<&str>,
) -> ApiResult<Vec<ModelVersion>> {
    let mut out = repo::models::versions(c)?;
    out.retain(|v| name.is_none_or(|n| n == v.name));
    Ok(out)
}

/// How far a run has got: its `next_ord` (which grows with every value
/// stored into it) and its status. One primary-key lookup: the live feed
/// polls it.
pub fn run_progress(c: &rusqlite::Connection, run: &RunRow) -> ApiResult<(i64, String)> {
    Ok(repo::runs::progress(c, run.pk)?)
}

/// A run's series: id and name.
pub fn series_of(c: &rusqlite::Connection, run: &RunRow) -> ApiResult<Vec<(i64, String)>> {
    Ok(repo::metrics::series_of(c, run.pk)?)
}

/// The index the next value of a series will get: how many points its chunks hold.
pub fn series_end(c: &rusqlite::Connection, series: i64) -> ApiResult<i64> {
    Ok(repo::metrics::series_end(c, series)?)
}

/// The numeric points of series `series` (named `key`) stored at index
/// `from` or later, at most `limit` stored values (lists expand to steps
/// 0..n-1); returns them and the index to continue from.
pub fn series_tail(
    c: &rusqlite::Connection,
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
        Point::expand(key, &p.value, p.step, p.time_ms, &mut out);
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
        let key = crate::protocol::stream_tag("ring-1");
        let batch = [m("x", Num::I64(1), 0), m("x", Num::I64(2), 1)];
        let send = |store: &mut Store, seq: u64, part: u64, session: &str| {
            let mark = crate::protocol::StreamMark {
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
