//! The live feed: `GET /api/2.0/runlog/runs/live?run_id=RUN` streams the
//! points a run gets from now on, as Server-Sent Events, so the run's page
//! draws them as they arrive.
//!
//! Events:
//! - `points`: `{"metrics": [{key, value, timestamp, step}, ...]}`, the same
//!   shape as `metrics/get-history` (lists expand to steps 0..n-1; string
//!   values are not metrics and are left out);
//! - `status`: `{"status": "FINISHED"}` when the run's status changes; the
//!   stream ends after the run stops running (its last points sent first).
//!
//! The server polls the store every [`POLL`]: one primary-key lookup of the
//! run's `next_ord`, which grows with every stored value; only when it moved
//! does it read the new rows, per series from the index it stopped at
//! (primary-key range scans). A quiet run costs one lookup per poll, a busy
//! one reads each new row once. At most [`MAX_STREAMS`] streams run at once
//! (503 beyond), each at most [`MAX_AGE`] (the page reconnects).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;

use super::db::{self, RunRow};
use super::error::{ApiError, ApiResult};
use super::pool::Pool;

/// How often a stream looks for new points.
pub const POLL: Duration = Duration::from_millis(500);
/// Streams served at once.
pub const MAX_STREAMS: usize = 64;
/// Longest life of one stream.
pub const MAX_AGE: Duration = Duration::from_secs(3600);
/// Stored values read per series per poll (a list counts once).
const ROWS_PER_READ: usize = 5000;

/// Streams running now.
pub struct Streams(Arc<Semaphore>);

impl Default for Streams {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(MAX_STREAMS)))
    }
}

/// Where a stream stands: per series id, its name and the next index.
struct Cursor {
    ord: i64,
    status: String,
    series: HashMap<i64, (String, i64)>,
}

fn start(store: &crate::store::Store, run_id: &str) -> ApiResult<(RunRow, Cursor)> {
    let c = store.conn();
    let run = db::run_row(c, run_id)?;
    let (ord, status) = db::run_progress(c, &run)?;
    let mut series = HashMap::new();
    for (id, name) in db::series_of(c, &run)? {
        let end = db::series_end(c, id)?;
        series.insert(id, (name, end));
    }
    Ok((
        run,
        Cursor {
            ord,
            status,
            series,
        },
    ))
}

/// New points since `cur`, and the status if it changed.
fn poll(
    store: &crate::store::Store,
    run: &RunRow,
    mut cur: Cursor,
) -> ApiResult<(Vec<db::Point>, Option<String>, Cursor)> {
    let c = store.conn();
    let (ord, status) = db::run_progress(c, run)?;
    let mut points = Vec::new();
    if ord != cur.ord {
        for (id, name) in db::series_of(c, run)? {
            let entry = cur.series.entry(id).or_insert((name, 0));
            let (tail, next) = db::series_tail(c, id, &entry.0, entry.1, ROWS_PER_READ)?;
            entry.1 = next;
            points.extend(tail);
        }
        // Catch up over several polls when a series got more than one read's worth.
        cur.ord = ord;
        if points.len() >= ROWS_PER_READ {
            cur.ord = -1;
        }
    }
    let changed = (status != cur.status).then(|| status.clone());
    cur.status = status;
    Ok((points, changed, cur))
}

/// `GET .../runs/live?run_id=RUN`.
pub async fn stream(pool: Arc<Pool>, streams: &Streams, run_id: String) -> ApiResult<Response> {
    let permit = Arc::clone(&streams.0).try_acquire_owned().map_err(|_| {
        ApiError::busy(format!(
            "{MAX_STREAMS} live feeds are open; close one or try again"
        ))
    })?;
    let (run, cursor) = pool.run(move |s| start(s, &run_id)).await?;
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(4);
    tokio::spawn(async move {
        let _permit = permit;
        let deadline = tokio::time::Instant::now() + MAX_AGE;
        let mut cur = Some(cursor);
        let mut running = cur.as_ref().is_some_and(|c| c.status == "RUNNING");
        loop {
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = tx.closed() => return,
            }
            let (run, taken) = (run.clone(), cur.take().expect("cursor is put back"));
            let Ok((points, status, next)) = pool.run(move |s| poll(s, &run, taken)).await else {
                return;
            };
            cur = Some(next);
            if !points.is_empty() {
                let metrics: Vec<_> = points.iter().map(db::Point::to_json).collect();
                let ev = Event::default()
                    .event("points")
                    .data(json!({ "metrics": metrics }).to_string());
                if tx.send(Ok(ev)).await.is_err() {
                    return;
                }
            }
            if let Some(status) = status {
                running = status == "RUNNING";
                let ev = Event::default()
                    .event("status")
                    .data(json!({ "status": status }).to_string());
                if tx.send(Ok(ev)).await.is_err() {
                    return;
                }
            }
            let caught_up = cur.as_ref().is_some_and(|c| c.ord >= 0);
            if (!running && caught_up) || tokio::time::Instant::now() >= deadline {
                return;
            }
        }
    });
    Ok(Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
