//! The scalar log calls' fast path: the C name is scanned, checked and copied
//! in one pass straight into the record's slot in the ring, and the value,
//! step (the `_at` calls) and time are written after it. No intermediate
//! buffer, no separate `strlen`, no second pass over the name for UTF-8 when
//! it is ASCII, and no loop for a step below 2^28.
//!
//! Anything unusual (NULL, empty, too long or non-UTF-8 name; a closed
//! logger; a ring that is full, must wrap, or owes a drop notice) makes the
//! fast path decline without publishing anything, and the checked path in
//! `logger.rs` then does the call the ordinary way, reporting why it fails.
//! The bytes are those of `runlog_core::wire::encode` (a unit test below pins that).

use core::ffi::c_char;

use crate::logger::{put_ticket, runlog_logger, runlog_ticket};
use crate::scalar::Scalar;
use crate::status::*;
use crate::text::RUNLOG_MAX_NAME_LEN;

const TAG_METRIC: u8 = 0;
const KIND_I64: u8 = 0;
const KIND_F64: u8 = 1;
const NAME_IS_TEXT: u8 = 1 << 3;
const HAS_STEP: u8 = 1 << 4;
const HAS_TIME: u8 = 1 << 5;
/// Longest varint of a u64.
const MAX_VARINT: usize = 10;
/// Where the name's bytes start when its length takes one varint byte.
const NAME_AT: usize = 3;

/// Payload bytes a scalar metric can take: tag, head, name length (2 bytes
/// up to 250), name, value, step and time (one varint each at worst).
pub(crate) const MAX_SCALAR_PAYLOAD: usize = 2 + 2 + RUNLOG_MAX_NAME_LEN + MAX_VARINT * 3;
/// Bytes after the name that the encoder writes into: the value and the step
/// (a varint of at most 10 bytes each, 8 for an f64) and the time's 8-byte
/// store. Taken as one fixed-size array, so its stores need no bounds checks
/// of their own (one check for the lot).
const TAIL: usize = MAX_VARINT * 2 + 8;
/// Steps below this take the branch-free encoder ([`step_word`]): 4 varint
/// bytes at most. 2^28 = 268 million steps; larger ones take the loop.
const WORD_STEP_LIMIT: u64 = 1 << 28;

#[inline(always)]
fn put_varint<const N: usize>(buf: &mut [u8; N], mut at: usize, mut v: u64) -> Option<usize> {
    while v >= 0x80 {
        *buf.get_mut(at)? = (v as u8) | 0x80;
        v >>= 7;
        at += 1;
    }
    *buf.get_mut(at)? = v as u8;
    Some(at + 1)
}

/// The varint of a step below [`WORD_STEP_LIMIT`] as one little-endian word
/// (bytes past the length are zero) and its length, 1 to 4, with no loop and
/// no branch: the four 7-bit groups are spread into bytes in two halving
/// steps, the highest non-zero byte (`bsr`) gives the length, and the
/// continuation bits of the bytes below it come from a 4-entry table.
///
/// Why: `runlog_log_f64_at` was ~10-24% slower than `runlog_log_f64`, most
/// of it the byte loop (3 trips for steps past 16,384) and its bounds checks.
/// Each halving step is an add, not a shift-and-or: `x + (x & m) * k` moves
/// the bits in `m` up by `log2(k + 1)` with no carry (the bits below `m`'s
/// destination are clear), one instruction fewer per step.
#[inline(always)]
fn step_word(step: u64) -> (u32, usize) {
    debug_assert!(step < WORD_STEP_LIMIT);
    // By the count of zero bytes above the last: 3 bytes of continuation
    // bits for a 4-byte varint, none for a 1-byte one.
    const CONTINUATION: [u32; 4] = [0x80_8080, 0x8080, 0x80, 0];
    let s = step as u32;
    // Bits 14..28 up by 2 (to 16..30): two 14-bit halves.
    let halves = s + (s & 0x0fff_c000) * 3;
    // In each half, bits 7..14 up by 1: group k ends at bits 8k..8k+7.
    let groups = halves + (halves & 0x3f80_3f80);
    // Whole zero bytes above the last non-zero one, 0..=3. A byte's bits
    // are its low 7, so shifting up by one keeps the count and frees bit 0
    // for the 1 that makes step 0 one byte: `lea` does shift and `| 1`.
    // From `leading_zeros`, not `ilog2`: LLVM turns `ilog2 / 8` into three
    // instructions after `bsr`, this into two.
    let zero_bytes = (((groups << 1) | 1).leading_zeros() / 8) as usize;
    // The length as a subtraction, not a second table: the compiler then
    // knows it is at most 4, and the time's store after it needs no check.
    (groups | CONTINUATION[zero_bytes], 4 - zero_bytes)
}

