//! Series and their points: the one module that writes and reads them.
//!
//! A series is one metric name of one run (`series` table: its key, kind
//! and a summary of its latest value); its points live in chunks of up to
//! [`CHUNK_POINTS`] (`chunks` table, encoding in `chunk.rs`), each with a
//! summary (count, steps, min, max, last) so that charts of long series read
//! summaries, not points. The drain's sink and `runlog serve` append through
//! [`Appender`]; `runlog history` and `runlog serve` read through [`points`]
//! and [`chart`].

use std::collections::HashMap;

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};

use super::chunk::{self, Point, Summary, CHUNK_POINTS};
use super::value::MetricValue;
use super::value::{self, ValueKind};

type FnvMap<K, V> = HashMap<K, V, fnv::FnvBuildHasher>;

/// The points of one series added by the transaction being written.
struct Pending {
    id: i64,
    /// Points stored before this transaction.
    stored: i64,
    points: Vec<Point>,
}

/// Appends points to the series of one run within a transaction: series are
/// looked up once, chunks and summaries written once, at [`Appender::finish`].
pub struct Appender {
    run: i64,
    first_ord: i64,
    next_ord: i64,
    series: FnvMap<Box<str>, Pending>,
}

impl Appender {
    /// Starts appending to run `run` (its row id).
    pub fn new(conn: &Connection, run: i64) -> Result<Self> {
        let next_ord: i64 = conn
            .prepare_cached("SELECT next_ord FROM runs WHERE id = ?1")?
            .query_row([run], |r| r.get(0))?;
        Ok(Self {
            run,
            first_ord: next_ord,
            next_ord,
            series: FnvMap::default(),
        })
    }

    /// Adds one point to series `name`; its step defaults to its index in the series.
    pub fn push(
        &mut self,
        conn: &Connection,
        name: &str,
        value: MetricValue,
        step: Option<i64>,
        time_ms: i64,
    ) -> Result<()> {
        let pending = match self.series.get_mut(name) {
            Some(p) => p,
            None => {
                let p = load_or_create(conn, self.run, name, ValueKind::of(&value), self.next_ord)?;
                self.series.entry(name.into()).or_insert(p)
            }
        };
        let idx = pending.stored + pending.points.len() as i64;
        pending.points.push(Point {
            step: step.unwrap_or(idx),
            time_ms,
            ord: self.next_ord,
            value,
        });
        self.next_ord += 1;
        Ok(())
    }

    /// Writes the chunks and the series' summaries.
    pub fn finish(self, conn: &Connection) -> Result<()> {
        let mut summary = conn.prepare_cached(
            "UPDATE series SET count = ?2, kind = ?3, last_value = ?4, last_step = ?5, last_ms = ?6
             WHERE id = ?1",
        )?;
        for p in self.series.values() {
            let Some(last) = p.points.last() else {
                continue;
            };
            summary.execute(params![
                p.id,
                p.stored + p.points.len() as i64,
                ValueKind::of(&last.value),
                value::to_sql(&last.value),
                last.step,
                last.time_ms
            ])?;
            append_chunks(conn, p.id, p.stored, &p.points)?;
        }
        if self.next_ord != self.first_ord {
            conn.prepare_cached("UPDATE runs SET next_ord = ?2 WHERE id = ?1")?
                .execute(params![self.run, self.next_ord])?;
        }
        Ok(())
    }
}

