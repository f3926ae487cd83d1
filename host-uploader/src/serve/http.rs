//! Request plumbing over tiny_http: URL decoding, query strings, bounded
//! bodies, the bearer token, and responses.

use std::io::Read;

use tiny_http::{Header, Request, Response};

use super::error::{ApiError, ApiResult};

/// Limits and credentials every request is checked against.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest JSON body accepted, bytes.
    pub max_json: u64,
    /// Largest artifact upload accepted, bytes.
    pub max_artifact: u64,
    /// The bearer token every API request must carry, when set.
    pub token: Option<String>,
}

/// Decodes `%XX` escapes (and `+` as space when `plus` is set); `None` if
/// the result is not UTF-8 or an escape is malformed.
pub fn percent_decode(s: &str, plus: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes a path segment or query value.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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

/// A header's value.
pub fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks `Authorization: Bearer <token>` when a token is configured.
pub fn check_token(req: &Request, limits: &Limits) -> ApiResult<()> {
    let Some(token) = &limits.token else {
        return Ok(());
    };
    let Some(auth) = header(req, "Authorization") else {
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

/// Refuses a body whose declared length is over `limit` before reading it.
pub fn check_declared_len(req: &Request, limit: u64) -> ApiResult<()> {
    match req.body_length() {
        Some(n) if n as u64 > limit => Err(ApiError::too_large(limit)),
        _ => Ok(()),
    }
}

/// Reads the whole body, at most `limit` bytes.
pub fn read_body(req: &mut Request, limit: u64) -> ApiResult<Vec<u8>> {
    check_declared_len(req, limit)?;
    let mut body = Vec::with_capacity(req.body_length().unwrap_or(0).min(1 << 20));
    req.as_reader()
        .take(limit + 1)
        .read_to_end(&mut body)
        .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
    if body.len() as u64 > limit {
        return Err(ApiError::too_large(limit));
    }
    Ok(body)
}

fn content_type(v: &str) -> Header {
    Header::from_bytes(&b"Content-Type"[..], v.as_bytes()).expect("static header is valid")
}

/// A response and its status.
pub type Reply = Response<std::io::Cursor<Vec<u8>>>;

/// 200 with a JSON body.
pub fn json(v: &serde_json::Value) -> Reply {
    Response::from_data(v.to_string().into_bytes()).with_header(content_type("application/json"))
}

/// An error in MLflow's shape.
pub fn error(e: &ApiError) -> Reply {
    let mut r = Response::from_data(e.body().into_bytes())
        .with_status_code(e.status)
        .with_header(content_type("application/json"));
    if e.status == 401 {
        r = r.with_header(
            Header::from_bytes(&b"WWW-Authenticate"[..], &b"Bearer"[..]).expect("valid header"),
        );
    }
    if e.status == 413 {
        // The unread rest of the body would otherwise be parsed as the next request.
        r = r.with_header(
            Header::from_bytes(&b"Connection"[..], &b"close"[..]).expect("valid header"),
        );
    }
    r
}

/// 200 with static text of a content type.
pub fn text(body: &str, ctype: &str) -> Reply {
    Response::from_data(body.as_bytes().to_vec()).with_header(content_type(ctype))
}
