//! `runlog serve`: the MLflow tracking REST API 2.0 and a web page over the
//! embedded store.
//!
//! - [`api`]: the `/api/2.0/mlflow/...` endpoints.
//! - [`artifacts`]: proxied artifact upload, download and listing
//!   (`/api/2.0/mlflow-artifacts/artifacts/...`), with path checks.
//! - [`db`]: the store, seen as MLflow sees it.
//! - [`filter`]: the subset of MLflow's search filter runlog understands.
//! - [`http`]: request plumbing (URLs, bounded bodies, the bearer token).
//! - [`web`]: the page at `/`.
//!
//! A few worker threads share one listening socket; each has its own SQLite
//! connection (WAL mode lets readers run beside the one writer).

pub mod api;
pub mod artifacts;
pub mod db;
pub mod error;
pub mod filter;
pub mod http;
pub mod web;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{bail, Context, Result};
use tiny_http::{Method, Request, Response, Server};

use crate::store::Store;
use error::{ApiError, ApiResult};
use http::Limits;

/// Default limit of a JSON request body: 16 MiB (a full log-batch is ~100 KiB).
pub const DEFAULT_MAX_JSON: u64 = 16 << 20;
/// Default limit of one artifact upload: 1 GiB.
pub const DEFAULT_MAX_ARTIFACT: u64 = 1 << 30;

const WORKERS: usize = 4;

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Config {
    /// The store directory.
    pub store: PathBuf,
    /// Address to bind, e.g. `127.0.0.1:5000` (port 0 picks a free one).
    pub addr: String,
    /// Body limits and the token.
    pub limits: Limits,
}

/// Reads a token file: its first line, trimmed; refuses an empty one.
pub fn read_token(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        bail!("the token file {} is empty", path.display());
    }
    Ok(token)
}

/// A running server.
pub struct Running {
    server: Arc<Server>,
    addr: SocketAddr,
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blocks until every worker ends (they run until [`Running::stop`]).
    pub fn join(mut self) {
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }

