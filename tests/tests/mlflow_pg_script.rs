//! `scripts/mlflow-pg.sh`, the way `.ci/run` and the docs use it:
//! `eval "$(bash scripts/mlflow-pg.sh PYTHON)"`.
//!
//! Two CI runs were lost to this script: once because a tool printed to the
//! stdout the caller evals, once because the mlflow server it starts kept
//! the caller's `$(...)` pipe open, so the command substitution (and CI)
//! waited for the server to exit, forever. This test starts a second server
//! on a free port through a command substitution and checks that the script
//! returns while its server keeps running, printing only its two exports.
//!
//! Needs PostgreSQL and a Python with mlflow and psycopg2
//! ($RUNLOG_MLFLOW_PYTHON, as `.ci/run` sets it); under CI=true a missing
//! one is a failure, elsewhere the test skips loudly.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runlog_tests::{repo_root, scratch_dir};

/// The longest the script may take: PostgreSQL start plus the server's
/// start on a loaded 2-core machine (the script itself waits up to 300 s
/// for /health; it has never needed more than ~20 s here).
const SCRIPT_LIMIT: Duration = Duration::from_secs(330);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// $RUNLOG_MLFLOW_PYTHON when it can import mlflow and psycopg2.
fn mlflow_pg_python() -> Option<PathBuf> {
    let py = std::env::var_os("RUNLOG_MLFLOW_PYTHON").map(PathBuf::from);
    let usable = py.as_ref().is_some_and(|p| {
        Command::new(p)
            .args(["-c", "import mlflow, psycopg2"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let pg = Command::new("pg_lsclusters")
        .arg("-h")
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if usable && pg {
        return py;
    }
    let why = "needs PostgreSQL (pg_lsclusters) and RUNLOG_MLFLOW_PYTHON with mlflow and psycopg2";
    assert!(!in_ci(), "{why}: CI must run this test");
    eprintln!("SKIPPED: {why}");
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Stops the server the script started (its pid file names the process
/// group `setsid` made) when the test ends, passed or not.
struct ServerGuard(PathBuf);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.0.join("mlflow.pid")) {
            let group = format!("-{}", pid.trim());
            let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        }
    }
}

/// Waits for `child` up to `limit`; kills it (and says so) past that.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn health(port: u16) -> bool {
    Command::new("curl")
        .args(["-sf", "-m", "5", &format!("http://127.0.0.1:{port}/health")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn setup_script_returns_while_its_server_runs_and_prints_only_its_exports() {
    let Some(py) = mlflow_pg_python() else { return };
    let dir = scratch_dir("mlflow-pg-script");
    let _server = ServerGuard(dir.clone());
    let port = free_port();
    let script = repo_root().join("scripts/mlflow-pg.sh");

    // Exactly the documented use: a command substitution, whose pipe stays
    // open while any process holds its write end.
    // Output to files, not pipes: a daemon that kept a pipe would hang the
    // reads below too.
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let mut child = Command::new("bash")
        .args([
            "-c",
            r#"out=$(bash "$0" "$1") || exit $?; printf '%s\n' "$out""#,
        ])
        .arg(&script)
        .arg(&py)
        .env("RUNLOG_MLFLOW_PG_PORT", port.to_string())
        .env("RUNLOG_MLFLOW_PG_DIR", &dir)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, SCRIPT_LIMIT);
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    let status = status.unwrap_or_else(|| {
        panic!(
            "scripts/mlflow-pg.sh did not return within {SCRIPT_LIMIT:?} under $(...): a process \
             it started holds the caller's pipe open\nstderr:\n{stderr}\nserver log:\n{}",
            log_tail(&dir)
        )
    });
    assert!(
        status.success(),
        "scripts/mlflow-pg.sh failed: {status}\nstderr:\n{stderr}\nserver log:\n{}",
        log_tail(&dir)
    );

    let pg_port = std::env::var("RUNLOG_PG_PORT").unwrap_or_else(|_| "5432".into());
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!("export RUNLOG_MLFLOW_PG_URI=http://127.0.0.1:{port}"),
            format!(
                "export RUNLOG_MLFLOW_PG_DSN=postgresql://runlog:runlog@127.0.0.1:{pg_port}/runlog_mlflow"
            ),
        ],
        "stdout is eval'd by the caller: only the two export lines may be there"
    );
    assert!(
        health(port),
        "the server the script started no longer answers on {port}"
    );
}

fn log_tail(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("mlflow.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
