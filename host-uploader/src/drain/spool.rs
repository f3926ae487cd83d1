//! Draining a spool directory: every ring file in it, exactly once.
//!
//! The contract with writers is in `docs/ffi.md` ("The spool directory"):
//! ring files are `<run_id>-<pid>-<n>.ring`, renamed into place complete;
//! large artifacts are staged beside them as `<stem>.<id>.blob`.
//!
//! Exactly once, per ring: records are read in batches; each batch and the
//! ring's watermark (the next sequence number) commit in one sink
//! transaction; only then does the ring's `Consumer::commit` release their
//! space and acknowledge them (what `runlog_wait` waits on). After a crash
//! anywhere in between, the ring still holds every unreleased record and the
//! store says where to resume: records below the watermark are skipped.
//!
//! A batch never ends inside an artifact sent in chunks: if it would, it is
//! cut before the artifact begins (the consumer rewinds and reads up to
//! there again), so a restart never sees half of one.
//!
//! Each attached ring file is `flock`ed, so two uploaders never drain the same
//! ring (the ring has a single consumer).

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use memmap2::MmapMut;
use runlog_core::crc::Crc32;
use runlog_core::spool::{read_header, SpoolError, SPOOL_HEADER_LEN};
use runlog_core::{Consumer, RunStatus};

use super::convert::{Converted, Converter};
use super::Limits;
use crate::sink::{ArtifactContent, ArtifactItem, Batch, Item, RunRef, Sink, StreamPos};
use crate::store::valid_run_id;

/// How often the directory is listed for new ring files.
const SCAN_EVERY: Duration = Duration::from_millis(100);
/// How long an artifact at the head of a ring may stay unfinished, while its
/// writer lives, before it is discarded so that the records after it move on
/// (a writer pushes an artifact's chunks in one call, so this only happens
/// when something went wrong in it).
const ARTIFACT_STALL: Duration = Duration::from_secs(30);
/// How long one ring is drained before the others get a turn.
const RING_TURN: Duration = Duration::from_millis(200);

/// Seconds since the Unix epoch, the heartbeat clock writers compare against.
fn now_secs() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

/// Whether process `pid` exists. Unknown pids (0, or out of range) count as alive,
/// so their rings are only removed once their writer closes them.
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    if pid <= 0 {
        return true;
    }
    // SAFETY: kill with signal 0 only checks for existence and permission; it
    // has no memory-safety preconditions.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// The writer pid in a spool file stem `<run_id>-<pid>-<n>` (run ids may contain `-`).
fn stem_pid(stem: &str) -> Option<u32> {
    let mut parts = stem.rsplitn(3, '-');
    let n = parts.next()?;
    let pid = parts.next()?;
    parts.next().filter(|r| !r.is_empty())?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// One attached ring file.
struct RingFile {
    // Declared before `_map` so it is dropped first: it points into the mapping.
    consumer: Consumer<'static>,
    _map: MmapMut,
    // Holds the flock for as long as the ring is attached.
    _lock: File,
    path: PathBuf,
    stem: String,
    run: RunRef,
    pid: u32,
    key: String,
    watermark: u64,
    conv: Converter,
    broken: bool,
    /// Whether `watermark` was read from the sink yet.
    loaded: bool,
    /// Since when the batch at `watermark` has been held back by an
    /// artifact that does not end (see [`ARTIFACT_STALL`]).
    stalled: Option<(u64, Instant)>,
}

/// What one pass over the spool directory did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassStats {
    /// Records committed (skipped duplicates included).
    pub records: u64,
    /// Ring files finished and removed.
    pub removed: u64,
}

/// Drains every ring file in a spool directory into a sink.
pub struct SpoolDrainer {
    dir: PathBuf,
    only_run: Option<String>,
    rings: BTreeMap<String, RingFile>,
    refused: HashSet<String>,
    refused_count: u64,
    last_scan: Option<Instant>,
    limits: Limits,
}

impl SpoolDrainer {
    /// A drainer for `dir`; with `only_run`, ring files of other runs are left alone.
    pub fn new(dir: &Path, only_run: Option<String>, limits: Limits) -> Self {
        Self {
            dir: dir.to_path_buf(),
            only_run,
            rings: BTreeMap::new(),
            refused: HashSet::new(),
            refused_count: 0,
            last_scan: None,
            limits,
        }
    }

    /// Ring files attached now.
    pub fn attached(&self) -> usize {
        self.rings.len()
    }

    /// Spool files refused so far (incompatible version, corrupted header).
    pub fn refused(&self) -> u64 {
        self.refused_count
    }

    /// Lists the directory now (instead of at the next scan interval).
    pub fn scan_now(&mut self) -> Result<()> {
        self.last_scan = None;
        self.scan()
    }

