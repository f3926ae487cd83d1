//! Many clients writing the same thing at once into the real `runlog serve`
//! (loopback, raw sockets): every answer is 200 or the error MLflow itself
//! gives, never a 500, and the store ends with one of each thing.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;

use common::*;
use serde_json::Value as Json;

/// Clients racing per round.
const CLIENTS: usize = 16;
/// Rounds (a fresh name each): the race window is small, so try it often.
const ROUNDS: usize = 8;

/// GETs `path`, which must answer 200, as JSON.
fn get_json(port: u16, path: &str) -> Json {
    let (status, body) = raw_get(port, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Sends `body(i)` to `path` from [`CLIENTS`] threads released together;
/// returns each client's (status, body), in client order.
fn race(port: u16, path: &'static str, body: impl Fn(usize) -> String) -> Vec<(u16, String)> {
    let gate = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let gate = Arc::clone(&gate);
            let body = body(i);
            thread::spawn(move || {
                gate.wait();
                raw_post_json(port, path, &body, "")
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn error_code(body: &str) -> String {
    let v: Json = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    v["error_code"].as_str().unwrap_or("").to_string()
}

/// Counts 200s; every other answer must be a 400 with MLflow's `code`.
fn oks_else(answers: &[(u16, String)], code: &str, what: &str) -> usize {
    let mut oks = 0;
    for (status, body) in answers {
        match status {
            200 => oks += 1,
            400 => assert_eq!(error_code(body), code, "{what}: {body}"),
            _ => panic!("{what}: HTTP {status}: {body}"),
        }
    }
    oks
}

#[test]
fn concurrent_creates_of_one_experiment_or_model_make_one_and_answer_as_mlflow() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _serve = start_serve(&tmp.path().join("store"), port, &[]);
    for round in 0..ROUNDS {
        let name = format!("shared-{round}");
        let answers = race(port, "/api/2.0/mlflow/experiments/create", |_| {
            format!(r#"{{"name":"{name}"}}"#)
        });
        let what = format!("experiments/create {name}");
        assert_eq!(
            oks_else(&answers, "RESOURCE_ALREADY_EXISTS", &what),
            1,
            "{what}: {answers:?}"
        );
        let all = get_json(port, "/api/2.0/mlflow/experiments/search?max_results=1000");
        let same = all["experiments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"] == name.as_str())
            .count();
        assert_eq!(same, 1, "{what}: {all}");

        let model = format!("model-{round}");
        let answers = race(port, "/api/2.0/mlflow/registered-models/create", |_| {
            format!(r#"{{"name":"{model}"}}"#)
        });
        let what = format!("registered-models/create {model}");
        assert_eq!(
            oks_else(&answers, "RESOURCE_ALREADY_EXISTS", &what),
            1,
            "{what}: {answers:?}"
        );
    }
}

#[test]
fn concurrent_joins_params_and_tags_of_one_run_never_answer_500() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _serve = start_serve(&tmp.path().join("store"), port, &[]);
    for round in 0..ROUNDS {
        // Every node of a multi-node run creates it with runlog's run id tag:
        // all join one run.
        let wanted = format!("joined-run-{round}");
        let answers = race(port, "/api/2.0/mlflow/runs/create", |_| {
            format!(
                r#"{{"experiment_id":"0","start_time":1,"tags":[{{"key":"runlog.run_id","value":"{wanted}"}}]}}"#
            )
        });
        for (status, body) in &answers {
            assert_eq!(*status, 200, "runs/create: {body}");
            let v: Json = serde_json::from_str(body).unwrap();
            assert_eq!(v["run"]["info"]["run_id"], wanted.as_str(), "{body}");
        }

        // Params: half the clients send one value, half another. The first
        // stored stays; the same value again is fine, the other is MLflow's
        // INVALID_PARAMETER_VALUE.
        let answers = race(port, "/api/2.0/mlflow/runs/log-parameter", |i| {
            format!(
                r#"{{"run_id":"{wanted}","key":"lr","value":"0.{}"}}"#,
                i % 2 + 1
            )
        });
        oks_else(&answers, "INVALID_PARAMETER_VALUE", "runs/log-parameter");
        let run = get_json(port, &format!("/api/2.0/mlflow/runs/get?run_id={wanted}"));
        let params = run["run"]["data"]["params"].as_array().unwrap();
        assert_eq!(params.len(), 1, "{run}");
        let kept = params[0]["value"].as_str().unwrap().to_string();
        for (i, (status, body)) in answers.iter().enumerate() {
            let sent = format!("0.{}", i % 2 + 1);
            let want = if sent == kept { 200 } else { 400 };
            assert_eq!(*status, want, "client {i} sent {sent}, {kept} kept: {body}");
        }

        // Tags: the last value wins, every write is accepted.
        let answers = race(port, "/api/2.0/mlflow/runs/set-tag", |i| {
            format!(r#"{{"run_id":"{wanted}","key":"node","value":"n{i}"}}"#)
        });
        assert_eq!(oks_else(&answers, "", "runs/set-tag"), CLIENTS);
    }
    let runs = raw_post_json(
        port,
        "/api/2.0/mlflow/runs/search",
        r#"{"experiment_ids":["0"],"max_results":1000}"#,
        "",
    );
    let v: Json = serde_json::from_str(&runs.1).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), ROUNDS, "{}", runs.1);
}
