//! Checking text that comes from C: NUL-terminated, bounded, UTF-8; metric
//! names; artifact paths.

use core::ffi::c_char;

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
    // Hosts: core's fast validator (long non-ASCII names on the hot path);
    // devices: runlog-core's compact one (same answers, far less flash).
    #[cfg(feature = "std")]
    let text = core::str::from_utf8(bytes).ok();
    #[cfg(not(feature = "std"))]
    let text = runlog_core::wire::utf8(bytes);
    text.ok_or(TextError::Utf8)
}

/// A metric name: non-empty, UTF-8, at most [`RUNLOG_MAX_NAME_LEN`] bytes.
///
/// # Safety
/// As for [`c_text`] with `max = RUNLOG_MAX_NAME_LEN`.
#[inline]
pub(crate) unsafe fn name<'a>(ptr: *const c_char) -> Result<&'a str, runlog_status> {
    // SAFETY: forwarded caller contract.
    match unsafe { c_text(ptr, RUNLOG_MAX_NAME_LEN) } {
        Ok("") => Err(fail(RUNLOG_STATUS_EMPTY_NAME, "metric name is empty")),
        Ok(s) => Ok(s),
        Err(TextError::Null) => Err(fail(RUNLOG_STATUS_NULL_ARGUMENT, "metric name is NULL")),
        Err(TextError::TooLong) => Err(fail(
            RUNLOG_STATUS_NAME_TOO_LONG,
            "metric name is longer than 250 bytes",
        )),
        Err(TextError::Utf8) => Err(fail(
            RUNLOG_STATUS_INVALID_UTF8,
            "metric name is not valid UTF-8",
        )),
    }
}

/// Whether `path` is a safe artifact path: relative, not empty, UTF-8 (already
/// checked), at most [`RUNLOG_MAX_PATH_LEN`] bytes, no backslash or NUL or
/// control character, and no empty, `.` or `..` segment.
pub(crate) fn check_artifact_path(path: &str) -> Result<(), runlog_status> {
    let bad = |msg| Err(fail(RUNLOG_STATUS_UNSAFE_PATH, msg));
    if path.is_empty() {
        return bad("artifact path is empty");
    }
    if path.len() > RUNLOG_MAX_PATH_LEN {
        return bad("artifact path is longer than 255 bytes");
    }
    if path.starts_with('/') {
        return bad("artifact path is absolute; it must be relative");
    }
    if path.bytes().any(|b| b == b'\\') {
        return bad("artifact path contains a backslash");
    }
    if path.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return bad("artifact path contains a control character");
    }
    for seg in path.split('/') {
        match seg {
            ".." => return bad("artifact path contains a '..' segment"),
            "." | "" => return bad("artifact path has an empty or '.' segment"),
            _ => {}
        }
    }
    if path.as_bytes().get(1) == Some(&b':') {
        return bad("artifact path starts with a drive letter");
    }
    Ok(())
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
            return Err(fail(RUNLOG_STATUS_NULL_ARGUMENT, "artifact path is NULL"))
        }
        Err(TextError::TooLong) => {
            return Err(fail(
                RUNLOG_STATUS_UNSAFE_PATH,
                "artifact path is longer than 255 bytes",
            ))
        }
        Err(TextError::Utf8) => {
            return Err(fail(
                RUNLOG_STATUS_INVALID_UTF8,
                "artifact path is not valid UTF-8",
            ))
        }
    };
    check_artifact_path(path)?;
    Ok(path)
}

/// Whether `id` may be a run id: 1..=64 bytes of `[A-Za-z0-9_.-]`, not starting with `.`.
pub(crate) fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= RUNLOG_MAX_RUN_ID_LEN
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}
