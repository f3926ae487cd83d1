//! The outputs folder of `runlog run`: which files the run made, and their upload.
//!
//! Only files created or modified while the program ran are the run's
//! outputs: files an earlier run left in the folder are not uploaded again.
//! Before the program starts, [`Snapshot::take`] records each file's size,
//! modification and change times and inode (as git's index does); after it
//! ends, a file whose record is unchanged is skipped. The change time (which
//! no program can set) catches a rewrite that restored the old modification
//! time (`cp -p`, `touch -d`). Timestamps are only as fine as the file
//! system keeps them, so, like git's "racily clean" check, a file modified
//! within [`RACY_WINDOW`] before the snapshot is also hashed (SHA-256), and
//! counts as unchanged only if its content is the same too.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::sink::{ArtifactContent, ArtifactItem, Batch, Item, RunRef, Sink};
use crate::store::files_under;

/// Prefix of the artifact paths of files uploaded from the outputs folder.
pub const OUTPUTS_PREFIX: &str = "outputs";

/// Files modified this close to the snapshot are hashed as well: a later
/// change within the same timestamp tick (2 s on FAT, 1 s on some network
/// file systems) would not show in their metadata.
pub const RACY_WINDOW: Duration = Duration::from_secs(3);

/// What identifies one version of a file, cheaply.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
    dev: u64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        // Follows links, as the upload does.
        let m = std::fs::metadata(path).ok()?;
        Some(Stamp {
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
            ino: m.ino(),
            dev: m.dev(),
        })
    }
}

/// The files of the outputs folder before the program ran.
#[derive(Debug, Default)]
pub struct Snapshot {
    files: HashMap<String, (Stamp, Option<[u8; 32]>)>,
}

fn sha256_of(path: &Path) -> Option<[u8; 32]> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).ok()?;
    Some(h.finalize().into())
}

impl Snapshot {
    /// Records the files under `dir` (none if it does not exist or cannot be read).
    pub fn take(dir: &Path) -> Snapshot {
        let mut snap = Snapshot::default();
        if !dir.is_dir() {
            return snap;
        }
        let Ok(files) = files_under(dir) else {
            return snap;
        };
        let now = SystemTime::now();
        let racy_after = now
            .checked_sub(RACY_WINDOW)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        for (rel, path) in files {
            let Some(stamp) = Stamp::of(&path) else {
                continue;
            };
            let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            let racy = modified.is_none_or(|t| t >= racy_after);
            let hash = if racy { sha256_of(&path) } else { None };
            snap.files.insert(rel, (stamp, hash));
        }
        snap
    }

    /// Whether `path` (at `rel` under the folder) is as it was at the snapshot.
    pub fn unchanged(&self, rel: &str, path: &Path) -> bool {
        let Some((before, hash)) = self.files.get(rel) else {
            return false;
        };
        if Stamp::of(path).as_ref() != Some(before) {
            return false;
        }
        match hash {
            Some(h) => sha256_of(path).as_ref() == Some(h),
            None => true,
        }
    }

    /// How many files the snapshot holds.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the snapshot holds no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Uploads every file under `dir` that is not unchanged since `before` as
/// `outputs/<relative path>`, one at a time, streamed; shows a progress bar
/// when standard error is a terminal.
pub fn upload_outputs(
    sink: &mut dyn Sink,
    run: &RunRef,
    dir: &Path,
    before: &Snapshot,
) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    let all = files_under(dir)?;
    let total_files = all.len();
    let files: Vec<(String, PathBuf)> = all
        .into_iter()
        .filter(|(rel, path)| !before.unchanged(rel, path))
        .collect();
    let skipped = total_files - files.len();
    if skipped != 0 {
        eprintln!(
            "runlog: {skipped} file(s) under {} were there before the run and are unchanged; \
             not uploaded again",
            dir.display()
        );
    }
    let sizes: Vec<u64> = files
        .iter()
        .map(|(_, p)| p.metadata().map(|m| m.len()).unwrap_or(0))
        .collect();
    let total: u64 = sizes.iter().sum();
    let bar = if std::io::stderr().is_terminal() && !files.is_empty() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "uploading outputs {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut done = 0u64;
    let mut failed = 0usize;
    for ((rel, path), size) in files.iter().zip(&sizes) {
        bar.set_message(rel.clone());
        let mut batch = Batch::new(run.clone());
        batch.items.push(Item::Artifact(ArtifactItem {
            path: format!("{OUTPUTS_PREFIX}/{rel}"),
            content: ArtifactContent::File {
                path: path.clone(),
                len: *size,
            },
        }));
        let base = done;
        if let Err(e) = sink.commit_with_progress(&batch, &mut |n| bar.set_position(base + n)) {
            bar.suspend(|| eprintln!("runlog: cannot upload {}: {e:#}", path.display()));
            failed += 1;
        }
        done += size;
        bar.set_position(done);
    }
    bar.finish_and_clear();
    if failed != 0 {
        eprintln!(
            "runlog: {failed} file(s) under {} were not uploaded",
            dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_modified_and_replaced_files_count_as_changed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("old.txt"), b"old").unwrap();
        std::fs::write(d.join("edit.txt"), b"aaaa").unwrap();
        let snap = Snapshot::take(d);
        assert_eq!(snap.len(), 2);
        // Within the racy window: same size, maybe the same timestamp tick.
        std::fs::write(d.join("edit.txt"), b"bbbb").unwrap();
        std::fs::write(d.join("new.txt"), b"new").unwrap();
        assert!(snap.unchanged("old.txt", &d.join("old.txt")));
        assert!(!snap.unchanged("edit.txt", &d.join("edit.txt")));
        assert!(!snap.unchanged("new.txt", &d.join("new.txt")));
    }
}
