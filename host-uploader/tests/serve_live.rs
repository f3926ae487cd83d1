//! The live feed of `runlog serve` (Server-Sent Events): read raw from the
//! real binary, and followed by the run page in headless Chromium, driven
//! over the DevTools protocol. Every wait is bounded.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value as Json};

fn call(port: u16, token: Option<&str>, method: &str, path: &str, body: &str) -> (u16, String) {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    raw_http(port, req.as_bytes())
}

fn new_run(port: u16, token: Option<&str>) -> String {
    let (s, b) = call(
        port,
        token,
        "POST",
        "/api/2.0/mlflow/runs/create",
        r#"{"experiment_id":"0"}"#,
    );
    assert_eq!(s, 200, "{b}");
    let v: Json = serde_json::from_str(&b).unwrap();
    v["run"]["info"]["run_id"].as_str().unwrap().to_string()
}

fn log(port: u16, token: Option<&str>, run: &str, points: &[(&str, f64, i64)]) {
    let metrics: Vec<Json> = points
        .iter()
        .map(|(k, v, s)| json!({"key": k, "value": v, "step": s, "timestamp": 1}))
        .collect();
    let body = json!({"run_id": run, "metrics": metrics}).to_string();
    let (s, b) = call(port, token, "POST", "/api/2.0/mlflow/runs/log-batch", &body);
    assert_eq!(s, 200, "{b}");
}

/// Reads SSE events (name, data) from a raw stream on a thread.
fn events(mut s: TcpStream) -> mpsc::Receiver<(String, Json)> {
    let (tx, rx) = mpsc::channel();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    std::thread::spawn(move || {
        let mut r = BufReader::new(&mut s);
        let mut name = String::new();
        let started = Instant::now();
        let mut line = String::new();
        while started.elapsed() < Duration::from_secs(60) {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) => return, // the server ended the stream
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    continue
                }
                Err(_) => return,
            }
            let l = line.trim_end();
            if let Some(n) = l.strip_prefix("event:") {
                name = n.trim().to_string();
            } else if let Some(d) = l.strip_prefix("data:") {
                let v: Json = serde_json::from_str(d.trim()).expect("event data is JSON");
                if tx.send((name.clone(), v)).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

#[test]
fn live_feed_streams_a_running_runs_new_points_within_2_s() {
    let tmp = tempfile::tempdir().unwrap();
    let token_file = tmp.path().join("token");
    fs::write(&token_file, "t0k\n").unwrap();
    let port = free_port();
    let _serve = start_serve(
        &tmp.path().join("store"),
        port,
        &["--token-file", token_file.to_str().unwrap()],
    );
    let tok = Some("t0k");
    let run = new_run(port, tok);
    log(
        port,
        tok,
        &run,
        &[("loss", 1.0, 0), ("loss", 0.5, 1), ("loss", 0.25, 2)],
    );
    let live = format!("/api/2.0/runlog/runs/live?run_id={run}");
    let (s, b) = call(port, None, "GET", &live, "");
    assert_eq!(s, 401, "the feed needs the token: {b}");
    let (s, b) = call(
        port,
        tok,
        "GET",
        "/api/2.0/runlog/runs/live?run_id=nope",
        "",
    );
    assert_eq!(s, 404, "{b}");

    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {live} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer t0k\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let rx = events(stream);
    std::thread::sleep(Duration::from_millis(800));
    let posted = Instant::now();
    log(
        port,
        tok,
        &run,
        &[("loss", 0.125, 3), ("acc", 0.5, 0), ("loss", 0.0625, 4)],
    );
    let mut got: Vec<(String, i64)> = Vec::new();
    while got.len() < 3 {
        let left = Duration::from_secs(2).saturating_sub(posted.elapsed());
        let (name, data) = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("only {got:?} within 2 s of logging"));
        assert_eq!(name, "points", "{data}");
        for m in data["metrics"].as_array().unwrap() {
            got.push((
                m["key"].as_str().unwrap().to_string(),
                m["step"].as_i64().unwrap(),
            ));
        }
    }
    eprintln!(
        "live feed: 3 new points arrived {:?} after they were logged",
        posted.elapsed()
    );
    got.sort();
    let want: Vec<(String, i64)> = vec![("acc".into(), 0), ("loss".into(), 3), ("loss".into(), 4)];
    assert_eq!(got, want, "only the new points, each once");
    // The run ends: a status event, then the stream closes.
    let (s, b) = call(
        port,
        tok,
        "POST",
        "/api/2.0/mlflow/runs/update",
        &json!({"run_id": run, "status": "FINISHED"}).to_string(),
    );
    assert_eq!(s, 200, "{b}");
    let (name, data) = rx
        .recv_timeout(Duration::from_secs(3))
        .expect("no status event");
    assert_eq!(
        (name.as_str(), &data["status"]),
        ("status", &json!("FINISHED"))
    );
    let t = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_secs(3)) {
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("the stream stayed open after the run finished")
            }
            Ok(ev) => assert!(t.elapsed() < Duration::from_secs(3), "unexpected {ev:?}"),
        }
    }
}

