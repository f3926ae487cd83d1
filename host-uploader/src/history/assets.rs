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
use rusqlite::{Transaction, TransactionBehavior};
use sha2::{Digest, Sha256};

use super::blobs;
use super::local::sql;
use super::source::*;
use crate::store::repo;
use crate::store::Store;

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

pub(crate) fn promote(
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
    let files: Vec<AssetFile> = repo::artifacts::at_or_under(conn, key, prefix)
        .map_err(sql)?
        .into_iter()
        .map(|a| AssetFile {
            path: a.path,
            size: a.size.max(0) as u64,
            sha256: Some(a.sha256),
        })
        .collect();
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
    // Held until the rows are committed: gc must not take a blob this
    // promote has stored but not yet named (blobs.rs).
    let _blobs = blobs::lock(store, false)?;
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
        let asset = repo::models::ensure(&tx, name, created_ms).map_err(sql)?;
        let version = repo::models::next_version(&tx, asset).map_err(sql)?;
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
        repo::models::insert_version(&tx, asset, version, key, prefix, created_ms).map_err(sql)?;
        for f in &files {
            let (size, sha) = (repo::sql_i64(f.size), f.sha256.as_deref().unwrap_or(""));
            repo::models::insert_file(&tx, asset, version, &f.path, size, sha).map_err(sql)?;
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

pub(crate) fn list(store: &Store) -> HistoryResult<Vec<Asset>> {
    let conn = store.conn();
    let mut out: Vec<Asset> = Vec::new();
    for l in repo::models::listing(conn).map_err(sql)? {
        let files = repo::models::files_of(conn, l.asset, l.version.version)
            .map_err(sql)?
            .into_iter()
            .map(|f| AssetFile {
                path: f.path,
                size: f.size.max(0) as u64,
                sha256: (!f.sha256.is_empty()).then_some(f.sha256),
            })
            .collect();
        let m = l.version;
        let v = AssetVersion {
            location: Some(
                version_dir(store, &m.name, m.version as u64)
                    .display()
                    .to_string(),
            ),
            name: m.name.clone(),
            version: m.version as u64,
            run_id: m.run_id,
            prefix: m.prefix,
            created_ms: m.created_ms,
            files,
        };
        match out.last_mut() {
            Some(a) if a.name == m.name => a.versions.push(v),
            _ => out.push(Asset {
                name: m.name,
                created_ms: l.asset_created_ms,
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
