//! Byte-exact vectors: the encoding of every record kind and of a whole frame.
//!
//! These bytes are the wire format (WIRE_VERSION 2). A change that breaks one
//! of them breaks every reader in the field: bump the version instead.
//! The frame vector was computed independently (Python: `zlib.crc32` and a
//! separate COBS encoder), not copied from this crate's output.

use runlog_core::frame::{drain, FrameDecoder};
use runlog_core::wire::{decode, encode};
use runlog_core::{
    Bytes, Event, F64List, I64List, Metric, Name, Record, Ring, RunStart, RunStatus, Value,
    WIRE_VERSION,
};

/// Encodes `record`, checks the bytes, and checks they decode back to the same record.
fn pin(record: Record<'_>, expected: &[u8]) {
    let mut buf = [0u8; 256];
    let n = encode(&record, &mut buf).expect("encodes");
    assert_eq!(&buf[..n], expected, "encoding of {record:?}");
    let (back, rest) = decode(expected).expect("decodes");
    assert!(rest.is_empty(), "trailing bytes after {record:?}");
    // Compare encodings, so NaN payloads compare bit for bit.
    let mut again = [0u8; 256];
    let m = encode(&back, &mut again).unwrap();
    assert_eq!(&again[..m], expected);
}

fn metric(name: Name<'static>, value: Value<'static>) -> Record<'static> {
    Record::Metric(Metric {
        name,
        value,
        step: None,
        time_ms: None,
    })
}

#[test]
fn wire_version_is_two() {
    // 2 added Param (tag 9) and Tag (tag 10).
    assert_eq!(WIRE_VERSION, 2);
}

#[test]
fn metric_f64_with_interned_name_is_11_bytes() {
    // tag 0 (Metric), head 0x01 (kind F64, name is an id), id 3, f64 LE.
    pin(
        metric(Name::Id(3), Value::F64(0.5)),
        &[0x00, 0x01, 0x03, 0, 0, 0, 0, 0, 0, 0xE0, 0x3F],
    );
}

#[test]
fn metric_f64_nan_and_infinity_keep_their_bits() {
    pin(
        metric(Name::Id(0), Value::F64(f64::NAN)),
        &[0x00, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0xF8, 0x7F],
    );
    pin(
        metric(
            Name::Id(0),
            Value::F64(f64::from_bits(0xFFF0_0000_0000_0001)),
        ),
        &[0x00, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 0xF0, 0xFF],
    );
    pin(
        metric(Name::Id(0), Value::F64(f64::NEG_INFINITY)),
        &[0x00, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0xF0, 0xFF],
    );
}

#[test]
fn metric_i64_with_text_name_step_and_time() {
    // head 0x38: kind I64 (0) | name is text (0x08) | step (0x10) | time (0x20).
    // -3 is zigzag 5; 1000 is varint E8 07.
    pin(
        Record::Metric(Metric {
            name: Name::Text("loss"),
            value: Value::I64(-3),
            step: Some(7),
            time_ms: Some(1000),
        }),
        &[
            0x00, 0x38, 0x04, b'l', b'o', b's', b's', 0x05, 0x07, 0xE8, 0x07,
        ],
    );
}

#[test]
fn metric_i64_extremes() {
    // i64::MIN is zigzag u64::MAX: ten varint bytes.
    pin(
        metric(Name::Id(1), Value::I64(i64::MIN)),
        &[
            0x00, 0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,
        ],
    );
}

#[test]
fn metric_name_id_is_a_varint() {
    pin(
        metric(Name::Id(300), Value::I64(0)),
        &[0x00, 0x00, 0xAC, 0x02, 0x00],
    );
}

#[test]
fn metric_string() {
    // head 0x0A: kind Str (2) | name is text.
    pin(
        metric(Name::Text("t"), Value::Str("ab")),
        &[0x00, 0x0A, 0x01, b't', 0x02, b'a', b'b'],
    );
}

#[test]
fn metric_f64_list_is_length_then_le_bytes() {
    // head 0x03: kind F64List, name id 0; byte length 16; 1.0 and -2.0 LE.
    pin(
        metric(Name::Id(0), Value::F64List(F64List::new(&[1.0, -2.0]))),
        &[
            0x00, 0x03, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0, 0, 0, 0, 0, 0, 0, 0xC0,
        ],
    );
    // The decoder borrows the bytes, the encoder writes values: same bytes.
    let le = [0u8, 0, 0, 0, 0, 0, 0xF0, 0x3F];
    let from_bytes = F64List::from_le_bytes(&le).unwrap();
    assert_eq!(from_bytes, F64List::new(&[1.0]));
    assert!(F64List::from_le_bytes(&le[..7]).is_none());
}

#[test]
fn metric_i64_list_with_step() {
    // head 0x14: kind I64List (4) | step.
    pin(
        Record::Metric(Metric {
            name: Name::Id(2),
            value: Value::I64List(I64List::new(&[1, -1])),
            step: Some(300),
            time_ms: None,
        }),
        &[
            0x00, 0x14, 0x02, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xFF, 0xFF, 0xAC, 0x02,
        ],
    );
}

