//! `runlog serve` under attack from the same machine: the real binary on
//! loopback, raw sockets. Every loop is bounded in count and in time.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value as Json;

/// Peak and current resident memory of a process, KiB (/proc/PID/status).
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// An error in MLflow's shape, with the given status and code.
fn assert_mlflow_error(status: u16, body: &str, want_status: u16, want_code: &str, what: &str) {
    assert_eq!(status, want_status, "{what}: {body}");
    let v: Json =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body}"));
    assert_eq!(v["error_code"], want_code, "{what}: {body}");
    assert!(
        v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

fn health_ok(port: u16) -> bool {
    raw_get(port, "/health").0 == 200
}

#[test]
fn a_100_gb_content_length_is_refused_unread_and_memory_stays_small() {
    let tmp = tempfile::tempdir().unwrap();
    let token = tmp.path().join("token");
    fs::write(&token, "tok\n").unwrap();
    let port = free_port();
    let serve = start_serve(
        &tmp.path().join("store"),
        port,
        &[
            "--token-file",
            token.to_str().unwrap(),
            "--max-json-bytes",
            "100000",
        ],
    );
    let pid = serve.child.id();
    let huge = 107_374_182_400u64;
    for (auth, want, code) in [
        ("", 401, "UNAUTHENTICATED"),
        (
            "Authorization: Bearer tok\r\n",
            413,
            "REQUEST_LIMIT_EXCEEDED",
        ),
    ] {
        for path in [
            "/api/2.0/mlflow/runs/search",
            "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/x",
        ] {
            let t = Instant::now();
            let req = format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {huge}\r\n\r\n{{\"a\":"
            );
            let (s, b) = raw_http(port, req.as_bytes());
            assert_mlflow_error(s, &b, want, code, path);
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "answered only after {:?}",
                t.elapsed()
            );
        }
    }
    // A chunked body (no declared length) over the limit: cut off while streaming.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /api/2.0/mlflow/runs/search HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer tok\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 10_000, " ".repeat(10_000));
    // Just past the limit and no more, so that the server has read all we
    // sent when it answers (unread bytes would turn its close into a reset).
    for _ in 0..11 {
        if s.write_all(chunk.as_bytes()).is_err() {
            break;
        }
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("REQUEST_LIMIT_EXCEEDED"), "{text}");

    let (s, b) = raw_http(
        port,
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer tok\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((s, b.as_str()), (200, "OK"), "the server no longer answers");
    let (hwm, rss) = memory_kib(pid);
    eprintln!("runlog serve memory after the 100 GB request: VmHWM {hwm} KiB, VmRSS {rss} KiB");
    assert!(hwm < 100 * 1024, "peak memory {hwm} KiB is over 100 MiB");
}

#[test]
fn idle_slow_header_and_stalled_body_connections_do_not_starve_requests() {
    let hold = std::env::var("RUNLOG_HOSTILE_HOLD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30u64);
    // 1000 idle + 50 slow + 20 stalled + ours: more than the default 1024 descriptors.
    raise_nofile(4096);
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let serve = start_serve(&tmp.path().join("store"), port, &[]);
    let pid = serve.child.id();
    let connect = || {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        s
    };
    let idle: Vec<TcpStream> = (0..1000).map(|_| connect()).collect();
    let mut slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = connect();
            s.write_all(b"GET /api/2.0/mlflow/experiments/search HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                .unwrap();
            s
        })
        .collect();
    // The attack of issue 20: a declared body that never comes.
    let stalled: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = connect();
            s.write_all(b"POST /api/2.0/mlflow/runs/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{").unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    // The slow-header connections trickle a header line each second from a
    // thread while the client below makes its requests.
    let trickle = std::thread::spawn(move || {
        let mut closed = 0;
        for i in 0..hold {
            std::thread::sleep(Duration::from_secs(1));
            closed = 0;
            for s in &mut slow {
                if s.write_all(format!("X-Slow-{i}: a\r\n").as_bytes())
                    .is_err()
                {
                    closed += 1;
                }
            }
        }
        (slow, closed)
    });
    let n = 200;
    let gap = Duration::from_millis(hold * 1000 / n as u64);
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let (s, b) = raw_get(port, "/api/2.0/mlflow/experiments/search");
        latencies.push(t.elapsed());
        assert_eq!(s, 200, "request {i} at {:?}: {b}", started.elapsed());
        assert!(b.contains("\"Default\""), "{b}");
        std::thread::sleep(gap.saturating_sub(t.elapsed()));
    }
    let (slow, _) = trickle.join().unwrap();
    latencies.sort();
    let p50 = latencies[n / 2];
    let p99 = latencies[n * 99 / 100 - 1];
    let max = latencies[n - 1];
    eprintln!(
        "200 requests beside 1000 idle, 50 slow-header and 20 stalled-body connections held {hold} s: p50 {p50:?}, p99 {p99:?}, max {max:?}"
    );
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");

    // The server closed the slow-header connections (header timeout) and
    // answered the stalled bodies with 408 (body timeout): they do not hold
    // their slots forever.
    let ended = |mut s: TcpStream| -> Option<String> {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut out = Vec::new();
        match s.read_to_end(&mut out) {
            Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Some(String::new()),
            Err(_) => None,
        }
    };
    let slow_closed = slow.into_iter().filter_map(ended).count();
    assert_eq!(slow_closed, 50, "slow-header connections still open");
    let answers: Vec<String> = stalled.into_iter().filter_map(ended).collect();
    assert_eq!(answers.len(), 20, "stalled-body connections still open");
    for a in &answers {
        assert!(a.starts_with("HTTP/1.1 408"), "{a}");
    }
    let idle_closed = idle.into_iter().filter_map(ended).count();
    assert_eq!(idle_closed, 1000, "idle connections still open");
    assert!(health_ok(port));
    let (hwm, rss) = memory_kib(pid);
    eprintln!("runlog serve memory: VmHWM {hwm} KiB, VmRSS {rss} KiB");
}

/// Raises this process's soft RLIMIT_NOFILE to at least `want` (within the hard limit).
fn raise_nofile(want: u64) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a valid rlimit struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl), 0);
        if rl.rlim_cur < want {
            rl.rlim_cur = want.min(rl.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &rl), 0);
        }
    }
    assert!(
        rl.rlim_cur >= 1200,
        "cannot open enough files: hard limit {}",
        rl.rlim_max
    );
}

