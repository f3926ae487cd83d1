//! Who may talk to a local server: the checks every request passes before a
//! handler sees it.
//!
//! - **`Host`** must be a loopback name (`localhost`, `*.localhost`,
//!   `127.0.0.0/8`, `[::1]`), the address the server is bound to, or a name
//!   given with `--allowed-host`. A web page that rebinds its own DNS name
//!   to 127.0.0.1 (DNS rebinding) sends its own name and is refused, so it
//!   cannot read the history through the victim's browser.
//! - **Browser writes from another site** are refused: a write (any method
//!   but GET, HEAD, OPTIONS) whose `Sec-Fetch-Site` is `cross-site` or
//!   `same-site`, or whose `Origin` is not this server's own, is `403`.
//!   Without this, any page the user visits could create runs with a form
//!   or a `text/plain` fetch (neither needs CORS).
//! - **JSON writes must say they are JSON** (`Content-Type:
//!   application/json`), as MLflow's own server requires: a browser cannot
//!   send that cross-origin without a CORS preflight, which this server
//!   never grants.

use axum::http::{HeaderMap, Method};

use super::error::{ApiError, ApiResult};
use super::http::header;

/// The host part of a `Host` header or an origin's authority, lowercased,
/// without the port and the IPv6 brackets.
fn host_name(authority: &str) -> String {
    let a = authority.trim();
    let host = if let Some(rest) = a.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        a.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(a, |(h, _)| h)
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `host` (a name from [`host_name`]) is one of this machine's
/// loopback names.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The names this server answers to.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    extra: Vec<String>,
}

impl AllowedHosts {
    /// Loopback names, the bound address `bound` and `extra`
    /// (`--allowed-host`, with or without a port).
    pub fn new(bound: std::net::IpAddr, extra: &[String]) -> Self {
        let mut extra: Vec<String> = extra.iter().map(|h| host_name(h)).collect();
        if !bound.is_unspecified() {
            extra.push(bound.to_string().to_ascii_lowercase());
        }
        Self { extra }
    }

    fn allows(&self, host: &str) -> bool {
        is_loopback(host) || self.extra.iter().any(|h| h == host)
    }
}

/// Checks `Host` and, for writes, where a browser says the request comes
/// from (see the module docs).
pub fn check(headers: &HeaderMap, method: &Method, allowed: &AllowedHosts) -> ApiResult<()> {
    let Some(host) = header(headers, "host") else {
        return Err(ApiError::bad_request("the request has no Host header"));
    };
    if !allowed.allows(&host_name(host)) {
        return Err(ApiError::forbidden(format!(
            "this server does not answer to Host {host:?}; start it with --allowed-host {} to serve that name",
            host_name(host)
        )));
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if let Some(site) = header(headers, "sec-fetch-site") {
        if matches!(site, "cross-site" | "same-site") {
            return Err(ApiError::forbidden(format!(
                "a browser page from another site (Sec-Fetch-Site: {site}) may not write here"
            )));
        }
    }
    if let Some(origin) = headers.get("origin") {
        let origin = origin.to_str().unwrap_or("null");
        let own = origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host));
        if !own {
            return Err(ApiError::forbidden(format!(
                "a browser page from {origin:?} may not write here (only pages this server serves may)"
            )));
        }
    }
    Ok(())
}

/// Requires `Content-Type: application/json` (parameters allowed) on a
/// write to the JSON API.
pub fn require_json(headers: &HeaderMap) -> ApiResult<()> {
    let ctype = header(headers, "content-type");
    let essence = ctype
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    if essence.as_deref() == Some("application/json") {
        Ok(())
    } else {
        Err(ApiError::not_json(ctype))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn hosts() {
        let a = AllowedHosts::new([0, 0, 0, 0].into(), &["box.lan:5000".into()]);
        for ok in [
            "127.0.0.1:5000",
            "localhost",
            "LOCALHOST:1",
            "[::1]:80",
            "app.localhost",
            "box.lan",
            "127.9.9.9",
        ] {
            assert!(
                check(&headers(&[("host", ok)]), &Method::GET, &a).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "evil.example",
            "127.0.0.1.evil.example",
            "localhost.evil",
            "10.0.0.1:5000",
        ] {
            let e = check(&headers(&[("host", bad)]), &Method::GET, &a).unwrap_err();
            assert_eq!(e.status, 403, "{bad}");
        }
        assert_eq!(
            check(&HeaderMap::new(), &Method::GET, &a)
                .unwrap_err()
                .status,
            400
        );
        let bound = AllowedHosts::new([10, 0, 0, 1].into(), &[]);
        assert!(check(&headers(&[("host", "10.0.0.1:5000")]), &Method::GET, &bound).is_ok());
    }

    #[test]
    fn cross_site_writes() {
        let a = AllowedHosts::default();
        let h = "127.0.0.1:5000";
        let w = |extra: &[(&'static str, &'static str)]| {
            let mut all = vec![("host", h)];
            all.extend_from_slice(extra);
            check(&headers(&all), &Method::POST, &a)
        };
        assert!(w(&[]).is_ok(), "a client that is not a browser");
        assert!(w(&[
            ("origin", "http://127.0.0.1:5000"),
            ("sec-fetch-site", "same-origin")
        ])
        .is_ok());
        assert!(w(&[("sec-fetch-site", "none")]).is_ok());
        for bad in [
            &[("origin", "http://evil.example")][..],
            &[("origin", "null")],
            &[("origin", "http://127.0.0.1:5001")],
            &[("sec-fetch-site", "cross-site")],
            &[("sec-fetch-site", "same-site")],
        ] {
            assert_eq!(w(bad).unwrap_err().status, 403, "{bad:?}");
        }
        // Reads are not refused for their origin: a browser cannot read the answer.
        let get = headers(&[("host", h), ("origin", "http://evil.example")]);
        assert!(check(&get, &Method::GET, &a).is_ok());
    }

    #[test]
    fn json_content_type() {
        assert!(require_json(&headers(&[("content-type", "application/json")])).is_ok());
        assert!(require_json(&headers(&[(
            "content-type",
            "Application/JSON; charset=utf-8"
        )]))
        .is_ok());
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            let h =
                HeaderMap::from_iter([(axum::http::header::CONTENT_TYPE, bad.parse().unwrap())]);
            assert_eq!(require_json(&h).unwrap_err().status, 415);
        }
        assert_eq!(require_json(&HeaderMap::new()).unwrap_err().status, 415);
    }
}
