//! `runlog_logger`: the opaque handle, and the log calls shared by the host
//! (spool file) and device (static buffer) kinds.
//!
//! A logger is a spin lock around its ring's [`Producer`] plus an immutable
//! description of where the ring lives. Closing a logger frees its ring (on
//! hosts: unmaps the spool file) but keeps the small handle itself alive as a
//! tombstone, so that a call through a closed handle returns
//! `RUNLOG_STATUS_CLOSED` instead of touching freed memory.

use core::cell::Cell;
use core::ffi::{c_char, c_void};

use runlog_core::crc::Crc32;
use runlog_core::list::{F64List, I64List};
use runlog_core::record::{Metric, Name, RunStatus, Value};
use runlog_core::ring::{Producer, PushError};
use runlog_core::wire::{self, ArtifactPart, WireError, Writer};

use crate::error::fail;
use crate::guard::guard;
use crate::lock::{Guard, SpinLock};
#[cfg(feature = "std")]
use crate::scalar::{self, Scalar};
use crate::status::*;
use crate::text;

/// A ticket: the sequence number of a record in its logger's ring.
#[allow(non_camel_case_types)]
pub type runlog_ticket = u64;

/// A logger: where log calls go. Opaque; obtained from `runlog_get_logger`,
/// `runlog_open` or `runlog_init_static`.
#[allow(non_camel_case_types)]
pub struct runlog_logger {
    pub(crate) state: SpinLock<Option<Open>>,
    pub(crate) kind: Kind,
    /// Largest encoded record this logger accepts.
    pub(crate) max_record: usize,
}

/// What an open logger owns; `None` in [`runlog_logger::state`] once closed.
pub(crate) struct Open {
    pub(crate) producer: Producer<'static>,
    pub(crate) next_artifact: u32,
    /// Set once `RunEnd` is pushed: later log calls are refused (hosts;
    /// a device's `close` pushes it and frees the state under one lock).
    #[cfg(feature = "std")]
    pub(crate) ending: bool,
    /// The params this logger accepted, to refuse a different second value.
    pub(crate) params: crate::params::Accepted,
    /// Keeps the spool file mapped for as long as `producer` is used.
    #[cfg(feature = "std")]
    pub(crate) _spool: Option<crate::host::spool::SpoolMap>,
    /// The fast path's encoded time of the current clock tick.
    #[cfg(feature = "std")]
    pub(crate) time: crate::hot::TimeCache,
}

/// Where the ring lives.
pub(crate) enum Kind {
    /// A memory-mapped spool file drained by the uploader.
    #[cfg(feature = "std")]
    Spool(crate::host::spool::SpoolConfig),
    /// A caller-provided buffer drained by `runlog_drain`.
    Static(crate::device::StaticParts),
}

