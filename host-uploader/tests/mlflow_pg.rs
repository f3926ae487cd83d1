//! Past one machine: runs delivered exactly once into a real MLflow server
//! on PostgreSQL (served by two workers, proxied artifacts), offline first.
//!
//! The server comes from `scripts/mlflow-pg.sh` (which `.ci/run` calls):
//! RUNLOG_MLFLOW_PG_URI is its tracking URI, RUNLOG_MLFLOW_PG_DSN the
//! PostgreSQL database behind it (counted with `psql`). Without them these
//! tests fail under CI=true and skip loudly otherwise. The tests that need
//! no server (unreachable URIs) always run.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use runlog_core::{F64List, Metric, Name, Record, RunStatus, Value};
use serde_json::Value as Json;

/// The server runs named `run_id` (only those not deleted when
/// `active_only`), one run id a line.
fn server_runs_named(dsn: &str, run_id: &str, active_only: bool) -> String {
    let active = if active_only {
        " AND lifecycle_stage = 'active'"
    } else {
        ""
    };
    psql(
        dsn,
        &format!("SELECT run_uuid FROM runs WHERE name = '{run_id}'{active}"),
    )
}

/// The status PostgreSQL holds for server run `id`.
fn server_status(dsn: &str, id: &str) -> String {
    psql(
        dsn,
        &format!("SELECT status FROM runs WHERE run_uuid = '{id}'"),
    )
}

/// The keys of server run `id`'s tags LIKE `pattern`, sorted, one a line.
fn server_tag_keys(dsn: &str, id: &str, pattern: &str) -> String {
    psql(
        dsn,
        &format!(
            "SELECT key FROM tags WHERE run_uuid = '{id}' AND key LIKE '{pattern}' ORDER BY key"
        ),
    )
}

/// What a server test writes into: a temporary folder (dropping it deletes
/// the folder, so bind it), a store path in it, and the run id
/// `<prefix>-<now ms>`, which no earlier test used.
fn fresh_store(prefix: &str) -> (tempfile::TempDir, PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    (tmp, store, format!("{prefix}-{}", now_ms()))
}

/// `runlog sync --from store run_id` to the server at `uri`, as arguments.
fn sync_args<'a>(uri: &'a str, store: &'a Path, run_id: &'a str) -> [&'a str; 6] {
    let store = store.to_str().unwrap();
    ["--tracking-uri", uri, "sync", "--from", store, run_id]
}

/// Runs `script` with `py` and parses the last line it printed as JSON.
fn python_json(py: &Path, script: &str, args: &[&str]) -> Json {
    let out = python(py, script, args);
    serde_json::from_str(out.lines().last().unwrap()).unwrap()
}

