//! The page at `/`: static HTML and plain JavaScript compiled into the
//! binary, with the charting library (uPlot, vendored from the npm registry
//! under `web/vendor/`, pinned by `tests/browser/package-lock.json` and
//! checked against it by `tests/browser/vendor.test.mjs`). The script draws
//! everything from the JSON API (and follows a running run through the live
//! feed), so the page needs no build step and no network beyond this server.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::http;

const INDEX: &str = include_str!("web/index.html");
const APP_JS: &str = include_str!("web/app.js");
const CHARTS_JS: &str = include_str!("web/charts.js");

/// The vendored files: name, content, type.
const VENDOR: &[(&str, &str, &str)] = &[
    (
        "uPlot.iife.min.js",
        include_str!("web/vendor/uPlot.iife.min.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "uPlot.min.css",
        include_str!("web/vendor/uPlot.min.css"),
        "text/css; charset=utf-8",
    ),
    (
        "LICENSE",
        include_str!("web/vendor/LICENSE"),
        "text/plain; charset=utf-8",
    ),
];

/// Whether `path` is one of the page's static files (served without the
/// token: they hold no data).
pub fn is_page(path: &str) -> bool {
    matches!(path, "/" | "/index.html" | "/app.js" | "/charts.js")
        || path
            .strip_prefix("/vendor/")
            .is_some_and(|f| VENDOR.iter().any(|(name, _, _)| *name == f))
}

/// `/` and `/index.html`.
pub async fn index() -> Response {
    http::text(INDEX, "text/html; charset=utf-8")
}

/// `/app.js`.
pub async fn app_js() -> Response {
    http::text(APP_JS, "text/javascript; charset=utf-8")
}

/// `/charts.js`: the charts, on uPlot.
pub async fn charts_js() -> Response {
    http::text(CHARTS_JS, "text/javascript; charset=utf-8")
}

/// `/vendor/<file>`: the charting library and its license.
pub async fn vendor(Path(file): Path<String>) -> Response {
    match VENDOR.iter().find(|(name, _, _)| *name == file) {
        Some((_, body, kind)) => http::text(body, kind),
        None => ApiError::no_endpoint("GET", &format!("/vendor/{file}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_pages_own_files_skip_the_token() {
        for p in [
            "/",
            "/index.html",
            "/app.js",
            "/charts.js",
            "/vendor/uPlot.iife.min.js",
            "/vendor/uPlot.min.css",
            "/vendor/LICENSE",
        ] {
            assert!(is_page(p), "{p}");
        }
        for p in [
            "/vendor/",
            "/vendor/other.js",
            "/vendor/../api/2.0/mlflow/runs/search",
            "/api/2.0/runlog/metrics/chart",
            "/api/2.0/runlog/runs/live",
        ] {
            assert!(!is_page(p), "{p}");
        }
    }

    #[test]
    fn the_vendored_script_is_uplot() {
        let (_, js, kind) = VENDOR[0];
        assert!(js.starts_with("/*! https://github.com/leeoniya/uPlot (v"));
        assert!(kind.starts_with("text/javascript"));
    }
}
