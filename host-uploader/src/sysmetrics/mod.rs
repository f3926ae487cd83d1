//! System metrics that `runlog run` samples while its program runs, like
//! MLflow's and W&B's: CPU utilisation and resident memory of the program's
//! process tree, the host's memory, and per-GPU utilisation, memory, power
//! and temperature where NVML is present ([`gpu`]).
//!
//! A thread samples every interval (10 s by default) and hands the points to
//! the run loop, which commits them with the run's other records. Series are
//! `system/<node>/<metric>` (per node, so the nodes of one multi-node run
//! stay apart) and carry the rank of the process `runlog run` wraps, like any
//! point ([`crate::ranks::series_name`]). The cost is in `docs/ranks.md`.

pub mod gpu;

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use sysinfo::{MemoryRefreshKind, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::sink::{Batch, Item, MetricItem, MetricValue, RunRef, Sink};
use crate::store::now_ms;

/// Default sampling interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// Prefix of every system metric's name.
pub const PREFIX: &str = "system";

/// A node name as a path segment of a metric name: characters other than
/// letters, digits, `-`, `_` and `.` become `_`.
pub fn node_segment(node: &str) -> String {
    let seg: String = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if seg.is_empty() {
        "node".to_string()
    } else {
        seg
    }
}

/// A running sampler; stops (and joins its thread) when dropped.
pub struct Sampler {
    points: Receiver<MetricItem>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What a sampler samples and how its series are named.
pub struct Target {
    /// The program's process: its tree is sampled.
    pub root: u32,
    /// The node, for the series names.
    pub node: String,
    /// The rank of the process `runlog run` wraps, if any.
    pub rank: Option<u32>,
    /// `CUDA_VISIBLE_DEVICES` of the program.
    pub cuda_visible: Option<String>,
}

impl Sampler {
    /// Starts sampling `target` every `interval` (the first sample after one interval).
    pub fn start(target: Target, interval: Duration) -> Self {
        let (tx, points) = mpsc::channel();
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("runlog-sysmetrics".into())
            .spawn(move || sample_loop(target, interval, tx, stopped))
            .ok();
        if thread.is_none() {
            eprintln!("runlog: cannot start the system metrics sampler; continuing without it");
        }
        Self {
            points,
            stop: Some(stop),
            thread,
        }
    }

    /// The points sampled since the last call.
    pub fn take(&self) -> Vec<MetricItem> {
        self.points.try_iter().collect()
    }

    /// Stops the thread; returns the points it had not handed over.
    pub fn stop(mut self) -> Vec<MetricItem> {
        self.halt();
        self.take()
    }

    fn halt(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Commits sampled points to `run`. A failure is a warning: system metrics
/// never stop a run (the points are lost, the program's records are not).
pub fn commit(sink: &mut dyn Sink, run: &RunRef, points: Vec<MetricItem>) {
    if points.is_empty() {
        return;
    }
    let mut batch = Batch::new(run.clone());
    batch.items = points.into_iter().map(Item::Metric).collect();
    if let Err(e) = sink.commit(&batch) {
        eprintln!("runlog: warning: system metrics not recorded: {e:#}");
    }
}

/// The process tree under `root`: `root` and every process whose parent chain reaches it.
fn tree(sys: &System, root: Pid) -> HashSet<Pid> {
    let parents: HashMap<Pid, Pid> = sys
        .processes()
        .iter()
        .filter_map(|(pid, p)| Some((*pid, p.parent()?)))
        .collect();
    let mut inside = HashSet::from([root]);
    for pid in parents.keys() {
        let mut chain = Vec::new();
        let mut at = *pid;
        // Bounded: a parent cycle (pid reuse between reads) cannot loop.
        for _ in 0..parents.len().min(4096) {
            if inside.contains(&at) {
                inside.extend(chain);
                break;
            }
            chain.push(at);
            match parents.get(&at) {
                Some(p) => at = *p,
                None => break,
            }
        }
    }
    inside
}

/// One sample: (metric under `system/<node>/`, value).
fn sample(sys: &mut System, root: Pid, gpus: Option<&gpu::Gpus>) -> Vec<(String, f64)> {
    sys.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing().with_cpu().with_memory(),
    );
    sys.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
    let procs = tree(sys, root);
    let (mut cpu, mut rss) = (0f64, 0u64);
    for pid in &procs {
        if let Some(p) = sys.process(*pid) {
            cpu += f64::from(p.cpu_usage());
            rss += p.memory();
        }
    }
    let total = sys.total_memory();
    let used = sys.used_memory();
    let mut out = vec![
        ("process_cpu_utilization_percentage".to_string(), cpu),
        ("process_memory_rss_megabytes".to_string(), rss as f64 / 1e6),
        ("process_count".to_string(), procs.len() as f64),
        (
            "system_memory_usage_megabytes".to_string(),
            used as f64 / 1e6,
        ),
        (
            "system_memory_usage_percentage".to_string(),
            if total == 0 {
                0.0
            } else {
                used as f64 * 100.0 / total as f64
            },
        ),
    ];
    if let Some(g) = gpus {
        g.sample(&mut out);
    }
    out
}

fn sample_loop(target: Target, interval: Duration, tx: Sender<MetricItem>, stop: Receiver<()>) {
    let Ok(mut sys) = System::new() else {
        eprintln!("runlog: system metrics are not available here; continuing without them");
        return;
    };
    // Without an NVIDIA driver (the usual case) there is nothing to say.
    let gpus = gpu::Gpus::open(target.cuda_visible.as_deref()).ok();
    let root = Pid::from_u32(target.root);
    let prefix = format!("{PREFIX}/{}/", node_segment(&target.node));
    let mut names: HashMap<String, Arc<str>> = HashMap::new();
    // A first reading, so that the first sample's CPU figure covers one interval.
    let _ = sample(&mut sys, root, None);
    let mut step = 0u64;
    loop {
        match stop.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let time_ms = now_ms();
        for (metric, value) in sample(&mut sys, root, gpus.as_ref()) {
            let name = names
                .entry(metric)
                .or_insert_with_key(|m| {
                    Arc::from(crate::ranks::series_name(
                        &format!("{prefix}{m}"),
                        target.rank,
                    ))
                })
                .clone();
            let item = MetricItem {
                name,
                value: MetricValue::F64(value),
                step: Some(step),
                time_ms: Some(time_ms),
            };
            if tx.send(item).is_err() {
                return;
            }
        }
        step += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_become_one_path_segment() {
        assert_eq!(node_segment("gpu-node.3"), "gpu-node.3");
        assert_eq!(node_segment("a/b c"), "a_b_c");
        assert_eq!(node_segment(""), "node");
    }

    #[test]
    fn the_tree_holds_the_root_and_its_descendants_only() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 2 & sleep 2 & wait"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let mut sys = System::new().unwrap();
        sys.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing(),
        );
        let procs = tree(&sys, Pid::from_u32(child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(procs.len(), 3, "sh and its two sleeps: {procs:?}");
        assert!(!procs.contains(&Pid::from_u32(std::process::id())));
    }
}