impl runlog_logger {
    /// Takes the logger's lock. Device builds never wait: an interrupted holder
    /// cannot run until this call returns.
    #[inline]
    pub(crate) fn acquire(&self) -> Result<Guard<'_, Option<Open>>, runlog_status> {
        #[cfg(feature = "std")]
        {
            if let Kind::Spool(c) = &self.kind {
                if crate::host::fork::inherited_from_parent(c.pid) {
                    return Err(fail(
                        RUNLOG_STATUS_CLOSED,
                        c"this logger belongs to the parent process (inherited through fork); \
                         open a new one with runlog_open",
                    ));
                }
            }
            self.state.lock().ok_or_else(|| {
                fail(
                    RUNLOG_STATUS_BUSY,
                    c"logger is in use by the call this one interrupted (a signal handler \
                     logging while its thread was inside a runlog call)",
                )
            })
        }
        #[cfg(not(feature = "std"))]
        {
            self.state.try_lock().ok_or_else(|| {
                fail(
                    RUNLOG_STATUS_BUSY,
                    c"logger is in use by the call this one interrupted",
                )
            })
        }
    }

    /// Takes the lock for the fast path (hosts): `None`, reporting nothing,
    /// when the checked path must decide (a logger inherited through fork, a
    /// call re-entered from a signal handler).
    #[cfg(feature = "std")]
    #[inline(always)]
    pub(crate) fn try_acquire_quiet(&self) -> Option<Guard<'_, Option<Open>>> {
        if let Kind::Spool(c) = &self.kind {
            if crate::host::fork::inherited_from_parent(c.pid) {
                return None;
            }
        }
        self.state.lock()
    }

    /// Whether the ring is a spool file (a host logger, whose records carry times).
    #[cfg(feature = "std")]
    #[inline(always)]
    pub(crate) fn is_spool(&self) -> bool {
        match &self.kind {
            #[cfg(feature = "std")]
            Kind::Spool(_) => true,
            Kind::Static(_) => false,
        }
    }

    /// Wall-clock milliseconds for metric records (spool loggers only).
    #[cfg(feature = "std")]
    #[inline]
    pub(crate) fn now_ms(&self) -> Option<u64> {
        match &self.kind {
            #[cfg(feature = "std")]
            Kind::Spool(_) => Some(crate::host::clock::now_ms()),
            Kind::Static(_) => None,
        }
    }

    /// Pushes one record under the lock, applying the full-ring policy. The
    /// encoder is a `&dyn Fn`: one copy of this code instead of one per call
    /// site (152 B less in a firmware, ~19 instructions more per call).
    #[inline]
    pub(crate) fn push_locked(
        &self,
        open: &mut Open,
        encode: &dyn Fn(&mut [u8]) -> Result<usize, WireError>,
    ) -> Result<u64, runlog_status> {
        // Only hosts set `ending` (between `end_run` and freeing the ring);
        // a device's `close` does both under one lock.
        #[cfg(feature = "std")]
        if open.ending {
            return Err(fail(RUNLOG_STATUS_CLOSED, c"logger is closing"));
        }
        self.push_policy(open, encode, true)
    }

    /// The full-ring policy: fail fast, or wait up to the logger's timeout.
    /// With `count_drop`, a final refusal is counted as a dropped log call
    /// (and reported in the stream); the run's end record is not a log call
    /// and is pushed without.
    #[inline]
    fn push_policy(
        &self,
        open: &mut Open,
        encode: &dyn Fn(&mut [u8]) -> Result<usize, WireError>,
        count_drop: bool,
    ) -> Result<u64, runlog_status> {
        let block_ms = self.full_timeout_ms();
        // Every encoder here is one of `wire::encode_*`: no check of what it wrote.
        let first = open
            .producer
            .push_encoder(encode, block_ms == 0 && count_drop);
        match first {
            Ok(seq) => Ok(seq),
            Err(PushError::Full) if block_ms != 0 => {
                self.push_blocking(open, encode, block_ms, count_drop)
            }
            Err(e) => Err(push_error(e)),
        }
    }

    fn full_timeout_ms(&self) -> u32 {
        match &self.kind {
            #[cfg(feature = "std")]
            Kind::Spool(c) => c.full_timeout_ms,
            Kind::Static(_) => 0,
        }
    }

    #[cold]
    fn push_blocking(
        &self,
        open: &mut Open,
        encode: &dyn Fn(&mut [u8]) -> Result<usize, WireError>,
        block_ms: u32,
        count_drop: bool,
    ) -> Result<u64, runlog_status> {
        #[cfg(feature = "std")]
        {
            let deadline =
                std::time::Instant::now() + std::time::Duration::from_millis(block_ms.into());
            let mut pause = std::time::Duration::from_micros(20);
            loop {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(2));
                let last = std::time::Instant::now() >= deadline;
                // The last attempt counts a drop if it fails, so the stream says so.
                let r = open.producer.push_encoder(encode, last && count_drop);
                match r {
                    Ok(seq) => return Ok(seq),
                    Err(PushError::Full) if !last => continue,
                    Err(PushError::Full) => {
                        return Err(crate::error::fail_fmt(
                            RUNLOG_STATUS_FULL,
                            format_args!(
                                "ring is still full after {block_ms} ms: {}",
                                self.drain_state(&open.producer)
                            ),
                        ))
                    }
                    Err(e) => return Err(push_error(e)),
                }
            }
        }
        #[cfg(not(feature = "std"))]
        {
            let _ = (open, encode, block_ms, count_drop);
            Err(fail(RUNLOG_STATUS_FULL, c"ring is full"))
        }
    }

    /// Says whether an uploader is draining this logger's ring (hosts).
    #[cfg(feature = "std")]
    pub(crate) fn drain_state(&self, producer: &Producer<'_>) -> std::string::String {
        match &self.kind {
            Kind::Spool(c) => c.drain_state(producer.consumer_heartbeat()),
            Kind::Static(_) => "call runlog_drain to move records to the transport".into(),
        }
    }

    /// Logs one metric value (hosts; devices: [`Self::log_c`]).
    #[cfg(feature = "std")]
    #[inline]
    pub(crate) fn log(
        &self,
        name: &str,
        value: Value<'_>,
        step: Option<u64>,
        ticket: *mut runlog_ticket,
    ) -> runlog_status {
        let time_ms = self.now_ms();
        let metric = Metric {
            name: Name::Text(name),
            value,
            step,
            time_ms,
        };
        let mut guard = match self.acquire() {
            Ok(g) => g,
            Err(s) => return s,
        };
        let Some(open) = guard.as_mut() else {
            return fail(RUNLOG_STATUS_CLOSED, c"logger is closed");
        };
        match self.push_locked(open, &|buf| wire::encode_metric(&metric, buf)) {
            Ok(seq) => {
                drop(guard);
                put_ticket(ticket, seq);
                RUNLOG_STATUS_OK
            }
            Err(s) => s,
        }
    }

    /// Logs a scalar (hosts: the checked fallback of the fast path in `hot.rs`).
    #[cfg(feature = "std")]
    #[inline]
    pub(crate) fn log_scalar(
        &self,
        name: &str,
        value: Scalar,
        step: Option<u64>,
        ticket: *mut runlog_ticket,
    ) -> runlog_status {
        self.log(name, scalar::value(value), step, ticket)
    }

    /// Checks a scalar log call's name from C and logs the value: the tail of
    /// `runlog_log_f64`, `_i64` and their `_at` forms, inlined into each on
    /// hosts (their checked fallback; devices: [`log_c`]).
    ///
    /// # Safety
    /// `name` NULL or NUL-terminated; `ticket` NULL or valid for writes.
    #[cfg(feature = "std")]
    #[inline(always)]
    pub(crate) unsafe fn log_scalar_c(
        &self,
        name: *const c_char,
        value: Scalar,
        step: Option<u64>,
        ticket: *mut runlog_ticket,
    ) -> runlog_status {
        // SAFETY: caller contract.
        let name = tri!(unsafe { text::name(name) });
        self.log_scalar(name, value, step, ticket)
    }
}

impl runlog_logger {
    /// Logs a value whose size depends on the data, checking it fits one record first.
    #[cfg(feature = "std")]
    fn log_sized(
        &self,
        name: &str,
        value: Value<'_>,
        ticket: *mut runlog_ticket,
        too_long: runlog_status,
    ) -> runlog_status {
        // Sized by the encoder itself, with the longest time if `log` adds
        // one (hosts); device records carry none, so their limit is exact.
        let probe = Metric {
            name: Name::Text(name),
            value,
            step: None,
            time_ms: self.now_ms().map(|_| u64::MAX),
        };
        match wire::metric_len(&probe) {
            n if n <= self.max_record => self.log(name, value, None, ticket),
            _ => too_long_error(too_long),
        }
    }

