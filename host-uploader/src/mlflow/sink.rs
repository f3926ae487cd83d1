//! [`HttpSink`]: drained batches sent to an MLflow tracking server.
//!
//! Mapping (DESIGN.md): integers and floats are metrics (integers sent as
//! JSON integer literals, so `runlog serve` keeps them exact), a list is one
//! metric with steps 0..n-1, a string is a tag, an artifact is a file PUT
//! through the server's `mlflow-artifacts` proxy, the run end is
//! runs/update. Requests stay within MLflow's log-batch limits.
//!
//! The server assigns run ids, so a run is found again by its
//! `runlog.run_id` tag (`runlog serve` also reuses that id as the run's own).
//!
//! Delivery is at least once: [`Sink::commit`] returns `Ok` only after every
//! request of the batch got a 200, so the drain acknowledges the ring only
//! then; the client retries through outages. Each log-batch request also
//! carries the tag `runlog.stream.<hash>` = `next_seq:part:done:session`.
//! On any server it is a durable watermark ([`Sink::watermark`] reads it);
//! `runlog serve` also uses it to drop a request it already applied (a retry
//! whose first answer was lost), which makes delivery into its store exactly
//! once while this process lives.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::client::{is_already_exists, is_not_found, Client};
use super::protocol::{
    self, MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS, RUNLOG_RUN_ID_TAG,
};
pub use super::protocol::{stream_tag, StreamMark, STREAM_TAG_PREFIX};
use crate::sink::{param_conflict_tag, ArtifactContent, Batch, Item, MetricValue, RunRef, Sink};

/// What the sink knows of a run on the server.
#[derive(Debug, Clone)]
struct Remote {
    id: String,
    artifact_uri: String,
    /// Next automatic step of each scalar metric.
    next_step: HashMap<String, i64>,
    /// The run's params on the server: a key is sent once, with its first value.
    params: HashMap<String, String>,
    dropped: u64,
    lost_frames: u64,
    lost_records: u64,
    has_command: bool,
}

/// Sends batches to an MLflow tracking server.
#[derive(Debug)]
pub struct HttpSink {
    client: Client,
    experiments: HashMap<String, String>,
    runs: HashMap<String, Remote>,
    session: String,
}

