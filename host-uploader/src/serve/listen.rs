//! Sockets: accepting connections within a limit, and serving each with
//! hyper's HTTP/1 and a header timeout.
//!
//! - **Connection limit**: at most [`MAX_CONNECTIONS`] (less if the
//!   process may not open that many files) are served at once. Beyond it the
//!   server stops accepting, so new connections wait in the kernel's accept
//!   queue until one closes: they queue, nothing crashes. At start the
//!   server raises its soft `RLIMIT_NOFILE` to the hard limit.
//! - **Header timeout**: a connection must deliver a request's headers
//!   within [`HEADER_TIMEOUT`] of the server waiting for them, which also
//!   closes idle keep-alive connections: slow-header (slowloris) and idle
//!   connections give their slot back.
//! - **Parse errors**: what hyper answers by itself (414, 431, 400) gets
//!   MLflow's JSON error body through [`ErrorBodies`].
//! - **Accept errors** (out of descriptors, ...): reported, then retried
//!   after a pause; never fatal.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use super::parse_errors::ErrorBodies;

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 4096;
/// Most headers in one request (more: 431, from [`super::parse_errors`]).
pub const MAX_HEADERS: usize = 64;
/// Most bytes of a request's line and headers (hyper's read buffer, at its default; more: 431).
pub const MAX_HEAD_BYTES: usize = 8192 + 4096 * 100;
/// Longest wait for a request's headers (and between keep-alive requests).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Descriptors kept free for SQLite, artifact files and the runtime.
const RESERVED_FDS: libc::rlim_t = 256;

/// Raises the soft limit on open files to the hard limit; returns how many
/// connections fit under it (at most [`MAX_CONNECTIONS`]).
pub fn raise_fd_limit() -> usize {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rl` is a valid rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return 64;
    }
    if rl.rlim_cur < rl.rlim_max {
        let want = libc::rlimit {
            rlim_cur: rl.rlim_max,
            rlim_max: rl.rlim_max,
        };
        // SAFETY: `want` is a valid rlimit; raising the soft limit up to the
        // hard one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            rl = want;
        }
    }
    let room = rl.rlim_cur.saturating_sub(RESERVED_FDS);
    usize::try_from(room)
        .unwrap_or(usize::MAX)
        .clamp(16, MAX_CONNECTIONS)
}

/// Accepts connections until `stop` turns true, serving each with `app`.
pub async fn accept_loop(
    listener: TcpListener,
    app: Router,
    max_connections: usize,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let sock = tokio::select! {
            r = listener.accept() => match r {
                Ok((sock, _)) => sock,
                Err(e) => {
                    eprintln!("runlog serve: cannot accept a connection ({e}); retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = sock.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _slot = permit;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_headers(MAX_HEADERS)
                .max_buf_size(MAX_HEAD_BYTES);
            // A connection's errors (timeouts, resets) end only that connection.
            let io = TokioIo::new(ErrorBodies::new(sock));
            let _ = http.serve_connection(io, service).await;
        });
    }
}
