//! The JSON shapes of MLflow's entities (Metric, Run, Experiment,
//! ModelVersion) and the value mapping of DESIGN.md: integer and float
//! series are metrics (integers stay integer literals; NaN and the
//! infinities are protobuf's strings), a list is one metric with steps
//! 0..n-1, a string series is a tag (its latest value).
//!
//! The store's rows are rendered here, so `runlog serve` has one place
//! that says what a stored run looks like on the wire.

use serde_json::{json, Value};

use crate::store::repo::experiments::Experiment;
use crate::store::repo::metrics::Latest;
use crate::store::repo::models::ModelVersion;
use crate::store::repo::runs::RunRow;
use crate::store::series::Scalar;
use crate::store::value::MetricValue;

/// A metric value: integers stay exact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// An integer.
    I64(i64),
    /// A float (NaN and infinities included).
    F64(f64),
}

impl Num {
    /// As a float, the way MLflow holds every metric.
    pub fn as_f64(self) -> f64 {
        match self {
            Num::I64(v) => v as f64,
            Num::F64(v) => v,
        }
    }

    /// As JSON: integers as integer literals, NaN and infinities as protobuf's strings.
    pub fn to_json(self) -> Value {
        match self {
            Num::I64(v) => v.into(),
            Num::F64(v) if v.is_nan() => "NaN".into(),
            Num::F64(v) if v == f64::INFINITY => "Infinity".into(),
            Num::F64(v) if v == f64::NEG_INFINITY => "-Infinity".into(),
            Num::F64(v) => serde_json::Number::from_f64(v)
                .map(Value::Number)
                .unwrap_or(Value::Null),
        }
    }

    /// Reads what [`Num::to_json`] (or any MLflow server) wrote: a number
    /// (an integer literal stays an integer), `"NaN"`, `"Infinity"`,
    /// `"-Infinity"`, or a decimal string (a float); `None` for anything else.
    pub fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Number(n) => n
                .as_i64()
                .map(Num::I64)
                .or_else(|| n.as_f64().map(Num::F64)),
            Value::String(s) => match s.as_str() {
                "NaN" => Some(Num::F64(f64::NAN)),
                "Infinity" => Some(Num::F64(f64::INFINITY)),
                "-Infinity" => Some(Num::F64(f64::NEG_INFINITY)),
                s => s.parse().ok().map(Num::F64),
            },
            _ => None,
        }
    }
}

impl From<Scalar> for Num {
    fn from(v: Scalar) -> Self {
        match v {
            Scalar::I64(i) => Num::I64(i),
            Scalar::F64(f) => Num::F64(f),
        }
    }
}

/// One point of a metric's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Metric name.
    pub key: String,
    /// The value.
    pub value: Num,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The step.
    pub step: i64,
}

impl Point {
    /// MLflow's Metric JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "key": self.key, "value": self.value.to_json(),
            "timestamp": self.timestamp, "step": self.step,
        })
    }

    /// The metric points of stored value `v` of series `key`: a number is
    /// one point at `step`, a list one point per element (steps 0..n-1), a
    /// string none (it is a tag).
    pub fn expand(key: &str, v: &MetricValue, step: i64, timestamp: i64, out: &mut Vec<Point>) {
        let point = |step, value| Point {
            key: key.to_string(),
            value,
            timestamp,
            step,
        };
        match v {
            MetricValue::I64(i) => out.push(point(step, Num::I64(*i))),
            MetricValue::F64(f) => out.push(point(step, Num::F64(*f))),
            MetricValue::Str(_) => {}
            MetricValue::F64List(l) => out.extend(
                l.iter()
                    .enumerate()
                    .map(|(i, f)| point(i as i64, Num::F64(*f))),
            ),
            MetricValue::I64List(l) => out.extend(
                l.iter()
                    .enumerate()
                    .map(|(i, v)| point(i as i64, Num::I64(*v))),
            ),
        }
    }
}