#[test]
fn browser_cross_site_writes_and_foreign_hosts_are_refused_without_a_token() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _serve = start_serve(
        &tmp.path().join("store"),
        port,
        &["--allowed-host", "box.example"],
    );
    let create_run = "/api/2.0/mlflow/runs/create";
    let create_exp = "/api/2.0/mlflow/experiments/create";
    let raw = |head: &str, body: &str| {
        let req = format!(
            "POST {head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        raw_http(port, req.as_bytes())
    };
    let host = format!("Host: 127.0.0.1:{port}");
    // What a page on another site can send without a CORS preflight.
    let cases = [
        (
            "text/plain fetch to runs/create",
            format!("{create_run} HTTP/1.1\r\n{host}\r\nContent-Type: text/plain;charset=UTF-8\r\nOrigin: http://evil.example\r\nSec-Fetch-Site: cross-site"),
            r#"{"experiment_id":"0"}"#,
            403,
        ),
        (
            "form POST to experiments/create",
            format!("{create_exp} HTTP/1.1\r\n{host}\r\nContent-Type: application/x-www-form-urlencoded\r\nOrigin: null"),
            "name=pwned",
            403,
        ),
        (
            "text/plain without browser headers",
            format!("{create_run} HTTP/1.1\r\n{host}\r\nContent-Type: text/plain"),
            r#"{"experiment_id":"0"}"#,
            415,
        ),
        (
            "form POST without browser headers",
            format!("{create_exp} HTTP/1.1\r\n{host}\r\nContent-Type: application/x-www-form-urlencoded"),
            "name=pwned",
            415,
        ),
        (
            "JSON from another origin",
            format!("{create_exp} HTTP/1.1\r\n{host}\r\nContent-Type: application/json\r\nOrigin: http://127.0.0.1:1"),
            r#"{"name":"pwned"}"#,
            403,
        ),
        (
            "JSON from a same-site page on another port",
            format!("{create_exp} HTTP/1.1\r\n{host}\r\nContent-Type: application/json\r\nSec-Fetch-Site: same-site"),
            r#"{"name":"pwned"}"#,
            403,
        ),
        (
            "artifact upload from another site",
            format!("/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/x HTTP/1.1\r\n{host}\r\nOrigin: http://evil.example"),
            "data",
            403,
        ),
    ];
    for (what, head, body, want) in &cases {
        let (s, b) = raw(head, body);
        let code = if *want == 403 {
            "PERMISSION_DENIED"
        } else {
            "BAD_REQUEST"
        };
        assert_mlflow_error(s, &b, *want, code, what);
    }
    // DNS rebinding: the attacker's name resolves to 127.0.0.1, the browser sends it as Host.
    for h in [
        "evil.example",
        "evil.example:5000",
        "127.0.0.1.evil.example",
    ] {
        let req = format!("GET /api/2.0/mlflow/experiments/search HTTP/1.1\r\nHost: {h}\r\nConnection: close\r\n\r\n");
        let (s, b) = raw_http(port, req.as_bytes());
        assert_mlflow_error(s, &b, 403, "PERMISSION_DENIED", h);
        assert!(!b.contains("Default"), "{b}");
    }
    // Nothing was written.
    let (s, b) = raw_get(port, "/api/2.0/mlflow/experiments/search");
    assert_eq!(s, 200, "{b}");
    assert!(!b.contains("pwned"), "{b}");
    let (s, b) = raw_post_json(
        port,
        "/api/2.0/mlflow/runs/search",
        r#"{"experiment_ids":["0"]}"#,
        "",
    );
    assert_eq!(s, 200, "{b}");
    assert!(!b.contains("run_id"), "a run was created: {b}");
    // The page's own writes, a client's and an allowed name still work.
    let same = format!("Origin: http://127.0.0.1:{port}\r\nSec-Fetch-Site: same-origin\r\n");
    let (s, b) = raw_post_json(port, create_exp, r#"{"name":"ok"}"#, &same);
    assert_eq!(s, 200, "{b}");
    let req = "GET /api/2.0/mlflow/experiments/search HTTP/1.1\r\nHost: box.example:5000\r\nConnection: close\r\n\r\n";
    let (s, b) = raw_http(port, req.as_bytes());
    assert_eq!(s, 200, "{b}");
    assert!(b.contains("\"ok\""), "{b}");
}

fn create_run(port: u16) -> (String, String) {
    let (s, b) = raw_post_json(
        port,
        "/api/2.0/mlflow/runs/create",
        r#"{"experiment_id":"0"}"#,
        "",
    );
    assert_eq!(s, 200, "{b}");
    let v: Json = serde_json::from_str(&b).unwrap();
    let info = &v["run"]["info"];
    (
        info["experiment_id"].as_str().unwrap().to_string(),
        info["run_id"].as_str().unwrap().to_string(),
    )
}

fn put(port: u16, path: &str, data: &str) -> (u16, String) {
    let req = format!(
        "PUT /api/2.0/mlflow-artifacts/artifacts/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{data}",
        data.len()
    );
    raw_http(port, req.as_bytes())
}

#[test]
fn symlinks_in_the_artifact_store_are_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret.txt"), "SECRET").unwrap();
    fs::write(outside.join("f.txt"), "SECRET-F").unwrap();
    let port = free_port();
    let _serve = start_serve(&store, port, &[]);
    let (exp, run) = create_run(port);
    let base = format!("{exp}/{run}/artifacts");
    for (p, data) in [("a/f.txt", "fine"), ("link.txt", "fine")] {
        let (s, b) = put(port, &format!("{base}/{p}"), data);
        assert_eq!(s, 200, "{b}");
    }
    let (s, b) = raw_get(
        port,
        &format!("/api/2.0/mlflow-artifacts/artifacts/{base}/a/f.txt"),
    );
    assert_eq!((s, b.as_str()), (200, "fine"));
    // Someone on the machine swaps a directory and a file for links out of the store.
    let run_dir = store.join("artifacts").join(&run);
    assert!(
        run_dir.join("a/f.txt").exists(),
        "store layout changed: {}",
        run_dir.display()
    );
    fs::remove_dir_all(run_dir.join("a")).unwrap();
    std::os::unix::fs::symlink(&outside, run_dir.join("a")).unwrap();
    fs::remove_file(run_dir.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), run_dir.join("link.txt")).unwrap();
    let refused = |s: u16, b: &str, what: &str| {
        assert_mlflow_error(s, b, 400, "INVALID_PARAMETER_VALUE", what);
        assert!(b.contains("symbolic link"), "{what}: {b}");
        assert!(!b.contains("SECRET"), "{what}: {b}");
    };
    for p in ["a/f.txt", "link.txt"] {
        let (s, b) = raw_get(
            port,
            &format!("/api/2.0/mlflow-artifacts/artifacts/{base}/{p}"),
        );
        refused(s, &b, &format!("download {p}"));
    }
    for p in ["a/new.txt", "a/f.txt", "link.txt", "a/deeper/x.txt"] {
        let (s, b) = put(port, &format!("{base}/{p}"), "OVERWRITTEN");
        refused(s, &b, &format!("upload {p}"));
    }
    assert_eq!(
        fs::read_to_string(outside.join("secret.txt")).unwrap(),
        "SECRET"
    );
    assert_eq!(
        fs::read_to_string(outside.join("f.txt")).unwrap(),
        "SECRET-F"
    );
    let mut names: Vec<String> = fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["f.txt", "secret.txt"],
        "something was written outside the store"
    );
    assert!(
        no_leftovers(&store.join("tmp")),
        "a partial upload was left behind"
    );
}

