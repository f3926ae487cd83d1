//! Checking an encoded record without decoding it, and small varint writers.
//!
//! The drain must refuse a malformed ring record (one bad record would make
//! the decoder drop the whole frame) and must find a metric's name to intern
//! it. Doing that with [`crate::wire::decode`] links serde's whole decoder for
//! [`crate::Record`] into every firmware that drains (about 3 KiB of flash on
//! a Cortex-M4). This walker accepts exactly the byte strings that `decode`
//! accepts in full (a test checks the two against each other) and is a
//! fraction of the size.
//!
//! It follows postcard's rules: enum tags and integers other than `u8` are
//! LEB128 varints that may not overflow their type, `i64` is zigzag-encoded,
//! `f64` is 8 little-endian bytes, strings and byte strings are a `usize`
//! varint length then the bytes, strings must be UTF-8, an `Option` is a byte
//! 0 or 1 then the value.

use crate::metric_wire::{HAS_STEP, HAS_TIME, KIND_MASK, KNOWN_BITS, NAME_IS_TEXT};

/// Record tags (variant indices of [`crate::Record`]).
pub(crate) const TAG_METRIC: u8 = 0;
pub(crate) const TAG_NAME_DEF: u8 = 1;
const TAG_RUN_START: u64 = 2;
const TAG_RUN_END: u64 = 3;
const TAG_ARTIFACT_BEGIN: u64 = 4;
const TAG_ARTIFACT_CHUNK: u64 = 5;
const TAG_ARTIFACT_END: u64 = 6;
const TAG_ARTIFACT_FILE: u64 = 7;
const TAG_DROPPED: u64 = 8;
const TAG_PARAM: u64 = 9;
const TAG_TAG: u64 = 10;
/// Variants of [`crate::RunStatus`].
const RUN_STATUSES: u64 = 3;
/// Bytes per list element.
const LIST_ELEM: usize = 8;

/// What a well-formed record is, as far as framing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A metric named by text: its head byte is `bytes[head]` (1, unless
    /// the tag before it is an overlong varint, which postcard accepts), the
    /// name's length follows it, the name is `bytes[name.0..name.1]`, and
    /// the fields after it start at `name.1`.
    TextMetric { head: usize, name: (usize, usize) },
    /// A metric named by a frame-local id.
    IdMetric,
    /// A name definition.
    NameDef,
    /// Any other record.
    Other,
}

/// Checks that `bytes` is exactly one well-formed record.
pub(crate) fn check(bytes: &[u8]) -> Option<Shape> {
    let mut r = Reader {
        bytes,
        pos: 0,
        bad: false,
    };
    let shape = r.record();
    (!r.bad && r.pos == bytes.len()).then_some(shape)
}

/// Whether `bytes` may go into a ring whose consumer trusts its records (a
/// ring made with [`crate::Ring::split`]): one well-formed record, of a kind
/// rings carry (a metric named by text, or a non-metric record: frame-local
/// ids and name definitions belong to frames), that [`shape`] reads as
/// [`check`] does. Overlong varints decode (postcard accepts them), and
/// `shape` reads any other kind's overlong tag as "another record", which is
/// framed as it is and decodes as sent; but an overlong metric tag would hide
/// its name from interning, and an overlong `NameDef` tag, framed as an
/// ordinary record, would shift the numbering of every record after it in
/// its frame.
pub(crate) fn trusted_record_ok(bytes: &[u8]) -> bool {
    match check(bytes) {
        Some(found @ (Shape::TextMetric { .. } | Shape::Other)) => shape(bytes) == Some(found),
        _ => false,
    }
}

