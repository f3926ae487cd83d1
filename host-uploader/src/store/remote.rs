//! What the store knows of its runs' copies on MLflow tracking servers
//! (`runlog sync`, `runlog run --tracking-uri http://...`): which server run
//! each local run became, and the reads delivery needs.
//!
//! The delivery position itself is not kept here: the server holds it (the
//! `runlog.sync` tag, see `mlflow::deliver`), so a lost or copied store never
//! makes a server hold a value twice. This table only saves a search and lets
//! users see both ids.

use anyhow::Result;
use rusqlite::{params, OptionalExtension};

use super::chunk::Point;
use super::{series, Store};

/// Migration 3: the local run id to server run id mapping.
pub(super) const V3_REMOTE_RUNS: &str = r#"
-- Which run of the MLflow server at tracking_uri a local run was delivered to.
CREATE TABLE remote_runs (
    run           INTEGER NOT NULL REFERENCES runs(id),
    tracking_uri  TEXT NOT NULL,
    remote_id     TEXT NOT NULL,
    PRIMARY KEY (run, tracking_uri)
);
"#;

impl Store {
    /// The server run id `run_id` was delivered to at `tracking_uri`, if known.
    pub fn remote_run_id(&self, run_id: &str, tracking_uri: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT m.remote_id FROM remote_runs m JOIN runs r ON r.id = m.run
                 WHERE r.run_id = ?1 AND m.tracking_uri = ?2",
            )?
            .query_row(params![run_id, tracking_uri], |r| r.get(0))
            .optional()?)
    }

    /// Records that `run_id` is run `remote_id` on the server at `tracking_uri`.
    pub fn set_remote_run_id(
        &self,
        run_id: &str,
        tracking_uri: &str,
        remote_id: &str,
    ) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO remote_runs (run, tracking_uri, remote_id)
                 SELECT id, ?2, ?3 FROM runs WHERE run_id = ?1
                 ON CONFLICT (run, tracking_uri) DO UPDATE SET remote_id = excluded.remote_id",
            )?
            .execute(params![run_id, tracking_uri, remote_id])?;
        Ok(())
    }

    /// Every (tracking URI, server run id) that `run_id` was delivered to.
    pub fn remote_runs(&self, run_id: &str) -> Result<Vec<(String, String)>> {
        let mut st = self.conn().prepare_cached(
            "SELECT m.tracking_uri, m.remote_id FROM remote_runs m JOIN runs r ON r.id = m.run
             WHERE r.run_id = ?1 ORDER BY m.tracking_uri",
        )?;
        let rows = st.query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every run id in the store, oldest first.
    pub fn run_ids(&self) -> Result<Vec<String>> {
        let mut st = self
            .conn()
            .prepare_cached("SELECT run_id FROM runs ORDER BY start_ms, id")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Points `offset..offset + limit` of metric `name` of run `run_id`, in
    /// logging order, and whether more follow (none if the series does not exist).
    pub fn series_points(
        &self,
        run_id: &str,
        name: &str,
        offset: u64,
        limit: usize,
    ) -> Result<(Vec<Point>, bool)> {
        let key = self.run_key(run_id).map_err(|e| anyhow::anyhow!("{e}"))?;
        match series::find(self.conn(), key, name)? {
            Some(id) => series::points(self.conn(), id, offset, limit),
            None => Ok((Vec::new(), false)),
        }
    }
}

/// The right to deliver one run of one store, held by one process at a time
/// (a `flock` on `<store>/delivery/<run>.lock`): two `runlog run`s of one
/// node's ranks, or a `runlog sync` beside them, share a store and must not
/// send the same points at once. Released on drop.
#[derive(Debug)]
pub struct DeliveryLock {
    file: std::fs::File,
    /// Whether another process held it since this process last did (then
    /// what this process remembers of the server is stale).
    pub others_delivered: bool,
}

impl Store {
    /// Takes the delivery lock of `run_id`, waiting at most `wait`; `None`
    /// if another process holds it all that time.
    pub fn delivery_lock(
        &self,
        run_id: &str,
        wait: std::time::Duration,
    ) -> Result<Option<DeliveryLock>> {
        use std::io::{Read, Seek, Write};
        use std::os::fd::AsRawFd;
        runlog_core::rules::check_run_id(run_id).map_err(|e| anyhow::anyhow!("{e}"))?;
        let dir = self.dir().join("delivery");
        super::create_private_dir(&dir)?;
        let path = dir.join(format!("{run_id}.lock"));
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        let until = std::time::Instant::now() + wait;
        loop {
            // SAFETY: flock on a valid open descriptor has no memory-safety preconditions.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                break;
            }
            if std::time::Instant::now() >= until {
                return Ok(None);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // The file names the last holder: a process id and a per-process nonce.
        let me = format!("{} {}", std::process::id(), process_nonce());
        let mut last = String::new();
        let _ = file.read_to_string(&mut last);
        let others_delivered = last.trim() != me;
        if others_delivered {
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(me.as_bytes())?;
        }
        Ok(Some(DeliveryLock {
            file,
            others_delivered,
        }))
    }
}

/// A random number fixed for this process (a reused pid is not the same holder).
fn process_nonce() -> u64 {
    static NONCE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *NONCE.get_or_init(|| {
        let mut b = [0u8; 8];
        let _ = getrandom::fill(&mut b);
        u64::from_le_bytes(b)
    })
}

impl Drop for DeliveryLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a valid open descriptor has no memory-safety preconditions.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}
