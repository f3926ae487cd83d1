//! Uploader into `runlog serve`, in metrics per second, side by side in the
//! same run with the MLflow Python client's log_batch into a real `mlflow
//! server` (the peer figure: bench/mlflow_client_bench.py).
//!
//! `cargo bench -p runlog-uploader --bench serve_throughput`
//! Env: RUNLOG_BENCH_METRICS (default 1000000), RUNLOG_BENCH_RUNS (5),
//! RUNLOG_BENCH_PEER=0 (skip the peer, for profiling), RUNLOG_MLFLOW_PYTHON, RUNLOG_MLFLOW_BENCH (path of mlflow_client_bench.py; default
//! `bench/mlflow_client_bench.py` in the repository, else ../shared/bench/ beside it),
//! RUNLOG_BENCH_BASE_SERVE (another `runlog` binary, e.g. built from an
//! older commit: its `serve` is measured too, in the same run, with the same
//! uploader, for a before/after figure).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use common::*;
use runlog_core::{Metric, Name, Record, RunStatus, Value};

fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// User + system CPU seconds a process has used (/proc/PID/stat).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    // After the command name: state is field 3, utime 14 and stime 15 (1-based).
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(14) + ticks(15)) / hz
}

fn env_num(k: &str, default: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: run only for real.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n = env_num("RUNLOG_BENCH_METRICS", 1_000_000);
    let runs = env_num("RUNLOG_BENCH_RUNS", 5);
    let tmp = tempfile::tempdir().unwrap();

    let base = std::env::var_os("RUNLOG_BENCH_BASE_SERVE").map(PathBuf::from);
    let mut base_rates = Vec::new();
    let mut rates = Vec::new();
    // Alternate the two servers run by run, so load on the machine hits both alike.
    for r in 0..runs {
        if let Some(bin) = &base {
            base_rates.push(drain_into_serve(
                tmp.path(),
                bin,
                n,
                &format!("base{r}"),
                "base",
            ));
        }
        rates.push(drain_into_serve(
            tmp.path(),
            &runlog_bin(),
            n,
            &format!("this{r}"),
            "this",
        ));
    }
    if base.is_some() {
        let (m, lo, hi) = stats(base_rates);
        let (tm, _, _) = stats(rates.clone());
        println!("uploader (runlog drain) -> base runlog serve (RUNLOG_BENCH_BASE_SERVE): median {m:.0} metrics/s (min {lo:.0}, max {hi:.0}; {runs} runs of {n}); this build / base: {:.2}x", tm / m);
    }
    // Everything arrived.
    let (runlog_med, runlog_min, runlog_max) = stats(rates);
    peer_and_ratio(tmp.path(), (runlog_med, runlog_min, runlog_max), runs, n);
}

