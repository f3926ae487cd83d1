//! The record model: what a run sends, independent of where it travels.
//!
//! Every type here borrows its text and bytes, so a record can be built from
//! caller data and decoded from a frame without allocating.

use serde::{Deserialize, Serialize};

use crate::list::{F64List, I64List};

/// The name of a metric: its text, or on byte streams a small id that an
/// earlier [`Record::NameDef`] in the same frame defined.
///
/// Rings always carry [`Name::Text`]; the frame encoder interns names into ids
/// and the frame decoder resolves them back, so consumers only see text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Name<'a> {
    /// The name itself.
    Text(&'a str),
    /// A frame-local id, defined by a [`Record::NameDef`] earlier in the frame.
    Id(u16),
}

/// A metric value. Integers and floats keep their type end to end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A signed integer.
    I64(i64),
    /// A float; NaN and infinities are values too.
    F64(f64),
    /// A string (a tag, on the MLflow wire).
    Str(&'a str),
    /// A list of floats: one chart, steps 0..n-1.
    F64List(F64List<'a>),
    /// A list of integers: one chart, steps 0..n-1.
    I64List(I64List<'a>),
}

impl Value<'_> {
    /// The wire code of this value's kind (the low bits of a metric's head byte).
    pub(crate) fn kind_code(&self) -> u8 {
        match self {
            Value::I64(_) => 0,
            Value::F64(_) => 1,
            Value::Str(_) => 2,
            Value::F64List(_) => 3,
            Value::I64List(_) => 4,
        }
    }
}

/// One logged metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric<'a> {
    /// What the metric is called.
    pub name: Name<'a>,
    /// What was logged.
    pub value: Value<'a>,
    /// An explicit step; when absent the store numbers scalars in logging order.
    pub step: Option<u64>,
    /// Wall-clock time in milliseconds since the Unix epoch, when the producer has a clock.
    pub time_ms: Option<u64>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStatus {
    /// The program returned normally (exit code 0 or an explicit close).
    Finished,
    /// The program failed (non-zero exit code).
    Failed,
    /// The program was killed by a signal or never closed its run.
    Killed,
}

/// A run's opening record.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunStart<'a> {
    /// The run's id, unique in the history.
    pub run_id: &'a str,
    /// The experiment the run belongs to.
    pub experiment: &'a str,
    /// Start time in milliseconds since the Unix epoch, when the producer has a clock.
    pub time_ms: Option<u64>,
}

/// Longest param or tag key, in bytes: MLflow's `MAX_ENTITY_KEY_LENGTH` (250
/// characters; counting bytes is stricter).
pub const MAX_KEY_LEN: usize = 250;
/// Longest param value, in characters: MLflow's `MAX_PARAM_VAL_LENGTH`.
pub const MAX_PARAM_VALUE_CHARS: usize = 6000;
/// Longest tag value, in characters: MLflow's `MAX_TAG_VAL_LENGTH`.
pub const MAX_TAG_VALUE_CHARS: usize = 8000;

/// Checks a [`Record::Param`] (`max_value_chars` = [`MAX_PARAM_VALUE_CHARS`])
/// or [`Record::Tag`] ([`MAX_TAG_VALUE_CHARS`]) against MLflow's limits: a
/// key of 1 to [`MAX_KEY_LEN`] bytes, a value of at most `max_value_chars`
/// characters. Producers check this before writing; readers check it again,
/// since a stream is untrusted.
pub fn check_key_value(key: &str, value: &str, max_value_chars: usize) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("key is empty");
    }
    if key.len() > MAX_KEY_LEN {
        return Err("key is longer than 250 bytes");
    }
    if value.len() > max_value_chars && value.chars().count() > max_value_chars {
        return Err("value is longer than MLflow allows");
    }
    Ok(())
}

/// Opaque bytes, encoded as a postcard byte string (length, then the bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes<'a>(pub &'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Bytes<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a [u8]>::deserialize(d).map(Bytes)
    }
}

/// Everything a run can send. The variant order is part of the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Record<'a> {
    /// A metric value.
    Metric(#[serde(borrow)] Metric<'a>),
    /// Defines a frame-local name id (byte streams only; never in a ring).
    NameDef {
        /// The id that later records in the same frame use.
        id: u16,
        /// The name it stands for.
        name: &'a str,
    },
    /// The run begins.
    RunStart(#[serde(borrow)] RunStart<'a>),
    /// The run ends.
    RunEnd {
        /// How it ended.
        status: RunStatus,
        /// End time in milliseconds since the Unix epoch, when known.
        time_ms: Option<u64>,
    },
    /// An artifact sent through the stream begins.
    ArtifactBegin {
        /// Id tying chunks to this artifact within the run.
        id: u32,
        /// Relative path under the run's artifacts.
        path: &'a str,
        /// Total length in bytes.
        len: u64,
    },
    /// A piece of an artifact's content.
    ArtifactChunk {
        /// The artifact it belongs to.
        id: u32,
        /// Byte offset of `data` in the artifact.
        offset: u64,
        /// The content.
        #[serde(borrow)]
        data: Bytes<'a>,
    },
    /// An artifact is complete.
    ArtifactEnd {
        /// The artifact that ends.
        id: u32,
        /// CRC-32 (IEEE) of the whole content, to check reassembly.
        crc32: u32,
    },
    /// An artifact too large for the ring, staged as a file beside the ring (host only).
    ArtifactFile {
        /// Relative path under the run's artifacts.
        path: &'a str,
        /// The staged file's name inside the spool directory.
        file: &'a str,
        /// Its length in bytes.
        len: u64,
        /// CRC-32 (IEEE) of its content.
        crc32: u32,
    },
    /// Records were dropped because the ring was full.
    Dropped {
        /// How many log calls failed since the last such notice.
        count: u32,
    },
    /// A hyperparameter (MLflow `log_param`): one value per key for the run.
    /// Wire version 2.
    Param {
        /// The parameter's name.
        key: &'a str,
        /// Its value, as text (MLflow params are strings).
        value: &'a str,
    },
    /// A run tag (MLflow `set_tag`): the last value of a key wins. Wire version 2.
    Tag {
        /// The tag's name.
        key: &'a str,
        /// Its value.
        value: &'a str,
    },
}