#[test]
fn empty_list() {
    pin(
        metric(Name::Id(0), Value::F64List(F64List::new(&[]))),
        &[0x00, 0x03, 0x00, 0x00],
    );
}

#[test]
fn name_def() {
    pin(
        Record::NameDef {
            id: 300,
            name: "abc",
        },
        &[0x01, 0xAC, 0x02, 0x03, b'a', b'b', b'c'],
    );
}

#[test]
fn run_start() {
    pin(
        Record::RunStart(RunStart {
            run_id: "r1",
            experiment: "e",
            time_ms: None,
        }),
        &[0x02, 0x02, b'r', b'1', 0x01, b'e', 0x00],
    );
    pin(
        Record::RunStart(RunStart {
            run_id: "",
            experiment: "",
            time_ms: Some(1_700_000_000_000),
        }),
        &[0x02, 0x00, 0x00, 0x01, 0x80, 0xD0, 0x95, 0xFF, 0xBC, 0x31],
    );
}

#[test]
fn run_end_each_status() {
    pin(
        Record::RunEnd {
            status: RunStatus::Finished,
            time_ms: None,
        },
        &[0x03, 0x00, 0x00],
    );
    pin(
        Record::RunEnd {
            status: RunStatus::Failed,
            time_ms: Some(2),
        },
        &[0x03, 0x01, 0x01, 0x02],
    );
    pin(
        Record::RunEnd {
            status: RunStatus::Killed,
            time_ms: None,
        },
        &[0x03, 0x02, 0x00],
    );
}

#[test]
fn artifact_records() {
    pin(
        Record::ArtifactBegin {
            id: 1,
            path: "a/b",
            len: 70_000,
        },
        &[0x04, 0x01, 0x03, b'a', b'/', b'b', 0xF0, 0xA2, 0x04],
    );
    pin(
        Record::ArtifactChunk {
            id: 1,
            offset: 128,
            data: Bytes(&[0, 1, 2]),
        },
        &[0x05, 0x01, 0x80, 0x01, 0x03, 0x00, 0x01, 0x02],
    );
    pin(
        Record::ArtifactEnd {
            id: 1,
            crc32: 0xCBF4_3926,
        },
        &[0x06, 0x01, 0xA6, 0xF2, 0xD0, 0xDF, 0x0C],
    );
    pin(
        Record::ArtifactFile {
            path: "m.bin",
            file: "a1",
            len: 3,
            crc32: 0,
        },
        &[
            0x07, 0x05, b'm', b'.', b'b', b'i', b'n', 0x02, b'a', b'1', 0x03, 0x00,
        ],
    );
}

#[test]
fn dropped_notice() {
    pin(Record::Dropped { count: 300 }, &[0x08, 0xAC, 0x02]);
}

#[test]
fn param_record() {
    // tag 9, key "lr", value "0.01".
    pin(
        Record::Param {
            key: "lr",
            value: "0.01",
        },
        &[0x09, 0x02, b'l', b'r', 0x04, b'0', b'.', b'0', b'1'],
    );
    // An empty value is a value (keys are checked by the C calls, not the wire).
    pin(
        Record::Param {
            key: "k",
            value: "",
        },
        &[0x09, 0x01, b'k', 0x00],
    );
}

#[test]
fn tag_record() {
    // tag 10, key "model", value "résnet" (UTF-8, 7 bytes).
    pin(
        Record::Tag {
            key: "model",
            value: "résnet",
        },
        &[
            0x0A, 0x05, b'm', b'o', b'd', b'e', b'l', 0x07, b'r', 0xC3, 0xA9, b's', b'n', b'e',
            b't',
        ],
    );
}

