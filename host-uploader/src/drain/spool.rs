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
use runlog_core::spool::{read_header, read_placement, SpoolError, SPOOL_HEADER_LEN};
use runlog_core::{Consumer, Record, RingError, RunStatus};

use super::convert::{Converted, Converter};
use super::presence::Presence;
use super::sigbus;
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
/// How long a ring may go on being written after its writer closed it or
/// died (a child made with a raw `fork` system call writing into its
/// parent's ring) before it is given up.
const FOREIGN_WRITES: Duration = Duration::from_secs(10);
/// The watermark of a ring that was finished (or given up) and accounted
/// for: a later attach of the same file skips all of it and adds nothing.
const RING_DONE: u64 = i64::MAX as u64;
/// Suffix a given-up ring file is renamed to: kept for inspection, never
/// attached again (it no longer ends in `.ring`).
const BROKEN_SUFFIX: &str = ".broken";

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
    // Declared first so it is dropped first: it points into the mapping.
    consumer: Consumer<'static>,
    // Dropped before the mapping is unmapped (see `sigbus`).
    guard: sigbus::Guard,
    _map: MmapMut,
    // Holds the flock for as long as the ring is attached.
    _lock: File,
    path: PathBuf,
    stem: String,
    run: RunRef,
    pid: u32,
    /// The writer's node, from its spool header (empty if unknown).
    node: String,
    key: String,
    watermark: u64,
    conv: Converter,
    /// Records are copied here out of the shared mapping before they are checked.
    buf: Vec<u8>,
    /// Why the ring cannot be drained further, once it cannot.
    broken: Option<String>,
    /// Whether records of this ring were lost to damage (the run is not a clean success).
    damaged: bool,
    /// Whether `damaged` was counted in the drainer's figures yet.
    damage_counted: bool,
    /// Whether `watermark` was read from the sink yet.
    loaded: bool,
    /// Since when the batch at `watermark` has been held back by an
    /// artifact that does not end (see [`ARTIFACT_STALL`]).
    stalled: Option<(u64, Instant)>,
    /// When the writer was first seen gone (closed or dead), and `write_pos` then.
    writer_gone: Option<(Instant, u32)>,
    /// The first record this drainer read; when it is the ring's first
    /// (seq 0), every `Dropped` notice of the ring passed through this drainer.
    first_seq: Option<u64>,
    /// Damage is reported once: up to which record it was reported.
    damage_warned_to: u64,
    /// Sum of the `Dropped` notices committed from this ring by this drainer.
    dropped_seen: u64,
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
    /// Rings that lost records to damage (bad bytes, truncation, foreign writes).
    damaged_count: u64,
    /// Runs that had a damaged ring (they never end as a clean FINISHED).
    damaged_runs: HashSet<String>,
    last_scan: Option<Instant>,
    limits: Limits,
    /// The shared lock on the directory's `UPLOADER_LOCK` file, which tells
    /// writers that an uploader is about to attach their rings.
    presence: Option<Presence>,
    /// Per run, how each ranked ring ended (see [`Self::seen_ranks`]).
    seen_ranks: BTreeMap<String, BTreeMap<u32, crate::ranks::SeenRank>>,
}

impl SpoolDrainer {
    /// A drainer for `dir`; with `only_run`, ring files of other runs are left alone.
    ///
    /// It announces itself to writers at once (see [`Presence`]), so create
    /// it before starting a program whose rings it drains.
    pub fn new(dir: &Path, only_run: Option<String>, limits: Limits) -> Self {
        Self {
            dir: dir.to_path_buf(),
            only_run,
            rings: BTreeMap::new(),
            refused: HashSet::new(),
            refused_count: 0,
            damaged_count: 0,
            damaged_runs: HashSet::new(),
            last_scan: None,
            limits,
            presence: Presence::hold(dir),
            seen_ranks: BTreeMap::new(),
        }
    }

    /// How the rings of `run_id`'s ranks ended, by rank, for the rings this
    /// drainer finished or gave up (a rank with several rings: the worst).
    pub fn seen_ranks(&self, run_id: &str) -> BTreeMap<u32, crate::ranks::SeenRank> {
        self.seen_ranks.get(run_id).cloned().unwrap_or_default()
    }

    /// Notes how a ranked ring ended.
    fn see_rank(&mut self, name: &str, end: crate::ranks::RingEnd) {
        let Some(ring) = self.rings.get(name) else {
            return;
        };
        let Some(rank) = ring.conv.rank() else {
            return;
        };
        self.seen_ranks
            .entry(ring.run.run_id.clone())
            .or_default()
            .entry(rank)
            .and_modify(|s| s.merge(&ring.node, end))
            .or_insert_with(|| crate::ranks::SeenRank {
                node: ring.node.clone(),
                end,
            });
    }