/// The shape of a record written by this process's own encoder (a ring made
/// with [`crate::Ring::split`]), found without checking the rest of it: only
/// the tag, the metric head and the name's length are read. Never panics and
/// never reads out of `bytes`; what it does not check, `wire::encode` and the
/// producer's check of `push_with` closures guarantee (see `ring`).
pub(crate) fn shape(bytes: &[u8]) -> Option<Shape> {
    match *bytes {
        [TAG_METRIC, head, ..] if head & NAME_IS_TEXT != 0 => {
            // The name's length, a `usize` varint, read in `usize` (a 64-bit
            // read links a shift routine into 32-bit firmware).
            let mut len = 0usize;
            let mut shift = 0;
            let mut at = 2;
            loop {
                let b = *bytes.get(at)?;
                at += 1;
                len |= usize::from(b & 0x7F) << shift;
                if b & 0x80 == 0 {
                    break;
                }
                shift += 7;
                if shift >= usize::BITS {
                    return None;
                }
            }
            let end = at.checked_add(len).filter(|&end| end <= bytes.len())?;
            Some(Shape::TextMetric {
                head: 1,
                name: (at, end),
            })
        }
        [TAG_METRIC, ..] => Some(Shape::IdMetric),
        [TAG_NAME_DEF, ..] => Some(Shape::NameDef),
        [_, ..] => Some(Shape::Other),
        [] => None,
    }
}

/// Walks the bytes, noting the first problem in `bad` instead of returning
/// early from every field: one check at the end keeps the code small. After
/// a problem the values read are meaningless, and `check` discards them.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    bad: bool,
}

impl Reader<'_> {
    fn fail(&mut self) {
        self.bad = true;
    }

    fn byte(&mut self) -> u8 {
        match self.bytes.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => {
                self.fail();
                0
            }
        }
    }

    /// Skips `n` bytes, returning where they are.
    fn skip(&mut self, n: usize) -> (usize, usize) {
        let start = self.pos;
        if n > self.bytes.len() - start {
            self.fail();
            return (start, start);
        }
        self.pos = start + n;
        (start, self.pos)
    }

    /// A varint of a `bits`-wide unsigned integer, refusing overflow as postcard does.
    fn varint(&mut self, bits: u32) -> u64 {
        let max_len = bits.div_ceil(7);
        let mut out = 0u64;
        for i in 0..max_len {
            let b = self.byte();
            out |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                if i + 1 == max_len && u16::from(b) >= 1 << (bits % 7) {
                    self.fail();
                }
                return out;
            }
        }
        self.fail();
        out
    }

    fn len(&mut self) -> usize {
        // Lengths are `usize` varints, so this never truncates.
        self.varint(usize::BITS) as usize
    }

    fn str(&mut self) -> (usize, usize) {
        let n = self.len();
        let (start, end) = self.skip(n);
        if !utf8_ok(&self.bytes[start..end]) {
            self.fail();
        }
        (start, end)
    }

    fn byte_string(&mut self) -> usize {
        let n = self.len();
        self.skip(n);
        n
    }

    fn opt_u64(&mut self) {
        match self.byte() {
            0 => {}
            1 => {
                self.varint(64);
            }
            _ => self.fail(),
        }
    }

    fn record(&mut self) -> Shape {
        let tag = self.varint(32);
        match tag {
            t if t == u64::from(TAG_METRIC) => return self.metric(),
            t if t == u64::from(TAG_NAME_DEF) => {
                self.varint(16);
                self.str();
                return Shape::NameDef;
            }
            TAG_RUN_START => {
                self.str();
                self.str();
                self.opt_u64();
            }
            TAG_RUN_END => {
                if self.varint(32) >= RUN_STATUSES {
                    self.fail();
                }
                self.opt_u64();
            }
            TAG_ARTIFACT_BEGIN => {
                self.varint(32);
                self.str();
                self.varint(64);
            }
            TAG_ARTIFACT_CHUNK => {
                self.varint(32);
                self.varint(64);
                self.byte_string();
            }
            TAG_ARTIFACT_END => {
                self.varint(32);
                self.varint(32);
            }
            TAG_ARTIFACT_FILE => {
                self.str();
                self.str();
                self.varint(64);
                self.varint(32);
            }
            TAG_DROPPED => {
                self.varint(32);
            }
            TAG_PARAM | TAG_TAG => {
                self.str();
                self.str();
            }
            _ => self.fail(),
        }
        Shape::Other
    }

    fn metric(&mut self) -> Shape {
        let head_at = self.pos;
        let head = self.byte();
        if head & !KNOWN_BITS != 0 {
            self.fail();
        }
        let shape = if head & NAME_IS_TEXT != 0 {
            Shape::TextMetric {
                head: head_at,
                name: self.str(),
            }
        } else {
            self.varint(16);
            Shape::IdMetric
        };
        match head & KIND_MASK {
            0 => {
                self.varint(64);
            }
            1 => {
                self.skip(8);
            }
            2 => {
                self.str();
            }
            3 | 4 => {
                if self.byte_string() % LIST_ELEM != 0 {
                    self.fail();
                }
            }
            _ => self.fail(),
        }
        if head & HAS_STEP != 0 {
            self.varint(64);
        }
        if head & HAS_TIME != 0 {
            self.varint(64);
        }
        shape
    }
}