fn load_or_create(
    conn: &Connection,
    run: i64,
    name: &str,
    kind: ValueKind,
    ord: i64,
) -> Result<Pending> {
    let found = conn
        .prepare_cached("SELECT id, count FROM series WHERE run = ?1 AND name = ?2")?
        .query_row(params![run, name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (id, stored) = match found {
        Some(f) => f,
        None => {
            conn.prepare_cached(
                "INSERT INTO series (run, name, kind, count, first_ord) VALUES (?1, ?2, ?3, 0, ?4)",
            )?
            .execute(params![run, name, kind, ord])?;
            (conn.last_insert_rowid(), 0)
        }
    };
    Ok(Pending {
        id,
        stored,
        points: Vec::new(),
    })
}

/// Appends `new` after the `stored` points of series `id`: the last chunk,
/// if not full, is decoded and rewritten with the new points; full chunks
/// are deflated once, when they fill up.
pub(crate) fn append_chunks(conn: &Connection, id: i64, stored: i64, new: &[Point]) -> Result<()> {
    let tail = conn
        .prepare_cached(
            "SELECT first_idx, count, data FROM chunks WHERE series = ?1
             ORDER BY first_idx DESC LIMIT 1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })
        .optional()?;
    let merged;
    let (start, points): (i64, &[Point]) = match tail {
        Some((first, count, data))
            if (count as usize) < CHUNK_POINTS && first + count == stored =>
        {
            let mut old = chunk::decode(&data).with_context(|| {
                format!("series {id}: its last chunk (from point {first}) is damaged")
            })?;
            old.extend_from_slice(new);
            merged = old;
            (first, &merged)
        }
        _ => (stored, new),
    };
    for (i, piece) in points.chunks(CHUNK_POINTS).enumerate() {
        write_chunk(conn, id, start + (i * CHUNK_POINTS) as i64, piece)?;
    }
    Ok(())
}

/// Writes (or rewrites) the chunk of series `id` starting at point `first_idx`.
pub(crate) fn write_chunk(
    conn: &Connection,
    id: i64,
    first_idx: i64,
    points: &[Point],
) -> Result<()> {
    let s = chunk::summarize(points);
    let full = points.len() >= CHUNK_POINTS;
    let last = points.last().and_then(|p| chunk::drawable(&p.value));
    conn.prepare_cached(
        "INSERT OR REPLACE INTO chunks (series, first_idx, count, numbers, first_step, last_step,
                min_value, min_step, max_value, max_step, last_value, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        id,
        first_idx,
        points.len() as i64,
        points.iter().map(|p| numbers_in(&p.value)).sum::<i64>(),
        s.first_step,
        s.last_step,
        s.min.map(|m| m.0),
        s.min.map(|m| m.1),
        s.max.map(|m| m.0),
        s.max.map(|m| m.1),
        last,
        chunk::encode(points, full),
    ])?;
    Ok(())
}

/// How many numbers `v` holds: one for a number, each element of a list,
/// none for a string.
fn numbers_in(v: &MetricValue) -> i64 {
    match v {
        MetricValue::I64(_) | MetricValue::F64(_) => 1,
        MetricValue::Str(_) => 0,
        MetricValue::F64List(l) => l.len() as i64,
        MetricValue::I64List(l) => l.len() as i64,
    }
}

/// One number of a series, lists expanded: an element's step is its index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number {
    /// The point's step, or the element's index in its list.
    pub step: i64,
    /// When its point was logged, ms since the Unix epoch.
    pub time_ms: i64,
    /// The number: `MetricValue::I64` or `MetricValue::F64` only.
    pub value: Scalar,
}

/// A number as stored: integers stay integers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    /// An integer.
    I64(i64),
    /// A float.
    F64(f64),
}

/// Numbers `offset..offset + limit` of series `id` (strings left out, each
/// list element one number with its index as step), and whether more follow.
/// Chunks before `offset` are skipped by their `numbers` column, not decoded.
pub fn numbers(
    conn: &Connection,
    id: i64,
    offset: u64,
    limit: usize,
) -> Result<(Vec<Number>, bool)> {
    let mut st = conn.prepare_cached(
        "SELECT first_idx, numbers FROM chunks WHERE series = ?1 ORDER BY first_idx",
    )?;
    let mut seen = 0u64;
    let mut start = None;
    let mut rows = st.query([id])?;
    while let Some(r) = rows.next()? {
        let n = r.get::<_, i64>(1)?.max(0) as u64;
        if seen + n > offset {
            start = Some(r.get::<_, i64>(0)?);
            break;
        }
        seen += n;
    }
    drop(rows);
    let Some(start) = start else {
        return Ok((Vec::new(), false));
    };
    let mut out = Vec::new();
    let mut from = u64::try_from(start).unwrap_or(0);
    loop {
        let (points, more) = points(conn, id, from, CHUNK_POINTS)?;
        from += points.len() as u64;
        for p in &points {
            let mut emit = |step: i64, value: Scalar| {
                if seen >= offset && out.len() <= limit {
                    out.push(Number {
                        step,
                        time_ms: p.time_ms,
                        value,
                    });
                }
                seen += 1;
            };
            match &p.value {
                MetricValue::I64(i) => emit(p.step, Scalar::I64(*i)),
                MetricValue::F64(f) => emit(p.step, Scalar::F64(*f)),
                MetricValue::Str(_) => {}
                MetricValue::F64List(l) => {
                    for (i, f) in l.iter().enumerate() {
                        emit(i as i64, Scalar::F64(*f));
                    }
                }
                MetricValue::I64List(l) => {
                    for (i, v) in l.iter().enumerate() {
                        emit(i as i64, Scalar::I64(*v));
                    }
                }
            }
            if out.len() > limit {
                out.truncate(limit);
                return Ok((out, true));
            }
        }
        if !more {
            return Ok((out, false));
        }
    }
}

