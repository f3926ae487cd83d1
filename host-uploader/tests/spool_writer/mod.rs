//! Test helpers: a producer that writes real spool files with runlog-core,
//! following the protocol of docs/ffi.md (temp name, header, formatted ring,
//! RunStart, rename), and a way to run it as a separate process that tests
//! can kill.
#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memmap2::MmapMut;
use runlog_core::crc::crc32;
use runlog_core::spool::{write_header, SpoolInfo, SPOOL_HEADER_LEN};
use runlog_core::{
    Bytes, F64List, I64List, Metric, Name, Producer, PushError, Record, RunStart, RunStatus, Value,
};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A ring file being written, like librunlog does.
pub struct SpoolWriter {
    producer: Producer<'static>,
    _map: MmapMut,
    pub dir: PathBuf,
    pub stem: String,
    next_blob: u32,
    /// Pushes refused for a full ring (then retried).
    pub full_retries: u64,
}

impl SpoolWriter {
    /// Creates `<run_id>-<pid>-<n>.ring` in `dir` with a ring of `capacity` bytes.
    pub fn create(dir: &Path, run_id: &str, experiment: &str, capacity: u32) -> Self {
        fs::create_dir_all(dir).unwrap();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let stem = format!("{run_id}-{}-{n}", std::process::id());
        let tmp = dir.join(format!(".{stem}.ring.tmp"));
        let len = SPOOL_HEADER_LEN + runlog_core::ring::storage_len(capacity);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .unwrap();
        file.set_len(len as u64).unwrap();
        // SAFETY: the file is ours and sized above.
        let mut map = unsafe { MmapMut::map_mut(&file) }.unwrap();
        write_header(
            &SpoolInfo {
                run_id,
                experiment,
                pid: std::process::id(),
                created_ms: now_ms(),
            },
            &mut map,
        )
        .unwrap();
        // SAFETY: the mapping lives in the returned writer beside the producer.
        let producer = unsafe {
            Producer::format(
                map.as_mut_ptr().add(SPOOL_HEADER_LEN),
                map.len() - SPOOL_HEADER_LEN,
            )
        }
        .unwrap();
        let mut w = Self {
            producer,
            _map: map,
            dir: dir.to_path_buf(),
            stem: stem.clone(),
            next_blob: 0,
            full_retries: 0,
        };
        w.push(&Record::RunStart(RunStart {
            run_id,
            experiment,
            time_ms: Some(now_ms()),
        }));
        fs::rename(&tmp, dir.join(format!("{stem}.ring"))).unwrap();
        w
    }

    /// Pushes, waiting (up to a minute) for room when the ring is full. Returns the ticket.
    pub fn push(&mut self, record: &Record<'_>) -> u64 {
        let start = Instant::now();
        loop {
            match self.producer.push(record) {
                Ok(t) => return t,
                Err(PushError::Full) if start.elapsed() < Duration::from_secs(60) => {
                    // Wait for the uploader without taking the CPU it needs.
                    self.full_retries += 1;
                    std::thread::sleep(Duration::from_micros(50));
                }
                Err(e) => panic!("push failed: {e}"),
            }
        }
    }

    /// Logs a metric.
    pub fn log(&mut self, name: &str, value: Value<'_>) -> u64 {
        self.push(&Record::Metric(Metric {
            name: Name::Text(name),
            value,
            step: None,
            time_ms: Some(now_ms()),
        }))
    }

    /// Uploads a small artifact through the ring in chunks.
    pub fn upload_chunked(&mut self, id: u32, path: &str, data: &[u8], chunk: usize) -> u64 {
        self.push(&Record::ArtifactBegin {
            id,
            path,
            len: data.len() as u64,
        });
        for (i, c) in data.chunks(chunk.max(1)).enumerate() {
            self.push(&Record::ArtifactChunk {
                id,
                offset: (i * chunk) as u64,
                data: Bytes(c),
            });
        }
        self.push(&Record::ArtifactEnd {
            id,
            crc32: crc32(data),
        })
    }

    /// Stages an artifact as a blob file beside the ring, as librunlog does for large ones.
    pub fn upload_staged(&mut self, path: &str, data: &[u8]) -> u64 {
        let id = self.next_blob;
        self.next_blob += 1;
        let file = format!("{}.{id}.blob", self.stem);
        let tmp = self.dir.join(format!(".{file}.tmp"));
        fs::write(&tmp, data).unwrap();
        fs::rename(&tmp, self.dir.join(&file)).unwrap();
        self.push(&Record::ArtifactFile {
            path,
            file: &file,
            len: data.len() as u64,
            crc32: crc32(data),
        })
    }

    /// Ends the run and closes the ring.
    pub fn finish(&mut self, status: RunStatus) -> u64 {
        let t = self.push(&Record::RunEnd {
            status,
            time_ms: Some(now_ms()),
        });
        self.producer.close();
        t
    }

    /// Whether the uploader has acknowledged the record with this ticket.
    pub fn is_acked(&self, ticket: u64) -> bool {
        self.producer.is_acked(ticket)
    }

    /// Waits until `ticket` is acknowledged (like runlog_wait).
    pub fn wait(&self, ticket: u64, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.producer.is_acked(ticket) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    /// The consumer's heartbeat (seconds since the epoch, 0 if none).
    pub fn heartbeat(&self) -> u32 {
        self.producer.consumer_heartbeat()
    }
}

/// The `runlog` binary under test.
pub fn runlog() -> Command {
    Command::new(env!("CARGO_BIN_EXE_runlog"))
}

/// This test binary, re-run as a writer child (see `writer_child` in the
/// tests); the mode goes in the environment variable [`MODE_VAR`].
pub fn writer_command() -> Vec<String> {
    vec![
        std::env::current_exe().unwrap().display().to_string(),
        "writer_child".into(),
        "--exact".into(),
        "--nocapture".into(),
        "--ignored".into(),
        "--test-threads=1".into(),
    ]
}

/// Environment variable naming the writer child's mode.
pub const MODE_VAR: &str = "RUNLOG_TEST_WRITER_MODE";

/// The writer mode, when this process was started by [`writer_command`].
pub fn writer_mode() -> Option<String> {
    std::env::var(MODE_VAR).ok()
}

/// A child process killed (SIGKILL) and reaped when dropped, so a failing
/// test leaves nothing running.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A connection to the store's database where `metric_values` lists every
/// point, one row each, as stores before chunks held them (see
/// `store::series::create_points_table`).
pub fn open_db(store: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(store.join("history.sqlite")).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    runlog_uploader::store::series::create_points_table(&conn).unwrap();
    conn
}

/// Lists rows of a query on the store's database.
pub fn query(store: &Path, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let conn = open_db(store);
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// One integer from a query.
pub fn query_i64(store: &Path, sql: &str) -> i64 {
    let conn = open_db(store);
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// One string from a query.
pub fn query_str(store: &Path, sql: &str) -> String {
    let conn = open_db(store);
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Keeps the imports used by some test files only.
pub fn _unused(_: F64List<'_>, _: I64List<'_>) {}