    fn scan(&mut self) -> Result<()> {
        if self.last_scan.is_some_and(|t| t.elapsed() < SCAN_EVERY) {
            return Ok(());
        }
        self.last_scan = Some(Instant::now());
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            // Nothing has been logged yet.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot list the spool directory {}", self.dir.display())
                })
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for name in names {
            if name.starts_with('.') {
                if name.ends_with(".tmp") {
                    self.remove_stale_tmp(&name);
                }
                continue;
            }
            let Some(stem) = name.strip_suffix(".ring") else {
                continue;
            };
            if self.rings.contains_key(&name) || self.refused.contains(&name) {
                continue;
            }
            if let Some(run) = &self.only_run {
                // Cheap filter by name; the header is checked again on attach.
                if !stem.starts_with(run.as_str()) {
                    continue;
                }
            }
            match self.attach(&name, stem) {
                Ok(Some(ring)) => {
                    self.rings.insert(name, ring);
                }
                Ok(None) => {}
                Err(e) => {
                    eprintln!("runlog: warning: {e:#}");
                    self.refused.insert(name);
                    self.refused_count += 1;
                }
            }
        }
        Ok(())
    }

    /// Removes a writer's leftover temporary file once its writer is gone.
    fn remove_stale_tmp(&self, name: &str) {
        let inner = name.trim_start_matches('.').trim_end_matches(".tmp");
        let stem = match inner.strip_suffix(".ring") {
            Some(s) => s,
            // `<stem>.<id>.blob`
            None => match inner.strip_suffix(".blob").and_then(|s| s.rsplit_once('.')) {
                Some((s, _)) => s,
                None => return,
            },
        };
        if let Some(pid) = stem_pid(stem) {
            if !pid_alive(pid) {
                let _ = fs::remove_file(self.dir.join(name));
            }
        }
    }

    /// Maps, locks and validates one ring file. `Ok(None)`: not ours to drain now.
    fn attach(&self, name: &str, stem: &str) -> Result<Option<RingFile>> {
        let path = self.dir.join(name);
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot open the spool file {} for draining (check its permissions)",
                        path.display()
                    )
                })
            }
        };
        // SAFETY: flock on a valid open descriptor has no memory-safety preconditions.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            // Another uploader drains it.
            return Ok(None);
        }
        let len = file.metadata()?.len();
        if len < SPOOL_HEADER_LEN as u64 + 256 || len > usize::MAX as u64 {
            bail!(
                "{} is not a runlog spool file (only {len} bytes); delete it",
                path.display()
            );
        }
        // SAFETY: the mapping is shared with the writer, which (per the spool
        // protocol) sets the file's length before renaming it into place and
        // never truncates it; all access to the ring part goes through
        // `Consumer`, which reads shared bytes via atomics and validated
        // ranges. The header part is only read.
        let mut map = unsafe { MmapMut::map_mut(&file) }
            .with_context(|| format!("cannot map the spool file {}", path.display()))?;
        let info = read_header(&map).map_err(|e| match e {
            SpoolError::UnsupportedVersion(..) => anyhow::anyhow!(
                "cannot drain {}: {e}. It was written by another version of librunlog: drain it \
                 with the matching runlog, or delete it",
                path.display()
            ),
            e => anyhow::anyhow!("cannot drain {}: {e}; delete it", path.display()),
        })?;
        if !valid_run_id(info.run_id) {
            bail!(
                "cannot drain {}: its run id {:?} is invalid; delete it",
                path.display(),
                info.run_id
            );
        }
        if self.only_run.as_deref().is_some_and(|r| r != info.run_id) {
            return Ok(None);
        }
        let run = RunRef {
            run_id: info.run_id.to_string(),
            experiment: info.experiment.to_string(),
        };
        let pid = info.pid;
        let key = format!("spool:{stem}@{}", info.created_ms);
        // SAFETY: the range [512, len) lies inside the mapping, which lives in
        // the returned RingFile beside the consumer and is dropped after it
        // (field order); the flock above makes this the only consumer.
        let consumer = unsafe {
            Consumer::attach(
                map.as_mut_ptr().add(SPOOL_HEADER_LEN),
                map.len() - SPOOL_HEADER_LEN,
            )
        }
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot drain {}: {e}. If it was written by another version of librunlog, drain \
                 it with the matching runlog; otherwise delete it",
                path.display()
            )
        })?;
        Ok(Some(RingFile {
            consumer,
            _map: map,
            _lock: file,
            path,
            stem: stem.to_string(),
            run,
            pid,
            key,
            watermark: 0,
            conv: Converter::new(),
            broken: false,
            loaded: false,
            stalled: None,
        }))
    }

    /// One pass: pick up new files, drain every ring, remove finished ones.
    pub fn pass(&mut self, sink: &mut dyn Sink) -> Result<PassStats> {
        self.scan()?;
        let mut stats = PassStats::default();
        let now = now_secs();
        let names: Vec<String> = self.rings.keys().cloned().collect();
        for name in names {
            let others_live = {
                let ring = &self.rings[&name];
                self.rings
                    .iter()
                    .any(|(n, r)| *n != name && r.run.run_id == ring.run.run_id)
            };
            let Some(ring) = self.rings.get_mut(&name) else {
                continue;
            };
            ring.consumer.heartbeat(now);
            if ring.broken {
                continue;
            }
            stats.records += ring.pump(sink, &self.dir, others_live, self.limits)?;
            if ring.finished() {
                if !ring.consumer.producer_closed() && !others_live {
                    // The writer died without closing its run.
                    if sink.run_status(&ring.run.run_id)?.as_deref() == Some("RUNNING") {
                        let mut batch = Batch::new(ring.run.clone());
                        batch.items.push(Item::RunEnd {
                            status: RunStatus::Killed,
                            time_ms: None,
                            exit_code: None,
                        });
                        sink.commit(&batch)?;
                    }
                }
                if let Some(ring) = self.rings.remove(&name) {
                    ring.remove(&self.dir);
                    stats.removed += 1;
                }
            }
        }
        Ok(stats)
    }
}

