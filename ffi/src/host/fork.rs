//! `fork()` safety. A child process inherits the parent's loggers, including
//! the shared mapping of their spool files: if it logged through them, two
//! producers would write one ring and corrupt it. A `pthread_atfork` child
//! handler marks the process as a fork child, and every host logger inherited
//! that way then refuses calls with `RUNLOG_STATUS_CLOSED` (one relaxed load
//! of a static per call). The child may open its own logger with `runlog_open`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

static IN_CHILD: AtomicBool = AtomicBool::new(false);
static REGISTER: Once = Once::new();

extern "C" fn child() {
    IN_CHILD.store(true, Ordering::Relaxed);
}

/// Called when a host logger is created in this process.
pub(crate) fn note_logger_created() {
    REGISTER.call_once(|| {
        // SAFETY: `child` is a plain extern "C" fn that only stores an atomic,
        // which is async-signal-safe as a fork handler must be.
        unsafe { libc::pthread_atfork(None, None, Some(child)) };
    });
}

/// Whether a logger created by process `created_by` was inherited through
/// `fork` (`getpid` is only called in fork children).
#[inline]
pub(crate) fn inherited_from_parent(created_by: u32) -> bool {
    IN_CHILD.load(Ordering::Relaxed) && created_by != std::process::id()
}
