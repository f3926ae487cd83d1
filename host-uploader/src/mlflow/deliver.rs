//! Delivering runs recorded in the local store to an MLflow tracking server,
//! exactly once: what `runlog sync` and `runlog run --tracking-uri http://...`
//! do (offline first: the program's records land in the local store, and
//! this sends them on whenever the server is there).
//!
//! What the server holds is read from the server itself: one tag per run,
//! [`SYNC_TAG`] = `{"run":"<runlog run id>","m":{"<series>":<points>,...}}`,
//! says how many points of each series it holds. Each `runs/log-batch`
//! request carries the tag updated to cover the metrics in that same
//! request. What this relies on in MLflow (checked on 3.17.2 with PostgreSQL
//! and SQLite, `docs/uploader.md`):
//!
//! - the SQL store commits a log-batch's metrics before its tags, so a tag
//!   the server holds never covers a metric it does not hold;
//! - a metric row identical to one it holds (key, value, timestamp, step) is
//!   skipped, not added, so the points a killed sender sent after the last
//!   tag it wrote are not doubled when they are sent again.
//!
//! Points keep the step and time the store gave them, so a resend is
//! identical. Params are sent once (first value wins, as in the store), tags
//! when the server's value differs, artifacts when the server lacks the path
//! or has another size, and the run's end once. Requests stay within
//! MLflow's limits (1000 metrics, 100 params, 100 tags, 1000 entities), and
//! names MLflow refuses are sent under [`mlflow_key`]'s fixed name (warned once).
//!
//! Several stores may deliver into one server run: the nodes of a multi-rank
//! job each hold their own ranks' series. Each node then keeps its own tag,
//! `runlog.sync.<node>` ([`sync_tag`]), since MLflow tags are last-write-wins
//! and one shared tag would let one node's log-batch erase another's
//! position. The server run is found by its name (the runlog run id); two
//! stores creating it at the same moment both look again right after, keep
//! the run with the smallest MLflow id and delete the other
//! ([`Deliverer::deliver`] checks this again whenever it has sent all it
//! has, so data sent into a deleted duplicate is sent again to the kept run).
//! One process at a time delivers a run of a store ([`Store::delivery_lock`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::client::{is_not_found, Client};
use super::protocol::{
    clip, mlflow_key, MAX_BATCH_ENTITIES, MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS,
    MAX_PARAM_LEN, MAX_TAG_LEN,
};
use super::wire::{experiment_id, push_metric, MetricNum};
use crate::history::{HistorySource, RunDetail, RunStatus};
use crate::sink::MetricValue;
use crate::store::Store;

/// The one tag runlog keeps on a delivered run: the runlog run id and how
/// far each series was delivered.
pub const SYNC_TAG: &str = "runlog.sync";

/// How long a delivery pass waits for another process of the same store
/// to finish its pass of the same run.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The sync tag of the store delivering from `node` ([`SYNC_TAG`] when one
/// store delivers the run, `runlog.sync.<node>` for one node of a
/// multi-node run; the node's characters other than `[A-Za-z0-9._-]` as `_`).
pub fn sync_tag(node: Option<&str>) -> String {
    match node {
        None => SYNC_TAG.to_string(),
        Some(n) => {
            let clean: String = n
                .chars()
                .take(64)
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("{SYNC_TAG}.{clean}")
        }
    }
}

/// Whether tag `key` is one of runlog's sync tags.
pub fn is_sync_tag(key: &str) -> bool {
    key == SYNC_TAG || key.starts_with("runlog.sync.")
}

/// The sync marks of a server run (as `runs/get` or `runs/search` give
/// it): which runlog run it was delivered from, by each store.
pub fn delivered_marks(run: &Value) -> Vec<SyncMark> {
    marks_of(run).into_iter().map(|(_, m)| m).collect()
}

/// Points read from the store at a time.
const POINTS_PER_READ: usize = 1024;
/// Most artifact entries read back from a server for one run.
const MAX_LISTING: usize = 100_000;

/// The value of [`SYNC_TAG`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncMark {
    /// The runlog run id (first, so the value starts with it).
    pub run: String,
    /// Points delivered per series, by [`series_key`].
    #[serde(default)]
    pub m: BTreeMap<String, u64>,
    /// The program's exit code, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i64>,
}

