//! The encoder behind [`crate::wire::encode`]: writes a [`Record`] in
//! postcard's format by hand.
//!
//! The bytes are exactly those of `postcard::to_slice(record)` (the tests
//! below compare the two); the `Serialize` impls stay for anyone who uses
//! postcard directly. Going through serde costs a firmware about 1.4 KiB of
//! flash for the generic serializer; this is a few hundred bytes.

use crate::metric_wire;
use crate::record::{Metric, Name, Record, RunStatus, Value};
use crate::skim::put_varint;
#[cfg(not(target_os = "none"))]
use crate::skim::MAX_VARINT_LEN;
use crate::wire::WireError;

/// Encodes `record` at the start of `buf`; returns the encoded length.
pub(crate) fn record(record: &Record<'_>, buf: &mut [u8]) -> Result<usize, WireError> {
    #[cfg(not(target_os = "none"))]
    if let Record::Metric(m) = record {
        if let Some(n) = scalar_metric(m, buf) {
            return Ok(n);
        }
    }
    general(record, buf)
}

/// The encoder for every record (the only one on devices, where code size
/// matters more than the nanoseconds `scalar_metric` saves).
fn general(record: &Record<'_>, buf: &mut [u8]) -> Result<usize, WireError> {
    let mut out = Out {
        buf,
        len: 0,
        full: false,
    };
    out.record(record);
    if out.full {
        return Err(WireError::BufferFull);
    }
    Ok(out.len)
}

/// The logging hot path on hosts: a scalar metric with a text name, written
/// with one bounds check. `None` when it is another shape or `buf` might be
/// too small; the general encoder then decides (same bytes either way).
#[cfg(not(target_os = "none"))]
#[inline]
fn scalar_metric(m: &Metric<'_>, buf: &mut [u8]) -> Option<usize> {
    let Name::Text(text) = m.name else {
        return None;
    };
    let value = match m.value {
        Value::F64(v) => Err(v.to_le_bytes()),
        Value::I64(v) => Ok(((v << 1) ^ (v >> 63)) as u64),
        _ => return None,
    };
    // tag, head, name length (<= 10), name, value (<= 10), step, time (<= 10 each)
    if buf.len() < 2 + MAX_VARINT_LEN * 4 + text.len() {
        return None;
    }
    buf[0] = 0;
    buf[1] = metric_wire::head(m);
    let mut at = 2;
    at += put_varint(text.len() as u64, &mut buf[at..])?;
    buf[at..at + text.len()].copy_from_slice(text.as_bytes());
    at += text.len();
    match value {
        Err(bytes) => {
            buf[at..at + 8].copy_from_slice(&bytes);
            at += 8;
        }
        Ok(zigzag) => at += put_varint(zigzag, &mut buf[at..])?,
    }
    if let Some(step) = m.step {
        at += put_varint(step, &mut buf[at..])?;
    }
    if let Some(time) = m.time_ms {
        at += put_varint(time, &mut buf[at..])?;
    }
    Some(at)
}

/// A writer that notes overflow instead of failing at each write: one check
/// at the end instead of a branch after every field keeps the code small.
struct Out<'a> {
    buf: &'a mut [u8],
    len: usize,
    full: bool,
}