    /// Sends an artifact through the ring: begin, chunks, end. Returns the end's ticket.
    pub(crate) fn upload_inline(&self, path: &str, data: &[u8]) -> Result<u64, runlog_status> {
        // ArtifactChunk overhead: tag, id, offset and length varints.
        let chunk = self.max_record.saturating_sub(32).max(1);
        let mut crc = Crc32::new();
        crc.update(data);
        let crc32 = crc.finish();
        let mut guard = self.acquire()?;
        let open = guard
            .as_mut()
            .ok_or_else(|| fail(RUNLOG_STATUS_CLOSED, c"logger is closed"))?;
        let id = open.next_artifact;
        open.next_artifact = id.wrapping_add(1);
        // One writer for the three parts, told which by `at`: the begin
        // (`usize::MAX`, never an offset), the chunk at offset `at`, or the
        // end (`at` past the data). One closure (and vtable) instead of three
        // saves a firmware ~200 B of flash; one offset instead of a part enum
        // with its slice, ~60 B more.
        let at = &Cell::new(usize::MAX);
        // `move`: the closure holds the values, not references to them.
        let write = move |w: &mut Writer<'_>| {
            let a = at.get();
            let part = if a == usize::MAX {
                ArtifactPart::Begin {
                    path,
                    len: data.len() as u64,
                }
            } else {
                match data.get(a..) {
                    Some(rest) if !rest.is_empty() => ArtifactPart::Chunk {
                        offset: a as u64,
                        data: rest.get(..chunk).unwrap_or(rest),
                    },
                    _ => ArtifactPart::End { crc32 },
                }
            };
            w.put_artifact_part(id, part)
        };
        // One push site for every part: the begin, each chunk, then the end
        // (three call sites measured 64 B more in a firmware).
        loop {
            #[cfg(feature = "std")]
            let seq = self.push_locked(open, &|buf| wire::write_with(buf, &write))?;
            #[cfg(not(feature = "std"))]
            let seq = {
                push_fast(&mut open.producer, &write, true)?;
                open.producer.next_seq() - 1
            };
            let a = at.get();
            at.set(if a == usize::MAX {
                0
            } else if a < data.len() {
                // Never wraps, nor reaches `usize::MAX` (the begin's mark):
                // `a` < the data's length <= `isize::MAX`, and `chunk` <=
                // `max_record`, a record's size in a ring (< 2^31).
                a.wrapping_add(chunk)
            } else {
                return Ok(seq);
            });
        }
    }

    /// Pushes `RunEnd` and marks the stream closed; later log calls are refused.
    #[cfg(feature = "std")]
    pub(crate) fn end_run(&self) -> Result<u64, runlog_status> {
        let mut guard = self.acquire()?;
        let open = guard
            .as_mut()
            .ok_or_else(|| fail(RUNLOG_STATUS_CLOSED, c"logger is already closed"))?;
        if open.ending {
            return Err(fail(RUNLOG_STATUS_CLOSED, c"logger is already closing"));
        }
        let time_ms = self.now_ms();
        // Not a log call: a full ring that refuses it counts no drop (the
        // uploader ends the run from the closed flag instead).
        let r = self.push_policy(
            open,
            &|buf| wire::encode_run_end(RunStatus::Finished, time_ms, buf),
            false,
        );
        open.ending = true;
        open.producer.close();
        r
    }
}

/// Inlined on devices into `push_fast`'s `match`, its one caller there:
/// one function instead of two (−28 B of flash; a `map_err` instead of the
/// `match` was itself kept out of line, 36 B more).
#[cfg_attr(not(feature = "std"), inline(always))]
fn push_error(e: PushError) -> runlog_status {
    match e {
        PushError::Full => fail(RUNLOG_STATUS_FULL, c"ring is full (fail-fast mode)"),
        PushError::TooLarge => fail(
            RUNLOG_STATUS_VALUE_TOO_LONG,
            c"record is larger than this logger's ring can hold",
        ),
        _ => fail(RUNLOG_STATUS_INTERNAL, c"record could not be encoded"),
    }
}

#[inline]
pub(crate) fn put_ticket(ticket: *mut runlog_ticket, seq: u64) {
    if !ticket.is_null() {
        // SAFETY: the caller of the exported function guarantees a non-NULL
        // ticket pointer is valid for writes.
        unsafe { ticket.write(seq) };
    }
}

/// Turns the C handle into a reference, or fails with NULL_ARGUMENT.
///
/// # Safety
/// `logger` must be NULL or a handle from `runlog_get_logger`, `runlog_open`
/// or `runlog_init_static` (closed handles are fine).
///
/// Inlined on devices, as a plain NULL test: outlined (or through
/// `ok_or_else`, which LLVM then outlines) every caller pays a call and a
/// `Result` in two registers for one compare (-64 B of flash over the four
/// callers).
#[cfg_attr(feature = "std", inline)]
#[cfg_attr(not(feature = "std"), inline(always))]
pub(crate) unsafe fn logger_ref<'a>(
    logger: *const runlog_logger,
) -> Result<&'a runlog_logger, runlog_status> {
    if logger.is_null() {
        return Err(fail(RUNLOG_STATUS_NULL_ARGUMENT, c"logger is NULL"));
    }
    // SAFETY: non-NULL, and by the caller's contract a valid handle (valid
    // handles are never freed).
    Ok(unsafe { &*logger })
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(s) => return s,
        }
    };
}
pub(crate) use tri;

