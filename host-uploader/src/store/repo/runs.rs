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

/// The columns [`RunRow::from_row`] reads. Macros here and below, so that
/// each statement is one `concat!`-ed `&'static str`: no SQL is built per call.
macro_rules! run_cols {
    () => {
        "id, run_id, experiment_id, status, start_ms, end_ms, command, exit_code"
    };
}

impl RunRow {
    /// Reads a run from a row of `run_cols!()`.
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
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
}

/// The run with external id `run_id`.
pub fn by_run_id(c: &Connection, run_id: &str) -> rusqlite::Result<Option<RunRow>> {
    c.prepare_cached(concat!(
        "SELECT ",
        run_cols!(),
        " FROM runs WHERE run_id = ?1"
    ))?
    .query_row([run_id], RunRow::from_row)
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
    let mut st = c.prepare_cached(concat!(
        "SELECT ",
        run_cols!(),
        " FROM runs ORDER BY start_ms DESC, id DESC"
    ))?;
    let rows = st.query_map([], RunRow::from_row)?;
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
macro_rules! saturating_sum {
    ($column:literal, $param:literal) => {
        concat!(
            "CASE WHEN ",
            $param,
            " > 9223372036854775807 - ",
            $column,
            " THEN 9223372036854775807 ELSE ",
            $column,
            " + ",
            $param,
            " END"
        )
    };
}

/// Adds `n` log calls the writer dropped to run `run`'s counter (saturating).
pub fn add_dropped(c: &Connection, run: i64, n: i64) -> rusqlite::Result<()> {
    c.prepare_cached(concat!(
        "UPDATE runs SET dropped = ",
        saturating_sum!("dropped", "?2"),
        " WHERE id = ?1"
    ))?
    .execute(params![run, n])?;
    Ok(())
}

/// Adds frames and records lost on a byte stream to run `run`'s counters (saturating).
pub fn add_lost(c: &Connection, run: i64, frames: i64, records: i64) -> rusqlite::Result<()> {
    c.prepare_cached(concat!(
        "UPDATE runs SET lost_frames = ",
        saturating_sum!("lost_frames", "?2"),
        ", lost_records = ",
        saturating_sum!("lost_records", "?3"),
        " WHERE id = ?1"
    ))?
    .execute(params![run, frames, records])?;
    Ok(())
}

/// A run as `runlog history` lists and shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunListing {
    /// Integer key.
    pub pk: i64,
    /// The external id.
    pub run_id: String,
    /// The experiment's name.
    pub experiment: String,
    /// RUNNING, FINISHED, FAILED or KILLED.
    pub status: String,
    /// Start, ms.
    pub start_ms: i64,
    /// End, ms.
    pub end_ms: Option<i64>,
    /// How many series.
    pub series: u64,
    /// How many artifacts.
    pub artifacts: u64,
    /// Command line of `runlog run`.
    pub command: Option<String>,
    /// Exit code of `runlog run`.
    pub exit_code: Option<i64>,
    /// Log calls the writer dropped (ring full).
    pub dropped: u64,
    /// Records known lost on byte streams.
    pub lost_records: u64,
    /// Frames lost on byte streams.
    pub lost_frames: u64,
}

/// The SELECT that [`RunListing::from_row`] reads.
macro_rules! listing {
    () => {
        "SELECT r.id, r.run_id, e.name, r.status, r.start_ms, r.end_ms,
        (SELECT count(*) FROM series s WHERE s.run = r.id),
        (SELECT count(*) FROM artifacts a WHERE a.run = r.id),
        r.command, r.exit_code, r.dropped, r.lost_records, r.lost_frames
 FROM runs r JOIN experiments e ON e.id = r.experiment_id"
    };
}

impl RunListing {
    /// Reads a listing from a row of `listing!()`; counts SQLite holds as
    /// negative (never written so, but the file is outside input) read as 0.
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let count = |i| r.get::<_, i64>(i).map(|n| n.max(0) as u64);
        Ok(RunListing {
            pk: r.get(0)?,
            run_id: r.get(1)?,
            experiment: r.get(2)?,
            status: r.get(3)?,
            start_ms: r.get(4)?,
            end_ms: r.get(5)?,
            series: count(6)?,
            artifacts: count(7)?,
            command: r.get(8)?,
            exit_code: r.get(9)?,
            dropped: count(10)?,
            lost_records: count(11)?,
            lost_frames: count(12)?,
        })
    }
}

/// Runs newest first, of experiment `experiment` and with status `status`
/// when given, at most `limit` (all when negative).
pub fn listings(
    c: &Connection,
    experiment: Option<&str>,
    status: Option<&str>,
    limit: i64,
) -> rusqlite::Result<Vec<RunListing>> {
    let mut st = c.prepare_cached(concat!(
        listing!(),
        " WHERE (?1 IS NULL OR e.name = ?1) AND (?2 IS NULL OR r.status = ?2)
         ORDER BY r.start_ms DESC, r.id DESC LIMIT ?3"
    ))?;
    let rows = st.query_map(params![experiment, status, limit], RunListing::from_row)?;
    rows.collect()
}

/// Run `run_id` as `runlog history info` shows it.
pub fn listing(c: &Connection, run_id: &str) -> rusqlite::Result<Option<RunListing>> {
    c.prepare_cached(concat!(listing!(), " WHERE r.run_id = ?1"))?
        .query_row([run_id], RunListing::from_row)
        .optional()
}

/// Run ids that start with `prefix` (literally: no wildcards), sorted, at most `limit`.
pub fn ids_with_prefix(c: &Connection, prefix: &str, limit: i64) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT run_id FROM runs WHERE substr(run_id, 1, length(?1)) = ?1
         ORDER BY run_id LIMIT ?2",
    )?;
    let rows = st.query_map(params![prefix, limit], |r| r.get(0))?;
    rows.collect()
}

/// How many run ids start with `prefix`.
pub fn count_with_prefix(c: &Connection, prefix: &str) -> rusqlite::Result<u64> {
    c.prepare_cached("SELECT count(*) FROM runs WHERE substr(run_id, 1, length(?1)) = ?1")?
        .query_row([prefix], |r| r.get::<_, i64>(0))
        .map(|n| n.max(0) as u64)
}

/// Whether the store holds no run at all.
pub fn none(c: &Connection) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT count(*) FROM (SELECT 1 FROM runs LIMIT 1)")?
        .query_row([], |r| r.get::<_, i64>(0))
        .map(|n| n == 0)
}