/// Reads a staged blob's CRC-32 with bounded memory.
fn file_crc32(path: &Path) -> std::io::Result<(u64, u32)> {
    let mut f = File::open(path)?;
    let mut crc = Crc32::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok((len, crc.finish()));
        }
        crc.update(&buf[..n]);
        len += n as u64;
    }
}

/// A point in a batch where no chunked artifact is open.
#[derive(Clone, Copy, Default)]
struct SafePoint {
    reads: usize,
    items: usize,
    next_seq: u64,
    blobs: usize,
    bad: u64,
}

impl RingFile {
    /// Whether the writer is done (closed, or dead) and everything is committed.
    fn finished(&self) -> bool {
        // Flag first, then the cursor: a writer publishes its last record before closing.
        let done = self.consumer.producer_closed() || !pid_alive(self.pid);
        done && !self.consumer.has_unread() && self.conv.open.is_none()
    }

    fn remove(self, dir: &Path) {
        let _ = fs::remove_file(&self.path);
        // Staged blobs whose records were committed before a restart, or never pushed.
        if let Ok(entries) = fs::read_dir(dir) {
            let prefix = format!("{}.", self.stem);
            for e in entries.flatten() {
                if let Ok(n) = e.file_name().into_string() {
                    if n.starts_with(&prefix) && n.ends_with(".blob") {
                        let _ = fs::remove_file(e.path());
                    }
                }
            }
        }
    }

    /// Drains what the ring holds now, in batches. Returns records consumed.
    fn pump(
        &mut self,
        sink: &mut dyn Sink,
        dir: &Path,
        others_live: bool,
        limits: Limits,
    ) -> Result<u64> {
        if !self.loaded {
            if let Some(w) = sink.watermark(&self.key)? {
                self.watermark = w;
                self.consumer.set_next_seq_hint(w);
            }
            self.loaded = true;
        }
        let turn = Instant::now();
        let mut total = 0u64;
        loop {
            let n = self.pump_batch(sink, dir, others_live, limits)?;
            total += n;
            if n == 0 || turn.elapsed() > RING_TURN {
                return Ok(total);
            }
        }
    }

