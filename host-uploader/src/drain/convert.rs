//! Turning borrowed core records into owned batch items.
//!
//! Shared by every source: metric names are interned (a batch repeats a few
//! names many times), artifacts sent in chunks are reassembled and checked,
//! and anything malformed is counted instead of stopping the stream.

use std::collections::HashMap;
use std::sync::Arc;

use runlog_core::crc::Crc32;
use runlog_core::record::{check_key_value, MAX_PARAM_VALUE_CHARS, MAX_TAG_VALUE_CHARS};
use runlog_core::{Metric, Name, Record, Value};

use crate::sink::{ArtifactContent, ArtifactItem, Item, MetricItem, MetricValue};

/// Most distinct names kept interned; past it the table starts over (names
/// come from untrusted producers, so the table must not grow without bound).
const MAX_INTERNED: usize = 4096;

/// Largest artifact reassembled from chunks in memory. Rings carry only small
/// artifacts (larger ones are staged as files), and a byte stream's announced
/// length is untrusted, so anything larger is refused rather than buffered.
pub const MAX_CHUNKED_ARTIFACT: u64 = 64 << 20;

/// An artifact being reassembled from `ArtifactBegin`/`ArtifactChunk`s.
#[derive(Debug)]
pub struct OpenArtifact {
    /// The id tying its chunks together.
    pub id: u32,
    /// Where it goes.
    pub path: String,
    /// The announced length.
    pub len: u64,
    /// Content so far.
    pub data: Vec<u8>,
    /// Running CRC of `data`.
    pub crc: Crc32,
}

/// What a record turned into.
#[derive(Debug)]
pub enum Converted {
    /// An item for the batch.
    Item(Item),
    /// The record was consumed (a chunk, a name definition) and yields nothing yet.
    Nothing,
    /// The record was unusable (malformed, or an artifact that failed its check); count it lost.
    Bad(String),
    /// A staged artifact file to check and store (spool sources only).
    File {
        /// Artifact path.
        path: String,
        /// Bare file name in the spool directory.
        file: String,
        /// Announced length.
        len: u64,
        /// Announced CRC-32.
        crc32: u32,
    },
    /// A `RunStart`: the producer's run id and experiment.
    RunStart {
        /// The run's id as the producer sent it.
        run_id: String,
        /// Its experiment.
        experiment: String,
        /// When it started.
        time_ms: Option<u64>,
    },
}

/// FNV-1a: metric names are short, and SipHash showed in the drain's profile.
/// (Names are untrusted, but the table is bounded and cleared, so collision
/// floods cost time, never memory.)
#[derive(Default)]
pub struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A hash map keyed by metric names, hashed with [`Fnv`].
pub type NameMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

/// Per-stream conversion state.
#[derive(Debug, Default)]
pub struct Converter {
    names: NameMap<Box<str>, Arc<str>>,
    /// The writer's rank: its points are named by [`crate::ranks::series_name`].
    rank: Option<u32>,
    /// The artifact being reassembled, if any.
    pub open: Option<OpenArtifact>,
}

impl Converter {
    /// A converter with nothing interned and no open artifact.
    pub fn new() -> Self {
        Self::default()
    }

    /// A converter for the records of a writer of `rank` (from its spool
    /// header): the rank goes into each name once, when it is interned.
    pub fn with_rank(rank: Option<u32>) -> Self {
        Self {
            rank,
            ..Self::default()
        }
    }

    /// The writer's rank, if it has one.
    pub fn rank(&self) -> Option<u32> {
        self.rank
    }

    fn name(&mut self, text: &str) -> Arc<str> {
        if let Some(n) = self.names.get(text) {
            return n.clone();
        }
        if self.names.len() >= MAX_INTERNED {
            self.names.clear();
        }
        let n: Arc<str> = match self.rank {
            None | Some(0) => Arc::from(text),
            rank => Arc::from(crate::ranks::series_name(text, rank)),
        };
        self.names.insert(Box::from(text), n.clone());
        n
    }

