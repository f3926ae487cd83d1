//! Request plumbing: URLs (decoded by [`crate::protocol::url`]), query strings, bounded bodies, the bearer
//! token, and responses in MLflow's shape.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::error::{ApiError, ApiResult};
use crate::protocol::url::percent_decode;

/// Limits and credentials every request is checked against.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest JSON body accepted, bytes.
    pub max_json: u64,
    /// Largest artifact upload accepted, bytes.
    pub max_artifact: u64,
    /// The bearer token every API request must carry, when set.
    pub token: Option<String>,
    /// `Host` names served besides loopback ones (`--allowed-host`).
    pub allowed_hosts: Vec<String>,
}

/// A URL split into its decoded path and query pairs.
#[derive(Debug, Clone, Default)]
pub struct Url {
    /// The decoded path.
    pub path: String,
    /// Query pairs in order, decoded.
    pub query: Vec<(String, String)>,
}

impl Url {
    /// Parses a request target such as `/a%20b?x=1&y=2`.
    pub fn parse(target: &str) -> ApiResult<Self> {
        let (p, q) = target.split_once('?').unwrap_or((target, ""));
        let path = percent_decode(p, false)
            .ok_or_else(|| ApiError::bad_request(format!("malformed URL path {p:?}")))?;
        let mut query = Vec::new();
        for pair in q.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = percent_decode(k, true);
            let v = percent_decode(v, true);
            match (k, v) {
                (Some(k), Some(v)) => query.push((k, v)),
                _ => return Err(ApiError::bad_request(format!("malformed query {pair:?}"))),
            }
        }
        Ok(Self { path, query })
    }

    /// The query as a JSON object: repeated keys become arrays.
    pub fn query_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        for (k, v) in &self.query {
            match m.get_mut(k) {
                None => {
                    m.insert(k.clone(), v.clone().into());
                }
                Some(serde_json::Value::Array(a)) => a.push(v.clone().into()),
                Some(old) => {
                    let first = old.take();
                    *old = serde_json::Value::Array(vec![first, v.clone().into()]);
                }
            }
        }
        m
    }
}

/// A header's value, if it is text.
pub fn header<'r>(headers: &'r HeaderMap, name: &str) -> Option<&'r str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks `Authorization: Bearer <token>` when a token is configured.
pub fn check_token(headers: &HeaderMap, limits: &Limits) -> ApiResult<()> {
    let Some(token) = &limits.token else {
        return Ok(());
    };
    let Some(auth) = header(headers, "authorization") else {
        return Err(ApiError::unauthenticated(
            "this server requires 'Authorization: Bearer <token>' (MLflow clients: set MLFLOW_TRACKING_TOKEN)",
        ));
    };
    let given = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .unwrap_or("");
    if same(given.trim().as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::unauthenticated("the bearer token is wrong"))
    }
}

/// The declared `Content-Length`; a malformed one is refused.
pub fn declared_len(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("malformed Content-Length")),
    }
}

/// Refuses a body whose declared length is over `limit` before reading it.
pub fn check_declared_len(headers: &HeaderMap, limit: u64) -> ApiResult<()> {
    match declared_len(headers)? {
        Some(n) if n > limit => Err(ApiError::too_large(limit)),
        _ => Ok(()),
    }
}

/// Reads the whole body, at most `limit` bytes (declared or sent).
pub async fn read_body(headers: &HeaderMap, body: Body, limit: u64) -> ApiResult<Bytes> {
    check_declared_len(headers, limit)?;
    let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(ApiError::too_large(limit)),
        Err(e) => Err(match body_error(&*e) {
            // The router's streaming limit is this same limit: name it.
            ApiError { status: 413, .. } => ApiError::too_large(limit),
            other => other,
        }),
    }
}

/// The error for a body that could not be read: over the limit while
/// streaming (413), stalled past the body timeout (408), or broken (400).
pub fn body_error(e: &(dyn std::error::Error + 'static)) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<LengthLimitError>() {
            return ApiError::too_large_streamed();
        }
        if c.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::body_timeout();
        }
        // io::Error's source() skips the error it wraps; look inside.
        cause = match c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner),
            None => c.source(),
        };
    }
    ApiError::bad_request(format!("cannot read the request body: {e}"))
}

/// 200 with a JSON body.
pub fn json(v: &serde_json::Value) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        v.to_string(),
    )
        .into_response()
}

/// An error in MLflow's shape.
pub fn error(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        e.body(),
    )
        .into_response();
    if e.status == 401 {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if e.status == 413 || e.status == 408 {
        // The unread rest of the body would otherwise be read as the next request.
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status >= 500 {
            eprintln!("runlog serve: {self}");
        }
        error(&self)
    }
}

/// 200 with static text of a content type.
pub fn text(body: &'static str, ctype: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(ctype))],
        body,
    )
        .into_response()
}
