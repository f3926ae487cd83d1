//! `runlog sync [RUN...] [--watch]`: deliver runs recorded in the local store
//! to the MLflow tracking server at `--tracking-uri`, exactly once (like
//! `wandb sync`); a second sync of a delivered run sends nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};

use super::Tracking;
use crate::cli::SyncArgs;
use crate::mlflow::deliver::{Delivered, Deliverer};
use crate::mlflow::Client;
use crate::signals;
use crate::store::Store;

/// Pause between passes of `--watch`.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// One line saying what a pass delivered.
pub fn describe(run_id: &str, d: &Delivered) -> String {
    if d.nothing() {
        return format!("{run_id} -> {}: nothing new", d.remote_id);
    }
    let mut parts = vec![format!("{} metric values", d.metrics)];
    if d.params != 0 {
        parts.push(format!("{} params", d.params));
    }
    if d.tags != 0 {
        parts.push(format!("{} tags", d.tags));
    }
    if d.artifacts != 0 {
        parts.push(format!("{} artifacts", d.artifacts));
    }
    if d.ended {
        parts.push("run end".into());
    }
    format!("{run_id} -> {}: {}", d.remote_id, parts.join(", "))
}

/// Runs `runlog sync`; returns the exit code.
pub fn sync(args: SyncArgs, tracking: &Tracking) -> Result<i32> {
    let Tracking::Http(uri) = tracking else {
        bail!(
            "`runlog sync` delivers runs to an MLflow tracking server: give --tracking-uri \
             http(s)://HOST:PORT (or set RUNLOG_TRACKING_URI); the runs come from --from \
             (default .runlog)"
        );
    };
    let store = Store::open_existing(&args.from).map_err(|e| anyhow!("{e}"))?;
    let runs: Vec<String> = if args.runs.is_empty() {
        store.run_ids()?
    } else {
        args.runs
            .iter()
            .map(|r| store.resolve_run(r).map_err(|e| anyhow!("{e}")))
            .collect::<Result<_>>()?
    };
    if runs.is_empty() {
        eprintln!("runlog: no runs in {}", args.from.display());
        return Ok(0);
    }
    let mut deliverer = Deliverer::new(Client::background(uri)?);
    if args.watch {
        signals::install();
    }
    let mut finished = BTreeSet::new();
    let mut failed = 0usize;
    let mut said = String::new();
    loop {
        let pending: Vec<&String> = runs.iter().filter(|r| !finished.contains(*r)).collect();
        for run in pending {
            match deliverer.deliver(&store, run) {
                Ok(d) if d.busy => {
                    // Another process of this store (a `runlog run`) holds the run's delivery.
                    if !args.watch {
                        eprintln!(
                            "runlog: run {run} is being delivered by another process of {}; \
                             not sent now",
                            args.from.display()
                        );
                        failed += 1;
                        finished.insert(run.clone());
                    }
                }
                Ok(d) => {
                    if !args.watch || !d.nothing() {
                        println!("{}", describe(run, &d));
                    }
                    if d.complete || !args.watch {
                        finished.insert(run.clone());
                    }
                    said.clear();
                }
                Err(e) if args.watch => {
                    let msg = format!("{e:#}");
                    if msg != said {
                        eprintln!("runlog: {msg}; trying again");
                        said = msg;
                    }
                }
                Err(e) => {
                    eprintln!("runlog: run {run} not delivered to {uri}: {e:#}");
                    failed += 1;
                    finished.insert(run.clone());
                }
            }
        }
        if !args.watch || finished.len() == runs.len() {
            break;
        }
        if let Some(sig) = signals::received() {
            eprintln!("runlog: stopped; run `runlog sync` again to deliver the rest");
            return Ok(128 + sig);
        }
        std::thread::sleep(WATCH_EVERY);
    }
    Ok(if failed == 0 { 0 } else { 1 })
}
