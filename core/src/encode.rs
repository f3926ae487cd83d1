//! The encoder behind [`crate::wire::encode`]: writes a [`Record`] in
//! postcard's format by hand, one small function per record kind.
//!
//! The bytes are exactly those of `postcard::to_slice(record)` (the tests
//! below compare the two); the `Serialize` impls stay for anyone who uses
//! postcard directly. Going through serde costs a firmware about 1.4 KiB of
//! flash for the generic serializer; this is a few hundred bytes.
//!
//! Why one function per kind (`encode_metric`, `encode_run_start`, ...): a
//! caller that knows what it sends (the C ABI's log calls, a firmware)
//! links only the kinds it sends, instead of the `match` over all of them.
//! Adding a record kind is one `*_fields` writer plus its `encode_*` line.
//! The same writers size a record ([`metric_len`]), so sizing and encoding
//! cannot disagree.

use crate::metric_wire;
use crate::record::{Metric, Name, Record, RunStart, RunStatus, Value};
#[cfg(not(target_os = "none"))]
use crate::skim::{put_varint, MAX_VARINT_LEN};
use crate::wire::WireError;

/// The wire tag of each kind: its variant index in [`Record`] (a varint
/// below 128, so one byte).
mod tag {
    pub const METRIC: u8 = 0;
    pub const NAME_DEF: u8 = 1;
    pub const RUN_START: u8 = 2;
    pub const RUN_END: u8 = 3;
    pub const ARTIFACT_BEGIN: u8 = 4;
    pub const ARTIFACT_CHUNK: u8 = 5;
    pub const ARTIFACT_END: u8 = 6;
    pub const ARTIFACT_FILE: u8 = 7;
    pub const DROPPED: u8 = 8;
    pub const PARAM: u8 = 9;
    pub const TAG: u8 = 10;
}

/// The wire tag of `record`'s kind.
fn kind(record: &Record<'_>) -> u8 {
    match record {
        Record::Metric(_) => tag::METRIC,
        Record::NameDef { .. } => tag::NAME_DEF,
        Record::RunStart(_) => tag::RUN_START,
        Record::RunEnd { .. } => tag::RUN_END,
        Record::ArtifactBegin { .. } => tag::ARTIFACT_BEGIN,
        Record::ArtifactChunk { .. } => tag::ARTIFACT_CHUNK,
        Record::ArtifactEnd { .. } => tag::ARTIFACT_END,
        Record::ArtifactFile { .. } => tag::ARTIFACT_FILE,
        Record::Dropped { .. } => tag::DROPPED,
        Record::Param { .. } => tag::PARAM,
        Record::Tag { .. } => tag::TAG,
    }
}

/// Encodes `record` at the start of `buf`; returns the encoded length.
///
/// One writer with a `match` over every kind (the Rust firmware sends them
/// all through here): the `encode_*` functions below share its field
/// writers, so a caller of only those links only their kinds.
pub(crate) fn record(record: &Record<'_>, buf: &mut [u8]) -> Result<usize, WireError> {
    write(buf, |o| o.put_record(record))
}

/// Encodes a `Record::Metric` at the start of `buf`; returns its length.
pub fn encode_metric(m: &Metric<'_>, buf: &mut [u8]) -> Result<usize, WireError> {
    write(buf, |o| o.put_metric(m))
}

/// The encoded length of `Record::Metric(m)`, from the same writer as
/// [`encode_metric`] (no buffer needed).
pub fn metric_len(m: &Metric<'_>) -> usize {
    let mut o = Writer::counting();
    o.put_metric(m);
    o.len
}

/// Encodes a `Record::NameDef`.
pub fn encode_name_def(id: u16, name: &str, buf: &mut [u8]) -> Result<usize, WireError> {
    write(buf, |o| o.put_name_def(id, name))
}

/// Encodes a `Record::RunStart`.
pub fn encode_run_start(s: &RunStart<'_>, buf: &mut [u8]) -> Result<usize, WireError> {
    write(buf, |o| o.put_run_start(s))
}

/// Encodes a `Record::RunEnd`.
pub fn encode_run_end(
    status: RunStatus,
    time_ms: Option<u64>,
    buf: &mut [u8],
) -> Result<usize, WireError> {
    write(buf, |o| o.put_run_end(status, time_ms))
}

