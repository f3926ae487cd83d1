//! The scalar log calls' fast path: the C name is scanned, checked and copied
//! in one pass straight into the record's slot in the ring, and the value and
//! time are written after it. No intermediate buffer, no separate `strlen`,
//! and no second pass over the name for UTF-8 when it is ASCII.
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
const HAS_TIME: u8 = 1 << 5;
/// Longest varint of a u64.
const MAX_VARINT: usize = 10;
/// Where the name's bytes start when its length takes one varint byte.
const NAME_AT: usize = 3;

/// Payload bytes a scalar metric can take: tag, head, name length (2 bytes
/// up to 250), name, value and time (one varint each at worst).
pub(crate) const MAX_SCALAR_PAYLOAD: usize = 2 + 2 + RUNLOG_MAX_NAME_LEN + MAX_VARINT * 2;

#[inline(always)]
fn put_varint(buf: &mut [u8; MAX_SCALAR_PAYLOAD], mut at: usize, mut v: u64) -> Option<usize> {
    while v >= 0x80 {
        *buf.get_mut(at)? = (v as u8) | 0x80;
        v >>= 7;
        at += 1;
    }
    *buf.get_mut(at)? = v as u8;
    Some(at + 1)
}

/// Writes the time as a varint. Times below 2^56 ms (all of them until the
/// year 2^56 / 3.15e10 ≈ 2.3 million) take one branch-free 8-byte store: the
/// 7-bit groups are spread into bytes and the continuation bits set on all
/// but the last. This replaces a 6-round loop with a branch per byte.
#[inline(always)]
fn put_time(buf: &mut [u8; MAX_SCALAR_PAYLOAD], at: usize, t: u64) -> Option<usize> {
    if t >= 1 << 56 {
        return put_varint(buf, at, t);
    }
    let mut spread = 0u64;
    let mut group = 0;
    while group < 8 {
        spread |= ((t >> (7 * group)) & 0x7f) << (8 * group);
        group += 1;
    }
    let bits = 64 - (t | 1).leading_zeros() as usize;
    let n = bits.div_ceil(7);
    let continuation = 0x8080_8080_8080_8080u64 & ((1u64 << (8 * (n - 1))) - 1);
    // The 8-byte store may run past the varint's end: still inside `buf`
    // (checked), in the record's free slot, and overwritten or unused.
    buf.get_mut(at..at + 8)?
        .copy_from_slice(&(spread | continuation).to_le_bytes());
    Some(at + n)
}

/// Encodes the metric named by the C string `name` into `buf`, returning the
/// payload length; `None` (leaving garbage in `buf`) when `buf` is shorter
/// than [`MAX_SCALAR_PAYLOAD`] or the name is empty, longer than
/// [`RUNLOG_MAX_NAME_LEN`] or not UTF-8.
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
    time_ms: Option<u64>,
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
    buf[1] = kind | NAME_IS_TEXT | if time_ms.is_some() { HAS_TIME } else { 0 };
    let mut at = if len < 0x80 {
        buf[2] = len as u8;
        NAME_AT + len
    } else {
        // A two-byte length (128..=250, rare): shift the name up by one.
        buf.copy_within(NAME_AT..NAME_AT + len, NAME_AT + 1);
        buf[2] = (len as u8) | 0x80;
        buf[3] = (len >> 7) as u8;
        NAME_AT + 1 + len
    };
    match value {
        Scalar::F64(v) => {
            buf.get_mut(at..at + 8)?.copy_from_slice(&v.to_le_bytes());
            at += 8;
        }
        Scalar::I64(v) => at = put_varint(buf, at, ((v << 1) ^ (v >> 63)) as u64)?,
    }
    if let Some(t) = time_ms {
        at = put_time(buf, at, t)?;
    }
    Some(at)
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
        ticket: *mut runlog_ticket,
    ) -> Option<runlog_status> {
        let time_ms = self.now_ms();
        let mut guard = self.try_acquire_quiet()?;
        let open = guard.as_mut()?;
        if open.ending {
            return None;
        }
        let seq = open
            .producer
            .push_in_place(MAX_SCALAR_PAYLOAD as u32, |buf| {
                // SAFETY: forwarded caller contract.
                unsafe { encode_c_name(buf, name, value, time_ms) }
            })?;
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
        let c = CString::new(name).unwrap();
        let mut buf = [0xAAu8; MAX_SCALAR_PAYLOAD];
        // SAFETY: `c` is NUL-terminated.
        let n = unsafe { encode_c_name(&mut buf, c.as_ptr(), value, time) }?;
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
        for name in &names {
            let text = std::str::from_utf8(name).unwrap();
            for value in values {
                for time in times {
                    let mut want = [0u8; 400];
                    let n =
                        runlog_core::wire::encode(&scalar::record(text, value, time), &mut want)
                            .unwrap();
                    let got = fast(name, value, time).expect("fast path takes it");
                    assert_eq!(got, want[..n], "{text:?} {value:?} {time:?}");
                }
            }
        }
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
        let r = unsafe { encode_c_name(&mut short, c.as_ptr(), v, None) };
        assert_eq!(r, None);
    }

    #[test]
    fn never_reads_past_the_bound_of_an_unterminated_name() {
        // Exactly RUNLOG_MAX_NAME_LEN + 1 readable bytes, no NUL: declined
        // after reading the last one (Miri or ASan would flag a read beyond).
        let bytes = std::vec![b'a'; RUNLOG_MAX_NAME_LEN + 1].into_boxed_slice();
        let mut buf = [0u8; MAX_SCALAR_PAYLOAD];
        // SAFETY: 251 readable bytes, as the contract allows.
        let r = unsafe { encode_c_name(&mut buf, bytes.as_ptr().cast(), Scalar::I64(1), None) };
        assert_eq!(r, None);
    }
}
