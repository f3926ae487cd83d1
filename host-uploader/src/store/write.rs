//! Writing to the store: experiments, runs, and batches of drained records.
//!
//! A batch is one SQLite transaction (`BEGIN IMMEDIATE`), holding its metric
//! values, artifacts' metadata, run start and end, loss counters and the
//! stream's watermark, so that after a crash the store has either all of a
//! batch or none of it. Artifact files are written (to a temporary file, then
//! renamed into place) before the transaction: a row never names a missing
//! file, and a file without a row is overwritten when the batch is retried.
//!
//! The insert path is what the drain's throughput rests on: points go
//! through `series::Appender`, which looks each series up once per batch and
//! writes its chunks and summary once per batch.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use runlog_core::RunStatus;
use rusqlite::{Transaction, TransactionBehavior};
use sha2::{Digest, Sha256};

use super::repo::{self, params::ParamWrite, sql_i64};
use super::series::Appender;
use super::Store;
use crate::sink::{param_conflict_tag, ArtifactContent, Batch, Item, Progress, RunRef, Sink};

/// Buffer for streaming artifact content: memory stays bounded whatever the file size.
const COPY_BUF: usize = 1 << 20;

pub use runlog_core::host::now_ms;

/// The store's name for a run status.
pub fn status_str(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Finished => "FINISHED",
        RunStatus::Failed => "FAILED",
        RunStatus::Killed => "KILLED",
    }
}

/// Whether `run_id` is acceptable as a run id (they become directory names in
/// the store): the one rule, [`runlog_core::rules::check_run_id`].
pub fn valid_run_id(run_id: &str) -> bool {
    runlog_core::rules::check_run_id(run_id).is_ok()
}

/// What was stored for one artifact file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// Bytes written.
    pub size: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

/// Stores param `key` of `run` with MLflow's rule: the first value stays.
/// The same value again changes nothing; a different one (two processes of
/// one run disagreeing: each process's own logger already refuses a change)
/// is not stored but kept visible in the tag [`param_conflict_tag`] and a
/// warning.
fn write_param(tx: &Transaction<'_>, run: i64, key: &str, value: &str) -> Result<()> {
    if let ParamWrite::Refused(v) = repo::params::put_param(tx, run, key, value)? {
        eprintln!(
            "runlog: warning: param {key:?} already has the value {v:?}; kept it and \
             refused {value:?} (tag {})",
            param_conflict_tag(key)
        );
        repo::params::set_tag(tx, run, &param_conflict_tag(key), value)?;
    }
    Ok(())
}

impl Store {
    /// The id of experiment `name`, creating it if needed.
    pub fn experiment_id(&self, name: &str) -> Result<i64> {
        experiment_id(self.conn(), name)
    }

    /// Creates run `run_id` in `experiment` (or returns the existing one's row id).
    pub fn create_run(
        &mut self,
        run_id: &str,
        experiment: &str,
        start_ms: u64,
        command: Option<&str>,
    ) -> Result<i64> {
        let tx = self.begin()?;
        let run = RunRef {
            run_id: run_id.to_string(),
            experiment: experiment.to_string(),
        };
        let (id, _) = ensure_run(&tx, &run, Some(start_ms), command)?;
        tx.commit().map_err(|e| self.explain(e.into()))?;
        Ok(id)
    }

    /// Records how run `run_id` ended.
    pub fn set_run_end(
        &mut self,
        run_id: &str,
        status: RunStatus,
        end_ms: u64,
        exit_code: Option<i32>,
    ) -> Result<()> {
        let conn = self.conn();
        let Some(run) = repo::runs::key_of(conn, run_id)? else {
            bail!("no run {run_id:?} in the store {}", self.dir().display());
        };
        repo::runs::end(conn, run, status_str(status), sql_i64(end_ms), exit_code)
            .map_err(|e| self.explain(e.into()))
    }

    /// The status of run `run_id`, if the store has it.
    pub fn run_status(&self, run_id: &str) -> Result<Option<String>> {
        Ok(repo::runs::status_of(self.conn(), run_id)?)
    }

    /// The committed position of `stream`, if the store has seen it.
    pub fn watermark(&self, stream: &str) -> Result<Option<u64>> {
        Ok(repo::streams::watermark(self.conn(), stream)?)
    }

    /// Stores `batch` in one transaction (see the module docs).
    pub fn commit_batch(&mut self, batch: &Batch, progress: Progress<'_>) -> Result<()> {
        if !valid_run_id(&batch.run.run_id) {
            bail!(
                "invalid run id {:?}: run ids are 1 to 64 characters of A-Z a-z 0-9 _ . - not starting with '.'",
                batch.run.run_id
            );
        }
        // Files first, outside the transaction (see the module docs).
        let mut files: Vec<Option<StoredFile>> = Vec::new();
        for item in &batch.items {
            if let Item::Artifact(a) = item {
                files.push(self.place_artifact(
                    &batch.run.run_id,
                    &a.path,
                    &a.content,
                    progress,
                )?);
            }
        }
        let result = self.write_rows(batch, &files);
        result.map_err(|e| self.explain(e))
    }

