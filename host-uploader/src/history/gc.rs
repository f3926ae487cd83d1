//! `runlog history gc`: removes promoted-asset blobs that no version names,
//! and what dead promotes left behind.
//!
//! No runlog command drops a reference to a blob today (neither the CLI nor
//! `runlog serve` deletes runs or asset versions), so an unreferenced blob
//! comes only from a promote that failed after storing some of its files
//! (a later file changed on disk, a full disk) or died before committing.
//! Such a promote also leaves a `.tmp-*` file among the blobs, a
//! `.staging-*` folder, or a version folder without rows.
//!
//! Crash-safe order, for this and for any future delete command: rows go
//! first (committed), files after. The collector reads which digests rows
//! name while holding the blobs' lock exclusively (`blobs::lock`; promotes
//! hold it shared until their rows are committed), and never removes a
//! file whose digest a row names. A collector killed midway has removed
//! only unreferenced files; running it again finishes the job.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use anyhow::Context;

use super::blobs::{self, BLOB_DIR};
use super::local::sql;
use super::source::HistoryResult;
use crate::store::repo;
use crate::store::Store;

/// What a collection removed and kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Blobs no version names, removed.
    pub removed_blobs: u64,
    /// Their bytes.
    pub removed_bytes: u64,
    /// Leftovers of dead promotes removed: temporary blobs, staging
    /// folders, version folders without rows.
    pub removed_leftovers: u64,
    /// Blobs kept (a version names them).
    pub kept_blobs: u64,
}

/// Collects the store's unreferenced blobs and promote leftovers.
pub fn collect(store: &Store) -> HistoryResult<GcReport> {
    let _lock = blobs::lock(store, true)?;
    let named = repo::models::file_digests(store.conn()).map_err(sql)?;
    let versions = repo::models::version_keys(store.conn()).map_err(sql)?;
    let assets = store.dir().join("assets");
    let mut report = GcReport::default();
    collect_blobs(&assets.join(BLOB_DIR), &named, &mut report)?;
    for entry in read_dir(&assets)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !is_dir(&entry.path()) {
            continue;
        }
        for v in read_dir(&entry.path())? {
            let folder = v.file_name().to_string_lossy().into_owned();
            let rowless = |n: i64| !versions.contains(&(name.clone(), n));
            let dead_promote =
                folder.starts_with(".staging-") || folder.parse::<i64>().is_ok_and(rowless);
            if dead_promote && is_dir(&v.path()) {
                remove(&v.path(), true)?;
                report.removed_leftovers += 1;
            }
        }
    }
    Ok(report)
}

fn collect_blobs(dir: &Path, named: &HashSet<String>, report: &mut GcReport) -> HistoryResult<()> {
    for entry in read_dir(dir)? {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_dir(&path) {
            for blob in read_dir(&path)? {
                let blob_name = blob.file_name().to_string_lossy().into_owned();
                if blobs::is_sha256_hex(&blob_name) && named.contains(&blob_name) {
                    report.kept_blobs += 1;
                    continue;
                }
                let size = fs::symlink_metadata(blob.path()).map_or(0, |m| m.len());
                remove(&blob.path(), is_dir(&blob.path()))?;
                report.removed_blobs += 1;
                report.removed_bytes += size;
            }
            // An emptied shard folder goes too (a promote recreates it).
            let _ = fs::remove_dir(&path);
        } else if name.starts_with(".tmp-") {
            remove(&path, false)?;
            report.removed_leftovers += 1;
        }
    }
    Ok(())
}

/// The entries of `dir`; none when it does not exist.
fn read_dir(dir: &Path) -> HistoryResult<Vec<fs::DirEntry>> {
    match fs::read_dir(dir) {
        Ok(it) => Ok(it
            .collect::<std::io::Result<Vec<_>>>()
            .with_context(|| format!("cannot read {}", dir.display()))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", dir.display()).into()),
    }
}

/// A real folder (a link to one is not followed).
fn is_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

fn remove(path: &Path, dir: bool) -> HistoryResult<()> {
    let r = if dir {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    r.with_context(|| format!("cannot remove {}", path.display()))?;
    Ok(())
}
