//! Artifact files: path checks, uploads streamed into the store, downloads.
//!
//! Paths arrive from the network. A valid one is relative, `/`-separated,
//! and has no empty, `.` or `..` segment, no backslash and no NUL, so joining
//! it under `<store>/artifacts/<run_id>/` can never leave that directory.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::db::{self, RunRow};
use super::error::{ApiError, ApiResult};
use crate::store::Store;

/// Checks a relative artifact path: the one rule, [`runlog_core::rules::check_artifact_path`].
pub fn check_path(p: &str) -> ApiResult<&str> {
    runlog_core::rules::check_artifact_path(p)
        .map(|()| p)
        .map_err(|e| ApiError::invalid(format!("artifact path {p:?} is not allowed: {e}")))
}

/// Where an mlflow-artifacts path points: `<experiment>/<run_id>/artifacts[/<path>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The run.
    pub run_id: String,
    /// The path under the run's artifacts ("" for the root).
    pub path: String,
}

/// Splits a proxied artifact path the way this server hands out artifact URIs.
pub fn parse_target(full: &str) -> ApiResult<Target> {
    let full = full.trim_start_matches('/');
    let mut parts = full.splitn(4, '/');
    let (exp, run, art) = (parts.next(), parts.next(), parts.next());
    let rest = parts.next().unwrap_or("");
    match (exp, run, art) {
        (Some(e), Some(r), Some("artifacts")) if e.parse::<i64>().is_ok() && !r.is_empty() => {
            let rest = rest.trim_end_matches('/');
            if !rest.is_empty() {
                check_path(rest)?;
            }
            Ok(Target {
                run_id: r.to_string(),
                path: rest.to_string(),
            })
        }
        _ => {
            // Report traversal attempts as such, whatever their shape.
            check_path(full)?;
            Err(ApiError::invalid(format!(
                "artifact path {full:?} is not under a run: expected <experiment_id>/<run_id>/artifacts/<path>"
            )))
        }
    }
}

/// The file of a run's artifact.
pub fn file_path(store: &Store, run_id: &str, path: &str) -> ApiResult<PathBuf> {
    check_path(path)?;
    let mut p = store.artifact_dir(run_id);
    for seg in path.split('/') {
        p.push(seg);
    }
    Ok(p)
}

/// Streams `body` (at most `limit` bytes) into the run's artifact `path`,
/// replacing any earlier file, and records it. Returns the size.
pub fn upload(
    store: &Store,
    run: &RunRow,
    path: &str,
    body: &mut dyn Read,
    limit: u64,
) -> ApiResult<u64> {
    let dest = file_path(store, &run.run_id, path)?;
    let tmp_dir = store.dir().join("tmp");
    fs::create_dir_all(&tmp_dir)?;
    let tmp = tmp_dir.join(format!("upload-{}.part", db::new_run_id()?));
    let result = (|| -> ApiResult<(u64, String)> {
        let mut f = File::create(&tmp)?;
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = body
                .read(&mut buf)
                .map_err(|e| ApiError::bad_request(format!("cannot read the upload: {e}")))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > limit {
                return Err(ApiError::too_large(limit));
            }
            hash.update(&buf[..n]);
            f.write_all(&buf[..n])?;
        }
        f.sync_all()?;
        let sha: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok((total, sha))
    })();
    let (size, sha) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if let Some(parent) = dest.parent() {
        if let Err(e) = fs::create_dir_all(parent) {
            let _ = fs::remove_file(&tmp);
            return Err(ApiError::invalid(format!(
                "cannot create the directory of artifact {path:?} (does a file of that name exist?): {e}"
            )));
        }
    }
    if let Err(e) = fs::rename(&tmp, &dest) {
        let _ = fs::remove_file(&tmp);
        return Err(ApiError::invalid(format!(
            "cannot store artifact {path:?} (is it a directory?): {e}"
        )));
    }
    db::record_artifact(store.conn(), run, path, size, &sha)?;
    Ok(size)
}

/// Opens a run's artifact for download.
pub fn open(store: &Store, run: &RunRow, path: &str) -> ApiResult<(File, u64)> {
    let p = file_path(store, &run.run_id, path)?;
    let known = db::artifacts(store.conn(), run)?
        .into_iter()
        .any(|a| a.path == path);
    let f = File::open(&p).ok().filter(|_| known).ok_or_else(|| {
        ApiError::not_found(format!("run {} has no artifact {path:?}", run.run_id))
    })?;
    let len = f.metadata()?.len();
    Ok((f, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paths_that_escape() {
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a\\..\\b",
            "a//b",
            "./a",
            "a/.",
            "",
            "a\0b",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "a/b.txt", "outputs/model..bin", ".hidden/x"] {
            assert!(check_path(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn targets_name_a_run() {
        let t = parse_target("0/abc/artifacts/dir/f.txt").unwrap();
        assert_eq!(t.run_id, "abc");
        assert_eq!(t.path, "dir/f.txt");
        assert_eq!(parse_target("3/abc/artifacts").unwrap().path, "");
        assert!(parse_target("0/abc/artifacts/../../x").is_err());
        assert!(parse_target("../../etc/passwd").is_err());
        assert!(parse_target("0/abc/other/x").is_err());
    }
}
