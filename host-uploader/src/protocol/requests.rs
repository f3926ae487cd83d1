//! The MLflow tracking REST API 2.0 requests, as types: one struct per
//! endpoint, decoded with serde derives, so the contract lives here and not
//! in handler code.
//!
//! MLflow's JSON is protobuf JSON: an int64 may be a number or a decimal
//! string, a repeated field given once in a query string is a plain string,
//! and a metric value may be `"NaN"` or `"Infinity"`. The field types below
//! ([`Int`], [`List`], [`Number`]) accept exactly those spellings. Fields a
//! client sends that runlog does not use are ignored, as MLflow does.
//!
//! This module depends on serde alone, so the MLflow client
//! (`crate::mlflow`) can share it with the server.

use std::borrow::Cow;

use serde::de::{self, Deserializer};
use serde::Deserialize;

/// A metric value: an integer literal stays an integer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// A JSON integer literal (or a decimal string of one).
    Int(i64),
    /// Anything else: a float, `"NaN"`, `"Infinity"`, `"-Infinity"`.
    Float(f64),
}

impl Number {
    /// Parses MLflow's string spellings of a number.
    pub fn parse(v: &str) -> Option<Self> {
        match v {
            "NaN" | "nan" => Some(Self::Float(f64::NAN)),
            "Infinity" | "inf" => Some(Self::Float(f64::INFINITY)),
            "-Infinity" | "-inf" => Some(Self::Float(f64::NEG_INFINITY)),
            _ => v
                .parse::<i64>()
                .map(Self::Int)
                .ok()
                .or_else(|| v.parse::<f64>().ok().map(Self::Float)),
        }
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, \"NaN\", \"Infinity\" or \"-Infinity\"")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Number, E> {
                Ok(Number::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Number, E> {
                Ok(i64::try_from(v).map_or(Number::Float(v as f64), Number::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Number, E> {
                Ok(Number::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Number, E> {
                Number::parse(v).ok_or_else(|| E::custom(format!("{v:?} is not a number")))
            }
        }
        d.deserialize_any(V)
    }
}

/// An int64 as a number or a decimal string; absent or `null` is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Int(pub Option<i64>);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer or a decimal string of one")
            }
            fn visit_unit<E>(self) -> Result<Int, E> {
                Ok(Int(None))
            }
            fn visit_none<E>(self) -> Result<Int, E> {
                Ok(Int(None))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Int, E> {
                Ok(Int(Some(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(|v| Int(Some(v)))
                    .map_err(|_| E::custom(format!("{v} is out of the int64 range")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int, E> {
                if v.fract() == 0.0 && v.abs() < 9.2e18 {
                    Ok(Int(Some(v as i64)))
                } else {
                    Err(E::custom(format!("{v} is not an integer")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                v.trim()
                    .parse()
                    .map(|v| Int(Some(v)))
                    .map_err(|_| E::custom(format!("{v:?} is not an integer")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A repeated string field: a JSON array, or one string (a query string
/// names a repeated field once per value; given once it is a plain string).
/// Numbers are taken as their decimal text (experiment ids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct List(pub Vec<String>);

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Item {
            S(String),
            I(i64),
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(Item),
            Many(Vec<Item>),
            Null(()),
        }
        let text = |i: Item| match i {
            Item::S(s) => s,
            Item::I(i) => i.to_string(),
        };
        match OneOrMany::deserialize(d) {
            Ok(OneOrMany::One(i)) => Ok(List(vec![text(i)])),
            Ok(OneOrMany::Many(v)) => Ok(List(v.into_iter().map(text).collect())),
            Ok(OneOrMany::Null(())) => Ok(List(Vec::new())),
            Err(_) => Err(de::Error::custom("expected a string or a list of strings")),
        }
    }
}

/// `{key, value}`: a param or a tag.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyValue<'a> {
    /// The key.
    #[serde(borrow)]
    pub key: Cow<'a, str>,
    /// The value; absent or `null` is the empty string.
    #[serde(borrow, default)]
    pub value: Option<Cow<'a, str>>,
}

impl KeyValue<'_> {
    /// The value, `""` when absent.
    pub fn value(&self) -> &str {
        self.value.as_deref().unwrap_or("")
    }
}

/// One metric point of a log request.
#[derive(Debug, Clone, Deserialize)]
pub struct Metric<'a> {
    /// Metric name.
    #[serde(borrow)]
    pub key: Cow<'a, str>,
    /// Value.
    pub value: Number,
    /// Milliseconds since the epoch (the server's clock when absent).
    #[serde(default)]
    pub timestamp: Int,
    /// Step (0 when absent).
    #[serde(default)]
    pub step: Int,
}

/// Names a run: `run_id`, or the older `run_uuid` that clients still send.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunRef {
    /// The run id.
    #[serde(default)]
    pub run_id: Option<String>,
    /// The same, under its pre-1.0 name.
    #[serde(default)]
    pub run_uuid: Option<String>,
}

/// The message for a required field that is absent.
pub fn missing(field: &str) -> String {
    format!("missing value for required parameter {field:?}")
}

impl RunRef {
    /// The run id; `Err` names the missing parameter.
    pub fn get(&self) -> Result<&str, String> {
        run_id_of(self.run_id.as_deref(), self.run_uuid.as_deref())
    }
}

fn run_id_of<'s>(id: Option<&'s str>, uuid: Option<&'s str>) -> Result<&'s str, String> {
    id.filter(|r| !r.is_empty())
        .or(uuid.filter(|r| !r.is_empty()))
        .ok_or_else(|| missing("run_id"))
}

/// `runs/log-batch`, decoded straight from the body, borrowing its strings
/// (the hot path of uploads).
#[derive(Debug, Deserialize)]
pub struct LogBatch<'a> {
    /// The run id.
    #[serde(borrow, default)]
    pub run_id: Option<Cow<'a, str>>,
    /// The run id under its old name.
    #[serde(borrow, default)]
    pub run_uuid: Option<Cow<'a, str>>,
    /// Metric points.
    #[serde(borrow, default)]
    pub metrics: Vec<Metric<'a>>,
    /// Params.
    #[serde(borrow, default)]
    pub params: Vec<KeyValue<'a>>,
    /// Tags.
    #[serde(borrow, default)]
    pub tags: Vec<KeyValue<'a>>,
}

impl LogBatch<'_> {
    /// The run id; `Err` names the missing parameter.
    pub fn run_id(&self) -> Result<&str, String> {
        run_id_of(self.run_id.as_deref(), self.run_uuid.as_deref())
    }
}

/// `experiments/get-by-name`.
#[derive(Debug, Deserialize)]
pub struct GetExperimentByName {
    /// The name.
    pub experiment_name: String,
}

/// `experiments/get`.
#[derive(Debug, Deserialize)]
pub struct GetExperiment {
    /// The id.
    pub experiment_id: String,
}

/// `experiments/create`.
#[derive(Debug, Deserialize)]
pub struct CreateExperiment {
    /// The name.
    pub name: String,
}

/// `experiments/search` and `registered-models/search`.
#[derive(Debug, Default, Deserialize)]
pub struct SearchByName {
    /// `name = '...'`, `name LIKE '...'`, ...
    #[serde(default)]
    pub filter: Option<String>,
    /// Page size.
    #[serde(default)]
    pub max_results: Int,
    /// The offset a previous page handed out.
    #[serde(default)]
    pub page_token: Option<String>,
}

/// `runs/create`.
#[derive(Debug, Default, Deserialize)]
pub struct CreateRun<'a> {
    /// The experiment (`0`, Default, when absent).
    #[serde(default)]
    pub experiment_id: Option<String>,
    /// Initial tags.
    #[serde(borrow, default)]
    pub tags: Vec<KeyValue<'a>>,
    /// The run's name (tag `mlflow.runName`).
    #[serde(default)]
    pub run_name: Option<String>,
    /// The user (tag `mlflow.user`).
    #[serde(default)]
    pub user_id: Option<String>,
    /// Start time, ms since the epoch.
    #[serde(default)]
    pub start_time: Int,
}

/// `runs/update`.
#[derive(Debug, Default, Deserialize)]
pub struct UpdateRun {
    /// The run.
    #[serde(flatten)]
    pub run: RunRef,
    /// `RUNNING`, `FINISHED`, `FAILED`, `KILLED`.
    #[serde(default)]
    pub status: Option<String>,
    /// End time, ms since the epoch.
    #[serde(default)]
    pub end_time: Int,
    /// A new name.
    #[serde(default)]
    pub run_name: Option<String>,
}

/// `runs/search`.
#[derive(Debug, Default, Deserialize)]
pub struct SearchRuns {
    /// Experiments to search.
    #[serde(default)]
    pub experiment_ids: List,
    /// An MLflow filter (see `filter.rs`).
    #[serde(default)]
    pub filter: Option<String>,
    /// Page size.
    #[serde(default)]
    pub max_results: Int,
    /// The offset a previous page handed out.
    #[serde(default)]
    pub page_token: Option<String>,
    /// `field [ASC|DESC]`, most significant first.
    #[serde(default)]
    pub order_by: List,
}

/// `runs/log-metric`.
#[derive(Debug, Deserialize)]
pub struct LogMetric<'a> {
    /// The run.
    #[serde(flatten)]
    pub run: RunRef,
    /// The point (`key`, `value`, `timestamp`, `step`).
    #[serde(flatten, borrow)]
    pub metric: Metric<'a>,
}

/// `runs/log-parameter` and `runs/set-tag`.
#[derive(Debug, Deserialize)]
pub struct SetKeyValue<'a> {
    /// The run.
    #[serde(flatten)]
    pub run: RunRef,
    /// Key and value.
    #[serde(flatten, borrow)]
    pub kv: KeyValue<'a>,
}

/// `metrics/get-history`.
#[derive(Debug, Deserialize)]
pub struct GetMetricHistory {
    /// The run.
    #[serde(flatten)]
    pub run: RunRef,
    /// The metric.
    pub metric_key: String,
    /// Page size (at most 25000).
    #[serde(default)]
    pub max_results: Int,
    /// The offset a previous page handed out.
    #[serde(default)]
    pub page_token: Option<String>,
}

/// `artifacts/list`.
#[derive(Debug, Deserialize)]
pub struct ListArtifacts {
    /// The run.
    #[serde(flatten)]
    pub run: RunRef,
    /// A directory under the run's artifacts.
    #[serde(default)]
    pub path: Option<String>,
}

/// `registered-models/create` and `registered-models/get`.
#[derive(Debug, Deserialize)]
pub struct ModelName {
    /// The model's name.
    pub name: String,
}

/// `model-versions/create`.
#[derive(Debug, Deserialize)]
pub struct CreateModelVersion {
    /// The model's name.
    pub name: String,
    /// `runs:/<run>/<prefix>` or `mlflow-artifacts:/<exp>/<run>/artifacts/<prefix>`.
    pub source: String,
    /// The run the source must belong to.
    #[serde(default)]
    pub run_id: Option<String>,
}

/// `model-versions/get`.
#[derive(Debug, Deserialize)]
pub struct GetModelVersion {
    /// The model's name.
    pub name: String,
    /// The version number, as text.
    pub version: String,
}

/// `model-versions/search`.
#[derive(Debug, Default, Deserialize)]
pub struct SearchModelVersions {
    /// `name = '...'`.
    #[serde(default)]
    pub filter: Option<String>,
}

/// `GET /api/2.0/mlflow-artifacts/artifacts?path=...`.
#[derive(Debug, Default, Deserialize)]
pub struct ArtifactListing {
    /// `<experiment_id>/<run_id>/artifacts[/<dir>]`.
    #[serde(default)]
    pub path: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_json_spellings() {
        let m: Metric =
            serde_json::from_str(r#"{"key":"k","value":"NaN","timestamp":"17","step":3.0}"#)
                .unwrap();
        assert!(matches!(m.value, Number::Float(f) if f.is_nan()));
        assert_eq!((m.timestamp, m.step), (Int(Some(17)), Int(Some(3))));
        let m: Metric = serde_json::from_str(r#"{"key":"k","value":9007199254740993}"#).unwrap();
        assert_eq!(m.value, Number::Int(9_007_199_254_740_993));
        let s: SearchRuns =
            serde_json::from_str(r#"{"experiment_ids":"1","order_by":["a DESC"]}"#).unwrap();
        assert_eq!(s.experiment_ids.0, ["1"]);
        let s: SearchRuns = serde_json::from_str(r#"{"experiment_ids":[0, "2"]}"#).unwrap();
        assert_eq!(s.experiment_ids.0, ["0", "2"]);
        assert!(serde_json::from_str::<SearchRuns>(r#"{"experiment_ids":{"a":1}}"#).is_err());
        assert!(serde_json::from_str::<Metric>(r#"{"key":"k","value":"x"}"#).is_err());
        assert!(serde_json::from_str::<Metric>(r#"{"key":"k","value":1,"step":1.5}"#).is_err());
        let u: UpdateRun = serde_json::from_str(r#"{"run_uuid":"r","status":"FINISHED"}"#).unwrap();
        assert_eq!(u.run.get(), Ok("r"));
        let l: LogMetric = serde_json::from_str(r#"{"run_id":"r","key":"k","value":2}"#).unwrap();
        assert_eq!(l.metric.value, Number::Int(2));
        assert_eq!(RunRef::default().get(), Err(missing("run_id")));
    }
}