impl Out<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        match self.buf.get_mut(self.len..end) {
            Some(dst) if !self.full => {
                dst.copy_from_slice(bytes);
                self.len = end;
            }
            _ => self.full = true,
        }
    }

    fn varint(&mut self, v: u64) {
        // In place, without a temporary buffer.
        match self
            .buf
            .get_mut(self.len..)
            .and_then(|rest| put_varint(v, rest))
        {
            Some(n) if !self.full => self.len += n,
            _ => self.full = true,
        }
    }

    /// A string or byte string: its length, then its bytes.
    fn string(&mut self, bytes: &[u8]) {
        self.varint(bytes.len() as u64);
        self.bytes(bytes);
    }

    fn opt(&mut self, v: Option<u64>) {
        self.bytes(&[u8::from(v.is_some())]);
        if let Some(v) = v {
            self.varint(v);
        }
    }

    fn record(&mut self, record: &Record<'_>) {
        // The variant index, a varint, is below 128: one byte.
        let tag: u8 = match record {
            Record::Metric(_) => 0,
            Record::NameDef { .. } => 1,
            Record::RunStart(_) => 2,
            Record::RunEnd { .. } => 3,
            Record::ArtifactBegin { .. } => 4,
            Record::ArtifactChunk { .. } => 5,
            Record::ArtifactEnd { .. } => 6,
            Record::ArtifactFile { .. } => 7,
            Record::Dropped { .. } => 8,
            Record::Param { .. } => 9,
            Record::Tag { .. } => 10,
        };
        self.bytes(&[tag]);
        match *record {
            Record::Metric(ref m) => self.metric(m),
            Record::NameDef { id, name } => {
                self.varint(u64::from(id));
                self.string(name.as_bytes())
            }
            Record::RunStart(s) => {
                self.string(s.run_id.as_bytes());
                self.string(s.experiment.as_bytes());
                self.opt(s.time_ms)
            }
            Record::RunEnd { status, time_ms } => {
                let status: u8 = match status {
                    RunStatus::Finished => 0,
                    RunStatus::Failed => 1,
                    RunStatus::Killed => 2,
                };
                self.bytes(&[status]);
                self.opt(time_ms)
            }
            Record::ArtifactBegin { id, path, len } => {
                self.varint(u64::from(id));
                self.string(path.as_bytes());
                self.varint(len)
            }
            Record::ArtifactChunk { id, offset, data } => {
                self.varint(u64::from(id));
                self.varint(offset);
                self.string(data.0)
            }
            Record::ArtifactEnd { id, crc32 } => {
                self.varint(u64::from(id));
                self.varint(u64::from(crc32))
            }
            Record::ArtifactFile {
                path,
                file,
                len,
                crc32,
            } => {
                self.string(path.as_bytes());
                self.string(file.as_bytes());
                self.varint(len);
                self.varint(u64::from(crc32))
            }
            Record::Dropped { count } => self.varint(u64::from(count)),
            Record::Param { key, value } | Record::Tag { key, value } => {
                self.string(key.as_bytes());
                self.string(value.as_bytes())
            }
        }
    }

    fn metric(&mut self, m: &Metric<'_>) {
        self.bytes(&[metric_wire::head(m)]);
        match m.name {
            Name::Text(text) => self.string(text.as_bytes()),
            Name::Id(id) => self.varint(u64::from(id)),
        }
        match m.value {
            // Zigzag, as postcard encodes signed integers.
            Value::I64(v) => self.varint(((v << 1) ^ (v >> 63)) as u64),
            Value::F64(v) => self.bytes(&v.to_le_bytes()),
            Value::Str(v) => self.string(v.as_bytes()),
            // A byte string: eight little-endian bytes per element.
            Value::F64List(l) => self.string(l.as_le_bytes()),
            Value::I64List(l) => self.string(l.as_le_bytes()),
        }
        if let Some(step) = m.step {
            self.varint(step);
        }
        if let Some(time) = m.time_ms {
            self.varint(time);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;
    use crate::record::{Bytes, RunStart};
    use crate::{F64List, I64List};

    fn postcard_bytes(r: &Record<'_>) -> Result<Vec<u8>, ()> {
        let mut buf = [0u8; 2048];
        postcard::to_slice(r, &mut buf)
            .map(|b| b.to_vec())
            .map_err(drop)
    }

    fn same_as_postcard(r: &Record<'_>) -> Result<(), TestCaseError> {
        let want = postcard_bytes(r).expect("postcard encodes");
        let mut buf = [0u8; 2048];
        let n = record(r, &mut buf).expect("encodes");
        prop_assert_eq!(&buf[..n], &want[..]);
        // The device encoder too, which hosts bypass for scalar metrics.
        let n = general(r, &mut buf).expect("encodes");
        prop_assert_eq!(&buf[..n], &want[..]);
        // Every shorter buffer is refused as too small, never overrun.
        for short in 0..n {
            prop_assert_eq!(record(r, &mut buf[..short]), Err(WireError::BufferFull));
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn metrics_encode_as_postcard_does(
            text in proptest::option::of(".{0,12}"),
            id in any::<u16>(),
            kind in 0u8..5,
            i in any::<i64>(),
            f in any::<f64>(),
            s in ".{0,20}",
            fl in proptest::collection::vec(any::<f64>(), 0..20),
            il in proptest::collection::vec(any::<i64>(), 0..20),
            step in proptest::option::of(any::<u64>()),
            time_ms in proptest::option::of(any::<u64>()),
        ) {
            let name = match &text {
                Some(t) => Name::Text(t),
                None => Name::Id(id),
            };
            let value = match kind {
                0 => Value::I64(i),
                1 => Value::F64(f),
                2 => Value::Str(&s),
                3 => Value::F64List(F64List::new(&fl)),
                _ => Value::I64List(I64List::new(&il)),
            };
            same_as_postcard(&Record::Metric(Metric { name, value, step, time_ms }))?;
        }

        #[test]
        fn other_records_encode_as_postcard_does(
            a in ".{0,12}",
            b in ".{0,12}",
            data in proptest::collection::vec(any::<u8>(), 0..300),
            x in any::<u32>(),
            y in any::<u32>(),
            n in any::<u64>(),
            t in proptest::option::of(any::<u64>()),
            id in any::<u16>(),
            status in 0u8..3,
        ) {
            let status = [RunStatus::Finished, RunStatus::Failed, RunStatus::Killed][usize::from(status)];
            for r in [
                Record::NameDef { id, name: &a },
                Record::RunStart(RunStart { run_id: &a, experiment: &b, time_ms: t }),
                Record::RunEnd { status, time_ms: t },
                Record::ArtifactBegin { id: x, path: &a, len: n },
                Record::ArtifactChunk { id: x, offset: n, data: Bytes(&data) },
                Record::ArtifactEnd { id: x, crc32: y },
                Record::ArtifactFile { path: &a, file: &b, len: n, crc32: y },
                Record::Dropped { count: x },
                Record::Param { key: &a, value: &b },
                Record::Tag { key: &a, value: &b },
            ] {
                same_as_postcard(&r)?;
            }
        }
    }
}
