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
        let bytes = describe(self as u32).to_bytes();
        // SAFETY: these are exactly the bytes of one of `DESCRIPTIONS`' `&str`s
        // (`pack` copies them whole), so they are UTF-8.
        unsafe { core::str::from_utf8_unchecked(bytes) }
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
/// Device builds (no `std`) describe each status in a few words (`"name too
/// long"` for `RUNLOG_STATUS_NAME_TOO_LONG`) to save flash. Thread-safe. Never
/// fails.
#[no_mangle]
pub extern "C" fn runlog_status_str(status: u32) -> *const c_char {
    describe(status).as_ptr()
}

/// The description of status code `code` (any value: codes without a
/// status get the last description, "unknown status"). Indexed by the code
/// itself, so that no table of statuses is linked; found by counting NULs,
/// so that no table of offsets is either (a firmware pays for both).
pub(crate) fn describe(code: u32) -> &'static core::ffi::CStr {
    let want = (code as usize).min(DESCRIPTIONS.len() - 1);
    let (mut start, mut seen) = (0, 0);
    for (i, &b) in TEXT.iter().enumerate() {
        if b != 0 {
            continue;
        }
        if seen == want {
            // SAFETY: `start..=i` lies in `TEXT` (`start` is 0 or one past
            // an earlier NUL, so at most `i`); it is one description and its
            // NUL, and descriptions hold no other NUL (`pack` checks it).
            return unsafe {
                core::ffi::CStr::from_bytes_with_nul_unchecked(TEXT.get_unchecked(start..=i))
            };
        }
        seen += 1;
        start = i + 1;
    }
    // `TEXT` holds one NUL per description, so the loop returned.
    c""
}

/// The descriptions, indexed by status code; the last is for unknown codes.
#[cfg(feature = "std")]
const DESCRIPTIONS: [&str; 18] = [
    "ok",
    "a required pointer argument is NULL",
    "text is not valid UTF-8",
    "metric name is empty",
    "metric name is too long",
    "list is too long for one record",
    "value is too long for one record",
    "artifact path is not a safe relative path",
    "ring is full",
    "timed out",
    "logger is closed",
    "file system error",
    "invalid argument",
    "logger is busy (call interrupted another call)",
    "internal error",
    "transport write failed",
    "param already has a different value",
    "unknown status",
];

/// Device builds (no `std`) describe each status in a few words: a firmware's
/// flash pays for every byte here (217 B instead of 426 B).
#[cfg(not(feature = "std"))]
const DESCRIPTIONS: [&str; 18] = [
    "ok",
    "NULL argument",
    "invalid UTF-8",
    "empty name",
    "name too long",
    "list too long",
    "value too long",
    "unsafe path",
    "ring full",
    "timed out",
    "closed",
    "I/O error",
    "invalid argument",
    "busy",
    "internal error",
    "transport error",
    "param conflict",
    "unknown status",
];

/// The descriptions packed into one NUL-separated byte string, in code
/// order: no pointer, length or offset per status (8 bytes each on a device).
static TEXT: [u8; packed_len()] = pack();

const fn packed_len() -> usize {
    let (mut n, mut i) = (0, 0);
    while i < DESCRIPTIONS.len() {
        n += DESCRIPTIONS[i].len() + 1;
        i += 1;
    }
    n
}

const fn pack() -> [u8; packed_len()] {
    let mut p = [0; packed_len()];
    let (mut at, mut i) = (0, 0);
    while i < DESCRIPTIONS.len() {
        let text = DESCRIPTIONS[i].as_bytes();
        let mut j = 0;
        while j < text.len() {
            assert!(text[j] != 0, "a description holds a NUL");
            p[at] = text[j];
            at += 1;
            j += 1;
        }
        at += 1; // the NUL, already there
        i += 1;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code, and unknown ones, gets its own description from the packed table.
    #[test]
    fn every_status_has_its_description() {
        for code in 0..=17u32 {
            let want = DESCRIPTIONS[code as usize];
            let got = describe(code).to_str().unwrap();
            assert_eq!(got, want, "code {code}");
            // SAFETY: `runlog_status_str` returns a static C string.
            let c = unsafe { core::ffi::CStr::from_ptr(runlog_status_str(code)) };
            assert_eq!(c.to_str().unwrap(), want, "code {code}");
        }
        for code in [18, 255, 256, u32::MAX] {
            assert_eq!(describe(code).to_str().unwrap(), "unknown status");
        }
        #[cfg(feature = "std")]
        assert_eq!(RUNLOG_STATUS_FULL.as_str(), "ring is full");
        #[cfg(feature = "std")]
        assert_eq!(
            RUNLOG_STATUS_PARAM_CONFLICT.as_str(),
            "param already has a different value"
        );
    }
}
