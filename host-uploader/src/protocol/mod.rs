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

/// Most entities (metrics, params and tags together) in one log-batch request.
pub const MAX_BATCH_ENTITIES: usize = 1000;

/// Whether MLflow accepts `c` in a metric, param or tag key (its rule on
/// POSIX: `^[/\w.\- :]*$`, `\w` being Unicode letters, digits and `_`).
fn key_char_ok(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | ' ' | ':')
}

/// `name` as a key a real MLflow server accepts, or `None` if it already is one.
///
/// MLflow refuses keys with other characters, keys that are not a normalised
/// relative path (`a//b`, `./a`, `a/`, `/a`, `..`), and keys over 250 characters.
/// The fix is deterministic, so one name always maps to one key: each
/// refused character becomes `_`, empty and `.` path segments go, `..`
/// becomes `__`, an empty result becomes `_`, and the key is cut to 250
/// characters (then cleaned again).
pub fn mlflow_key(name: &str) -> Option<String> {
    let ok = |n: &str| {
        n.chars().count() <= MAX_KEY_LEN
            && !n.is_empty()
            && n.chars().all(key_char_ok)
            && !n.starts_with('/')
            && n.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
    };
    if ok(name) {
        return None;
    }
    let chars: String = name
        .chars()
        .map(|c| if key_char_ok(c) { c } else { '_' })
        .collect();
    let mut key = chars
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .map(|s| if s == ".." { "__" } else { s })
        .collect::<Vec<_>>()
        .join("/");
    if let Some(cut) = clip(&key, MAX_KEY_LEN) {
        // The cut may end in `/`, `.` or `..`: clean it again (never longer).
        let cut = cut.to_string();
        return Some(mlflow_key(&cut).unwrap_or(cut));
    }
    if key.is_empty() {
        key.push('_');
    }
    Some(key)
}

/// `value` cut to its first `max` characters (MLflow counts characters,
/// as Python does), or `None` if it fits.
pub fn clip(value: &str, max: usize) -> Option<&str> {
    value.char_indices().nth(max).map(|(end, _)| &value[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_mlflow_refuses_are_mapped_to_keys_it_accepts() {
        assert_eq!(mlflow_key("loss"), None);
        assert_eq!(mlflow_key("train/loss: top-1 v2.0"), None);
        assert_eq!(mlflow_key("Genauigkeit_é"), None);
        assert_eq!(mlflow_key("loss@val").as_deref(), Some("loss_val"));
        assert_eq!(mlflow_key("a//b").as_deref(), Some("a/b"));
        assert_eq!(mlflow_key("/a/./b/").as_deref(), Some("a/b"));
        assert_eq!(mlflow_key("../x").as_deref(), Some("__/x"));
        assert_eq!(mlflow_key("").as_deref(), Some("_"));
        assert_eq!(mlflow_key("%?#").as_deref(), Some("___"));
        let long = "é".repeat(300);
        let k = mlflow_key(&long).unwrap();
        assert!(
            k.chars().count() <= MAX_KEY_LEN && mlflow_key(&k).is_none(),
            "{k}"
        );
        assert_eq!(
            mlflow_key(&"é".repeat(250)),
            None,
            "MLflow counts characters"
        );
        for tail in ["/.", "/..x", "//", "/"] {
            let k = mlflow_key(&format!("{}{tail}", "a".repeat(248))).unwrap_or_default();
            assert!(mlflow_key(&k).is_none(), "{k}");
        }
    }

    #[test]
    fn clip_cuts_at_a_character_boundary() {
        assert_eq!(clip("abc", 3), None);
        assert_eq!(clip("abcd", 3), Some("abc"));
        assert_eq!(clip("aéb", 2), Some("aé"));
        assert_eq!(clip("éé", 2), None);
    }
}