/// Logs an integer metric.
///
/// `logger`: a handle (not NULL). `name`: NUL-terminated UTF-8, 1 to
/// `RUNLOG_MAX_NAME_LEN` bytes, copied; the caller keeps ownership.
/// `ticket`: may be NULL; on success receives the record's ticket for
/// `runlog_wait`. Thread-safe: any number of threads may log through one
/// logger at once; each thread's records keep their order. On hosts this call
/// makes no system call and takes no lock another process can hold; when the
/// ring is full it waits for room up to the logger's block timeout.
///
/// Returns OK, or NULL_ARGUMENT, EMPTY_NAME, NAME_TOO_LONG, INVALID_UTF8,
/// FULL, CLOSED, BUSY (called from an ISR or signal handler that interrupted
/// a runlog call on the same thread). On failure nothing is written.
///
/// # Safety
/// `logger` must be NULL or a valid handle; `name` NULL or a NUL-terminated
/// string; `ticket` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn runlog_log_i64(
    logger: *mut runlog_logger,
    name: *const c_char,
    value: i64,
    ticket: *mut runlog_ticket,
) -> runlog_status {
    // The same body as runlog_log_f64's, deliberately: one shared
    // #[inline(always)] helper measured 2.4 ns slower per call (12.0 vs 9.5).
    #[cfg(not(feature = "std"))]
    // SAFETY: forwarded caller contract.
    let logged = unsafe { log_c(logger, name, Raw::Scalar(Value::I64(value)), None, ticket) };
    #[cfg(feature = "std")]
    let logged = guard(|| {
        // SAFETY: caller contract.
        let logger = tri!(unsafe { logger_ref(logger) });
        if !name.is_null() {
            // SAFETY: caller contract (name non-NULL, NUL-terminated).
            let fast = unsafe { logger.log_scalar_fast(name, Scalar::I64(value), None, ticket) };
            if let Some(s) = fast {
                return s;
            }
        }
        // SAFETY: caller contract.
        unsafe { logger.log_scalar_c(name, Scalar::I64(value), None, ticket) }
    });
    logged
}

/// Logs a floating-point metric. NaN and infinities are values, not errors.
///
/// Arguments, ownership, thread safety and statuses as for `runlog_log_i64`.
/// This is the hot path: one pass over the name that checks it and copies it
/// into the ring, with no allocation, no system call and no lock another
/// process can hold.
///
/// # Safety
/// As for `runlog_log_i64`.
#[no_mangle]
pub unsafe extern "C" fn runlog_log_f64(
    logger: *mut runlog_logger,
    name: *const c_char,
    value: f64,
    ticket: *mut runlog_ticket,
) -> runlog_status {
    #[cfg(not(feature = "std"))]
    // SAFETY: forwarded caller contract.
    let logged = unsafe { log_c(logger, name, Raw::Scalar(Value::F64(value)), None, ticket) };
    #[cfg(feature = "std")]
    let logged = guard(|| {
        // SAFETY: caller contract.
        let logger = tri!(unsafe { logger_ref(logger) });
        if !name.is_null() {
            // SAFETY: caller contract (name non-NULL, NUL-terminated).
            let fast = unsafe { logger.log_scalar_fast(name, Scalar::F64(value), None, ticket) };
            if let Some(s) = fast {
                return s;
            }
        }
        // SAFETY: caller contract.
        unsafe { logger.log_scalar_c(name, Scalar::F64(value), None, ticket) }
    });
    logged
}

/// A step from C: MLflow's steps are `int64`; runlog's wire keeps 0 or more.
#[inline(always)]
fn step(step: i64) -> Result<u64, runlog_status> {
    u64::try_from(step).map_err(|_| {
        fail(
            RUNLOG_STATUS_INVALID_ARGUMENT,
            c"step is negative; steps are 0 or more",
        )
    })
}

/// Logs a floating-point metric at an explicit training step (MLflow's
/// `log_metric(key, value, step)`): a chart's x axis is the step, so series
/// logged at different rates line up (e.g. `train/loss` every step and
/// `val/acc` every 10th).
///
/// `step`: 0 or more, else INVALID_ARGUMENT. Steps need not be increasing or
/// distinct. Other arguments, ownership, thread safety and statuses as for
/// `runlog_log_f64`; the same hot path (no allocation, no system call).
///
/// # Safety
/// As for `runlog_log_i64`.
#[no_mangle]
pub unsafe extern "C" fn runlog_log_f64_at(
    logger: *mut runlog_logger,
    name: *const c_char,
    value: f64,
    step: i64,
    ticket: *mut runlog_ticket,
) -> runlog_status {
    #[cfg(not(feature = "std"))]
    // SAFETY: forwarded caller contract.
    let logged = unsafe {
        log_c(
            logger,
            name,
            Raw::Scalar(Value::F64(value)),
            Some(&step),
            ticket,
        )
    };
    #[cfg(feature = "std")]
    let logged = guard(|| {
        // SAFETY: caller contract.
        let logger = tri!(unsafe { logger_ref(logger) });
        if !name.is_null() {
            // A negative step, cast, is 2^63 or more: the fast path declines
            // it (folded into its compare with 2^28) and `step` below says why.
            // SAFETY: caller contract (name non-NULL, NUL-terminated).
            let fast = unsafe {
                logger.log_scalar_fast(name, Scalar::F64(value), Some(step as u64), ticket)
            };
            if let Some(s) = fast {
                return s;
            }
        }
        let step = tri!(self::step(step));
        // SAFETY: caller contract.
        unsafe { logger.log_scalar_c(name, Scalar::F64(value), Some(step), ticket) }
    });
    logged
}

