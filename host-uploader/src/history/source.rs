//! Where `runlog history` gets its answers: the [`HistorySource`] trait and the
//! owned, serialisable types it returns.
//!
//! The embedded store implements it (`store::read`); an MLflow REST client
//! implements it for `--tracking-uri http://...`. Everything that renders
//! (tables, JSON, TSV, terminal charts, chart files) works on these types
//! only, so every output looks the same whatever the source.
//!
//! The types' serde form is the `-o json` shape documented in
//! `docs/history.md`: change it only by adding fields.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;

use serde::{Deserialize, Serialize};

/// Which runs [`HistorySource::list_runs`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFilter {
    /// Only runs of this experiment (exact name).
    pub experiment: Option<String>,
    /// Only runs with this status.
    pub status: Option<RunStatus>,
    /// At most this many runs (the newest ones).
    pub limit: Option<usize>,
}

/// A run's state. Serialised as the MLflow names: `RUNNING`, `FINISHED`, `FAILED`, `KILLED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunStatus {
    /// Still logging (or ended without a run-end record reaching the store yet).
    Running,
    /// Ended normally.
    Finished,
    /// Ended with an error.
    Failed,
    /// Killed, or never closed.
    Killed,
}

impl RunStatus {
    /// All statuses, in the order users usually think of them.
    pub const ALL: [RunStatus; 4] = [
        RunStatus::Running,
        RunStatus::Finished,
        RunStatus::Failed,
        RunStatus::Killed,
    ];

    /// The MLflow / store name (`RUNNING`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }

    /// Parses a status name, ignoring case.
    pub fn parse(s: &str) -> Result<Self, HistoryError> {
        RunStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                HistoryError::Invalid(format!(
                    "unknown run status {s:?}: use one of RUNNING, FINISHED, FAILED, KILLED"
                ))
            })
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of `runlog history list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run's id.
    pub run_id: String,
    /// The experiment's name.
    pub experiment: String,
    /// The run's state.
    pub status: RunStatus,
    /// Start, in milliseconds since the Unix epoch.
    pub start_ms: i64,
    /// End, in milliseconds since the Unix epoch; `None` while running.
    pub end_ms: Option<i64>,
    /// `end_ms - start_ms`; `None` while running.
    pub duration_ms: Option<i64>,
    /// How many distinct metrics (names) the run logged.
    pub metric_count: u64,
    /// How many artifact files the run has.
    pub artifact_count: u64,
    /// The MLflow run this run was delivered to (`runlog sync`, `runlog run
    /// --tracking-uri http://...`), as the local store knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlflow_run_id: Option<String>,
}

/// A run's header in `info`: its summary and everything else known about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    /// The summary, as `list` shows it.
    #[serde(flatten)]
    pub summary: RunSummary,
    /// The command line `runlog run` started, if any.
    pub command: Option<String>,
    /// The program's exit code, if known.
    pub exit_code: Option<i64>,
    /// Log calls the program dropped because its ring was full.
    pub dropped: u64,
    /// Records known lost in transit (sequence gaps).
    pub lost_records: u64,
    /// Damaged frames discarded on byte streams (serial, TCP).
    pub lost_frames: u64,
    /// MLflow params, by name.
    pub params: BTreeMap<String, String>,
    /// MLflow tags, by name. String metrics are in `metrics`, not here.
    pub tags: BTreeMap<String, String>,
}

/// The kind of a metric's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// A signed integer.
    Int,
    /// A float.
    Float,
    /// A string.
    Text,
    /// A list of floats (one chart, steps 0..n-1).
    FloatList,
    /// A list of integers (one chart, steps 0..n-1).
    IntList,
}

impl MetricKind {
    /// The name used in tables and JSON (`int`, `float`, `text`, `float_list`, `int_list`).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Int => "int",
            MetricKind::Float => "float",
            MetricKind::Text => "text",
            MetricKind::FloatList => "float_list",
            MetricKind::IntList => "int_list",
        }
    }

    /// Whether values of this kind are lists.
    pub fn is_list(self) -> bool {
        matches!(self, MetricKind::FloatList | MetricKind::IntList)
    }
}

