//! Registered models (MLflow's name for the store's assets) and their
//! versions, as `runlog serve` makes them: a version names a run and an
//! artifact prefix and lists the files it covers.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::artifacts::ArtifactRow;

/// A registered model version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelVersion {
    /// The model's name.
    pub name: String,
    /// Version number, from 1.
    pub version: i64,
    /// The run it came from.
    pub run_id: String,
    /// Its experiment.
    pub experiment_id: i64,
    /// Artifact prefix within the run.
    pub prefix: String,
    /// When it was made, ms.
    pub created_ms: i64,
}

/// The columns [`ModelVersion::from_row`] reads, first in every SELECT of a
/// version (`a` is `assets`, `v` is `asset_versions`, `r` is `runs`). A macro,
/// so that each statement is one `concat!`-ed `&'static str`: no string is
/// built per call.
macro_rules! version_cols {
    () => {
        "a.name, v.version, r.run_id, r.experiment_id, v.prefix, v.created_ms"
    };
}

impl ModelVersion {
    /// Reads a version from columns 0 to 5 of a row that starts with `version_cols!()`.
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            name: r.get(0)?,
            version: r.get(1)?,
            run_id: r.get(2)?,
            experiment_id: r.get(3)?,
            prefix: r.get(4)?,
            created_ms: r.get(5)?,
        })
    }
}

/// Model `name`'s id and creation time.
pub fn by_name(c: &Connection, name: &str) -> rusqlite::Result<Option<(i64, i64)>> {
    c.prepare_cached("SELECT id, created_ms FROM assets WHERE name = ?1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// Creates model `name` and returns its id, or `None` when the name is
/// taken (one statement, so concurrent creators never race into a UNIQUE
/// failure).
pub fn create(c: &Connection, name: &str, now_ms: i64) -> rusqlite::Result<Option<i64>> {
    let n = c
        .prepare_cached(
            "INSERT INTO assets (name, created_ms) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
        )?
        .execute(params![name, now_ms])?;
    Ok((n == 1).then(|| c.last_insert_rowid()))
}

/// Names of all models, sorted.
pub fn names(c: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare_cached("SELECT name FROM assets ORDER BY name")?;
    let rows = st.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// The number the next version of model `asset` gets (call inside the
/// transaction that inserts it, so concurrent writers get distinct numbers).
pub fn next_version(c: &Connection, asset: i64) -> rusqlite::Result<i64> {
    c.prepare_cached("SELECT COALESCE(MAX(version), 0) + 1 FROM asset_versions WHERE asset = ?1")?
        .query_row([asset], |r| r.get(0))
}

/// Inserts version `version` of model `asset`: run `run`'s artifacts under `prefix`.
pub fn insert_version(
    c: &Connection,
    asset: i64,
    version: i64,
    run: i64,
    prefix: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO asset_versions (asset, version, run, prefix, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![asset, version, run, prefix, now_ms])?;
    Ok(())
}

/// Lists a file (path, size, hex SHA-256) in version `version` of model `asset`.
pub fn insert_file(
    c: &Connection,
    asset: i64,
    version: i64,
    path: &str,
    size: i64,
    sha256: &str,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO asset_files (asset, version, path, size, sha256) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![asset, version, path, size, sha256])?;
    Ok(())
}

/// Every version of every model, by name then version.
pub fn versions(c: &Connection) -> rusqlite::Result<Vec<ModelVersion>> {
    let mut st = c.prepare_cached(concat!(
        "SELECT ",
        version_cols!(),
        " FROM asset_versions v JOIN assets a ON a.id = v.asset JOIN runs r ON r.id = v.run
         ORDER BY a.name, v.version"
    ))?;
    let rows = st.query_map([], ModelVersion::from_row)?;
    rows.collect()
}

/// Every content digest a version's file names (lowercase), for the
/// promoted assets' blob collector.
pub fn file_digests(c: &Connection) -> rusqlite::Result<std::collections::HashSet<String>> {
    let mut st = c.prepare_cached("SELECT DISTINCT lower(sha256) FROM asset_files")?;
    let rows = st.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// Every (model name, version) that has a row, whatever its run.
pub fn version_keys(c: &Connection) -> rusqlite::Result<std::collections::HashSet<(String, i64)>> {
    let mut st = c.prepare_cached(
        "SELECT a.name, v.version FROM asset_versions v JOIN assets a ON a.id = v.asset",
    )?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The id of model `name`, creating it (at `now_ms`) if needed.
pub fn ensure(c: &Connection, name: &str, now_ms: i64) -> rusqlite::Result<i64> {
    c.prepare_cached("INSERT OR IGNORE INTO assets (name, created_ms) VALUES (?1, ?2)")?
        .execute(params![name, now_ms])?;
    c.prepare_cached("SELECT id FROM assets WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
}

/// A version with its model's id and creation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionListing {
    /// The model's id.
    pub asset: i64,
    /// When the model was made, ms.
    pub asset_created_ms: i64,
    /// The version.
    pub version: ModelVersion,
}

impl VersionListing {
    /// Reads a listing from a row of `version_cols!()` then the model's id and
    /// creation time (columns 6 and 7).
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            asset: r.get(6)?,
            asset_created_ms: r.get(7)?,
            version: ModelVersion::from_row(r)?,
        })
    }
}

/// Every version of every model with its model's id, by name then version.
pub fn listing(c: &Connection) -> rusqlite::Result<Vec<VersionListing>> {
    let mut st = c.prepare_cached(concat!(
        "SELECT ",
        version_cols!(),
        ", a.id, a.created_ms
         FROM assets a JOIN asset_versions v ON v.asset = a.id JOIN runs r ON r.id = v.run
         ORDER BY a.name, v.version"
    ))?;
    let rows = st.query_map([], VersionListing::from_row)?;
    rows.collect()
}

/// The files of version `version` of model `asset`, by path.
pub fn files_of(c: &Connection, asset: i64, version: i64) -> rusqlite::Result<Vec<ArtifactRow>> {
    let mut st = c.prepare_cached(
        "SELECT path, size, sha256 FROM asset_files WHERE asset = ?1 AND version = ?2 ORDER BY path",
    )?;
    let rows = st.query_map(params![asset, version], ArtifactRow::from_row)?;
    rows.collect()
}