    fn pump_batch(
        &mut self,
        sink: &mut dyn Sink,
        dir: &Path,
        others_live: bool,
        limits: Limits,
    ) -> Result<u64> {
        let started = Instant::now();
        let mut batch = Batch::new(self.run.clone());
        let mut next_seq = self.watermark;
        let mut reads = 0usize;
        let mut bad = 0u64;
        let mut blobs: Vec<PathBuf> = Vec::new();
        let mut safe = SafePoint {
            next_seq,
            ..SafePoint::default()
        };
        let mut corrupt = None;
        while reads < limits.max_records
            && (reads & 511 != 0 || started.elapsed() < limits.max_time)
        {
            let entry = match self.consumer.read() {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    corrupt = Some(e);
                    break;
                }
            };
            reads += 1;
            let seq = entry.seq;
            if seq < self.watermark {
                // Committed before a restart; its space is released with this batch.
                continue;
            }
            next_seq = seq + 1;
            let converted = match entry.record() {
                Ok(record) => self.conv.convert(&record),
                Err(e) => Converted::Bad(format!("record {seq}: {e}")),
            };
            match converted {
                Converted::Item(Item::RunEnd { .. }) if others_live => {
                    // Another process of this run is still logging: the run goes on.
                }
                Converted::Item(item) => batch.items.push(item),
                Converted::Nothing => {}
                Converted::Bad(why) => {
                    eprintln!("runlog: warning: {}: {why}; skipped", self.path.display());
                    bad += 1;
                }
                Converted::RunStart { time_ms, .. } => batch.items.push(Item::RunStart {
                    time_ms,
                    command: None,
                }),
                Converted::File {
                    path,
                    file,
                    len,
                    crc32,
                } => match self.check_blob(dir, &file, len, crc32) {
                    Ok(blob) => {
                        batch.items.push(Item::Artifact(ArtifactItem {
                            path,
                            content: ArtifactContent::File {
                                path: blob.clone(),
                                len,
                            },
                        }));
                        blobs.push(blob);
                    }
                    Err(why) => {
                        eprintln!("runlog: warning: {}: {why}; skipped", self.path.display());
                        bad += 1;
                    }
                },
            }
            if self.conv.open.is_none() {
                safe = SafePoint {
                    reads,
                    items: batch.items.len(),
                    next_seq,
                    blobs: blobs.len(),
                    bad,
                };
            }
        }
        if let Some(open) = &self.conv.open {
            let writer_done = self.consumer.producer_closed() || !pid_alive(self.pid);
            let stalled = safe.reads == 0 && {
                let since = match self.stalled {
                    Some((seq, t)) if seq == self.watermark => t,
                    _ => {
                        let now = Instant::now();
                        self.stalled = Some((self.watermark, now));
                        now
                    }
                };
                since.elapsed() > ARTIFACT_STALL
            };
            let hopeless = stalled
                || (safe.reads == 0
                    && open.data.len() as u64 > u64::from(self.consumer.capacity() / 2));
            if (writer_done && !self.consumer.has_unread()) || hopeless || corrupt.is_some() {
                eprintln!(
                    "runlog: warning: {}: artifact {:?} is incomplete; discarded",
                    self.path.display(),
                    open.path
                );
                self.conv.open = None;
                bad += 1;
            } else {
                // Cut before the artifact began: read up to there again.
                self.consumer.rewind();
                for _ in 0..safe.reads {
                    let _ = self.consumer.read();
                }
                self.conv.open = None;
                reads = safe.reads;
                batch.items.truncate(safe.items);
                blobs.truncate(safe.blobs);
                next_seq = safe.next_seq;
                bad = safe.bad;
            }
        }
        if reads == 0 {
            if let Some(e) = corrupt {
                self.mark_broken(e);
            }
            return Ok(0);
        }
        if bad != 0 {
            batch.items.push(Item::Lost {
                frames: 0,
                records: bad,
            });
        }
        batch.stream = Some(StreamPos {
            key: self.key.clone(),
            next_seq,
        });
        if let Err(e) = sink.commit(&batch) {
            // Nothing is lost: the ring still holds the batch; read it again next time.
            self.consumer.rewind();
            self.conv.open = None;
            return Err(e);
        }
        self.consumer.commit();
        self.watermark = next_seq;
        for blob in blobs {
            let _ = fs::remove_file(blob);
        }
        if let Some(e) = corrupt {
            self.mark_broken(e);
        }
        Ok(reads as u64)
    }

    /// Stops draining a ring whose bytes are damaged; the file stays for inspection.
    fn mark_broken(&mut self, e: impl std::fmt::Display) {
        self.broken = true;
        eprintln!(
            "runlog: warning: {} is corrupted ({e}); it is left in place, not drained further",
            self.path.display()
        );
    }

    /// Checks a staged artifact file named by an untrusted record.
    fn check_blob(&self, dir: &Path, file: &str, len: u64, crc32: u32) -> Result<PathBuf, String> {
        let ours = file
            .strip_prefix(self.stem.as_str())
            .and_then(|r| r.strip_prefix('.'))
            .and_then(|r| r.strip_suffix(".blob"))
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
        if !ours {
            return Err(format!(
                "staged artifact file name {file:?} is not one of this ring's"
            ));
        }
        let path = dir.join(file);
        match file_crc32(&path) {
            Ok((l, c)) if l == len && c == crc32 => Ok(path),
            Ok(_) => Err(format!(
                "staged artifact {file} failed its length or CRC check"
            )),
            Err(e) => Err(format!("cannot read staged artifact {file}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stem_pid_parses_from_the_right() {
        assert_eq!(stem_pid("run-1-23-0"), Some(23));
        assert_eq!(stem_pid("abc-4567-12"), Some(4567));
        assert_eq!(stem_pid("-4567-12"), None);
        assert_eq!(stem_pid("abc-x-1"), None);
        assert_eq!(stem_pid("abc-1-x"), None);
        assert_eq!(stem_pid("abc"), None);
    }

    #[test]
    fn pid_liveness() {
        assert!(pid_alive(std::process::id()));
        // Unknown pids count as alive: never remove a ring on a guess.
        assert!(pid_alive(0));
        assert!(pid_alive(u32::MAX));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!pid_alive(pid));
    }
}
