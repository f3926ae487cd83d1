//! The chart data endpoint: `GET /api/2.0/runlog/metrics/chart?run_id=RUN&
//! metric_key=KEY[&max_points=N]` gives the web page the points of one
//! metric to draw, at most about `max_points` of them, however long the
//! series.
//!
//! A series of at most `max_points` numbers comes back whole (lists expanded
//! to steps 0..n-1, as `metrics/get-history` does); a longer one comes back
//! as the minimum and maximum of each group of chunks, read from the chunks'
//! summaries without decoding them ([`series::chart`]), so a 1,000,000-point
//! series costs a few thousand summary rows and spikes survive. A series
//! holding lists (summaries do not describe their elements) is reduced the
//! same way from its decoded numbers, so a long logged list is drawn as the
//! same line as a short one, downsampled. Values that are not finite (NaN,
//! infinities) are left out: a chart cannot place them.
//!
//! A metric logged by several ranks (`loss`, `loss/rank1`, ...: the grouping
//! is [`crate::ranks::group_ranks`]'s) comes back whole: asking for any of
//! its series gives every rank's, one entry each, so the page draws one
//! chart with a line per rank and never parses names itself.
//!
//! Answer: `{"metric_key": K, "logged_name": "loss", "downsampled": bool,
//! "series": [{"metric_key": "loss/rank1", "rank": 1, "downsampled": bool,
//! "steps": [...], "values": [...]}, ...]}`, ranks ascending; `max_points`
//! applies to each series.

use serde::Deserialize;
use serde_json::{json, Value};

use super::db;
use super::error::{ApiError, ApiResult};
use super::protocol::{self as p, RunRef};
use crate::store::series::{self, Scalar};
use crate::store::Store;

/// `max_points` when the request names none.
pub const DEFAULT_POINTS: i64 = 2000;
/// The fewest points a request may ask for (one bucket's minimum and maximum).
pub const MIN_POINTS: i64 = 2;
/// The most points a request may ask for.
pub const MAX_POINTS: i64 = 20_000;

/// The most series (ranks) one answer holds: the first ones by rank; the
/// answer says how many more there are (`"omitted"`). Bounds the answer
/// (each series up to `max_points`) whatever a run holds.
pub const MAX_SERIES: usize = 64;

/// The request: query parameters (or a JSON body; the body wins).
#[derive(Debug, Deserialize)]
pub struct ChartRequest {
    /// The run.
    #[serde(flatten)]
    pub run: RunRef,
    /// The metric.
    pub metric_key: String,
    /// How many points at most (about): [`MIN_POINTS`]..=[`MAX_POINTS`].
    #[serde(default)]
    pub max_points: p::Int,
}

/// Decodes the request from the merged query and body.
pub fn decode(v: Value) -> ApiResult<ChartRequest> {
    serde_json::from_value(v).map_err(|e| ApiError::invalid(format!("metrics/chart: {e}")))
}

/// The points of the requested metric, ready for the page.
pub fn chart(store: &Store, req: &ChartRequest) -> ApiResult<Value> {
    let max = req.max_points.0.unwrap_or(DEFAULT_POINTS);
    if !(MIN_POINTS..=MAX_POINTS).contains(&max) {
        return Err(ApiError::invalid(format!(
            "max_points must be {MIN_POINTS} to {MAX_POINTS}, not {max}"
        )));
    }
    let max = max as usize;
    let run_id = req.run.get().map_err(ApiError::invalid)?;
    let run = db::run_row(store.conn(), run_id)?;
    let key = &req.metric_key;
    series::find(store.conn(), run.pk, key)?
        .ok_or_else(|| ApiError::not_found(format!("run {run_id:?} has no metric {key:?}")))?;
    let (logged_name, _) = crate::ranks::split_series_name(key);
    let group = crate::ranks::group_ranks(db::series_of(store.conn(), &run)?, |s| s.1.as_str())
        .into_iter()
        .find(|g| g.name == logged_name)
        .map(|g| g.ranks)
        .unwrap_or_default();
    let omitted = group.len().saturating_sub(MAX_SERIES);
    let mut out = Vec::with_capacity(group.len().min(MAX_SERIES));
    let mut any_more = false;
    for (rank, (id, name)) in group.into_iter().take(MAX_SERIES) {
        let (steps, values, more) = points(store, id, max)?;
        any_more |= more;
        out.push(json!({
            "metric_key": name,
            "rank": rank,
            "downsampled": more,
            "steps": steps,
            "values": values,
        }));
    }
    Ok(json!({
        "metric_key": key,
        "logged_name": logged_name,
        "downsampled": any_more,
        "omitted": omitted,
        "series": out,
    }))
}