/// A metric time (or step) as its varint bytes, ready for one 8-byte store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EncodedTime {
    /// The varint's bytes, little end first; bytes past `len` are junk.
    word: u64,
    len: u8,
}

impl EncodedTime {
    /// Encodes a time below 2^56 ms (all of them until the year 2^56 /
    /// 3.15e10 ≈ 2.3 million; `None` above): the 7-bit groups are spread
    /// into bytes and the continuation bits set on all but the last.
    pub(crate) fn new(t: u64) -> Option<Self> {
        if t >= 1 << 56 {
            return None;
        }
        let mut spread = 0u64;
        for group in 0..8 {
            spread |= ((t >> (7 * group)) & 0x7f) << (8 * group);
        }
        let bits = 64 - (t | 1).leading_zeros() as usize;
        let n = bits.div_ceil(7);
        let continuation = 0x8080_8080_8080_8080u64 & ((1u64 << (8 * (n - 1))) - 1);
        Some(Self {
            word: spread | continuation,
            len: n as u8,
        })
    }
}

/// The encoded time of the last coarse-clock reading. The clock moves once
/// per tick (1-4 ms) while a busy logger makes ~100,000 calls per ms, so the
/// milliseconds and their varint are worked out once per tick, not per call.
pub(crate) struct TimeCache {
    raw: (i64, i64),
    time: Option<EncodedTime>,
}

impl TimeCache {
    pub(crate) const fn new() -> Self {
        Self {
            raw: (-1, -1),
            time: None,
        }
    }

    /// The encoded time of a `clock::now_raw` reading; `None` when it has
    /// no 8-byte encoding (the checked path takes those).
    #[inline(always)]
    pub(crate) fn get(&mut self, raw: (i64, i64)) -> Option<EncodedTime> {
        if raw != self.raw {
            self.refresh(raw);
        }
        self.time
    }

    #[cold]
    fn refresh(&mut self, raw: (i64, i64)) {
        self.raw = raw;
        self.time = EncodedTime::new(crate::host::clock::raw_to_ms(raw));
    }
}

/// Encodes the metric named by the C string `name`, with its step and time
/// if any, into `buf`, returning the
/// payload length; `None` (leaving garbage in `buf`) when `buf` is shorter
/// than [`MAX_SCALAR_PAYLOAD`], the name is empty, longer than
/// [`RUNLOG_MAX_NAME_LEN`] or not UTF-8, or the step is 2^63 or more (a
/// negative `int64_t` step: the checked path refuses it).
///
/// # Safety
/// `name` must be non-NULL and point to readable bytes up to and including a
/// NUL terminator, or at least `RUNLOG_MAX_NAME_LEN + 1` readable bytes: the
/// scan never reads past the terminator or past that bound.
#[inline(always)]
pub(crate) unsafe fn encode_c_name(
    buf: &mut [u8],
    name: *const c_char,
    value: Scalar,
    step: Option<u64>,
    time: Option<EncodedTime>,
) -> Option<usize> {
    let buf: &mut [u8; MAX_SCALAR_PAYLOAD] = buf.get_mut(..MAX_SCALAR_PAYLOAD)?.try_into().ok()?;
    let p = name.cast::<u8>();
    let mut len = 0;
    // OR of every byte: below 0x80 means pure ASCII, valid UTF-8 as it is.
    let mut high = 0u8;
    loop {
        // SAFETY: per the contract, every byte up to the terminator (or up to
        // `RUNLOG_MAX_NAME_LEN + 1` bytes) is readable; the loop stops at the
        // first NUL and reads index `RUNLOG_MAX_NAME_LEN` at most.
        let b = unsafe { *p.add(len) };
        if b == 0 {
            break;
        }
        if len == RUNLOG_MAX_NAME_LEN {
            return None;
        }
        // len < 250: inside the 272-byte array.
        buf[NAME_AT + len] = b;
        high |= b;
        len += 1;
    }
    if len == 0 {
        return None;
    }
    if high >= 0x80 && core::str::from_utf8(&buf[NAME_AT..NAME_AT + len]).is_err() {
        return None;
    }
    buf[0] = TAG_METRIC;
    let kind = match value {
        Scalar::I64(_) => KIND_I64,
        Scalar::F64(_) => KIND_F64,
    };
    buf[1] = kind
        | NAME_IS_TEXT
        | if step.is_some() { HAS_STEP } else { 0 }
        | if time.is_some() { HAS_TIME } else { 0 };
    let at = if len < 0x80 {
        buf[2] = len as u8;
        NAME_AT + len
    } else {
        // A two-byte length (128..=250, rare): shift the name up by one.
        buf.copy_within(NAME_AT..NAME_AT + len, NAME_AT + 1);
        buf[2] = (len as u8) | 0x80;
        buf[3] = (len >> 7) as u8;
        NAME_AT + 1 + len
    };
    // at <= 4 + 250, so the tail ends by 282, inside the 284-byte `buf`.
    let tail: &mut [u8; TAIL] = buf.get_mut(at..at + TAIL)?.try_into().ok()?;
    let mut end = match value {
        Scalar::F64(v) => {
            tail[..8].copy_from_slice(&v.to_le_bytes());
            8
        }
        Scalar::I64(v) => put_varint(tail, 0, ((v << 1) ^ (v >> 63)) as u64)?,
    };
    // `None` for the step-less calls: a constant there, so this folds away.
    if let Some(step) = step {
        if step < WORD_STEP_LIMIT {
            // The 4-byte store may run past the varint's end: inside `tail`,
            // in the record's free slot, and overwritten by the time or unused.
            let (word, len) = step_word(step);
            tail.get_mut(end..end + 4)?
                .copy_from_slice(&word.to_le_bytes());
            end += len;
        } else {
            // A C step is an `int64_t` cast to u64: a negative one is 2^63 or
            // more. Declined, for the checked path to report; tested only
            // here, past the compare with 2^28 that every step takes anyway.
            if step > i64::MAX as u64 {
                return None;
            }
            end = put_varint(tail, end, step)?;
        }
    }
    if let Some(t) = time {
        // As the step's store: may run past the varint's end, inside `tail`.
        tail.get_mut(end..end + 8)?
            .copy_from_slice(&t.word.to_le_bytes());
        end += usize::from(t.len);
    }
    Some(at + end)
}

