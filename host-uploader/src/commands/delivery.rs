//! Offline first, the one way records reach an MLflow server: `runlog run`
//! and `runlog drain` with `--tracking-uri http(s)://...` record into the
//! local store, as without a URI (so a program starts at once and logs at
//! full speed whatever the server does), and a background thread delivers
//! the runs to the server (exactly once, `mlflow::deliver`) while they go on
//! and at the end, for a bounded time. What is not delivered by then stays
//! in the local store for `runlog sync`.
//!
//! A rank of a multi-node job ([`Job`]) is delivered under its node's own
//! sync tag; its run's status is settled from the rank ends the server holds
//! (every node's ranks meet there), then recorded locally and delivered.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;
use runlog_core::RunStatus;

use super::Tracking;
use crate::history::HistorySource;
use crate::mlflow::deliver::Deliverer;
use crate::mlflow::Client;
use crate::sink::{Batch, Item, Progress, RunRef, Sink};
use crate::store::{now_ms, Store};

/// How long `runlog run` and `runlog drain` go on delivering after the
/// program or the drain ended, unless RUNLOG_SYNC_WAIT_S says otherwise.
pub const END_WAIT: Duration = Duration::from_secs(60);
/// Pause between delivery passes while the program runs.
const PASS_EVERY: Duration = Duration::from_millis(500);

/// Where `runlog run` / `runlog drain` record, and the server they then
/// deliver to, if any.
pub fn local_first(tracking: &Tracking) -> (Tracking, Option<String>) {
    match tracking {
        Tracking::Http(uri) => (
            Tracking::Local(crate::store::locate::discover()),
            Some(uri.clone()),
        ),
        other => (other.clone(), None),
    }
}

/// The rank a `runlog run` wraps, for a job that may span nodes.
#[derive(Debug, Clone)]
pub struct Job {
    /// This node's name (its sync tag, `runlog.sync.<node>`).
    pub node: String,
    /// The job's world size, which settling the run needs.
    pub world_size: Option<u32>,
    /// The rank this wrapper runs (rank 0's creates the server run).
    pub rank: u32,
}

/// The runs a background delivery sends, shared with whoever adds to it.
pub type RunSet = Arc<Mutex<BTreeSet<String>>>;

/// What the delivery thread ends with.
#[derive(Default)]
struct Outcome {
    /// Per run: its MLflow run id, or why it is not delivered yet.
    runs: BTreeMap<String, Result<String, String>>,
    /// The run's status as the server's rank ends settle it ([`Job`]).
    settled: Option<(RunStatus, String)>,
}

/// A delivery thread.
pub struct Background {
    /// When set: deliver what is left until then, and stop.
    deadline: Arc<Mutex<Option<Instant>>>,
    runs: RunSet,
    handle: JoinHandle<Outcome>,
    uri: String,
    store: PathBuf,
}