/// Whether `b` is UTF-8, as `core::str::from_utf8` decides (RFC 3629: no
/// overlong forms, no surrogates, nothing above U+10FFFF). Written out
/// because core's fast validator costs a few hundred bytes of flash. Each
/// sequence is decoded to its code point, which is then checked against the
/// three rules in one place: fewer branches (so less flash on a Cortex-M4)
/// than tracking the range each continuation byte must be in (the C API's
/// device text check calls it too).
pub(crate) fn utf8_ok(b: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&lead) = b.get(i) {
        i += 1;
        if lead < 0x80 {
            continue;
        }
        // C2..DF lead two bytes, E0..EF three, F0..F4 four (C0, C1 and
        // F5.. can only start overlong or too large forms).
        if !(0xC2..=0xF4).contains(&lead) {
            return false;
        }
        // Continuation bytes: one less than the lead's leading ones.
        let more = lead.leading_ones() - 1;
        let mut cp = u32::from(lead) & (0x3F >> more);
        let end = i + more as usize;
        while i < end {
            match b.get(i) {
                Some(&c) if c & 0xC0 == 0x80 => cp = cp << 6 | u32::from(c & 0x3F),
                _ => return false,
            }
            i += 1;
        }
        // The shortest form (U+0800 for three bytes, U+10000 for four; two
        // are covered by the lead's range), no surrogate, at most U+10FFFF.
        if cp < 1 << (5 * more + 1) || cp >> 11 == 0x1B || cp > 0x10_FFFF {
            return false;
        }
    }
    true
}

/// Most bytes a varint `u64` takes.
#[cfg(not(target_os = "none"))]
pub(crate) const MAX_VARINT_LEN: usize = 10;