/// Encodes a `Record::ArtifactBegin`.
pub fn encode_artifact_begin(
    id: u32,
    path: &str,
    len: u64,
    buf: &mut [u8],
) -> Result<usize, WireError> {
    write(buf, |o| o.put_artifact_begin(id, path, len))
}

/// Encodes a `Record::ArtifactChunk`.
pub fn encode_artifact_chunk(
    id: u32,
    offset: u64,
    data: &[u8],
    buf: &mut [u8],
) -> Result<usize, WireError> {
    write(buf, |o| o.put_artifact_chunk(id, offset, data))
}

/// Encodes a `Record::ArtifactEnd`.
pub fn encode_artifact_end(id: u32, crc32: u32, buf: &mut [u8]) -> Result<usize, WireError> {
    write(buf, |o| o.put_artifact_end(id, crc32))
}

/// One of an artifact's three records, for a sender that pushes all three
/// through one encoder ([`encode_artifact_part`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactPart<'a> {
    /// `Record::ArtifactBegin`: the artifact's path and length.
    Begin {
        /// Where the artifact goes in the run.
        path: &'a str,
        /// Its length in bytes.
        len: u64,
    },
    /// `Record::ArtifactChunk`: bytes at an offset.
    Chunk {
        /// Where `data` starts in the artifact.
        offset: u64,
        /// The chunk's bytes.
        data: &'a [u8],
    },
    /// `Record::ArtifactEnd`: the CRC-32 of the whole content.
    End {
        /// CRC-32 of every byte of the artifact.
        crc32: u32,
    },
}

/// Encodes one of artifact `id`'s records: the bytes of
/// [`encode_artifact_begin`], [`encode_artifact_chunk`] or
/// [`encode_artifact_end`] (`core/tests/artifact_part.rs` compares them),
/// from one body. The three share a shape (tag, id, one varint, with a
/// string before it in a begin and after it in a chunk), so a firmware that
/// uploads through this links one writer instead of three (the C ABI's
/// `runlog_upload`: 32 B less). `wire::encode` keeps a writer per kind
/// (`Writer::put_record` through this one measured 72 B more in the Rust firmware).
pub fn encode_artifact_part(
    id: u32,
    part: ArtifactPart<'_>,
    buf: &mut [u8],
) -> Result<usize, WireError> {
    write(buf, |o| o.put_artifact_part(id, part))
}

/// Encodes a `Record::Dropped`.
pub fn encode_dropped(count: u32, buf: &mut [u8]) -> Result<usize, WireError> {
    write(buf, |o| o.put_dropped(count))
}

/// Encodes a `Record::Param`.
pub fn encode_param(key: &str, value: &str, buf: &mut [u8]) -> Result<usize, WireError> {
    write(buf, |o| o.put_param(key, value))
}

/// Encodes a `Record::Tag`.
pub fn encode_tag(key: &str, value: &str, buf: &mut [u8]) -> Result<usize, WireError> {
    write(buf, |o| o.put_tag(key, value))
}

/// Runs a writer over `buf`: the length written, or `BufferFull`.
#[inline]
fn write(buf: &mut [u8], fields: impl FnOnce(&mut Writer<'_>)) -> Result<usize, WireError> {
    let mut out = Writer::new(buf);
    fields(&mut out);
    out.finish()
}

/// Encodes what `write` writes (through [`Writer`]'s `put_*` methods) at
/// the start of `buf`; returns the encoded length, or `BufferFull`.
///
/// For a caller that has one record writer for several kinds (a
/// [`crate::ring::Producer::push_written`] closure) and sometimes needs
/// the bytes in a buffer instead.
pub fn write_with(buf: &mut [u8], write: &dyn Fn(&mut Writer<'_>)) -> Result<usize, WireError> {
    self::write(buf, write)
}

/// The logging hot path on hosts: a scalar metric with a text name, written
/// with one bounds check. `None` when it is another shape or `buf` might be
/// too small; the general encoder then decides (same bytes either way).
/// `Writer::put_metric` calls it, so every host encoder of a metric has it.
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
    buf[0] = tag::METRIC;
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

/// Writes records in postcard's format into a buffer, one `put_*` call per
/// record (each writes the record's tag, then its fields).
///
/// It keeps counting past the end of its buffer instead of failing at each
/// write: one check at the end (`len > buf.len()`) instead of a branch after
/// every field keeps the code small, and an empty buffer sizes a record.
/// Once a field does not fit, `len` is past the end, so no later field is
/// stored either: what a too-small buffer holds is never taken for a
/// record. [`crate::ring::Producer::push_written`] hands one over the free
/// region of its ring and makes that check itself, so a firmware's record
/// writer needs no buffer, no result and no length of its own.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    /// Bytes written, or that would have been: past `buf.len()` when the
    /// record does not fit.
    pub(crate) len: usize,
    /// Set by [`Writer::fill`] when its encoder refused its own output.
    pub(crate) malformed: bool,
}

impl<'a> Writer<'a> {
    /// A writer at the start of `buf`.
    #[inline]
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Writer {
            buf,
            len: 0,
            malformed: false,
        }
    }
}

