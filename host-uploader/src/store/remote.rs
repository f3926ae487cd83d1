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