/// One logged value.
///
/// JSON: `{"int": 3}`, `{"float": 0.5}` (non-finite floats as the strings
/// `"NaN"`, `"Infinity"`, `"-Infinity"`), `{"text": "..."}`,
/// `{"float_list": [...]}`, `{"int_list": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricValue {
    /// A signed integer.
    Int(i64),
    /// A float.
    Float(#[serde(with = "json_f64")] f64),
    /// A string.
    Text(String),
    /// A list of floats.
    FloatList(#[serde(with = "json_f64_vec")] Vec<f64>),
    /// A list of integers.
    IntList(Vec<i64>),
}

impl MetricValue {
    /// This value's kind.
    pub fn kind(&self) -> MetricKind {
        match self {
            MetricValue::Int(_) => MetricKind::Int,
            MetricValue::Float(_) => MetricKind::Float,
            MetricValue::Text(_) => MetricKind::Text,
            MetricValue::FloatList(_) => MetricKind::FloatList,
            MetricValue::IntList(_) => MetricKind::IntList,
        }
    }

    /// The value as a number, for scalars (`None` for text and lists).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            MetricValue::Int(v) => Some(*v as f64),
            MetricValue::Float(v) => Some(*v),
            _ => None,
        }
    }

    /// The elements as numbers, for lists (`None` for scalars and text).
    pub fn list_f64(&self) -> Option<Vec<f64>> {
        match self {
            MetricValue::FloatList(v) => Some(v.clone()),
            MetricValue::IntList(v) => Some(v.iter().map(|&x| x as f64).collect()),
            _ => None,
        }
    }
}

/// A metric of a run: its latest value and how many times it was logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// The metric's name.
    pub name: String,
    /// The kind of its latest value.
    pub kind: MetricKind,
    /// How many values were logged under this name.
    pub count: u64,
    /// The latest value.
    pub last: MetricValue,
    /// The latest value's step.
    pub last_step: Option<i64>,
    /// When the latest value was logged (ms since the Unix epoch).
    pub last_time_ms: Option<i64>,
}

/// One value of a metric's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// The step (explicit, or the logging order for scalars).
    pub step: i64,
    /// When it was logged (ms since the Unix epoch).
    pub time_ms: i64,
    /// What was logged.
    pub value: MetricValue,
}

/// An artifact file of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactEntry {
    /// Path relative to the run's artifacts, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content, lowercase hex, when the source knows it.
    pub sha256: Option<String>,
}

/// A file of an asset version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetFile {
    /// Path as it was under the run's artifacts.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content, lowercase hex, when the source knows it.
    pub sha256: Option<String>,
}

/// One version of a named asset (MLflow: a registered model version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetVersion {
    /// The asset's name.
    pub name: String,
    /// 1, 2, ... in the order they were promoted.
    pub version: u64,
    /// The run it was promoted from.
    pub run_id: String,
    /// The artifact prefix it was made from.
    pub prefix: String,
    /// When it was promoted (ms since the Unix epoch).
    pub created_ms: i64,
    /// Where its files are kept (a directory of the embedded store, or an MLflow source URI).
    pub location: Option<String>,
    /// Its files.
    pub files: Vec<AssetFile>,
}

/// A named asset and all its versions, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// The asset's name.
    pub name: String,
    /// When its first version was promoted (ms since the Unix epoch).
    pub created_ms: i64,
    /// Its versions, oldest first.
    pub versions: Vec<AssetVersion>,
}