    /// Ring files attached now.
    pub fn attached(&self) -> usize {
        self.rings.len()
    }

    /// Spool files refused so far (incompatible version, corrupted header).
    pub fn refused(&self) -> u64 {
        self.refused_count
    }

    /// Rings that lost records to damage so far (a damaged record, a
    /// truncated file, writes after the writer was gone).
    pub fn damaged(&self) -> u64 {
        self.damaged_count
    }

    /// Whether a ring of `run_id` lost records to damage.
    pub fn run_damaged(&self, run_id: &str) -> bool {
        self.damaged_runs.contains(run_id)
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
        if self.presence.is_none() {
            self.presence = Presence::hold(&self.dir);
        }
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
        // SAFETY: the mapping is shared with the writer, another process that
        // is not trusted: all access to the ring part goes through `Consumer`,
        // which reads shared bytes with atomic loads, checks every range and
        // copies records out (`read_copy`) before they are checked; the
        // header part is only read, by `read_header`, which copies what it
        // returns. A writer that truncates the file cannot kill this process:
        // `sigbus::Guard` (registered before the first access) turns the
        // fault into zero pages and a flag.
        let mut map = unsafe { MmapMut::map_mut(&file) }
            .with_context(|| format!("cannot map the spool file {}", path.display()))?;
        let Some(guard) = sigbus::Guard::new(map.as_ptr(), map.len()) else {
            // Every guard slot is taken: attach it once others are finished.
            return Ok(None);
        };
        // The header is copied out before it is parsed, like the records.
        let mut head = [0u8; SPOOL_HEADER_LEN];
        for (i, b) in head.iter_mut().enumerate() {
            // SAFETY: `i < SPOOL_HEADER_LEN <= map.len()` (the length check
            // above); an atomic load, because the writer may store here now.
            *b = unsafe { std::sync::atomic::AtomicU8::from_ptr(map.as_mut_ptr().add(i)) }
                .load(std::sync::atomic::Ordering::Relaxed);
        }
        if guard.truncated() {
            bail!(
                "{} was truncated while being attached; delete it",
                path.display()
            );
        }
        let info = read_header(&head).map_err(|e| match e {
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
        let placement = read_placement(&head)
            .map_err(|e| anyhow::anyhow!("cannot drain {}: {e}; delete it", path.display()))?;
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
        let buf = vec![0u8; consumer.copy_buf_len()];
        Ok(Some(RingFile {
            consumer,
            guard,
            _map: map,
            _lock: file,
            path,
            stem: stem.to_string(),
            run,
            pid,
            node: placement.node.to_string(),
            key,
            watermark: 0,
            conv: Converter::with_rank(placement.rank),
            buf,
            broken: None,
            damaged: false,
            damage_counted: false,
            loaded: false,
            stalled: None,
            writer_gone: None,
            first_seq: None,
            damage_warned_to: 0,
            dropped_seen: 0,
        }))
    }

    /// One pass: pick up new files, drain every ring, remove finished ones,
    /// give up damaged ones.
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
            if ring.broken.is_none() {
                stats.records += ring.pump(sink, &self.dir, others_live, self.limits)?;
            }
            if ring.guard.truncated() {
                ring.broken = Some("it was truncated while being drained".into());
            }
            if ring.broken.is_none() && !ring.finished() {
                ring.check_foreign_writes();
            }
            if ring.broken.is_some() {
                ring.damaged = true;
            }
            if ring.damaged && !ring.damage_counted {
                ring.damage_counted = true;
                self.damaged_count += 1;
                self.damaged_runs.insert(ring.run.run_id.clone());
            }
            if ring.broken.is_some() {
                self.give_up(&name, sink, others_live)?;
                stats.removed += 1;
            } else if ring.finished() {
                self.finish(&name, sink, others_live)?;
                stats.removed += 1;
            }
        }
        Ok(stats)
    }

    /// The status a run gets when the ring just finished was its last one,
    /// or `None` when it needs none (already ended as it should).
    fn end_status(
        &self,
        sink: &mut dyn Sink,
        run_id: &str,
        writer_closed: bool,
    ) -> Result<Option<RunStatus>> {
        let damaged = self.damaged_runs.contains(run_id);
        Ok(match sink.run_status(run_id)?.as_deref() {
            // Lost records: never a clean success.
            Some("RUNNING" | "FINISHED") if damaged => Some(RunStatus::Failed),
            // The writer's end record did not reach the store (a full ring
            // refused it, or the writer died): its flag and its process say.
            Some("RUNNING") if writer_closed => Some(RunStatus::Finished),
            Some("RUNNING") => Some(RunStatus::Killed),
            _ => None,
        })
    }

