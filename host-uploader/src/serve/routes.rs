//! Which path goes where, and the limits each kind of request runs under.
//!
//! Every request first passes [`check`]: `Host` and cross-site checks
//! ([`guard`]), the token (all but the page's static files), and its
//! declared `Content-Length` against the limit of its kind, so an oversized
//! body is refused before a byte of it is read. Then:
//!
//! | kind | paths | body limit | at once |
//! |---|---|---|---|
//! | JSON API | `/api/2.0/mlflow/*`, `/ajax-api/2.0/mlflow/*`, artifact listing, `/health` | `--max-json-bytes` | [`API_CONCURRENCY`] (then queued) |
//! | artifact files | `/api/2.0/mlflow-artifacts/artifacts/*` | `--max-artifact-bytes` | [`FILE_CONCURRENCY`] (then queued) |
//! | chart data | `/api/2.0/runlog/metrics/chart` ([`chart`]) | `--max-json-bytes` | [`API_CONCURRENCY`] (shared with the JSON API) |
//! | live feed | `/api/2.0/runlog/runs/live` | none | `live::MAX_STREAMS` (then 503) |
//! | page | `/`, `/index.html`, `/app.js`, `/charts.js`, `/vendor/*` | none | - |
//!
//! A request body that stalls for [`BODY_TIMEOUT`] ends the request (408);
//! a JSON API request that takes longer than [`API_TIMEOUT`] is answered 503.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use futures_util::TryStreamExt;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use super::error::{ApiError, ApiResult};
use super::guard::{self, AllowedHosts};
use super::http::{self, Limits, Url};
use super::pool::Pool;
use super::{api, artifacts, chart, db, live, protocol, web, Config};

/// JSON API requests handled at once; more wait their turn.
pub const API_CONCURRENCY: usize = 128;
/// Artifact uploads and downloads at once; more wait their turn.
pub const FILE_CONCURRENCY: usize = 8;
/// SQLite connections (requests touching the store at once).
pub const POOL_SIZE: usize = 8;
/// Longest pause while a request body arrives.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a JSON API request may take.
pub const API_TIMEOUT: Duration = Duration::from_secs(60);

const API: &str = "/api/2.0/mlflow/";
const AJAX_API: &str = "/ajax-api/2.0/mlflow/";
const ARTIFACTS: &str = "/api/2.0/mlflow-artifacts/artifacts";
/// The live feed's path.
pub const LIVE: &str = "/api/2.0/runlog/runs/live";
/// The chart data endpoint's path.
pub const CHART: &str = "/api/2.0/runlog/metrics/chart";

/// What every handler shares.
#[derive(Clone)]
struct App {
    pool: Arc<Pool>,
    limits: Arc<Limits>,
    hosts: Arc<AllowedHosts>,
    streams: Arc<live::Streams>,
}

fn as_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The whole server as one router.
pub fn router(cfg: &Config, bound: SocketAddr) -> anyhow::Result<Router> {
    let app = App {
        pool: Pool::new(cfg.store.clone(), POOL_SIZE)?,
        limits: Arc::new(cfg.limits.clone()),
        hosts: Arc::new(AllowedHosts::new(bound.ip(), &cfg.limits.allowed_hosts)),
        streams: Arc::new(live::Streams::default()),
    };
    let json_api = Router::new()
        .route(&format!("{API}{{*endpoint}}"), any(mlflow))
        .route(&format!("{AJAX_API}{{*endpoint}}"), any(mlflow))
        .route(ARTIFACTS, any(artifact_listing))
        .route(CHART, any(chart_data))
        .route("/health", get(|| async { http::text("OK", "text/plain") }))
        .layer(RequestBodyLimitLayer::new(as_usize(cfg.limits.max_json)))
        .layer(GlobalConcurrencyLimitLayer::new(API_CONCURRENCY));
    let files = Router::new()
        .route(&format!("{ARTIFACTS}/{{*path}}"), any(artifact_file))
        .layer(RequestBodyLimitLayer::new(as_usize(
            cfg.limits.max_artifact,
        )))
        .layer(GlobalConcurrencyLimitLayer::new(FILE_CONCURRENCY));
    let page = Router::new()
        .route("/", get(web::index))
        .route("/index.html", get(web::index))
        .route("/app.js", get(web::app_js))
        .route("/charts.js", get(web::charts_js))
        .route("/vendor/{file}", get(web::vendor))
        .route(LIVE, get(live_feed));
    Ok(Router::new()
        .merge(json_api)
        .merge(files)
        .merge(page)
        .fallback(not_found)
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(middleware::from_fn_with_state(app.clone(), check))
        .with_state(app))
}

