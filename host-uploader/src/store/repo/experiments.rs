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

/// Creates experiment `name` and returns its id, or `None` when the name
/// is taken. One statement: of several connections creating one name at
/// once, exactly one creates it and the others get `None` (a check by name
/// before a plain INSERT raced into a UNIQUE failure).
pub fn create(c: &Connection, name: &str, now_ms: i64) -> rusqlite::Result<Option<i64>> {
    let n = c
        .prepare_cached(
            "INSERT INTO experiments (name, created_ms) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
        )?
        .execute(params![name, now_ms])?;
    Ok((n == 1).then(|| c.last_insert_rowid()))
}

/// The id of experiment `name`, creating it if needed. Writes first, then
/// reads: the insert takes the write lock before anything is read, so a
/// deferred transaction never has to upgrade a stale read.
pub fn id_or_create(c: &Connection, name: &str, now_ms: i64) -> rusqlite::Result<i64> {
    if let Some(id) = create(c, name, now_ms)? {
        return Ok(id);
    }
    match by_name(c, name)? {
        Some(e) => Ok(e.id),
        None => Err(rusqlite::Error::QueryReturnedNoRows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creating_a_taken_name_is_none_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let c = store.conn();
        let id = create(c, "e", 1).unwrap().expect("a new name is created");
        assert_eq!(create(c, "e", 2).unwrap(), None);
        assert_eq!(id_or_create(c, "e", 3).unwrap(), id);
        assert_eq!(all(c).unwrap().iter().filter(|e| e.name == "e").count(), 1);
    }
}