    /// Accounts for a ring whose writer is done and whose records are all
    /// committed, then removes it: the drops its writer counted but could not
    /// report, and the run's end if the ring did not carry one.
    fn finish(&mut self, name: &str, sink: &mut dyn Sink, others_live: bool) -> Result<()> {
        let closed = self.rings[name].consumer.producer_closed();
        let end = if self.rings[name].damaged {
            crate::ranks::RingEnd::Damaged
        } else if closed {
            crate::ranks::RingEnd::Closed
        } else {
            crate::ranks::RingEnd::NotClosed
        };
        self.see_rank(name, end);
        let ring = &self.rings[name];
        if ring.watermark != RING_DONE {
            let mut batch = Batch::new(ring.run.clone());
            if ring.first_seq == Some(0) {
                // Exact: every notice of this ring went through this drainer.
                let counted = u64::from(ring.consumer.dropped_total());
                let unreported = counted.saturating_sub(ring.dropped_seen);
                if unreported != 0 {
                    batch.items.push(Item::Dropped(unreported));
                }
            }
            if !others_live && ring.conv.rank().is_none() {
                let closed = ring.consumer.producer_closed();
                if let Some(status) = self.end_status(sink, &ring.run.run_id, closed)? {
                    batch.items.push(Item::RunEnd {
                        status,
                        time_ms: None,
                        exit_code: None,
                    });
                }
            }
            batch.stream = Some(StreamPos {
                key: ring.key.clone(),
                next_seq: RING_DONE,
            });
            sink.commit(&batch)?;
        }
        if let Some(ring) = self.rings.remove(name) {
            ring.remove(&self.dir);
        }
        Ok(())
    }

