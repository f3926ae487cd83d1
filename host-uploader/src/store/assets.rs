//! Named assets: `runlog history promote` and `runlog history assets`.
//!
//! A version is the run's artifacts under a prefix, kept at
//! `<store>/assets/<name>/<version>/<artifact path>`. Each file there is a
//! hard link to a content-addressed, read-only blob (`blobs.rs`), so a file
//! is stored once however many versions hold it: promoting the same 500 MB
//! model twice costs 500 MB, not 1 GB. A blob is a copy of the run's file
//! (not a link to it) so that nothing done to the run later (a re-upload of
//! the same path, a deleted run folder) changes a promoted version; each copy
//! is checked against the size and SHA-256 the store recorded for the
//! artifact. Versions promoted before blobs existed hold plain copies at the
//! same paths and read the same way.
//!
//! The files are first copied into a staging folder of their own, outside
//! any transaction (a large copy must not hold the store's write lock, which
//! the drain's commits wait for). Then, inside one IMMEDIATE transaction, the
//! version is numbered (1, 2, ...; concurrent promotes of one name get
//! distinct numbers), the staging folder renamed into place, and the rows
//! inserted. A crash leaves at most a staging folder, or a version folder
//! without rows, which the next promote of that version number replaces.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use rusqlite::{params, Transaction, TransactionBehavior};
use sha2::{Digest, Sha256};

use super::blobs;
use super::read::sql;
use super::Store;
use crate::history::source::*;

/// Longest accepted asset name, in bytes.
const MAX_NAME_LEN: usize = 200;

/// Accepts names made of ASCII letters, digits, `.`, `_`, `-` (they become folder names).
pub fn check_asset_name(name: &str) -> HistoryResult<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(HistoryError::Invalid(format!(
            "{name:?} is not a valid asset name: use 1 to {MAX_NAME_LEN} ASCII letters, digits, \
             '.', '_' or '-', not starting with '.'"
        )))
    }
}

/// Where version `version` of asset `name` keeps its files.
pub fn version_dir(store: &Store, name: &str, version: u64) -> PathBuf {
    store
        .dir()
        .join("assets")
        .join(name)
        .join(version.to_string())
}

fn now_ms() -> i64 {
    i64::try_from(runlog_core::host::now_ms()).unwrap_or(i64::MAX)
}

/// `prefix` without `./` in front or `/` behind; `None` if nothing is left.
fn normalize_prefix(prefix: &str) -> Option<&str> {
    let p = prefix.trim();
    let p = p.strip_prefix("./").unwrap_or(p);
    let p = p.trim_end_matches('/');
    (!p.is_empty()).then_some(p)
}

pub(super) fn promote(
    store: &Store,
    run_id: &str,
    prefix: &str,
    name: &str,
) -> HistoryResult<AssetVersion> {
    check_asset_name(name)?;
    let Some(prefix) = normalize_prefix(prefix) else {
        return Err(HistoryError::Invalid(
            "the artifact prefix is empty: name a file or folder of the run's artifacts".into(),
        ));
    };
    let key = store.run_key(run_id)?;
    let conn = store.conn();
    let files: Vec<AssetFile> = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT path, size, sha256 FROM artifacts WHERE run = ?1
                 AND (path = ?2 OR substr(path, 1, length(?2) + 1) = ?2 || '/')
                 ORDER BY path",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map(params![key, prefix], |r| {
                Ok(AssetFile {
                    path: r.get(0)?,
                    size: r.get::<_, i64>(1)?.max(0) as u64,
                    sha256: r.get(2)?,
                })
            })
            .map_err(sql)?;
        rows.collect::<Result<_, _>>().map_err(sql)?
    };
    if files.is_empty() {
        let all = store.artifacts(run_id)?;
        let listing = if all.is_empty() {
            "it has no artifacts".to_string()
        } else {
            let mut names: Vec<&str> = all.iter().take(10).map(|a| a.path.as_str()).collect();
            if all.len() > 10 {
                names.push("...");
            }
            format!("its artifacts: {}", names.join(", "))
        };
        return Err(HistoryError::Invalid(format!(
            "run {run_id} has no artifacts under {prefix:?}; {listing}"
        )));
    }

    // Copy first, outside any transaction: a large asset must not hold the
    // store's write lock (the drain's commits wait on it) while it copies.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let staging = store
        .dir()
        .join("assets")
        .join(name)
        .join(format!(".staging-{}-{nanos}", std::process::id()));
    let copied = (|| -> HistoryResult<()> {
        for f in &files {
            let blob = blobs::store_artifact(store, run_id, f)?;
            blobs::place(&blob, &staging.join(&f.path))?;
        }
        Ok(())
    })();
    if let Err(err) = copied {
        let _ = fs::remove_dir_all(&staging);
        return Err(err);
    }

    // Then number the version and move the copies into place under the lock.
    let tx = match Transaction::new_unchecked(conn, TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(sql(e));
        }
    };
    let created_ms = now_ms();
    let mut dir = None;
    let result = (|| -> HistoryResult<i64> {
        tx.execute(
            "INSERT OR IGNORE INTO assets (name, created_ms) VALUES (?1, ?2)",
            params![name, created_ms],
        )
        .map_err(sql)?;
        let asset: i64 = tx
            .query_row("SELECT id FROM assets WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .map_err(sql)?;
        let version: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM asset_versions WHERE asset = ?1",
                [asset],
                |r| r.get(0),
            )
            .map_err(sql)?;
        let target = version_dir(store, name, version as u64);
        // A folder without rows is left from a promote that died; replace it.
        if target.exists() {
            fs::remove_dir_all(&target)
                .with_context(|| format!("cannot clear {}", target.display()))?;
        }
        fs::rename(&staging, &target).with_context(|| {
            format!("cannot move {} to {}", staging.display(), target.display())
        })?;
        dir = Some(target);
        tx.execute(
            "INSERT INTO asset_versions (asset, version, run, prefix, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![asset, version, key, prefix, created_ms],
        )
        .map_err(sql)?;
        let mut ins = tx
            .prepare_cached(
                "INSERT INTO asset_files (asset, version, path, size, sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(sql)?;
        for f in &files {
            ins.execute(params![
                asset,
                version,
                f.path,
                f.size as i64,
                f.sha256.as_deref().unwrap_or("")
            ])
            .map_err(sql)?;
        }
        Ok(version)
    })();
    let version = match result {
        Ok(v) => v,
        Err(err) => {
            // Still under the lock, so the folder is certainly ours.
            if let Some(d) = &dir {
                let _ = fs::remove_dir_all(d);
            }
            let _ = fs::remove_dir_all(&staging);
            return Err(err);
        }
    };
    // If the commit itself fails the folder stays, without rows: the next
    // promote of this version number replaces it (see above).
    tx.commit().map_err(sql)?;
    let version_u = version as u64;
    let dir = version_dir(store, name, version_u);
    Ok(AssetVersion {
        name: name.to_string(),
        version: version_u,
        run_id: run_id.to_string(),
        prefix: prefix.to_string(),
        created_ms,
        location: Some(dir.display().to_string()),
        files,
    })
}

