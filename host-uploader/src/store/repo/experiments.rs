//! Experiments: integer id, unique name.

use rusqlite::{params, Connection, OptionalExtension, Row};

/// An experiment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Experiment {
    /// Integer id (MLflow shows it as a string).
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Creation time, ms.
    pub created_ms: i64,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Experiment> {
    Ok(Experiment {
        id: r.get(0)?,
        name: r.get(1)?,
        created_ms: r.get(2)?,
    })
}

/// Makes sure experiment id 0 exists (named "Default", as MLflow clients expect).
pub fn ensure_default(c: &Connection, now_ms: i64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT OR IGNORE INTO experiments (id, name, created_ms) VALUES (0, 'Default', ?1)",
    )?
    .execute([now_ms])?;
    Ok(())
}

/// The experiment called `name`.
pub fn by_name(c: &Connection, name: &str) -> rusqlite::Result<Option<Experiment>> {
    c.prepare_cached("SELECT id, name, created_ms FROM experiments WHERE name = ?1")?
        .query_row([name], from_row)
        .optional()
}

/// The experiment with id `id`.
pub fn by_id(c: &Connection, id: i64) -> rusqlite::Result<Option<Experiment>> {
    c.prepare_cached("SELECT id, name, created_ms FROM experiments WHERE id = ?1")?
        .query_row([id], from_row)
        .optional()
}

/// All experiments, by id.
pub fn all(c: &Connection) -> rusqlite::Result<Vec<Experiment>> {
    let mut st = c.prepare_cached("SELECT id, name, created_ms FROM experiments ORDER BY id")?;
    let rows = st.query_map([], from_row)?;
    rows.collect()
}

/// Creates experiment `name` (which must be free) and returns its id.
pub fn create(c: &Connection, name: &str, now_ms: i64) -> rusqlite::Result<i64> {
    c.prepare_cached("INSERT INTO experiments (name, created_ms) VALUES (?1, ?2)")?
        .execute(params![name, now_ms])?;
    Ok(c.last_insert_rowid())
}

/// The id of experiment `name`, creating it if needed.
pub fn id_or_create(c: &Connection, name: &str, now_ms: i64) -> rusqlite::Result<i64> {
    match by_name(c, name)? {
        Some(e) => Ok(e.id),
        None => create(c, name, now_ms),
    }
}