impl SyncMark {
    /// The tag value, within MLflow's tag length. A run with too many series
    /// to name in it leaves out the least advanced: after a restart those are
    /// sent again from their start, and MLflow's skipping of identical rows
    /// keeps them exactly once (slower, never doubled).
    pub fn to_tag_value(&self) -> String {
        let full = serde_json::to_string(self).unwrap_or_default();
        if full.len() <= MAX_TAG_LEN {
            return full;
        }
        let mut by_count: Vec<(&String, &u64)> = self.m.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1));
        let mut kept = SyncMark {
            run: self.run.clone(),
            m: BTreeMap::new(),
            exit: self.exit,
        };
        let mut len = serde_json::to_string(&kept).unwrap_or_default().len();
        for (k, n) in by_count {
            // "key":n, plus a comma.
            let add = k.len() + 4 + n.to_string().len();
            if len + add > MAX_TAG_LEN {
                break;
            }
            len += add;
            kept.m.insert(k.clone(), *n);
        }
        serde_json::to_string(&kept).unwrap_or_default()
    }
}

/// A series' short name in [`SyncMark::m`]: 12 hex digits of its name's SHA-256.
pub fn series_key(name: &str) -> String {
    Sha256::digest(name.as_bytes())[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What one delivery pass of a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// The run's id on the server.
    pub remote_id: String,
    /// Metric values sent (a list counts each element).
    pub metrics: u64,
    /// Params sent.
    pub params: u64,
    /// Tags sent (string metrics included, runlog's own tag not).
    pub tags: u64,
    /// Artifact files uploaded.
    pub artifacts: u64,
    /// Whether the run's end was recorded on the server in this pass.
    pub ended: bool,
    /// Whether the server now holds everything the store has of the run,
    /// its end included if it ended.
    pub all_sent: bool,
    /// Whether the run ended and the server holds all of it.
    pub complete: bool,
    /// Whether nothing was done because another process of the same store
    /// was delivering this run all the while.
    pub busy: bool,
}

impl Delivered {
    /// Adds a later pass into the same run (or its kept run) to this one.
    fn add(&mut self, later: Delivered) {
        self.remote_id = later.remote_id;
        self.metrics += later.metrics;
        self.params += later.params;
        self.tags += later.tags;
        self.artifacts += later.artifacts;
        self.ended |= later.ended;
        self.all_sent = later.all_sent;
        self.complete = later.complete;
    }

    /// Whether the pass sent nothing at all.
    pub fn nothing(&self) -> bool {
        self.metrics == 0
            && self.params == 0
            && self.tags == 0
            && self.artifacts == 0
            && !self.ended
    }
}

/// An artifact the server holds: its size, and its SHA-256 when this
/// process uploaded it.
type ArtifactState = (u64, Option<String>);

/// What the server holds of one run.
#[derive(Debug, Clone)]
struct Remote {
    id: String,
    /// This store's sync tag on the run ([`sync_tag`]).
    mark_key: String,
    artifact_uri: String,
    mark: SyncMark,
    params: HashMap<String, String>,
    tags: HashMap<String, String>,
    artifacts: Option<HashMap<String, ArtifactState>>,
    status: String,
    end_ms: Option<i64>,
}

/// One log-batch request being filled.
#[derive(Default)]
struct Request {
    metrics: String,
    n_metrics: usize,
    params: Vec<(String, String)>,
    tags: Vec<(String, String)>,
}

impl Request {
    fn entities(&self) -> usize {
        self.n_metrics + self.params.len() + self.tags.len()
    }
    /// Room for one more entity of any kind, keeping one for the sync tag.
    fn has_room(&self) -> bool {
        self.entities() + 1 < MAX_BATCH_ENTITIES
    }
    fn is_empty(&self) -> bool {
        self.entities() == 0
    }
}

/// Delivers runs of local stores to one MLflow server.
#[derive(Debug)]
pub struct Deliverer {
    client: Client,
    uri: String,
    experiments: HashMap<String, String>,
    runs: HashMap<String, Remote>,
    warned: HashSet<String>,
    node: Option<String>,
    may_create: bool,
}

impl Deliverer {
    /// A deliverer to `client`'s server.
    pub fn new(client: Client) -> Self {
        Self {
            uri: client.base().to_string(),
            client,
            experiments: HashMap::new(),
            runs: HashMap::new(),
            warned: HashSet::new(),
            node: None,
            may_create: true,
        }
    }

    /// Whether this deliverer creates the server run when it finds none
    /// (default yes). The wrappers of ranks other than 0 leave that to rank
    /// 0's, so that the nodes of a job do not race to create it.
    pub fn creating(mut self, may_create: bool) -> Self {
        self.may_create = may_create;
        self
    }

    /// Delivers as node `node` of a multi-node run (its own sync tag,
    /// [`sync_tag`]). Without it, a run whose rank ends name a node is
    /// delivered as that node, any other under [`SYNC_TAG`].
    pub fn with_node(mut self, node: Option<String>) -> Self {
        self.node = node;
        self
    }

    /// The sync tag this deliverer keeps on `detail`'s server run.
    fn mark_key(&self, detail: &RunDetail) -> String {
        if let Some(n) = &self.node {
            return sync_tag(Some(n));
        }
        let ends = crate::ranks::rank_ends(&detail.tags);
        let first = ends
            .values()
            .filter_map(|e| e.text.rsplit_once(" on ").map(|(_, n)| n.to_string()))
            .min();
        sync_tag(first.as_deref())
    }

    /// The run's status from the rank ends the server holds
    /// ([`crate::ranks::settle`] with `world_size`), for a run this
    /// deliverer delivered: where every node's ranks meet.
    pub fn settle_on_server(
        &self,
        run_id: &str,
        world_size: Option<u32>,
    ) -> Result<Option<(runlog_core::RunStatus, String)>> {
        let Some(remote) = self.runs.get(run_id) else {
            bail!("run {run_id} is not delivered to {} yet", self.uri);
        };
        let v = self.client.get("runs/get", &[("run_id", &remote.id)])?;
        let tags: BTreeMap<String, String> = v["run"]["data"]["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| Some((t["key"].as_str()?.into(), t["value"].as_str()?.into())))
            .collect();
        Ok(crate::ranks::settle(
            world_size,
            &crate::ranks::rank_ends(&tags),
        ))
    }

    /// The server's URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Sends the server what it lacks of run `run_id` of `store`. On `Err`
    /// nothing is lost or doubled: the next call resumes where the server is.
    pub fn deliver(&mut self, store: &Store, run_id: &str) -> Result<Delivered> {
        let detail = store.run(run_id).map_err(|e| anyhow!("{e}"))?;
        let run_id = detail.summary.run_id.clone();
        let Some(lock) = store.delivery_lock(&run_id, LOCK_WAIT)? else {
            return Ok(Delivered {
                remote_id: self
                    .runs
                    .get(&run_id)
                    .map(|r| r.id.clone())
                    .unwrap_or_default(),
                busy: true,
                ..Delivered::default()
            });
        };
        if lock.others_delivered {
            // Another process of this store moved the server on: ask it again.
            self.runs.remove(&run_id);
        }
        let mut remote = match self.runs.remove(&run_id) {
            Some(r) => r,
            None => self.open_remote(store, &detail)?,
        };
        let mut total = Delivered::default();
        // At most twice: a second time when the run turned out to be a
        // duplicate, into the run that is kept.
        for _ in 0..2 {
            let mut out = Delivered {
                remote_id: remote.id.clone(),
                ..Delivered::default()
            };
            // On an error the cached state is dropped: the next pass reads
            // the server again (the run may have been deleted as a duplicate).
            self.deliver_into(store, &detail, &mut remote, &mut out)?;
            let sent = !out.nothing();
            total.add(out);
            if !(sent && total.all_sent) {
                break;
            }
            match self.kept_run(&detail, &remote.id)? {
                None => break,
                Some(kept) => {
                    self.retire(&remote.id, &run_id);
                    remote = remote_from(&kept, &run_id, &remote.mark_key)?;
                    store.set_remote_run_id(&run_id, &self.uri, &remote.id)?;
                }
            }
        }
        drop(lock);
        self.runs.insert(run_id, remote);
        Ok(total)
    }

    /// The run to keep when `mine` is not it: of the server runs delivered
    /// from `detail`'s run, the one with the smallest MLflow id.
    fn kept_run(&self, detail: &RunDetail, mine: &str) -> Result<Option<Value>> {
        let exp = self
            .experiments
            .get(if detail.summary.experiment.is_empty() {
                "default"
            } else {
                &detail.summary.experiment
            })
            .cloned();
        let Some(exp) = exp else { return Ok(None) };
        Ok(self
            .find(&exp, &detail.summary.run_id)?
            .filter(|r| r["info"]["run_id"].as_str() != Some(mine)))
    }

    /// Takes duplicate run `id` of `run_id` out of sight: deleted (MLflow
    /// keeps it in its trash), or, where the server cannot delete runs,
    /// renamed and its sync tags pointed elsewhere. Best effort: a
    /// duplicate left is found again and retired by the next pass.
    fn retire(&mut self, id: &str, run_id: &str) {
        if self
            .client
            .post("runs/delete", &json!({ "run_id": id }))
            .is_ok()
        {
            return;
        }
        let gone = format!("{run_id}.duplicate");
        let _ = self
            .client
            .post("runs/update", &json!({ "run_id": id, "run_name": gone }));
        if let Ok(v) = self.client.get("runs/get", &[("run_id", id)]) {
            for (key, _) in marks_of(&v["run"]) {
                let mark = SyncMark {
                    run: gone.clone(),
                    ..SyncMark::default()
                };
                let _ = self.client.post(
                    "runs/set-tag",
                    &json!({ "run_id": id, "key": key, "value": mark.to_tag_value() }),
                );
            }
        }
    }

    fn warn_once(&mut self, key: String, msg: impl FnOnce() -> String) {
        if self.warned.insert(key) {
            eprintln!("runlog: warning: {}", msg());
        }
    }

    /// The key MLflow accepts for `name` (a `what`: metric, param or tag).
    fn key(&mut self, name: &str, what: &str) -> String {
        match mlflow_key(name) {
            None => name.to_string(),
            Some(k) => {
                let k2 = k.clone();
                self.warn_once(format!("key {what} {name}"), || {
                    format!("MLflow refuses the {what} name {name:?}; it is sent as {k2:?}")
                });
                k
            }
        }
    }

    /// `value` within `max` bytes (warned once when cut).
    fn value<'v>(&mut self, key: &str, value: &'v str, max: usize, what: &str) -> &'v str {
        match clip(value, max) {
            None => value,
            Some(cut) => {
                let len = value.chars().count();
                self.warn_once(format!("value {what} {key}"), || {
                    format!("the {what} {key:?} is {len} characters, over MLflow's {max}; sent cut to {max}")
                });
                cut
            }
        }
    }

    fn open_remote(&mut self, store: &Store, detail: &RunDetail) -> Result<Remote> {
        let run_id = &detail.summary.run_id;
        let exp = experiment_id(
            &self.client,
            &mut self.experiments,
            &detail.summary.experiment,
        )?;
        let mut found = None;
        if let Some(id) = store.remote_run_id(run_id, &self.uri)? {
            match self.client.get("runs/get", &[("run_id", &id)]) {
                Ok(v) if v["run"]["info"]["lifecycle_stage"] != "deleted" => {
                    found = Some(v["run"].clone());
                }
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        if found.is_none() {
            found = self.find(&exp, run_id)?;
        }
        let run = match found {
            Some(r) => r,
            None if !self.may_create => {
                bail!("run {run_id} is not on the server yet (the wrapper of rank 0 creates it)")
            }
            None => self.create(&exp, detail)?,
        };
        let remote = remote_from(&run, run_id, &self.mark_key(detail))?;
        store.set_remote_run_id(run_id, &self.uri, &remote.id)?;
        Ok(remote)
    }

    /// The server's run of `run_id` (named after it, with a sync tag naming
    /// it), if any; of several, the one with the smallest MLflow id, which
    /// every deliverer keeps.
    fn find(&self, exp: &str, run_id: &str) -> Result<Option<Value>> {
        // The id goes into a filter string: only ids of the run-id rule do.
        if runlog_core::rules::check_run_id(run_id).is_err() {
            return Ok(None);
        }
        let v = self.client.post(
            "runs/search",
            &json!({
                "experiment_ids": [exp],
                "filter": format!("attributes.run_name = '{run_id}'"),
                "max_results": 100,
            }),
        )?;
        Ok(v["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| marks_of(r).iter().any(|(_, m)| m.run == run_id))
            .min_by(|a, b| {
                let id = |r: &Value| r["info"]["run_id"].as_str().unwrap_or("").to_string();
                id(a).cmp(&id(b))
            })
            .cloned())
    }

    /// Creates the server run of `detail`; if another store created one at
    /// the same moment, keeps the one [`Self::find`] keeps and deletes this one.
    fn create(&mut self, exp: &str, detail: &RunDetail) -> Result<Value> {
        let run_id = &detail.summary.run_id;
        let mark = SyncMark {
            run: run_id.clone(),
            ..SyncMark::default()
        };
        let key = self.mark_key(detail);
        let mut tags = vec![json!({ "key": key, "value": mark.to_tag_value() })];
        if let Some(cmd) = &detail.command {
            let cmd = clip(cmd, MAX_TAG_LEN).unwrap_or(cmd);
            tags.push(json!({ "key": "mlflow.source.name", "value": cmd }));
        }
        let v = self.client.post(
            "runs/create",
            &json!({
                "experiment_id": exp,
                "start_time": detail.summary.start_ms,
                "run_name": run_id,
                "tags": tags,
            }),
        )?;
        let mine = v["run"].clone();
        let my_id = mine["info"]["run_id"].as_str().unwrap_or("").to_string();
        match self.find(exp, run_id)? {
            Some(kept) if kept["info"]["run_id"].as_str() != Some(my_id.as_str()) => {
                self.retire(&my_id, run_id);
                Ok(kept)
            }
            _ => Ok(mine),
        }
    }

    fn flush(
        &mut self,
        remote: &mut Remote,
        req: &mut Request,
        mark: &SyncMark,
        out: &mut Delivered,
    ) -> Result<()> {
        let pair = |(k, v): &(String, String)| json!({ "key": k, "value": v });
        let mut tags: Vec<Value> = req.tags.iter().map(pair).collect();
        tags.push(json!({ "key": remote.mark_key, "value": mark.to_tag_value() }));
        let params: Vec<Value> = req.params.iter().map(pair).collect();
        let mut body = String::with_capacity(req.metrics.len() + 256);
        body.push_str("{\"run_id\":");
        body.push_str(&serde_json::to_string(&remote.id)?);
        body.push_str(",\"metrics\":[");
        body.push_str(&req.metrics);
        body.push_str("],\"params\":");
        body.push_str(&serde_json::to_string(&params)?);
        body.push_str(",\"tags\":");
        body.push_str(&serde_json::to_string(&tags)?);
        body.push('}');
        self.client
            .post_raw("runs/log-batch", body.as_bytes())
            .with_context(|| format!("cannot deliver to run {} at {}", remote.id, self.uri))?;
        let req = std::mem::take(req);
        out.metrics += req.n_metrics as u64;
        out.params += req.params.len() as u64;
        out.tags += req.tags.len() as u64;
        remote.params.extend(req.params);
        remote.tags.extend(req.tags);
        remote.mark = mark.clone();
        Ok(())
    }

    /// Adds tag `key` = `value` to `req` unless the server has it already.
    #[allow(clippy::too_many_arguments)]
    fn push_tag(
        &mut self,
        remote: &mut Remote,
        req: &mut Request,
        mark: &SyncMark,
        out: &mut Delivered,
        name: &str,
        value: &str,
    ) -> Result<()> {
        let key = self.key(name, "tag");
        if is_sync_tag(&key) {
            self.warn_once(format!("reserved {name}"), || {
                format!("the tag {key:?} is runlog's own; the run's value was not sent")
            });
            return Ok(());
        }
        let value = self.value(&key, value, MAX_TAG_LEN, "tag").to_string();
        if let Some(slot) = req.tags.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
            return Ok(());
        }
        if remote.tags.get(&key) == Some(&value) {
            return Ok(());
        }
        if req.tags.len() + 1 >= MAX_BATCH_TAGS || !req.has_room() {
            self.flush(remote, req, mark, out)?;
        }
        req.tags.push((key, value));
        Ok(())
    }

    fn push_number(
        &mut self,
        remote: &mut Remote,
        req: &mut Request,
        mark: &SyncMark,
        out: &mut Delivered,
        point: (&str, MetricNum, i64, i64),
    ) -> Result<()> {
        if req.n_metrics >= MAX_BATCH_METRICS || !req.has_room() {
            self.flush(remote, req, mark, out)?;
        }
        let (key, value, time_ms, step) = point;
        if req.n_metrics > 0 {
            req.metrics.push(',');
        }
        push_metric(&mut req.metrics, key, value, time_ms, step);
        req.n_metrics += 1;
        Ok(())
    }

    fn deliver_into(
        &mut self,
        store: &Store,
        detail: &RunDetail,
        remote: &mut Remote,
        out: &mut Delivered,
    ) -> Result<()> {
        let run_id = &detail.summary.run_id;
        let mut req = Request::default();
        let mut mark = remote.mark.clone();
        mark.run = run_id.clone();
        mark.exit = detail.exit_code;

        for (name, value) in &detail.params {
            let key = self.key(name, "param");
            let value = self.value(&key, value, MAX_PARAM_LEN, "param");
            match remote.params.get(&key) {
                Some(have) if have == value => continue,
                Some(have) => {
                    let have = have.clone();
                    self.warn_once(format!("param {key}"), || {
                        format!(
                            "param {key:?} is {have:?} on the server; kept it, {value:?} not sent"
                        )
                    });
                    continue;
                }
                None => {}
            }
            if req.params.iter().any(|(k, _)| *k == key) {
                continue;
            }
            if req.params.len() >= MAX_BATCH_PARAMS || !req.has_room() {
                self.flush(remote, &mut req, &mark, out)?;
            }
            req.params.push((key, value.to_string()));
        }
        for (name, value) in &detail.tags {
            self.push_tag(remote, &mut req, &mark, out, name, value)?;
        }

        let mut all_sent = true;
        for s in store.metrics(run_id).map_err(|e| anyhow!("{e}"))? {
            let skey = series_key(&s.name);
            let mut from = mark.m.get(&skey).copied().unwrap_or(0);
            if from >= s.count {
                continue;
            }
            let key = self.key(&s.name, "metric");
            loop {
                let (points, more) = store.series_points(run_id, &s.name, from, POINTS_PER_READ)?;
                for p in &points {
                    let (t, step) = (p.time_ms, p.step);
                    match &p.value {
                        MetricValue::I64(v) => {
                            let n = (key.as_str(), MetricNum::I(*v), t, step);
                            self.push_number(remote, &mut req, &mark, out, n)?;
                        }
                        MetricValue::F64(v) => {
                            let n = (key.as_str(), MetricNum::F(*v), t, step);
                            self.push_number(remote, &mut req, &mark, out, n)?;
                        }
                        MetricValue::Str(v) => {
                            self.push_tag(remote, &mut req, &mark, out, &s.name, v)?;
                        }
                        MetricValue::F64List(l) => {
                            for (i, v) in l.iter().enumerate() {
                                let n = (key.as_str(), MetricNum::F(*v), t, i as i64);
                                self.push_number(remote, &mut req, &mark, out, n)?;
                            }
                        }
                        MetricValue::I64List(l) => {
                            for (i, v) in l.iter().enumerate() {
                                let n = (key.as_str(), MetricNum::I(*v), t, i as i64);
                                self.push_number(remote, &mut req, &mark, out, n)?;
                            }
                        }
                    }
                    // Counted only once every element of the point is in a request.
                    from += 1;
                    mark.m.insert(skey.clone(), from);
                }
                if !more || points.is_empty() {
                    break;
                }
            }
            all_sent &= from >= s.count;
        }
        if !req.is_empty() || mark != remote.mark {
            self.flush(remote, &mut req, &mark, out)?;
        }

        let artifacts = store.artifacts(run_id).map_err(|e| anyhow!("{e}"))?;
        if !artifacts.is_empty() && remote.artifacts.is_none() {
            remote.artifacts = Some(self.list_artifacts(&remote.id)?);
        }
        for a in &artifacts {
            let held = remote.artifacts.as_ref().and_then(|m| m.get(&a.path));
            if held.is_some_and(|(size, sha)| {
                *size == a.size && sha.as_ref().is_none_or(|s| Some(s) == a.sha256.as_ref())
            }) {
                continue;
            }
            runlog_core::rules::check_artifact_path(&a.path)
                .map_err(|e| anyhow!("artifact {:?}: {e}", a.path))?;
            let file = store.artifact_dir(run_id).join(&a.path);
            let url = self.client.artifact_url(&remote.artifact_uri, &a.path)?;
            self.client
                .put_file(&url, &file)
                .with_context(|| format!("cannot upload artifact {} of run {run_id}", a.path))?;
            remote
                .artifacts
                .get_or_insert_with(HashMap::new)
                .insert(a.path.clone(), (a.size, a.sha256.clone()));
            out.artifacts += 1;
        }

        let status = detail.summary.status;
        let ended = status != RunStatus::Running;
        // The end is sent when the server's status differs or it has no end
        // time: the nodes of one run each end it at their own time, and a
        // node must not move another's end back and forth.
        if ended && (remote.status != status.as_str() || remote.end_ms.is_none()) {
            let mut body = json!({ "run_id": remote.id, "status": status.as_str() });
            if let Some(end) = detail.summary.end_ms {
                body["end_time"] = end.into();
            }
            self.client
                .post("runs/update", &body)
                .context("cannot record the run's end")?;
            remote.status = status.as_str().to_string();
            remote.end_ms = detail.summary.end_ms;
            out.ended = true;
        }
        out.all_sent = all_sent;
        out.complete = all_sent && ended;
        Ok(())
    }

    /// Every file the server holds for run `id`, with its size.
    fn list_artifacts(&self, id: &str) -> Result<HashMap<String, ArtifactState>> {
        let mut out = HashMap::new();
        let mut dirs = vec![String::new()];
        while let Some(dir) = dirs.pop() {
            let mut q = vec![("run_id", id)];
            if !dir.is_empty() {
                q.push(("path", dir.as_str()));
            }
            let v = self.client.get("artifacts/list", &q)?;
            for f in v["files"].as_array().into_iter().flatten() {
                let Some(path) = f["path"].as_str() else {
                    continue;
                };
                if f["is_dir"].as_bool() == Some(true) {
                    dirs.push(path.to_string());
                } else {
                    let size = match &f["file_size"] {
                        Value::String(s) => s.parse().unwrap_or(u64::MAX),
                        v => v.as_u64().unwrap_or(u64::MAX),
                    };
                    out.insert(path.to_string(), (size, None));
                }
                if out.len() + dirs.len() > MAX_LISTING {
                    bail!(
                        "run {id} on {} lists over {MAX_LISTING} artifacts",
                        self.uri
                    );
                }
            }
        }
        Ok(out)
    }
}

/// The sync tags of a server run (as `runs/get` or `runs/search` give it)
/// that parse, by key.
fn marks_of(run: &Value) -> Vec<(String, SyncMark)> {
    run["data"]["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let key = t["key"].as_str().filter(|k| is_sync_tag(k))?;
            let mark = serde_json::from_str(t["value"].as_str()?).ok()?;
            Some((key.to_string(), mark))
        })
        .collect()
}

fn remote_from(run: &Value, run_id: &str, mark_key: &str) -> Result<Remote> {
    let id = run["info"]["run_id"].as_str().unwrap_or("").to_string();
    if id.is_empty() {
        bail!("the server did not say which run it holds for {run_id}");
    }
    let pairs = |what: &str| -> HashMap<String, String> {
        run["data"][what]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p["key"].as_str()?.into(), p["value"].as_str()?.into())))
            .filter(|(k, _): &(String, String)| !is_sync_tag(k))
            .collect()
    };
    // A mark that does not parse, or names another run, says nothing: start
    // from the beginning (identical rows are skipped).
    let mark = marks_of(run)
        .into_iter()
        .find(|(k, m)| k == mark_key && m.run == run_id)
        .map(|(_, m)| m)
        .unwrap_or_else(|| SyncMark {
            run: run_id.to_string(),
            ..SyncMark::default()
        });
    Ok(Remote {
        id,
        mark_key: mark_key.to_string(),
        artifact_uri: run["info"]["artifact_uri"].as_str().unwrap_or("").into(),
        mark,
        params: pairs("params"),
        tags: pairs("tags"),
        artifacts: None,
        status: run["info"]["status"].as_str().unwrap_or("").into(),
        end_ms: run["info"]["end_time"].as_i64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_starts_with_the_run_and_fits_a_tag() {
        let mut m = SyncMark {
            run: "r1".into(),
            ..SyncMark::default()
        };
        m.m.insert(series_key("loss"), 5);
        assert!(m.to_tag_value().starts_with(r#"{"run":"r1","m":{"#));
        let back: SyncMark = serde_json::from_str(&m.to_tag_value()).unwrap();
        assert_eq!(back, m);
        for i in 0..2000u64 {
            m.m.insert(series_key(&format!("s{i}")), i);
        }
        let v = m.to_tag_value();
        assert!(v.len() <= MAX_TAG_LEN, "{}", v.len());
        let back: SyncMark = serde_json::from_str(&v).unwrap();
        // The most advanced series are the ones kept.
        assert_eq!(back.m.get(&series_key("s1999")), Some(&1999));
        assert!(!back.m.contains_key(&series_key("s0")));
    }
}
