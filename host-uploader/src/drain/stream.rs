//! Draining byte streams of COBS + CRC frames: a serial line, a TCP
//! connection, a capture file or standard input.
//!
//! Damaged frames are skipped by [`runlog_core::FrameDecoder`] and counted on
//! the run (`lost_frames`, and `lost_records` from sequence gaps), never
//! fatal. Records arriving before any `RunStart` get a run of their own. A
//! byte stream cannot be replayed, so a batch that fails to commit is kept
//! and retried rather than dropped.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use anyhow::Result;
use runlog_core::{Event, FrameDecoder};

use super::convert::{Converted, Converter};
use super::{new_run_id, Limits};
use crate::sink::{Batch, Item, RunRef, Sink};
use crate::store::valid_run_id;

/// An owned decoder event.
enum Ev {
    Conv(Converted),
    FrameLost,
    RecordsLost(u64),
}

/// Turns one byte stream into batches.
pub struct StreamDrainer {
    source: String,
    decoder: FrameDecoder,
    conv: Converter,
    run: Option<RunRef>,
    batch: Option<Batch>,
    batch_started: Instant,
    lost_frames: u64,
    lost_records: u64,
    limits: Limits,
    events: Vec<Ev>,
    /// Runs this stream has written to, in order.
    pub runs: Vec<String>,
}