/// Copies `src` to `dst` (creating folders), or only reads it when `dst` is
/// `None`, checking the recorded size and SHA-256; returns the content's
/// SHA-256 (lowercase hex).
pub(super) fn copy_checked(
    src: &Path,
    dst: Option<&Path>,
    want: &AssetFile,
) -> HistoryResult<String> {
    if let Some(parent) = dst.and_then(Path::parent) {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut input = File::open(src).with_context(|| {
        format!(
            "artifact {:?} is recorded but its file {} cannot be read",
            want.path,
            src.display()
        )
    })?;
    let mut output = match dst {
        Some(dst) => Some((
            File::create(dst).with_context(|| format!("cannot create {}", dst.display()))?,
            dst,
        )),
        None => None,
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(anyhow!(e)
                    .context(format!("cannot read {}", src.display()))
                    .into())
            }
        };
        hasher.update(&buf[..n]);
        if let Some((out, dst)) = output.as_mut() {
            out.write_all(&buf[..n])
                .with_context(|| format!("cannot write {}", dst.display()))?;
        }
        size += n as u64;
    }
    if let Some((out, dst)) = &output {
        out.sync_all()
            .with_context(|| format!("cannot write {}", dst.display()))?;
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let sha_ok = !matches!(
        want.sha256.as_deref(),
        Some(s) if !s.is_empty() && !s.eq_ignore_ascii_case(&digest)
    );
    if size != want.size || !sha_ok {
        return Err(HistoryError::Other(anyhow!(
            "artifact {:?} changed on disk since it was stored ({} bytes, sha256 {digest}; \
             recorded {} bytes, sha256 {}); not promoting it",
            want.path,
            size,
            want.size,
            want.sha256.as_deref().unwrap_or("?")
        )));
    }
    Ok(digest)
}

pub(super) fn list(store: &Store) -> HistoryResult<Vec<Asset>> {
    let conn = store.conn();
    let mut stmt = conn
        .prepare_cached(
            "SELECT a.id, a.name, a.created_ms, v.version, r.run_id, v.prefix, v.created_ms
             FROM assets a
             JOIN asset_versions v ON v.asset = a.id
             JOIN runs r ON r.id = v.run
             ORDER BY a.name, v.version",
        )
        .map_err(sql)?;
    let mut files_stmt = conn
        .prepare_cached(
            "SELECT path, size, sha256 FROM asset_files
             WHERE asset = ?1 AND version = ?2 ORDER BY path",
        )
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut out: Vec<Asset> = Vec::new();
    while let Some(r) = rows.next().map_err(sql)? {
        let id: i64 = r.get(0).map_err(sql)?;
        let name: String = r.get(1).map_err(sql)?;
        let version: i64 = r.get(3).map_err(sql)?;
        let files = files_stmt
            .query_map(params![id, version], |f| {
                let sha: String = f.get(2)?;
                Ok(AssetFile {
                    path: f.get(0)?,
                    size: f.get::<_, i64>(1)?.max(0) as u64,
                    sha256: (!sha.is_empty()).then_some(sha),
                })
            })
            .map_err(sql)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql)?;
        let v = AssetVersion {
            location: Some(
                version_dir(store, &name, version as u64)
                    .display()
                    .to_string(),
            ),
            name: name.clone(),
            version: version as u64,
            run_id: r.get(4).map_err(sql)?,
            prefix: r.get(5).map_err(sql)?,
            created_ms: r.get(6).map_err(sql)?,
            files,
        };
        match out.last_mut() {
            Some(a) if a.name == name => a.versions.push(v),
            _ => out.push(Asset {
                name,
                created_ms: r.get(2).map_err(sql)?,
                versions: vec![v],
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_are_safe_folder_names() {
        for ok in ["model", "resnet-50_v2.onnx", "A1"] {
            assert!(check_asset_name(ok).is_ok(), "{ok}");
        }
        let long = "x".repeat(MAX_NAME_LEN + 1);
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", "é", long.as_str()] {
            assert!(check_asset_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn prefixes_are_normalised() {
        assert_eq!(normalize_prefix("./model/"), Some("model"));
        assert_eq!(normalize_prefix("model"), Some("model"));
        assert_eq!(normalize_prefix("/"), None);
        assert_eq!(normalize_prefix(""), None);
    }
}
