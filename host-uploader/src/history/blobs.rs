//! Content-addressed blobs of promoted assets: each distinct content is kept
//! once, at `<store>/assets/.blobs/<sha256[0..2]>/<sha256>`, read-only, and
//! every asset version's file is a hard link to its blob.
//!
//! A blob is named by the SHA-256 of its content, computed while copying it
//! from the run's artifact file and checked against what the store recorded
//! when the artifact arrived. A content whose blob already exists is not
//! copied again (the run's file is still read, to check it against the
//! recorded digest, as the first promote did). Where the file system refuses a hard link (too many
//! links, no link support), the version gets a plain copy of the blob: it
//! costs space, never correctness. Blobs are written to a temporary name and
//! renamed into place, so a blob that exists is whole.
//!
//! Promotes and `runlog history gc` (`gc.rs`) agree through a lock file,
//! [`lock`]: a promote holds it shared from its first blob until its rows
//! are committed, gc holds it exclusively, so gc never sees a blob that a
//! promote is about to name.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::assets::copy_checked;
use super::source::{AssetFile, HistoryError, HistoryResult};
use crate::store::Store;

/// Folder of the blobs, under the store's `assets/` (a name no asset can have: it starts with `.`).
pub const BLOB_DIR: &str = ".blobs";

/// Where the blob of content `sha256` (lowercase hex) is.
pub fn blob_path(store: &Store, sha256: &str) -> PathBuf {
    let shard = sha256.get(..2).unwrap_or("00");
    store
        .dir()
        .join("assets")
        .join(BLOB_DIR)
        .join(shard)
        .join(sha256)
}

/// The lock file promotes and gc agree through (in the store's folder, beside
/// `assets/`, so that it is never taken for an asset's file).
const LOCK_FILE: &str = "assets.lock";

/// A held [`lock`]; released when dropped (closing the file releases it).
pub struct BlobLock(#[allow(dead_code)] fs::File);

/// Takes the blobs' lock of `store`: shared (promotes, any number at once)
/// or exclusive (gc); waits for the other kind to be released.
pub fn lock(store: &Store, exclusive: bool) -> HistoryResult<BlobLock> {
    let path = store.dir().join(LOCK_FILE);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let how = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    loop {
        // SAFETY: `file` is an open descriptor for as long as this call runs;
        // flock takes no pointers.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), how) } == 0 {
            return Ok(BlobLock(file));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(anyhow::anyhow!("cannot lock {}: {err}", path.display()).into());
        }
    }
}

/// Whether `s` is a SHA-256 in lowercase hex (recorded digests are; anything
/// else never names a blob).
pub(super) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The blob holding artifact `want` of run `run_id`: the existing one for its
/// recorded digest, else a new one copied (and checked) from the run's file.
pub fn store_artifact(store: &Store, run_id: &str, want: &AssetFile) -> HistoryResult<PathBuf> {
    let recorded = want
        .sha256
        .as_deref()
        .map(str::to_ascii_lowercase)
        .filter(|s| is_sha256_hex(s));
    let src = store.artifact_file(run_id, &want.path)?;
    if let Some(sha) = &recorded {
        let blob = blob_path(store, sha);
        if fs::metadata(&blob).is_ok_and(|m| m.is_file() && m.len() == want.size) {
            // Stored already: only check that the run's file is still what
            // was recorded (read, not copied), as a first promote would.
            copy_checked(&src, None, want)?;
            return Ok(blob);
        }
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp = store
        .dir()
        .join("assets")
        .join(BLOB_DIR)
        .join(format!(".tmp-{}-{nanos}", std::process::id()));
    let result = (|| -> HistoryResult<PathBuf> {
        let digest = copy_checked(&src, Some(&tmp), want)?;
        let blob = blob_path(store, &digest);
        if fs::metadata(&blob).is_ok_and(|m| m.is_file() && m.len() == want.size) {
            fs::remove_file(&tmp).with_context(|| format!("cannot remove {}", tmp.display()))?;
            return Ok(blob);
        }
        // Read-only: a blob is shared by every version holding its content.
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o444))
            .with_context(|| format!("cannot make {} read-only", tmp.display()))?;
        if let Some(parent) = blob.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        fs::rename(&tmp, &blob)
            .with_context(|| format!("cannot move {} to {}", tmp.display(), blob.display()))?;
        Ok(blob)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Puts `blob`'s content at `dst` (creating folders): a hard link, or a copy
/// where the file system refuses one.
pub fn place(blob: &Path, dst: &Path) -> HistoryResult<()> {
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    if fs::hard_link(blob, dst).is_ok() {
        return Ok(());
    }
    fs::copy(blob, dst).map_err(|e| {
        HistoryError::Other(anyhow::anyhow!(
            "cannot link or copy {} to {}: {e}",
            blob.display(),
            dst.display()
        ))
    })?;
    Ok(())
}
