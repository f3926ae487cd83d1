//! The device logger: a ring in a caller-provided buffer, drained as COBS+CRC
//! frames through a caller-provided write function.
//!
//! `runlog_init_static` carves everything out of the caller's buffer: the
//! logger handle, a frame scratch area, and the ring. The library itself
//! keeps no state in static RAM except the last error (two words).

use core::ffi::{c_char, c_void};
use core::mem::{align_of, size_of};

use runlog_core::frame::{self, DrainError};
use runlog_core::record::RunStart;
use runlog_core::ring::{self, Consumer, Ring};
#[cfg(feature = "std")]
use runlog_core::wire;

use crate::error::fail;
use crate::guard::guard;
use crate::lock::SpinLock;
use crate::logger::{logger_ref, runlog_logger, tri, Kind, Open};
#[cfg(not(feature = "std"))]
use crate::logger::{push_device, DeviceRecord};
use crate::status::*;
use crate::text;

/// Smallest ring data area a static logger accepts: a record of the longest
/// name, or a `RunStart`, must fit.
const MIN_CAPACITY: u32 = 1024;
/// Frame overhead beyond one record: frame header, CRC, and a name definition.
const FRAME_SLACK: usize = 48;
/// Longest experiment name (what a spool header holds).
const MAX_EXPERIMENT_LEN: usize = 256;

/// A transport write function: writes up to `len` bytes from `data` and
/// returns how many it wrote (1..=len), or 0 or a negative value on error.
/// `ctx` is the pointer given to `runlog_drain`.
#[allow(non_camel_case_types)]
pub type runlog_write_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, data: *const u8, len: usize) -> isize>;

/// The drain side of a static logger.
pub(crate) struct StaticParts {
    drain: SpinLock<DrainSide>,
}

struct DrainSide {
    /// Trusts the records it reads (`skim::shape`, not the full check): see
    /// `runlog_drain`.
    consumer: Consumer<'static, true>,
    scratch: *mut u8,
    scratch_len: usize,
}

// SAFETY: `scratch` points into the caller's buffer, used only under the lock.
unsafe impl Send for DrainSide {}

/// Largest frame payload for a ring of `cap` bytes.
fn payload_for(cap: u32) -> usize {
    ((cap as usize / 2) + 64).clamp(512, frame::MAX_FRAME_PAYLOAD)
}

/// Bytes of the caller's buffer taken by the frame scratch of a ring of
/// `cap` bytes: room for its largest payload and the drain's spare bytes
/// (`frame::scratch_len`), rounded up to a multiple of 4 so that the ring
/// after it stays aligned.
fn scratch_for(cap: u32) -> usize {
    (frame::scratch_len(payload_for(cap)) + 3) & !3
}

/// The smallest `len` that `runlog_init_static` accepts on this target (a
/// ring of 1 KiB). Thread-safe, never fails.
#[no_mangle]
pub extern "C" fn runlog_static_min_len() -> usize {
    size_of::<runlog_logger>()
        + align_of::<runlog_logger>()
        + scratch_for(MIN_CAPACITY)
        + ring::storage_len(MIN_CAPACITY)
}

