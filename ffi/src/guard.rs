//! The wrapper around every exported function: no panic crosses the C boundary.
//!
//! Host builds catch a panic and turn it into `RUNLOG_STATUS_INTERNAL` (the
//! code is written not to panic; this is the backstop). Device builds use
//! `panic = abort`, so a panic never unwinds into C there either.

use crate::status::runlog_status;

/// Runs `f`, turning a panic into `RUNLOG_STATUS_INTERNAL`.
#[inline(always)]
pub(crate) fn guard(f: impl FnOnce() -> runlog_status) -> runlog_status {
    #[cfg(feature = "std")]
    {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(s) => s,
            Err(_) => crate::error::fail(
                runlog_status::RUNLOG_STATUS_INTERNAL,
                c"internal error (a panic was caught at the C boundary); nothing was written",
            ),
        }
    }
    #[cfg(not(feature = "std"))]
    {
        f()
    }
}

/// Like [`guard`] for functions returning a pointer: a panic gives `fallback`.
#[cfg(feature = "std")]
pub(crate) fn guard_ptr<T>(fallback: *mut T, f: impl FnOnce() -> *mut T) -> *mut T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        crate::error::fail(
            runlog_status::RUNLOG_STATUS_INTERNAL,
            c"internal error (a panic was caught at the C boundary)",
        );
        fallback
    })
}
