//! The history store's schema, as an ordered list of migrations.
//!
//! `PRAGMA user_version` records how many migrations a database has had;
//! opening a store applies the missing ones in one transaction. Never edit a
//! released migration: append a new one.
//!
//! Shapes chosen for the drain's insert rate: integer keys everywhere, one
//! row per logged value clustered by series (`WITHOUT ROWID`), and a per-series
//! summary (count, latest value) kept up to date so that listing a run's
//! metrics never scans its values.

/// Migrations in order; migration `i` brings a database to `user_version = i + 1`.
pub const MIGRATIONS: &[&str] = &[r#"
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
"#];