/// Initialises a logger inside `buffer` (device build; also available on hosts).
///
/// Everything lives in the caller's `len` bytes: the logger handle, a frame
/// scratch area, and a ring using the rest (the largest power of two that
/// fits; at least 1 KiB, so `len` must be at least `runlog_static_min_len()`).
/// `run_id`: NULL (the receiving side assigns one) or 1..=64 bytes of
/// `[A-Za-z0-9_.-]`. `experiment`: NULL for `"default"`, or UTF-8 up to 256
/// bytes. Both are copied into the ring as the `RunStart` record (ticket 0).
/// On success `*out` receives the handle, which points into `buffer`.
///
/// Ownership: `buffer` stays the caller's, but must stay valid and untouched
/// for as long as the logger is used (a `static` array is the usual choice);
/// nothing is freed, not even by `runlog_close`. Records leave the buffer
/// only through `runlog_drain`. Thread safety: log calls and `runlog_drain`
/// may run concurrently (e.g. logging in an interrupt, draining in the main
/// loop); a call that interrupts another call on the same side returns BUSY.
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (buffer too small, bad run id),
/// INVALID_UTF8, VALUE_TOO_LONG (experiment).
///
/// # Safety
/// `buffer` must be NULL or valid for reads and writes of `len` bytes for as
/// long as the logger is used, and not used for anything else meanwhile.
/// `run_id` and `experiment` must be NULL or NUL-terminated; `out` NULL or
/// valid for writes.
#[no_mangle]
pub unsafe extern "C" fn runlog_init_static(
    buffer: *mut u8,
    len: usize,
    run_id: *const c_char,
    experiment: *const c_char,
    out: *mut *mut runlog_logger,
) -> runlog_status {
    guard(|| {
        if buffer.is_null() || out.is_null() {
            return fail(RUNLOG_STATUS_NULL_ARGUMENT, c"buffer or out is NULL");
        }
        // SAFETY: caller contract.
        let run_id = match unsafe { text::c_text(run_id, text::RUNLOG_MAX_RUN_ID_LEN) } {
            Ok(id) if text::valid_run_id(id) => id,
            Err(text::TextError::Null) => "",
            _ => {
                return fail(
                    RUNLOG_STATUS_INVALID_ARGUMENT,
                    c"run id must be 1..=64 bytes of [A-Za-z0-9_.-]",
                )
            }
        };
        // SAFETY: caller contract.
        let experiment = match unsafe { text::c_text(experiment, MAX_EXPERIMENT_LEN) } {
            Ok(e) => e,
            Err(text::TextError::Null) => "default",
            Err(text::TextError::TooLong) => {
                return fail(
                    RUNLOG_STATUS_VALUE_TOO_LONG,
                    c"experiment is longer than 256 bytes",
                )
            }
            Err(text::TextError::Utf8) => {
                return fail(RUNLOG_STATUS_INVALID_UTF8, c"experiment is not valid UTF-8")
            }
        };
        let skip = buffer.align_offset(align_of::<runlog_logger>());
        let Some(rest) = len.checked_sub(skip + size_of::<runlog_logger>()) else {
            return fail(RUNLOG_STATUS_INVALID_ARGUMENT, c"buffer too small");
        };
        // The largest ring that fits beside its scratch area.
        let mut cap = 1u32 << 30;
        while cap >= MIN_CAPACITY && ring::storage_len(cap) + scratch_for(cap) > rest {
            cap >>= 1;
        }
        if cap < MIN_CAPACITY {
            return fail(
                RUNLOG_STATUS_INVALID_ARGUMENT,
                c"buffer too small (see runlog_static_min_len())",
            );
        }
        let max_record = (ring::max_payload(cap) as usize).min(payload_for(cap) - FRAME_SLACK);
        // SAFETY: all offsets stay within `len` (checked above); the handle's
        // slot is aligned by `skip`; `scratch_for` is a multiple of 4 and the
        // handle's size a multiple of its alignment (>= 4), so the ring starts
        // 4-aligned.
        let (slot, scratch, ring_ptr) = unsafe {
            let slot = buffer.add(skip).cast::<runlog_logger>();
            let scratch = slot.add(1).cast::<u8>();
            (slot, scratch, scratch.add(scratch_for(cap)))
        };
        let ring_len = ring::storage_len(cap);
        // SAFETY: `ring_ptr..+ring_len` lies in the caller's buffer (4-aligned,
        // see above), which the caller lends us for the logger's lifetime.
        // Both ends live here: the producer writes only `wire`'s encoders'
        // records, so the consumer may trust them (see `runlog_drain`).
        let (producer, consumer) = match unsafe { Ring::format_raw(ring_ptr, ring_len) } {
            Ok(ring) => ring.split(),
            Err(_) => return fail(RUNLOG_STATUS_INTERNAL, c"could not format the ring"),
        };
        let logger = runlog_logger {
            state: SpinLock::new(Some(Open {
                producer,
                next_artifact: 0,
                #[cfg(feature = "std")]
                ending: false,
                params: crate::params::Accepted::new(),
                #[cfg(feature = "std")]
                _spool: None,
                #[cfg(feature = "std")]
                time: crate::hot::TimeCache::new(),
            })),
            kind: Kind::Static(StaticParts {
                drain: SpinLock::new(DrainSide {
                    consumer,
                    scratch,
                    // Exactly the scratch of `payload_for(cap)`: the drain's
                    // frames are as long as they were when the scratch held
                    // payloads only (and `max_record` depends on them).
                    scratch_len: frame::scratch_len(payload_for(cap)),
                }),
            }),
            max_record,
        };
        // SAFETY: `slot` is aligned and inside the caller's buffer. Written
        // before the run start is pushed: the producer is then built in place
        // instead of being moved there (a `memcpy` call, 308 B of flash).
        unsafe { slot.write(logger) };
        // SAFETY: written just above and not handed out yet: the only reference.
        let logger = unsafe { &mut *slot };
        let start = RunStart {
            run_id,
            experiment,
            time_ms: None,
        };
        let pushed = logger.state.get_mut().as_mut().map(|open| {
            // Devices: through the encoder of every record they send.
            #[cfg(not(feature = "std"))]
            let pushed = push_device(&mut open.producer, DeviceRecord::RunStart(&start), true);
            #[cfg(feature = "std")]
            let pushed = open
                .producer
                .push_encoder(&|buf: &mut [u8]| wire::encode_run_start(&start, buf), true);
            pushed
        });
        if !matches!(pushed, Some(Ok(_))) {
            return fail(
                RUNLOG_STATUS_VALUE_TOO_LONG,
                c"run start does not fit the ring",
            );
        }
        // SAFETY: `out` is valid for writes per the contract.
        unsafe { out.write(slot) };
        RUNLOG_STATUS_OK
    })
}

struct CWriter {
    f: unsafe extern "C" fn(*mut c_void, *const u8, usize) -> isize,
    ctx: *mut c_void,
}