/// Logs an integer metric at an explicit training step.
///
/// As `runlog_log_f64_at`, with an `int64_t` value.
///
/// # Safety
/// As for `runlog_log_i64`.
#[no_mangle]
pub unsafe extern "C" fn runlog_log_i64_at(
    logger: *mut runlog_logger,
    name: *const c_char,
    value: i64,
    step: i64,
    ticket: *mut runlog_ticket,
) -> runlog_status {
    #[cfg(not(feature = "std"))]
    // SAFETY: forwarded caller contract.
    let logged = unsafe {
        log_c(
            logger,
            name,
            Raw::Scalar(Value::I64(value)),
            Some(&step),
            ticket,
        )
    };
    #[cfg(feature = "std")]
    let logged = guard(|| {
        // SAFETY: caller contract.
        let logger = tri!(unsafe { logger_ref(logger) });
        if !name.is_null() {
            // A negative step, cast, is 2^63 or more: the fast path declines
            // it (folded into its compare with 2^28) and `step` below says why.
            // SAFETY: caller contract (name non-NULL, NUL-terminated).
            let fast = unsafe {
                logger.log_scalar_fast(name, Scalar::I64(value), Some(step as u64), ticket)
            };
            if let Some(s) = fast {
                return s;
            }
        }
        let step = tri!(self::step(step));
        // SAFETY: caller contract.
        unsafe { logger.log_scalar_c(name, Scalar::I64(value), Some(step), ticket) }
    });
    logged
}

/// Logs a string metric (a tag on the MLflow wire).
///
/// `value`: NUL-terminated UTF-8 (may be empty), copied. It must fit in one
/// record of the ring (half the ring's capacity, less on small device
/// buffers), else VALUE_TOO_LONG. Other arguments, ownership, thread safety
/// and statuses as for `runlog_log_i64`, plus INVALID_UTF8 for the value.
///
/// # Safety
/// As for `runlog_log_i64`; `value` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn runlog_log_str(
    logger: *mut runlog_logger,
    name: *const c_char,
    value: *const c_char,
    ticket: *mut runlog_ticket,
) -> runlog_status {
    #[cfg(not(feature = "std"))]
    // SAFETY: forwarded caller contract.
    let logged = unsafe { log_c(logger, name, Raw::Str(value), None, ticket) };
    #[cfg(feature = "std")]
    let logged = guard(|| {
        // SAFETY: caller contract.
        let logger = tri!(unsafe { logger_ref(logger) });
        // SAFETY: caller contract.
        let name = tri!(unsafe { text::name(name) });
        // SAFETY: caller contract; the scan stops at the terminator or the bound.
        let value = match unsafe { text::c_text(value, logger.max_record) } {
            Ok(v) => v,
            Err(e) => return str_error(e),
        };
        logger.log_sized(
            name,
            Value::Str(value),
            ticket,
            RUNLOG_STATUS_VALUE_TOO_LONG,
        )
    });
    logged
}

/// Checks a C array argument.
///
/// # Safety
/// `values` must be NULL or valid for reads of `len` elements.
unsafe fn c_slice<'a, T>(values: *const T, len: usize) -> Result<&'a [T], runlog_status> {
    if len == 0 {
        return Ok(&[]);
    }
    if values.is_null() {
        return Err(fail(
            RUNLOG_STATUS_NULL_ARGUMENT,
            c"values is NULL but len is not 0",
        ));
    }
    if len > isize::MAX as usize / core::mem::size_of::<T>() {
        return Err(fail(RUNLOG_STATUS_LIST_TOO_LONG, c"list length overflows"));
    }
    // SAFETY: non-NULL, and the caller guarantees `len` readable elements.
    Ok(unsafe { core::slice::from_raw_parts(values, len) })
}

/// The element type of a list from C.
#[derive(Clone, Copy)]
enum ListKind {
    F64,
    I64,
}

/// The body of both list calls, not generic over the element type: one copy
/// in a firmware instead of two (-80 B).
///
/// # Safety
/// As for `runlog_log_f64_list`; `values` points to `len` elements of `kind`
/// (`f64` or `i64`: both 8 bytes, 8-aligned, any bit pattern valid).
#[inline(never)]
unsafe fn log_list(
    logger: *mut runlog_logger,
    name: *const c_char,
    values: *const u64,
    len: usize,
    kind: ListKind,
    ticket: *mut runlog_ticket,
) -> runlog_status {
    #[cfg(not(feature = "std"))]
    // SAFETY: forwarded caller contract.
    let logged = unsafe { log_c(logger, name, Raw::List(values, len, kind), None, ticket) };
    #[cfg(feature = "std")]
    let logged = guard(|| {
        // SAFETY: caller contract.
        let logger = tri!(unsafe { logger_ref(logger) });
        // SAFETY: caller contract.
        let name = tri!(unsafe { text::name(name) });
        // SAFETY: caller contract.
        let value = tri!(unsafe { list_value(values, len, kind) });
        logger.log_sized(name, value, ticket, RUNLOG_STATUS_LIST_TOO_LONG)
    });
    logged
}

/// A list from C as a metric value: checks the array argument.
///
/// # Safety
/// `values` NULL or valid for reads of `len` elements of `kind` (`f64` or
/// `i64`: both 8 bytes, 8-aligned, any bit pattern valid).
#[inline]
unsafe fn list_value<'a>(
    values: *const u64,
    len: usize,
    kind: ListKind,
) -> Result<Value<'a>, runlog_status> {
    // SAFETY: caller contract (`len` readable 8-byte elements).
    let values = unsafe { c_slice(values, len) }?;
    // SAFETY: `u64`, `f64` and `i64` have the same size and alignment, and
    // every bit pattern is a valid value of each.
    Ok(unsafe {
        match kind {
            ListKind::F64 => Value::F64List(F64List::new(core::slice::from_raw_parts(
                values.as_ptr().cast(),
                values.len(),
            ))),
            ListKind::I64 => Value::I64List(I64List::new(core::slice::from_raw_parts(
                values.as_ptr().cast(),
                values.len(),
            ))),
        }
    })
}

/// A string value from C that was refused.
fn str_error(e: text::TextError) -> runlog_status {
    match e {
        text::TextError::Null => fail(RUNLOG_STATUS_NULL_ARGUMENT, c"string value is NULL"),
        text::TextError::TooLong => too_long_error(RUNLOG_STATUS_VALUE_TOO_LONG),
        text::TextError::Utf8 => fail(
            RUNLOG_STATUS_INVALID_UTF8,
            c"string value is not valid UTF-8",
        ),
    }
}