    fn begin(&mut self) -> Result<Transaction<'_>> {
        let dir = self.dir().to_path_buf();
        self.conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| explain_at(&dir, e.into()))
    }

    fn write_rows(&mut self, batch: &Batch, files: &[Option<StoredFile>]) -> Result<()> {
        let tx = self.begin()?;
        let now = now_ms();
        let start = batch.items.iter().find_map(|i| match i {
            Item::RunStart { time_ms, .. } => Some(time_ms.unwrap_or(now)),
            _ => None,
        });
        let command = batch.items.iter().find_map(|i| match i {
            Item::RunStart { command, .. } => command.as_deref(),
            _ => None,
        });
        let (run, _) = ensure_run(&tx, &batch.run, start.or(Some(now)), command)?;
        let mut points = Appender::new(&tx, run)?;
        let mut files = files.iter();
        for item in &batch.items {
            match item {
                Item::Metric(m) => points.push(
                    &tx,
                    &m.name,
                    m.value.clone(),
                    m.step.map(sql_i64),
                    sql_i64(m.time_ms.unwrap_or(now)),
                )?,
                Item::Artifact(a) => {
                    if let Some(Some(f)) = files.next() {
                        let (size, now) = (sql_i64(f.size), sql_i64(now));
                        repo::artifacts::record(&tx, run, &a.path, size, &f.sha256, now)?;
                    }
                }
                Item::RunEnd {
                    status,
                    time_ms,
                    exit_code,
                } => {
                    let end = sql_i64(time_ms.unwrap_or(now));
                    repo::runs::end(&tx, run, status_str(*status), end, *exit_code)?;
                }
                Item::Dropped(n) => repo::runs::add_dropped(&tx, run, sql_i64(*n))?,
                Item::Lost { frames, records } => {
                    repo::runs::add_lost(&tx, run, sql_i64(*frames), sql_i64(*records))?
                }
                Item::Param { key, value } => write_param(&tx, run, key, value)?,
                Item::Tag { key, value } => repo::params::set_tag(&tx, run, key, value)?,
                Item::RunStart { .. } => {}
            }
        }
        points.finish(&tx)?;
        if let Some(pos) = &batch.stream {
            repo::streams::advance(&tx, &pos.key, run, sql_i64(pos.next_seq))?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Writes an artifact's content to `<store>/artifacts/<run_id>/<path>`
    /// (temporary file, then rename). `Ok(None)` when the path is unusable
    /// (invalid, or clashing with a directory): the artifact is skipped with a
    /// warning rather than blocking the stream forever.
    fn place_artifact(
        &self,
        run_id: &str,
        path: &str,
        content: &ArtifactContent,
        progress: Progress<'_>,
    ) -> Result<Option<StoredFile>> {
        if let Err(why) = runlog_core::rules::check_artifact_path(path) {
            eprintln!("runlog: warning: skipping artifact {path:?} in run {run_id}: {why}");
            return Ok(None);
        }
        let dest = self.artifact_dir(run_id).join(path);
        match content {
            ArtifactContent::Bytes(bytes) => {
                self.store_artifact_from(&dest, &mut &bytes[..], progress)
            }
            ArtifactContent::File { path: src, .. } => {
                let mut f = File::open(src)
                    .with_context(|| format!("cannot read the artifact file {}", src.display()))?;
                self.store_artifact_from(&dest, &mut f, progress)
            }
        }
        .map(Some)
        .or_else(|e| match io_kind(&e) {
            Some(io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory) => {
                eprintln!("runlog: warning: skipping artifact {path:?} of run {run_id}: {e:#}");
                Ok(None)
            }
            _ => Err(self.explain(e)),
        })
    }

    /// Streams `src` into the store file `dest` with bounded memory, computing its SHA-256.
    pub fn store_artifact_from(
        &self,
        dest: &Path,
        src: &mut dyn Read,
        progress: Progress<'_>,
    ) -> Result<StoredFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let tmp_dir = self.dir().join("tmp");
        fs::create_dir_all(&tmp_dir)
            .with_context(|| format!("cannot create {}", tmp_dir.display()))?;
        let tmp = tmp_dir.join(format!(
            "{}-{}.part",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| -> Result<StoredFile> {
            let mut out =
                File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
            let mut hash = Sha256::new();
            let mut buf = vec![0u8; COPY_BUF];
            let mut size = 0u64;
            loop {
                let n = match src.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(anyhow!(e).context("cannot read artifact content")),
                };
                hash.update(&buf[..n]);
                out.write_all(&buf[..n])
                    .with_context(|| format!("cannot write {}", tmp.display()))?;
                size += n as u64;
                progress(size);
            }
            out.sync_data()
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            fs::rename(&tmp, dest)
                .with_context(|| format!("cannot move the artifact into {}", dest.display()))?;
            Ok(StoredFile {
                size,
                sha256: hash.finalize().iter().map(|b| format!("{b:02x}")).collect(),
            })
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Adds what the user can do to errors whose cause is the store itself.
    pub fn explain(&self, err: anyhow::Error) -> anyhow::Error {
        explain_at(self.dir(), err)
    }
}

impl Sink for Store {
    fn watermark(&mut self, stream: &str) -> Result<Option<u64>> {
        Store::watermark(self, stream)
    }

    fn commit(&mut self, batch: &Batch) -> Result<()> {
        self.commit_batch(batch, &mut |_| {})
    }

    fn commit_with_progress(&mut self, batch: &Batch, progress: Progress<'_>) -> Result<()> {
        self.commit_batch(batch, progress)
    }

    fn run_status(&mut self, run_id: &str) -> Result<Option<String>> {
        Store::run_status(self, run_id)
    }
}

fn experiment_id(conn: &rusqlite::Connection, name: &str) -> Result<i64> {
    Ok(repo::experiments::id_or_create(
        conn,
        name,
        sql_i64(now_ms()),
    )?)
}

/// The run's row id and `next_ord`, creating the run (and its experiment) if needed.
fn ensure_run(
    tx: &Transaction<'_>,
    run: &RunRef,
    start_ms: Option<u64>,
    command: Option<&str>,
) -> Result<(i64, i64)> {
    if let Some((id, next_ord, no_command)) = repo::runs::drain_state(tx, &run.run_id)? {
        if let (Some(cmd), true) = (command, no_command) {
            repo::runs::set_command(tx, id, cmd)?;
        }
        return Ok((id, next_ord));
    }
    let experiment = if run.experiment.is_empty() {
        "default"
    } else {
        &run.experiment
    };
    let exp = experiment_id(tx, experiment)?;
    let start = sql_i64(start_ms.unwrap_or_else(now_ms));
    Ok((repo::runs::insert(tx, &run.run_id, exp, start, command)?, 0))
}

fn io_kind(err: &anyhow::Error) -> Option<io::ErrorKind> {
    err.chain()
        .find_map(|c| c.downcast_ref::<io::Error>())
        .map(|e| e.kind())
}

fn raw_os_error(err: &anyhow::Error) -> Option<i32> {
    err.chain()
        .find_map(|c| c.downcast_ref::<io::Error>())
        .and_then(|e| e.raw_os_error())
}

/// Turns the store errors users can act on into messages saying what to do.
pub fn explain_at(dir: &Path, err: anyhow::Error) -> anyhow::Error {
    use rusqlite::ErrorCode as C;
    let dir = dir.display();
    let sqlite = err
        .chain()
        .find_map(|c| match c.downcast_ref::<rusqlite::Error>() {
            Some(rusqlite::Error::SqliteFailure(e, _)) => Some(e.code),
            _ => None,
        });
    let hint = match (sqlite, raw_os_error(&err)) {
        (Some(C::DatabaseBusy | C::DatabaseLocked), _) => format!(
            "the history store {dir} is locked by another process (a long query or another writer); \
             wait for it to finish, or stop it, and try again"
        ),
        (Some(C::ReadOnly | C::PermissionDenied | C::CannotOpen), _)
        | (_, Some(libc::EACCES | libc::EPERM | libc::EROFS)) => format!(
            "the history store {dir} is not writable; fix its permissions or choose another \
             directory with --tracking-uri DIR"
        ),
        (Some(C::DiskFull), _) | (_, Some(libc::ENOSPC | libc::EDQUOT)) => format!(
            "the disk holding the history store {dir} is full; nothing drained was lost: free some \
             space, then run `runlog drain --once` to upload the rest"
        ),
        _ => return err,
    };
    err.context(hint)
}

/// Lists every regular file under `dir`, with its path relative to `dir` (`/`-separated), sorted.
pub fn files_under(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))? {
            let entry = entry?;
            let path = entry.path();
            let mut ty = entry.file_type()?;
            if ty.is_symlink() {
                // A link to a file is uploaded as that file; links to
                // directories are not followed (they could loop).
                match fs::metadata(&path) {
                    Ok(m) if m.is_file() => ty = m.file_type(),
                    _ => continue,
                }
            }
            if ty.is_dir() {
                stack.push(path);
            } else if ty.is_file() {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((rel, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Copies the write-ahead log into the database from a thread of its own.
///
/// SQLite's automatic checkpoint runs inside the committing writer and ends
/// with an fsync, which stalls the drain (and, through a full ring, the
/// program logging) for as long as the disk takes. Checkpointing from
/// another connection every 100 ms takes that off the insert path; the
/// writer's own automatic checkpoint stays as a backstop at 128 MiB of log.
pub struct Checkpointer {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Store {
    /// Starts checkpointing this store's log in the background (see [`Checkpointer`]).
    pub fn background_checkpoints(&self) -> Result<Checkpointer> {
        self.conn()
            .pragma_update(None, "wal_autocheckpoint", 32768)?;
        let conn = rusqlite::Connection::open(self.dir().join(super::DB_FILE))?;
        conn.busy_timeout(std::time::Duration::from_millis(100))?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("runlog-checkpoint".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    // PASSIVE never blocks the writer; errors (busy) just mean "next time".
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