/// Headless Chromium driven over `--remote-debugging-pipe` (DevTools
/// protocol: JSON messages separated by NUL on fds 3 and 4).
struct Browser {
    _proc: Proc,
    to: fs::File,
    from: mpsc::Receiver<Json>,
    next_id: u64,
    session: String,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors on success, which we then own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both were just returned by pipe2.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Browser {
    fn open(url: &str, profile: &std::path::Path) -> Self {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let (cmd_r, cmd_w) = pipe();
        let (out_r, out_w) = pipe();
        let (cr, ow) = (cmd_r.as_raw_fd(), out_w.as_raw_fd());
        let mut cmd = Command::new("/usr/bin/chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-pipe",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: between fork and exec only async-signal-safe calls
        // (fcntl, dup2) on descriptors this process owns.
        unsafe {
            cmd.pre_exec(move || {
                // Move both out of the way first, so neither is clobbered.
                let a = libc::fcntl(cr, libc::F_DUPFD, 100);
                let b = libc::fcntl(ow, libc::F_DUPFD, 100);
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let proc = Proc::spawn("chromium", &mut cmd);
        drop((cmd_r, out_w));
        let (tx, rx) = mpsc::channel();
        let mut from = fs::File::from(out_r);
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            loop {
                let n = match from.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|&b| b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice(&msg[..msg.len() - 1]) {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut b = Self {
            _proc: proc,
            to: fs::File::from(cmd_w),
            from: rx,
            next_id: 0,
            session: String::new(),
        };
        let target = b.send(None, "Target.createTarget", json!({ "url": url }));
        let target = target["targetId"].as_str().unwrap().to_string();
        let attached = b.send(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target, "flatten": true }),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        b
    }

    fn send(&mut self, session: Option<&str>, method: &str, params: Json) -> Json {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        let t = Instant::now();
        loop {
            let left = Duration::from_secs(20).saturating_sub(t.elapsed());
            let v = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no answer to {method}"));
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluates `js` in the page; its value.
    fn eval(&mut self, js: &str) -> Json {
        let session = self.session.clone();
        let r = self.send(
            Some(&session),
            "Runtime.evaluate",
            json!({ "expression": js, "returnByValue": true }),
        );
        r["result"]["value"].clone()
    }
}

const PAGE_STATE: &str = r#"JSON.stringify({
  state: document.body.dataset.state,
  charts: [...document.querySelectorAll("figure.chart")].map(f => ({
    metric: f.dataset.metric,
    points: Number(f.dataset.points || 0),
    liveAt: Number(f.dataset.liveAt || 0) })),
  status: (document.getElementById("run-status") || {}).textContent })"#;

#[test]
fn run_page_in_headless_chromium_draws_live_points_within_2_s() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _serve = start_serve(&tmp.path().join("store"), port, &[]);
    let run = new_run(port, None);
    log(
        port,
        None,
        &run,
        &[("loss", 1.0, 0), ("loss", 0.5, 1), ("loss", 0.25, 2)],
    );
    let url = format!("http://127.0.0.1:{port}/#/run/{run}");
    let mut browser = Browser::open(&url, &tmp.path().join("chromium"));
    let state = |b: &mut Browser| -> Json {
        serde_json::from_str(b.eval(PAGE_STATE).as_str().unwrap_or("{}")).unwrap()
    };
    let t = Instant::now();
    let mut s = state(&mut browser);
    while s["state"] != "ready" {
        assert!(t.elapsed() < Duration::from_secs(30), "page not ready: {s}");
        std::thread::sleep(Duration::from_millis(100));
        s = state(&mut browser);
    }
    assert_eq!(s["charts"][0]["points"], 3, "{s}");
    assert_eq!(s["status"], "RUNNING", "{s}");
    // Let the page's feed connect, then log: the chart grows, a new one appears.
    std::thread::sleep(Duration::from_millis(1000));
    let posted = now_ms() as f64;
    let posted_at = Instant::now();
    log(
        port,
        None,
        &run,
        &[
            ("loss", 0.125, 3),
            ("loss", 0.0625, 4),
            ("acc", 0.5, 0),
            ("acc", 0.75, 1),
        ],
    );
    loop {
        s = state(&mut browser);
        let chart = |m: &str| {
            s["charts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["metric"] == m)
                .cloned()
        };
        if let (Some(loss), Some(acc)) = (chart("loss"), chart("acc")) {
            if loss["points"] == 5 && acc["points"] == 2 {
                let drawn = loss["liveAt"]
                    .as_f64()
                    .unwrap()
                    .max(acc["liveAt"].as_f64().unwrap());
                let ms = drawn - posted;
                eprintln!("the page drew the new points {ms} ms after they were logged");
                assert!(
                    (0.0..2000.0).contains(&ms),
                    "drawn {ms} ms after logging: {s}"
                );
                break;
            }
        }
        assert!(
            posted_at.elapsed() < Duration::from_secs(5),
            "new points not drawn: {s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (st, b) = call(
        port,
        None,
        "POST",
        "/api/2.0/mlflow/runs/update",
        &json!({"run_id": run, "status": "FINISHED"}).to_string(),
    );
    assert_eq!(st, 200, "{b}");
    let t = Instant::now();
    while state(&mut browser)["status"] != "FINISHED" {
        assert!(t.elapsed() < Duration::from_secs(5), "status not updated");
        std::thread::sleep(Duration::from_millis(100));
    }
}
