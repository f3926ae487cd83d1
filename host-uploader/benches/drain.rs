//! Drain throughput: a producer (this process) logs N scalar metrics into a
//! real spool ring as fast as it can while the real `runlog drain` binary
//! drains them into the embedded store. Prints metrics/s (median and spread
//! over repetitions), the uploader's peak RSS and the store's bytes per value.
//!
//! `cargo bench -p runlog-uploader --bench drain` (release profile).
//! Environment: RUNLOG_BENCH_N (default 10,000,000), RUNLOG_BENCH_REPS (default 3),
//! RUNLOG_BASE_BIN: another `runlog` binary (say, an older commit's) measured
//! side by side, alternating repetitions with this one.

#[path = "../tests/spool_writer/mod.rs"]
mod spool_writer;

use std::process::Stdio;
use std::time::{Duration, Instant};

use runlog_core::{Metric, Name, Record, RunStatus, Value};
use spool_writer::{now_ms, SpoolWriter};

const NAMES: [&str; 8] = [
    "loss",
    "accuracy",
    "lr",
    "grad_norm",
    "val_loss",
    "val_acc",
    "tokens",
    "step_time",
];

struct Rep {
    bytes_per_value: f64,
    secs: f64,
    cpu_secs: f64,
    peak_kib: i64,
    full_retries: u64,
}

fn one_rep(bin: &std::path::Path, n: u64) -> Rep {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let spool = store.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    #[allow(clippy::zombie_processes)] // reaped by wait4 below
    let child = std::process::Command::new(bin)
        .args(["--tracking-uri", store.to_str().unwrap(), "drain"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let the uploader open the store before the clock starts.
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let mut w = SpoolWriter::create(&spool, "bench", "bench", 8 << 20);
    let t0 = now_ms();
    for i in 0..n {
        w.push(&Record::Metric(Metric {
            name: Name::Text(NAMES[(i % 8) as usize]),
            value: Value::F64(i as f64 * 0.5),
            step: None,
            time_ms: Some(t0 + i / 1000),
        }));
    }
    let last = w.finish(RunStatus::Finished);
    assert!(w.wait(last, Duration::from_secs(600)), "not drained");
    let secs = start.elapsed().as_secs_f64();
    // SAFETY: SIGTERM to our own child, which then exits cleanly.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut status = 0;
    // SAFETY: rusage is plain data, filled by wait4 for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into the two locals.
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    // The series' counts: the same column in stores before and after chunks.
    let conn = rusqlite::Connection::open(store.join("history.sqlite")).unwrap();
    let stored: i64 = conn
        .query_row("SELECT SUM(count) FROM series", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored as u64, n, "every metric stored once");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let bytes = std::fs::metadata(store.join("history.sqlite"))
        .unwrap()
        .len();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Rep {
        bytes_per_value: bytes as f64 / n as f64,
        secs,
        cpu_secs: tv(usage.ru_utime) + tv(usage.ru_stime),
        peak_kib: usage.ru_maxrss,
        full_retries: w.full_retries,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let n = env("RUNLOG_BENCH_N", 10_000_000);
    let reps = env("RUNLOG_BENCH_REPS", 3).max(1);
    let mut bins = vec![(
        "this build",
        std::path::PathBuf::from(env!("CARGO_BIN_EXE_runlog")),
    )];
    if let Some(base) = std::env::var_os("RUNLOG_BASE_BIN") {
        bins.insert(0, ("base", base.into()));
    }
    let mut rates = vec![Vec::new(); bins.len()];
    for r in 0..reps {
        for (b, (label, bin)) in bins.iter().enumerate() {
            let rep = one_rep(bin, n);
            let rate = n as f64 / rep.secs;
            println!(
                "{label} rep {}: {n} metrics spool ring -> store in {:.2} s = {:.0} metrics/s (uploader CPU {:.2} s = {:.0} metrics per CPU-second); uploader peak RSS {:.1} MiB (ring mapping 8 MiB included); store {:.2} bytes per value; producer waited on a full ring {} times",
                r + 1,
                rep.secs,
                rate,
                rep.cpu_secs,
                n as f64 / rep.cpu_secs,
                rep.peak_kib as f64 / 1024.0,
                rep.bytes_per_value,
                rep.full_retries
            );
            rates[b].push(rate);
        }
    }
    for ((label, _), mut rates) in bins.iter().zip(rates) {
        rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let median = rates[rates.len() / 2];
        println!(
            "drain throughput ({label}): median {:.0} metrics/s, min {:.0}, max {:.0} ({} reps of {} metrics)",
            median,
            rates[0],
            rates[rates.len() - 1],
            reps,
            n
        );
    }
}
