//! The process-wide logger (`runlog_get_logger`), configured from the
//! environment like `get_azureml_logger()`, and its exit hook.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

use crate::guard::guard_ptr;
use crate::logger::runlog_logger;

use super::options::{runlog_options_default, Resolved};

static GLOBAL: AtomicPtr<runlog_logger> = AtomicPtr::new(std::ptr::null_mut());
static INIT: Mutex<()> = Mutex::new(());

/// Default bound, in ms, on how long the exit hook waits for the upload.
const EXIT_TIMEOUT_MS: u32 = 2000;

/// Returns the process-wide logger, creating it on first use from the
/// environment: `RUNLOG_SPOOL` (default `.runlog/spool` under the working
/// directory), `RUNLOG_RUN_ID` (default: the launcher's job, else a new random id), `RUNLOG_EXPERIMENT`
/// (default `"default"`), which `runlog run` sets. Full ring: log calls wait
/// up to 1 s for room.
///
/// Returns NULL on failure (e.g. the spool directory cannot be created);
/// `runlog_last_error` says why, and a later call tries again.
///
/// Ownership: the library owns it; do not close it unless you want to end the
/// run early (later calls through it then return CLOSED). At normal process
/// exit an `atexit` hook writes the run's end and waits, up to
/// `RUNLOG_EXIT_TIMEOUT_MS` (default 2000) and only while an uploader is
/// draining, for the upload. Without that hook (a crash, SIGKILL) nothing
/// that a log call accepted is lost: it is already in the spool file.
/// Thread-safe: concurrent first calls create one logger.
#[no_mangle]
pub extern "C" fn runlog_get_logger() -> *mut runlog_logger {
    let p = GLOBAL.load(Ordering::Acquire);
    if !p.is_null() {
        return p;
    }
    guard_ptr(std::ptr::null_mut(), || {
        let _once = INIT.lock().unwrap_or_else(|e| e.into_inner());
        let p = GLOBAL.load(Ordering::Acquire);
        if !p.is_null() {
            return p;
        }
        // SAFETY: the default options hold no strings.
        let resolved = match unsafe { Resolved::from_options(&runlog_options_default()) } {
            Ok(r) => r,
            Err(_) => return std::ptr::null_mut(),
        };
        let Ok(logger) = resolved.open() else {
            return std::ptr::null_mut();
        };
        GLOBAL.store(logger, Ordering::Release);
        // SAFETY: `at_exit` is a plain extern "C" fn that never unwinds.
        unsafe { libc::atexit(at_exit) };
        logger
    })
}

extern "C" fn at_exit() {
    let _ = std::panic::catch_unwind(|| {
        let p = GLOBAL.load(Ordering::Acquire);
        // SAFETY: GLOBAL only ever holds a leaked, never-freed handle.
        let Some(logger) = (unsafe { p.as_ref() }) else {
            return;
        };
        let timeout = std::env::var("RUNLOG_EXIT_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(EXIT_TIMEOUT_MS);
        // Already closed by the program: `close` returns CLOSED and does nothing.
        let _ = logger.close(timeout);
    });
}
