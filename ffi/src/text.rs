//! Checking text that comes from C: NUL-terminated, bounded, UTF-8; metric
//! names; artifact paths.

use core::ffi::c_char;

use runlog_core::rules::{self, RuleError};

use crate::error::fail;
use crate::status::*;

/// Longest metric name in bytes (MLflow's limit for metric keys).
pub const RUNLOG_MAX_NAME_LEN: usize = 250;
/// Longest artifact path in bytes.
pub const RUNLOG_MAX_PATH_LEN: usize = 255;
/// Longest run id in bytes (it is also part of spool file names).
pub const RUNLOG_MAX_RUN_ID_LEN: usize = 64;

/// Why C text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextError {
    Null,
    TooLong,
    Utf8,
}

/// Reads a NUL-terminated string of at most `max` bytes, never reading past
/// its terminator or past `max + 1` bytes.
///
/// # Safety
/// `ptr` must be NULL or point to readable bytes up to and including a NUL
/// terminator, or at least `max + 1` readable bytes.
#[inline]
pub(crate) unsafe fn c_text<'a>(ptr: *const c_char, max: usize) -> Result<&'a str, TextError> {
    if ptr.is_null() {
        return Err(TextError::Null);
    }
    let p = ptr.cast::<u8>();
    let mut len = 0;
    // OR of every byte: below 0x80 means pure ASCII, which is valid UTF-8
    // without a second pass (the common case for metric names).
    let mut high = 0u8;
    loop {
        // SAFETY: per the contract, every byte up to the terminator (or up to
        // `max + 1` bytes) is readable; the loop stops at the first NUL.
        let b = unsafe { *p.add(len) };
        if b == 0 {
            break;
        }
        if len == max {
            return Err(TextError::TooLong);
        }
        high |= b;
        len += 1;
    }
    // SAFETY: the `len` bytes before the terminator were just read.
    let bytes = unsafe { core::slice::from_raw_parts(p, len) };
    if high < 0x80 {
        // SAFETY: every byte is ASCII, so the bytes are valid UTF-8.
        return Ok(unsafe { core::str::from_utf8_unchecked(bytes) });
    }
    utf8(bytes).ok_or(TextError::Utf8)
}

/// `bytes` as text if they are UTF-8. Hosts: core's fast validator (long
/// non-ASCII names on the hot path); devices: runlog-core's compact one (the
/// same answers, far less flash).
#[inline]
fn utf8(bytes: &[u8]) -> Option<&str> {
    #[cfg(feature = "std")]
    return core::str::from_utf8(bytes).ok();
    #[cfg(not(feature = "std"))]
    return runlog_core::wire::utf8(bytes);
}

/// A metric name: non-empty, UTF-8, at most [`RUNLOG_MAX_NAME_LEN`] bytes.
///
/// # Safety
/// As for [`c_text`] with `max = RUNLOG_MAX_NAME_LEN`.
#[inline]
pub(crate) unsafe fn name<'a>(ptr: *const c_char) -> Result<&'a str, runlog_status> {
    // SAFETY: forwarded caller contract.
    match unsafe { c_text(ptr, RUNLOG_MAX_NAME_LEN) } {
        Ok("") => Err(fail(
            RUNLOG_STATUS_EMPTY_NAME,
            RuleError::MetricNameEmpty.message_c(),
        )),
        Ok(s) => Ok(s),
        Err(TextError::Null) => Err(fail(RUNLOG_STATUS_NULL_ARGUMENT, c"metric name is NULL")),
        Err(TextError::TooLong) => Err(fail(
            RUNLOG_STATUS_NAME_TOO_LONG,
            RuleError::MetricNameTooLong.message_c(),
        )),
        Err(TextError::Utf8) => Err(fail(
            RUNLOG_STATUS_INVALID_UTF8,
            c"metric name is not valid UTF-8",
        )),
    }
}

/// Whether `path` is a safe artifact path: the one rule,
/// [`runlog_core::rules::check_artifact_path`], with its message.
/// Device builds without messages report only the status: they take the
/// rule's scan that stops at the first fault.
pub(crate) fn check_artifact_path(path: &str) -> Result<(), runlog_status> {
    #[cfg(feature = "messages")]
    return rules::check_artifact_path(path)
        .map_err(|e| fail(RUNLOG_STATUS_UNSAFE_PATH, e.message_c()));
    #[cfg(not(feature = "messages"))]
    if rules::artifact_path_ok(path) {
        Ok(())
    } else {
        Err(fail(RUNLOG_STATUS_UNSAFE_PATH, c"unsafe artifact path"))
    }
}

