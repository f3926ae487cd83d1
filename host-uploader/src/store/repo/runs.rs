//! Runs: the external id users type, the experiment, status, times, and the
//! counters a drain keeps (next point ordinal, drops, losses).

use rusqlite::{params, Connection, OptionalExtension, Row};

/// A run's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    /// Integer key.
    pub pk: i64,
    /// The external id.
    pub run_id: String,
    /// Experiment id.
    pub experiment_id: i64,
    /// RUNNING, FINISHED, FAILED or KILLED.
    pub status: String,
    /// Start, ms.
    pub start_ms: i64,
    /// End, ms.
    pub end_ms: Option<i64>,
    /// Command line of `runlog run`.
    pub command: Option<String>,
    /// Exit code of `runlog run`.
    pub exit_code: Option<i64>,
}

const RUN_COLS: &str = "id, run_id, experiment_id, status, start_ms, end_ms, command, exit_code";

fn from_row(r: &Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        pk: r.get(0)?,
        run_id: r.get(1)?,
        experiment_id: r.get(2)?,
        status: r.get(3)?,
        start_ms: r.get(4)?,
        end_ms: r.get(5)?,
        command: r.get(6)?,
        exit_code: r.get(7)?,
    })
}

/// The run with external id `run_id`.
pub fn by_run_id(c: &Connection, run_id: &str) -> rusqlite::Result<Option<RunRow>> {
    c.prepare_cached(&format!("SELECT {RUN_COLS} FROM runs WHERE run_id = ?1"))?
        .query_row([run_id], from_row)
        .optional()
}

/// The integer key of run `run_id`.
pub fn key_of(c: &Connection, run_id: &str) -> rusqlite::Result<Option<i64>> {
    c.prepare_cached("SELECT id FROM runs WHERE run_id = ?1")?
        .query_row([run_id], |r| r.get(0))
        .optional()
}

/// Every run, newest first.
pub fn all(c: &Connection) -> rusqlite::Result<Vec<RunRow>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {RUN_COLS} FROM runs ORDER BY start_ms DESC, id DESC"
    ))?;
    let rows = st.query_map([], from_row)?;
    rows.collect()
}

/// Creates run `run_id` (status RUNNING) and returns its key.
pub fn insert(
    c: &Connection,
    run_id: &str,
    experiment_id: i64,
    start_ms: i64,
    command: Option<&str>,
) -> rusqlite::Result<i64> {
    c.prepare_cached(
        "INSERT INTO runs (run_id, experiment_id, start_ms, command) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![run_id, experiment_id, start_ms, command])?;
    Ok(c.last_insert_rowid())
}

/// The key and `next_ord` of run `run_id`, and whether it has no command yet.
pub fn drain_state(c: &Connection, run_id: &str) -> rusqlite::Result<Option<(i64, i64, bool)>> {
    c.prepare_cached("SELECT id, next_ord, command IS NULL FROM runs WHERE run_id = ?1")?
        .query_row([run_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
}

/// Sets the command line of run `run`.
pub fn set_command(c: &Connection, run: i64, command: &str) -> rusqlite::Result<()> {
    c.prepare_cached("UPDATE runs SET command = ?2 WHERE id = ?1")?
        .execute(params![run, command])?;
    Ok(())
}

/// Sets the status of run `run` (one of the four the schema admits).
pub fn set_status(c: &Connection, run: i64, status: &str) -> rusqlite::Result<()> {
    c.prepare_cached("UPDATE runs SET status = ?2 WHERE id = ?1")?
        .execute(params![run, status])?;
    Ok(())
}

/// Sets the end time of run `run`.
pub fn set_end_ms(c: &Connection, run: i64, end_ms: i64) -> rusqlite::Result<()> {
    c.prepare_cached("UPDATE runs SET end_ms = ?2 WHERE id = ?1")?
        .execute(params![run, end_ms])?;
    Ok(())
}

/// Records how run `run` ended; an unknown exit code keeps the one it has.
pub fn end(
    c: &Connection,
    run: i64,
    status: &str,
    end_ms: i64,
    exit_code: Option<i32>,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "UPDATE runs SET status = ?2, end_ms = ?3, exit_code = COALESCE(?4, exit_code)
         WHERE id = ?1",
    )?
    .execute(params![run, status, end_ms, exit_code])?;
    Ok(())
}

/// The status of run `run_id`, if the store has it.
pub fn status_of(c: &Connection, run_id: &str) -> rusqlite::Result<Option<String>> {
    c.prepare_cached("SELECT status FROM runs WHERE run_id = ?1")?
        .query_row([run_id], |r| r.get(0))
        .optional()
}

/// How far run `run` has got: its `next_ord` (which grows with every value
/// stored into it) and its status. One primary-key lookup: live feeds poll it.
pub fn progress(c: &Connection, run: i64) -> rusqlite::Result<(i64, String)> {
    c.prepare_cached("SELECT next_ord, status FROM runs WHERE id = ?1")?
        .query_row([run], |r| Ok((r.get(0)?, r.get(1)?)))
}

/// SQL for `column + param`, saturating at `i64::MAX` for non-negative
/// operands. SQLite turns an INTEGER sum that overflows into a REAL, which
/// the readers then refuse ("Invalid column type Real"); counters fed from
/// outside (a stream can claim any gap) must never get there.
fn saturating_sum(column: &str, param: &str) -> String {
    format!(
        "CASE WHEN {param} > 9223372036854775807 - {column} THEN 9223372036854775807 \
         ELSE {column} + {param} END"
    )
}

/// Adds `n` log calls the writer dropped to run `run`'s counter (saturating).
pub fn add_dropped(c: &Connection, run: i64, n: i64) -> rusqlite::Result<()> {
    c.prepare_cached(&format!(
        "UPDATE runs SET dropped = {} WHERE id = ?1",
        saturating_sum("dropped", "?2")
    ))?
    .execute(params![run, n])?;
    Ok(())
}

/// Adds frames and records lost on a byte stream to run `run`'s counters (saturating).
pub fn add_lost(c: &Connection, run: i64, frames: i64, records: i64) -> rusqlite::Result<()> {
    c.prepare_cached(&format!(
        "UPDATE runs SET lost_frames = {}, lost_records = {} WHERE id = ?1",
        saturating_sum("lost_frames", "?2"),
        saturating_sum("lost_records", "?3")
    ))?
    .execute(params![run, frames, records])?;
    Ok(())
}
