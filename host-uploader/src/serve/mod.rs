//! `runlog serve`: the MLflow tracking REST API 2.0 and a web page over the
//! embedded store, on hyper (through axum) and tokio.
//!
//! - [`api`]: the `/api/2.0/mlflow/...` endpoints, on the request types of
//!   [`protocol`].
//! - [`artifacts`]: proxied artifact upload, download and listing
//!   (`/api/2.0/mlflow-artifacts/artifacts/...`), with path checks; files
//!   are reached through [`beneath`], which never follows a link.
//! - [`chart`]: the page's chart data, downsampled (`/api/2.0/runlog/metrics/chart`).
//! - [`db`]: the store, seen as MLflow sees it; [`pool`] lends its
//!   connections to blocking tasks.
//! - [`filter`]: the subset of MLflow's search filter runlog understands.
//! - [`guard`]: `Host`, cross-site and content-type checks; [`http`]: URLs,
//!   bounded bodies, the bearer token, MLflow-shaped errors.
//! - [`live`]: the run page's live feed (Server-Sent Events).
//! - [`listen`]: sockets: connection limit, header timeout; [`parse_errors`]:
//!   MLflow-shaped bodies for what hyper answers by itself.
//! - [`routes`]: which path goes where, and the limits on each.
//! - [`web`]: the page at `/`.

pub mod api;
pub mod artifacts;
pub mod beneath;
pub mod chart;
pub mod db;
pub mod error;
pub mod filter;
pub mod guard;
pub mod http;
pub mod listen;
pub mod live;
pub mod parse_errors;
pub mod pool;
pub use crate::protocol::requests as protocol;
pub mod routes;
pub mod web;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::sync::watch;

use crate::store::Store;
use http::Limits;

/// Default limit of a JSON request body: 16 MiB (a full log-batch is ~100 KiB).
pub const DEFAULT_MAX_JSON: u64 = 16 << 20;
/// Default limit of one artifact upload: 1 GiB.
pub const DEFAULT_MAX_ARTIFACT: u64 = 1 << 30;

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Config {
    /// The store directory.
    pub store: PathBuf,
    /// Address to bind, e.g. `127.0.0.1:5000` (port 0 picks a free one).
    pub addr: String,
    /// Body limits, the token and the allowed `Host` names.
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
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

impl Running {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blocks until the server stops (it runs until [`Running::stop`] or
    /// the process ends).
    pub fn join(self) {
        let _ = self.rt.block_on(self.accept);
    }

    /// Stops accepting connections and ends the server.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.rt.block_on(self.accept);
        self.rt.shutdown_timeout(Duration::from_secs(2));
    }
}

/// Opens the store, binds, and starts serving on a tokio runtime.
pub fn start(cfg: Config) -> Result<Running> {
    let store = Store::open(&cfg.store)?;
    db::ensure_default_experiment(&store).map_err(|e| anyhow::anyhow!("{e}"))?;
    drop(store);
    let max_conns = listen::raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("serve")
        .build()
        .context("cannot start the server's runtime")?;
    let std_listener = std::net::TcpListener::bind(&cfg.addr)
        .with_context(|| format!("cannot listen on {}", cfg.addr))?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let app = routes::router(&cfg, addr)?;
    let listener = {
        let _guard = rt.enter();
        tokio::net::TcpListener::from_std(std_listener)?
    };
    let (stop, stopped) = watch::channel(false);
    let accept = rt.spawn(listen::accept_loop(listener, app, max_conns, stopped));
    Ok(Running {
        rt,
        addr,
        stop,
        accept,
    })
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
            allowed_hosts: args.allowed_host.clone(),
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
