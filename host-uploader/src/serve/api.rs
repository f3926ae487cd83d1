//! The MLflow tracking REST API 2.0 endpoints over the store. Each endpoint
//! decodes its request type from [`super::protocol`] and calls [`db`].

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::db::{self, MetricIn, Num};
use super::error::{ApiError, ApiResult};
use super::filter::Filter;
use super::protocol::{self as p, Number};
use crate::store::Store;

/// Merges a query (as JSON) and a JSON body (the body wins) into the one
/// object an endpoint's request type is decoded from. A body that is not a
/// JSON object (malformed, too deeply nested, an array...) is `BAD_REQUEST`.
pub fn merge(query: Map<String, Value>, body: &[u8]) -> ApiResult<Value> {
    let mut m = query;
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
        let Value::Object(o) = v else {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        };
        m.extend(o);
    }
    Ok(Value::Object(m))
}

/// Decodes an endpoint's request; a field of the wrong type or a missing
/// required one is `INVALID_PARAMETER_VALUE`, naming it.
fn decode<'v, T: Deserialize<'v>>(endpoint: &str, v: &'v Value) -> ApiResult<T> {
    T::deserialize(v).map_err(|e| {
        let msg = e.to_string();
        let msg = match msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            Some(field) => p::missing(field),
            None => msg,
        };
        ApiError::invalid(format!("{endpoint}: {msg}"))
    })
}

fn num(n: Number) -> Num {
    match n {
        Number::Int(i) => Num::I64(i),
        Number::Float(f) => Num::F64(f),
    }
}

fn metric_in<'m>(m: &'m p::Metric<'_>, now: i64) -> MetricIn<'m> {
    MetricIn {
        key: &m.key,
        value: num(m.value),
        timestamp: m.timestamp.0.unwrap_or(now),
        step: m.step.0.unwrap_or(0),
    }
}

fn kv_pairs<'k>(v: &'k [p::KeyValue<'_>]) -> Vec<(&'k str, &'k str)> {
    v.iter().map(|kv| (&*kv.key, kv.value())).collect()
}

/// runs/log-batch, decoded straight from the body (the hot path of uploads).
pub fn log_batch(store: &mut Store, body: &[u8]) -> ApiResult<Value> {
    let b: p::LogBatch<'_> = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid runs/log-batch body: {e}")))?;
    let run = db::run_row(store.conn(), b.run_id().map_err(ApiError::invalid)?)?;
    let now = db::now_ms();
    let metrics: Vec<MetricIn<'_>> = b.metrics.iter().map(|m| metric_in(m, now)).collect();
    db::log_batch(
        store,
        &run,
        &metrics,
        &kv_pairs(&b.params),
        &kv_pairs(&b.tags),
    )?;
    Ok(json!({}))
}

fn run_id(r: &p::RunRef) -> ApiResult<&str> {
    r.get().map_err(ApiError::invalid)
}

fn max_results(m: p::Int, default: i64, most: i64) -> usize {
    m.0.unwrap_or(default).clamp(1, most) as usize
}

/// Which methods an endpoint takes.
fn allowed(endpoint: &str) -> Option<&'static str> {
    Some(match endpoint {
        "experiments/get-by-name"
        | "experiments/get"
        | "runs/get"
        | "metrics/get-history"
        | "artifacts/list"
        | "registered-models/get"
        | "model-versions/get" => "GET",
        "experiments/create"
        | "runs/create"
        | "runs/update"
        | "runs/log-metric"
        | "runs/log-parameter"
        | "runs/set-tag"
        | "runs/log-batch"
        | "registered-models/create"
        | "model-versions/create" => "POST",
        "experiments/search"
        | "runs/search"
        | "registered-models/search"
        | "model-versions/search"
        | "logged-models/search" => "GET or POST",
        _ => return None,
    })
}

/// Checks that `endpoint` exists and takes `method` (before its body is read).
pub fn check_method(method: &str, endpoint: &str) -> ApiResult<()> {
    let Some(ok) = allowed(endpoint) else {
        return Err(ApiError::no_endpoint(
            method,
            &format!("/api/2.0/mlflow/{endpoint}"),
        ));
    };
    if ok.split(" or ").any(|m| m == method) {
        Ok(())
    } else {
        Err(ApiError::method(method, endpoint, ok))
    }
}