fn now_ms() -> i64 {
    i64::try_from(runlog_core::host::now_ms()).unwrap_or(i64::MAX)
}

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn tag_of(run: &Value, key: &str) -> Option<String> {
    run["data"]["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .and_then(|t| t["value"].as_str().map(str::to_string))
}

/// Appends one metric as MLflow JSON ([`protocol::json::write_metric`]).
pub(crate) fn push_metric(out: &mut String, key: &str, value: MetricNum, ts: i64, step: i64) {
    let value = match value {
        MetricNum::I(i) => protocol::json::Num::I64(i),
        MetricNum::F(f) => protocol::json::Num::F64(f),
    };
    protocol::json::write_metric(out, key, value, ts, step);
}

/// A metric's number as sent: integers as JSON integer literals.
#[derive(Clone, Copy)]
pub(crate) enum MetricNum {
    /// An integer.
    I(i64),
    /// A float (NaN and infinities as MLflow's strings).
    F(f64),
}

/// One log-batch request being filled.
struct Pending {
    metrics: String,
    n_metrics: usize,
    params: Vec<(String, String)>,
    tags: Vec<(String, String)>,
}

impl Pending {
    fn new() -> Self {
        Self {
            metrics: String::new(),
            n_metrics: 0,
            params: Vec::new(),
            tags: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.n_metrics == 0 && self.tags.is_empty() && self.params.is_empty()
    }
}

impl HttpSink {
    /// A sink sending to `client`'s server.
    pub fn new(client: Client) -> Result<Self> {
        let session = runlog_core::host::new_run_id().as_str()[..12].to_string();
        Ok(Self {
            client,
            experiments: HashMap::new(),
            runs: HashMap::new(),
            session,
        })
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn experiment_id(&mut self, name: &str) -> Result<String> {
        experiment_id(&self.client, &mut self.experiments, name)
    }

    fn all_experiment_ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let mut token = String::new();
        loop {
            let mut body = json!({ "max_results": 1000 });
            if !token.is_empty() {
                body["page_token"] = token.clone().into();
            }
            let v = self.client.post("experiments/search", &body)?;
            for e in v["experiments"].as_array().into_iter().flatten() {
                if let Some(id) = e["experiment_id"].as_str() {
                    ids.push(id.to_string());
                }
            }
            match v["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => token = t.to_string(),
                _ => return Ok(ids),
            }
        }
    }

    /// Runs whose tag `key` matches `cond` (an MLflow filter comparison), in `experiments`.
    fn search_by_tag(&self, experiments: &[String], key: &str, cond: &str) -> Result<Vec<Value>> {
        if experiments.is_empty() {
            return Ok(Vec::new());
        }
        let v = self.client.post(
            "runs/search",
            &json!({
                "experiment_ids": experiments,
                "filter": format!("tags.`{key}` {cond}"),
                "max_results": 10,
            }),
        )?;
        Ok(v["runs"].as_array().cloned().unwrap_or_default())
    }

    fn find_run(&self, experiments: &[String], run_id: &str) -> Result<Option<Value>> {
        Ok(self
            .search_by_tag(
                experiments,
                RUNLOG_RUN_ID_TAG,
                &format!("= {}", quote(run_id)),
            )?
            .into_iter()
            .next())
    }

    fn remote_from(run: &Value) -> Remote {
        let mut next_step = HashMap::new();
        for m in run["data"]["metrics"].as_array().into_iter().flatten() {
            if let (Some(k), Some(s)) = (m["key"].as_str(), m["step"].as_i64()) {
                next_step.insert(k.to_string(), s + 1);
            }
        }
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
        let count = |k: &str| tag_of(run, k).and_then(|v| v.parse().ok()).unwrap_or(0);
        Remote {
            id: run["info"]["run_id"].as_str().unwrap_or("").to_string(),
            artifact_uri: run["info"]["artifact_uri"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            next_step,
            params,
            dropped: count("runlog.dropped"),
            lost_frames: count("runlog.lost_frames"),
            lost_records: count("runlog.lost_records"),
            has_command: tag_of(run, "runlog.command").is_some(),
        }
    }

    /// The server's run for `run`, created (with its experiment) if needed.
    fn remote(&mut self, run: &RunRef, start_ms: Option<u64>) -> Result<Remote> {
        if let Some(r) = self.runs.get(&run.run_id) {
            return Ok(r.clone());
        }
        let exp = self.experiment_id(&run.experiment)?;
        let found = self.find_run(std::slice::from_ref(&exp), &run.run_id)?;
        let value = match found {
            Some(v) => v,
            None => {
                let start = start_ms.map_or_else(now_ms, |t| t as i64);
                self.client.post(
                    "runs/create",
                    &json!({
                        "experiment_id": exp,
                        "start_time": start,
                        "run_name": run.run_id,
                        "tags": [{ "key": RUNLOG_RUN_ID_TAG, "value": run.run_id }],
                    }),
                )?["run"]
                    .clone()
            }
        };
        let remote = Self::remote_from(&value);
        if remote.id.is_empty() {
            bail!(
                "the server did not say which run it created for {}",
                run.run_id
            );
        }
        self.runs.insert(run.run_id.clone(), remote.clone());
        Ok(remote)
    }

    fn send(
        &self,
        remote: &Remote,
        p: &mut Pending,
        mark: Option<(&str, StreamMark<'_>)>,
    ) -> Result<()> {
        let mut body = String::with_capacity(p.metrics.len() + 256);
        body.push_str("{\"run_id\":");
        body.push_str(&serde_json::to_string(&remote.id)?);
        body.push_str(",\"metrics\":[");
        body.push_str(&p.metrics);
        body.push_str("],\"params\":");
        let params: Vec<Value> = p
            .params
            .iter()
            .map(|(k, v)| json!({ "key": k, "value": v }))
            .collect();
        body.push_str(&serde_json::to_string(&params)?);
        body.push_str(",\"tags\":");
        let mut tags: Vec<Value> = p
            .tags
            .iter()
            .map(|(k, v)| json!({ "key": k, "value": v }))
            .collect();
        if let Some((key, m)) = mark {
            tags.push(json!({ "key": key, "value": m.format() }));
        }
        body.push_str(&serde_json::to_string(&tags)?);
        body.push('}');
        self.client
            .post_raw("runs/log-batch", body.as_bytes())
            .context("cannot log a batch of metrics")?;
        *p = Pending::new();
        Ok(())
    }

    fn commit_inner(&mut self, batch: &Batch, remote: &mut Remote) -> Result<()> {
        let stream = batch
            .stream
            .as_ref()
            .map(|s| (stream_tag(&s.key), s.next_seq));
        let session = self.session.clone();
        let mut part = 0u64;
        let mut p = Pending::new();
        // Sends `p`, stamped with the stream mark of request `part`.
        macro_rules! flush {
            ($done:expr) => {{
                let mark = stream.as_ref().map(|(key, seq)| {
                    (
                        key.as_str(),
                        StreamMark {
                            next_seq: *seq,
                            part,
                            done: $done,
                            session: &session,
                        },
                    )
                });
                if !p.is_empty() || mark.is_some() {
                    self.send(remote, &mut p, mark)?;
                    part += 1;
                }
            }};
        }
        let tag_room = MAX_BATCH_TAGS - 1;
        for item in &batch.items {
            match item {
                Item::RunStart { command, .. } => {
                    if let (Some(cmd), false) = (command, remote.has_command) {
                        p.tags.push(("runlog.command".into(), cmd.clone()));
                        remote.has_command = true;
                    }
                }
                Item::Metric(m) => {
                    let ts = m.time_ms.map_or_else(now_ms, |t| t as i64);
                    let name: &str = &m.name;
                    let mut scalar = |p: &mut Pending, v: MetricNum| {
                        let next = remote.next_step.entry(name.to_string()).or_insert(0);
                        let step = m.step.map_or(*next, |s| s as i64);
                        *next = step + 1;
                        push_metric_to(p, name, v, ts, step);
                    };
                    match &m.value {
                        MetricValue::I64(v) => scalar(&mut p, MetricNum::I(*v)),
                        MetricValue::F64(v) => scalar(&mut p, MetricNum::F(*v)),
                        MetricValue::Str(s) => p.tags.push((name.to_string(), s.clone())),
                        MetricValue::F64List(l) => {
                            for (i, v) in l.iter().enumerate() {
                                push_metric_to(&mut p, name, MetricNum::F(*v), ts, i as i64);
                                if p.n_metrics == MAX_BATCH_METRICS {
                                    flush!(false);
                                }
                            }
                        }
                        MetricValue::I64List(l) => {
                            for (i, v) in l.iter().enumerate() {
                                push_metric_to(&mut p, name, MetricNum::I(*v), ts, i as i64);
                                if p.n_metrics == MAX_BATCH_METRICS {
                                    flush!(false);
                                }
                            }
                        }
                    }
                }
                Item::Artifact(a) => {
                    flush!(false);
                    let url = self.client.artifact_url(&remote.artifact_uri, &a.path)?;
                    match &a.content {
                        ArtifactContent::Bytes(b) => self.client.put_bytes(&url, b),
                        ArtifactContent::File { path, .. } => self.client.put_file(&url, path),
                    }
                    .with_context(|| format!("cannot upload artifact {}", a.path))?;
                }
                Item::RunEnd {
                    status,
                    time_ms,
                    exit_code,
                } => {
                    if let Some(code) = exit_code {
                        p.tags.push(("runlog.exit_code".into(), code.to_string()));
                    }
                    flush!(false);
                    let end = time_ms.map_or_else(now_ms, |t| t as i64);
                    self.client
                        .post(
                            "runs/update",
                            &json!({
                                "run_id": remote.id, "run_uuid": remote.id,
                                "status": crate::store::status_str(*status), "end_time": end,
                            }),
                        )
                        .context("cannot record the run's end")?;
                }
                Item::Param { key, value } => match remote.params.get(key) {
                    None => {
                        remote.params.insert(key.clone(), value.clone());
                        p.params.push((key.clone(), value.clone()));
                    }
                    Some(first) if first == value => {}
                    Some(first) => {
                        eprintln!(
                            "runlog: warning: param {key:?} already has the value {first:?} on the \
                             server; kept it and refused {value:?} (tag {})",
                            param_conflict_tag(key)
                        );
                        p.tags.push((param_conflict_tag(key), value.clone()));
                    }
                },
                Item::Tag { key, value } => p.tags.push((key.clone(), value.clone())),
                Item::Dropped(n) => {
                    remote.dropped += n;
                    p.tags
                        .push(("runlog.dropped".into(), remote.dropped.to_string()));
                }
                Item::Lost { frames, records } => {
                    remote.lost_frames += frames;
                    remote.lost_records += records;
                    p.tags
                        .push(("runlog.lost_frames".into(), remote.lost_frames.to_string()));
                    p.tags.push((
                        "runlog.lost_records".into(),
                        remote.lost_records.to_string(),
                    ));
                }
            }
            if p.n_metrics >= MAX_BATCH_METRICS
                || p.tags.len() >= tag_room - 1
                || p.params.len() >= MAX_BATCH_PARAMS
            {
                flush!(false);
            }
        }
        // The last request carries the batch's watermark (done = 1).
        flush!(true);
        let _requests = part;
        Ok(())
    }
}

/// The id of experiment `name` on `client`'s server (empty: `default`),
/// created if it does not exist; `cache` remembers ids already known.
pub(crate) fn experiment_id(
    client: &Client,
    cache: &mut HashMap<String, String>,
    name: &str,
) -> Result<String> {
    let name = if name.is_empty() { "default" } else { name };
    if let Some(id) = cache.get(name) {
        return Ok(id.clone());
    }
    let by_name = || client.get("experiments/get-by-name", &[("experiment_name", name)]);
    let id = match by_name() {
        Ok(v) => v["experiment"]["experiment_id"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        Err(e) if is_not_found(&e) => {
            match client.post("experiments/create", &json!({ "name": name })) {
                Ok(v) => v["experiment_id"].as_str().unwrap_or("").to_string(),
                // Someone else created it meanwhile.
                Err(e) if is_already_exists(&e) => by_name()?["experiment"]["experiment_id"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    if id.is_empty() {
        bail!("the server gave no id for experiment {name:?}");
    }
    cache.insert(name.to_string(), id.clone());
    Ok(id)
}

fn push_metric_to(p: &mut Pending, key: &str, v: MetricNum, ts: i64, step: i64) {
    if p.n_metrics > 0 {
        p.metrics.push(',');
    }
    push_metric(&mut p.metrics, key, v, ts, step);
    p.n_metrics += 1;
}

impl Sink for HttpSink {
    fn watermark(&mut self, stream: &str) -> Result<Option<u64>> {
        let key = stream_tag(stream);
        let exps = self.all_experiment_ids()?;
        let runs = self.search_by_tag(&exps, &key, "LIKE '%'")?;
        let mut best: Option<u64> = None;
        for r in &runs {
            if let Some(v) = tag_of(r, &key) {
                // A batch whose last request never arrived says nothing about
                // its records; only completed batches count.
                if let Some(m) = StreamMark::parse(&v).filter(|m| m.done) {
                    best = Some(best.map_or(m.next_seq, |b| b.max(m.next_seq)));
                }
            }
        }
        Ok(best)
    }

    fn commit(&mut self, batch: &Batch) -> Result<()> {
        let start = batch.items.iter().find_map(|i| match i {
            Item::RunStart { time_ms, .. } => Some(*time_ms),
            _ => None,
        });
        let mut remote = self.remote(&batch.run, start.flatten())?;
        // Work on a copy: a failed batch is retried whole, so its automatic
        // steps and counters must not count twice.
        self.commit_inner(batch, &mut remote)?;
        self.runs.insert(batch.run.run_id.clone(), remote);
        Ok(())
    }

    fn run_status(&mut self, run_id: &str) -> Result<Option<String>> {
        let exps = self.all_experiment_ids()?;
        Ok(self
            .find_run(&exps, run_id)?
            .and_then(|r| r["info"]["status"].as_str().map(str::to_string)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip() {
        let m = StreamMark {
            next_seq: 42,
            part: 3,
            done: true,
            session: "abc",
        };
        assert_eq!(StreamMark::parse(&m.format()), Some(m));
        assert_eq!(StreamMark::parse("1:2:x:s"), None);
        assert!(stream_tag("spool:/a/b").starts_with(STREAM_TAG_PREFIX));
        assert_eq!(stream_tag("x"), stream_tag("x"));
        assert_ne!(stream_tag("x"), stream_tag("y"));
    }

    #[test]
    fn metrics_keep_their_type_on_the_wire() {
        let mut s = String::new();
        push_metric(&mut s, "a", MetricNum::I(9_007_199_254_740_993), 5, 1);
        assert_eq!(
            s,
            r#"{"key":"a","value":9007199254740993,"timestamp":5,"step":1}"#
        );
        let mut s = String::new();
        push_metric(&mut s, "b\"", MetricNum::F(1.0), 5, 2);
        assert_eq!(s, r#"{"key":"b\"","value":1.0,"timestamp":5,"step":2}"#);
        let mut s = String::new();
        push_metric(&mut s, "c", MetricNum::F(f64::NAN), 5, 2);
        assert!(s.contains(r#""value":"NaN""#));
    }
}
