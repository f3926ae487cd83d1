//! The page at `/`: static HTML and plain JavaScript compiled into the
//! binary. The script draws everything from the JSON API (and follows a
//! running run through the live feed), so the page needs no build step and
//! no network beyond this server.

use axum::response::Response;

use super::http;

const INDEX: &str = include_str!("web/index.html");
const APP_JS: &str = include_str!("web/app.js");

/// Whether `path` is one of the page's static files (served without the
/// token: they hold no data).
pub fn is_page(path: &str) -> bool {
    matches!(path, "/" | "/index.html" | "/app.js")
}

/// `/` and `/index.html`.
pub async fn index() -> Response {
    http::text(INDEX, "text/html; charset=utf-8")
}

/// `/app.js`.
pub async fn app_js() -> Response {
    http::text(APP_JS, "text/javascript; charset=utf-8")
}
