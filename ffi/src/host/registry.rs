//! Closed host loggers are kept as tombstones so that a call through a closed
//! handle returns `RUNLOG_STATUS_CLOSED` instead of touching freed memory.
//! Listing them here keeps them reachable, so leak checkers do not report them.

use std::sync::Mutex;

use crate::logger::runlog_logger;

static TOMBSTONES: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Remembers a closed logger's handle for the rest of the process.
pub(crate) fn keep_tombstone(logger: &runlog_logger) {
    let addr = logger as *const runlog_logger as usize;
    let mut list = TOMBSTONES.lock().unwrap_or_else(|e| e.into_inner());
    if !list.contains(&addr) {
        list.push(addr);
    }
}
