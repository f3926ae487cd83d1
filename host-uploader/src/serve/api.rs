//! The MLflow tracking REST API 2.0 endpoints over the store.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::db::{self, MetricIn, Num};
use super::error::{ApiError, ApiResult};
use super::filter::Filter;
use crate::store::Store;

/// A request's parameters: the query string merged with the JSON body.
pub struct Params(Map<String, Value>);

impl Params {
    /// Merges a query (as JSON) and a body; the body wins.
    pub fn new(query: Map<String, Value>, body: &[u8]) -> ApiResult<Self> {
        let mut m = query;
        if !body.iter().all(u8::is_ascii_whitespace) {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
            let Value::Object(o) = v else {
                return Err(ApiError::bad_request("the body must be a JSON object"));
            };
            m.extend(o);
        }
        Ok(Self(m))
    }

    fn get(&self, k: &str) -> Option<&Value> {
        self.0.get(k).filter(|v| !v.is_null())
    }

    /// A string parameter, if present.
    pub fn opt_str(&self, k: &str) -> ApiResult<Option<&str>> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(ApiError::invalid(format!(
                "parameter {k:?} must be a string, not {v}"
            ))),
        }
    }

    /// A required string parameter.
    pub fn str(&self, k: &str) -> ApiResult<&str> {
        self.opt_str(k)?
            .ok_or_else(|| ApiError::invalid(format!("missing value for required parameter {k:?}")))
    }

    /// The run id (`run_id`, or the older `run_uuid`).
    pub fn run_id(&self) -> ApiResult<&str> {
        match self.opt_str("run_id")? {
            Some(r) if !r.is_empty() => Ok(r),
            _ => self.str("run_uuid"),
        }
    }

    /// An integer given as a number or a decimal string (protobuf int64 JSON).
    pub fn opt_i64(&self, k: &str) -> ApiResult<Option<i64>> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => int_of(v).map(Some).ok_or_else(|| {
                ApiError::invalid(format!("parameter {k:?} must be an integer, not {v}"))
            }),
        }
    }

    /// A list of strings (a JSON array, or one string).
    pub fn str_list(&self, k: &str) -> ApiResult<Vec<String>> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(ApiError::invalid(format!(
                        "parameter {k:?} must list strings"
                    ))),
                })
                .collect(),
            Some(v) => Err(ApiError::invalid(format!(
                "parameter {k:?} must be a list, not {v}"
            ))),
        }
    }

    /// `[{key, value}]` pairs.
    pub fn pairs(&self, k: &str) -> ApiResult<Vec<(String, String)>> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|t| match (t.get("key"), t.get("value")) {
                    (Some(Value::String(k)), Some(Value::String(v))) => Ok((k.clone(), v.clone())),
                    (Some(Value::String(k)), None | Some(Value::Null)) => {
                        Ok((k.clone(), String::new()))
                    }
                    _ => Err(ApiError::invalid(format!(
                        "each of {k:?} must be {{\"key\": string, \"value\": string}}"
                    ))),
                })
                .collect(),
            Some(v) => Err(ApiError::invalid(format!(
                "parameter {k:?} must be a list, not {v}"
            ))),
        }
    }
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A metric value as MLflow JSON carries it: a number, or "NaN"/"Infinity"/
/// "-Infinity"/a numeric string. An integer literal stays an integer.
#[derive(Debug, Clone, Copy)]
struct NumJson(Num);

