//! The history store's schema, as an ordered list of migrations.
//!
//! `PRAGMA user_version` records how many migrations a database has had;
//! opening a store applies the missing ones in one transaction. Never edit a
//! released migration: append a new one.
//!
//! Shapes chosen for the drain's insert rate and for reads of long series:
//! integer keys everywhere, a per-series summary (count, latest value) kept
//! up to date so that listing a run's metrics never scans its values, and
//! (since migration 2) points in compressed chunks of up to 1024 with their
//! own summaries (see `chunk.rs`, `series.rs`).
//!
//! Ranks (a later migration) join the series key: `series` gets a `rank`
//! column and `UNIQUE (run, name, rank)`; chunks refer to series by row id,
//! so they are untouched.

use anyhow::{Context, Result};
use rusqlite::Transaction;

use super::chunk::{Point, CHUNK_POINTS};
use super::value::{self, ValueKind};

/// One step of the schema's history.
pub enum Migration {
    /// SQL statements.
    Sql(&'static str),
    /// SQL, then data moved by code.
    SqlThen(&'static str, fn(&Transaction<'_>) -> Result<()>),
}

/// Migrations in order; migration `i` brings a database to `user_version = i + 1`.
pub const MIGRATIONS: &[Migration] = &[
    Migration::Sql(V1),
    Migration::SqlThen(V2, points_into_chunks),
    Migration::Sql(super::remote::V3_REMOTE_RUNS),
];

const V1: &str = r#"
CREATE TABLE experiments (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_ms  INTEGER NOT NULL
);

-- One row per run. `run_id` is the external id users see and type.
CREATE TABLE runs (
    id             INTEGER PRIMARY KEY,
    run_id         TEXT NOT NULL UNIQUE,
    experiment_id  INTEGER NOT NULL REFERENCES experiments(id),
    status         TEXT NOT NULL DEFAULT 'RUNNING'
                   CHECK (status IN ('RUNNING', 'FINISHED', 'FAILED', 'KILLED')),
    start_ms       INTEGER NOT NULL,
    end_ms         INTEGER,
    command        TEXT,
    exit_code      INTEGER,
    next_ord       INTEGER NOT NULL DEFAULT 0,  -- next value of metric_values.ord
    dropped        INTEGER NOT NULL DEFAULT 0,  -- log calls the writer dropped (ring full)
    lost_frames    INTEGER NOT NULL DEFAULT 0,  -- frames lost on byte streams
    lost_records   INTEGER NOT NULL DEFAULT 0   -- records known lost (sequence gaps)
);
CREATE INDEX runs_by_start ON runs(start_ms);

-- One row per (run, metric name): the series, with a summary for listings.
-- kind: 0 i64, 1 f64, 2 string, 3 f64 list, 4 i64 list (the kind of the latest value).
CREATE TABLE series (
    id          INTEGER PRIMARY KEY,
    run         INTEGER NOT NULL REFERENCES runs(id),
    name        TEXT NOT NULL,
    kind        INTEGER NOT NULL,
    count       INTEGER NOT NULL DEFAULT 0,
    last_value  BLOB,
    last_step   INTEGER,
    last_ms     INTEGER,
    first_ord   INTEGER NOT NULL,
    UNIQUE (run, name)
);

-- Every logged value, in logging order within its series (idx) and its run (ord).
-- value holds an INTEGER (kind 0), REAL (1), TEXT (2), or little-endian
-- 8-byte elements (3, 4); BLOB affinity stores each exactly as given.
CREATE TABLE metric_values (
    series   INTEGER NOT NULL REFERENCES series(id),
    idx      INTEGER NOT NULL,
    ord      INTEGER NOT NULL,
    step     INTEGER NOT NULL,
    time_ms  INTEGER NOT NULL,
    kind     INTEGER NOT NULL,
    value    BLOB,
    PRIMARY KEY (series, idx)
) WITHOUT ROWID;

-- Artifact files live at <store>/artifacts/<run_id>/<path>.
CREATE TABLE artifacts (
    run         INTEGER NOT NULL REFERENCES runs(id),
    path        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    PRIMARY KEY (run, path)
);

-- MLflow params and tags set through the REST API.
CREATE TABLE params (
    run    INTEGER NOT NULL REFERENCES runs(id),
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run, key)
);
CREATE TABLE tags (
    run    INTEGER NOT NULL REFERENCES runs(id),
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run, key)
);

