//! Wall-clock time for metric records, cheap enough for the hot path.
//!
//! Everything off the hot path (run start, spool creation) takes
//! `runlog_core::host::now_ms`, the clock every host part of runlog shares.
//!
//! `CLOCK_REALTIME_COARSE` is served by the vDSO on Linux: no system call,
//! a few nanoseconds, and a resolution of one scheduler tick (1-4 ms), which
//! is plenty for millisecond timestamps.

/// The coarse clock's raw reading, `(seconds, nanoseconds)`; `(0, 0)` if the
/// clock fails. It changes once per tick, so callers may cache what they
/// derive from it (see `hot::TimeCache`).
#[inline(always)]
#[allow(clippy::useless_conversion)] // time_t and c_long are 32-bit on some targets
pub(crate) fn now_raw() -> (i64, i64) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const CLOCK: libc::clockid_t = libc::CLOCK_REALTIME_COARSE;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    const CLOCK: libc::clockid_t = libc::CLOCK_REALTIME;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant
    // the platform defines.
    let rc = unsafe { libc::clock_gettime(CLOCK, &mut ts) };
    if rc != 0 {
        return (0, 0);
    }
    (i64::from(ts.tv_sec), i64::from(ts.tv_nsec))
}

/// Milliseconds since the Unix epoch of a [`now_raw`] reading.
#[inline]
pub(crate) fn raw_to_ms((sec, nsec): (i64, i64)) -> u64 {
    (sec.max(0) as u64)
        .saturating_mul(1000)
        .saturating_add(nsec.max(0) as u64 / 1_000_000)
}

/// Milliseconds since the Unix epoch.
#[inline]
pub(crate) fn now_ms() -> u64 {
    raw_to_ms(now_raw())
}

/// Seconds since the Unix epoch, as the uploader writes heartbeats.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
