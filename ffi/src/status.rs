//! `runlog_status`: what every call returns, with fixed numeric codes.

use core::ffi::c_char;

/// The result of a runlog call. `RUNLOG_STATUS_OK` is 0; every other value is
/// an error whose details `runlog_last_error` gives. The numeric values are
/// part of the ABI and never change.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum runlog_status {
    /// Success.
    RUNLOG_STATUS_OK = 0,
    /// A required pointer argument was NULL.
    RUNLOG_STATUS_NULL_ARGUMENT = 1,
    /// A name, string value or path is not valid UTF-8.
    RUNLOG_STATUS_INVALID_UTF8 = 2,
    /// A metric name is empty.
    RUNLOG_STATUS_EMPTY_NAME = 3,
    /// A metric name is longer than `RUNLOG_MAX_NAME_LEN` bytes (or than a small device ring accepts).
    RUNLOG_STATUS_NAME_TOO_LONG = 4,
    /// A list does not fit in one record of this logger's ring.
    RUNLOG_STATUS_LIST_TOO_LONG = 5,
    /// A string value (or a device artifact's path) does not fit in one record of this logger's ring.
    RUNLOG_STATUS_VALUE_TOO_LONG = 6,
    /// An artifact path is not a safe relative path (absolute, `..`, backslash, empty, too long).
    RUNLOG_STATUS_UNSAFE_PATH = 7,
    /// The ring is full (fail-fast mode, or still full when the block timeout ran out).
    RUNLOG_STATUS_FULL = 8,
    /// `runlog_wait`/`runlog_flush`/`runlog_close` ran out of time before the records were committed.
    RUNLOG_STATUS_TIMEOUT = 9,
    /// The logger was closed; the call did nothing.
    RUNLOG_STATUS_CLOSED = 10,
    /// A file system operation failed (spool file, staged artifact, file to upload).
    RUNLOG_STATUS_IO = 11,
    /// An argument is out of range: bad options, a buffer too small, a ticket never issued.
    RUNLOG_STATUS_INVALID_ARGUMENT = 12,
    /// The logger is in use by a call this one interrupted on the same thread (from an ISR on a device, a signal handler on a host); nothing was written.
    RUNLOG_STATUS_BUSY = 13,
    /// An internal error was caught at the boundary; the call did nothing. Please report it.
    RUNLOG_STATUS_INTERNAL = 14,
    /// The transport's write function reported an error (device drain).
    RUNLOG_STATUS_TRANSPORT = 15,
    /// `runlog_log_param` was given a different value for a key that already has one
    /// (MLflow params take one value per key); nothing was written.
    RUNLOG_STATUS_PARAM_CONFLICT = 16,
}

pub use runlog_status::*;

impl runlog_status {
    /// A short constant description.
    pub fn as_str(self) -> &'static str {
        status_cstr(Some(self)).to_str().unwrap_or("")
    }

    /// The status with numeric value `code`, if there is one (bindings use it
    /// to list every status without repeating the table).
    pub fn from_u32(code: u32) -> Option<Self> {
        const ALL: [runlog_status; 17] = [
            RUNLOG_STATUS_OK,
            RUNLOG_STATUS_NULL_ARGUMENT,
            RUNLOG_STATUS_INVALID_UTF8,
            RUNLOG_STATUS_EMPTY_NAME,
            RUNLOG_STATUS_NAME_TOO_LONG,
            RUNLOG_STATUS_LIST_TOO_LONG,
            RUNLOG_STATUS_VALUE_TOO_LONG,
            RUNLOG_STATUS_UNSAFE_PATH,
            RUNLOG_STATUS_FULL,
            RUNLOG_STATUS_TIMEOUT,
            RUNLOG_STATUS_CLOSED,
            RUNLOG_STATUS_IO,
            RUNLOG_STATUS_INVALID_ARGUMENT,
            RUNLOG_STATUS_BUSY,
            RUNLOG_STATUS_INTERNAL,
            RUNLOG_STATUS_TRANSPORT,
            RUNLOG_STATUS_PARAM_CONFLICT,
        ];
        ALL.get(code as usize).copied()
    }
}

/// A static, NUL-terminated description of a status code.
///
/// Takes the code as an integer so that any value is safe to pass: unknown
/// codes give `"unknown status"`. The returned string is static: never free it.
/// Thread-safe. Never fails.
#[no_mangle]
pub extern "C" fn runlog_status_str(status: u32) -> *const c_char {
    status_cstr(runlog_status::from_u32(status)).as_ptr()
}

/// The description of `status` (`None`: an unknown code).
pub(crate) fn status_cstr(status: Option<runlog_status>) -> &'static core::ffi::CStr {
    match status {
        Some(RUNLOG_STATUS_OK) => c"ok",
        Some(RUNLOG_STATUS_NULL_ARGUMENT) => c"a required pointer argument is NULL",
        Some(RUNLOG_STATUS_INVALID_UTF8) => c"text is not valid UTF-8",
        Some(RUNLOG_STATUS_EMPTY_NAME) => c"metric name is empty",
        Some(RUNLOG_STATUS_NAME_TOO_LONG) => c"metric name is too long",
        Some(RUNLOG_STATUS_LIST_TOO_LONG) => c"list is too long for one record",
        Some(RUNLOG_STATUS_VALUE_TOO_LONG) => c"value is too long for one record",
        Some(RUNLOG_STATUS_UNSAFE_PATH) => c"artifact path is not a safe relative path",
        Some(RUNLOG_STATUS_FULL) => c"ring is full",
        Some(RUNLOG_STATUS_TIMEOUT) => c"timed out",
        Some(RUNLOG_STATUS_CLOSED) => c"logger is closed",
        Some(RUNLOG_STATUS_IO) => c"file system error",
        Some(RUNLOG_STATUS_INVALID_ARGUMENT) => c"invalid argument",
        Some(RUNLOG_STATUS_BUSY) => c"logger is busy (call interrupted another call)",
        Some(RUNLOG_STATUS_INTERNAL) => c"internal error",
        Some(RUNLOG_STATUS_TRANSPORT) => c"transport write failed",
        Some(RUNLOG_STATUS_PARAM_CONFLICT) => c"param already has a different value",
        None => c"unknown status",
    }
}