    /// Stops draining a damaged ring for good: records the loss on its run
    /// (and ends the run as FAILED if no other ring of it is attached), and
    /// renames the file to `*.ring.broken`, kept for inspection.
    fn give_up(&mut self, name: &str, sink: &mut dyn Sink, others_live: bool) -> Result<()> {
        self.see_rank(name, crate::ranks::RingEnd::Damaged);
        let ring = &self.rings[name];
        if ring.watermark == RING_DONE {
            // Accounted for by an earlier drainer that could not rename it.
            if let Some(ring) = self.rings.remove(name) {
                ring.remove(&self.dir);
            }
            return Ok(());
        }
        let why = ring.broken.clone().unwrap_or_default();
        eprintln!(
            "runlog: warning: {} is damaged ({why}); the records before the damage are stored, \
             the rest of this ring is lost (counted as at least one lost record); the file is \
             kept as {}{BROKEN_SUFFIX}",
            ring.path.display(),
            ring.path.display()
        );
        let mut batch = Batch::new(ring.run.clone());
        batch.items.push(Item::Lost {
            frames: 0,
            records: 1,
        });
        if !others_live {
            if let Some(status) = self.end_status(sink, &ring.run.run_id, false)? {
                batch.items.push(Item::RunEnd {
                    status,
                    time_ms: None,
                    exit_code: None,
                });
            }
        }
        batch.stream = Some(StreamPos {
            key: ring.key.clone(),
            next_seq: RING_DONE,
        });
        sink.commit(&batch)?;
        if let Some(ring) = self.rings.remove(name) {
            let mut broken = ring.path.clone().into_os_string();
            broken.push(BROKEN_SUFFIX);
            let _ = fs::rename(&ring.path, broken);
        }
        Ok(())
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
    dropped: u64,
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

    /// Marks the ring broken when records keep being published in it for
    /// [`FOREIGN_WRITES`] after its writer closed it or died: another process
    /// (a child made with a raw `fork` system call, or a stray writer) writes
    /// into it, and waiting for it to finish could last forever.
    fn check_foreign_writes(&mut self) {
        let done = self.consumer.producer_closed() || !pid_alive(self.pid);
        if !done {
            return;
        }
        let pos = self.consumer.published_pos();
        match self.writer_gone {
            None => self.writer_gone = Some((Instant::now(), pos)),
            Some((since, at)) if pos != at && since.elapsed() >= FOREIGN_WRITES => {
                self.broken = Some(format!(
                    "it is still being written {} s after its writer (process {}) closed it or \
                     died: another process writes into it",
                    since.elapsed().as_secs(),
                    self.pid
                ));
            }
            Some(_) => {}
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
            if n == 0 || turn.elapsed() > RING_TURN || self.broken.is_some() {
                return Ok(total);
            }
        }
    }

    /// Moves the read cursor past damaged bytes to the next intact record.
    /// Returns the records lost that were not committed before, or `None`
    /// (the ring is broken) when no intact record follows.
    ///
    /// After a record that did not decode, `checked_only`: its header may be
    /// what is damaged (a length that swallows the records after it), so the
    /// drain looks again from its start; finding nothing amiss is no damage.
    fn skip_damage(&mut self, checked_only: bool) -> Option<u64> {
        let before = self.consumer.next_seq().unwrap_or(self.watermark);
        self.consumer.resync().ok()?;
        let found = self.consumer.next_seq().unwrap_or(before);
        let lost = found.saturating_sub(before.max(self.watermark));
        if checked_only && lost == 0 {
            return Some(0);
        }
        self.damaged = true;
        if found > self.damage_warned_to {
            self.damage_warned_to = found;
            eprintln!(
                "runlog: warning: {}: damaged bytes after record {}; {lost} record(s) lost, \
                 draining resumes at record {found}",
                self.path.display(),
                before.saturating_sub(1)
            );
        }
        Some(lost)
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
        let mut dropped = 0u64;
        let mut blobs: Vec<PathBuf> = Vec::new();
        let mut safe = SafePoint {
            next_seq,
            ..SafePoint::default()
        };
        let mut corrupt = None;
        while reads < limits.max_records
            && (reads & 511 != 0 || started.elapsed() < limits.max_time)
        {
            // Copied out of the shared mapping first: what is checked below
            // cannot change under the check.
            let entry = match self.consumer.read_copy(&mut self.buf) {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(RingError::Corrupt) => match self.skip_damage(false) {
                    Some(lost) => {
                        bad = bad.saturating_add(lost);
                        continue;
                    }
                    None => {
                        corrupt = Some(RingError::Corrupt);
                        break;
                    }
                },
                Err(e) => {
                    corrupt = Some(e);
                    break;
                }
            };
            reads += 1;
            let seq = entry.seq;
            self.first_seq.get_or_insert(seq);
            let record = entry.record();
            if let Ok(Record::Dropped { count }) = &record {
                dropped = dropped.saturating_add(u64::from(*count));
            }
            let undecodable = record.is_err();
            if seq < self.watermark {
                // Committed before a restart; its space is released with this batch.
                continue;
            }
            next_seq = seq + 1;
            let converted = match record {
                Ok(record) => self.conv.convert(&record),
                Err(e) => Converted::Bad(format!("record {seq}: {e}")),
            };
            match converted {
                Converted::Item(Item::RunEnd { .. })
                    if others_live || self.conv.rank().is_some() =>
                {
                    // Another process of this run is still logging: the run goes on.
                    // A rank's end does not end its run: the ends of all ranks
                    // settle it (crate::ranks).
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
            if undecodable {
                // Nothing found is no damage: the next read checks the cursors anyway.
                bad = bad.saturating_add(self.skip_damage(true).unwrap_or(0));
            }
            if self.conv.open.is_none() {
                safe = SafePoint {
                    reads,
                    items: batch.items.len(),
                    next_seq,
                    blobs: blobs.len(),
                    bad,
                    dropped,
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
                self.replay(safe.reads);
                self.conv.open = None;
                reads = safe.reads;
                batch.items.truncate(safe.items);
                blobs.truncate(safe.blobs);
                next_seq = safe.next_seq;
                bad = safe.bad;
                dropped = safe.dropped;
            }
        }
        if let Some(e) = corrupt {
            self.broken = Some(e.to_string());
        }
        if reads == 0 && bad == 0 {
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
            self.broken = None;
            return Err(e);
        }
        self.consumer.commit();
        self.watermark = next_seq;
        self.dropped_seen = self.dropped_seen.saturating_add(dropped);
        for blob in blobs {
            let _ = fs::remove_file(blob);
        }
        Ok(reads as u64)
    }

    /// Reads `n` records again after a rewind, stepping over damage as the
    /// first reading did.
    fn replay(&mut self, n: usize) {
        self.consumer.rewind();
        let mut done = 0;
        while done < n {
            match self.consumer.read_copy(&mut self.buf) {
                Ok(Some(e)) => {
                    done += 1;
                    if e.record().is_err() {
                        let _ = self.consumer.resync();
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    if self.consumer.resync().is_err() {
                        break;
                    }
                }
            }
        }
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
