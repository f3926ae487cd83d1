//! The MLflow tracking REST protocol as runlog speaks it: the one module that
//! the server (`serve`) and the client (`mlflow`: its sink and history
//! source) both import, so that neither imports the other.
//!
//! - here: MLflow's request limits (the key and value lengths are owned by
//!   `runlog_core::record`, which the C API checks; re-exported), the tags
//!   runlog adds, and the watermark tag that makes delivery into
//!   `runlog serve` exactly once;
//! - [`url`]: percent-encoding of path segments and query values;
//! - [`requests`]: the request bodies, one type per endpoint;
//! - [`json`]: the JSON shapes of metrics, runs, experiments and model
//!   versions, and the value mapping (integers stay integers; NaN and the
//!   infinities as protobuf's strings).

pub mod json;
pub mod requests;
pub mod url;

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

pub use runlog_core::record::{
    MAX_KEY_LEN, MAX_PARAM_VALUE_CHARS as MAX_PARAM_LEN, MAX_TAG_VALUE_CHARS as MAX_TAG_LEN,
};

/// MLflow's per-request limits for runs/log-batch: metrics.
pub const MAX_BATCH_METRICS: usize = 1000;
/// Params per log-batch.
pub const MAX_BATCH_PARAMS: usize = 100;
/// Tags per log-batch.
pub const MAX_BATCH_TAGS: usize = 100;

/// The tag with which runlog's HTTP sink names the run id its program gave a run.
pub const RUNLOG_RUN_ID_TAG: &str = "runlog.run_id";

/// Prefix of the watermark tags.
pub const STREAM_TAG_PREFIX: &str = "runlog.stream.";

/// The tag key holding `stream`'s watermark.
pub fn stream_tag(stream: &str) -> String {
    let h = Sha256::digest(stream.as_bytes());
    let mut key = String::from(STREAM_TAG_PREFIX);
    for b in &h[..8] {
        let _ = write!(key, "{b:02x}");
    }
    key
}

/// A parsed watermark tag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamMark<'a> {
    /// The stream position after the batch.
    pub next_seq: u64,
    /// Which request of the batch.
    pub part: u64,
    /// Whether this was the batch's last request.
    pub done: bool,
    /// The sending process's session.
    pub session: &'a str,
}

impl<'a> StreamMark<'a> {
    /// Parses `next_seq:part:done:session`.
    pub fn parse(v: &'a str) -> Option<Self> {
        let mut it = v.splitn(4, ':');
        let next_seq = it.next()?.parse().ok()?;
        let part = it.next()?.parse().ok()?;
        let done = match it.next()? {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        let session = it.next()?;
        Some(Self {
            next_seq,
            part,
            done,
            session,
        })
    }

    /// The tag value.
    pub fn format(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.next_seq,
            self.part,
            u8::from(self.done),
            self.session
        )
    }
}