/// Appends MLflow's Metric JSON for one point to `out`, the same shape as
/// [`Point::to_json`] written straight as text: the client builds
/// log-batch bodies of 1000 metrics without a JSON tree per point.
pub fn write_metric(out: &mut String, key: &str, value: Num, timestamp: i64, step: i64) {
    use std::fmt::Write as _;
    out.push_str("{\"key\":");
    out.push_str(&serde_json::to_string(key).unwrap_or_else(|_| "\"\"".into()));
    out.push_str(",\"value\":");
    match value {
        Num::I64(i) => {
            let _ = write!(out, "{i}");
        }
        Num::F64(f) if f.is_nan() => out.push_str("\"NaN\""),
        Num::F64(f) if f == f64::INFINITY => out.push_str("\"Infinity\""),
        Num::F64(f) if f == f64::NEG_INFINITY => out.push_str("\"-Infinity\""),
        // `{:?}` keeps a decimal point (1.0, not 1), so a float stays a float.
        Num::F64(f) => {
            let _ = write!(out, "{f:?}");
        }
    }
    let _ = write!(out, ",\"timestamp\":{timestamp},\"step\":{step}}}");
}

impl Experiment {
    /// MLflow's Experiment JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "experiment_id": self.id.to_string(), "name": self.name,
            "artifact_location": format!("mlflow-artifacts:/{}", self.id),
            "lifecycle_stage": "active",
            "creation_time": self.created_ms, "last_update_time": self.created_ms,
            "tags": [],
        })
    }
}

/// A run's data: latest metrics, params and tags.
#[derive(Debug, Clone, Default)]
pub struct RunData {
    /// Latest value of each numeric metric.
    pub metrics: Vec<Point>,
    /// Params, by key.
    pub params: Vec<(String, String)>,
    /// Tags, by key (string metrics included, as their latest value).
    pub tags: Vec<(String, String)>,
}

impl RunData {
    /// A stored run's data as MLflow shows it: each numeric series' latest
    /// value (a list's last element, at step n-1), params, and tags joined
    /// by the string series (a tag set explicitly wins) and by what
    /// `runlog run` recorded (`runlog.command`, `runlog.exit_code`).
    pub fn from_store(
        run: &RunRow,
        latest: Vec<Latest>,
        params: Vec<(String, String)>,
        mut tags: Vec<(String, String)>,
    ) -> Self {
        let mut metrics = Vec::new();
        let mut string_tags = Vec::new();
        for l in latest {
            let ts = l.time_ms.unwrap_or(run.start_ms);
            let step = l.step.unwrap_or(0);
            let (value, step) = match l.value {
                Some(MetricValue::I64(i)) => (Num::I64(i), step),
                Some(MetricValue::F64(f)) => (Num::F64(f), step),
                Some(MetricValue::F64List(v)) => match v.last() {
                    Some(f) => (Num::F64(*f), v.len() as i64 - 1),
                    None => continue,
                },
                Some(MetricValue::I64List(v)) => match v.last() {
                    Some(i) => (Num::I64(*i), v.len() as i64 - 1),
                    None => continue,
                },
                Some(MetricValue::Str(t)) => {
                    string_tags.push((l.name, t));
                    continue;
                }
                None => continue,
            };
            metrics.push(Point {
                key: l.name,
                value,
                timestamp: ts,
                step,
            });
        }
        for (k, v) in string_tags {
            if !tags.iter().any(|(t, _)| *t == k) {
                tags.push((k, v));
            }
        }
        if let Some(cmd) = &run.command {
            tags.push(("runlog.command".into(), cmd.clone()));
        }
        if let Some(code) = run.exit_code {
            tags.push(("runlog.exit_code".into(), code.to_string()));
        }
        tags.sort();
        Self {
            metrics,
            params,
            tags,
        }
    }
}

/// A run with its data.
#[derive(Debug, Clone)]
pub struct Run {
    /// The row.
    pub row: RunRow,
    /// Metrics, params, tags.
    pub data: RunData,
}