/// A string (VALUE_TOO_LONG) or list (LIST_TOO_LONG) too long for one record.
fn too_long_error(too_long: runlog_status) -> runlog_status {
    fail(
        too_long,
        if too_long == RUNLOG_STATUS_LIST_TOO_LONG {
            c"list does not fit in one record of this logger's ring"
        } else {
            c"string does not fit in one record of this logger's ring"
        },
    )
}

/// Every device log call, whole: checks the handle, an `_at` call's
/// step, the name, the value (a string's text, a list's pointer and
/// length) and the size of a string's or list's record, then takes the
/// lock and pushes; in the order of the host's calls, so that the same
/// bad input gets the same status. One outlined body for all of them:
/// each entry point is a tail call.
///
/// # Safety
/// `logger` NULL or a valid handle; `name` NULL or NUL-terminated;
/// `raw`'s pointers as its call's C contract says; `ticket` NULL or
/// valid for writes.
#[cfg(not(feature = "std"))]
#[inline(never)]
unsafe fn log_c(
    logger: *const runlog_logger,
    name: *const c_char,
    raw: Raw,
    // By reference: one register (NULL for the calls without a step)
    // instead of 16 bytes on the stack that every entry point stored.
    step: Option<&i64>,
    ticket: *mut runlog_ticket,
) -> runlog_status {
    // SAFETY: caller contract.
    let logger = tri!(unsafe { logger_ref(logger) });
    let step = match step {
        Some(&s) => Some(tri!(self::step(s))),
        None => None,
    };
    // SAFETY: caller contract.
    let name = tri!(unsafe { text::name(name) });
    let (value, too_long) = match raw {
        Raw::Scalar(v) => (v, RUNLOG_STATUS_OK),
        // SAFETY: caller contract; the scan stops at the terminator or the bound.
        Raw::Str(p) => match unsafe { text::c_text(p, logger.max_record) } {
            Ok(v) => (Value::Str(v), RUNLOG_STATUS_VALUE_TOO_LONG),
            Err(e) => return str_error(e),
        },
        Raw::List(p, len, kind) => (
            // SAFETY: caller contract.
            tri!(unsafe { list_value(p, len, kind) }),
            RUNLOG_STATUS_LIST_TOO_LONG,
        ),
    };
    let metric = Metric {
        name: Name::Text(name),
        value,
        step,
        time_ms: None,
    };
    // Device records carry no time: the size is exact.
    if too_long != RUNLOG_STATUS_OK && wire::metric_len(&metric) > logger.max_record {
        return too_long_error(too_long);
    }
    let mut guard = tri!(logger.acquire());
    let Some(open) = guard.as_mut() else {
        return fail(RUNLOG_STATUS_CLOSED, c"logger is closed");
    };
    // A device's fail-fast push (`push_locked` with no full-ring timeout).
    match push_device(&mut open.producer, DeviceRecord::Metric(&metric), true) {
        Ok(()) => {
            let seq = open.producer.next_seq() - 1;
            drop(guard);
            put_ticket(ticket, seq);
            RUNLOG_STATUS_OK
        }
        Err(s) => s,
    }
}

/// The records every device firmware sends (its run's start, metrics, its
/// run's end), encoded by one closure: one body and one vtable instead of
/// three. Artifacts keep their own encoder (`upload_inline`), so a firmware
/// that never uploads links none of it.
#[cfg(not(feature = "std"))]
#[derive(Clone, Copy)]
pub(crate) enum DeviceRecord<'a> {
    Metric(&'a Metric<'a>),
    RunStart(&'a runlog_core::record::RunStart<'a>),
    /// `RunEnd`, status finished (devices have no clock: no time).
    RunEnd,
}

/// Pushes a [`DeviceRecord`] (see [`push_fast`]).
#[cfg(not(feature = "std"))]
pub(crate) fn push_device(
    producer: &mut Producer<'static>,
    record: DeviceRecord<'_>,
    count_drop: bool,
) -> Result<(), runlog_status> {
    push_fast(
        producer,
        // `move`: the closure holds the record itself, not a reference to it.
        &move |w: &mut Writer<'_>| match record {
            DeviceRecord::Metric(m) => w.put_metric(m),
            DeviceRecord::RunStart(s) => w.put_run_start(s),
            DeviceRecord::RunEnd => w.put_run_end(RunStatus::Finished, None),
        },
        count_drop,
    )
}

