//! The MLflow server on PostgreSQL that `scripts/mlflow-pg.sh` starts (and
//! `.ci/run` calls): where it is, and `psql` to count what it holds.
//!
//! One file for both test crates: `runlog-tests` declares it as its module
//! `postgres`, and host-uploader's tests include this same file from
//! `host-uploader/tests/common/mod.rs` with `#[path]` (they do not depend
//! on runlog-tests, and one helper should not need a crate dependency), so
//! keep it to the standard library.

use std::process::Command;

/// The PostgreSQL-backed MLflow server: (tracking URI, database DSN), from
/// RUNLOG_MLFLOW_PG_URI and RUNLOG_MLFLOW_PG_DSN. Without them: a panic
/// under `CI=true` (CI must run these tests), else `None` and a loud skip.
pub fn pg_server() -> Option<(String, String)> {
    let uri = std::env::var("RUNLOG_MLFLOW_PG_URI").unwrap_or_default();
    let dsn = std::env::var("RUNLOG_MLFLOW_PG_DSN").unwrap_or_default();
    if !uri.is_empty() && !dsn.is_empty() {
        return Some((uri, dsn));
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "RUNLOG_MLFLOW_PG_URI / RUNLOG_MLFLOW_PG_DSN are not set: CI must run the MLflow \
             on PostgreSQL tests (scripts/mlflow-pg.sh starts the server)"
        );
    }
    eprintln!(
        "SKIPPED: no MLflow server on PostgreSQL (set RUNLOG_MLFLOW_PG_URI and \
         RUNLOG_MLFLOW_PG_DSN; scripts/mlflow-pg.sh starts one)"
    );
    None
}

/// One query's rows from PostgreSQL, as `psql -At` prints them (fields
/// separated by commas, lines by newlines, trimmed).
pub fn psql(dsn: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([dsn, "-At", "-F", ",", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