/// A program's ring holding `n` float metrics, drained by the real `runlog
/// drain` into `serve_bin serve` over HTTP (MLflow REST, log-batch).
fn drain_into_serve(
    dir: &std::path::Path,
    serve_bin: &std::path::Path,
    n: usize,
    tag: &str,
    label: &str,
) -> f64 {
    let port = free_port();
    let mut cmd = Command::new(serve_bin);
    cmd.arg("--tracking-uri")
        .arg(dir.join(format!("served-{tag}")))
        .args(["serve", "--port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut serve = Proc::spawn("runlog serve", &mut cmd);
    wait_http(
        &format!("http://127.0.0.1:{port}/"),
        std::time::Duration::from_secs(20),
        &mut serve,
    );
    let uri = format!("http://127.0.0.1:{port}");
    let rate = {
        let r = tag;
        let spool = dir.join(format!("spool-{tag}"));
        let mut w = RingWriter::create(&spool, &format!("bench-{r}"), "bench", 64 << 20);
        let t0 = now_ms();
        for i in 0..n {
            w.push(&Record::Metric(Metric {
                name: Name::Text("loss"),
                value: Value::F64(i as f64 * 0.5),
                step: Some(i as u64),
                time_ms: Some(t0 + (i / 1000) as u64),
            }));
        }
        w.end(RunStatus::Finished);
        let serve_cpu0 = cpu_secs(serve.child.id());
        let start = Instant::now();
        let out = Command::new(runlog_bin())
            .args(["--tracking-uri", &uri, "drain", "--once", "--spool"])
            .arg(&spool)
            .output()
            .unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        drop(w);
        let rate = n as f64 / secs;
        // Where the time goes: the server's CPU seconds against the wall clock.
        let serve_cpu = cpu_secs(serve.child.id()) - serve_cpu0;
        eprintln!("runlog drain -> {label} runlog serve: run {r}: {n} metrics in {secs:.3} s = {rate:.0} metrics/s (server CPU {serve_cpu:.2} s)");
        rate
    };
    serve.stop();
    rate
}

/// The peer, MLflow's Python client, in the same run; prints both and the ratio.
fn peer_and_ratio(dir: &std::path::Path, runlog: (f64, f64, f64), runs: usize, n: usize) {
    let (runlog_med, runlog_min, runlog_max) = runlog;
    if std::env::var("RUNLOG_BENCH_PEER").is_ok_and(|v| v == "0") {
        println!("uploader (runlog drain) -> runlog serve: median {runlog_med:.0} metrics/s (min {runlog_min:.0}, max {runlog_max:.0}; {runs} runs of {n}); peer skipped (RUNLOG_BENCH_PEER=0)");
        return;
    }
    // The peer: MLflow's Python client log_batch(1000) into a real mlflow server.
    let Some(py) = mlflow_python() else { return };
    let script = std::env::var_os("RUNLOG_MLFLOW_BENCH")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let in_repo = workspace().join("bench/mlflow_client_bench.py");
            if in_repo.exists() {
                in_repo
            } else {
                workspace().join("../shared/bench/mlflow_client_bench.py")
            }
        });
    assert!(
        script.exists(),
        "no {} (set RUNLOG_MLFLOW_BENCH)",
        script.display()
    );
    let mport = free_port();
    let mut mlflow = start_mlflow(&py, &dir.join("mlflow"), mport);
    let muri = format!("http://127.0.0.1:{mport}");
    // The peer script once, as given (its async part alone takes minutes
    // against a loaded server), for all its figures...
    let out = Command::new(&py)
        .arg(&script)
        .args([muri.as_str(), "100"])
        .env("GIT_PYTHON_REFRESH", "quiet")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in text.lines().filter(|l| l.starts_with("mlflow ")) {
        println!("peer (mlflow_client_bench.py): {line}");
    }
    let mut peer: Vec<f64> = text
        .lines()
        .find_map(|l| l.strip_prefix("mlflow log_batch(1000): "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .into_iter()
        .collect();
    assert!(
        !peer.is_empty(),
        "no log_batch figure in the peer's output: {text}"
    );
    // ...then its log_batch(1000) measurement alone, repeated for a spread.
    let again = r#"
import sys, time
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
c = MlflowClient(sys.argv[1])
exp = c.get_experiment_by_name("anchor-bench")
rid = c.create_run(exp.experiment_id).info.run_id
ts = int(time.time() * 1000)
batch = [Metric("batch_loss", float(i), ts, i) for i in range(1000)]
k = 5
t = time.perf_counter()
for j in range(k):
    c.log_batch(rid, metrics=batch)
print(k * 1000 / (time.perf_counter() - t))
"#;
    for _ in 0..4 {
        let line = python(&py, again, &[&muri]);
        peer.push(line.trim().parse().expect("a rate"));
    }
    mlflow.stop();
    let peer_len = peer.len();
    let (peer_med, peer_min, peer_max) = stats(peer);
    println!("uploader (runlog drain) -> runlog serve: median {runlog_med:.0} metrics/s (min {runlog_min:.0}, max {runlog_max:.0}; {runs} runs of {n})");
    println!("MLflow Python client log_batch(1000) -> mlflow server: median {peer_med:.0} metrics/s (min {peer_min:.0}, max {peer_max:.0}; {peer_len} runs)");
    println!(
        "ratio (medians): {:.0}x (target >= 100x)",
        runlog_med / peer_med
    );
}