/// The row id of series `name` of run `run`, if it exists.
pub fn find(conn: &Connection, run: i64, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM series WHERE run = ?1 AND name = ?2")?
        .query_row(params![run, name], |r| r.get(0))
        .optional()
}

/// Points `offset..offset + limit` of series `id`, in logging order, and
/// whether more follow. Only the chunks holding them are decoded.
pub fn points(conn: &Connection, id: i64, offset: u64, limit: usize) -> Result<(Vec<Point>, bool)> {
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    let mut st = conn.prepare_cached(
        "SELECT first_idx, count, data FROM chunks
         WHERE series = ?1 AND first_idx > ?2 - ?3 ORDER BY first_idx",
    )?;
    let mut rows = st.query(params![id, offset, CHUNK_POINTS as i64])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let first: i64 = r.get(0)?;
        let count: i64 = r.get(1)?;
        if first + count <= offset {
            continue;
        }
        if out.len() >= limit {
            return Ok((out, true));
        }
        let decoded = chunk::decode(r.get_ref(2)?.as_blob()?)
            .with_context(|| format!("series {id}: the chunk from point {first} is damaged"))?;
        let skip = usize::try_from(offset.saturating_sub(first)).unwrap_or(0);
        let mut it = decoded.into_iter().skip(skip);
        for p in it.by_ref() {
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(p);
        }
    }
    Ok((out, false))
}