/// `runlog` with `args`, in `cwd`.
fn runlog_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(runlog_bin());
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("RUNLOG_TRACKING_URI");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("runlog runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The server run id `runlog sync` reported for `run` (`RUN -> ID: ...`).
fn remote_id(sync_out: &str, run: &str) -> String {
    let prefix = format!("{run} -> ");
    let line = sync_out
        .lines()
        .rev()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for {run} in:\n{sync_out}"));
    line[prefix.len()..].split(':').next().unwrap().to_string()
}

/// Drains the spool of `store` into it, once.
fn drain_local(store: &Path) {
    let (ok, out, err) = runlog(&["--tracking-uri", store.to_str().unwrap(), "drain", "--once"]);
    assert!(ok, "drain failed:\n{out}\n{err}");
}

/// A run of `series` metrics × `points` values (value = step / 2) and one
/// artifact, recorded offline in the store at `store`; returns the artifact.
fn record_offline(store: &Path, run_id: &str, series: usize, points: usize) -> Vec<u8> {
    let ring_bytes = (series * points * 40 + (1 << 20)).next_power_of_two();
    let mut w = RingWriter::create(&store.join("spool"), run_id, "pg", ring_bytes);
    let names: Vec<String> = (0..series).map(|s| format!("metric{s}")).collect();
    let t0 = now_ms();
    for i in 0..points {
        for name in &names {
            w.push(&Record::Metric(Metric {
                name: Name::Text(name),
                value: Value::F64(i as f64 / 2.0),
                step: Some(i as u64),
                time_ms: Some(t0 + i as u64),
            }));
        }
    }
    w.push(&Record::Param {
        key: "lr",
        value: "0.01",
    });
    let artifact: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    w.artifact(1, "model/weights.bin", &artifact);
    w.end(RunStatus::Finished);
    drop(w);
    drain_local(store);
    artifact
}

/// Checks with PostgreSQL that run `id` holds `series` × `points` metric
/// rows, each (key, step) once, each value step / 2.
fn check_exactly_once_in_pg(dsn: &str, id: &str, series: usize, points: usize) {
    let rows = psql(
        dsn,
        &format!(
            "SELECT key, count(*), count(DISTINCT step), min(step), max(step), \
             sum(CASE WHEN value = step / 2.0 THEN 0 ELSE 1 END) \
             FROM metrics WHERE run_uuid = '{id}' GROUP BY key ORDER BY key"
        ),
    );
    let want: Vec<String> = (0..series)
        .map(|s| format!("metric{s},{points},{points},0,{},0", points - 1))
        .collect();
    let mut got: Vec<String> = rows.lines().map(str::to_string).collect();
    got.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(
        got, want_sorted,
        "key,rows,distinct steps,min,max,wrong values"
    );
}

/// Reads every metric history of run `id` with the MLflow client: counts,
/// order and values, the artifact's SHA-256, the status and the tag keys.
const READ_BACK: &str = r#"
import hashlib, json, sys, tempfile
from mlflow.tracking import MlflowClient
c = MlflowClient(sys.argv[1])
r = c.get_run(sys.argv[2])
out = {"status": r.info.status, "run_name": r.info.run_name, "tags": sorted(r.data.tags), "series": {}}
for k in sorted(r.data.metrics):
    h = c.get_metric_history(r.info.run_id, k)
    steps = [m.step for m in h]
    out["series"][k] = {"n": len(h), "ordered": steps == sorted(steps),
                        "distinct": len(set(steps)), "values_ok": all(m.value == m.step / 2 for m in h)}
d = tempfile.mkdtemp()
p = c.download_artifacts(r.info.run_id, "model/weights.bin", d)
out["artifact_sha256"] = hashlib.sha256(open(p, "rb").read()).hexdigest()
print(json.dumps(out))
"#;

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A small pseudo-random generator (the seed is printed, so a failure can be replayed).
fn next_rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn a_million_metrics_reach_mlflow_on_postgres_exactly_once_through_ten_sigkills() {
    let Some((uri, dsn)) = pg_server() else {
        return;
    };
    let (_tmp, store, run_id) = fresh_store("million");
    let Some(py) = mlflow_python() else { return };
    // 10 x 100,000 = 1 M (RUNLOG_PG_KILL_POINTS changes the points per series).
    let points = std::env::var("RUNLOG_PG_KILL_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let series = 10;
    let t = Instant::now();
    let artifact = record_offline(&store, &run_id, series, points);
    eprintln!(
        "recorded {} metrics offline in {:?}",
        series * points,
        t.elapsed()
    );

    let mut seed = now_ms() | 1;
    eprintln!("kill schedule seed {seed}");
    let sync_args = sync_args(&uri, &store, &run_id);
    let t = Instant::now();
    let mut kills = 0;
    while kills < 10 {
        let mut child = Command::new(runlog_bin())
            .args(sync_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // A random moment: 0.2 to 1.2 s into this attempt. Ten attempts
        // then deliver for at most 12 s, so even CI's 200 k metrics
        // (RUNLOG_PG_KILL_POINTS=20000) need a server taking over 16 k
        // metrics/s before the last kill to finish early (here: ~1.4 k/s).
        let after = Duration::from_millis(200 + next_rand(&mut seed) % 1000);
        std::thread::sleep(after);
        if child.try_wait().unwrap().is_some() {
            panic!(
                "sync finished before kill {}: make the run bigger",
                kills + 1
            );
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
    }
    let (ok, out, err) = runlog(&sync_args);
    assert!(ok, "the last sync failed:\n{out}\n{err}");
    eprintln!("delivered through {kills} SIGKILLs in {:?}", t.elapsed());
    let id = remote_id(&out, &run_id);

    check_exactly_once_in_pg(&dsn, &id, series, points);
    let t = Instant::now();
    let v = python_json(&py, READ_BACK, &[&uri, &id]);
    eprintln!("read back with the MLflow client in {:?}", t.elapsed());
    assert_eq!(v["status"], "FINISHED");
    assert_eq!(
        v["run_name"],
        run_id.as_str(),
        "one run id: the MLflow run name"
    );
    for s in 0..series {
        let h = &v["series"][format!("metric{s}")];
        assert_eq!(h["n"], points as u64, "metric{s}: {h}");
        assert_eq!(h["distinct"], points as u64, "metric{s}: {h}");
        assert_eq!(h["ordered"], true, "metric{s}: {h}");
        assert_eq!(h["values_ok"], true, "metric{s}: {h}");
    }
    assert_eq!(v["artifact_sha256"], sha256_hex(&artifact).as_str());
    // Bookkeeping out of the way: runlog's one tag, and MLflow's own.
    let ours: Vec<&str> = v["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .filter(|t| !t.starts_with("mlflow."))
        .collect();
    assert_eq!(ours, vec!["runlog.sync"]);
}

#[test]
fn sync_twice_delivers_nothing_the_second_time() {
    let Some((uri, dsn)) = pg_server() else {
        return;
    };
    let (_tmp, store, run_id) = fresh_store("twice");
    record_offline(&store, &run_id, 3, 1500);
    let args = sync_args(&uri, &store, &run_id);
    let (ok, first, err) = runlog(&args);
    assert!(ok, "{first}\n{err}");
    assert!(
        first.contains("4500 metric values, 1 params, 1 artifacts, run end"),
        "{first}"
    );
    let id = remote_id(&first, &run_id);
    let (ok, second, err) = runlog(&args);
    assert!(ok, "{second}\n{err}");
    assert_eq!(second.trim(), format!("{run_id} -> {id}: nothing new"));
    check_exactly_once_in_pg(&dsn, &id, 3, 1500);
    // The store remembers which server run it became.
    let (ok, out, err) = runlog(&["--tracking-uri", &uri, "history", "info", "-r", &run_id]);
    assert!(
        ok,
        "history info by the runlog run id over HTTP:\n{out}\n{err}"
    );
    assert!(out.contains(&id), "{out}");
}

#[test]
fn batches_stay_within_mlflow_limits_and_refused_names_are_mapped() {
    let Some((uri, _dsn)) = pg_server() else {
        return;
    };
    let (_tmp, store, run_id) = fresh_store("limits");
    let Some(py) = mlflow_python() else { return };
    let mut w = RingWriter::create(&store.join("spool"), &run_id, "pg", 1 << 22);
    let keys: Vec<String> = (0..250).map(|i| format!("k{i:03}")).collect();
    for k in &keys {
        w.push(&Record::Param { key: k, value: k });
        w.push(&Record::Tag { key: k, value: k });
    }
    let list: Vec<f64> = (0..2500).map(|i| i as f64).collect();
    w.metric("curve", Value::F64List(F64List::new(&list)));
    for name in ["loss@val", "a//b", "../x", "ok name"] {
        w.metric(name, Value::F64(1.5));
    }
    w.end(RunStatus::Finished);
    drop(w);
    drain_local(&store);
    let (ok, out, err) = runlog(&sync_args(&uri, &store, &run_id));
    assert!(ok, "sync failed:\n{out}\n{err}");
    assert!(
        err.contains("\"loss@val\"") && err.contains("loss_val"),
        "{err}"
    );
    let id = remote_id(&out, &run_id);
    let v = python_json(
        &py,
        r#"
import json, sys
from mlflow.tracking import MlflowClient
c = MlflowClient(sys.argv[1])
r = c.get_run(sys.argv[2])
print(json.dumps({"params": len(r.data.params), "tags": len([t for t in r.data.tags if t.startswith("k")]),
                  "metrics": sorted(r.data.metrics), "curve": len(c.get_metric_history(sys.argv[2], "curve"))}))
"#,
        &[&uri, &id],
    );
    assert_eq!(v["params"], 250);
    assert_eq!(v["tags"], 250);
    assert_eq!(v["curve"], 2500);
    assert_eq!(
        v["metrics"],
        serde_json::json!(["__/x", "a/b", "curve", "loss_val", "ok name"])
    );
}

/// A TCP relay to the server that can be taken down (connections refused
/// and cut), to take the server away from runlog without stopping it.
struct Relay {
    port: u16,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(upstream: &str) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (d, o) = (down.clone(), open.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { continue };
                if d.load(Ordering::SeqCst) {
                    continue; // dropped: the server is "down"
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut open = o.lock().unwrap();
                open.push(client.try_clone().unwrap());
                open.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 65536];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Self { port, down, open }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            for s in self.open.lock().unwrap().drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Per-second figures a producer wrote: (log calls, ns spent in them).
fn read_rates(path: &Path) -> Vec<(u64, u64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (a, b) = l.split_once(' ')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the producer below under `runlog run --tracking-uri uri` in `cwd`
/// for `secs`; returns runlog's output and the per-second figures.
fn run_producer(cwd: &Path, uri: &str, secs: u64, name: &str) -> (String, String, Vec<(u64, u64)>) {
    let rates = cwd.join(format!("{name}.rates"));
    let exe = std::env::current_exe().unwrap();
    let (ok, out, err) = runlog_in(
        cwd,
        &[
            "--tracking-uri",
            uri,
            "run",
            "--experiment",
            "pg",
            "--",
            exe.to_str().unwrap(),
            "--exact",
            "producer_program",
            "--ignored",
            "--nocapture",
        ],
        &[
            ("PRODUCER_SECS", &secs.to_string()),
            ("PRODUCER_RATES", rates.to_str().unwrap()),
            ("RUNLOG_SYNC_WAIT_S", "120"),
        ],
    );
    assert!(ok, "runlog run failed:\n{out}\n{err}");
    (out, err, read_rates(&rates))
}

#[test]
fn the_program_logs_at_full_speed_through_a_60_s_outage_and_everything_arrives_once() {
    let Some((uri, dsn)) = pg_server() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // A run with the server up, for the comparison.
    let relay = Relay::start(&uri);
    let via = format!("http://127.0.0.1:{}", relay.port);
    let (_, _, up) = run_producer(tmp.path(), &via, 8, "up");

    let outage = std::thread::spawn({
        let down = relay.down.clone();
        let open = relay.open.clone();
        move || {
            let r = Relay {
                port: 0,
                down,
                open,
            };
            std::thread::sleep(Duration::from_secs(3));
            r.set_down(true);
            std::thread::sleep(Duration::from_secs(60));
            r.set_down(false);
        }
    });
    let (out, err, during) = run_producer(tmp.path(), &via, 66, "outage");
    outage.join().unwrap();
    assert!(
        err.contains("cannot deliver"),
        "the outage was noticed:\n{err}"
    );
    assert!(err.contains("delivered to"), "{err}");

    let per_call = |v: &[(u64, u64)]| -> Vec<f64> {
        v.iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, ns)| *ns as f64 / *n as f64)
            .collect()
    };
    // Seconds 5..62 of the second run are inside the outage.
    let in_outage: Vec<(u64, u64)> = during[5..62].to_vec();
    let (m_up, m_down) = (median(per_call(&up)), median(per_call(&in_outage)));
    let calls_up = median(up.iter().map(|r| r.0 as f64).collect());
    let calls_down = median(in_outage.iter().map(|r| r.0 as f64).collect());
    eprintln!(
        "log calls: server up {calls_up}/s at {m_up:.0} ns median; server down {calls_down}/s \
         at {m_down:.0} ns median"
    );
    assert!(
        calls_down >= 0.9 * calls_up,
        "the program was slowed: {calls_down} vs {calls_up}"
    );
    assert!(
        m_down < 3.0 * m_up + 2000.0,
        "log calls got slower: {m_down} vs {m_up} ns"
    );

    // Everything the program logged arrived, once (`runlog run`'s own
    // system metrics, `system/...`, are not the program's).
    let run_id = out.trim().lines().last().unwrap().to_string();
    let total: u64 = during.iter().map(|r| r.0).sum();
    let id = server_runs_named(&dsn, &run_id, false);
    assert_eq!(id.lines().count(), 1, "one server run for {run_id}: {id}");
    let counts = psql(
        &dsn,
        &format!(
            "SELECT count(*), count(DISTINCT (key, step)) FROM metrics WHERE run_uuid = '{id}' \
             AND key NOT LIKE 'system/%'"
        ),
    );
    assert_eq!(counts, format!("{total},{total}"));
    assert_eq!(server_status(&dsn, &id), "FINISHED");
}

/// The program `runlog run` starts in the outage test (not a test itself):
/// logs 5 metrics every 10 ms for PRODUCER_SECS, waiting (never dropping)
/// when the ring is full, and writes per second the log calls it made and
/// the ns they took.
#[test]
#[ignore]
fn producer_program() {
    let (Ok(run_id), Ok(spool), Ok(secs), Ok(rates)) = (
        std::env::var("RUNLOG_RUN_ID"),
        std::env::var("RUNLOG_SPOOL"),
        std::env::var("PRODUCER_SECS"),
        std::env::var("PRODUCER_RATES"),
    ) else {
        return;
    };
    let secs: u64 = secs.parse().unwrap();
    let mut w = RingWriter::create(&PathBuf::from(spool), &run_id, "pg", 1 << 22);
    let start = Instant::now();
    let mut step = 0u64;
    let mut lines = String::new();
    for s in 0..secs {
        let (mut calls, mut ns) = (0u64, 0u64);
        for tick in 0..100u32 {
            let t = Instant::now();
            for k in 0..5 {
                let name = format!("m{k}");
                let rec = Record::Metric(Metric {
                    name: Name::Text(&name),
                    value: Value::F64(step as f64),
                    step: Some(step),
                    time_ms: Some(now_ms()),
                });
                while w.try_push(&rec).is_none() {
                    std::thread::yield_now();
                }
                calls += 1;
            }
            step += 1;
            ns += t.elapsed().as_nanos() as u64;
            let next =
                start + Duration::from_secs(s) + Duration::from_millis(10 * (tick as u64 + 1));
            if let Some(d) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
        lines.push_str(&format!("{calls} {ns}\n"));
    }
    w.end(RunStatus::Finished);
    std::fs::write(rates, lines).unwrap();
}

#[test]
fn history_against_an_unreachable_server_fails_within_10_s_naming_uri_and_cause() {
    // Nothing listens on port 1; the second server accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_uri = format!("http://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let held = Arc::new(Mutex::new(Vec::new()));
    std::thread::spawn({
        let held = held.clone();
        move || {
            for c in silent.incoming().flatten() {
                held.lock().unwrap().push(c);
            }
        }
    });
    for (uri, cause) in [
        ("http://127.0.0.1:1", "refused"),
        (silent_uri.as_str(), "timeout"),
    ] {
        let t = Instant::now();
        let (ok, out, err) = runlog(&["--tracking-uri", uri, "history", "list"]);
        let took = t.elapsed();
        assert!(!ok, "{out}");
        assert!(took < Duration::from_secs(10), "{uri}: took {took:?}");
        assert!(err.contains(uri), "the message names the URI: {err}");
        assert!(
            err.to_lowercase().contains(cause),
            "the message names the cause ({cause}): {err}"
        );
    }
}

#[test]
fn run_with_an_unreachable_server_starts_the_program_at_once_and_keeps_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let (ok, out, err) = runlog_in(
        tmp.path(),
        &[
            "--tracking-uri",
            "http://127.0.0.1:1",
            "run",
            "--",
            "sh",
            "-c",
            "echo program-started",
        ],
        &[("RUNLOG_SYNC_WAIT_S", "1")],
    );
    let took = t.elapsed();
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("program-started"), "{out}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let run_id = out.trim().lines().last().unwrap();
    assert!(
        err.contains("not yet delivered to http://127.0.0.1:1") && err.contains("sync --from"),
        "{err}"
    );
    // The run is in the local store, for `runlog sync` later.
    let (ok, list, err) = runlog_in(tmp.path(), &["-o", "tsv", "history", "list"], &[]);
    assert!(ok, "{err}");
    assert!(list.contains(run_id) && list.contains("FINISHED"), "{list}");
}

/// Not a test: records a run offline for scripts/bench-mlflow-pg.sh
/// (BENCH_STORE, BENCH_RUN, BENCH_SERIES × BENCH_POINTS metrics).
#[test]
#[ignore]
fn bench_record_offline() {
    let (Ok(store), Ok(run)) = (std::env::var("BENCH_STORE"), std::env::var("BENCH_RUN")) else {
        return;
    };
    let num = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    record_offline(
        Path::new(&store),
        &run,
        num("BENCH_SERIES", 10),
        num("BENCH_POINTS", 20_000),
    );
}

/// `runlog drain --tracking-uri http://...` records into the local store and
/// delivers from there, exactly once, like `runlog run`: the server holds
/// every point once, one sync tag and no per-stream bookkeeping tags, and
/// `runlog history` of the local store shows the MLflow run id.
#[test]
fn drain_to_mlflow_goes_through_the_local_store_exactly_once() {
    let Some((uri, dsn)) = pg_server() else {
        return;
    };
    let (tmp, _, run_id) = fresh_store("drain-pg");
    let spool = tmp.path().join("spool");
    let (series, points) = (3usize, 2_500usize);
    let mut w = RingWriter::create(&spool, &run_id, "pg", 1 << 20);
    for i in 0..points {
        for s in 0..series {
            w.push(&Record::Metric(Metric {
                name: Name::Text(&format!("metric{s}")),
                value: Value::F64(i as f64 / 2.0),
                step: Some(i as u64),
                time_ms: Some(1_700_000_000_000 + i as u64),
            }));
        }
    }
    w.end(RunStatus::Finished);
    drop(w);
    let drain = |uri: &str| {
        runlog_in(
            tmp.path(),
            &[
                "--tracking-uri",
                uri,
                "drain",
                "--once",
                "--spool",
                spool.to_str().unwrap(),
            ],
            &[("RUNLOG_SYNC_WAIT_S", "60")],
        )
    };
    let (ok, out, err) = drain(&uri);
    assert!(ok, "drain failed:\n{out}\n{err}");
    assert!(
        err.contains(&format!("run {run_id} delivered to {uri}")),
        "{err}"
    );
    let id = server_runs_named(&dsn, &run_id, true);
    assert_eq!(id.lines().count(), 1, "one server run: {id}");
    check_exactly_once_in_pg(&dsn, &id, series, points);
    let tags = server_tag_keys(&dsn, &id, "runlog.%");
    assert_eq!(
        tags, "runlog.sync",
        "one bookkeeping tag, no runlog.stream.*"
    );
    assert_eq!(server_status(&dsn, &id), "FINISHED");

    // The local store has the run, and shows which MLflow run it became.
    let (ok, list, err) = runlog_in(tmp.path(), &["-o", "tsv", "history", "list"], &[]);
    assert!(ok, "{err}");
    let header: Vec<&str> = list.lines().next().unwrap().split('\t').collect();
    let col = header
        .iter()
        .position(|h| *h == "mlflow_run_id")
        .expect("column");
    let row = list
        .lines()
        .find(|l| l.starts_with(&run_id))
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(row.split('\t').nth(col), Some(id.as_str()), "{list}");
    let (ok, info, err) = runlog_in(tmp.path(), &["history", "info", "-r", &run_id], &[]);
    assert!(ok, "{err}");
    assert!(
        info.lines()
            .any(|l| l.starts_with("mlflow run") && l.ends_with(&id)),
        "{info}"
    );
    let (ok, json, _) = runlog_in(
        tmp.path(),
        &["-o", "json", "history", "info", "-r", &run_id],
        &[],
    );
    assert!(ok);
    let v: Json = serde_json::from_str(&json).unwrap();
    assert_eq!(v["run"]["mlflow_run_id"], Json::from(id.clone()));

    // With the server unreachable, drain keeps the run locally, says how to
    // deliver it, and fails; `runlog sync` then sends nothing twice.
    let mut w = RingWriter::create(&spool, &format!("{run_id}-b"), "pg", 1 << 16);
    w.metric("late", Value::I64(7));
    w.end(RunStatus::Finished);
    drop(w);
    let (ok, _, err) = runlog_in(
        tmp.path(),
        &[
            "--tracking-uri",
            "http://127.0.0.1:1",
            "drain",
            "--once",
            "--spool",
            spool.to_str().unwrap(),
        ],
        &[("RUNLOG_SYNC_WAIT_S", "1")],
    );
    assert!(!ok, "not delivered is a failure");
    assert!(
        err.contains("not yet delivered") && err.contains("sync --from"),
        "{err}"
    );
    let (ok, out, err) = runlog_in(tmp.path(), &["--tracking-uri", &uri, "sync"], &[]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains(&format!("{run_id} -> {id}: nothing new")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{run_id}-b -> ")) && out.contains("1 metric values"),
        "{out}"
    );
    check_exactly_once_in_pg(&dsn, &id, series, points);
}

/// Two stores (two nodes of one job) delivering one run at the same instant
/// make one MLflow run: both look again right after creating, keep the run
/// with the smallest id and delete the other; every series of both stores
/// arrives in the kept run exactly once. Several rounds, to meet the race.
#[test]
fn two_nodes_creating_one_run_at_the_same_instant_make_one_mlflow_run() {
    let Some((uri, dsn)) = pg_server() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let points = 300usize;
    let mut duplicates = 0;
    for round in 0..4 {
        let run_id = format!("race-{}-{round}", now_ms());
        let mut stores = Vec::new();
        for node in ["nodeA", "nodeB"] {
            let store = tmp.path().join(format!("{round}/{node}/.runlog"));
            let mut w = RingWriter::create(&store.join("spool"), &run_id, "pg-race", 1 << 20);
            for i in 0..points {
                w.push(&Record::Metric(Metric {
                    name: Name::Text(&format!("{node}-loss")),
                    value: Value::F64(i as f64 / 2.0),
                    step: Some(i as u64),
                    time_ms: Some(1_700_000_000_000 + i as u64),
                }));
            }
            // What `runlog run` records when a rank ends: it names the node.
            let rank = if node == "nodeA" { "0" } else { "1" };
            w.push(&Record::Tag {
                key: &format!("runlog.rank.{rank}"),
                value: &format!("FINISHED exit 0 on {node}"),
            });
            w.end(RunStatus::Finished);
            drop(w);
            drain_local(&store);
            stores.push(store);
        }
        let syncs: Vec<_> = stores
            .iter()
            .map(|s| {
                Command::new(runlog_bin())
                    .args(["--tracking-uri", &uri, "sync", "--from"])
                    .arg(s)
                    .arg(&run_id)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for s in syncs {
            let out = s.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let active = server_runs_named(&dsn, &run_id, true);
        assert_eq!(active.lines().count(), 1, "one active run: {active}");
        let all = psql(
            &dsn,
            &format!("SELECT count(*) FROM runs WHERE name = '{run_id}'"),
        );
        duplicates += all.parse::<usize>().unwrap() - 1;
        let counts = psql(
            &dsn,
            &format!(
                "SELECT key, count(*), count(DISTINCT step) FROM metrics \
                 WHERE run_uuid = '{active}' GROUP BY key ORDER BY key"
            ),
        );
        assert_eq!(
            counts,
            format!("nodeA-loss,{points},{points}\nnodeB-loss,{points},{points}"),
            "both nodes' series, each point once"
        );
        let tags = server_tag_keys(&dsn, &active, "runlog.sync%");
        assert_eq!(
            tags, "runlog.sync.nodeA\nrunlog.sync.nodeB",
            "a sync tag per node"
        );
        // A second sync from either node finds everything there.
        for s in &stores {
            let (ok, out, err) = runlog(&sync_args(&uri, s, &run_id));
            assert!(ok, "{err}");
            assert!(out.contains("nothing new"), "{out}");
        }
    }
    eprintln!("duplicate runs made and deleted over 4 rounds: {duplicates}");
}