impl Writer<'_> {
    fn counting() -> Writer<'static> {
        Writer::new(&mut [])
    }

    /// The length written, or `BufferFull` when it went past the end.
    /// Outlined on devices: every encoder closure ends here.
    #[cfg_attr(not(feature = "std"), inline(never))]
    fn finish(&self) -> Result<usize, WireError> {
        if self.len > self.buf.len() {
            return Err(WireError::BufferFull);
        }
        Ok(self.len)
    }

    /// A run of bytes: the range [`Writer::reserve`] gives, then the copy.
    fn bytes(&mut self, bytes: &[u8]) {
        if let Some(dst) = self.reserve(bytes.len()) {
            copy(dst, bytes);
        }
    }

    /// Counts `n` more bytes written and gives where they go, if they fit:
    /// the one range check of every multi-byte write (strings, byte
    /// strings, an `f64`). `len` saturates, so no input makes it wrap back
    /// into the buffer. Outlined on devices: one copy for the string writer
    /// and the `f64` store (−8 B of flash in both firmwares, for +9
    /// instructions per `runlog_log_f64` and −11 to −133 per list and
    /// upload, `scripts/call-cost.sh`).
    #[cfg_attr(not(feature = "std"), inline(never))]
    fn reserve(&mut self, n: usize) -> Option<&mut [u8]> {
        let start = self.len;
        let end = start.saturating_add(n);
        self.len = end;
        self.buf.get_mut(start..end)
    }

    /// One byte (a tag, a head, a flag), stored directly: the most
    /// frequent write, so the cheapest. Outlined on devices: inlined at its
    /// dozen call sites it costs a firmware 48 B more flash.
    #[cfg_attr(not(feature = "std"), inline(never))]
    fn tag(&mut self, byte: u8) {
        if let Some(dst) = self.buf.get_mut(self.len) {
            *dst = byte;
        }
        self.len = self.len.saturating_add(1);
    }

    /// Eight bytes (an `f64`) in one store instead of a byte loop.
    fn word8(&mut self, bytes: [u8; 8]) {
        if let Some(dst) = self.reserve(8) {
            if let Ok(dst) = <&mut [u8; 8]>::try_from(dst) {
                *dst = bytes;
            }
        }
    }

    /// A `u64` as postcard's varint: seven bits a byte, low bits first.
    /// Ends when what is left after a byte is 0 (one test of both halves on
    /// a 32-bit core, where `v >= 0x80` took a 64-bit compare and a zero
    /// register: −8 B of flash in both firmwares).
    fn varint(&mut self, mut v: u64) {
        loop {
            let low = v as u8 & 0x7F;
            v >>= 7;
            if v == 0 {
                return self.tag(low);
            }
            self.tag(low | 0x80);
        }
    }

    /// A string or byte string: its length, then its bytes.
    fn string(&mut self, bytes: &[u8]) {
        self.varint(bytes.len() as u64);
        self.bytes(bytes);
    }

    fn opt(&mut self, v: Option<u64>) {
        self.tag(u8::from(v.is_some()));
        if let Some(v) = v {
            self.varint(v);
        }
    }

    /// Runs `encode` (a closure of the `push_with` kind) on the rest of the
    /// buffer: what it wrote counts as written, a `BufferFull` refusal (or a
    /// length past the buffer) as not fitting, any other refusal marks the
    /// record malformed.
    pub(crate) fn fill(&mut self, encode: &dyn Fn(&mut [u8]) -> Result<usize, WireError>) {
        let rest = self.buf.len().saturating_sub(self.len);
        let buf = self.buf.get_mut(self.len..).unwrap_or_default();
        match encode(buf) {
            Ok(n) if n <= rest => self.len += n,
            Ok(_) | Err(WireError::BufferFull) => self.len = usize::MAX,
            Err(_) => self.malformed = true,
        }
    }

    /// Any record: its tag, then its fields, each kind's from the writer its
    /// `put_*` method uses. A metric's writer writes its own tag; the other
    /// kinds' tags are written here, once, instead of in each arm.
    pub fn put_record(&mut self, record: &Record<'_>) {
        if let Record::Metric(ref m) = *record {
            // Hosts: a scalar metric with one bounds check (same bytes).
            #[cfg(not(target_os = "none"))]
            if let Some(n) = self
                .buf
                .get_mut(self.len..)
                .and_then(|b| scalar_metric(m, b))
            {
                self.len += n;
                return;
            }
            return self.put_metric(m);
        }
        self.tag(kind(record));
        match *record {
            Record::Metric(_) => {}
            Record::NameDef { id, name } => self.name_def(id, name),
            Record::RunStart(ref s) => self.run_start(s),
            Record::RunEnd { status, time_ms } => self.run_end(status, time_ms),
            Record::ArtifactBegin { id, path, len } => self.artifact_begin(id, path, len),
            Record::ArtifactChunk { id, offset, data } => self.artifact_chunk(id, offset, data.0),
            Record::ArtifactEnd { id, crc32 } => self.artifact_end(id, crc32),
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
            Record::Dropped { count } => self.dropped(count),
            Record::Param { key, value } | Record::Tag { key, value } => self.key_value(key, value),
        }
    }

    /// A `Record::NameDef`.
    pub fn put_name_def(&mut self, id: u16, name: &str) {
        self.tag(tag::NAME_DEF);
        self.name_def(id, name)
    }

    /// A `Record::RunStart`.
    pub fn put_run_start(&mut self, s: &RunStart<'_>) {
        self.tag(tag::RUN_START);
        self.run_start(s)
    }

    /// A `Record::RunEnd`.
    pub fn put_run_end(&mut self, status: RunStatus, time_ms: Option<u64>) {
        self.tag(tag::RUN_END);
        self.run_end(status, time_ms)
    }

    /// A `Record::ArtifactBegin`.
    pub fn put_artifact_begin(&mut self, id: u32, path: &str, len: u64) {
        self.tag(tag::ARTIFACT_BEGIN);
        self.artifact_begin(id, path, len)
    }

    /// A `Record::ArtifactChunk`.
    pub fn put_artifact_chunk(&mut self, id: u32, offset: u64, data: &[u8]) {
        self.tag(tag::ARTIFACT_CHUNK);
        self.artifact_chunk(id, offset, data)
    }

    /// A `Record::ArtifactEnd`.
    pub fn put_artifact_end(&mut self, id: u32, crc32: u32) {
        self.tag(tag::ARTIFACT_END);
        self.artifact_end(id, crc32)
    }

    /// One of artifact `id`'s records, from one body: the bytes of
    /// [`Writer::put_artifact_begin`], [`Writer::put_artifact_chunk`] or
    /// [`Writer::put_artifact_end`] (`core/tests/artifact_part.rs` compares
    /// them). The three share a shape (tag, id, one varint, with a string
    /// before it in a begin and after it in a chunk), so a firmware that
    /// uploads through this links one writer instead of three (the C ABI's
    /// `runlog_upload`).
    pub fn put_artifact_part(&mut self, id: u32, part: ArtifactPart<'_>) {
        let (kind, before, n, after) = match part {
            ArtifactPart::Begin { path, len } => {
                (tag::ARTIFACT_BEGIN, Some(path.as_bytes()), len, None)
            }
            ArtifactPart::Chunk { offset, data } => (tag::ARTIFACT_CHUNK, None, offset, Some(data)),
            ArtifactPart::End { crc32 } => (tag::ARTIFACT_END, None, u64::from(crc32), None),
        };
        self.tag(kind);
        self.varint(u64::from(id));
        if let Some(s) = before {
            self.string(s);
        }
        self.varint(n);
        if let Some(s) = after {
            self.string(s);
        }
    }

    /// A `Record::Dropped`.
    pub fn put_dropped(&mut self, count: u32) {
        self.tag(tag::DROPPED);
        self.dropped(count)
    }

    /// A `Record::Param`.
    pub fn put_param(&mut self, key: &str, value: &str) {
        self.tag(tag::PARAM);
        self.key_value(key, value)
    }

    /// A `Record::Tag`.
    pub fn put_tag(&mut self, key: &str, value: &str) {
        self.tag(tag::TAG);
        self.key_value(key, value)
    }

    fn name_def(&mut self, id: u16, name: &str) {
        self.varint(u64::from(id));
        self.string(name.as_bytes())
    }

    fn run_start(&mut self, s: &RunStart<'_>) {
        self.string(s.run_id.as_bytes());
        self.string(s.experiment.as_bytes());
        self.opt(s.time_ms)
    }

    fn run_end(&mut self, status: RunStatus, time_ms: Option<u64>) {
        self.tag(match status {
            RunStatus::Finished => 0,
            RunStatus::Failed => 1,
            RunStatus::Killed => 2,
        });
        self.opt(time_ms)
    }

    fn artifact_begin(&mut self, id: u32, path: &str, len: u64) {
        self.varint(u64::from(id));
        self.string(path.as_bytes());
        self.varint(len)
    }

    fn artifact_chunk(&mut self, id: u32, offset: u64, data: &[u8]) {
        self.varint(u64::from(id));
        self.varint(offset);
        self.string(data)
    }

    fn artifact_end(&mut self, id: u32, crc32: u32) {
        self.varint(u64::from(id));
        self.varint(u64::from(crc32))
    }

    fn dropped(&mut self, count: u32) {
        self.varint(u64::from(count))
    }

    /// A `Param` or a `Tag`: the same fields under two wire tags.
    fn key_value(&mut self, key: &str, value: &str) {
        self.string(key.as_bytes());
        self.string(value.as_bytes())
    }

    /// A `Record::Metric` (the C ABI sizes and encodes metrics with it).
    pub fn put_metric(&mut self, m: &Metric<'_>) {
        // Hosts: a scalar metric at the start of the buffer (a record's
        // writer holds one record) in one bounds check, for every caller:
        // `Producer::push`, `wire::encode`, `encode_metric`.
        #[cfg(not(target_os = "none"))]
        if self.len == 0 {
            if let Some(n) = scalar_metric(m, &mut *self.buf) {
                self.len = n;
                return;
            }
        }
        self.tag(tag::METRIC);
        self.tag(metric_wire::head(m));
        match m.name {
            Name::Text(text) => self.string(text.as_bytes()),
            Name::Id(id) => self.varint(u64::from(id)),
        }
        match m.value {
            // Zigzag, as postcard encodes signed integers.
            Value::I64(v) => self.varint(((v << 1) ^ (v >> 63)) as u64),
            Value::F64(v) => self.word8(v.to_le_bytes()),
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

/// Copies `src` into `dst` (same lengths). Hosts call `memcpy`; devices copy
/// byte by byte, so that a firmware links no `memcpy` for names and strings
/// of a few bytes (newlib-nano's is 308 B).
#[inline(always)]
fn copy(dst: &mut [u8], src: &[u8]) {
    #[cfg(feature = "std")]
    dst.copy_from_slice(src);
    #[cfg(not(feature = "std"))]
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s;
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
        // The general writer too, which hosts bypass for scalar metrics.
        if let Record::Metric(m) = r {
            let n = write(&mut buf, |o| o.put_metric(m)).expect("encodes");
            prop_assert_eq!(&buf[..n], &want[..]);
            prop_assert_eq!(metric_len(m), want.len());
        }
        // Every shorter buffer is refused as too small, never overrun.
        for short in 0..n {
            prop_assert_eq!(record(r, &mut buf[..short]), Err(WireError::BufferFull));
        }
        Ok(())
    }

    /// Varints at every length boundary (each byte count's first and last
    /// value, 0 and u64::MAX), which random `u64`s almost never hit: the
    /// same bytes as postcard, as a step, a time, a zigzagged `i64` and a
    /// length field.
    #[test]
    fn varints_at_every_length_boundary_encode_as_postcard_does() {
        let mut values = std::vec![0u64, 1, u64::MAX];
        for k in 1..=9 {
            values.extend([(1u64 << (7 * k)) - 1, 1u64 << (7 * k)]);
        }
        for v in values {
            let metric = Metric {
                name: Name::Text("m"),
                value: Value::I64(v as i64),
                step: Some(v),
                time_ms: Some(v),
            };
            same_as_postcard(&Record::Metric(metric)).unwrap();
            same_as_postcard(&Record::ArtifactBegin {
                id: v as u32,
                path: "p",
                len: v,
            })
            .unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 2048 }))]

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