/// The write function reported an error (a count of 0 or less, or more
/// than it was given). One value only: a drain's every write then checks a
/// flag, not which of `embedded_io::ErrorKind`'s 18 kinds came back.
#[derive(Debug)]
struct WriteFailed;

impl core::fmt::Display for WriteFailed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the write function reported an error")
    }
}

impl core::error::Error for WriteFailed {}

impl embedded_io::Error for WriteFailed {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}

impl embedded_io::ErrorType for CWriter {
    type Error = WriteFailed;
}

impl embedded_io::Write for CWriter {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        // SAFETY: the caller of `runlog_drain` vouches for `f` and `ctx`;
        // `buf` is valid for `buf.len()` bytes during the call.
        let n = unsafe { (self.f)(self.ctx, buf.as_ptr(), buf.len()) };
        if n <= 0 || n as usize > buf.len() {
            return Err(WriteFailed);
        }
        Ok(n as usize)
    }

    /// `write` until all of `buf` is written: the default's loop without its
    /// slice index (a panic path) or its `Ok(0)` panic, which `write` rules
    /// out (it reports 0 as an error, and never a count over `buf.len()`).
    fn write_all(&mut self, mut buf: &[u8]) -> Result<(), Self::Error> {
        while !buf.is_empty() {
            let n = self.write(buf)?;
            buf = buf.get(n..).unwrap_or_default();
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Moves records from a static logger's ring to a transport, as COBS+CRC
/// frames (decoded by `runlog drain --serial/--tcp-*/--input` or
/// `runlog_core::FrameDecoder`), writing at most `max_bytes` bytes.
///
/// `write` is called with chunks of frames; when it fails mid-frame the
/// frame's records stay in the ring and are sent again by the next call (the
/// decoder drops the broken frame). Records whose frame was fully written
/// count as handed to the transport: `runlog_wait` returns OK for them.
/// `written`: may be NULL; receives the bytes written. Works after
/// `runlog_close` too, so the run's end can still be sent.
///
/// Thread safety: may run concurrently with log calls; a drain that
/// interrupts another drain returns BUSY.
///
/// Every cursor and record header read from the buffer is checked, so a
/// corrupted ring is reported (INTERNAL) and nothing outside the ring is
/// ever read; record contents are framed as runlog's own encoders wrote
/// them, without being decoded again (a stray write into them reaches the
/// receiver, whose decoder refuses the record).
///
/// Returns OK (possibly having written nothing), NULL_ARGUMENT,
/// INVALID_ARGUMENT (not a static logger), TRANSPORT (write failed), BUSY,
/// INTERNAL (the ring's cursors or record headers in the buffer were corrupted).
///
/// # Safety
/// `logger` NULL or a valid handle; `write` NULL or a function safe to call
/// with `ctx`; `written` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn runlog_drain(
    logger: *mut runlog_logger,
    write: runlog_write_fn,
    ctx: *mut c_void,
    max_bytes: usize,
    written: *mut usize,
) -> runlog_status {
    guard(|| {
        // SAFETY: caller contract.
        let logger = tri!(unsafe { logger_ref(logger) });
        let Some(f) = write else {
            return fail(RUNLOG_STATUS_NULL_ARGUMENT, c"write function is NULL");
        };
        #[allow(irrefutable_let_patterns)] // device builds have only static loggers
        let Kind::Static(parts) = &logger.kind
        else {
            return fail(
                RUNLOG_STATUS_INVALID_ARGUMENT,
                c"only static loggers are drained this way; spool files are drained by `runlog drain`",
            );
        };
        let Some(mut side) = parts.drain.try_lock() else {
            return fail(
                RUNLOG_STATUS_BUSY,
                c"another drain of this logger is running",
            );
        };
        let side = &mut *side;
        // SAFETY: the scratch area lies in the caller's buffer, reserved for
        // this drain side, and only used under its lock. As `MaybeUninit`:
        // the caller's bytes need not be initialised, and the frame builder
        // only reads what it wrote (no zeroing of its name table either).
        let scratch = unsafe {
            core::slice::from_raw_parts_mut(
                side.scratch.cast::<core::mem::MaybeUninit<u8>>(),
                side.scratch_len,
            )
        };
        let mut w = CWriter { f, ctx };
        let result = frame::drain_uninit(&mut side.consumer, scratch, &mut w, max_bytes);
        let (status, bytes) = match result {
            Ok(stats) => (RUNLOG_STATUS_OK, stats.bytes),
            Err(DrainError::Write(_)) => {
                // The unfinished frame's records were read but not committed:
                // read them again next time.
                side.consumer.rewind();
                (
                    fail(
                        RUNLOG_STATUS_TRANSPORT,
                        c"the write function reported an error",
                    ),
                    0,
                )
            }
            Err(_) => (
                fail(
                    RUNLOG_STATUS_INTERNAL,
                    c"the ring in the buffer is corrupted",
                ),
                0,
            ),
        };
        if !written.is_null() {
            // SAFETY: caller contract.
            unsafe { written.write(bytes) };
        }
        status
    })
}
