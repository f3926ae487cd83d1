//! Where drained records go: the transport-neutral [`Sink`] trait and the
//! owned [`Batch`] that crosses it.
//!
//! The drain loop turns records (from a spool ring or a byte stream) into a
//! [`Batch`] for one run and one stream, and hands it to a sink, which must
//! commit everything in it, including the stream's watermark, atomically or
//! not at all. The embedded store ([`crate::store::Store`]) is the sink every
//! command uses; an MLflow server gets the records from the store
//! (`mlflow::deliver`, exactly once). Everything a batch holds is owned, so a
//! sink may keep it, retry it, or send it elsewhere.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use runlog_core::RunStatus;

/// Delivery position of one stream (a ring file, a byte stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPos {
    /// A key naming the stream in the destination, stable across restarts.
    pub key: String,
    /// Every record of the stream with a lower sequence number is in this or an earlier batch.
    pub next_seq: u64,
}

/// The run a batch belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRef {
    /// The run's external id.
    pub run_id: String,
    /// The run's experiment (used when the run is created).
    pub experiment: String,
}

pub use crate::store::value::MetricValue;

/// One logged metric value.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricItem {
    /// The metric's name (shared, since most batches repeat a few names).
    pub name: Arc<str>,
    /// What was logged.
    pub value: MetricValue,
    /// Explicit step; `None` numbers values in logging order.
    pub step: Option<u64>,
    /// Wall-clock time of the log call in ms since the Unix epoch, if the producer had a clock.
    pub time_ms: Option<u64>,
}

/// An artifact's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactContent {
    /// Small content, reassembled in memory.
    Bytes(Vec<u8>),
    /// Content in a file (a staged spool blob, or a file under `outputs/`), streamed by the sink.
    File {
        /// The file to read. It is not modified; the caller deletes staged files after the commit.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
    },
}

/// One artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactItem {
    /// Relative path under the run's artifacts, `/`-separated, validated by [`runlog_core::rules::check_artifact_path`].
    pub path: String,
    /// The content.
    pub content: ArtifactContent,
}

/// Everything a batch can carry.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// The run begins (creates it if needed; an existing run is left as it is).
    RunStart {
        /// Start time in ms since the Unix epoch, if known.
        time_ms: Option<u64>,
        /// The command line, when `runlog run` started it.
        command: Option<String>,
    },
    /// A metric value.
    Metric(MetricItem),
    /// An artifact.
    Artifact(ArtifactItem),
    /// The run ended.
    RunEnd {
        /// How.
        status: RunStatus,
        /// When, in ms since the Unix epoch (now, if unknown).
        time_ms: Option<u64>,
        /// The process exit code, when `runlog run` saw it.
        exit_code: Option<i32>,
    },
    /// A hyperparameter (MLflow param): the run keeps the first value of a key.
    Param {
        /// Its name.
        key: String,
        /// Its value.
        value: String,
    },
    /// A run tag (MLflow tag): the last value of a key wins.
    Tag {
        /// Its name.
        key: String,
        /// Its value.
        value: String,
    },
    /// The writer refused this many log calls because its ring was full.
    Dropped(u64),
    /// Loss on a byte stream: frames discarded and records known missing.
    Lost {
        /// Frames discarded (damaged, truncated).
        frames: u64,
        /// Records known lost from sequence gaps.
        records: u64,
    },
}

/// Records of one run from one stream, to commit together.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The run every item belongs to.
    pub run: RunRef,
    /// The stream position after this batch, committed with it; `None` for
    /// batches that come from no stream (e.g. `runlog run`'s own records).
    pub stream: Option<StreamPos>,
    /// The items, in logging order.
    pub items: Vec<Item>,
}

impl Batch {
    /// An empty batch for `run`.
    pub fn new(run: RunRef) -> Self {
        Self {
            run,
            stream: None,
            items: Vec::new(),
        }
    }
}

/// Reports bytes of artifact content stored so far (for a progress bar).
pub type Progress<'a> = &'a mut dyn FnMut(u64);

/// A destination for drained records.
pub trait Sink {
    /// The committed position of `stream`: records below it are already stored.
    /// `None` when the destination has never seen the stream.
    fn watermark(&mut self, stream: &str) -> Result<Option<u64>>;

    /// Stores `batch`. On `Ok` everything in it, and its stream position, is
    /// durable at the destination; on `Err` the caller may retry the same batch.
    fn commit(&mut self, batch: &Batch) -> Result<()>;

    /// As [`Sink::commit`], reporting artifact bytes stored as they are streamed.
    fn commit_with_progress(&mut self, batch: &Batch, progress: Progress<'_>) -> Result<()> {
        let _ = progress;
        self.commit(batch)
    }

    /// The status the destination has for `run_id`, if it knows the run
    /// (`RUNNING`, `FINISHED`, `FAILED`, `KILLED`).
    fn run_status(&mut self, run_id: &str) -> Result<Option<String>>;
}

/// Prefix of the tag that marks a refused second param value.
pub const PARAM_CONFLICT_TAG: &str = "runlog.param_conflict.";

/// The tag that records a refused second value for param `key` (when two
/// producers of one run disagree, every destination keeps the first value,
/// as MLflow does, and sets this tag to the refused one). Cut to MLflow's
/// 250-byte key limit at a character boundary.
pub fn param_conflict_tag(key: &str) -> String {
    let mut tag = format!("{PARAM_CONFLICT_TAG}{key}");
    let mut end = tag.len().min(runlog_core::record::MAX_KEY_LEN);
    while !tag.is_char_boundary(end) {
        end -= 1;
    }
    tag.truncate(end);
    tag
}