impl<'de> Deserialize<'de> for NumJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = NumJson;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, \"NaN\", \"Infinity\" or \"-Infinity\"")
            }
            fn visit_i64<E>(self, v: i64) -> Result<NumJson, E> {
                Ok(NumJson(Num::I64(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<NumJson, E> {
                Ok(NumJson(
                    i64::try_from(v).map_or(Num::F64(v as f64), Num::I64),
                ))
            }
            fn visit_f64<E>(self, v: f64) -> Result<NumJson, E> {
                Ok(NumJson(Num::F64(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NumJson, E> {
                parse_num_str(v)
                    .map(NumJson)
                    .ok_or_else(|| E::custom(format!("{v:?} is not a number")))
            }
        }
        d.deserialize_any(V)
    }
}

fn parse_num_str(v: &str) -> Option<Num> {
    match v {
        "NaN" | "nan" => Some(Num::F64(f64::NAN)),
        "Infinity" | "inf" => Some(Num::F64(f64::INFINITY)),
        "-Infinity" | "-inf" => Some(Num::F64(f64::NEG_INFINITY)),
        _ => v
            .parse::<i64>()
            .map(Num::I64)
            .ok()
            .or_else(|| v.parse::<f64>().ok().map(Num::F64)),
    }
}

/// An int64 as a number or a decimal string.
#[derive(Debug, Clone, Copy, Default)]
struct IntJson(Option<i64>);

impl<'de> Deserialize<'de> for IntJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        if v.is_null() {
            return Ok(IntJson(None));
        }
        int_of(&v)
            .map(|i| IntJson(Some(i)))
            .ok_or_else(|| serde::de::Error::custom(format!("{v} is not an integer")))
    }
}

#[derive(Deserialize)]
struct MetricJson<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    value: NumJson,
    #[serde(default)]
    timestamp: IntJson,
    #[serde(default)]
    step: IntJson,
}

#[derive(Deserialize)]
struct KvJson<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow, default)]
    value: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct LogBatchJson<'a> {
    #[serde(borrow, default)]
    run_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    run_uuid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    metrics: Vec<MetricJson<'a>>,
    #[serde(borrow, default)]
    params: Vec<KvJson<'a>>,
    #[serde(borrow, default)]
    tags: Vec<KvJson<'a>>,
}

