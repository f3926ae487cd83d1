//! Artifacts' metadata (the files live at `<store>/artifacts/<run_id>/<path>`).

use rusqlite::{params, Connection, OptionalExtension, Row};

/// An artifact's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRow {
    /// Path under the run's artifacts.
    pub path: String,
    /// Bytes.
    pub size: i64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
}

impl ArtifactRow {
    /// Reads a row of `path, size, sha256` (the shape of `artifacts` and of
    /// `asset_files`, whose files are listed the same way).
    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            path: r.get(0)?,
            size: r.get(1)?,
            sha256: r.get(2)?,
        })
    }
}

/// A run's artifacts, by path.
pub fn of_run(c: &Connection, run: i64) -> rusqlite::Result<Vec<ArtifactRow>> {
    let mut st =
        c.prepare_cached("SELECT path, size, sha256 FROM artifacts WHERE run = ?1 ORDER BY path")?;
    let rows = st.query_map([run], ArtifactRow::from_row)?;
    rows.collect()
}

/// Records (or replaces) an artifact's metadata once its file is in place.
pub fn record(
    c: &Connection,
    run: i64,
    path: &str,
    size: i64,
    sha256: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO artifacts (run, path, size, sha256, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![run, path, size, sha256, now_ms])?;
    Ok(())
}

/// The size of artifact `path` of `run`, if it has one.
pub fn size_of(c: &Connection, run: i64, path: &str) -> rusqlite::Result<Option<i64>> {
    c.prepare_cached("SELECT size FROM artifacts WHERE run = ?1 AND path = ?2")?
        .query_row(params![run, path], |r| r.get(0))
        .optional()
}

/// Paths of `run`'s artifacts that start with `prefix` (literally: no
/// wildcards), by path.
pub fn paths_under(c: &Connection, run: i64, prefix: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT path FROM artifacts WHERE run = ?1
         AND substr(path, 1, length(?2)) = ?2 ORDER BY path",
    )?;
    let rows = st.query_map(params![run, prefix], |r| r.get(0))?;
    rows.collect()
}

/// `run`'s artifacts that are `prefix` itself or lie in folder `prefix`, by path.
pub fn at_or_under(c: &Connection, run: i64, prefix: &str) -> rusqlite::Result<Vec<ArtifactRow>> {
    let mut st = c.prepare_cached(
        "SELECT path, size, sha256 FROM artifacts WHERE run = ?1
         AND (path = ?2 OR substr(path, 1, length(?2) + 1) = ?2 || '/')
         ORDER BY path",
    )?;
    let rows = st.query_map(params![run, prefix], ArtifactRow::from_row)?;
    rows.collect()
}