/// Every push of a device: [`runlog_logger::push_locked`]'s policy without
/// the full-ring wait that devices do not have (fail fast); a refusal for a
/// full ring counts a drop when `count_drop`.
#[cfg(not(feature = "std"))]
#[inline(always)]
fn push_fast(
    producer: &mut Producer<'static>,
    write: &dyn Fn(&mut Writer<'_>),
    count_drop: bool,
) -> Result<(), runlog_status> {
    // Every writer here is `Writer::put_*`: no check of what it wrote. No
    // ticket passed back (the caller's is `next_seq() - 1`).
    match producer.push_written(write, count_drop) {
        Ok(()) => Ok(()),
        Err(e) => Err(push_error(e)),
    }
}

/// A device log call's value, not checked yet (see [`log_c`]).
#[cfg(not(feature = "std"))]
#[derive(Clone, Copy)]
enum Raw {
    /// A scalar's value (`Value::I64` or `Value::F64`), built by its
    /// entry point: one discriminant to store, none to match here.
    Scalar(Value<'static>),
    /// A string value: NULL or NUL-terminated.
    Str(*const c_char),
    /// A list: its elements' pointer, their number and type.
    List(*const u64, usize, ListKind),
}

/// Logs a list of floats as one metric (one chart, steps 0..len-1).
///
/// `values`: `len` doubles, copied; may be NULL only when `len` is 0. The
/// list must fit in one record of the ring (about capacity/16 values on
/// hosts), else LIST_TOO_LONG. Other arguments, ownership, thread safety and
/// statuses as for `runlog_log_i64`.
///
/// # Safety
/// As for `runlog_log_i64`; `values` NULL or valid for reads of `len` doubles.
#[no_mangle]
pub unsafe extern "C" fn runlog_log_f64_list(
    logger: *mut runlog_logger,
    name: *const c_char,
    values: *const f64,
    len: usize,
    ticket: *mut runlog_ticket,
) -> runlog_status {
    // SAFETY: forwarded caller contract.
    unsafe { log_list(logger, name, values.cast(), len, ListKind::F64, ticket) }
}

/// Logs a list of integers as one metric (one chart, steps 0..len-1).
///
/// As `runlog_log_f64_list`, with `int64_t` values.
///
/// # Safety
/// As for `runlog_log_f64_list`, with `int64_t` elements.
#[no_mangle]
pub unsafe extern "C" fn runlog_log_i64_list(
    logger: *mut runlog_logger,
    name: *const c_char,
    values: *const i64,
    len: usize,
    ticket: *mut runlog_ticket,
) -> runlog_status {
    // SAFETY: forwarded caller contract.
    unsafe { log_list(logger, name, values.cast(), len, ListKind::I64, ticket) }
}

/// Uploads `len` bytes as the run's artifact `artifact_path`.
///
/// `data` is any bytes (`const void *`, as for `fwrite`), so a string literal
/// or a struct needs no cast.
///
/// `artifact_path`: NUL-terminated UTF-8, relative, at most
/// `RUNLOG_MAX_PATH_LEN` bytes, no `..`/`.`/empty segment, no backslash or
/// control character, else UNSAFE_PATH. `data`: `len` bytes, copied before
/// the call returns (may be NULL only when `len` is 0). Any size: on hosts,
/// content larger than 1/8 of the ring is staged as a file in the spool
/// directory (fsync'd) instead of going through the ring. `ticket`: may be
/// NULL; receives the ticket of the artifact's last record. Thread-safe.
/// Not a hot-path call: it may allocate and, on hosts, do file I/O.
///
/// Returns OK, or NULL_ARGUMENT, INVALID_UTF8, UNSAFE_PATH, FULL, CLOSED,
/// IO (staging failed), BUSY (called from an ISR or signal handler that
/// interrupted a runlog call on the same thread). On failure nothing reaches
/// the store (a partly sent artifact has no end record and is discarded).
///
/// # Safety
/// `logger` NULL or a valid handle; `artifact_path` NULL or NUL-terminated;
/// `data` NULL or valid for reads of `len` bytes; `ticket` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn runlog_upload(
    logger: *mut runlog_logger,
    artifact_path: *const c_char,
    data: *const c_void,
    len: usize,
    ticket: *mut runlog_ticket,
) -> runlog_status {
    guard(|| {
        // SAFETY: caller contract.
        let logger = tri!(unsafe { logger_ref(logger) });
        // SAFETY: caller contract.
        let path = tri!(unsafe { text::artifact_path(artifact_path) });
        // SAFETY: caller contract (`len` readable bytes at `data`).
        let data = tri!(unsafe { c_slice(data.cast::<u8>(), len) });
        let seq = tri!(logger.upload(path, data));
        put_ticket(ticket, seq);
        RUNLOG_STATUS_OK
    })
}

impl runlog_logger {
    fn upload(&self, path: &str, data: &[u8]) -> Result<u64, runlog_status> {
        match &self.kind {
            #[cfg(feature = "std")]
            Kind::Spool(c) if data.len() > c.inline_limit => {
                crate::host::artifact::upload_staged(self, c, path, |f, crc| {
                    use std::io::Write;
                    crc.update(data);
                    f.write_all(data).map(|()| data.len() as u64)
                })
            }
            _ => self.upload_inline(path, data),
        }
    }
}

/// Waits until the record with `ticket` is committed at its destination
/// (hosts: the uploader acknowledged it) or handed to the transport (device:
/// `runlog_drain` wrote it).
///
/// Hosts poll for up to `timeout_ms` milliseconds (0: check once). Devices
/// check once (they have no clock; call `runlog_drain`). Thread-safe.
///
/// Returns OK; TIMEOUT if not yet committed, with `runlog_last_error` saying
/// why (e.g. that no uploader is draining the spool file); INVALID_ARGUMENT
/// for a ticket this logger never issued; NULL_ARGUMENT; CLOSED.
///
/// # Safety
/// `logger` must be NULL or a valid handle.
#[no_mangle]
pub unsafe extern "C" fn runlog_wait(
    logger: *mut runlog_logger,
    ticket: runlog_ticket,
    timeout_ms: u32,
) -> runlog_status {
    guard(|| {
        // SAFETY: caller contract.
        let logger = tri!(unsafe { logger_ref(logger) });
        logger.wait_until(Some(ticket), timeout_ms)
    })
}

/// Waits until everything logged so far through `logger` is committed (see
/// `runlog_wait`). Same timeouts, thread safety and statuses.
///
/// # Safety
/// `logger` must be NULL or a valid handle.
#[no_mangle]
pub unsafe extern "C" fn runlog_flush(
    logger: *mut runlog_logger,
    timeout_ms: u32,
) -> runlog_status {
    guard(|| {
        // SAFETY: caller contract.
        let logger = tri!(unsafe { logger_ref(logger) });
        logger.wait_until(None, timeout_ms)
    })
}

impl runlog_logger {
    /// Waits for `ticket` (or for everything pushed so far when `None`).
    /// Device builds have no clock: they check once.
    #[inline]
    pub(crate) fn wait_until(&self, ticket: Option<u64>, timeout_ms: u32) -> runlog_status {
        self.wait_spent(ticket, timeout_ms, 0)
    }

    /// As [`Self::wait_until`] when `spent_ms` of the caller's `timeout_ms`
    /// are already spent (`runlog_close` waiting for the first heartbeat):
    /// waits for the rest, and a timeout names the caller's whole timeout.
    #[cfg_attr(not(feature = "std"), allow(clippy::never_loop))]
    pub(crate) fn wait_spent(
        &self,
        ticket: Option<u64>,
        timeout_ms: u32,
        spent_ms: u32,
    ) -> runlog_status {
        #[cfg(feature = "std")]
        let deadline = std::time::Instant::now()
            + std::time::Duration::from_millis(timeout_ms.saturating_sub(spent_ms).into());
        #[cfg(feature = "std")]
        let mut pause = std::time::Duration::from_micros(50);
        #[cfg(not(feature = "std"))]
        let _ = (timeout_ms, spent_ms);
        let target = {
            let guard = tri!(self.acquire());
            let Some(open) = guard.as_ref() else {
                return fail(RUNLOG_STATUS_CLOSED, c"logger is closed");
            };
            let next = open.producer.next_seq();
            match ticket {
                Some(t) if t >= next => {
                    return fail(
                        RUNLOG_STATUS_INVALID_ARGUMENT,
                        c"this logger never issued that ticket",
                    )
                }
                Some(t) => t,
                None if next == 0 => return RUNLOG_STATUS_OK,
                None => next - 1,
            }
        };
        loop {
            {
                let guard = tri!(self.acquire());
                let Some(open) = guard.as_ref() else {
                    return fail(RUNLOG_STATUS_CLOSED, c"logger is closed");
                };
                if open.producer.is_acked(target) {
                    return RUNLOG_STATUS_OK;
                }
                #[cfg(feature = "std")]
                if std::time::Instant::now() >= deadline {
                    return crate::error::fail_fmt(
                        RUNLOG_STATUS_TIMEOUT,
                        format_args!(
                            "ticket {target} not committed after {timeout_ms} ms (committed: {} of {}): {}",
                            open.producer.acked(),
                            open.producer.next_seq(),
                            self.drain_state(&open.producer)
                        ),
                    );
                }
                #[cfg(not(feature = "std"))]
                return fail(
                    RUNLOG_STATUS_TIMEOUT,
                    c"not yet handed to the transport: call runlog_drain",
                );
            }
            #[cfg(feature = "std")]
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(5));
            }
        }
    }
}

