//! Moving records from their sources into a [`Sink`].
//!
//! - [`spool`]: ring files in a spool directory, exactly once (watermarks).
//! - [`stream`]: byte streams of frames (serial, TCP, capture files, stdin).
//! - [`serial`]: opening a serial device.
//! - [`convert`]: records to owned batch items, artifact reassembly.
//! - [`presence`]: the lock that tells writers an uploader drains their directory.

pub mod convert;
pub mod presence;
pub mod serial;
pub mod sigbus;
pub mod spool;
pub mod stream;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::sink::{Batch, Sink};
pub use spool::{PassStats, SpoolDrainer};
pub use stream::{drain_fd, StreamDrainer, StreamEnd};

/// How big a batch grows before it is committed, and whether failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most records per batch (one transaction).
    pub max_records: usize,
    /// Longest a batch waits before it is committed.
    pub max_time: Duration,
    /// Retry failed commits (continuous draining) instead of returning the error.
    pub retry: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_records: 50_000,
            max_time: Duration::from_millis(50),
            retry: false,
        }
    }
}

/// How long an idle drain loop sleeps between passes.
pub const IDLE_SLEEP: Duration = Duration::from_millis(5);

/// A fresh run id: [`runlog_core::host::new_run_id`].
pub fn new_run_id() -> String {
    runlog_core::host::new_run_id().as_str().to_owned()
}

/// Commits `batch`; with `retry`, keeps trying (with backoff, saying why once)
/// until it succeeds, since the records have nowhere else to go.
pub fn commit_retrying(sink: &mut dyn Sink, batch: &Batch, retry: bool) -> Result<()> {
    let mut delay = Duration::from_millis(100);
    let mut said = String::new();
    loop {
        match sink.commit(batch) {
            Ok(()) => {
                if !said.is_empty() {
                    eprintln!("runlog: the store accepts records again");
                }
                return Ok(());
            }
            Err(e) if retry => {
                let msg = format!("{e:#}");
                if msg != said {
                    eprintln!("runlog: {msg}; retrying");
                    said = msg;
                }
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Drains the spool directory `dir` until `stop()` says so; with `once`,
/// until a pass finds nothing left. Returns how many spool files were refused
/// or lost records to damage (see [`SpoolDrainer::damaged`]).
pub fn drain_spool(
    dir: &Path,
    sink: &mut dyn Sink,
    limits: Limits,
    once: bool,
    stop: &dyn Fn() -> bool,
) -> Result<u64> {
    let mut drainer = SpoolDrainer::new(dir, None, limits);
    let mut said = String::new();
    loop {
        match drainer.pass(sink) {
            Ok(stats) => {
                if !said.is_empty() {
                    eprintln!("runlog: draining again");
                    said.clear();
                }
                if once && stats.records == 0 {
                    break;
                }
                if stats.records == 0 {
                    std::thread::sleep(IDLE_SLEEP);
                }
            }
            Err(e) if !once => {
                // Nothing is lost: unreleased records stay in their rings.
                let msg = format!("{e:#}");
                if msg != said {
                    eprintln!("runlog: {msg}; retrying");
                    said = msg;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
        if stop() {
            break;
        }
    }
    Ok(drainer.refused() + drainer.damaged())
}

/// Idle time after which `--once` stops reading a live stream (serial, TCP).
pub const ONCE_IDLE: Duration = Duration::from_secs(2);

/// Drains the captured stream `path` (`-`: standard input) to its end.
pub fn drain_input(
    path: &Path,
    sink: &mut dyn Sink,
    limits: Limits,
    stop: &dyn Fn() -> bool,
) -> Result<()> {
    if path == Path::new("-") {
        let mut d = StreamDrainer::new("standard input", limits);
        let mut stdin = std::io::stdin().lock();
        drain_fd(&mut stdin, &mut d, sink, None, stop)?;
    } else {
        let mut f = std::fs::File::open(path)
            .with_context(|| format!("cannot open the captured stream {}", path.display()))?;
        let mut d = StreamDrainer::new(&path.display().to_string(), limits);
        drain_fd(&mut f, &mut d, sink, None, stop)?;
    }
    Ok(())
}

/// Drains frames from serial device `dev` at `baud`.
pub fn drain_serial(
    dev: &Path,
    baud: u32,
    sink: &mut dyn Sink,
    limits: Limits,
    once: bool,
    stop: &dyn Fn() -> bool,
) -> Result<()> {
    let mut f = serial::open(dev, baud)?;
    let mut d = StreamDrainer::new(&dev.display().to_string(), limits);
    drain_fd(&mut f, &mut d, sink, once.then_some(ONCE_IDLE), stop)?;
    Ok(())
}

/// Connects to `addr` and drains what it sends; unless `once`, reconnects when it goes away.
pub fn drain_tcp_connect(
    addr: &str,
    sink: &mut dyn Sink,
    limits: Limits,
    once: bool,
    stop: &dyn Fn() -> bool,
) -> Result<()> {
    let mut delay = Duration::from_millis(200);
    while !stop() {
        match TcpStream::connect(addr) {
            Ok(mut s) => {
                delay = Duration::from_millis(200);
                let mut d = StreamDrainer::new(&format!("tcp {addr}"), limits);
                drain_fd(&mut s, &mut d, sink, once.then_some(ONCE_IDLE), stop)?;
                if once {
                    return Ok(());
                }
            }
            Err(e) if once => {
                return Err(e).with_context(|| {
                    format!("cannot connect to {addr}; is the device or bridge listening there?")
                })
            }
            Err(e) => {
                eprintln!("runlog: cannot connect to {addr} ({e}); retrying");
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    Ok(())
}

/// Listens on `addr` and drains each connection in turn; with `once`, only the first.
pub fn drain_tcp_listen(
    addr: &str,
    sink: &mut dyn Sink,
    limits: Limits,
    once: bool,
    stop: &dyn Fn() -> bool,
) -> Result<()> {
    let listener = TcpListener::bind(addr).with_context(|| {
        format!("cannot listen on {addr} (is the address in use, or a privileged port?)")
    })?;
    listener.set_nonblocking(true)?;
    eprintln!("runlog: listening on {}", listener.local_addr()?);
    while !stop() {
        match listener.accept() {
            Ok((mut s, peer)) => {
                s.set_nonblocking(false)?;
                let mut d = StreamDrainer::new(&format!("tcp {peer}"), limits);
                drain_fd(&mut s, &mut d, sink, None, stop)?;
                if once {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e).context("cannot accept a connection"),
        }
    }
    Ok(())
}
