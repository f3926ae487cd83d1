//! Reads of a long run: `runlog history info` of an 11 M-point run (100
//! series of 100 k points and one of 1 M), `history info --chart` of a run
//! holding only a 1 M-point series, and MLflow get-history of that series
//! through `runlog serve`, paged as MLflow pages it (25 000 points a page).
//! Prints wall time (median, min, max) and peak RSS of each command, and the
//! store's bytes per value. The get-history repetitions alternate between
//! the binaries (both servers up at once).
//!
//! `cargo bench -p runlog-uploader --bench read` (release profile).
//! Environment: RUNLOG_BENCH_REPS (default 3); RUNLOG_READ_SCALE (default 1:
//! 100 k points per small series, 1 M in the big one; 10 means a tenth);
//! RUNLOG_BASE_BIN: another `runlog` binary (say, an older commit's) measured
//! side by side, each with a store it drained itself.

#[path = "../tests/spool_writer/mod.rs"]
mod spool_writer;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use runlog_core::{Metric, Name, Record, RunStatus, Value};
use spool_writer::{now_ms, SpoolWriter};

const SMALL_SERIES: usize = 100;

struct Sizes {
    small_points: u64,
    big_points: u64,
}

/// A deterministic noisy walk with one spike, so that a chart that lost
/// spikes would show it.
fn big_value(j: u64, spike_at: u64) -> f64 {
    if j == spike_at {
        return 1e6;
    }
    let h = j.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    (j as f64 * 1e-5).sin() * 10.0 + (h as f64 / (1u64 << 53) as f64)
}