/// An artifact path from C.
///
/// # Safety
/// As for [`c_text`] with `max = RUNLOG_MAX_PATH_LEN`.
pub(crate) unsafe fn artifact_path<'a>(ptr: *const c_char) -> Result<&'a str, runlog_status> {
    // SAFETY: forwarded caller contract.
    let path = match unsafe { c_text(ptr, RUNLOG_MAX_PATH_LEN) } {
        Ok(p) => p,
        Err(TextError::Null) => {
            return Err(fail(RUNLOG_STATUS_NULL_ARGUMENT, c"artifact path is NULL"))
        }
        Err(TextError::TooLong) => {
            return Err(fail(
                RUNLOG_STATUS_UNSAFE_PATH,
                RuleError::PathTooLong.message_c(),
            ))
        }
        Err(TextError::Utf8) => {
            return Err(fail(
                RUNLOG_STATUS_INVALID_UTF8,
                c"artifact path is not valid UTF-8",
            ))
        }
    };
    check_artifact_path(path)?;
    Ok(path)
}

/// Whether `id` may be a run id: the one rule, [`runlog_core::rules::check_run_id`].
pub(crate) fn valid_run_id(id: &str) -> bool {
    rules::check_run_id(id).is_ok()
}

// The header's constants are literals (cbindgen writes them as #defines); the
// rules in runlog-core own the values.
const _: () = assert!(RUNLOG_MAX_NAME_LEN == rules::MAX_METRIC_NAME_LEN);
const _: () = assert!(RUNLOG_MAX_PATH_LEN == rules::MAX_ARTIFACT_PATH_LEN);
const _: () = assert!(RUNLOG_MAX_RUN_ID_LEN == rules::MAX_RUN_ID_LEN);

#[cfg(test)]
mod tests {
    use super::*;

    /// `c_text` against `core::str::from_utf8` and the length bound.
    fn agree(text: &[u8], max: usize) {
        let mut c = text.to_vec();
        c.push(0);
        // SAFETY: `c` is NUL-terminated.
        let got = unsafe { c_text(c.as_ptr().cast(), max) };
        let want = if text.len() > max {
            Err(TextError::TooLong)
        } else {
            core::str::from_utf8(text).map_err(|_| TextError::Utf8)
        };
        assert_eq!(got, want, "{text:x?}, max {max}");
    }

    /// Every text of one to three non-NUL bytes: `c_text` (the ASCII
    /// shortcut, then devices: the compact check; hosts: core's validator)
    /// agrees with `core::str::from_utf8`, within and
    /// past the bound.
    #[test]
    #[cfg_attr(miri, ignore)] // 16 M texts: natively only
    fn agrees_with_core_on_every_short_text() {
        for x in 0..=0x00FF_FFFF_u32 {
            let [a, b, c, _] = x.to_le_bytes();
            let text: &[u8] = match (a, b, c) {
                (0, ..) => continue,
                (_, 0, 0) => &[a],
                (_, 0, _) => continue,
                (_, _, 0) => &[a, b],
                _ => &[a, b, c],
            };
            agree(text, 3);
            if x & 0xFFF == 0 {
                agree(text, text.len() - 1);
            }
        }
    }

    /// A string longer than `max` is TOO_LONG whatever its bytes (a bad
    /// byte before the bound does not stop the scan), and one that fits is
    /// checked whole.
    #[test]
    fn too_long_wins_over_bad_utf8() {
        let texts: [&[u8]; 7] = [
            b"abcdef",
            b"\xffbcdef",
            b"ab\xc3",
            b"\xe2\x82\xac\xe2\x82\xac",
            b"\xed\xa0\x80xyz",
            b"\xf4\x90\x80\x80",
            b"\xc0\xafabc",
        ];
        for text in texts {
            for max in 0..=text.len() + 1 {
                agree(text, max);
            }
        }
        let bad = b"\xffbcdef\0";
        // SAFETY: NUL-terminated.
        let got = unsafe { c_text(bad.as_ptr().cast(), 3) };
        assert_eq!(got, Err(TextError::TooLong));
        // SAFETY: NUL-terminated.
        let got = unsafe { c_text(bad.as_ptr().cast(), 6) };
        assert_eq!(got, Err(TextError::Utf8));
    }
}