/// Why a history query failed. Every variant's message is meant for users.
#[derive(Debug)]
pub enum HistoryError {
    /// The history holds no runs at all.
    Empty {
        /// Where the history is (store directory or server URI).
        location: String,
    },
    /// No run has this id or id prefix.
    UnknownRun(String),
    /// More than one run id starts with this prefix.
    AmbiguousRun {
        /// What the user typed.
        prefix: String,
        /// The matching run ids (possibly only the first few), sorted.
        candidates: Vec<String>,
    },
    /// The run has no such artifact.
    MissingArtifact {
        /// The run.
        run_id: String,
        /// The path asked for.
        path: String,
        /// Artifacts under `path/` if it names a folder, else empty.
        under: Vec<String>,
    },
    /// Bad arguments (status name, asset name, empty prefix, ...).
    Invalid(String),
    /// Anything else: I/O, database, HTTP.
    Other(anyhow::Error),
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryError::Empty { location } => write!(
                f,
                "the history at {location} has no runs yet (log some with `runlog run` or `runlog drain`)"
            ),
            HistoryError::UnknownRun(id) => write!(f, "no run has an id starting with {id:?}"),
            HistoryError::AmbiguousRun { prefix, candidates } => write!(
                f,
                "run id prefix {prefix:?} is ambiguous; it matches: {}",
                candidates.join(", ")
            ),
            HistoryError::MissingArtifact {
                run_id,
                path,
                under,
            } => {
                if under.is_empty() {
                    write!(f, "run {run_id} has no artifact {path:?}")
                } else {
                    write!(
                        f,
                        "{path:?} is a folder of run {run_id}'s artifacts, not a file; its files: {}",
                        under.join(", ")
                    )
                }
            }
            HistoryError::Invalid(msg) => f.write_str(msg),
            HistoryError::Other(err) => write!(f, "{err:#}"),
        }
    }
}

impl std::error::Error for HistoryError {}

impl From<anyhow::Error> for HistoryError {
    fn from(err: anyhow::Error) -> Self {
        HistoryError::Other(err)
    }
}

impl From<std::io::Error> for HistoryError {
    fn from(err: std::io::Error) -> Self {
        HistoryError::Other(err.into())
    }
}

/// Results of history queries.
pub type HistoryResult<T> = Result<T, HistoryError>;

/// A run history that `runlog history` can query: the embedded store or an MLflow server.
///
/// Methods other than [`HistorySource::run`] take a full run id, as
/// [`RunDetail::summary`] gives it.
pub trait HistorySource {
    /// Where the history is, for messages (store directory or server URI).
    fn location(&self) -> String;

    /// Runs matching `filter`, newest (latest start) first.
    fn list_runs(&self, filter: &RunFilter) -> HistoryResult<Vec<RunSummary>>;

    /// The run whose id is `id_or_prefix` or, failing that, the only one starting with it.
    fn run(&self, id_or_prefix: &str) -> HistoryResult<RunDetail>;

    /// The run's metrics, sorted by name.
    fn metrics(&self, run_id: &str) -> HistoryResult<Vec<MetricSummary>>;

    /// Every value logged under `name`, in logging order.
    fn metric_history(&self, run_id: &str, name: &str) -> HistoryResult<Vec<MetricPoint>>;

    /// What a chart of metric `name` draws: its finite numbers as (step, value),
    /// at most about `max_points`; a longer series is reduced to the minimum
    /// and maximum of each bucket, so spikes survive. Sources that keep
    /// summaries (the embedded store) answer without reading every point.
    fn chart_points(
        &self,
        run_id: &str,
        name: &str,
        max_points: usize,
    ) -> HistoryResult<Vec<(f64, f64)>> {
        let points: Vec<(f64, f64)> = self
            .metric_history(run_id, name)?
            .iter()
            .filter_map(|p| p.value.as_f64().map(|y| (p.step as f64, y)))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        Ok(super::chartdata::decimate(&points, max_points))
    }