/// One series' drawable points (steps, values) and whether they were reduced.
fn points(store: &Store, id: i64, max: usize) -> ApiResult<(Vec<f64>, Vec<f64>, bool)> {
    let internal = |e: anyhow::Error| ApiError::internal(format!("{e:#}"));
    let (numbers, more) = series::numbers(store.conn(), id, 0, max).map_err(internal)?;
    let points: Vec<(f64, f64)> = if more {
        series::chart(store.conn(), id, max).map_err(internal)?
    } else {
        numbers
            .iter()
            .map(|n| {
                let y = match n.value {
                    Scalar::I64(i) => i as f64,
                    Scalar::F64(f) => f,
                };
                (n.step as f64, y)
            })
            .filter(|(_, y)| y.is_finite())
            .collect()
    };
    let (steps, values): (Vec<f64>, Vec<f64>) = points.into_iter().unzip();
    Ok((steps, values, more))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::MetricValue;
    use crate::store::series::Appender;

    fn store_with(values: &[MetricValue]) -> (tempfile::TempDir, Store) {
        store_named(&[("m", values)])
    }

    fn store_named(series: &[(&str, &[MetricValue])]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let run = store.create_run("r", "e", 1, None).unwrap();
        let tx = store.conn_mut().transaction().unwrap();
        let mut a = Appender::new(&tx, run).unwrap();
        for (name, values) in series {
            for v in values.iter() {
                a.push(&tx, name, v.clone(), None, 5).unwrap();
            }
        }
        a.finish(&tx).unwrap();
        tx.commit().unwrap();
        (dir, store)
    }

    #[test]
    fn any_rank_of_a_metric_gives_every_ranks_series_with_its_rank() {
        let v = |x: f64| MetricValue::F64(x);
        let (_d, store) = store_named(&[
            ("loss/rank2", &[v(20.0), v(21.0)]),
            ("loss", &[v(0.0), v(1.0)]),
            ("loss/rank1", &[v(10.0)]),
            ("loss_mean", &[v(5.0)]),
            ("loss/rank01", &[v(7.0)]),
        ]);
        for key in ["loss", "loss/rank1", "loss/rank2"] {
            let r = chart(
                &store,
                &decode(json!({"run_id": "r", "metric_key": key})).unwrap(),
            )
            .unwrap();
            assert_eq!(r["metric_key"], key);
            assert_eq!(r["logged_name"], "loss");
            let got: Vec<(Value, Value, Value)> = r["series"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["rank"].clone(),
                        s["metric_key"].clone(),
                        s["values"].clone(),
                    )
                })
                .collect();
            assert_eq!(
                got,
                vec![
                    (json!(0), json!("loss"), json!([0.0, 1.0])),
                    (json!(1), json!("loss/rank1"), json!([10.0])),
                    (json!(2), json!("loss/rank2"), json!([20.0, 21.0])),
                ],
                "{key}"
            );
        }
        // At most MAX_SERIES ranks per answer; the rest are counted.
        let many: Vec<(String, Vec<MetricValue>)> = (0..MAX_SERIES as u32 + 3)
            .map(|r| (crate::ranks::series_name("x", Some(r)), vec![v(1.0)]))
            .collect();
        let refs: Vec<(&str, &[MetricValue])> = many
            .iter()
            .map(|(n, vs)| (n.as_str(), vs.as_slice()))
            .collect();
        let (_d2, big) = store_named(&refs);
        let r = chart(
            &big,
            &decode(json!({"run_id": "r", "metric_key": "x/rank7"})).unwrap(),
        )
        .unwrap();
        assert_eq!(r["series"].as_array().unwrap().len(), MAX_SERIES);
        assert_eq!(r["omitted"], 3);
        // Not a rank suffix: its own metric, alone.
        let r = chart(
            &store,
            &decode(json!({"run_id": "r", "metric_key": "loss/rank01"})).unwrap(),
        )
        .unwrap();
        assert_eq!(r["series"].as_array().unwrap().len(), 1);
        assert_eq!(r["series"][0]["rank"], 0);
    }

    fn req(max: Option<i64>) -> ChartRequest {
        decode(json!({ "run_id": "r", "metric_key": "m", "max_points": max })).unwrap()
    }

    #[test]
    fn a_short_series_comes_back_whole_with_lists_expanded_and_nan_left_out() {
        let (_d, store) = store_with(&[
            MetricValue::I64(3),
            MetricValue::F64(f64::NAN),
            MetricValue::F64List(vec![0.5, 0.25]),
        ]);
        let v = chart(&store, &req(None)).unwrap();
        assert_eq!(v["downsampled"], false);
        assert_eq!(v["series"][0]["steps"], json!([0.0, 0.0, 1.0]));
        assert_eq!(v["series"][0]["values"], json!([3.0, 0.5, 0.25]));
    }

    #[test]
    fn a_long_series_is_reduced_to_about_max_points() {
        let values: Vec<MetricValue> = (0..50_000).map(|i| MetricValue::I64(i % 97)).collect();
        let (_d, store) = store_with(&values);
        let v = chart(&store, &req(Some(100))).unwrap();
        assert_eq!(v["downsampled"], true);
        let n = v["series"][0]["steps"].as_array().unwrap().len();
        assert!(n > 10 && n <= 100, "{n}");
        assert_eq!(v["series"][0]["values"].as_array().unwrap().len(), n);
    }

    #[test]
    fn bad_requests_are_mlflow_errors() {
        let (_d, store) = store_with(&[MetricValue::I64(1)]);
        for max in [0, 1, MAX_POINTS + 1, -5, i64::MAX] {
            let e = chart(&store, &req(Some(max))).unwrap_err();
            assert_eq!(e.code, "INVALID_PARAMETER_VALUE", "{max}");
        }
        let e = chart(
            &store,
            &decode(json!({"run_id": "nope", "metric_key": "m"})).unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.code, "RESOURCE_DOES_NOT_EXIST");
        let e = chart(
            &store,
            &decode(json!({"run_id": "r", "metric_key": "other"})).unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.code, "RESOURCE_DOES_NOT_EXIST");
        assert!(decode(json!({"run_id": "r"})).is_err());
        assert!(decode(json!({"run_id": "r", "metric_key": "m", "max_points": "x"})).is_err());
    }
}
