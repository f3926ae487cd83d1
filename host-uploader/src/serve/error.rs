//! Errors in MLflow's shape: `{"error_code": "...", "message": "..."}` with the
//! HTTP status MLflow uses for that code.

use std::fmt;

/// An error a request ends with, as MLflow reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// MLflow's error code, e.g. `RESOURCE_DOES_NOT_EXIST`.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 INVALID_PARAMETER_VALUE.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_PARAMETER_VALUE", message)
    }

    /// 400 BAD_REQUEST (a body that is not the JSON the endpoint takes).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BAD_REQUEST", message)
    }

    /// 404 RESOURCE_DOES_NOT_EXIST.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "RESOURCE_DOES_NOT_EXIST", message)
    }

    /// 400 RESOURCE_ALREADY_EXISTS.
    pub fn exists(message: impl Into<String>) -> Self {
        Self::new(400, "RESOURCE_ALREADY_EXISTS", message)
    }

    /// 404 ENDPOINT_NOT_FOUND.
    pub fn no_endpoint(method: &str, path: &str) -> Self {
        Self::new(
            404,
            "ENDPOINT_NOT_FOUND",
            format!("no endpoint {method} {path} on this runlog server"),
        )
    }

    /// 405 for a known path with the wrong method.
    pub fn method(method: &str, path: &str, allowed: &str) -> Self {
        Self::new(
            405,
            "BAD_REQUEST",
            format!("{method} is not allowed on {path}; use {allowed}"),
        )
    }

    /// 401 UNAUTHENTICATED.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(401, "UNAUTHENTICATED", message)
    }

    /// 413 for a body over the limit.
    pub fn too_large(limit: u64) -> Self {
        Self::new(
            413,
            "REQUEST_LIMIT_EXCEEDED",
            format!("request body exceeds this server's limit of {limit} bytes"),
        )
    }

    /// 413 for a body found over its limit while streaming (no length declared).
    pub fn too_large_streamed() -> Self {
        Self::new(
            413,
            "REQUEST_LIMIT_EXCEEDED",
            "request body exceeds this server's limit",
        )
    }

    /// 408 when the body stalled past the server's body timeout.
    pub fn body_timeout() -> Self {
        Self::new(
            408,
            "REQUEST_TIMEOUT",
            "the request body did not arrive in time; send it without pauses",
        )
    }

    /// 403 PERMISSION_DENIED: a request this server does not take from where
    /// it came (a foreign `Host`, a cross-site browser write).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "PERMISSION_DENIED", message)
    }

    /// 415 for a write whose body is not declared as JSON.
    pub fn not_json(ctype: Option<&str>) -> Self {
        Self::new(
            415,
            "BAD_REQUEST",
            format!(
                "Content-Type must be application/json, not {}",
                ctype.map_or("none".to_string(), |c| format!("{c:?}"))
            ),
        )
    }

    /// 503 TEMPORARILY_UNAVAILABLE: too many requests of a kind at once.
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(503, "TEMPORARILY_UNAVAILABLE", message)
    }

    /// 414 for a request target longer than the HTTP layer takes (hyper:
    /// 65,534 bytes); sent by [`super::parse_errors`].
    pub fn uri_too_long() -> Self {
        Self::new(
            414,
            "REQUEST_LIMIT_EXCEEDED",
            "the request URI is longer than this server's limit of 65534 bytes; send long filters in a POST body",
        )
    }

    /// 431 for request headers over the HTTP layer's limits; sent by
    /// [`super::parse_errors`].
    pub fn headers_too_large() -> Self {
        Self::new(
            431,
            "REQUEST_LIMIT_EXCEEDED",
            format!(
                "the request headers exceed this server's limit ({} headers, {} bytes with the request line)",
                super::listen::MAX_HEADERS,
                super::listen::MAX_HEAD_BYTES
            ),
        )
    }

    /// 400 for a request line or header that is not HTTP/1.1; sent by
    /// [`super::parse_errors`].
    pub fn unparsable_request() -> Self {
        Self::bad_request("the request line or a header is not valid HTTP/1.1")
    }

    /// 500 INTERNAL_ERROR; the cause is logged to stderr and summarised to the client.
    pub fn internal(err: impl fmt::Display) -> Self {
        Self::new(500, "INTERNAL_ERROR", format!("internal error: {err}"))
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        serde_json::json!({ "error_code": self.code, "message": self.message }).to_string()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(format!("database: {e}"))
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::internal(format!("file system: {e}"))
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