    /// The smallest and largest finite number logged under `name` (ints as
    /// floats; NaN, infinities, strings and lists left out), `None` when there
    /// is none. Sources that keep summaries answer without reading every point.
    fn metric_range(&self, run_id: &str, name: &str) -> HistoryResult<Option<(f64, f64)>> {
        let mut range: Option<(f64, f64)> = None;
        for p in self.metric_history(run_id, name)? {
            if let Some(y) = p.value.as_f64().filter(|y| y.is_finite()) {
                range = Some(range.map_or((y, y), |(lo, hi)| (lo.min(y), hi.max(y))));
            }
        }
        Ok(range)
    }

    /// Calls `each` with every value logged under `name`, in logging order,
    /// stopping at its first error. Sources that can (the embedded store)
    /// read a page at a time, so a long series is never held in memory.
    fn for_each_point(
        &self,
        run_id: &str,
        name: &str,
        each: &mut dyn FnMut(MetricPoint) -> HistoryResult<()>,
    ) -> HistoryResult<()> {
        for p in self.metric_history(run_id, name)? {
            each(p)?;
        }
        Ok(())
    }

    /// The run's artifact files, sorted by path.
    fn artifacts(&self, run_id: &str) -> HistoryResult<Vec<ArtifactEntry>>;

    /// Copies the artifact's content to `out`; returns how many bytes it wrote.
    fn read_artifact(&self, run_id: &str, path: &str, out: &mut dyn Write) -> HistoryResult<u64>;

    /// Makes the next version of asset `name` from the run's artifacts under `prefix`.
    fn promote(&self, run_id: &str, prefix: &str, name: &str) -> HistoryResult<AssetVersion>;

    /// All assets with their versions, sorted by name.
    fn assets(&self) -> HistoryResult<Vec<Asset>>;
}

/// Serialises an `f64` as a JSON number, or as `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub mod json_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `v`.
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_str(non_finite_name(*v))
        }
    }

    /// Reads a number or one of the three names.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum NumOrName {
            Num(f64),
            Name(String),
        }
        match NumOrName::deserialize(d)? {
            NumOrName::Num(v) => Ok(v),
            NumOrName::Name(n) => parse_name(&n)
                .ok_or_else(|| serde::de::Error::custom(format!("not a number: {n:?}"))),
        }
    }

    pub(super) fn non_finite_name(v: f64) -> &'static str {
        if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
    }

    pub(super) fn parse_name(n: &str) -> Option<f64> {
        match n {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        }
    }
}

/// [`json_f64`] for a list of floats.
pub mod json_f64_vec {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    struct One(f64);

    impl Serialize for One {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            super::json_f64::serialize(&self.0, s)
        }
    }

    #[derive(Deserialize)]
    struct OneDe(#[serde(with = "super::json_f64")] f64);

    /// Writes `v`.
    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for &x in v {
            seq.serialize_element(&One(x))?;
        }
        seq.end()
    }

    /// Reads a list of numbers or names.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<OneDe>::deserialize(d)?
            .into_iter()
            .map(|x| x.0)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_floats_round_trip_through_json() {
        let v = MetricValue::FloatList(vec![1.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
        let s = serde_json::to_string(&v).unwrap();
        assert_eq!(s, r#"{"float_list":[1.5,"NaN","Infinity","-Infinity"]}"#);
        let back: MetricValue = serde_json::from_str(&s).unwrap();
        let MetricValue::FloatList(xs) = back else {
            panic!("kind changed")
        };
        assert_eq!(xs[0], 1.5);
        assert!(xs[1].is_nan());
        assert_eq!(xs[2], f64::INFINITY);
        assert_eq!(xs[3], f64::NEG_INFINITY);
    }

    #[test]
    fn status_parses_any_case_and_rejects_others() {
        assert_eq!(RunStatus::parse("finished").unwrap(), RunStatus::Finished);
        assert!(RunStatus::parse("done").is_err());
        assert_eq!(
            serde_json::to_string(&RunStatus::Killed).unwrap(),
            "\"KILLED\""
        );
    }
}