fn no_leftovers(dir: &Path) -> bool {
    fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

#[test]
fn malformed_and_deeply_nested_json_get_mlflow_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _serve = start_serve(&tmp.path().join("store"), port, &[]);
    let (_, run) = create_run(port);
    let deep_obj = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let deep_arr = format!(
        "{{\"metrics\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "runs/search",
            "truncated",
            "{\"experiment_ids\":".into(),
            "BAD_REQUEST",
        ),
        ("runs/search", "an array", "[1,2]".into(), "BAD_REQUEST"),
        ("runs/search", "a string", "\"x\"".into(), "BAD_REQUEST"),
        (
            "runs/search",
            "deeply nested object",
            deep_obj.clone(),
            "BAD_REQUEST",
        ),
        (
            "runs/log-batch",
            "deeply nested array",
            deep_arr.clone(),
            "BAD_REQUEST",
        ),
        ("runs/log-batch", "deeply nested object", deep_obj, "ANY"),
        (
            "runs/search",
            "wrong type",
            "{\"experiment_ids\":{\"a\":1}}".into(),
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "runs/search",
            "wrong type",
            "{\"max_results\":\"lots\"}".into(),
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "runs/log-metric",
            "missing key",
            format!("{{\"run_id\":\"{run}\",\"value\":1}}"),
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "runs/log-metric",
            "value not a number",
            format!("{{\"run_id\":\"{run}\",\"key\":\"k\",\"value\":\"x\"}}"),
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "runs/log-batch",
            "metric of the wrong shape",
            format!("{{\"run_id\":\"{run}\",\"metrics\":[{{\"key\":1}}]}}"),
            "BAD_REQUEST",
        ),
        (
            "runs/update",
            "no run",
            "{}".into(),
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "runs/update",
            "step overflow",
            format!("{{\"run_id\":\"{run}\",\"end_time\":1e300}}"),
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "experiments/create",
            "NUL in JSON",
            "{\"name\":\"a\u{0}b\"}".into(),
            "BAD_REQUEST",
        ),
    ];
    for (endpoint, what, body, code) in &cases {
        let (s, b) = raw_post_json(port, &format!("/api/2.0/mlflow/{endpoint}"), body, "");
        let what = format!("{endpoint}: {what}");
        if *code == "ANY" {
            // Refused as malformed, or (when the nesting sits in a field the
            // endpoint ignores) for what is missing: either way a 400.
            let v: Json = serde_json::from_str(&b).unwrap_or_else(|e| panic!("{what}: {e}: {b}"));
            assert_eq!(s, 400, "{what}: {b}");
            assert!(
                v["error_code"].is_string() && v["message"].is_string(),
                "{what}: {b}"
            );
            continue;
        }
        assert_mlflow_error(s, &b, 400, code, &what);
    }
    // Raw bytes that are not UTF-8 at all.
    let mut req = b"POST /api/2.0/mlflow/runs/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4\r\nConnection: close\r\n\r\n".to_vec();
    req.extend_from_slice(b"{\xff\xfe}");
    let (s, b) = raw_http(port, &req);
    assert_mlflow_error(s, &b, 400, "BAD_REQUEST", "invalid UTF-8");
    // Query strings with broken escapes, and unknown endpoints.
    let (s, b) = raw_get(port, "/api/2.0/mlflow/runs/get?run_id=%zz");
    assert_mlflow_error(s, &b, 400, "BAD_REQUEST", "broken escape");
    let (s, b) = raw_get(port, "/api/2.0/mlflow/no/such");
    assert_mlflow_error(s, &b, 404, "ENDPOINT_NOT_FOUND", "unknown endpoint");
    assert!(health_ok(port), "the server no longer answers");
}