#[test]
fn unknown_tags_and_flags_are_refused() {
    // Record tag 11 does not exist.
    assert!(decode(&[0x0B, 0x00]).is_err());
    // A param whose value is not UTF-8, and one cut short.
    assert!(decode(&[0x09, 0x01, b'k', 0x01, 0xFF]).is_err());
    assert!(decode(&[0x0A, 0x01, b'k', 0x05, b'a']).is_err());
    // Metric head with bit 6 set.
    assert!(decode(&[0x00, 0x41, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    // Metric value kind 5 does not exist.
    assert!(decode(&[0x00, 0x05, 0x00, 0x00]).is_err());
    // A list whose byte length is not a multiple of 8.
    assert!(decode(&[0x00, 0x03, 0x00, 0x01, 0xAA]).is_err());
    // A name that is not UTF-8.
    assert!(decode(&[0x00, 0x08, 0x01, 0xFF, 0x00]).is_err());
    // Truncated f64.
    assert!(decode(&[0x00, 0x01, 0x00, 0, 0, 0]).is_err());
    // RunStatus 3 does not exist.
    assert!(decode(&[0x03, 0x03, 0x00]).is_err());
}

/// The framed stream of a small run, as `drain` writes it.
///
/// Payload: `RL` 02, first_seq 0, RunStart, NameDef 0 "loss", two metrics
/// using id 0, NameDef 1 "acc", a metric using id 1, Param lr=0.01,
/// Tag model=cnn, RunEnd, CRC-32 LE; then COBS and a 0x00 delimiter.
const FRAME: [u8; 80] = [
    0x04, 0x52, 0x4c, 0x02, 0x07, 0x02, 0x02, 0x72, 0x31, 0x01, 0x65, 0x02, 0x01, 0x06, 0x04, 0x6c,
    0x6f, 0x73, 0x73, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x03, 0xe0, 0x3f, 0x02, 0x11,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x0a, 0xd0, 0x3f, 0x02, 0x01, 0x01, 0x03, 0x61, 0x63, 0x63,
    0x01, 0x18, 0x01, 0x06, 0x09, 0x02, 0x6c, 0x72, 0x04, 0x30, 0x2e, 0x30, 0x31, 0x0a, 0x05, 0x6d,
    0x6f, 0x64, 0x65, 0x6c, 0x03, 0x63, 0x6e, 0x6e, 0x03, 0x01, 0x05, 0x5a, 0xa4, 0xf2, 0xfb, 0x00,
];

/// The same run as version 1 wrote it (without the param and tag): what an
/// old producer sends. This build refuses it, naming both versions.
const FRAME_V1: [u8; 60] = [
    0x04, 0x52, 0x4c, 0x01, 0x07, 0x02, 0x02, 0x72, 0x31, 0x01, 0x65, 0x02, 0x01, 0x06, 0x04, 0x6c,
    0x6f, 0x73, 0x73, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x03, 0xe0, 0x3f, 0x02, 0x11,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x0a, 0xd0, 0x3f, 0x02, 0x01, 0x01, 0x03, 0x61, 0x63, 0x63,
    0x01, 0x04, 0x01, 0x06, 0x03, 0x01, 0x05, 0x83, 0x87, 0x0b, 0x70, 0x00,
];

#[test]
fn version_one_frames_are_refused_naming_both_versions() {
    let mut events = Vec::new();
    let mut decoder = FrameDecoder::new();
    decoder.feed(&FRAME_V1, |event| events.push(format!("{event:?}")));
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains("UnsupportedVersion(1)"), "{events:?}");
    let msg = runlog_core::FrameError::UnsupportedVersion(1).to_string();
    assert_eq!(
        msg,
        "wire version 1 is not supported (this build reads version 2)"
    );
}

fn small_run() -> [Record<'static>; 7] {
    [
        Record::RunStart(RunStart {
            run_id: "r1",
            experiment: "e",
            time_ms: None,
        }),
        Record::Metric(Metric {
            name: Name::Text("loss"),
            value: Value::F64(0.5),
            step: None,
            time_ms: None,
        }),
        Record::Metric(Metric {
            name: Name::Text("loss"),
            value: Value::F64(0.25),
            step: Some(2),
            time_ms: None,
        }),
        Record::Metric(Metric {
            name: Name::Text("acc"),
            value: Value::I64(3),
            step: None,
            time_ms: None,
        }),
        Record::Param {
            key: "lr",
            value: "0.01",
        },
        Record::Tag {
            key: "model",
            value: "cnn",
        },
        Record::RunEnd {
            status: RunStatus::Finished,
            time_ms: None,
        },
    ]
}

#[test]
fn whole_frame_is_pinned() {
    let mut storage = vec![0u8; 4096];
    let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
    for (i, record) in small_run().iter().enumerate() {
        assert_eq!(producer.push(record), Ok(i as u64));
    }
    let mut scratch = [0u8; 4096];
    let mut out = Vec::new();
    let stats = drain(&mut consumer, &mut scratch, &mut out, usize::MAX).unwrap();
    assert_eq!(out, FRAME);
    assert_eq!((stats.frames, stats.records, stats.bytes), (1, 7, 80));
    // Draining acknowledged every record.
    assert_eq!(producer.acked(), 7);
}

#[test]
fn pinned_frame_decodes_with_names_resolved() {
    let mut seen = Vec::new();
    let mut decoder = FrameDecoder::new();
    decoder.feed(&FRAME, |event| match event {
        Event::Record { seq, record } => {
            let mut buf = [0u8; 64];
            let n = encode(&record, &mut buf).unwrap();
            seen.push((seq, buf[..n].to_vec()));
        }
        other => panic!("unexpected {other:?}"),
    });
    let expected: Vec<(u64, Vec<u8>)> = small_run()
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut buf = [0u8; 64];
            let n = encode(r, &mut buf).unwrap();
            (i as u64, buf[..n].to_vec())
        })
        .collect();
    assert_eq!(seen, expected);
    let stats = decoder.stats();
    assert_eq!((stats.frames, stats.records, stats.frames_lost), (1, 7, 0));
}