    /// Converts one record.
    pub fn convert(&mut self, record: &Record<'_>) -> Converted {
        match *record {
            Record::Metric(Metric {
                name,
                value,
                step,
                time_ms,
            }) => {
                let Name::Text(text) = name else {
                    return Converted::Bad("metric with an undefined name id".into());
                };
                let value = match value {
                    Value::I64(v) => MetricValue::I64(v),
                    Value::F64(v) => MetricValue::F64(v),
                    Value::Str(s) => MetricValue::Str(s.to_string()),
                    Value::F64List(l) => MetricValue::F64List(l.iter().collect()),
                    Value::I64List(l) => MetricValue::I64List(l.iter().collect()),
                };
                Converted::Item(Item::Metric(MetricItem {
                    name: self.name(text),
                    value,
                    step,
                    time_ms,
                }))
            }
            Record::NameDef { .. } => Converted::Nothing,
            Record::Param { key, value } => {
                match check_key_value(key, value, MAX_PARAM_VALUE_CHARS) {
                    Ok(()) => Converted::Item(Item::Param {
                        key: key.to_string(),
                        value: value.to_string(),
                    }),
                    Err(why) => Converted::Bad(format!("param {:.60?}: {why}", key)),
                }
            }
            Record::Tag { key, value } => match check_key_value(key, value, MAX_TAG_VALUE_CHARS) {
                Ok(()) => Converted::Item(Item::Tag {
                    key: key.to_string(),
                    value: value.to_string(),
                }),
                Err(why) => Converted::Bad(format!("tag {:.60?}: {why}", key)),
            },
            Record::RunStart(s) => Converted::RunStart {
                run_id: s.run_id.to_string(),
                experiment: s.experiment.to_string(),
                time_ms: s.time_ms,
            },
            Record::RunEnd { status, time_ms } => Converted::Item(Item::RunEnd {
                status,
                time_ms,
                exit_code: None,
            }),
            Record::Dropped { count } => {
                if let Some(open) = self.open.take() {
                    // The ring filled while the artifact was being pushed: its
                    // remaining chunks were refused, so it will never end.
                    eprintln!(
                        "runlog: warning: artifact {:?} lost chunks to a full ring; discarded",
                        open.path
                    );
                }
                Converted::Item(Item::Dropped(u64::from(count)))
            }
            Record::ArtifactBegin { id, path, len } => {
                let replaced = self.open.take();
                if let Err(why) = runlog_core::rules::check_artifact_path(path) {
                    return Converted::Bad(format!("artifact path {path:?} refused: {why}"));
                }
                self.open = Some(OpenArtifact {
                    id,
                    path: path.to_string(),
                    len,
                    // `len` is untrusted: grow as chunks arrive instead of reserving it.
                    data: Vec::new(),
                    crc: Crc32::new(),
                });
                match replaced {
                    Some(old) => Converted::Bad(format!(
                        "artifact {:?} never ended (another one began)",
                        old.path
                    )),
                    None => Converted::Nothing,
                }
            }
            Record::ArtifactChunk { id, offset, data } => {
                let Some(open) = self.open.as_mut().filter(|o| o.id == id) else {
                    return Converted::Bad(format!("chunk of artifact {id}, which is not open"));
                };
                let end = open.data.len() as u64 + data.0.len() as u64;
                if offset != open.data.len() as u64 || end > open.len || end > MAX_CHUNKED_ARTIFACT
                {
                    let path = self.open.take().map(|o| o.path).unwrap_or_default();
                    return Converted::Bad(format!(
                        "artifact {path:?}: chunk at offset {offset} does not continue it"
                    ));
                }
                open.data.extend_from_slice(data.0);
                open.crc.update(data.0);
                Converted::Nothing
            }
            Record::ArtifactEnd { id, crc32 } => {
                let Some(open) = self.open.take_if(|o| o.id == id) else {
                    return Converted::Bad(format!("end of artifact {id}, which is not open"));
                };
                if open.data.len() as u64 != open.len || open.crc.finish() != crc32 {
                    return Converted::Bad(format!(
                        "artifact {:?} failed its length or CRC check",
                        open.path
                    ));
                }
                Converted::Item(Item::Artifact(ArtifactItem {
                    path: open.path,
                    content: ArtifactContent::Bytes(open.data),
                }))
            }
            Record::ArtifactFile {
                path,
                file,
                len,
                crc32,
            } => {
                if let Err(why) = runlog_core::rules::check_artifact_path(path) {
                    return Converted::Bad(format!("artifact path {path:?} refused: {why}"));
                }
                Converted::File {
                    path: path.to_string(),
                    file: file.to_string(),
                    len,
                    crc32,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlog_core::crc::crc32;
    use runlog_core::Bytes;

    fn begin(c: &mut Converter, len: u64) -> Converted {
        c.convert(&Record::ArtifactBegin {
            id: 7,
            path: "a/b",
            len,
        })
    }

    #[test]
    fn chunked_artifact_is_reassembled_and_checked() {
        let mut c = Converter::new();
        assert!(matches!(begin(&mut c, 6), Converted::Nothing));
        for (off, d) in [(0u64, &b"abc"[..]), (3, b"def")] {
            let r = c.convert(&Record::ArtifactChunk {
                id: 7,
                offset: off,
                data: Bytes(d),
            });
            assert!(matches!(r, Converted::Nothing));
        }
        match c.convert(&Record::ArtifactEnd {
            id: 7,
            crc32: crc32(b"abcdef"),
        }) {
            Converted::Item(Item::Artifact(a)) => {
                assert_eq!(a.path, "a/b");
                assert_eq!(a.content, ArtifactContent::Bytes(b"abcdef".to_vec()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_artifacts_are_refused() {
        let mut c = Converter::new();
        // Wrong CRC.
        begin(&mut c, 1);
        c.convert(&Record::ArtifactChunk {
            id: 7,
            offset: 0,
            data: Bytes(b"x"),
        });
        assert!(matches!(
            c.convert(&Record::ArtifactEnd { id: 7, crc32: 0 }),
            Converted::Bad(_)
        ));
        // A gap in the offsets.
        begin(&mut c, 10);
        let r = c.convert(&Record::ArtifactChunk {
            id: 7,
            offset: 5,
            data: Bytes(b"x"),
        });
        assert!(matches!(r, Converted::Bad(_)));
        assert!(c.open.is_none());
        // More than announced, or more than the in-memory limit.
        begin(&mut c, u64::MAX);
        let big = vec![0u8; 1 << 20];
        let mut refused = false;
        for i in 0..=(MAX_CHUNKED_ARTIFACT >> 20) {
            if let Converted::Bad(_) = c.convert(&Record::ArtifactChunk {
                id: 7,
                offset: i << 20,
                data: Bytes(&big),
            }) {
                refused = true;
                break;
            }
        }
        assert!(refused);
        // Paths that would escape the run's directory.
        let r = c.convert(&Record::ArtifactBegin {
            id: 1,
            path: "../x",
            len: 1,
        });
        assert!(matches!(r, Converted::Bad(_)));
    }

    #[test]
    fn params_and_tags_are_checked_against_mlflow_limits() {
        let mut c = Converter::new();
        let long_key = "k".repeat(251);
        let long_param = "é".repeat(6001);
        let long_tag = "v".repeat(8001);
        for bad in [
            Record::Param {
                key: "",
                value: "1",
            },
            Record::Param {
                key: &long_key,
                value: "1",
            },
            Record::Param {
                key: "k",
                value: &long_param,
            },
            Record::Tag { key: "", value: "" },
            Record::Tag {
                key: "k",
                value: &long_tag,
            },
        ] {
            assert!(matches!(c.convert(&bad), Converted::Bad(_)), "{bad:?}");
        }
        // At the limits: accepted (6000 two-byte characters are 12000 bytes).
        let at_limit = "é".repeat(6000);
        assert!(matches!(
            c.convert(&Record::Param {
                key: &long_key[..250],
                value: &at_limit,
            }),
            Converted::Item(Item::Param { .. })
        ));
        assert!(matches!(
            c.convert(&Record::Tag {
                key: "model",
                value: "cnn",
            }),
            Converted::Item(Item::Tag { .. })
        ));
    }

    #[test]
    fn names_are_interned() {
        let mut c = Converter::new();
        let m = |c: &mut Converter| match c.convert(&Record::Metric(Metric {
            name: Name::Text("loss"),
            value: Value::F64(1.0),
            step: None,
            time_ms: None,
        })) {
            Converted::Item(Item::Metric(m)) => m.name,
            other => panic!("{other:?}"),
        };
        let (a, b) = (m(&mut c), m(&mut c));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(matches!(
            c.convert(&Record::Metric(Metric {
                name: Name::Id(3),
                value: Value::I64(1),
                step: None,
                time_ms: None,
            })),
            Converted::Bad(_)
        ));
    }
}