/// Starts delivering `runs` (and any run added to [`Background::runs`]
/// later) of the store at `store` to `uri`.
pub fn start(store: &Path, uri: &str, runs: &[&str], job: Option<Job>) -> Background {
    let deadline = Arc::new(Mutex::new(None));
    let set: RunSet = Arc::new(Mutex::new(runs.iter().map(|r| r.to_string()).collect()));
    let store = std::path::absolute(store).unwrap_or_else(|_| store.to_path_buf());
    let handle = {
        let (deadline, set, store, uri) = (
            deadline.clone(),
            set.clone(),
            store.clone(),
            uri.to_string(),
        );
        std::thread::spawn(move || deliver_loop(&store, &uri, &set, job, &deadline))
    };
    eprintln!(
        "runlog: recording in {} and delivering to {uri} in the background",
        store.display()
    );
    Background {
        deadline,
        runs: set,
        handle,
        uri: uri.to_string(),
        store,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn deliver_loop(
    store: &Path,
    uri: &str,
    set: &Mutex<BTreeSet<String>>,
    job: Option<Job>,
    deadline: &Mutex<Option<Instant>>,
) -> Outcome {
    let mut out = Outcome::default();
    let fail_all = |why: String, out: &mut Outcome| {
        for r in lock(set).iter() {
            out.runs.insert(r.clone(), Err(why.clone()));
        }
    };
    let mut store = match Store::open(store) {
        Ok(s) => s,
        Err(e) => {
            fail_all(format!("{e:#}"), &mut out);
            return out;
        }
    };
    let client = match Client::background(uri) {
        Ok(c) => c,
        Err(e) => {
            fail_all(format!("{e:#}"), &mut out);
            return out;
        }
    };
    let mut deliverer = Deliverer::new(client)
        .with_node(job.as_ref().map(|j| j.node.clone()))
        .creating(job.as_ref().is_none_or(|j| j.rank == 0));
    let mut said = String::new();
    loop {
        let until = *lock(deadline);
        let runs: Vec<String> = lock(set).iter().cloned().collect();
        let mut all_sent = true;
        for run in &runs {
            let entry = out
                .runs
                .entry(run.clone())
                .or_insert_with(|| Err("the run ended before a first delivery".into()));
            match deliverer.deliver(&store, run) {
                Ok(d) if d.busy => {
                    all_sent = false;
                    *entry = Err("another process of this store was delivering it".into());
                }
                Ok(d) => {
                    all_sent &= d.all_sent;
                    *entry = Ok(d.remote_id);
                    if !said.is_empty() {
                        eprintln!("runlog: {uri} answers again; delivering");
                        said.clear();
                    }
                }
                Err(e) => {
                    all_sent = false;
                    let msg = format!("{e:#}");
                    if msg != said {
                        eprintln!(
                            "runlog: cannot deliver to {uri} now ({msg}); the run is kept in {} \
                             and sent when the server is back",
                            store.dir().display()
                        );
                        said = msg.clone();
                    }
                    *entry = Err(msg);
                }
            }
        }
        if until.is_some() && all_sent {
            if let (Some(job), [run]) = (&job, runs.as_slice()) {
                match settle(&mut store, &mut deliverer, run, job) {
                    Ok(s) => out.settled = s,
                    Err(e) => {
                        out.runs.insert(run.clone(), Err(format!("{e:#}")));
                    }
                }
            }
            return out;
        }
        // Sleep, but notice a deadline set meanwhile.
        let wake = Instant::now() + PASS_EVERY;
        while Instant::now() < wake {
            match *lock(deadline) {
                Some(t) if Instant::now() >= t => return out,
                Some(_) if said.is_empty() => {
                    std::thread::sleep(Duration::from_millis(20));
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

/// Settles a rank's run from the rank ends the server holds (this node's
/// were just delivered), records the status locally and delivers it.
fn settle(
    store: &mut Store,
    deliverer: &mut Deliverer,
    run: &str,
    job: &Job,
) -> Result<Option<(RunStatus, String)>> {
    let detail = store.run(run).map_err(|e| anyhow::anyhow!("{e}"))?;
    if detail.summary.status != crate::history::RunStatus::Running {
        return Ok(None);
    }
    let Some((status, why)) = deliverer.settle_on_server(run, job.world_size)? else {
        return Ok(None);
    };
    let exit = if status == RunStatus::Finished {
        0
    } else {
        // "rank 2 FAILED exit 3 on nodeB": that rank's exit code.
        why.split_once(" exit ")
            .and_then(|(_, rest)| rest.split(' ').next()?.parse().ok())
            .unwrap_or(1)
    };
    let mut end = Batch::new(RunRef {
        run_id: run.to_string(),
        experiment: detail.summary.experiment.clone(),
    });
    end.items.push(Item::RunEnd {
        status,
        time_ms: Some(now_ms()),
        exit_code: Some(exit),
    });
    store.commit_batch(&end, &mut |_| {})?;
    deliverer.deliver(store, run)?;
    Ok(Some((status, why)))
}

impl Background {
    /// The set of runs this thread delivers (`runlog drain` adds the runs it records).
    pub fn runs(&self) -> RunSet {
        self.runs.clone()
    }

    /// Delivers what is left (the runs' records are all in the store now),
    /// for at most [`END_WAIT`], and says on standard error where each run
    /// is. Returns the run's status if the server's rank ends settled it
    /// ([`Job`]), and whether every run was delivered.
    pub fn finish(self) -> (Option<(RunStatus, String)>, bool) {
        let wait = std::env::var("RUNLOG_SYNC_WAIT_S")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(END_WAIT, Duration::from_secs_f64);
        *lock(&self.deadline) = Some(Instant::now() + wait);
        let outcome = self.handle.join().unwrap_or_else(|_| Outcome {
            runs: lock(&self.runs)
                .iter()
                .map(|r| (r.clone(), Err("the delivery thread failed".into())))
                .collect(),
            settled: None,
        });
        let mut all = true;
        for (run, result) in &outcome.runs {
            match result {
                Ok(remote) => eprintln!(
                    "runlog: run {run} delivered to {} (MLflow run {remote}, run name {run})",
                    self.uri
                ),
                Err(why) => {
                    all = false;
                    eprintln!(
                        "runlog: run {run} is recorded in {store} but not yet delivered to {uri} \
                         ({why}); deliver it with: runlog --tracking-uri {uri} sync --from \
                         {store} {run}",
                        store = self.store.display(),
                        uri = self.uri,
                    )
                }
            }
        }
        (outcome.settled, all)
    }
}

/// A sink that notes the run of every batch it commits (what `runlog drain`
/// records goes to [`Background::runs`]).
pub struct Noting<'a> {
    /// Where the batches go.
    pub inner: &'a mut dyn Sink,
    /// The runs seen.
    pub runs: RunSet,
}

impl Noting<'_> {
    fn note(&self, batch: &Batch) {
        let mut set = lock(&self.runs);
        if !set.contains(&batch.run.run_id) {
            set.insert(batch.run.run_id.clone());
        }
    }
}

impl Sink for Noting<'_> {
    fn watermark(&mut self, stream: &str) -> Result<Option<u64>> {
        self.inner.watermark(stream)
    }

    fn commit(&mut self, batch: &Batch) -> Result<()> {
        self.inner.commit(batch)?;
        self.note(batch);
        Ok(())
    }

    fn commit_with_progress(&mut self, batch: &Batch, progress: Progress<'_>) -> Result<()> {
        self.inner.commit_with_progress(batch, progress)?;
        self.note(batch);
        Ok(())
    }

    fn run_status(&mut self, run_id: &str) -> Result<Option<String>> {
        self.inner.run_status(run_id)
    }
}