/// Drains the two runs into a fresh store with `bin drain`.
fn make_store(bin: &Path, dir: &Path, sizes: &Sizes) -> f64 {
    let store = dir.join("store");
    let spool = store.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let mut drain = Command::new(bin)
        .args(["--tracking-uri", store.to_str().unwrap(), "drain"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let names: Vec<String> = (0..SMALL_SERIES).map(|s| format!("s{s:02}")).collect();
    let t0 = now_ms();
    let spike = sizes.big_points * 7 / 9;
    let per_small = sizes.big_points / sizes.small_points;
    let mut w = SpoolWriter::create(&spool, "big", "bench", 8 << 20);
    let mut j = 0u64;
    for i in 0..sizes.small_points {
        for (s, name) in names.iter().enumerate() {
            let v = (i as f64 * 1e-3 + s as f64).sin();
            w.push(&Record::Metric(metric(name, v, t0 + i / 10)));
        }
        for _ in 0..per_small {
            w.push(&Record::Metric(metric(
                "big",
                big_value(j, spike),
                t0 + i / 10,
            )));
            j += 1;
        }
    }
    let last = w.finish(RunStatus::Finished);
    assert!(
        w.wait(last, Duration::from_secs(1200)),
        "big run not drained"
    );
    let mut w = SpoolWriter::create(&spool, "million", "bench", 8 << 20);
    for j in 0..sizes.big_points {
        w.push(&Record::Metric(metric(
            "big",
            big_value(j, spike),
            t0 + j / 100,
        )));
    }
    let last = w.finish(RunStatus::Finished);
    assert!(
        w.wait(last, Duration::from_secs(1200)),
        "million run not drained"
    );
    // SAFETY: SIGTERM to our own child, which then exits cleanly.
    unsafe { libc::kill(drain.id() as i32, libc::SIGTERM) };
    drain.wait().unwrap();
    let conn = rusqlite::Connection::open(store.join("history.sqlite")).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let values: i64 = conn
        .query_row("SELECT SUM(count) FROM series", [], |r| r.get(0))
        .unwrap();
    let expected = sizes.small_points * SMALL_SERIES as u64 + 2 * sizes.big_points;
    assert_eq!(values as u64, expected, "every point stored");
    std::fs::metadata(store.join("history.sqlite"))
        .unwrap()
        .len() as f64
        / values as f64
}

fn metric(name: &str, v: f64, t: u64) -> Metric<'_> {
    Metric {
        name: Name::Text(name),
        value: Value::F64(v),
        step: None,
        time_ms: Some(t),
    }
}

/// Runs `bin args`, returning wall seconds and peak RSS in MiB.
fn timed(bin: &Path, args: &[&str]) -> (f64, f64) {
    let start = Instant::now();
    #[allow(clippy::zombie_processes)] // reaped by wait4 below
    let child = Command::new(bin)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data, filled by wait4 for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into the two locals.
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(status, 0, "{} {args:?} failed", bin.display());
    (secs, usage.ru_maxrss as f64 / 1024.0)
}

/// Every page of get-history for metric `big` of run `million`; returns the points seen.
fn get_history(port: u16) -> u64 {
    let mut token = String::new();
    let mut seen = 0u64;
    loop {
        let mut url = format!(
            "http://127.0.0.1:{port}/api/2.0/mlflow/metrics/get-history?run_id=million&metric_key=big&max_results=25000"
        );
        if !token.is_empty() {
            url.push_str(&format!("&page_token={token}"));
        }
        let body = ureq::get(&url)
            .call()
            .unwrap()
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        seen += v["metrics"].as_array().map_or(0, |a| a.len() as u64);
        match v["next_page_token"].as_str() {
            Some(t) => token = t.to_string(),
            None => return seen,
        }
    }
}

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    format!(
        "median {:.3}, min {:.3}, max {:.3}",
        v[v.len() / 2],
        v[0],
        v[v.len() - 1]
    )
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let reps = env("RUNLOG_BENCH_REPS", 3).max(1) as usize;
    let scale = env("RUNLOG_READ_SCALE", 1).max(1);
    let sizes = Sizes {
        small_points: 100_000 / scale,
        big_points: 1_000_000 / scale,
    };
    let mut bins: Vec<(&str, PathBuf)> = vec![("this build", env!("CARGO_BIN_EXE_runlog").into())];
    if let Some(base) = std::env::var_os("RUNLOG_BASE_BIN") {
        bins.insert(0, ("base", base.into()));
    }
    let work = tempfile::tempdir().unwrap();
    let mut stores = Vec::new();
    for (i, (label, bin)) in bins.iter().enumerate() {
        let dir = work.path().join(format!("b{i}"));
        let bpv = make_store(bin, &dir, &sizes);
        println!(
            "{label}: store of {} + {} points: {bpv:.2} bytes per value",
            sizes.small_points * SMALL_SERIES as u64 + sizes.big_points,
            sizes.big_points
        );
        stores.push(dir.join("store"));
    }
    for ((label, bin), store) in bins.iter().zip(&stores) {
        let s = store.to_str().unwrap();
        let mut info = (Vec::new(), Vec::new());
        let mut chart = (Vec::new(), Vec::new());
        let svg = store.join("chart.svg");
        for _ in 0..reps {
            let (t, m) = timed(bin, &["--tracking-uri", s, "history", "info", "-r", "big"]);
            info.0.push(t);
            info.1.push(m);
            let (t, m) = timed(
                bin,
                &[
                    "--tracking-uri",
                    s,
                    "history",
                    "info",
                    "-r",
                    "million",
                    "--chart",
                    svg.to_str().unwrap(),
                ],
            );
            chart.0.push(t);
            chart.1.push(m);
        }
        println!(
            "{label}: history info of the {}-point run: seconds {}; peak RSS MiB {}",
            sizes.small_points * SMALL_SERIES as u64 + sizes.big_points,
            stats(info.0),
            stats(info.1)
        );
        println!(
            "{label}: history info --chart of the {}-point series: seconds {}; peak RSS MiB {}",
            sizes.big_points,
            stats(chart.0),
            stats(chart.1)
        );
    }
    // get-history: every binary's server up at once, repetitions alternating
    // between them, so that the machine's load drifts hit both alike.
    let mut servers: Vec<(std::process::Child, u16)> = bins
        .iter()
        .zip(&stores)
        .map(|((_, bin), store)| serve(bin, store))
        .collect();
    let mut pages = vec![Vec::new(); bins.len()];
    for _ in 0..reps {
        for (i, (_, port)) in servers.iter().enumerate() {
            let start = Instant::now();
            assert_eq!(get_history(*port), sizes.big_points);
            pages[i].push(start.elapsed().as_secs_f64());
        }
    }
    for (child, _) in &mut servers {
        let _ = child.kill();
        let _ = child.wait();
    }
    for ((label, _), pages) in bins.iter().zip(pages) {
        println!("{label}: MLflow get-history of the {}-point series through runlog serve, all pages: seconds {}",
            sizes.big_points, stats(pages));
    }
}

/// Starts `bin serve` over `store` on a free port and waits until it accepts connections.
fn serve(bin: &Path, store: &Path) -> (std::process::Child, u16) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new(bin)
        .args([
            "--tracking-uri",
            store.to_str().unwrap(),
            "serve",
            "--port",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "runlog serve did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, port)
}
