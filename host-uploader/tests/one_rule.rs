//! One rule per name, everywhere: the server refuses the artifact paths the
//! C API refuses (a newline, a tab, DEL, a drive letter), through the real
//! `runlog serve`. (The drain's side is in `frames.rs`; the C API's in
//! `tests/tests/c_api.rs`; the rule itself in `runlog_core::rules`.)

mod common;

use common::*;

#[test]
fn server_refuses_artifact_paths_the_c_api_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let port = free_port();
    let mut serve = start_serve(&store, port, &[]);
    let post = |path: &str, body: &str| {
        raw_http(
            port,
            format!(
                "POST /api/2.0/mlflow/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    let (s, b) = post("experiments/create", r#"{"name":"rules"}"#);
    assert_eq!(s, 200, "{b}");
    let exp: serde_json::Value = serde_json::from_str(&b).unwrap();
    let exp_id = exp["experiment_id"].as_str().unwrap().to_string();
    let (s, b) = post("runs/create", &format!(r#"{{"experiment_id":"{exp_id}"}}"#));
    assert_eq!(s, 200, "{b}");
    let run: serde_json::Value = serde_json::from_str(&b).unwrap();
    let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();

    let put = |path: &str| {
        raw_http(
            port,
            format!(
                "PUT /api/2.0/mlflow-artifacts/artifacts/{exp_id}/{run_id}/artifacts/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
            )
            .as_bytes(),
        )
    };
    // Percent-encoded: a newline, a tab, DEL, a C1 control; and a drive letter.
    for (path, why) in [
        ("evil%0Aname.txt", "control character"),
        ("dir/tab%09here", "control character"),
        ("del%7F", "control character"),
        ("c1%C2%85", "control character"),
        ("C:evil", "drive letter"),
    ] {
        let (s, b) = put(path);
        assert_eq!(s, 400, "{path}: {b}");
        assert!(b.contains("not allowed") && b.contains(why), "{path}: {b}");
    }
    // The same store still takes a good path, and holds nothing else.
    let (s, b) = put("good/name.txt");
    assert_eq!(s, 200, "{b}");
    let files: Vec<_> = walk(&store.join("artifacts"));
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with("good/name.txt"), "{files:?}");
    serve.stop();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
