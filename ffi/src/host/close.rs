//! Closing a host logger: whether, and how long, `runlog_close` (and the exit
//! hook) waits for the upload once the run's end is in the ring.
//!
//! It waits only while an uploader drains the ring (a live heartbeat) or is
//! about to (it holds the spool directory's lock but has not listed the
//! directory since the ring appeared): then the first heartbeat is waited
//! for, within the timeout. With no uploader, nothing is waited for: the
//! records stay in the spool file for a later `runlog drain`.

use std::time::{Duration, Instant};

use crate::error::fail_fmt;
use crate::logger::runlog_logger;
use crate::status::{runlog_status, RUNLOG_STATUS_TIMEOUT};

use super::spool::SpoolConfig;

/// How often the heartbeat is read while an uploader is about to attach.
const BEAT_POLL: Duration = Duration::from_millis(2);

/// Waits up to `timeout_ms` for everything in `logger`'s ring to be
/// committed; OK, or TIMEOUT with a message that says who (if anyone) drains.
pub(crate) fn wait_for_upload(
    logger: &runlog_logger,
    c: &SpoolConfig,
    timeout_ms: u32,
) -> runlog_status {
    let started = Instant::now();
    let heartbeat = || -> Result<u32, runlog_status> {
        let g = logger.acquire()?;
        Ok(g.as_ref().map_or(0, |o| o.producer.consumer_heartbeat()))
    };
    let mut beat = match heartbeat() {
        Ok(b) => b,
        Err(s) => return s,
    };
    let attaching = beat == 0 && c.uploader_present();
    if attaching {
        let limit = Duration::from_millis(timeout_ms.into());
        while beat == 0 && started.elapsed() < limit {
            std::thread::sleep(BEAT_POLL);
            beat = match heartbeat() {
                Ok(b) => b,
                Err(s) => return s,
            };
        }
    }
    if c.uploader_live(beat) {
        let spent = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        return logger.wait_spent(None, timeout_ms, spent);
    }
    if beat == 0 && attaching {
        return fail_fmt(
            RUNLOG_STATUS_TIMEOUT,
            format_args!(
                "closed after {timeout_ms} ms: an uploader holds the spool directory {} but has \
                 not attached {} yet; it will drain the records from the spool file (a longer \
                 close timeout waits for it)",
                c.dir.display(),
                c.path.display()
            ),
        );
    }
    let msg = match logger.acquire() {
        Ok(g) => g
            .as_ref()
            .map(|o| logger.drain_state(&o.producer))
            .unwrap_or_default(),
        Err(s) => return s,
    };
    fail_fmt(
        RUNLOG_STATUS_TIMEOUT,
        format_args!("closed without waiting: {msg}"),
    )
}
