//! A direct encoder for the hot path's records: a scalar metric with a text
//! name, no step, and an optional time. It writes exactly the bytes that
//! `runlog_core::wire::encode` writes for the same record (a unit test below
//! pins that), without going through serde, which halves the cost of a log call.
//!
//! Layout (see `runlog_core::metric_wire`): record tag 0 (`Record::Metric`),
//! head byte (kind | name-is-text | has-time), name as varint length + bytes,
//! the value (f64: 8 bytes little-endian; i64: zigzag varint), time as varint.

use runlog_core::record::{Metric, Name, Record, Value};
use runlog_core::wire::{self, WireError};

const TAG_METRIC: u8 = 0;
const KIND_I64: u8 = 0;
const KIND_F64: u8 = 1;
const NAME_IS_TEXT: u8 = 1 << 3;
const HAS_TIME: u8 = 1 << 5;
/// Longest varint of a u64.
const MAX_VARINT: usize = 10;

/// A scalar metric value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scalar {
    I64(i64),
    F64(f64),
}

#[inline(always)]
fn put_varint(buf: &mut [u8], mut at: usize, mut v: u64) -> usize {
    while v >= 0x80 {
        buf[at] = (v as u8) | 0x80;
        v >>= 7;
        at += 1;
    }
    buf[at] = v as u8;
    at + 1
}

/// Encodes the metric into `buf`, returning its length, like `wire::encode`.
#[inline]
pub(crate) fn encode(
    buf: &mut [u8],
    name: &str,
    value: Scalar,
    time_ms: Option<u64>,
) -> Result<usize, WireError> {
    let worst = 2 + MAX_VARINT + name.len() + MAX_VARINT + MAX_VARINT;
    if buf.len() < worst {
        // Near the end of the free space: let the reference encoder decide exactly.
        return wire::encode(&record(name, value, time_ms), buf);
    }
    let kind = match value {
        Scalar::I64(_) => KIND_I64,
        Scalar::F64(_) => KIND_F64,
    };
    buf[0] = TAG_METRIC;
    buf[1] = kind | NAME_IS_TEXT | if time_ms.is_some() { HAS_TIME } else { 0 };
    let mut at = put_varint(buf, 2, name.len() as u64);
    buf[at..at + name.len()].copy_from_slice(name.as_bytes());
    at += name.len();
    match value {
        Scalar::F64(v) => {
            buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
            at += 8;
        }
        Scalar::I64(v) => {
            let zigzag = ((v << 1) ^ (v >> 63)) as u64;
            at = put_varint(buf, at, zigzag);
        }
    }
    if let Some(t) = time_ms {
        at = put_varint(buf, at, t);
    }
    Ok(at)
}

/// The same metric as a `Record`.
pub(crate) fn record(name: &str, value: Scalar, time_ms: Option<u64>) -> Record<'_> {
    Record::Metric(Metric {
        name: Name::Text(name),
        value: match value {
            Scalar::I64(v) => Value::I64(v),
            Scalar::F64(v) => Value::F64(v),
        },
        step: None,
        time_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_encoder_byte_for_byte() {
        let long = "n".repeat(250);
        let names = ["x", "train/loss", "ünïcode", long.as_str()];
        let values = [
            Scalar::F64(0.5),
            Scalar::F64(f64::NAN),
            Scalar::F64(f64::NEG_INFINITY),
            Scalar::I64(0),
            Scalar::I64(-1),
            Scalar::I64(63),
            Scalar::I64(-64),
            Scalar::I64(1 << 40),
            Scalar::I64(i64::MIN),
            Scalar::I64(i64::MAX),
        ];
        let times = [
            None,
            Some(0),
            Some(127),
            Some(128),
            Some(1_764_000_000_000),
            Some(u64::MAX),
        ];
        for name in names {
            for value in values {
                for time in times {
                    let mut fast = [0u8; 400];
                    let mut reference = [0u8; 400];
                    let n = encode(&mut fast, name, value, time).unwrap();
                    let m = wire::encode(&record(name, value, time), &mut reference).unwrap();
                    assert_eq!(fast[..n], reference[..m], "{name:?} {value:?} {time:?}");
                    // Short buffers behave exactly like the reference encoder.
                    for len in 0..=m {
                        let mut a = [0u8; 400];
                        let mut b = [0u8; 400];
                        assert_eq!(
                            encode(&mut a[..len], name, value, time),
                            wire::encode(&record(name, value, time), &mut b[..len]),
                        );
                    }
                }
            }
        }
    }
}