impl runlog_logger {
    /// Logs a scalar through the fast path; `None` when it declines (see the
    /// module docs), having written and reported nothing.
    ///
    /// # Safety
    /// As for [`encode_c_name`]; `ticket` NULL or valid for writes.
    #[inline(always)]
    pub(crate) unsafe fn log_scalar_fast(
        &self,
        name: *const c_char,
        value: Scalar,
        step: Option<u64>,
        ticket: *mut runlog_ticket,
    ) -> Option<runlog_status> {
        // Read before the lock: the critical section stays short.
        let raw = self.is_spool().then(crate::host::clock::now_raw);
        let mut guard = self.try_acquire_quiet()?;
        let open = guard.as_mut()?;
        if open.ending {
            return None;
        }
        let time = match raw {
            Some(raw) => Some(open.time.get(raw)?),
            None => None,
        };
        let seq = open
            .producer
            // Inlined so the value's kind is known and the encoder specialises.
            .push_in_place(
                MAX_SCALAR_PAYLOAD as u32,
                #[inline(always)]
                |buf| {
                    // SAFETY: forwarded caller contract.
                    unsafe { encode_c_name(buf, name, value, step, time) }
                },
            )?;
        drop(guard);
        put_ticket(ticket, seq);
        Some(RUNLOG_STATUS_OK)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::ffi::CString;
    use std::vec::Vec;

    use super::*;
    use crate::scalar;

    fn fast(name: &[u8], value: Scalar, time: Option<u64>) -> Option<Vec<u8>> {
        fast_at(name, value, None, time)
    }

    fn fast_at(
        name: &[u8],
        value: Scalar,
        step: Option<u64>,
        time: Option<u64>,
    ) -> Option<Vec<u8>> {
        let c = CString::new(name).unwrap();
        let mut buf = [0xAAu8; MAX_SCALAR_PAYLOAD];
        let time = match time {
            Some(t) => Some(EncodedTime::new(t)?),
            None => None,
        };
        // SAFETY: `c` is NUL-terminated.
        let n = unsafe { encode_c_name(&mut buf, c.as_ptr(), value, step, time) }?;
        Some(buf[..n].to_vec())
    }

    #[test]
    fn writes_the_bytes_of_the_checked_encoder() {
        let names: Vec<Vec<u8>> = [1usize, 10, 127, 128, 129, 200, 250]
            .iter()
            .map(|&n| b"n".repeat(n))
            .chain(
                ["train/loss", "ünïcode/ß", "日本語"]
                    .iter()
                    .map(|s| s.as_bytes().to_vec()),
            )
            .collect();
        let values = [
            Scalar::F64(0.5),
            Scalar::F64(f64::NAN),
            Scalar::F64(f64::NEG_INFINITY),
            Scalar::I64(0),
            Scalar::I64(-1),
            Scalar::I64(1 << 40),
            Scalar::I64(i64::MIN),
            Scalar::I64(i64::MAX),
        ];
        let times = [
            None,
            Some(0),
            Some(127),
            Some(128),
            Some(16_383),
            Some(16_384),
            Some(1_764_000_000_000),
            Some((1 << 56) - 1),
            Some(1 << 56),
            Some(u64::MAX),
        ];
        let steps = [
            None,
            Some(0),
            Some(9),
            Some(127),
            Some(128),
            Some(16_383),
            Some(16_384),
            Some((1 << 21) - 1),
            Some(1 << 21),
            Some((1 << 28) - 1),
            Some(1 << 28),
            Some((1 << 56) - 1),
            Some(1 << 56),
            Some(i64::MAX as u64),
            // Negative C steps (declined, as `None` times past 2^56).
            Some(1 << 63),
            Some(u64::MAX),
        ];
        for name in &names {
            let text = std::str::from_utf8(name).unwrap();
            for value in values {
                for (time, step) in times.iter().flat_map(|&t| steps.map(|s| (t, s))) {
                    let mut want = [0u8; 400];
                    let n = runlog_core::wire::encode(
                        &scalar::record(text, value, step, time),
                        &mut want,
                    )
                    .unwrap();
                    let got = fast_at(name, value, step, time);
                    if time.is_some_and(|t| t >= 1 << 56) || step.is_some_and(|s| s >= 1 << 63) {
                        assert_eq!(got, None, "left to the checked path");
                        continue;
                    }
                    let got = got.expect("fast path takes it");
                    assert_eq!(got, want[..n], "{text:?} {value:?} {step:?} {time:?}");
                }
            }
        }
    }

    #[test]
    fn step_word_is_the_varint_of_every_step_below_its_limit() {
        let check = |step: u64| {
            let mut want = [0u8; MAX_VARINT];
            let n = put_varint(&mut want, 0, step).unwrap();
            let (word, len) = step_word(step);
            assert_eq!(len, n, "length of {step}");
            assert_eq!(word.to_le_bytes()[..n], want[..n], "bytes of {step}");
            assert!(word.to_le_bytes()[n..].iter().all(|&b| b == 0), "{step}");
        };
        // Every step up to 2^21 (1-3 bytes), then each length's edges and a
        // spread of 4-byte steps up to the limit.
        (0..1 << 21).for_each(check);
        for bits in 1..=28u32 {
            let edge = 1u64 << bits;
            [edge - 1, edge, edge + 1, edge.saturating_sub(2)]
                .into_iter()
                .filter(|&s| s < WORD_STEP_LIMIT)
                .for_each(check);
        }
        (0..WORD_STEP_LIMIT).step_by(65_537).for_each(check);
    }

    #[test]
    fn time_cache_follows_the_clock() {
        let mut cache = TimeCache::new();
        let t = cache.get((1_764_000_000, 5_000_000)).unwrap();
        assert_eq!(t, EncodedTime::new(1_764_000_000_005).unwrap());
        assert_eq!(cache.get((1_764_000_000, 5_000_000)), Some(t), "same tick");
        let next = cache.get((1_764_000_000, 9_000_000)).unwrap();
        assert_eq!(next, EncodedTime::new(1_764_000_000_009).unwrap());
        assert_eq!(
            cache.get((0, 0)),
            EncodedTime::new(0),
            "a failed clock reads 0"
        );
    }

    #[test]
    fn declines_names_the_checked_path_must_refuse() {
        let v = Scalar::F64(1.0);
        assert_eq!(fast(b"", v, Some(1)), None, "empty");
        assert_eq!(fast(&b"n".repeat(251), v, Some(1)), None, "too long");
        assert_eq!(fast(&b"n".repeat(4000), v, Some(1)), None, "far too long");
        assert_eq!(fast(b"bad\xff", v, Some(1)), None, "invalid UTF-8");
        assert_eq!(fast(b"\xc3", v, Some(1)), None, "truncated UTF-8");
        assert_eq!(fast(b"\xed\xa0\x80", v, Some(1)), None, "surrogate");
        // A buffer shorter than the worst case is declined, never overrun.
        let c = CString::new("x").unwrap();
        let mut short = [0u8; MAX_SCALAR_PAYLOAD - 1];
        // SAFETY: `c` is NUL-terminated.
        let r = unsafe { encode_c_name(&mut short, c.as_ptr(), v, Some(u64::MAX), None) };
        assert_eq!(r, None);
    }

    #[test]
    fn never_reads_past_the_bound_of_an_unterminated_name() {
        // Exactly RUNLOG_MAX_NAME_LEN + 1 readable bytes, no NUL: declined
        // after reading the last one (Miri or ASan would flag a read beyond).
        let bytes = std::vec![b'a'; RUNLOG_MAX_NAME_LEN + 1].into_boxed_slice();
        let mut buf = [0u8; MAX_SCALAR_PAYLOAD];
        // SAFETY: 251 readable bytes, as the contract allows.
        let r =
            unsafe { encode_c_name(&mut buf, bytes.as_ptr().cast(), Scalar::I64(1), None, None) };
        assert_eq!(r, None);
    }
}