#[test]
fn param_and_tag_values_are_limited_in_characters_as_mlflow_and_the_c_api_count_them() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _serve = start_serve(&tmp.path().join("store"), port, &[]);
    let (_, run) = create_run(port);
    let post = |endpoint: &str, key: &str, value: &str| {
        let body = serde_json::json!({ "run_id": run, "key": key, "value": value }).to_string();
        raw_post_json(port, &format!("/api/2.0/mlflow/{endpoint}"), &body, "")
    };
    // 4000 and 8000 two-byte characters: within MLflow's limits (which count
    // characters, as runlog_log_param and runlog_set_tag do), over them in bytes.
    let wide_param = "é".repeat(4000);
    let wide_tag = "é".repeat(8000);
    let (s, b) = post("runs/log-parameter", "wide", &wide_param);
    assert_eq!(
        s, 200,
        "a 4000-character param is within MLflow's 6000: {b}"
    );
    let (s, b) = post("runs/set-tag", "wide", &wide_tag);
    assert_eq!(s, 200, "an 8000-character tag is within MLflow's 8000: {b}");
    let (s, b) = post("runs/log-parameter", "long", &"x".repeat(6001));
    assert_mlflow_error(
        s,
        &b,
        400,
        "INVALID_PARAMETER_VALUE",
        "6001-character param",
    );
    let (s, b) = post("runs/set-tag", "long", &"é".repeat(8001));
    assert_mlflow_error(s, &b, 400, "INVALID_PARAMETER_VALUE", "8001-character tag");
    let (s, b) = post("runs/set-tag", &"k".repeat(251), "v");
    assert_mlflow_error(s, &b, 400, "INVALID_PARAMETER_VALUE", "251-byte key");
    let (s, b) = raw_get(port, &format!("/api/2.0/mlflow/runs/get?run_id={run}"));
    assert_eq!(s, 200, "{b}");
    let v: Json = serde_json::from_str(&b).unwrap();
    let value_of = |list: &str, key: &str| -> Option<String> {
        v["run"]["data"][list]
            .as_array()?
            .iter()
            .find(|p| p["key"] == key)
            .and_then(|p| p["value"].as_str().map(str::to_string))
    };
    assert_eq!(value_of("params", "wide"), Some(wide_param), "kept whole");
    assert_eq!(value_of("tags", "wide"), Some(wide_tag), "kept whole");
    assert_eq!(
        value_of("params", "long"),
        None,
        "nothing of a refused param stored"
    );
    assert_eq!(
        value_of("tags", "long"),
        None,
        "nothing of a refused tag stored"
    );
}

