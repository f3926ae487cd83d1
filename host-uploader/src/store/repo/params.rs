//! Params (the first value of a key stays) and tags (the last value wins):
//! one algorithm each, for the drain's sink and `runlog serve` alike.

use rusqlite::{params, Connection, OptionalExtension};

/// What [`put_param`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamWrite {
    /// The key was new: stored.
    Stored,
    /// The key already had this value: nothing changed.
    Same,
    /// The key already had another value, which stays (returned here); the
    /// caller says what a refused value means to its user.
    Refused(String),
}

/// The value of param `key` of run `run`.
pub fn param(c: &Connection, run: i64, key: &str) -> rusqlite::Result<Option<String>> {
    c.prepare_cached("SELECT value FROM params WHERE run = ?1 AND key = ?2")?
        .query_row(params![run, key], |r| r.get(0))
        .optional()
}

/// Stores param `key` of `run` with MLflow's rule: the first value stays.
pub fn put_param(c: &Connection, run: i64, key: &str, value: &str) -> rusqlite::Result<ParamWrite> {
    match param(c, run, key)? {
        None => {
            c.prepare_cached("INSERT INTO params (run, key, value) VALUES (?1, ?2, ?3)")?
                .execute(params![run, key, value])?;
            Ok(ParamWrite::Stored)
        }
        Some(v) if v == value => Ok(ParamWrite::Same),
        Some(v) => Ok(ParamWrite::Refused(v)),
    }
}

/// A run's params, by key.
pub fn params_of(c: &Connection, run: i64) -> rusqlite::Result<Vec<(String, String)>> {
    pairs(
        c,
        "SELECT key, value FROM params WHERE run = ?1 ORDER BY key",
        run,
    )
}

/// The value of tag `key` of run `run`.
pub fn tag(c: &Connection, run: i64, key: &str) -> rusqlite::Result<Option<String>> {
    c.prepare_cached("SELECT value FROM tags WHERE run = ?1 AND key = ?2")?
        .query_row(params![run, key], |r| r.get(0))
        .optional()
}

/// Sets tag `key` of `run`: the last value wins.
pub fn set_tag(c: &Connection, run: i64, key: &str, value: &str) -> rusqlite::Result<()> {
    c.prepare_cached("INSERT OR REPLACE INTO tags (run, key, value) VALUES (?1, ?2, ?3)")?
        .execute(params![run, key, value])?;
    Ok(())
}

/// A run's tags, by key.
pub fn tags_of(c: &Connection, run: i64) -> rusqlite::Result<Vec<(String, String)>> {
    pairs(
        c,
        "SELECT key, value FROM tags WHERE run = ?1 ORDER BY key",
        run,
    )
}

fn pairs(c: &Connection, sql: &str, run: i64) -> rusqlite::Result<Vec<(String, String)>> {
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map([run], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}
