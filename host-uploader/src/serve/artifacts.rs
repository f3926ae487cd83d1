//! Artifact files: path checks, uploads streamed into the store, downloads.
//!
//! Paths arrive from the network. A valid one is relative, `/`-separated,
//! and has no empty, `.` or `..` segment, no backslash and no NUL, so joining
//! it under `<store>/artifacts/<run_id>/` can never leave that directory.

use std::fs::{self, File};
use std::io::{Read, Write};

use sha2::{Digest, Sha256};

use super::beneath;
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

/// Streams `body` (at most `limit` bytes) into the run's artifact `path`,
/// replacing any earlier file, and records it. Returns the size.
pub fn upload(
    store: &Store,
    run: &RunRow,
    path: &str,
    body: &mut dyn Read,
    limit: u64,
) -> ApiResult<u64> {
    check_path(path)?;
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
                .map_err(|e| match super::http::body_error(&e) {
                    ApiError { status: 413, .. } => ApiError::too_large(limit),
                    other => other,
                })?;
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
    if let Err(e) = place(store, run, path, &tmp) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    db::record_artifact(store.conn(), run, path, size, &sha)?;
    Ok(size)
}

/// The refusal of a path that crosses a symbolic link.
fn link_refused(path: &str) -> ApiError {
    ApiError::invalid(format!(
        "artifact path {path:?} is not allowed: it crosses a symbolic link (or a file where a directory should be), which this server never follows"
    ))
}

/// Splits `<run_id>/<path>` under `<store>/artifacts` into its directories
/// and file name.
fn segments<'a>(run: &'a RunRow, path: &'a str) -> (Vec<&'a str>, &'a str) {
    let mut segs = vec!["artifacts", run.run_id.as_str()];
    let mut parts: Vec<&str> = path.split('/').collect();
    let name = parts.pop().unwrap_or("");
    segs.extend(parts);
    (segs, name)
}

/// Moves a finished upload into place, never through a symbolic link.
fn place(store: &Store, run: &RunRow, path: &str, tmp: &std::path::Path) -> ApiResult<()> {
    let (dirs, name) = segments(run, path);
    let root = beneath::open_root(store.dir())?;
    let dir = beneath::dir_at(root, &dirs, true).map_err(|e| {
        if beneath::is_link_error(&e) {
            link_refused(path)
        } else {
            ApiError::invalid(format!(
                "cannot create the directory of artifact {path:?} (does a file of that name exist?): {e}"
            ))
        }
    })?;
    beneath::rename_into(tmp, &dir, name).map_err(|e| {
        if beneath::is_link_error(&e) {
            link_refused(path)
        } else {
            ApiError::invalid(format!(
                "cannot store artifact {path:?} (is it a directory?): {e}"
            ))
        }
    })
}

/// Opens a run's artifact for download, never through a symbolic link.
pub fn open(store: &Store, run: &RunRow, path: &str) -> ApiResult<(File, u64)> {
    check_path(path)?;
    let known = db::artifacts(store.conn(), run)?
        .into_iter()
        .any(|a| a.path == path);
    let missing = || ApiError::not_found(format!("run {} has no artifact {path:?}", run.run_id));
    if !known {
        return Err(missing());
    }
    let (dirs, name) = segments(run, path);
    let root = beneath::open_root(store.dir())?;
    let f = beneath::dir_at(root, &dirs, false)
        .and_then(|d| beneath::open_file(&d, name))
        .map_err(|e| {
            if beneath::is_link_error(&e) {
                link_refused(path)
            } else {
                missing()
            }
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
