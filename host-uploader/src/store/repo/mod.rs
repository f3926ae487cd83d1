//! The typed repository: every SQL statement about experiments, runs,
//! params, tags, artifacts, registered models and stream watermarks, as
//! functions over a connection (a [`rusqlite::Transaction`] derefs to one,
//! so a caller composes them into its own transaction).
//!
//! Points themselves are `series.rs` (chunks) and `value.rs` (kinds); named
//! assets' files are `assets.rs`. Everyone else (the drain's SQLite sink in
//! `write.rs`, `runlog history` in `read.rs`, `runlog serve`'s MLflow
//! endpoints) calls these functions and never spells a table name.
//!
//! Functions answer `rusqlite::Result`: a missing row is `Ok(None)`, and
//! what it means (an HTTP 404, a history error) is the caller's to say.

pub mod artifacts;
pub mod experiments;
pub mod metrics;
pub mod models;
pub mod params;
pub mod runs;
pub mod streams;

/// A `u64` as SQLite's integer, saturating (times and counters from
/// outside may claim anything).
pub fn sql_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