/// Refuses, before any handler or body read, what this server does not take.
async fn check(State(app): State<App>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let limit = if path.starts_with(ARTIFACTS) && path.len() > ARTIFACTS.len() {
        app.limits.max_artifact
    } else {
        app.limits.max_json
    };
    let checked = guard::check(req.headers(), req.method(), &app.hosts)
        .and_then(|()| {
            if web::is_page(path) {
                Ok(())
            } else {
                http::check_token(req.headers(), &app.limits)
            }
        })
        .and_then(|()| http::check_declared_len(req.headers(), limit));
    match checked {
        Ok(()) => next.run(req).await,
        Err(e) => {
            let mut r = http::error(&e);
            // The body stays unread: end the connection rather than read it.
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
    }
}

async fn not_found(method: Method, uri: Uri) -> Response {
    ApiError::no_endpoint(method.as_str(), uri.path()).into_response()
}

fn url(uri: &Uri) -> ApiResult<Url> {
    Url::parse(uri.path_and_query().map_or("/", |p| p.as_str()))
}

/// `/api/2.0/mlflow/<endpoint>`: the JSON API.
async fn mlflow(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let work = async {
        let url = url(&uri)?;
        let endpoint = url
            .path
            .strip_prefix(API)
            .or_else(|| url.path.strip_prefix(AJAX_API))
            .ok_or_else(|| ApiError::no_endpoint(method.as_str(), &url.path))?
            .to_string();
        api::check_method(method.as_str(), &endpoint)?;
        if method == Method::POST {
            guard::require_json(&headers)?;
        }
        let body = http::read_body(&headers, body, app.limits.max_json).await?;
        let query = url.query_json();
        app.pool
            .run(move |store| {
                if endpoint == "runs/log-batch" {
                    api::log_batch(store, &body)
                } else {
                    api::handle(store, &endpoint, &api::merge(query, &body)?)
                }
            })
            .await
    };
    match tokio::time::timeout(API_TIMEOUT, work).await {
        Ok(Ok(v)) => http::json(&v),
        Ok(Err(e)) => e.into_response(),
        Err(_) => ApiError::busy(format!(
            "the request took longer than {} s",
            API_TIMEOUT.as_secs()
        ))
        .into_response(),
    }
}

/// `GET /api/2.0/mlflow-artifacts/artifacts?path=<exp>/<run>/artifacts[/dir]`.
async fn artifact_listing(State(app): State<App>, method: Method, uri: Uri) -> Response {
    let work = async {
        if method != Method::GET {
            return Err(ApiError::method(method.as_str(), ARTIFACTS, "GET"));
        }
        let q = serde_json::Value::Object(url(&uri)?.query_json());
        let q: protocol::ArtifactListing = serde_json::from_value(q)
            .map_err(|e| ApiError::invalid(format!("artifact listing: {e}")))?;
        let t = artifacts::parse_target(q.path.as_deref().unwrap_or(""))?;
        app.pool
            .run(move |store| {
                let run = db::run_row(store.conn(), &t.run_id)?;
                let all = db::artifacts(store.conn(), &run)?;
                let base = if t.path.is_empty() {
                    String::new()
                } else {
                    format!("{}/", t.path)
                };
                let files: Vec<serde_json::Value> = db::list_dir(&all, &t.path)
                    .into_iter()
                    .map(|e| {
                        let name = e.path.strip_prefix(&base).unwrap_or(&e.path).to_string();
                        let mut f = serde_json::json!({ "path": name, "is_dir": e.is_dir });
                        if let Some(s) = e.size {
                            f["file_size"] = s.into();
                        }
                        f
                    })
                    .collect();
                Ok(serde_json::json!({ "files": files }))
            })
            .await
    };
    match work.await {
        Ok(v) => http::json(&v),
        Err(e) => e.into_response(),
    }
}

/// `PUT|GET /api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<path>`.
async fn artifact_file(State(app): State<App>, method: Method, uri: Uri, body: Body) -> Response {
    let work = async {
        let url = url(&uri)?;
        let rest = url.path.strip_prefix(ARTIFACTS).unwrap_or("");
        let t = artifacts::parse_target(rest)?;
        if t.path.is_empty() {
            return Err(ApiError::invalid("name a file under the run's artifacts"));
        }
        match method {
            Method::PUT | Method::POST => {
                let limit = app.limits.max_artifact;
                let bytes = body.into_data_stream().map_err(io::Error::other);
                let mut reader =
                    tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(bytes));
                app.pool
                    .run(move |store| {
                        let run = db::run_row(store.conn(), &t.run_id)?;
                        artifacts::upload(store, &run, &t.path, &mut reader, limit)
                    })
                    .await?;
                Ok(http::json(&serde_json::json!({})))
            }
            Method::GET => {
                let (f, len) = app
                    .pool
                    .run(move |store| {
                        let run = db::run_row(store.conn(), &t.run_id)?;
                        artifacts::open(store, &run, &t.path)
                    })
                    .await?;
                let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(f));
                Ok((
                    [
                        (
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/octet-stream"),
                        ),
                        (header::CONTENT_LENGTH, HeaderValue::from(len)),
                    ],
                    Body::from_stream(stream),
                )
                    .into_response())
            }
            _ => Err(ApiError::method(method.as_str(), ARTIFACTS, "GET or PUT")),
        }
    };
    work.await.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /api/2.0/runlog/runs/live?run_id=RUN` (see [`live`]).
async fn live_feed(State(app): State<App>, uri: Uri) -> Response {
    let work = async {
        let q = serde_json::Value::Object(url(&uri)?.query_json());
        let r: protocol::RunRef =
            serde_json::from_value(q).map_err(|e| ApiError::invalid(format!("live feed: {e}")))?;
        let run_id = r.get().map_err(ApiError::invalid)?.to_string();
        live::stream(Arc::clone(&app.pool), &app.streams, run_id).await
    };
    work.await.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /api/2.0/runlog/metrics/chart?run_id=RUN&metric_key=KEY&max_points=N`
/// (see [`chart`]).
async fn chart_data(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let work = async {
        if method != Method::GET && method != Method::POST {
            return Err(ApiError::method(method.as_str(), CHART, "GET or POST"));
        }
        if method == Method::POST {
            guard::require_json(&headers)?;
        }
        let body = http::read_body(&headers, body, app.limits.max_json).await?;
        let req = chart::decode(api::merge(url(&uri)?.query_json(), &body)?)?;
        app.pool.run(move |store| chart::chart(store, &req)).await
    };
    match tokio::time::timeout(API_TIMEOUT, work).await {
        Ok(Ok(v)) => http::json(&v),
        Ok(Err(e)) => e.into_response(),
        Err(_) => ApiError::busy(format!(
            "the request took longer than {} s",
            API_TIMEOUT.as_secs()
        ))
        .into_response(),
    }
}
