//! A run's series as listings see them: names, sizes and latest values,
//! read from the `series` summaries (never from the points).

use rusqlite::Connection;

use crate::store::value::{self, MetricValue, ValueKind};

/// A series' summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    /// The series' row id.
    pub series: i64,
    /// The metric's name.
    pub name: String,
    /// How many values were logged.
    pub count: u64,
    /// The latest value; `None` if the column holds something no runlog wrote.
    pub value: Option<MetricValue>,
    /// Its kind code, as stored (for the error naming a malformed value).
    pub kind: i64,
    /// Its step, if it had one.
    pub step: Option<i64>,
    /// Its time, ms, if known.
    pub time_ms: Option<i64>,
}

/// The summaries of run `run`'s series, by name.
pub fn latest(c: &Connection, run: i64) -> rusqlite::Result<Vec<Latest>> {
    let mut st = c.prepare_cached(
        "SELECT id, name, kind, count, last_value, last_step, last_ms
         FROM series WHERE run = ?1 ORDER BY name",
    )?;
    let mut rows = st.query([run])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let kind: i64 = r.get(2)?;
        out.push(Latest {
            series: r.get(0)?,
            name: r.get(1)?,
            count: r.get::<_, i64>(3)?.max(0) as u64,
            value: ValueKind::from_code(kind).and_then(|k| value::from_sql(k, r.get_ref(4).ok()?)),
            kind,
            step: r.get(5)?,
            time_ms: r.get(6)?,
        });
    }
    Ok(out)
}

/// Run `run`'s series: row id and name, in creation order.
pub fn series_of(c: &Connection, run: i64) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut st = c.prepare_cached("SELECT id, name FROM series WHERE run = ?1 ORDER BY id")?;
    let rows = st.query_map([run], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The index the next value of series `series` will get: how many points its chunks hold.
pub fn series_end(c: &Connection, series: i64) -> rusqlite::Result<i64> {
    c.prepare_cached("SELECT COALESCE(SUM(count), 0) FROM chunks WHERE series = ?1")?
        .query_row([series], |r| r.get(0))
}