#[test]
fn requests_hyper_cannot_parse_get_mlflow_error_bodies() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _serve = start_serve(&tmp.path().join("store"), port, &[]);
    let host = format!("Host: 127.0.0.1:{port}\r\n");
    let long_uri = format!("/api/2.0/mlflow/runs/get?run_id={}", "r".repeat(100_000));
    let many_headers: String = (0..65).map(|i| format!("X-H{i}: v\r\n")).collect();
    // Headers that fill the server's whole read buffer (hyper's default,
    // `serve::listen::MAX_HEAD_BYTES`) without ending: exactly that many bytes,
    // so the server has read everything sent when it answers (unread bytes
    // would make its close a reset that can eat the answer).
    const MAX_HEAD_BYTES: usize = 8192 + 4096 * 100;
    let start = format!("GET /health HTTP/1.1\r\n{host}X-Big: ");
    let huge_header = format!("{start}{}", "v".repeat(MAX_HEAD_BYTES - start.len()));
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "a 100 kB URI (GET)",
            format!("GET {long_uri} HTTP/1.1\r\n{host}\r\n"),
            414,
            "REQUEST_LIMIT_EXCEEDED",
        ),
        (
            "a 100 kB URI (POST with a body)",
            format!("POST {long_uri} HTTP/1.1\r\n{host}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"),
            414,
            "REQUEST_LIMIT_EXCEEDED",
        ),
        (
            "65 headers",
            format!("GET /health HTTP/1.1\r\n{host}{many_headers}\r\n"),
            431,
            "REQUEST_LIMIT_EXCEEDED",
        ),
        (
            "408 kB of headers",
            huge_header.clone(),
            431,
            "REQUEST_LIMIT_EXCEEDED",
        ),
        (
            "a control byte in the method",
            format!("G\x01T /health HTTP/1.1\r\n{host}\r\n"),
            400,
            "BAD_REQUEST",
        ),
        (
            "a header without a colon",
            format!("GET /health HTTP/1.1\r\n{host}no colon here\r\n\r\n"),
            400,
            "BAD_REQUEST",
        ),
    ];
    for (what, req, status, code) in &cases {
        let (s, body) = raw_http(port, req.as_bytes());
        assert_mlflow_error(s, &body, *status, code, what);
        assert!(health_ok(port), "{what}: the server stopped answering");
    }
    eprintln!(
        "{} unparsable requests answered with MLflow bodies",
        cases.len()
    );
}
