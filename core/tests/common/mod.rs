//! Helpers shared by the integration tests: an owned record model that
//! proptest can generate, and comparisons that treat NaN bit patterns as values.
#![allow(dead_code)]

use proptest::prelude::*;
use runlog_core::wire::encode;
use runlog_core::{Bytes, F64List, I64List, Metric, Name, Record, RunStart, RunStatus, Value};

/// An owned metric value.
#[derive(Debug, Clone)]
pub enum OwnedValue {
    I64(i64),
    F64(f64),
    Str(String),
    F64List(Vec<f64>),
    I64List(Vec<i64>),
}

/// An owned record, as a ring carries it (names are text).
#[derive(Debug, Clone)]
pub enum Owned {
    Metric {
        name: String,
        value: OwnedValue,
        step: Option<u64>,
        time_ms: Option<u64>,
    },
    RunStart {
        run_id: String,
        experiment: String,
        time_ms: Option<u64>,
    },
    RunEnd {
        status: RunStatus,
        time_ms: Option<u64>,
    },
    ArtifactBegin {
        id: u32,
        path: String,
        len: u64,
    },
    ArtifactChunk {
        id: u32,
        offset: u64,
        data: Vec<u8>,
    },
    ArtifactEnd {
        id: u32,
        crc32: u32,
    },
    ArtifactFile {
        path: String,
        file: String,
        len: u64,
        crc32: u32,
    },
    Dropped {
        count: u32,
    },
}

impl Owned {
    pub fn as_record(&self) -> Record<'_> {
        match self {
            Owned::Metric {
                name,
                value,
                step,
                time_ms,
            } => Record::Metric(Metric {
                name: Name::Text(name),
                value: match value {
                    OwnedValue::I64(v) => Value::I64(*v),
                    OwnedValue::F64(v) => Value::F64(*v),
                    OwnedValue::Str(v) => Value::Str(v),
                    OwnedValue::F64List(v) => Value::F64List(F64List::new(v)),
                    OwnedValue::I64List(v) => Value::I64List(I64List::new(v)),
                },
                step: *step,
                time_ms: *time_ms,
            }),
            Owned::RunStart {
                run_id,
                experiment,
                time_ms,
            } => Record::RunStart(RunStart {
                run_id,
                experiment,
                time_ms: *time_ms,
            }),
            Owned::RunEnd { status, time_ms } => Record::RunEnd {
                status: *status,
                time_ms: *time_ms,
            },
            Owned::ArtifactBegin { id, path, len } => Record::ArtifactBegin {
                id: *id,
                path,
                len: *len,
            },
            Owned::ArtifactChunk { id, offset, data } => Record::ArtifactChunk {
                id: *id,
                offset: *offset,
                data: Bytes(data),
            },
            Owned::ArtifactEnd { id, crc32 } => Record::ArtifactEnd {
                id: *id,
                crc32: *crc32,
            },
            Owned::ArtifactFile {
                path,
                file,
                len,
                crc32,
            } => Record::ArtifactFile {
                path,
                file,
                len: *len,
                crc32: *crc32,
            },
            Owned::Dropped { count } => Record::Dropped { count: *count },
        }
    }
}

/// The record's encoding: equality on it is equality of records with NaN
/// compared bit for bit (a `Name::Id` and a `Name::Text` differ, as they should).
pub fn bytes_of(record: &Record<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 1 << 16];
    let n = encode(record, &mut buf).expect("record encodes");
    buf.truncate(n);
    buf
}

/// Any f64, with NaNs of every payload and infinities well represented.
pub fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        any::<u64>().prop_map(f64::from_bits),
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(f64::MIN_POSITIVE / 2.0),
    ]
}

/// Names and texts: short ASCII, empty, long, and any Unicode.
pub fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_/.]{1,12}",
        Just(String::new()),
        proptest::collection::vec(any::<char>(), 0..max).prop_map(|v| v.into_iter().collect()),
        proptest::string::string_regex(&format!("[a-zA-Z0-9]{{{max}}}")).unwrap(),
    ]
}

pub fn any_status() -> impl Strategy<Value = RunStatus> {
    prop_oneof![
        Just(RunStatus::Finished),
        Just(RunStatus::Failed),
        Just(RunStatus::Killed)
    ]
}

pub fn any_value(max_list: usize, max_text: usize) -> impl Strategy<Value = OwnedValue> {
    prop_oneof![
        any::<i64>().prop_map(OwnedValue::I64),
        any_f64().prop_map(OwnedValue::F64),
        text(max_text).prop_map(OwnedValue::Str),
        proptest::collection::vec(any_f64(), 0..max_list).prop_map(OwnedValue::F64List),
        proptest::collection::vec(any::<i64>(), 0..max_list).prop_map(OwnedValue::I64List),
    ]
}

/// Any record a ring can carry, with lists up to `max_list` elements and
/// texts up to `max_text` characters.
pub fn any_owned(max_list: usize, max_text: usize) -> impl Strategy<Value = Owned> {
    let metric = (
        text(max_text),
        any_value(max_list, max_text),
        any::<Option<u64>>(),
        any::<Option<u64>>(),
    )
        .prop_map(|(name, value, step, time_ms)| Owned::Metric {
            name,
            value,
            step,
            time_ms,
        });
    prop_oneof![
        4 => metric,
        1 => (text(max_text), text(max_text), any::<Option<u64>>()).prop_map(
            |(run_id, experiment, time_ms)| Owned::RunStart { run_id, experiment, time_ms }
        ),
        1 => (any_status(), any::<Option<u64>>())
            .prop_map(|(status, time_ms)| Owned::RunEnd { status, time_ms }),
        1 => (any::<u32>(), text(max_text), any::<u64>())
            .prop_map(|(id, path, len)| Owned::ArtifactBegin { id, path, len }),
        1 => (any::<u32>(), any::<u64>(), proptest::collection::vec(any::<u8>(), 0..max_list * 8))
            .prop_map(|(id, offset, data)| Owned::ArtifactChunk { id, offset, data }),
        1 => (any::<u32>(), any::<u32>()).prop_map(|(id, crc32)| Owned::ArtifactEnd { id, crc32 }),
        1 => (text(max_text), text(max_text), any::<u64>(), any::<u32>()).prop_map(
            |(path, file, len, crc32)| Owned::ArtifactFile { path, file, len, crc32 }
        ),
        1 => any::<u32>().prop_map(|count| Owned::Dropped { count }),
    ]
}
