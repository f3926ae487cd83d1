//! The chart data endpoint of `runlog serve`
//! (`/api/2.0/runlog/metrics/chart`), against the real binary on loopback:
//! what the page draws from it, and hostile requests (each answered in
//! MLflow's error shape, never a panic, the server still answering).

mod common;

use common::*;
use runlog_core::{F64List, RunStatus, Value};
use serde_json::{json, Value as Json};

const CHART: &str = "/api/2.0/runlog/metrics/chart";

fn call(port: u16, token: Option<&str>, method: &str, path: &str, body: &str) -> (u16, Json) {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, body) = raw_http(port, req.as_bytes());
    let v = serde_json::from_str(&body).unwrap_or_else(|_| json!({ "raw": body }));
    (status, v)
}

/// A run with `loss` logged at steps 0..n (value = step, and one spike) over REST.
fn run_with_loss(port: u16, token: Option<&str>, n: i64) -> String {
    let (s, b) = call(
        port,
        token,
        "POST",
        "/api/2.0/mlflow/runs/create",
        &json!({"experiment_id": "0"}).to_string(),
    );
    assert_eq!(s, 200, "{b}");
    let run = b["run"]["info"]["run_id"].as_str().unwrap().to_string();
    for start in (0..n).step_by(1000) {
        let metrics: Vec<Json> = (start..(start + 1000).min(n))
            .map(|i| {
                let v = if i == 4321 { 1e6 } else { i as f64 };
                json!({"key": "loss", "value": v, "step": i, "timestamp": 1})
            })
            .collect();
        let (s, b) = call(
            port,
            token,
            "POST",
            "/api/2.0/mlflow/runs/log-batch",
            &json!({"run_id": run, "metrics": metrics}).to_string(),
        );
        assert_eq!(s, 200, "{b}");
    }
    run
}

fn is_mlflow_error(v: &Json, code: &str) -> bool {
    v["error_code"] == code && v["message"].as_str().is_some_and(|m| !m.is_empty())
}

#[test]
fn chart_data_is_whole_when_short_and_min_max_buckets_when_long() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _serve = start_serve(&tmp.path().join("store"), port, &[]);
    let run = run_with_loss(port, None, 20_000);
    let (s, v) = call(
        port,
        None,
        "GET",
        &format!("{CHART}?run_id={run}&metric_key=loss&max_points=20000"),
        "",
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["downsampled"], false);
    assert_eq!(v["series"][0]["steps"].as_array().unwrap().len(), 20_000);
    let (s, v) = call(
        port,
        None,
        "GET",
        &format!("{CHART}?run_id={run}&metric_key=loss&max_points=100"),
        "",
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["downsampled"], true);
    let steps = v["series"][0]["steps"].as_array().unwrap();
    let values = v["series"][0]["values"].as_array().unwrap();
    assert!(steps.len() <= 100 && steps.len() > 20, "{}", steps.len());
    assert!(values.iter().any(|y| y == 1e6), "the spike survives");
    assert!(steps.windows(2).all(|w| w[0].as_f64() <= w[1].as_f64()));
    // The default is 2000 points; POST with a JSON body works too.
    let (s, v) = call(
        port,
        None,
        "POST",
        CHART,
        &json!({"run_id": run, "metric_key": "loss"}).to_string(),
    );
    assert_eq!(s, 200, "{v}");
    assert!(v["series"][0]["steps"].as_array().unwrap().len() <= 2000);
}

