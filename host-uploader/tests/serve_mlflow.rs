//! `runlog serve` and the HTTP sink against the real thing: a real `mlflow
//! server` and the `mlflow` Python client from PyPI, headless Chromium, and
//! the real `runlog` binary draining real spool rings.

mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use runlog_core::{RunStatus, Value};
use serde_json::Value as Json;

/// `runlog` with `args` in `cwd` (where `drain --tracking-uri http://...`
/// keeps its local store, `.runlog`).
fn runlog_at(cwd: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(runlog_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("RUNLOG_TRACKING_URI")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The server's id of runlog run `run` (`history info` over HTTP).
fn server_run_id(uri: &str, run: &str) -> String {
    let (ok, out, err) = runlog(&[
        "--tracking-uri",
        uri,
        "-o",
        "json",
        "history",
        "info",
        "-r",
        run,
    ]);
    assert!(ok, "{err}");
    let v: Json = serde_json::from_str(&out).unwrap();
    v["run"]["run_id"].as_str().unwrap().to_string()
}

/// Reads back, with the `mlflow` Python client, the run runlog uploaded.
const READ_BACK: &str = r#"
import json, sys, tempfile
from mlflow.tracking import MlflowClient
c = MlflowClient(sys.argv[1])
exp = c.get_experiment_by_name(sys.argv[2])
# The MLflow run is named after the runlog run id (drained, or delivered by `runlog run`).
runs = c.search_runs([exp.experiment_id], filter_string="attributes.run_name = '%s'" % sys.argv[3])
assert len(runs) == 1, runs
r = runs[0]
hist = {k: [[m.step, m.value] for m in sorted(c.get_metric_history(r.info.run_id, k), key=lambda m: m.step)]
        for k in r.data.metrics}
d = tempfile.mkdtemp()
summary = open(c.download_artifacts(r.info.run_id, "reports/summary.txt", d)).read()
files = sorted(f.path for f in c.list_artifacts(r.info.run_id, "model"))
print(json.dumps({"status": r.info.status, "metrics": r.data.metrics, "history": hist,
                  "tags": r.data.tags, "summary": summary, "model_files": files}))
"#;

/// The JSON document on the last line of a script's output (MLflow prints
/// "View run" lines before it).
fn last_json(out: &str) -> Result<Json, serde_json::Error> {
    serde_json::from_str(out.lines().last().unwrap_or(""))
}

fn check_train_example(v: &Json) {
    assert_eq!(v["status"], "FINISHED");
    let m = &v["metrics"];
    assert_eq!(m["Epochs"], 5.0);
    assert_eq!(m["Regularization Rate"], 0.01);
    assert_eq!(m["Accuracy"], 0.88);
    let h = &v["history"];
    let loss: Vec<f64> = h["Loss"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .collect();
    let want: Vec<f64> = (0..5)
        .map(|e| (-0.5 * (e as f64 + 1.0)).exp() + 0.01)
        .collect();
    assert_eq!(loss, want, "repeated metric Loss, steps 0..4");
    let steps: Vec<i64> = h["Loss per epoch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_i64().unwrap())
        .collect();
    assert_eq!(
        steps,
        vec![0, 1, 2, 3, 4],
        "a list is one metric with steps 0..n-1"
    );
    let correct: Vec<f64> = h["Correct per epoch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .collect();
    assert_eq!(correct, vec![600.0, 670.0, 740.0, 810.0, 880.0]);
    assert_eq!(v["tags"]["Optimizer"], "sgd", "a string is a tag");
    assert_eq!(v["summary"], SUMMARY);
    assert_eq!(v["model_files"], serde_json::json!(["model/model.txt"]));
}

#[test]
fn drain_into_real_mlflow_server_reads_back_with_mlflow_client() {
    let Some(py) = mlflow_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _mlflow = start_mlflow(&py, &tmp.path().join("mlflow"), port);
    let uri = format!("http://127.0.0.1:{port}");
    let spool = tmp.path().join("spool");
    write_train_example(&spool, "train-1", "workbench");
    let (ok, out, err) = runlog_at(
        tmp.path(),
        &[
            "--tracking-uri",
            &uri,
            "drain",
            "--spool",
            spool.to_str().unwrap(),
            "--once",
        ],
    );
    assert!(ok, "drain failed:\n{out}\n{err}");
    let v: Json = last_json(&python(&py, READ_BACK, &[&uri, "workbench", "train-1"])).unwrap();
    check_train_example(&v);

    // And `runlog history` reads the same run over HTTP.
    let (ok, out, err) = runlog(&[
        "--tracking-uri",
        &uri,
        "-o",
        "json",
        "history",
        "info",
        "-r",
        "train-1",
    ]);
    assert!(ok, "history info over HTTP failed:\n{out}\n{err}");
    assert!(
        out.contains("Loss per epoch") && out.contains("Optimizer"),
        "{out}"
    );
    let (ok, out, err) = runlog(&[
        "--tracking-uri",
        &uri,
        "history",
        "info",
        "-r",
        "train-1",
        "-a",
        "reports/summary.txt",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, SUMMARY);
    // Promote makes a registered model version whose source is the artifact prefix.
    let (ok, out, err) = runlog(&[
        "--tracking-uri",
        &uri,
        "history",
        "promote",
        "-r",
        "train-1",
        "-ap",
        "model",
        "-n",
        "wb-model",
    ]);
    assert!(ok, "promote over HTTP failed:\n{out}\n{err}");
    let src = python(
        &py,
        "import sys\nfrom mlflow.tracking import MlflowClient\nv = MlflowClient(sys.argv[1]).get_model_version('wb-model', '1')\nprint(v.source)",
        &[&uri],
    );
    assert!(src.trim().ends_with("/artifacts/model"), "{src}");
}

#[test]
fn c_example_under_runlog_run_into_real_mlflow_server() {
    let Some(py) = mlflow_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let exe = build_c_example(tmp.path());
    let port = free_port();
    let _mlflow = start_mlflow(&py, &tmp.path().join("mlflow"), port);
    let uri = format!("http://127.0.0.1:{port}");
    let work = tmp.path().join("work");
    fs::create_dir_all(&work).unwrap();
    let out = Command::new(runlog_bin())
        .args([
            "--tracking-uri",
            &uri,
            "run",
            "--experiment",
            "workbench-c",
            "--",
        ])
        .arg(&exe)
        .current_dir(&work)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "runlog run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run_id = stdout.lines().last().unwrap().trim().to_string();
    let v: Json = last_json(&python(&py, READ_BACK, &[&uri, "workbench-c", &run_id])).unwrap();
    check_train_example(&v);
    // `runlog run` uploaded outputs/ too.
    let model = python(
        &py,
        "import sys, tempfile\nfrom mlflow.tracking import MlflowClient\nc = MlflowClient(sys.argv[1])\nr = c.search_runs([c.get_experiment_by_name('workbench-c').experiment_id])[0]\nprint(sorted(f.path for f in c.list_artifacts(r.info.run_id, 'outputs')))",
        &[&uri],
    );
    assert!(model.contains("outputs/model.txt"), "{model}");
}

#[test]
fn drain_into_runlog_serve_keeps_values_exact() {
    let Some(py) = mlflow_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let store = tmp.path().join("served");
    let _serve = start_serve(&store, port, &[]);
    let uri = format!("http://127.0.0.1:{port}");
    let spool = tmp.path().join("spool");
    write_train_example(&spool, "train-2", "workbench");
    {
        // Integers beyond 2^53 survive the trip exactly.
        let mut w = RingWriter::create(&spool.join("big"), "big-ints", "workbench", 1 << 16);
        w.metric("huge", Value::I64(9_007_199_254_740_993));
        w.end(RunStatus::Finished);
    }
    for dir in [spool.clone(), spool.join("big")] {
        let (ok, out, err) = runlog_at(
            tmp.path(),
            &[
                "--tracking-uri",
                &uri,
                "drain",
                "--spool",
                dir.to_str().unwrap(),
                "--once",
            ],
        );
        assert!(ok, "drain failed:\n{out}\n{err}");
    }
    let v: Json = last_json(&python(&py, READ_BACK, &[&uri, "workbench", "train-2"])).unwrap();
    check_train_example(&v);
    // Over MLflow's batch limits: refused, nothing logged.
    let run_id = server_run_id(&uri, "train-2");
    let metrics: Vec<String> = (0..1001)
        .map(|i| format!(r#"{{"key":"over","value":{i},"timestamp":1,"step":{i}}}"#))
        .collect();
    let body = format!(
        r#"{{"run_id":"{run_id}","metrics":[{}]}}"#,
        metrics.join(",")
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(&format!("{uri}/api/2.0/mlflow/runs/log-batch"))
        .header("Content-Type", "application/json")
        .send(&body)
        .unwrap();
    let text = r.body_mut().read_to_string().unwrap();
    assert_eq!(r.status().as_u16(), 400, "{text}");
    assert!(
        text.contains("INVALID_PARAMETER_VALUE") && text.contains("1000 metrics"),
        "{text}"
    );
    // The served store is a runlog store: the same run, under the server's id.
    let big = server_run_id(&uri, "big-ints");
    let (ok, out, err) = runlog(&[
        "--tracking-uri",
        store.to_str().unwrap(),
        "-o",
        "json",
        "history",
        "info",
        "-r",
        &big,
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("9007199254740993"),
        "integer not exact in the store: {out}"
    );
}

#[test]
fn mlflow_python_client_logs_to_runlog_serve() {
    let Some(py) = mlflow_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let store = tmp.path().join("store");
    let _serve = start_serve(&store, port, &[]);
    let script = r#"
import json, os, sys, tempfile
import mlflow
from mlflow.tracking import MlflowClient
from mlflow.entities import Metric, Param, RunTag
uri = sys.argv[1]
mlflow.set_tracking_uri(uri)
mlflow.set_experiment("from-python")
with mlflow.start_run(run_name="py-run") as run:
    rid = run.info.run_id
    mlflow.log_param("lr", "0.01")
    mlflow.log_params({"batch": 32, "opt": "adam"})
    for i in range(10):
        mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    mlflow.log_metrics({"acc": 0.5, "f1": 0.25}, step=3)
    mlflow.set_tag("stage", "dev")
    d = tempfile.mkdtemp()
    p = os.path.join(d, "notes.txt")
    open(p, "w").write("hello from python")
    mlflow.log_artifact(p, artifact_path="docs")
    mlflow.log_text("inline text", "inline.txt")
c = MlflowClient(uri)
ts = 1700000000000
c.log_batch(rid, metrics=[Metric("batch_m", float(i), ts, i) for i in range(1000)],
            params=[Param("p%d" % i, str(i)) for i in range(100)], tags=[RunTag("t1", "v1")])
r = c.get_run(rid)
exp = c.get_experiment_by_name("from-python")
found = c.search_runs([exp.experiment_id], filter_string="params.lr = '0.01'")
hist = c.get_metric_history(rid, "loss")
batch_hist = c.get_metric_history(rid, "batch_m")
arts = sorted(f.path for f in c.list_artifacts(rid))
docs = [f.path for f in c.list_artifacts(rid, "docs")]
notes = open(c.download_artifacts(rid, "docs/notes.txt", tempfile.mkdtemp())).read()
# A param cannot change; MLflow says so with INVALID_PARAMETER_VALUE.
try:
    c.log_param(rid, "lr", "0.5")
    changed = "accepted"
except mlflow.exceptions.MlflowException as e:
    changed = e.error_code
print(json.dumps({
  "status": r.info.status, "name": r.info.run_name, "params": r.data.params, "metrics": r.data.metrics,
  "tags": {k: v for k, v in r.data.tags.items() if not k.startswith("mlflow.")},
  "found": [x.info.run_id for x in found] == [rid],
  "loss": [[m.step, m.value] for m in hist], "batch_len": len(batch_hist),
  "arts": arts, "docs": docs, "notes": notes, "changed": changed, "run_id": rid}))
"#;
    let v: Json = last_json(&python(&py, script, &[&format!("http://127.0.0.1:{port}")])).unwrap();
    assert_eq!(v["status"], "FINISHED");
    assert_eq!(v["name"], "py-run");
    assert_eq!(v["params"]["lr"], "0.01");
    assert_eq!(v["params"]["batch"], "32");
    assert_eq!(v["params"]["p99"], "99");
    assert_eq!(v["metrics"]["loss"], 0.1);
    assert_eq!(v["metrics"]["acc"], 0.5);
    assert_eq!(v["tags"]["stage"], "dev");
    assert_eq!(v["tags"]["t1"], "v1");
    assert_eq!(v["found"], true);
    let loss = v["loss"].as_array().unwrap();
    assert_eq!(loss.len(), 10);
    assert_eq!(loss[3], serde_json::json!([3, 0.25]));
    assert_eq!(v["batch_len"], 1000);
    assert_eq!(v["arts"], serde_json::json!(["docs", "inline.txt"]));
    assert_eq!(v["docs"], serde_json::json!(["docs/notes.txt"]));
    assert_eq!(v["notes"], "hello from python");
    assert_eq!(v["changed"], "INVALID_PARAMETER_VALUE");
    // What Python logged is in the runlog store, where `runlog history` reads it.
    let rid = v["run_id"].as_str().unwrap();
    let (ok, out, err) = runlog(&[
        "--tracking-uri",
        store.to_str().unwrap(),
        "history",
        "info",
        "-r",
        rid,
        "-a",
        "docs/notes.txt",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, "hello from python");
}

#[test]
fn run_page_in_headless_chromium_shows_metrics_and_charts() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let spool = tmp.path().join("spool");
    write_train_example(&spool, "page-run", "workbench");
    let (ok, out, err) = runlog(&[
        "--tracking-uri",
        store.to_str().unwrap(),
        "drain",
        "--spool",
        spool.to_str().unwrap(),
        "--once",
    ]);
    assert!(ok, "drain failed:\n{out}\n{err}");
    let port = free_port();
    let _serve = start_serve(&store, port, &[]);
    let url = format!("http://127.0.0.1:{port}/#/run/page-run");
    let profile = tmp.path().join("chromium");
    let chromium = |extra: &[&str]| {
        let out = Command::new("/usr/bin/chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                "--window-size=1200,1500",
                "--virtual-time-budget=10000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&url)
            .stdin(Stdio::null())
            .output()
            .expect("cannot run /usr/bin/chromium (Debian package chromium)");
        assert!(
            out.status.success(),
            "chromium failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = chromium(&["--dump-dom"]);
    assert!(
        dom.contains(r#"data-state="ready""#),
        "page did not finish: {dom}"
    );
    // One chart per list or repeated metric, each with its points drawn.
    for (metric, points) in [("Loss", 5), ("Loss per epoch", 5), ("Correct per epoch", 5)] {
        let fig = dom
            .split(r#"<figure class="chart""#)
            .find(|f| f.contains(&format!(r#"data-metric="{metric}""#)))
            .unwrap_or_else(|| panic!("no chart for {metric}: {dom}"));
        assert!(fig.contains("<canvas"), "chart {metric} is not drawn");
        assert!(
            fig.contains(&format!(r#"data-points="{points}""#)),
            "chart {metric}: {fig}"
        );
    }
    // Single values in the metrics table, strings, artifacts with downloads.
    for text in [
        "Accuracy",
        "0.88",
        "Epochs",
        "Regularization Rate",
        "Optimizer",
        "sgd",
        "reports/summary.txt",
        "model/model.txt",
        "FINISHED",
    ] {
        assert!(dom.contains(text), "page lacks {text:?}");
    }
    assert!(
        dom.contains("api/2.0/mlflow-artifacts/artifacts/"),
        "no download links"
    );
    let shot = artifacts_dir().join("run-page.png");
    let _ = fs::remove_file(&shot);
    chromium(&[&format!("--screenshot={}", shot.display())]);
    let png = fs::read(&shot).expect("no screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot looks empty"
    );
    eprintln!("screenshot: {}", shot.display());

    // The runs list links to the run.
    let url_list = format!("http://127.0.0.1:{port}/");
    let out = Command::new("/usr/bin/chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(&url_list)
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.contains("#/run/page-run"),
        "runs list lacks the run: {list}"
    );
}

#[test]
fn server_down_for_30_seconds_during_a_drain_loses_nothing_and_duplicates_nothing() {
    let outage = std::env::var("RUNLOG_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30u64);
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("served");
    let port = free_port();
    let mut serve = start_serve(&store, port, &[]);
    let uri = format!("http://127.0.0.1:{port}");
    let spool = tmp.path().join("spool");
    let mut w = RingWriter::create(&spool, "outage", "outages", 8 << 20);
    // The drain records into its local store (tmp/.runlog) and delivers from there.
    let mut drain = Proc::spawn(
        "runlog drain",
        Command::new(runlog_bin())
            .args(["--tracking-uri", &uri, "drain", "--spool"])
            .arg(&spool)
            .current_dir(tmp.path())
            .stderr(Stdio::null()),
    );
    let n = 30_000i64;
    let log = |w: &mut RingWriter, range: std::ops::Range<i64>| {
        let mut last = 0;
        for i in range {
            last = w.metric("counter", Value::I64(i));
        }
        last
    };
    let wait_acked = |w: &RingWriter, t: u64, secs: u64| {
        let start = Instant::now();
        while w.acked() <= t {
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "ticket {t} not acknowledged (acked {})",
                w.acked()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let t1 = log(&mut w, 0..n / 3);
    wait_acked(&w, t1, 60);
    // The server goes away while the program keeps logging: the local store
    // still takes (and acknowledges) everything, so the program never waits.
    serve.stop();
    let down = Instant::now();
    let t2 = log(&mut w, n / 3..2 * n / 3);
    wait_acked(&w, t2, 30);
    let t3 = log(&mut w, 2 * n / 3..n);
    wait_acked(&w, t3, 30);
    while down.elapsed() < Duration::from_secs(outage) {
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            drain.child.try_wait().unwrap().is_none(),
            "the drain gave up while the server was down"
        );
    }
    let _serve = start_serve(&store, port, &[]);
    let t4 = w.end(RunStatus::Finished);
    wait_acked(&w, t4, 60);
    // Delivered once the server is back: the run ends FINISHED there.
    let start = Instant::now();
    loop {
        let (ok, out, _) = runlog(&[
            "--tracking-uri",
            &uri,
            "-o",
            "json",
            "history",
            "info",
            "-r",
            "outage",
        ]);
        if ok && out.contains("FINISHED") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "not delivered after the outage: {out}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drain.stop();
    let id = server_run_id(&uri, "outage");
    let agent = ureq::agent();
    let mut values = Vec::new();
    let mut token = String::new();
    loop {
        let mut url = format!("{uri}/api/2.0/mlflow/metrics/get-history?run_id={id}&metric_key=counter&max_results=25000");
        if !token.is_empty() {
            url.push_str(&format!("&page_token={token}"));
        }
        let v: Json = serde_json::from_str(
            &agent
                .get(&url)
                .call()
                .unwrap()
                .body_mut()
                .read_to_string()
                .unwrap(),
        )
        .unwrap();
        values.extend(
            v["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["value"].as_i64().unwrap()),
        );
        match v["next_page_token"].as_str() {
            Some(t) => token = t.to_string(),
            None => break,
        }
    }
    assert_eq!(values.len() as i64, n, "every record exactly once");
    assert!(
        values.iter().copied().eq(0..n),
        "values out of order or duplicated"
    );
}

#[test]
fn refuses_missing_tokens_oversized_bodies_and_escaping_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let token_file = tmp.path().join("token");
    fs::write(&token_file, "s3cret-token\n").unwrap();
    let port = free_port();
    let mut cmd = Command::new(runlog_bin());
    cmd.arg("--tracking-uri")
        .arg(&store)
        .args([
            "serve",
            "--port",
            &port.to_string(),
            "--max-json-bytes",
            "2000",
            "--max-artifact-bytes",
            "5000",
            "--token-file",
        ])
        .arg(&token_file);
    let mut serve = Proc::spawn("runlog serve", &mut cmd);
    let base = format!("http://127.0.0.1:{port}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let t = Instant::now();
    while agent.get(&format!("{base}/")).call().is_err() {
        assert!(t.elapsed() < Duration::from_secs(20) && serve.child.try_wait().unwrap().is_none());
        std::thread::sleep(Duration::from_millis(50));
    }
    let api = |path: &str| format!("{base}/api/2.0/mlflow/{path}");
    let auth = "Bearer s3cret-token";
    let read = |mut r: ureq::http::Response<ureq::Body>| {
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    };

    // No token, a wrong token: 401 in MLflow's error shape.
    let (s, b) = read(agent.get(&api("experiments/search")).call().unwrap());
    assert_eq!(s, 401, "{b}");
    assert!(b.contains(r#""error_code":"UNAUTHENTICATED""#), "{b}");
    let (s, _) = read(
        agent
            .get(&api("experiments/search"))
            .header("Authorization", "Bearer wrong")
            .call()
            .unwrap(),
    );
    assert_eq!(s, 401);
    let (s, b) = read(
        agent
            .post(&api("experiments/create"))
            .header("Authorization", auth)
            .header("Content-Type", "application/json")
            .send(r#"{"name":"e"}"#)
            .unwrap(),
    );
    assert_eq!(s, 200, "{b}");
    let exp: Json = serde_json::from_str(&b).unwrap();
    let exp_id = exp["experiment_id"].as_str().unwrap().to_string();
    let (s, b) = read(
        agent
            .post(&api("runs/create"))
            .header("Authorization", auth)
            .header("Content-Type", "application/json")
            .send(format!(r#"{{"experiment_id":"{exp_id}"}}"#))
            .unwrap(),
    );
    assert_eq!(s, 200, "{b}");
    let run: Json = serde_json::from_str(&b).unwrap();
    let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();

    // A JSON body over the limit: 413, saying what the limit is.
    let big = format!(
        r#"{{"run_id":"{run_id}","tags":[{{"key":"k","value":"{}"}}]}}"#,
        "x".repeat(3000)
    );
    let (s, b) = read(
        agent
            .post(&api("runs/log-batch"))
            .header("Authorization", auth)
            .header("Content-Type", "application/json")
            .send(&big)
            .unwrap(),
    );
    assert_eq!(s, 413, "{b}");
    assert!(b.contains("2000 bytes"), "{b}");
    // An artifact over its limit, too, and nothing is left behind.
    let art =
        format!("{base}/api/2.0/mlflow-artifacts/artifacts/{exp_id}/{run_id}/artifacts/big.bin");
    let (s, b) = read(
        agent
            .put(&art)
            .header("Authorization", auth)
            .send(&vec![7u8; 6000][..])
            .unwrap(),
    );
    assert_eq!(s, 413, "{b}");
    let (s, b) = read(
        agent
            .put(&art)
            .header("Authorization", auth)
            .send(&vec![7u8; 4000][..])
            .unwrap(),
    );
    assert_eq!(s, 200, "{b}");
    // Paths that would leave the store: refused before touching the disk.
    for path in [
        "../../../etc/passwd",
        "%2e%2e/%2e%2e/x",
        &format!("{exp_id}/{run_id}/artifacts/../../x"),
        &format!("{exp_id}/{run_id}/artifacts/a/%2E%2E/%2E%2E/%2E%2E/x"),
        &format!("{exp_id}/{run_id}/artifacts//etc/passwd"),
        &format!("{exp_id}/{run_id}/artifacts/a%5C..%5Cb"),
    ] {
        for method in ["PUT", "GET"] {
            let req = format!(
                "{method} /api/2.0/mlflow-artifacts/artifacts/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
            );
            let (s, b) = raw_http(port, req.as_bytes());
            assert_eq!(s, 400, "{method} {path}: {b}");
            assert!(
                b.contains("not allowed") || b.contains("not under a run"),
                "{method} {path}: {b}"
            );
        }
    }
    let q = api(&format!("artifacts/list?run_id={run_id}&path=../.."));
    let (s, b) = read(agent.get(&q).header("Authorization", auth).call().unwrap());
    assert_eq!(s, 400, "{b}");
    assert!(!tmp.path().join("x").exists() && !store.parent().unwrap().join("x").exists());
    serve.stop();
}