-- Named assets made by promote (MLflow: registered models and their versions).
CREATE TABLE assets (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_ms  INTEGER NOT NULL
);
CREATE TABLE asset_versions (
    asset       INTEGER NOT NULL REFERENCES assets(id),
    version     INTEGER NOT NULL,
    run         INTEGER NOT NULL REFERENCES runs(id),
    prefix      TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    PRIMARY KEY (asset, version)
);
CREATE TABLE asset_files (
    asset    INTEGER NOT NULL,
    version  INTEGER NOT NULL,
    path     TEXT NOT NULL,
    size     INTEGER NOT NULL,
    sha256   TEXT NOT NULL,
    PRIMARY KEY (asset, version, path),
    FOREIGN KEY (asset, version) REFERENCES asset_versions(asset, version)
);

-- Delivery watermarks: every record of `stream` with seq < next_seq is
-- committed. Updated in the same transaction as the records.
CREATE TABLE streams (
    key       TEXT PRIMARY KEY,
    run       INTEGER REFERENCES runs(id),
    next_seq  INTEGER NOT NULL
);

-- Artifacts arriving in chunks across transactions; the bytes so far are in
-- <store>/tmp/<id>.part.
CREATE TABLE pending_artifacts (
    id           INTEGER PRIMARY KEY,
    stream       TEXT NOT NULL,
    artifact_id  INTEGER NOT NULL,
    run          INTEGER NOT NULL REFERENCES runs(id),
    path         TEXT NOT NULL,
    len          INTEGER NOT NULL,
    received     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (stream, artifact_id)
);
"#;

const V2: &str = r#"
-- Points of a series in chunks of up to 1024 (chunk.rs), in series order:
-- chunk k holds points first_idx .. first_idx + count. The summary columns
-- (numbers, steps, min and max of the numbers with their steps, the last number) let
-- charts and listings skip the points; NULL when the chunk has no finite number.
CREATE TABLE chunks (
    id          INTEGER PRIMARY KEY,
    series      INTEGER NOT NULL REFERENCES series(id),
    first_idx   INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    numbers     INTEGER NOT NULL,  -- numbers in it, list elements counted one by one
    first_step  INTEGER NOT NULL,
    last_step   INTEGER NOT NULL,
    min_value   REAL,
    min_step    INTEGER,
    max_value   REAL,
    max_step    INTEGER,
    last_value  REAL,
    data        BLOB NOT NULL
);
CREATE UNIQUE INDEX chunks_by_series ON chunks(series, first_idx);
"#;

/// Migration 2's data step: every row of `metric_values` into chunks, series
/// by series, one chunk in memory at a time; then the table goes.
fn points_into_chunks(tx: &Transaction<'_>) -> Result<()> {
    let mut rows_stmt = tx.prepare(
        "SELECT series, idx, ord, step, time_ms, kind, value FROM metric_values ORDER BY series, idx",
    )?;
    let mut rows = rows_stmt.query([])?;
    let mut current: Option<(i64, i64)> = None; // (series, first_idx of the chunk being filled)
    let mut points: Vec<Point> = Vec::with_capacity(CHUNK_POINTS);
    let flush = |series: i64, first: i64, points: &mut Vec<Point>| -> Result<()> {
        if !points.is_empty() {
            super::series::write_chunk(tx, series, first, points)?;
            points.clear();
        }
        Ok(())
    };
    while let Some(r) = rows.next()? {
        let series: i64 = r.get(0)?;
        let idx: i64 = r.get(1)?;
        let kind: i64 = r.get(5)?;
        let value = ValueKind::from_code(kind)
            .and_then(|k| value::from_sql(k, r.get_ref(6).ok()?))
            .with_context(|| {
                format!("point {idx} of series {series} holds a malformed value (kind {kind})")
            })?;
        current = Some(match current {
            Some((s, first)) if s == series && points.len() < CHUNK_POINTS => (s, first),
            Some((s, first)) => {
                flush(s, first, &mut points)?;
                (series, idx)
            }
            None => (series, idx),
        });
        points.push(Point {
            step: r.get(3)?,
            time_ms: r.get(4)?,
            ord: r.get(2)?,
            value,
        });
    }
    if let Some((s, first)) = current {
        flush(s, first, &mut points)?;
    }
    drop(rows);
    drop(rows_stmt);
    tx.execute_batch("DROP TABLE metric_values;")?;
    Ok(())
}