impl StreamDrainer {
    /// A drainer for the stream called `source` (used in messages).
    pub fn new(source: &str, limits: Limits) -> Self {
        Self {
            source: source.to_string(),
            decoder: FrameDecoder::new(),
            conv: Converter::new(),
            run: None,
            batch: None,
            batch_started: Instant::now(),
            lost_frames: 0,
            lost_records: 0,
            limits,
            events: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Decoder counters so far.
    pub fn stats(&self) -> runlog_core::DecodeStats {
        self.decoder.stats()
    }

    /// Feeds bytes from the stream; commits full batches.
    pub fn feed(&mut self, bytes: &[u8], sink: &mut dyn Sink) -> Result<()> {
        let conv = &mut self.conv;
        let events = &mut self.events;
        self.decoder.feed(bytes, |ev| {
            events.push(match ev {
                Event::Record { record, .. } => Ev::Conv(conv.convert(&record)),
                Event::FrameLost(_) => Ev::FrameLost,
                Event::RecordsLost(n) => Ev::RecordsLost(n),
            })
        });
        let events = std::mem::take(&mut self.events);
        for ev in events {
            self.apply(ev, sink)?;
        }
        if self
            .batch
            .as_ref()
            .is_some_and(|b| b.items.len() >= self.limits.max_records)
        {
            self.flush(sink)?;
        }
        Ok(())
    }

    /// Commits what is pending if the batch is older than the time limit.
    pub fn tick(&mut self, sink: &mut dyn Sink) -> Result<()> {
        if self.batch_started.elapsed() >= self.limits.max_time {
            self.flush(sink)?;
        }
        Ok(())
    }

    fn apply(&mut self, ev: Ev, sink: &mut dyn Sink) -> Result<()> {
        match ev {
            Ev::FrameLost => self.lost_frames = self.lost_frames.saturating_add(1),
            // Saturating: a hostile stream can claim gaps that sum past u64.
            Ev::RecordsLost(n) => self.lost_records = self.lost_records.saturating_add(n),
            Ev::Conv(Converted::RunStart {
                run_id,
                experiment,
                time_ms,
            }) => {
                self.flush(sink)?;
                let run_id = if valid_run_id(&run_id) {
                    run_id
                } else {
                    let own = new_run_id();
                    eprintln!(
                        "runlog: warning: {}: invalid run id {run_id:?}; recording as run {own}",
                        self.source
                    );
                    own
                };
                self.switch_run(RunRef { run_id, experiment });
                self.push(Item::RunStart {
                    time_ms,
                    command: None,
                });
            }
            Ev::Conv(Converted::Item(item)) => self.push(item),
            Ev::Conv(Converted::Nothing) => {}
            Ev::Conv(Converted::Bad(why)) => {
                eprintln!("runlog: warning: {}: {why}; skipped", self.source);
                self.lost_records = self.lost_records.saturating_add(1);
            }
            Ev::Conv(Converted::File { file, .. }) => {
                eprintln!(
                    "runlog: warning: {}: staged artifact file {file:?} cannot come over a byte stream; skipped",
                    self.source
                );
                self.lost_records = self.lost_records.saturating_add(1);
            }
        }
        Ok(())
    }

    fn switch_run(&mut self, run: RunRef) {
        if !self.runs.contains(&run.run_id) {
            self.runs.push(run.run_id.clone());
        }
        self.run = Some(run);
    }

    fn push(&mut self, item: Item) {
        if self.run.is_none() {
            let run = RunRef {
                run_id: new_run_id(),
                experiment: "default".into(),
            };
            eprintln!(
                "runlog: {}: records before any run start; recording them as run {}",
                self.source, run.run_id
            );
            self.switch_run(run);
        }
        let batch = self
            .batch
            .get_or_insert_with(|| Batch::new(self.run.clone().expect("a run was set just above")));
        if batch.items.is_empty() {
            self.batch_started = Instant::now();
        }
        batch.items.push(item);
    }

    /// Commits everything pending, retrying while the sink fails if `retry`.
    pub fn flush(&mut self, sink: &mut dyn Sink) -> Result<()> {
        if (self.lost_frames, self.lost_records) != (0, 0) && self.run.is_some() {
            let item = Item::Lost {
                frames: std::mem::take(&mut self.lost_frames),
                records: std::mem::take(&mut self.lost_records),
            };
            self.push(item);
        }
        self.batch_started = Instant::now();
        let Some(batch) = self.batch.as_ref() else {
            return Ok(());
        };
        if batch.items.is_empty() {
            return Ok(());
        }
        super::commit_retrying(sink, batch, self.limits.retry)?;
        self.batch = None;
        Ok(())
    }

    /// Ends the stream: commits what is pending and reports unattributed loss.
    pub fn finish(&mut self, sink: &mut dyn Sink) -> Result<()> {
        if let Some(open) = self.conv.open.take() {
            eprintln!(
                "runlog: warning: {}: artifact {:?} is incomplete at the end of the stream; discarded",
                self.source, open.path
            );
            self.lost_records = self.lost_records.saturating_add(1);
        }
        self.flush(sink)?;
        if (self.lost_frames, self.lost_records) != (0, 0) {
            eprintln!(
                "runlog: warning: {}: {} frame(s) and {} record(s) lost before any run started",
                self.source, self.lost_frames, self.lost_records
            );
        }
        Ok(())
    }
}

/// Waits up to `timeout` for `fd` to be readable (or hung up).
fn wait_readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `pfd` is a valid pollfd for the duration of the call and the count is 1.
    let r = unsafe { libc::poll(&mut pfd, 1, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    Ok(r > 0)
}

/// Why [`drain_fd`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// End of stream (EOF, hang-up, peer closed).
    Eof,
    /// Nothing arrived for the idle limit.
    Idle,
    /// The stop flag was raised.
    Stopped,
}

/// Reads `r` until end of stream (or `idle_exit` without data, or `stop`),
/// feeding the drainer and committing batches at least every batch interval.
pub fn drain_fd<R: Read + AsRawFd>(
    r: &mut R,
    drainer: &mut StreamDrainer,
    sink: &mut dyn Sink,
    idle_exit: Option<Duration>,
    stop: &dyn Fn() -> bool,
) -> Result<StreamEnd> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_data = Instant::now();
    let end = loop {
        if stop() {
            break StreamEnd::Stopped;
        }
        let ready = wait_readable(r.as_raw_fd(), drainer.limits.max_time)?;
        if !ready {
            drainer.tick(sink)?;
            if idle_exit.is_some_and(|d| last_data.elapsed() >= d) {
                break StreamEnd::Idle;
            }
            continue;
        }
        match r.read(&mut buf) {
            Ok(0) => break StreamEnd::Eof,
            Ok(n) => {
                last_data = Instant::now();
                drainer.feed(&buf[..n], sink)?;
                drainer.tick(sink)?;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) => {}
            // A serial line or pty whose other end went away.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break StreamEnd::Eof,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break StreamEnd::Eof,
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("cannot read {}", drainer.source)))
            }
        }
    };
    drainer.finish(sink)?;
    Ok(end)
}