/// Writes `v` as a varint at the start of `out`; returns its length, or
/// `None` when `out` is too short. Hosts' metric encoder writes with it;
/// devices use the encoders' own writer (and frames theirs).
#[cfg(not(target_os = "none"))]
pub(crate) fn put_varint(mut v: u64, out: &mut [u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let slot = out.get_mut(i)?;
        i += 1;
        if v < 0x80 {
            *slot = v as u8;
            return Some(i);
        }
        *slot = (v as u8) | 0x80;
        v >>= 7;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;
    use crate::record::{Bytes, Metric, Name, Record, RunStart, RunStatus, Value};
    use crate::{wire, F64List, I64List};

    fn decodes_fully(bytes: &[u8]) -> bool {
        matches!(wire::decode(bytes), Ok((_, [])))
    }

    fn encode(record: &Record<'_>) -> Vec<u8> {
        let mut buf = [0u8; 1024];
        let n = wire::encode(record, &mut buf).expect("encodes");
        buf[..n].to_vec()
    }

    /// One record of every kind, with fields that exercise every varint length.
    fn samples() -> Vec<Vec<u8>> {
        let f = [1.5, -0.0, f64::NAN];
        let i = [0i64, -1, i64::MIN];
        let metric = |name, value, step, time_ms| {
            Record::Metric(Metric {
                name,
                value,
                step,
                time_ms,
            })
        };
        [
            metric(Name::Text("loss"), Value::F64(0.25), None, None),
            metric(Name::Text("é"), Value::I64(-300), Some(1 << 40), Some(7)),
            metric(Name::Id(300), Value::Str("text"), None, Some(u64::MAX)),
            metric(
                Name::Text(""),
                Value::F64List(F64List::new(&f)),
                Some(0),
                None,
            ),
            metric(Name::Id(0), Value::I64List(I64List::new(&i)), None, None),
            Record::NameDef {
                id: u16::MAX,
                name: "n",
            },
            Record::RunStart(RunStart {
                run_id: "r",
                experiment: "e",
                time_ms: Some(1_700_000_000_000),
            }),
            Record::RunEnd {
                status: RunStatus::Killed,
                time_ms: None,
            },
            Record::ArtifactBegin {
                id: u32::MAX,
                path: "a/b",
                len: 3,
            },
            Record::ArtifactChunk {
                id: 1,
                offset: 200,
                data: Bytes(&[0, 1, 2]),
            },
            Record::ArtifactEnd {
                id: 1,
                crc32: 0xDEAD_BEEF,
            },
            Record::ArtifactFile {
                path: "p",
                file: "f",
                len: 9,
                crc32: 1,
            },
            Record::Dropped { count: 1 << 20 },
            Record::Param {
                key: "lr",
                value: "0.01",
            },
            Record::Tag {
                key: "model",
                value: "résnet",
            },
        ]
        .iter()
        .map(encode)
        .collect()
    }

    #[test]
    fn accepts_every_kind_of_record_and_finds_text_names() {
        for bytes in samples() {
            let shape = check(&bytes).expect("well-formed");
            if let Shape::TextMetric { name, .. } = shape {
                let Ok((Record::Metric(m), [])) = wire::decode(&bytes) else {
                    panic!("not a metric");
                };
                assert_eq!(
                    m.name,
                    Name::Text(core::str::from_utf8(&bytes[name.0..name.1]).unwrap())
                );
            }
        }
    }

    /// The drain of an in-process ring reads only the shape: it must find
    /// the same shape and name as the full check on every well-formed record.
    #[test]
    fn shape_agrees_with_check_on_well_formed_records() {
        for bytes in samples() {
            assert_eq!(shape(&bytes), check(&bytes), "{bytes:?}");
        }
    }

    #[test]
    fn varints_round_trip() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut buf = [0u8; MAX_VARINT_LEN];
            let n = put_varint(v, &mut buf).unwrap();
            assert_eq!(postcard::from_bytes::<u64>(&buf[..n]).unwrap(), v);
            let mut r = Reader {
                bytes: &buf[..n],
                pos: 0,
                bad: false,
            };
            assert_eq!(r.varint(64), v);
            assert!(!r.bad);
        }
        assert_eq!(put_varint(300, &mut [0u8; 1]), None);
    }

    #[test]
    #[cfg_attr(miri, ignore)] // exhaustive and safe code only: natively
    fn utf8_check_matches_core_on_every_short_string() {
        let agree = |b: &[u8]| assert_eq!(utf8_ok(b), core::str::from_utf8(b).is_ok(), "{b:x?}");
        agree(&[]);
        for x in 0..=0x00FF_FFFF_u32 {
            let [a, b, c, _] = x.to_le_bytes();
            agree(&[a, b, c]);
            if x <= 0xFFFF {
                agree(&[a, b]);
                if x <= 0xFF {
                    agree(&[a]);
                }
            }
        }
        // Four-byte leads against the edges of every continuation range.
        let edges = [0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF];
        for lead in 0xE0..=0xFFu8 {
            for &b in &edges {
                for &c in &edges {
                    for &d in &edges {
                        agree(&[lead, b, c, d]);
                        agree(&[lead, b, c, d, b'x']);
                    }
                }
            }
        }
    }

    /// Lists of every byte length, and every head byte, next to the decoder.
    #[test]
    #[cfg_attr(miri, ignore)] // exhaustive and safe code only: natively
    fn agrees_with_the_decoder_on_lists_and_heads() {
        for head in 0..=255u8 {
            for len in 0..20u8 {
                let mut bytes = std::vec![TAG_METRIC, head, 1, b'x', len];
                bytes.extend(core::iter::repeat_n(7u8, usize::from(len)));
                for extra in [&[][..], &[5], &[5, 6]] {
                    let mut b = bytes.clone();
                    b.extend_from_slice(extra);
                    assert_eq!(check(&b).is_some(), decodes_fully(&b), "{b:?}");
                }
            }
        }
    }

    /// Every kind of record, framed (names interned by hand) and decoded:
    /// the decoder gets back exactly what was encoded.
    #[test]
    fn frames_built_without_decoding_decode_to_the_same_records() {
        use crate::frame::{FrameBuilder, FrameDecoder};
        use crate::Event;

        let records: Vec<Vec<u8>> = samples()
            .into_iter()
            .filter(|b| !matches!(check(b), Some(Shape::IdMetric | Shape::NameDef)))
            .collect();
        let mut scratch = [0u8; 512];
        let mut frame = FrameBuilder::new(&mut scratch);
        // Twice, so that the second round reuses the names defined in the first.
        for (seq, bytes) in records.iter().chain(records.iter()).enumerate() {
            frame.add(seq as u64 + 5, bytes).expect("fits");
        }
        let payload = frame.finish().to_vec();
        let mut stream = [0u8; 600];
        let mut w = &mut stream[..];
        let n = crate::cobs::encode_to(&payload, &mut w).unwrap();
        let stream = &stream[..n];
        let mut got = Vec::new();
        FrameDecoder::new().feed(stream, |e| match e {
            Event::Record { seq, record } => got.push((seq, encode(&record))),
            other => panic!("{other:?}"),
        });
        let want: Vec<(u64, Vec<u8>)> = records
            .iter()
            .chain(records.iter())
            .enumerate()
            .map(|(i, b)| (i as u64 + 5, b.clone()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn frames_refuse_ids_definitions_and_garbage() {
        use crate::frame::{AddError, FrameBuilder};
        let mut scratch = [0u8; 256];
        let mut frame = FrameBuilder::new(&mut scratch);
        for bytes in samples() {
            if matches!(check(&bytes), Some(Shape::IdMetric | Shape::NameDef)) {
                assert_eq!(frame.add(0, &bytes), Err(AddError::Malformed));
            }
        }
        assert_eq!(frame.add(0, &[0xFF]), Err(AddError::Malformed));
        assert!(frame.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 4096 }))]

        /// Mutated and truncated encodings: the walker and the decoder agree.
        #[test]
        fn agrees_with_the_decoder_on_mutations(
            which in 0usize..13,
            edits in proptest::collection::vec(
                (any::<usize>(), prop_oneof![any::<u8>(), 0u8..10, 0x7Eu8..0x82, Just(0xFF)]),
                0..4,
            ),
            cut in any::<usize>(),
            cut_it in any::<bool>(),
        ) {
            let mut bytes = samples().swap_remove(which);
            for (at, b) in edits {
                let at = at % bytes.len();
                bytes[at] = b;
            }
            if cut_it {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            prop_assert_eq!(check(&bytes).is_some(), decodes_fully(&bytes));
        }

        /// `shape` reads unchecked bytes without panicking, and any name it
        /// finds lies inside them.
        #[test]
        fn shape_stays_in_bounds_on_noise(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Some(Shape::TextMetric { name, .. }) = shape(&bytes) {
                prop_assert!(name.0 <= name.1 && name.1 <= bytes.len());
            }
        }

        /// Arbitrary bytes: the walker and the decoder agree.
        #[test]
        fn agrees_with_the_decoder_on_noise(
            tag in 0u8..10,
            rest in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut bytes = std::vec![tag];
            bytes.extend_from_slice(&rest);
            prop_assert_eq!(check(&bytes).is_some(), decodes_fully(&bytes));
        }
    }
}