/// Dispatches `/api/2.0/mlflow/<endpoint>` (its method already checked with
/// [`check_method`]) on the merged parameters `v`.
pub fn handle(store: &mut Store, endpoint: &str, v: &Value) -> ApiResult<Value> {
    match endpoint {
        "experiments/get-by-name" => {
            let r: p::GetExperimentByName = decode(endpoint, v)?;
            let name = &r.experiment_name;
            let e = db::experiment_by_name(store.conn(), name)?.ok_or_else(|| {
                ApiError::not_found(format!("could not find experiment with name {name:?}"))
            })?;
            Ok(json!({ "experiment": e.to_json() }))
        }
        "experiments/get" => {
            let r: p::GetExperiment = decode(endpoint, v)?;
            let e = db::experiment_by_id(store.conn(), &r.experiment_id)?;
            Ok(json!({ "experiment": e.to_json() }))
        }
        "experiments/create" => {
            let r: p::CreateExperiment = decode(endpoint, v)?;
            let id = db::create_experiment(store.conn(), &r.name)?;
            Ok(json!({ "experiment_id": id.to_string() }))
        }
        "experiments/search" => {
            let r: p::SearchByName = decode(endpoint, v)?;
            let name_filter = experiment_name_filter(r.filter.as_deref().unwrap_or(""))?;
            let max = max_results(r.max_results, 1000, 50_000);
            let offset = page_offset(r.page_token.as_deref())?;
            let all: Vec<Value> = db::experiments(store.conn())?
                .into_iter()
                .filter(|e| name_filter.as_ref().is_none_or(|f| f(&e.name)))
                .map(|e| e.to_json())
                .collect();
            Ok(page("experiments", all, offset, max))
        }
        "runs/create" => {
            let r: p::CreateRun = decode(endpoint, v)?;
            let exp =
                db::experiment_by_id(store.conn(), r.experiment_id.as_deref().unwrap_or("0"))?;
            let mut tags: Vec<(String, String)> = r
                .tags
                .iter()
                .map(|t| (t.key.to_string(), t.value().to_string()))
                .collect();
            if let Some(name) = r.run_name.as_deref().filter(|n| !n.is_empty()) {
                tags.retain(|(k, _)| k != "mlflow.runName");
                tags.push(("mlflow.runName".into(), name.into()));
            }
            if let Some(user) = r.user_id.as_deref().filter(|u| !u.is_empty()) {
                if !tags.iter().any(|(k, _)| k == "mlflow.user") {
                    tags.push(("mlflow.user".into(), user.into()));
                }
            }
            let start = r.start_time.0.unwrap_or_else(db::now_ms);
            let run_id = db::create_run(store, exp.id, start, &tags)?;
            let run = db::run(store.conn(), &run_id)?;
            Ok(json!({ "run": run.to_json() }))
        }
        "runs/update" => {
            let r: p::UpdateRun = decode(endpoint, v)?;
            let row = db::run_row(store.conn(), run_id(&r.run)?)?;
            db::update_run(
                store,
                &row,
                r.status.as_deref(),
                r.end_time.0,
                r.run_name.as_deref(),
            )?;
            let run = db::run(store.conn(), &row.run_id)?;
            Ok(json!({ "run_info": run.to_json()["info"] }))
        }
        "runs/get" => {
            let r: p::RunRef = decode(endpoint, v)?;
            let run = db::run(store.conn(), run_id(&r)?)?;
            Ok(json!({ "run": run.to_json() }))
        }
        "runs/search" => {
            let r: p::SearchRuns = decode(endpoint, v)?;
            let mut exp_ids = Vec::new();
            for e in &r.experiment_ids.0 {
                exp_ids.push(db::experiment_by_id(store.conn(), e)?.id);
            }
            let filter = Filter::parse(r.filter.as_deref().unwrap_or(""))?;
            let max = max_results(r.max_results, 1000, 50_000);
            let offset = page_offset(r.page_token.as_deref())?;
            let mut runs = Vec::new();
            for row in db::run_rows(store.conn(), &exp_ids)? {
                let data = db::run_data(store.conn(), &row)?;
                let run = db::Run { row, data };
                if filter.matches(&run) {
                    runs.push(run);
                }
            }
            sort_runs(&mut runs, &r.order_by.0)?;
            let all: Vec<Value> = runs.iter().map(db::Run::to_json).collect();
            Ok(page("runs", all, offset, max))
        }
        "runs/log-metric" => {
            let r: p::LogMetric = decode(endpoint, v)?;
            let row = db::run_row(store.conn(), run_id(&r.run)?)?;
            let m = metric_in(&r.metric, db::now_ms());
            db::log_batch(store, &row, &[m], &[], &[])?;
            Ok(json!({}))
        }
        "runs/log-parameter" => {
            let r: p::SetKeyValue = decode(endpoint, v)?;
            let row = db::run_row(store.conn(), run_id(&r.run)?)?;
            db::log_batch(store, &row, &[], &[(&r.kv.key, r.kv.value())], &[])?;
            Ok(json!({}))
        }
        "runs/set-tag" => {
            let r: p::SetKeyValue = decode(endpoint, v)?;
            let row = db::run_row(store.conn(), run_id(&r.run)?)?;
            db::set_tag(store, &row, &r.kv.key, r.kv.value())?;
            Ok(json!({}))
        }
        "runs/log-batch" => {
            let body = serde_json::to_vec(v).map_err(ApiError::internal)?;
            log_batch(store, &body)
        }
        "metrics/get-history" => {
            let r: p::GetMetricHistory = decode(endpoint, v)?;
            let row = db::run_row(store.conn(), run_id(&r.run)?)?;
            let max = max_results(r.max_results, 25_000, 25_000);
            let offset = page_offset(r.page_token.as_deref())?;
            let (points, more) =
                db::metric_history(store.conn(), &row, &r.metric_key, offset, max)?;
            let mut out =
                json!({ "metrics": points.iter().map(db::Point::to_json).collect::<Vec<_>>() });
            if more {
                out["next_page_token"] = (offset + points.len()).to_string().into();
            }
            Ok(out)
        }
        "artifacts/list" => {
            let r: p::ListArtifacts = decode(endpoint, v)?;
            let run = db::run(store.conn(), run_id(&r.run)?)?;
            let path = r.path.as_deref().unwrap_or("");
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
            let r: p::ModelName = decode(endpoint, v)?;
            let created = db::create_model(store.conn(), &r.name)?;
            Ok(json!({ "registered_model": model_json(&r.name, created, &[]) }))
        }
        "registered-models/get" => {
            let r: p::ModelName = decode(endpoint, v)?;
            let (_, created) = db::model(store.conn(), &r.name)?;
            let versions = db::model_versions(store.conn(), Some(&r.name))?;
            Ok(json!({ "registered_model": model_json(&r.name, created, &versions) }))
        }
        "registered-models/search" => {
            let r: p::SearchByName = decode(endpoint, v)?;
            let filter = experiment_name_filter(r.filter.as_deref().unwrap_or(""))?;
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
            let r: p::CreateModelVersion = decode(endpoint, v)?;
            let (run_id, prefix) = parse_source(&r.source, r.run_id.as_deref())?;
            let row = db::run_row(store.conn(), &run_id)?;
            let version = db::create_model_version(store, &r.name, &row, &prefix)?;
            Ok(json!({ "model_version": version.to_json() }))
        }
        "model-versions/get" => {
            let r: p::GetModelVersion = decode(endpoint, v)?;
            let (name, version) = (&r.name, &r.version);
            let found = db::model_versions(store.conn(), Some(name))?
                .into_iter()
                .find(|mv| mv.version.to_string() == *version)
                .ok_or_else(|| {
                    ApiError::not_found(format!("model {name:?} has no version {version}"))
                })?;
            Ok(json!({ "model_version": found.to_json() }))
        }
        "model-versions/search" => {
            let r: p::SearchModelVersions = decode(endpoint, v)?;
            let name = model_version_filter(r.filter.as_deref().unwrap_or(""))?;
            let out: Vec<Value> = db::model_versions(store.conn(), name.as_deref())?
                .iter()
                .map(db::ModelVersion::to_json)
                .collect();
            Ok(json!({ "model_versions": out }))
        }
        // MLflow 3 clients look for logged models when resolving `runs:/`
        // URIs; runlog keeps none, so the honest answer is empty.
        "logged-models/search" => Ok(json!({ "models": [] })),
        _ => Err(ApiError::no_endpoint(
            "?",
            &format!("/api/2.0/mlflow/{endpoint}"),
        )),
    }
}

fn page_offset(token: Option<&str>) -> ApiResult<usize> {
    match token {
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
