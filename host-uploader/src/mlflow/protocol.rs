//! The MLflow protocol as runlog speaks it, shared by the client side
//! (`mlflow::sink`, `mlflow::history`) and the server (`serve`): MLflow's
//! request limits, the tags runlog adds, and the watermark tag that makes
//! delivery into `runlog serve` exactly once.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// MLflow's per-request limits for runs/log-batch: metrics.
pub const MAX_BATCH_METRICS: usize = 1000;
/// Params per log-batch.
pub const MAX_BATCH_PARAMS: usize = 100;
/// Tags per log-batch.
pub const MAX_BATCH_TAGS: usize = 100;
/// Longest metric, param or tag key MLflow accepts.
pub const MAX_KEY_LEN: usize = 250;
/// Longest param value MLflow accepts.
pub const MAX_PARAM_LEN: usize = 6000;
/// Longest tag value MLflow accepts.
pub const MAX_TAG_LEN: usize = 8000;

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