#[test]
fn hostile_chart_requests_get_mlflow_errors_and_the_server_keeps_answering() {
    let tmp = tempfile::tempdir().unwrap();
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, "s3cret\n").unwrap();
    let port = free_port();
    let _serve = start_serve(
        &tmp.path().join("store"),
        port,
        &["--token-file", token_file.to_str().unwrap()],
    );
    let t = Some("s3cret");
    let run = run_with_loss(port, t, 10);
    let long = "k".repeat(5_000);
    let cases: Vec<(&str, String, &str, u16, &str)> = vec![
        (
            "GET",
            format!("{CHART}?run_id={run}&metric_key=loss&max_points=0"),
            "",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            format!("{CHART}?run_id={run}&metric_key=loss&max_points=1"),
            "",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            format!("{CHART}?run_id={run}&metric_key=loss&max_points=-7"),
            "",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            format!("{CHART}?run_id={run}&metric_key=loss&max_points=20001"),
            "",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            format!("{CHART}?run_id={run}&metric_key=loss&max_points=9223372036854775807"),
            "",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            format!("{CHART}?run_id={run}&metric_key=loss&max_points=99999999999999999999999"),
            "",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            format!("{CHART}?run_id={run}&metric_key=loss&max_points=1e3"),
            "",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            format!("{CHART}?run_id={run}&metric_key=loss&max_points=abc"),
            "",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            format!("{CHART}?run_id={run}&metric_key=loss&max_points=10&max_points=20"),
            "",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            format!("{CHART}?metric_key=loss"),
            "",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            format!("{CHART}?run_id={run}"),
            "",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            format!("{CHART}?run_id=nope&metric_key=loss"),
            "",
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "GET",
            format!("{CHART}?run_id={run}&metric_key=acc"),
            "",
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "GET",
            format!("{CHART}?run_id={run}&metric_key={long}"),
            "",
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "GET",
            format!("{CHART}?run_id=%27%3B%20DROP%20TABLE%20runs%3B--&metric_key=loss"),
            "",
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "GET",
            format!("{CHART}?run_id={run}&metric_key=%ff%fe"),
            "",
            400,
            "BAD_REQUEST",
        ),
        (
            "GET",
            format!("{CHART}?run_id={run}&metric_key=%zz"),
            "",
            400,
            "BAD_REQUEST",
        ),
        (
            "POST",
            CHART.to_string(),
            "{\"run_id\": ",
            400,
            "BAD_REQUEST",
        ),
        ("POST", CHART.to_string(), "[1, 2]", 400, "BAD_REQUEST"),
        (
            "POST",
            CHART.to_string(),
            r#"{"run_id": 5, "metric_key": "loss"}"#,
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            CHART.to_string(),
            r#"{"run_id": "x", "metric_key": ["a"]}"#,
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            CHART.to_string(),
            r#"{"run_id": "x", "metric_key": "loss", "max_points": 2.5}"#,
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "DELETE",
            format!("{CHART}?run_id={run}&metric_key=loss"),
            "",
            405,
            "BAD_REQUEST",
        ),
        (
            "PUT",
            format!("{CHART}?run_id={run}&metric_key=loss"),
            "",
            405,
            "BAD_REQUEST",
        ),
    ];
    let n = cases.len();
    for (method, path, body, status, code) in cases {
        let (s, v) = call(port, t, method, &path, body);
        let shown: String = path.chars().take(120).collect();
        assert_eq!(s, status, "{method} {shown} {body}: {v}");
        assert!(is_mlflow_error(&v, code), "{method} {shown} {body}: {v}");
    }
    // A 100 kB query is refused by the HTTP layer (414), in MLflow's shape.
    let huge = "k".repeat(100_000);
    let (s, v) = call(
        port,
        t,
        "GET",
        &format!("{CHART}?run_id={run}&metric_key={huge}"),
        "",
    );
    assert_eq!(s, 414);
    assert!(is_mlflow_error(&v, "REQUEST_LIMIT_EXCEEDED"), "{v}");
    // Without the token: 401 before anything is read.
    let (s, v) = call(
        port,
        None,
        "GET",
        &format!("{CHART}?run_id={run}&metric_key=loss"),
        "",
    );
    assert_eq!(s, 401, "{v}");
    assert!(is_mlflow_error(&v, "UNAUTHENTICATED"), "{v}");
    // The server still answers, with the data.
    let (s, v) = call(
        port,
        t,
        "GET",
        &format!("{CHART}?run_id={run}&metric_key=loss"),
        "",
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["series"][0]["steps"].as_array().unwrap().len(), 10);
    eprintln!(
        "{} hostile chart requests answered in MLflow's shape",
        n + 1
    );
}

#[test]
fn a_logged_list_longer_than_max_points_is_drawn_downsampled() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    // A list of 50,000 numbers (a "list becomes a chart" metric), logged
    // the way the C API logs one, drained into the store.
    let list: Vec<f64> = (0..50_000)
        .map(|i| if i == 31_337 { 1e9 } else { (i % 100) as f64 })
        .collect();
    let mut w = RingWriter::create(&store.join("spool"), "list-run", "e", 1 << 20);
    w.metric("curve", Value::F64List(F64List::new(&list)));
    w.end(RunStatus::Finished);
    drop(w);
    let (ok, out, err) = runlog(&["--tracking-uri", store.to_str().unwrap(), "drain", "--once"]);
    assert!(ok, "drain failed:\n{out}\n{err}");
    let port = free_port();
    let _serve = start_serve(&store, port, &[]);
    let (s, v) = call(
        port,
        None,
        "GET",
        &format!("{CHART}?run_id=list-run&metric_key=curve&max_points=200"),
        "",
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["downsampled"], true, "{v}");
    let steps = v["series"][0]["steps"].as_array().unwrap();
    let values = v["series"][0]["values"].as_array().unwrap();
    assert!(
        steps.len() > 100 && steps.len() <= 200,
        "{} points",
        steps.len()
    );
    assert_eq!(steps.len(), values.len());
    let last = steps.last().unwrap().as_f64().unwrap();
    assert!(
        last > 49_000.0 && last < 50_000.0,
        "the line reaches the list's end: {last}"
    );
    let at = |x: f64| {
        steps
            .iter()
            .position(|s| s.as_f64() == Some(x))
            .map(|i| values[i].as_f64().unwrap())
    };
    assert_eq!(at(31_337.0), Some(1e9), "the spike survives");
    let lows = values.iter().filter(|v| v.as_f64() == Some(0.0)).count();
    assert!(lows > 50, "each bucket keeps its minimum: {lows}");
}
