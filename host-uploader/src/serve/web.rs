//! The page at `/`: static HTML and plain JavaScript compiled into the
//! binary. The script draws everything from the JSON API, so the page needs
//! no build step and no network beyond this server.

use super::http::{self, Reply};

const INDEX: &str = include_str!("web/index.html");
const APP_JS: &str = include_str!("web/app.js");

/// The static file at `path`, if it is one of the page's.
pub fn page(path: &str) -> Option<Reply> {
    match path {
        "/" | "/index.html" => Some(http::text(INDEX, "text/html; charset=utf-8")),
        "/app.js" => Some(http::text(APP_JS, "text/javascript; charset=utf-8")),
        _ => None,
    }
}