    /// Stops accepting requests and waits for the workers.
    pub fn stop(mut self) {
        for _ in 0..self.workers.len() {
            self.server.unblock();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Opens the store, binds, and starts the workers.
pub fn start(cfg: Config) -> Result<Running> {
    let store = Store::open(&cfg.store)?;
    db::ensure_default_experiment(&store).map_err(|e| anyhow::anyhow!("{e}"))?;
    drop(store);
    let server = Server::http(&cfg.addr)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.addr))?;
    let addr = server
        .server_addr()
        .to_ip()
        .context("the server is not on an IP address")?;
    let server = Arc::new(server);
    let mut workers = Vec::new();
    for i in 0..WORKERS {
        let mut store = Store::open(&cfg.store)?;
        let server = Arc::clone(&server);
        let limits = cfg.limits.clone();
        workers.push(
            std::thread::Builder::new()
                .name(format!("serve-{i}"))
                .spawn(move || {
                    while let Ok(req) = server.recv() {
                        handle(&mut store, &limits, req);
                    }
                })?,
        );
    }
    Ok(Running {
        server,
        addr,
        workers,
    })
}

fn handle(store: &mut Store, limits: &Limits, mut req: Request) {
    let method = req.method().to_string();
    let target = req.url().to_string();
    let result = route(store, limits, &mut req, &method, &target);
    let sent = match result {
        Ok(Reply::Data(r)) => req.respond(r),
        Ok(Reply::File(r)) => req.respond(r),
        Err(e) => {
            if e.status >= 500 {
                eprintln!("runlog serve: {method} {target}: {e}");
            }
            req.respond(http::error(&e))
        }
    };
    if let Err(e) = sent {
        eprintln!("runlog serve: {method} {target}: cannot send the response: {e}");
    }
}

enum Reply {
    Data(http::Reply),
    File(Response<std::fs::File>),
}

const API: &str = "/api/2.0/mlflow/";
const AJAX_API: &str = "/ajax-api/2.0/mlflow/";
const ARTIFACTS: &str = "/api/2.0/mlflow-artifacts/artifacts";

fn route(
    store: &mut Store,
    limits: &Limits,
    req: &mut Request,
    method: &str,
    target: &str,
) -> ApiResult<Reply> {
    let url = http::Url::parse(target)?;
    let path = url.path.as_str();
    // The page's static shell holds no data, so a browser can load it before
    // it knows the token; everything else needs the token.
    if let Some(page) = web::page(path) {
        return Ok(Reply::Data(page));
    }
    http::check_token(req, limits)?;
    if path == "/health" {
        return Ok(Reply::Data(http::text("OK", "text/plain")));
    }
    let endpoint = path
        .strip_prefix(API)
        .or_else(|| path.strip_prefix(AJAX_API));
    if let Some(endpoint) = endpoint {
        let body = http::read_body(req, limits.max_json)?;
        let v = if endpoint == "runs/log-batch" && method == "POST" {
            api::log_batch(store, &body)?
        } else {
            let p = api::Params::new(url.query_json(), &body)?;
            api::handle(store, method, endpoint, &p)?
        };
        return Ok(Reply::Data(http::json(&v)));
    }
    if let Some(rest) = path.strip_prefix(ARTIFACTS) {
        return artifact_route(store, limits, req, method, &url, rest);
    }
    Err(ApiError::no_endpoint(method, path))
}

fn artifact_route(
    store: &mut Store,
    limits: &Limits,
    req: &mut Request,
    method: &str,
    url: &http::Url,
    rest: &str,
) -> ApiResult<Reply> {
    if rest.is_empty() || rest == "/" {
        // Listing: GET .../artifacts?path=<exp>/<run>/artifacts[/dir]
        if method != "GET" {
            return Err(ApiError::method(method, ARTIFACTS, "GET"));
        }
        let q = url.query_json();
        let p = q.get("path").and_then(|v| v.as_str()).unwrap_or("");
        let t = artifacts::parse_target(p)?;
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
        return Ok(Reply::Data(http::json(
            &serde_json::json!({ "files": files }),
        )));
    }
    let t = artifacts::parse_target(rest)?;
    if t.path.is_empty() {
        return Err(ApiError::invalid("name a file under the run's artifacts"));
    }
    let run = db::run_row(store.conn(), &t.run_id)?;
    match *req.method() {
        Method::Put | Method::Post => {
            http::check_declared_len(req, limits.max_artifact)?;
            artifacts::upload(
                store,
                &run,
                &t.path,
                &mut req.as_reader(),
                limits.max_artifact,
            )?;
            Ok(Reply::Data(http::json(&serde_json::json!({}))))
        }
        Method::Get => {
            let (f, _) = artifacts::open(store, &run, &t.path)?;
            let ct = tiny_http::Header::from_bytes(
                &b"Content-Type"[..],
                &b"application/octet-stream"[..],
            )
            .expect("static header is valid");
            Ok(Reply::File(Response::from_file(f).with_header(ct)))
        }
        _ => Err(ApiError::method(method, ARTIFACTS, "GET or PUT")),
    }
}

/// `runlog serve`: serves `store` until the process is stopped.
pub fn serve(store: &Path, args: &crate::cli::ServeArgs) -> Result<()> {
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    let host = if args.host.contains(':') && !args.host.starts_with('[') {
        format!("[{}]", args.host)
    } else {
        args.host.clone()
    };
    let cfg = Config {
        store: store.to_path_buf(),
        addr: format!("{host}:{}", args.port),
        limits: Limits {
            max_json: args.max_json_bytes,
            max_artifact: args.max_artifact_bytes,
            token,
        },
    };
    let running = start(cfg)?;
    let addr = running.addr();
    if !addr.ip().is_loopback() && args.token_file.is_none() {
        eprintln!("runlog serve: warning: listening on {addr} without --token-file; anyone who can reach it can read and write the history");
    }
    eprintln!(
        "runlog serve: http://{addr}/ (store {}); MLflow clients: MLFLOW_TRACKING_URI=http://{addr}",
        store.display()
    );
    running.join();
    Ok(())
}
