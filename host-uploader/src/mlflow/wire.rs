//! Small pieces of the MLflow wire that delivery needs: metric JSON and
//! experiment ids (the shapes themselves live in [`crate::protocol`]).

use std::collections::HashMap;

use anyhow::{bail, Result};
use serde_json::json;

use super::client::{is_already_exists, is_not_found, Client};
use super::protocol;

/// Appends one metric as MLflow JSON ([`protocol::json::write_metric`]).
pub(crate) fn push_metric(out: &mut String, key: &str, value: MetricNum, ts: i64, step: i64) {
    let value = match value {
        MetricNum::I(i) => protocol::json::Num::I64(i),
        MetricNum::F(f) => protocol::json::Num::F64(f),
    };
    protocol::json::write_metric(out, key, value, ts, step);
}

/// A metric's number as sent: integers as JSON integer literals.
#[derive(Clone, Copy)]
pub(crate) enum MetricNum {
    /// An integer.
    I(i64),
    /// A float (NaN and infinities as MLflow's strings).
    F(f64),
}

/// The id of experiment `name` on `client`'s server (empty: `default`),
/// created if it does not exist; `cache` remembers ids already known.
pub(crate) fn experiment_id(
    client: &Client,
    cache: &mut HashMap<String, String>,
    name: &str,
) -> Result<String> {
    let name = if name.is_empty() { "default" } else { name };
    if let Some(id) = cache.get(name) {
        return Ok(id.clone());
    }
    let by_name = || client.get("experiments/get-by-name", &[("experiment_name", name)]);
    let id = match by_name() {
        Ok(v) => v["experiment"]["experiment_id"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        Err(e) if is_not_found(&e) => {
            match client.post("experiments/create", &json!({ "name": name })) {
                Ok(v) => v["experiment_id"].as_str().unwrap_or("").to_string(),
                // Someone else created it meanwhile.
                Err(e) if is_already_exists(&e) => by_name()?["experiment"]["experiment_id"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    if id.is_empty() {
        bail!("the server gave no id for experiment {name:?}");
    }
    cache.insert(name.to_string(), id.clone());
    Ok(id)
}