/// Closes a logger: marks the run's end in the stream (`RunEnd`, status
/// finished), waits up to `timeout_ms` for everything to be committed, and
/// frees the ring (hosts: unmaps the spool file; the file itself stays for
/// the uploader, which deletes it once drained).
///
/// The handle stays valid as a tombstone: any later call through it returns
/// CLOSED (a few dozen bytes are kept per closed logger for that). Closing the
/// process-wide logger from `runlog_get_logger` is allowed; the exit hook then
/// does nothing. On hosts the wait is skipped when no uploader is draining
/// (no live heartbeat, and no uploader holding the spool directory's lock,
/// which would attach the ring shortly: then its first heartbeat is waited
/// for within the timeout): the records stay in the spool file for a later
/// `runlog drain`, and the result is TIMEOUT. Device builds: the ring stays in
/// the caller's buffer and `runlog_drain` still sends what is left; nothing is
/// freed.
///
/// Returns OK; TIMEOUT (closed anyway, not everything committed yet);
/// CLOSED (already closed); NULL_ARGUMENT; BUSY (called from an ISR or signal
/// handler that interrupted a runlog call on the same thread). Thread-safe:
/// calls racing with close either complete before it or return CLOSED.
///
/// # Safety
/// `logger` must be NULL or a valid handle.
#[no_mangle]
pub unsafe extern "C" fn runlog_close(
    logger: *mut runlog_logger,
    timeout_ms: u32,
) -> runlog_status {
    guard(|| {
        // SAFETY: caller contract.
        let logger = tri!(unsafe { logger_ref(logger) });
        logger.close(timeout_ms)
    })
}

impl runlog_logger {
    /// Closes a device logger under one lock: pushes `RunEnd`, marks the
    /// stream closed and frees the handle's state (one lock instead of
    /// `end_run`'s and a second one; nothing waits on a device).
    #[cfg(not(feature = "std"))]
    pub(crate) fn close(&self, timeout_ms: u32) -> runlog_status {
        let _ = timeout_ms;
        let mut guard = tri!(self.acquire());
        let Some(open) = guard.as_mut() else {
            return fail(RUNLOG_STATUS_CLOSED, c"logger is already closed");
        };
        // Not a log call: a full ring that refuses it counts no drop (the
        // receiver ends the run from the closed flag instead).
        let pushed = push_device(&mut open.producer, DeviceRecord::RunEnd, false);
        open.producer.close();
        // The handle stays as a tombstone: later calls find no state.
        *guard = None;
        match pushed {
            Ok(_) => RUNLOG_STATUS_OK,
            Err(s) => s,
        }
    }

    #[cfg(feature = "std")]
    pub(crate) fn close(&self, timeout_ms: u32) -> runlog_status {
        let pushed = self.end_run();
        if let Err(RUNLOG_STATUS_CLOSED) = pushed {
            return RUNLOG_STATUS_CLOSED;
        }
        let waited = match &self.kind {
            Kind::Spool(c) => crate::host::close::wait_for_upload(self, c, timeout_ms),
            Kind::Static(_) => RUNLOG_STATUS_OK,
        };
        // Free the ring; the handle stays as a tombstone.
        // Dropped at the end of the statement: unmaps the spool file.
        let _ = tri!(self.acquire()).take();
        if let Kind::Spool(_) = &self.kind {
            crate::host::registry::keep_tombstone(self);
        }
        match pushed {
            Err(s) => s,
            Ok(_) => waited,
        }
    }
}
