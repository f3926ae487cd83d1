//! Stream watermarks: the sequence number below which a stream (a ring
//! file, a byte stream) is committed. Written in the same transaction as the
//! batch it ends, which is what makes the drain exactly once.

use rusqlite::{params, Connection, OptionalExtension};

/// The committed position of stream `key`, if the store has seen it.
pub fn watermark(c: &Connection, key: &str) -> rusqlite::Result<Option<u64>> {
    Ok(
        c.prepare_cached("SELECT next_seq FROM streams WHERE key = ?1")?
            .query_row([key], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|v| v.max(0) as u64),
    )
}

/// Moves stream `key` (of run `run`) forward to `next_seq`; never backward.
pub fn advance(c: &Connection, key: &str, run: i64, next_seq: i64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO streams (key, run, next_seq) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE
         SET run = excluded.run, next_seq = MAX(next_seq, excluded.next_seq)",
    )?
    .execute(params![key, run, next_seq])?;
    Ok(())
}
