//! Creating a logger's spool file: `<run_id>-<pid>-<n>.ring` in the spool
//! directory, written under `.<stem>.ring.tmp` and renamed once its header,
//! ring and `RunStart` are in place, so an uploader never sees a half-made
//! file. The layout is documented in `docs/ffi.md`.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use memmap2::MmapMut;
use runlog_core::record::{Record, RunStart};
use runlog_core::ring::{self, Producer};
use runlog_core::spool::{self, SpoolInfo, SPOOL_HEADER_LEN};

use super::clock;

/// A heartbeat older than this (seconds) means no uploader is draining.
pub(crate) const STALE_HEARTBEAT_SECS: u64 = 10;

/// Per-process counter for spool file names.
static NEXT_FILE: AtomicU32 = AtomicU32::new(0);

/// Where a host logger's ring lives, and how it behaves when full.
pub(crate) struct SpoolConfig {
    pub(crate) dir: PathBuf,
    pub(crate) stem: String,
    pub(crate) path: PathBuf,
    pub(crate) full_timeout_ms: u32,
    /// The process that created the logger (see `fork`).
    pub(crate) pid: u32,
    /// Artifacts larger than this are staged as files.
    pub(crate) inline_limit: usize,
}

impl SpoolConfig {
    /// Whether a heartbeat shows a live uploader.
    pub(crate) fn uploader_live(&self, heartbeat: u32) -> bool {
        heartbeat != 0 && clock::now_secs().saturating_sub(heartbeat.into()) <= STALE_HEARTBEAT_SECS
    }

    /// Whether an uploader drains (or is about to drain) this spool
    /// directory: one holds a shared lock on its [`spool::UPLOADER_LOCK`]
    /// file. Only called when closing, never on the hot path.
    pub(crate) fn uploader_present(&self) -> bool {
        use std::os::fd::AsRawFd;
        let Ok(f) = File::open(self.dir.join(spool::UPLOADER_LOCK)) else {
            return false;
        };
        // SAFETY: flock on a valid open descriptor has no memory-safety
        // preconditions; a lock we get is released when `f` is closed.
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) != 0 }
    }

    /// A sentence on whether anyone drains this ring.
    pub(crate) fn drain_state(&self, heartbeat: u32) -> String {
        let path = self.path.display();
        if heartbeat == 0 {
            format!(
                "no uploader is draining {path} (no heartbeat yet): run the program under \
                 `runlog run`, or start `runlog drain --spool {}`",
                self.dir.display()
            )
        } else if !self.uploader_live(heartbeat) {
            format!(
                "no uploader is draining {path} (last heartbeat {} s ago)",
                clock::now_secs().saturating_sub(heartbeat.into())
            )
        } else {
            format!("an uploader is draining {path} but has not committed these records yet")
        }
    }
}

/// The mapped spool file; the producer's storage. Unmapped when dropped.
pub(crate) struct SpoolMap {
    _map: MmapMut,
}

/// A created spool file: its config, mapping and producer (which has pushed `RunStart`).
pub(crate) struct Created {
    pub(crate) config: SpoolConfig,
    pub(crate) map: SpoolMap,
    pub(crate) producer: Producer<'static>,
}

/// What a new spool file records.
pub(crate) struct Params<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) run_id: &'a str,
    pub(crate) experiment: &'a str,
    pub(crate) capacity: u32,
    pub(crate) full_timeout_ms: u32,
    /// The process's rank, world size and node, kept in the header.
    pub(crate) placement: spool::Placement<'a>,
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// Creates the spool file, formats its ring and pushes `RunStart`.
pub(crate) fn create(p: &Params<'_>) -> Result<Created, String> {
    super::fork::note_logger_created();
    // Private by default: the spool holds everything the program logs, so
    // directories made here are 0700 and spool files 0600 (existing
    // directories keep their modes).
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p.dir)
        .map_err(|e| format!("cannot create spool directory {}: {e}", p.dir.display()))?;
    // Absolute, so that staging still finds it if the program changes directory.
    let dir = fs::canonicalize(p.dir)
        .map_err(|e| format!("cannot resolve spool directory {}: {e}", p.dir.display()))?;
    let p = &Params { dir: &dir, ..*p };
    let pid = std::process::id();
    let (stem, tmp, file) = loop {
        let n = NEXT_FILE.fetch_add(1, Ordering::Relaxed);
        let stem = format!("{}-{pid}-{n}", p.run_id);
        let path = p.dir.join(format!("{stem}.ring"));
        if path.exists() {
            continue; // A leftover of an earlier process with the same pid.
        }
        let tmp = p.dir.join(format!(".{stem}.ring.tmp"));
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(f) => break (stem, tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create spool file {}: {e}", tmp.display())),
        }
    };
    let result = fill(p, &tmp, &file, &stem);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn fill(p: &Params<'_>, tmp: &Path, file: &File, stem: &str) -> Result<Created, String> {
    let ring_len = ring::storage_len(p.capacity);
    let total = SPOOL_HEADER_LEN + ring_len;
    let io_err =
        |what: &str, e: io::Error| format!("cannot {what} spool file {}: {e}", tmp.display());
    file.set_len(total as u64).map_err(|e| io_err("size", e))?;
    // SAFETY: the file is ours (just created, exclusively); the uploader only
    // maps it after the rename below, and then only through the ring protocol.
    let mut map = unsafe { MmapMut::map_mut(file) }.map_err(|e| io_err("map", e))?;
    if map.len() < total {
        return Err(format!("spool file {} mapped short", tmp.display()));
    }
    // Touch every page now, so that log calls never take the page fault
    // (a kernel entry, and zeroing a page) of a page's first write.
    let base = map.as_mut_ptr();
    for off in (0..total).step_by(page_size()) {
        // SAFETY: `off < total <= map.len()`; a volatile write so it is not elided.
        unsafe { base.add(off).write_volatile(0) };
    }
    let info = SpoolInfo {
        run_id: p.run_id,
        experiment: p.experiment,
        pid: std::process::id(),
        created_ms: runlog_core::host::now_ms(),
    };
    spool::write_header(&info, &mut map[..]).map_err(|e| format!("spool header: {e}"))?;
    spool::write_placement(&p.placement, &mut map[..]).map_err(|e| format!("spool header: {e}"))?;
    // SAFETY: `[SPOOL_HEADER_LEN, total)` lies inside the mapping, which
    // `SpoolMap` keeps alive as long as the producer (both live in the
    // logger's `Open`); page alignment + 512 is 4-aligned; this is the ring's
    // only producer.
    let mut producer =
        unsafe { Producer::format(map.as_mut_ptr().add(SPOOL_HEADER_LEN), ring_len) }
            .map_err(|e| format!("cannot format ring: {e}"))?;
    let start = Record::RunStart(RunStart {
        run_id: p.run_id,
        experiment: p.experiment,
        time_ms: Some(runlog_core::host::now_ms()),
    });
    producer
        .push(&start)
        .map_err(|e| format!("cannot write run start: {e}"))?;
    let path = p.dir.join(format!("{stem}.ring"));
    fs::rename(tmp, &path)
        .map_err(|e| format!("cannot rename {} to {}: {e}", tmp.display(), path.display()))?;
    Ok(Created {
        config: SpoolConfig {
            dir: p.dir.to_path_buf(),
            stem: stem.to_owned(),
            path,
            full_timeout_ms: p.full_timeout_ms,
            pid: std::process::id(),
            inline_limit: (p.capacity / 8) as usize,
        },
        map: SpoolMap { _map: map },
        producer,
    })
}