impl Run {
    /// The run's name (tag `mlflow.runName`, else its id).
    pub fn name(&self) -> &str {
        self.tag("mlflow.runName").unwrap_or(&self.row.run_id)
    }

    /// A tag's value.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.data
            .tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Where MLflow clients find the run's artifacts (proxied through this server).
    pub fn artifact_uri(&self) -> String {
        format!(
            "mlflow-artifacts:/{}/{}/artifacts",
            self.row.experiment_id, self.row.run_id
        )
    }

    /// MLflow's Run JSON.
    pub fn to_json(&self) -> Value {
        let kv = |v: &[(String, String)]| -> Vec<Value> {
            v.iter()
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect()
        };
        let mut info = json!({
            "run_id": self.row.run_id, "run_uuid": self.row.run_id,
            "run_name": self.name(), "experiment_id": self.row.experiment_id.to_string(),
            "user_id": self.tag("mlflow.user").unwrap_or(""),
            "status": self.row.status, "start_time": self.row.start_ms,
            "artifact_uri": self.artifact_uri(), "lifecycle_stage": "active",
        });
        if let Some(end) = self.row.end_ms {
            info["end_time"] = end.into();
        }
        json!({
            "info": info,
            "data": {
                "metrics": self.data.metrics.iter().map(Point::to_json).collect::<Vec<_>>(),
                "params": kv(&self.data.params),
                "tags": kv(&self.data.tags),
            },
            "inputs": {},
        })
    }
}

impl ModelVersion {
    /// MLflow's ModelVersion JSON; the source is the run's artifact prefix.
    pub fn to_json(&self) -> Value {
        let source = if self.prefix.is_empty() {
            format!(
                "mlflow-artifacts:/{}/{}/artifacts",
                self.experiment_id, self.run_id
            )
        } else {
            format!(
                "mlflow-artifacts:/{}/{}/artifacts/{}",
                self.experiment_id, self.run_id, self.prefix
            )
        };
        json!({
            "name": self.name, "version": self.version.to_string(),
            "creation_timestamp": self.created_ms, "last_updated_timestamp": self.created_ms,
            "current_stage": "None", "source": source, "run_id": self.run_id,
            "status": "READY", "description": "",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_writer_and_the_json_tree_agree() {
        for v in [
            Num::I64(9_007_199_254_740_993),
            Num::F64(1.0),
            Num::F64(-2.5e-300),
            Num::F64(f64::INFINITY),
            Num::F64(f64::NEG_INFINITY),
        ] {
            let mut text = String::new();
            write_metric(&mut text, "k\"\u{1}é", v, 5, -3);
            let parsed: Value = serde_json::from_str(&text).unwrap();
            let point = Point {
                key: "k\"\u{1}é".into(),
                value: v,
                timestamp: 5,
                step: -3,
            };
            assert_eq!(parsed, point.to_json(), "{text}");
            assert_eq!(Num::from_json(&parsed["value"]), Some(v));
        }
        let mut text = String::new();
        write_metric(&mut text, "n", Num::F64(f64::NAN), 0, 0);
        assert!(text.contains(r#""value":"NaN""#), "{text}");
    }

    #[test]
    fn values_round_trip_through_the_wire_spelling() {
        for n in [
            Num::I64(9_007_199_254_740_993),
            Num::I64(-1),
            Num::F64(0.5),
            Num::F64(f64::INFINITY),
            Num::F64(f64::NEG_INFINITY),
        ] {
            assert_eq!(Num::from_json(&n.to_json()), Some(n));
        }
        let nan = Num::from_json(&Num::F64(f64::NAN).to_json());
        assert!(matches!(nan, Some(Num::F64(f)) if f.is_nan()));
        assert_eq!(Num::from_json(&json!("1.5")), Some(Num::F64(1.5)));
        assert_eq!(Num::from_json(&json!("x")), None);
        assert_eq!(Num::from_json(&json!(null)), None);
    }
}