/// runs/log-batch, parsed straight from the body (the hot path of uploads).
pub fn log_batch(store: &mut Store, body: &[u8]) -> ApiResult<Value> {
    let b: LogBatchJson<'_> = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid runs/log-batch body: {e}")))?;
    let run_id = b
        .run_id
        .as_deref()
        .filter(|r| !r.is_empty())
        .or(b.run_uuid.as_deref())
        .ok_or_else(|| ApiError::invalid("missing value for required parameter \"run_id\""))?;
    let run = db::run_row(store.conn(), run_id)?;
    let now = db::now_ms();
    let metrics: Vec<MetricIn<'_>> = b
        .metrics
        .iter()
        .map(|m| MetricIn {
            key: &m.key,
            value: m.value.0,
            timestamp: m.timestamp.0.unwrap_or(now),
            step: m.step.0.unwrap_or(0),
        })
        .collect();
    let kv = |v: &'_ [KvJson<'_>]| -> Vec<(String, String)> {
        v.iter()
            .map(|p| {
                (
                    p.key.to_string(),
                    p.value.as_deref().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let params = kv(&b.params);
    let tags = kv(&b.tags);
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    db::log_batch(store, &run, &metrics, &params, &tags)?;
    Ok(json!({}))
}

/// Dispatches `/api/2.0/mlflow/<endpoint>`.
pub fn handle(store: &mut Store, method: &str, endpoint: &str, p: &Params) -> ApiResult<Value> {
    let get = method == "GET";
    let post = method == "POST";
    let need = |ok: bool, allowed: &str| {
        if ok {
            Ok(())
        } else {
            Err(ApiError::method(method, endpoint, allowed))
        }
    };
    match endpoint {
        "experiments/get-by-name" => {
            need(get, "GET")?;
            let name = p.str("experiment_name")?;
            let e = db::experiment_by_name(store.conn(), name)?.ok_or_else(|| {
                ApiError::not_found(format!("could not find experiment with name {name:?}"))
            })?;
            Ok(json!({ "experiment": e.to_json() }))
        }
        "experiments/get" => {
            need(get, "GET")?;
            let e = db::experiment_by_id(store.conn(), p.str("experiment_id")?)?;
            Ok(json!({ "experiment": e.to_json() }))
        }
        "experiments/create" => {
            need(post, "POST")?;
            let id = db::create_experiment(store.conn(), p.str("name")?)?;
            Ok(json!({ "experiment_id": id.to_string() }))
        }
        "experiments/search" => {
            need(get || post, "GET or POST")?;
            let filter = p.opt_str("filter")?.unwrap_or("");
            let name_filter = experiment_name_filter(filter)?;
            let max = p.opt_i64("max_results")?.unwrap_or(1000).clamp(1, 50_000) as usize;
            let offset = page_offset(p)?;
            let all: Vec<Value> = db::experiments(store.conn())?
                .into_iter()
                .filter(|e| name_filter.as_ref().is_none_or(|f| f(&e.name)))
                .map(|e| e.to_json())
                .collect();
            Ok(page("experiments", all, offset, max))
        }
        "runs/create" => {
            need(post, "POST")?;
            let exp = p.opt_str("experiment_id")?.unwrap_or("0");
            let exp = db::experiment_by_id(store.conn(), exp)?;
            let mut tags = p.pairs("tags")?;
            if let Some(name) = p.opt_str("run_name")?.filter(|n| !n.is_empty()) {
                tags.retain(|(k, _)| k != "mlflow.runName");
                tags.push(("mlflow.runName".into(), name.into()));
            }
            if let Some(user) = p.opt_str("user_id")?.filter(|u| !u.is_empty()) {
                if !tags.iter().any(|(k, _)| k == "mlflow.user") {
                    tags.push(("mlflow.user".into(), user.into()));
                }
            }
            let start = p.opt_i64("start_time")?.unwrap_or_else(db::now_ms);
            let run_id = db::create_run(store, exp.id, start, &tags)?;
            let run = db::run(store.conn(), &run_id)?;
            Ok(json!({ "run": run.to_json() }))
        }
        "runs/update" => {
            need(post, "POST")?;
            let row = db::run_row(store.conn(), p.run_id()?)?;
            db::update_run(
                store,
                &row,
                p.opt_str("status")?,
                p.opt_i64("end_time")?,
                p.opt_str("run_name")?,
            )?;
            let run = db::run(store.conn(), &row.run_id)?;
            Ok(json!({ "run_info": run.to_json()["info"] }))
        }
        "runs/get" => {
            need(get, "GET")?;
            let run = db::run(store.conn(), p.run_id()?)?;
            Ok(json!({ "run": run.to_json() }))
        }
        "runs/search" => {
            need(get || post, "GET or POST")?;
            let mut exp_ids = Vec::new();
            for e in p.str_list("experiment_ids")? {
                exp_ids.push(db::experiment_by_id(store.conn(), &e)?.id);
            }
            let filter = Filter::parse(p.opt_str("filter")?.unwrap_or(""))?;
            let max = p.opt_i64("max_results")?.unwrap_or(1000).clamp(1, 50_000) as usize;
            let offset = page_offset(p)?;
            let order = p.str_list("order_by")?;
            let mut runs = Vec::new();
            for row in db::run_rows(store.conn(), &exp_ids)? {
                let data = db::run_data(store.conn(), &row)?;
                let run = db::Run { row, data };
                if filter.matches(&run) {
                    runs.push(run);
                }
            }
            sort_runs(&mut runs, &order)?;
            let all: Vec<Value> = runs.iter().map(db::Run::to_json).collect();
            Ok(page("runs", all, offset, max))
        }
        "runs/log-metric" => {
            need(post, "POST")?;
            let row = db::run_row(store.conn(), p.run_id()?)?;
            let key = p.str("key")?;
            let value = match p.get("value") {
                Some(Value::Number(n)) => n
                    .as_i64()
                    .map(Num::I64)
                    .or_else(|| n.as_f64().map(Num::F64)),
                Some(Value::String(s)) => parse_num_str(s),
                _ => None,
            }
            .ok_or_else(|| ApiError::invalid("parameter \"value\" must be a number"))?;
            let m = MetricIn {
                key,
                value,
                timestamp: p.opt_i64("timestamp")?.unwrap_or_else(db::now_ms),
                step: p.opt_i64("step")?.unwrap_or(0),
            };
            db::log_batch(store, &row, &[m], &[], &[])?;
            Ok(json!({}))
        }
        "runs/log-parameter" => {
            need(post, "POST")?;
            let row = db::run_row(store.conn(), p.run_id()?)?;
            let v = p.opt_str("value")?.unwrap_or("");
            db::log_batch(store, &row, &[], &[(p.str("key")?, v)], &[])?;
            Ok(json!({}))
        }
        "runs/set-tag" => {
            need(post, "POST")?;
            let row = db::run_row(store.conn(), p.run_id()?)?;
            db::set_tag(
                store,
                &row,
                p.str("key")?,
                p.opt_str("value")?.unwrap_or(""),
            )?;
            Ok(json!({}))
        }
        "metrics/get-history" => {
            need(get, "GET")?;
            let row = db::run_row(store.conn(), p.run_id()?)?;
            let max = p.opt_i64("max_results")?.unwrap_or(25_000).clamp(1, 25_000) as usize;
            let offset = page_offset(p)?;
            let (points, more) =
                db::metric_history(store.conn(), &row, p.str("metric_key")?, offset, max)?;
            let mut out =
                json!({ "metrics": points.iter().map(db::Point::to_json).collect::<Vec<_>>() });
            if more {
                out["next_page_token"] = (offset + points.len()).to_string().into();
            }
            Ok(out)
        }
        "artifacts/list" => {
            need(get, "GET")?;
            let run = db::run(store.conn(), p.run_id()?)?;
            let path = p.opt_str("path")?.unwrap_or("");
            if !path.is_empty() {
                super::artifacts::check_path(path.trim_end_matches('/'))?;
            }
            let all = db::artifacts(store.conn(), &run.row)?;
            let files: Vec<Value> = db::list_dir(&all, path)
                .into_iter()
                .map(|e| {
                    let mut f = json!({ "path": e.path, "is_dir": e.is_dir });
                    if let Some(s) = e.size {
                        f["file_size"] = s.into();
                    }
                    f
                })
                .collect();
            Ok(json!({ "root_uri": run.artifact_uri(), "files": files }))
        }
        "registered-models/create" => {
            need(post, "POST")?;
            let name = p.str("name")?;
            let created = db::create_model(store.conn(), name)?;
            Ok(json!({ "registered_model": model_json(name, created, &[]) }))
        }
        "registered-models/get" => {
            need(get, "GET")?;
            let name = p.str("name")?;
            let (_, created) = db::model(store.conn(), name)?;
            let versions = db::model_versions(store.conn(), Some(name))?;
            Ok(json!({ "registered_model": model_json(name, created, &versions) }))
        }
        "registered-models/search" => {
            need(get || post, "GET or POST")?;
            let filter = experiment_name_filter(p.opt_str("filter")?.unwrap_or(""))?;
            let mut out = Vec::new();
            for name in db::model_names(store.conn())? {
                if filter.as_ref().is_none_or(|f| f(&name)) {
                    let (_, created) = db::model(store.conn(), &name)?;
                    let versions = db::model_versions(store.conn(), Some(&name))?;
                    out.push(model_json(&name, created, &versions));
                }
            }
            Ok(json!({ "registered_models": out }))
        }
        "model-versions/create" => {
            need(post, "POST")?;
            let name = p.str("name")?;
            let source = p.str("source")?;
            let (run_id, prefix) = parse_source(source, p.opt_str("run_id")?)?;
            let row = db::run_row(store.conn(), &run_id)?;
            let v = db::create_model_version(store, name, &row, &prefix)?;
            Ok(json!({ "model_version": v.to_json() }))
        }
        "model-versions/get" => {
            need(get, "GET")?;
            let name = p.str("name")?;
            let version = p.str("version")?;
            let v = db::model_versions(store.conn(), Some(name))?
                .into_iter()
                .find(|v| v.version.to_string() == version)
                .ok_or_else(|| {
                    ApiError::not_found(format!("model {name:?} has no version {version}"))
                })?;
            Ok(json!({ "model_version": v.to_json() }))
        }
        "model-versions/search" => {
            need(get || post, "GET or POST")?;
            let f = p.opt_str("filter")?.unwrap_or("");
            let name = model_version_filter(f)?;
            let out: Vec<Value> = db::model_versions(store.conn(), name.as_deref())?
                .iter()
                .map(db::ModelVersion::to_json)
                .collect();
            Ok(json!({ "model_versions": out }))
        }
        "logged-models/search" => {
            // MLflow 3 clients look for logged models when resolving
            // `runs:/` URIs; runlog keeps none, so the honest answer is empty.
            need(get || post, "GET or POST")?;
            Ok(json!({ "models": [] }))
        }
        _ => Err(ApiError::no_endpoint(
            method,
            &format!("/api/2.0/mlflow/{endpoint}"),
        )),
    }
}

fn page_offset(p: &Params) -> ApiResult<usize> {
    match p.opt_str("page_token")? {
        None | Some("") => Ok(0),
        Some(t) => t
            .parse()
            .map_err(|_| ApiError::invalid(format!("invalid page_token {t:?}"))),
    }
}

fn page(key: &str, all: Vec<Value>, offset: usize, max: usize) -> Value {
    let total = all.len();
    let items: Vec<Value> = all.into_iter().skip(offset).take(max).collect();
    let mut out = json!({ key: items });
    if offset + max < total {
        out["next_page_token"] = (offset + max).to_string().into();
    }
    out
}

fn model_json(name: &str, created: i64, versions: &[db::ModelVersion]) -> Value {
    let latest: Vec<Value> = versions.last().map(|v| v.to_json()).into_iter().collect();
    json!({
        "name": name, "creation_timestamp": created, "last_updated_timestamp": created,
        "latest_versions": latest,
    })
}

/// `runs:/<run_id>/<prefix>` or `mlflow-artifacts:/<exp>/<run_id>/artifacts/<prefix>`.
fn parse_source(source: &str, run_id: Option<&str>) -> ApiResult<(String, String)> {
    let (rid, prefix) = if let Some(rest) = source.strip_prefix("runs:/") {
        let (r, p) = rest.split_once('/').unwrap_or((rest, ""));
        (r.to_string(), p.to_string())
    } else if let Some(rest) = source.strip_prefix("mlflow-artifacts:") {
        let t = super::artifacts::parse_target(rest.trim_start_matches('/'))?;
        (t.run_id, t.path)
    } else {
        return Err(ApiError::invalid(format!(
            "model version source {source:?} must be runs:/<run_id>/<path> or an mlflow-artifacts: URI of a run on this server"
        )));
    };
    if let Some(r) = run_id.filter(|r| !r.is_empty()) {
        if r != rid {
            return Err(ApiError::invalid(format!(
                "source {source:?} is not an artifact of run {r}"
            )));
        }
    }
    let prefix = prefix.trim_end_matches('/').to_string();
    if !prefix.is_empty() {
        super::artifacts::check_path(&prefix)?;
    }
    Ok((rid, prefix))
}

type NameFilter = Box<dyn Fn(&str) -> bool>;

/// Experiment and model search filters: `name = 'x'`, `name != 'x'`, `name LIKE 'x%'`, `name ILIKE ...`.
fn experiment_name_filter(f: &str) -> ApiResult<Option<NameFilter>> {
    let f = f.trim();
    if f.is_empty() {
        return Ok(None);
    }
    let parsed = Filter::parse(&format!("tags.{f}")).ok().filter(|_| {
        let l = f.to_ascii_lowercase();
        l.starts_with("name ") || l.starts_with("name=") || l.starts_with("name!")
    });
    let Some(parsed) = parsed else {
        return Err(ApiError::invalid(format!(
            "unsupported filter {f:?}: this server understands name = '...', name != '...', name LIKE '...'"
        )));
    };
    Ok(Some(Box::new(move |name: &str| {
        let run = db::Run {
            row: db::RunRow {
                pk: 0,
                run_id: String::new(),
                experiment_id: 0,
                status: String::new(),
                start_ms: 0,
                end_ms: None,
                command: None,
                exit_code: None,
            },
            data: db::RunData {
                tags: vec![("name".into(), name.into())],
                ..Default::default()
            },
        };
        parsed.matches(&run)
    })))
}

/// `name = 'x'` (or `name='x'`) for model-versions/search.
fn model_version_filter(f: &str) -> ApiResult<Option<String>> {
    let f = f.trim();
    if f.is_empty() {
        return Ok(None);
    }
    let rest = f
        .strip_prefix("name")
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix('='))
        .map(str::trim);
    match rest {
        Some(v)
            if v.len() >= 2
                && (v.starts_with('\'') && v.ends_with('\'')
                    || v.starts_with('"') && v.ends_with('"')) =>
        {
            Ok(Some(v[1..v.len() - 1].to_string()))
        }
        _ => Err(ApiError::invalid(format!(
            "unsupported filter {f:?}: this server understands name = '...'"
        ))),
    }
}

fn sort_runs(runs: &mut [db::Run], order: &[String]) -> ApiResult<()> {
    // Default: newest first (run_rows' order), like MLflow.
    for o in order.iter().rev() {
        let mut it = o.split_whitespace();
        let field = it.next().unwrap_or("");
        let desc = match it.next().map(str::to_ascii_uppercase).as_deref() {
            None | Some("ASC") => false,
            Some("DESC") => true,
            Some(x) => {
                return Err(ApiError::invalid(format!(
                    "order_by {o:?}: {x:?} is not ASC or DESC"
                )))
            }
        };
        let field = field
            .trim_start_matches("attributes.")
            .trim_start_matches("attribute.");
        let key = |r: &db::Run| -> (Option<f64>, String) {
            match field {
                "start_time" => (Some(r.row.start_ms as f64), String::new()),
                "end_time" => (r.row.end_ms.map(|e| e as f64), String::new()),
                "run_name" => (None, r.name().to_string()),
                "status" => (None, r.row.status.clone()),
                "run_id" => (None, r.row.run_id.clone()),
                f => match f.strip_prefix("metrics.") {
                    Some(m) => (
                        r.data
                            .metrics
                            .iter()
                            .find(|x| x.key == m)
                            .map(|x| x.value.as_f64()),
                        String::new(),
                    ),
                    None => (
                        None,
                        f.strip_prefix("params.")
                            .or(f.strip_prefix("tags."))
                            .map_or(String::new(), |k| {
                                r.tag(k)
                                    .map(str::to_string)
                                    .or_else(|| {
                                        r.data
                                            .params
                                            .iter()
                                            .find(|(p, _)| p == k)
                                            .map(|(_, v)| v.clone())
                                    })
                                    .unwrap_or_default()
                            }),
                    ),
                },
            }
        };
        let known = matches!(
            field,
            "start_time" | "end_time" | "run_name" | "status" | "run_id"
        ) || field.starts_with("metrics.")
            || field.starts_with("params.")
            || field.starts_with("tags.");
        if !known {
            return Err(ApiError::invalid(format!("cannot order runs by {o:?}")));
        }
        runs.sort_by(|a, b| {
            let (ka, kb) = (key(a), key(b));
            let c =
                ka.0.partial_cmp(&kb.0)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| ka.1.cmp(&kb.1));
            if desc {
                c.reverse()
            } else {
                c
            }
        });
    }
    Ok(())
}