/// The smallest and largest finite number of series `id`, from its chunks'
/// summaries (no chunk is decoded); `None` when it has none.
pub fn range(conn: &Connection, id: i64) -> Result<Option<(f64, f64)>> {
    let (lo, hi): (Option<f64>, Option<f64>) = conn
        .prepare_cached("SELECT MIN(min_value), MAX(max_value) FROM chunks WHERE series = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(lo.zip(hi))
}

/// Every point of series `id`.
pub fn all_points(conn: &Connection, id: i64) -> Result<Vec<Point>> {
    Ok(points(conn, id, 0, usize::MAX)?.0)
}

/// The series' drawable points (numbers, finite) as (step, value), at most
/// about `max_points`: every point when the series has that few, else each
/// group of chunks as its minimum and maximum (in step order), read from the
/// chunks' summaries without decoding them, so spikes survive.
///
/// Lists count element by element (steps 0..n-1, as everywhere else): a
/// chunk's summary does not describe its lists' elements, so a series whose
/// chunks hold other than one number per point (lists; strings) is reduced
/// from its decoded numbers instead ([`chart_numbers`]).
pub fn chart(conn: &Connection, id: i64, max_points: usize) -> Result<Vec<(f64, f64)>> {
    let (total, numbers): (i64, i64) = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(count), 0), COALESCE(SUM(numbers), 0) FROM chunks WHERE series = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if numbers != total {
        return chart_numbers(conn, id, numbers.max(0) as u64, max_points);
    }
    if total as usize <= max_points {
        return Ok(all_points(conn, id)?
            .iter()
            .filter_map(|p| chunk::drawable(&p.value).map(|y| (p.step as f64, y)))
            .collect());
    }
    let mut st = conn.prepare_cached(
        "SELECT count, first_step, last_step, min_value, min_step, max_value, max_step
         FROM chunks WHERE series = ?1 ORDER BY first_idx",
    )?;
    let summaries = st
        .query_map([id], |r| {
            let pair = |v: Option<f64>, s: Option<i64>| v.zip(s);
            Ok(Summary {
                count: r.get::<_, i64>(0)?.max(0) as usize,
                first_step: r.get(1)?,
                last_step: r.get(2)?,
                min: pair(r.get(3)?, r.get(4)?),
                max: pair(r.get(5)?, r.get(6)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let buckets = (max_points / 2).max(1);
    let per_bucket = summaries.len().div_ceil(buckets).max(1);
    let mut out = Vec::with_capacity(2 * summaries.len().div_ceil(per_bucket));
    for group in summaries.chunks(per_bucket) {
        let min = group
            .iter()
            .filter_map(|s| s.min)
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let max = group
            .iter()
            .filter_map(|s| s.max)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let mut pair: Vec<(f64, f64)> = min
            .into_iter()
            .chain(max)
            .map(|(y, step)| (step as f64, y))
            .collect();
        pair.sort_by(|a, b| a.0.total_cmp(&b.0));
        pair.dedup();
        out.extend(pair);
    }
    Ok(out)
}

/// [`chart`] of a series of `total` numbers, from the numbers themselves
/// (every chunk decoded, a page at a time): all finite ones when there are at
/// most `max_points`, else each run of consecutive numbers as its minimum and
/// maximum, in logging order (a series of several lists repeats steps
/// 0..n-1, so order, not step, keeps each list's line whole).
fn chart_numbers(
    conn: &Connection,
    id: i64,
    total: u64,
    max_points: usize,
) -> Result<Vec<(f64, f64)>> {
    const PAGE: usize = 1 << 16;
    let buckets = (max_points / 2).max(1) as u64;
    let per_bucket = if total <= max_points as u64 {
        1
    } else {
        total.div_ceil(buckets)
    };
    let mut out = Vec::new();
    // Index, step and value of the bucket's minimum and maximum so far.
    let mut lo: Option<(u64, i64, f64)> = None;
    let mut hi: Option<(u64, i64, f64)> = None;
    let mut flush = |lo: &mut Option<(u64, i64, f64)>, hi: &mut Option<(u64, i64, f64)>| {
        let mut pair: Vec<(u64, i64, f64)> = lo.take().into_iter().chain(hi.take()).collect();
        pair.sort_by_key(|p| p.0);
        pair.dedup_by_key(|p| p.0);
        out.extend(pair.into_iter().map(|(_, step, y)| (step as f64, y)));
    };
    let (mut index, mut in_bucket) = (0u64, 0u64);
    loop {
        let (page, more) = numbers(conn, id, index, PAGE)?;
        for n in &page {
            if in_bucket == per_bucket {
                flush(&mut lo, &mut hi);
                in_bucket = 0;
            }
            in_bucket += 1;
            let y = match n.value {
                Scalar::I64(i) => i as f64,
                Scalar::F64(f) => f,
            };
            if y.is_finite() {
                if lo.is_none_or(|(_, _, m)| y < m) {
                    lo = Some((index, n.step, y));
                }
                if hi.is_none_or(|(_, _, m)| y > m) {
                    hi = Some((index, n.step, y));
                }
            }
            index += 1;
        }
        if !more || page.is_empty() {
            break;
        }
    }
    flush(&mut lo, &mut hi);
    Ok(out)
}

/// Creates, for this connection only, a temporary table `metric_values`
/// with one row per point, as stores before chunks held them (`series, idx,
/// ord, step, time_ms, kind, value`): for inspecting a store with SQL (and
/// for tests written against that table). It copies every point: meant for
/// small stores.
pub fn create_points_table(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "DROP TABLE IF EXISTS temp.metric_values;
         CREATE TEMP TABLE metric_values (
             series INTEGER, idx INTEGER, ord INTEGER, step INTEGER,
             time_ms INTEGER, kind INTEGER, value BLOB, PRIMARY KEY (series, idx));",
    )?;
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM main.series ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut insert = conn.prepare(
        "INSERT INTO temp.metric_values (series, idx, ord, step, time_ms, kind, value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for id in ids {
        for (idx, p) in all_points(conn, id)?.iter().enumerate() {
            insert.execute(params![
                id,
                idx as i64,
                p.ord,
                p.step,
                p.time_ms,
                ValueKind::of(&p.value),
                value::to_sql(&p.value)
            ])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// A store with one run and series "m" holding `values`, appended in
    /// batches of `batch` points (one transaction each, as the drain does).
    fn store_with(values: &[MetricValue], batch: usize) -> (tempfile::TempDir, Store, i64) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let run = store.create_run("r", "e", 1, None).unwrap();
        for part in values.chunks(batch.max(1)) {
            let tx = store.conn_mut().transaction().unwrap();
            let mut a = Appender::new(&tx, run).unwrap();
            for v in part {
                a.push(&tx, "m", v.clone(), None, 5).unwrap();
            }
            a.finish(&tx).unwrap();
            tx.commit().unwrap();
        }
        let id = find(store.conn(), run, "m").unwrap().unwrap();
        (dir, store, id)
    }

    #[test]
    fn small_batches_fill_chunks_and_read_back_in_order() {
        let values: Vec<MetricValue> = (0..3000).map(|i| MetricValue::I64(i * 3)).collect();
        let (_d, store, id) = store_with(&values, 7);
        let chunks: Vec<(i64, i64)> = store
            .conn()
            .prepare("SELECT first_idx, count FROM chunks WHERE series = ?1 ORDER BY first_idx")
            .unwrap()
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(chunks, vec![(0, 1024), (1024, 1024), (2048, 952)]);
        let all = all_points(store.conn(), id).unwrap();
        assert!(all
            .iter()
            .enumerate()
            .all(|(i, p)| p.step == i as i64 && p.value == MetricValue::I64(i as i64 * 3)));
        // Pages across chunk boundaries.
        let (page, more) = points(store.conn(), id, 1020, 10).unwrap();
        assert!(more);
        assert_eq!(page.first().unwrap().step, 1020);
        assert_eq!(page.last().unwrap().step, 1029);
        let (page, more) = points(store.conn(), id, 2995, 10).unwrap();
        assert_eq!((page.len(), more), (5, false));
    }

    #[test]
    fn numbers_expand_lists_skip_strings_and_page_exactly() {
        let mut values = vec![MetricValue::F64(0.5), MetricValue::Str("x".into())];
        values.push(MetricValue::I64List(vec![10, 11, 12]));
        values.extend((0..2000).map(|i| MetricValue::F64(i as f64)));
        let (_d, store, id) = store_with(&values, 500);
        let (first, more) = numbers(store.conn(), id, 0, 4).unwrap();
        assert!(more);
        assert_eq!(
            first.iter().map(|n| (n.step, n.value)).collect::<Vec<_>>(),
            vec![
                (0, Scalar::F64(0.5)),
                (0, Scalar::I64(10)),
                (1, Scalar::I64(11)),
                (2, Scalar::I64(12))
            ]
        );
        // Paging the whole series a page at a time sees every number once.
        let mut seen = Vec::new();
        let mut offset = 0u64;
        loop {
            let (page, more) = numbers(store.conn(), id, offset, 333).unwrap();
            offset += page.len() as u64;
            seen.extend(page);
            if !more {
                break;
            }
        }
        assert_eq!(seen.len(), 1 + 3 + 2000);
        assert_eq!(seen[4 + 1500].value, Scalar::F64(1500.0));
    }

    #[test]
    fn a_chart_of_a_million_points_reads_summaries_and_keeps_spikes() {
        let n = 1_000_000;
        let values: Vec<MetricValue> = (0..n)
            .map(|i| match i {
                654_321 => MetricValue::F64(1e9),
                123_456 => MetricValue::F64(-1e9),
                777 => MetricValue::F64(f64::NAN),
                _ => MetricValue::F64((i as f64 * 1e-3).sin()),
            })
            .collect();
        let (_d, store, id) = store_with(&values, 100_000);
        let pts = chart(store.conn(), id, 4000).unwrap();
        assert!(pts.len() <= 4000 && pts.len() > 1000, "{}", pts.len());
        assert!(pts.contains(&(654_321.0, 1e9)), "the high spike survives");
        assert!(pts.contains(&(123_456.0, -1e9)), "the low spike survives");
        assert!(pts.windows(2).all(|w| w[0].0 <= w[1].0), "in step order");
        assert!(pts.iter().all(|(_, y)| y.is_finite()));
    }

    #[test]
    fn a_long_list_is_charted_element_by_element_with_its_spikes() {
        let list: Vec<f64> = (0..50_000)
            .map(|i| match i {
                31_337 => 1e9,
                7 => -1e9,
                9 => f64::NAN,
                _ => (i as f64 * 1e-3).sin(),
            })
            .collect();
        let (_d, store, id) = store_with(&[MetricValue::F64List(list.clone())], 1);
        let pts = chart(store.conn(), id, 100).unwrap();
        assert!(pts.len() <= 100 && pts.len() > 50, "{}", pts.len());
        assert!(pts.contains(&(31_337.0, 1e9)), "the high spike survives");
        assert!(pts.contains(&(7.0, -1e9)), "the low spike survives");
        assert!(pts.windows(2).all(|w| w[0].0 <= w[1].0), "in index order");
        // A short list comes back whole (NaN left out).
        let (_d, store, id) = store_with(&[MetricValue::I64List(vec![3, 1, 2])], 1);
        assert_eq!(
            chart(store.conn(), id, 100).unwrap(),
            vec![(0.0, 3.0), (1.0, 1.0), (2.0, 2.0)]
        );
    }

    #[test]
    fn a_damaged_chunk_is_an_error_naming_the_series() {
        let values: Vec<MetricValue> = (0..10).map(MetricValue::I64).collect();
        let (_d, store, id) = store_with(&values, 10);
        store
            .conn()
            .execute("UPDATE chunks SET data = x'01000a' WHERE series = ?1", [id])
            .unwrap();
        let err = all_points(store.conn(), id).unwrap_err();
        assert!(format!("{err:#}").contains("is damaged"), "{err:#}");
        assert!(chart(store.conn(), id, 100).is_err());
    }
}
