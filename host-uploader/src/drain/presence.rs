//! An uploader's presence in a spool directory: a shared `flock` on its
//! [`UPLOADER_LOCK`] file, which a writer closing its ring before any
//! uploader attached it probes (see `docs/ffi.md`, "Acknowledgement and
//! heartbeat").
//!
//! The lock must be held *before* a program that writes into the directory
//! starts (`runlog run` takes it before spawning the program): a program
//! that closes its logger at once otherwise probes before the uploader's
//! first scan and gives up with TIMEOUT.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use runlog_core::spool::UPLOADER_LOCK;

/// Attempts to take the lock while another process holds it exclusively for
/// a moment (a writer probing it, or an uploader leaving and removing it).
const ATTEMPTS: u32 = 100;
/// Pause between attempts: the exclusive holders above keep it for
/// microseconds, so 100 attempts bound the wait at about 100 ms.
const PAUSE: Duration = Duration::from_millis(1);

/// The held shared lock; released (and the file removed, when no other
/// uploader holds it) when dropped.
#[derive(Debug)]
pub struct Presence {
    file: File,
    path: PathBuf,
}

impl Presence {
    /// Takes a shared lock on `dir`'s [`UPLOADER_LOCK`] file, creating the
    /// directory (0700) and the file (0600) if missing. `None` if it cannot be
    /// had within about 100 ms (an unwritable directory, or another process
    /// holding the file exclusively): the caller tries again later.
    pub fn hold(dir: &Path) -> Option<Self> {
        crate::store::create_private_dir(dir).ok()?;
        let path = dir.join(UPLOADER_LOCK);
        for _ in 0..ATTEMPTS {
            if let Some(file) = try_hold(&path) {
                return Some(Self { file, path });
            }
            std::thread::sleep(PAUSE);
        }
        None
    }
}

/// One attempt: a shared lock on the file that `path` names now. A lock on a
/// file that a leaving uploader unlinked meanwhile is worthless (writers open
/// the path), so the file locked must still be the one at `path`.
fn try_hold(path: &Path) -> Option<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .ok()?;
    // SAFETY: flock on a valid open descriptor has no memory-safety preconditions.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } != 0 {
        return None;
    }
    let held = file.metadata().ok()?;
    let named = fs::metadata(path).ok()?;
    (held.dev() == named.dev() && held.ino() == named.ino()).then_some(file)
}

impl Drop for Presence {
    /// Removes the lock file when no other uploader holds it, so that a
    /// drained spool is left empty. The exclusive lock is held while removing,
    /// so an uploader arriving now either keeps the file (its shared lock came
    /// first) or sees it unlinked and makes a new one.
    fn drop(&mut self) {
        // SAFETY: flock on a valid open descriptor has no memory-safety preconditions.
        let alone =
            unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if alone {
            let _ = fs::remove_file(&self.path);
        }
    }
}
