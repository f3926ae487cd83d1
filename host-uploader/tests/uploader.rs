//! The real `runlog` binary draining real spool files written by another
//! process (this test binary re-run as a writer, see `writer_child`).

mod spool_writer;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use memmap2::MmapMut;
use runlog_core::{F64List, I64List, RunStatus, Value};
use spool_writer::*;

/// Not a test: the writer process that tests start (`--ignored`, mode in RUNLOG_TEST_WRITER_MODE).
#[test]
#[ignore = "run by the other tests as a child process"]
fn writer_child() {
    let Some(mode) = writer_mode() else { return };
    let spool = PathBuf::from(std::env::var("RUNLOG_SPOOL").expect("RUNLOG_SPOOL"));
    let run_id = std::env::var("RUNLOG_RUN_ID").expect("RUNLOG_RUN_ID");
    let experiment = std::env::var("RUNLOG_EXPERIMENT").unwrap_or_else(|_| "default".into());
    let env_u64 = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    match mode.as_str() {
        "example" => {
            // The original API's example: scalars of each type, a list, a
            // string, artifacts in the ring and staged, a file in outputs/.
            let mut w = SpoolWriter::create(&spool, &run_id, &experiment, 1 << 20);
            w.log("alpha", Value::F64(0.03));
            w.log("epochs", Value::I64(10));
            for i in 0..5 {
                w.log("loss", Value::F64(1.0 / (i + 1) as f64));
                w.log("step", Value::I64(i));
            }
            w.log("note", Value::Str("hello from the example"));
            w.log("curve", Value::F64List(F64List::new(&[0.5, 0.25, 0.125])));
            w.log("counts", Value::I64List(I64List::new(&[3, 2, 1])));
            let t = w.upload_chunked(1, "small/hello.txt", b"hello world\n", 5);
            // log(...).wait(): acknowledged only once the uploader committed it.
            assert!(
                w.wait(t, Duration::from_secs(20)),
                "ticket {t} never acknowledged"
            );
            assert!(w.heartbeat() > 0, "no heartbeat from the uploader");
            let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
            w.upload_staged("model/weights.bin", &big);
            fs::create_dir_all("outputs/nested").unwrap();
            fs::write("outputs/model.txt", b"trained model").unwrap();
            fs::write("outputs/nested/log.txt", b"log").unwrap();
            w.finish(RunStatus::Finished);
        }
        "count" => {
            // Logs x = 0..n-1, publishing how many log calls returned in a progress file.
            let n = env_u64("RUNLOG_TEST_N", 1_000_000);
            let progress = std::env::var("RUNLOG_TEST_PROGRESS").ok().map(|p| {
                let f = fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(p)
                    .unwrap();
                f.set_len(8).unwrap();
                // SAFETY: an 8-byte file mapped once in this process.
                unsafe { MmapMut::map_mut(&f) }.unwrap()
            });
            let counter = progress.as_ref().map(|m| m.as_ptr() as *const AtomicU64);
            let cap = env_u64("RUNLOG_TEST_RING", 1 << 20) as u32;
            let mut w = SpoolWriter::create(&spool, &run_id, &experiment, cap);
            for i in 0..n {
                w.log("x", Value::I64(i as i64));
                if let Some(c) = counter {
                    // SAFETY: 8 aligned bytes of a live mapping.
                    unsafe { &*c }.store(i + 1, Ordering::Release);
                }
            }
            if std::env::var("RUNLOG_TEST_CLOSE").is_ok() {
                w.finish(RunStatus::Finished);
            }
        }
        "exit3" => {
            let mut w = SpoolWriter::create(&spool, &run_id, &experiment, 1 << 16);
            w.log("m", Value::I64(1));
            std::process::exit(3);
        }
        "sigterm" => {
            let mut w = SpoolWriter::create(&spool, &run_id, &experiment, 1 << 16);
            w.log("m", Value::I64(1));
            // SAFETY: signals this very process.
            unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
            std::thread::sleep(Duration::from_secs(10));
        }
        other => panic!("unknown writer mode {other}"),
    }
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn kill9(child: &mut Child) {
    // SAFETY: SIGKILL to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
}

fn term(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: SIGTERM to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    wait_timeout(child, Duration::from_secs(30)).expect("drain did not stop on SIGTERM")
}

/// The spool's files, but the lock a running uploader holds on it.
fn spool_files(spool: &Path) -> Vec<String> {
    fs::read_dir(spool)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != runlog_core::spool::UPLOADER_LOCK)
                .collect()
        })
        .unwrap_or_default()
}

fn writer(store: &Path, mode: &str, run_id: &str) -> Command {
    let argv = writer_command();
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..])
        .env(MODE_VAR, mode)
        .env("RUNLOG_SPOOL", store.join("spool"))
        .env("RUNLOG_RUN_ID", run_id)
        .env("RUNLOG_EXPERIMENT", "tests")
        .stdout(Stdio::null());
    c
}

#[test]
fn example_program_through_runlog_run() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join(".runlog");
    let out = runlog()
        .current_dir(work.path())
        .args(["run", "--experiment", "demo", "--"])
        .args(writer_command())
        .env(MODE_VAR, "example")
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "runlog run failed");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let run_id = stdout.lines().last().unwrap().trim().to_string();
    assert_eq!(run_id.len(), 32, "last stdout line is the run id: {stdout}");

    let q = |sql: &str| query(&store, sql);
    use rusqlite::types::Value as V;
    let run = q("SELECT r.run_id, e.name, r.status, r.exit_code, r.command IS NOT NULL, r.end_ms >= r.start_ms
                 FROM runs r JOIN experiments e ON e.id = r.experiment_id");
    assert_eq!(
        run,
        vec![vec![
            V::Text(run_id.clone()),
            V::Text("demo".into()),
            V::Text("FINISHED".into()),
            V::Integer(0),
            V::Integer(1),
            V::Integer(1)
        ]]
    );
    // Every metric, in logging order, with its type.
    let values = q("SELECT s.name, v.kind, v.value, v.step FROM metric_values v
                    JOIN series s ON s.id = v.series ORDER BY v.ord");
    let mut expected = vec![
        vec![
            V::Text("alpha".into()),
            V::Integer(1),
            V::Real(0.03),
            V::Integer(0),
        ],
        vec![
            V::Text("epochs".into()),
            V::Integer(0),
            V::Integer(10),
            V::Integer(0),
        ],
    ];
    for i in 0..5i64 {
        expected.push(vec![
            V::Text("loss".into()),
            V::Integer(1),
            V::Real(1.0 / (i + 1) as f64),
            V::Integer(i),
        ]);
        expected.push(vec![
            V::Text("step".into()),
            V::Integer(0),
            V::Integer(i),
            V::Integer(i),
        ]);
    }
    expected.push(vec![
        V::Text("note".into()),
        V::Integer(2),
        V::Text("hello from the example".into()),
        V::Integer(0),
    ]);
    let le = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    expected.push(vec![
        V::Text("curve".into()),
        V::Integer(3),
        V::Blob(le(&[0.5, 0.25, 0.125])),
        V::Integer(0),
    ]);
    expected.push(vec![
        V::Text("counts".into()),
        V::Integer(4),
        V::Blob([3i64, 2, 1].iter().flat_map(|x| x.to_le_bytes()).collect()),
        V::Integer(0),
    ]);
    assert_eq!(values, expected);
    let series = q("SELECT name, count FROM series WHERE name IN ('loss', 'step') ORDER BY name");
    assert_eq!(
        series,
        vec![
            vec![V::Text("loss".into()), V::Integer(5)],
            vec![V::Text("step".into()), V::Integer(5)]
        ]
    );

    // Artifacts: chunked in the ring, staged beside it, and outputs/.
    let arts = q("SELECT path, size FROM artifacts ORDER BY path");
    assert_eq!(
        arts,
        vec![
            vec![V::Text("model/weights.bin".into()), V::Integer(300_000)],
            vec![V::Text("outputs/model.txt".into()), V::Integer(13)],
            vec![V::Text("outputs/nested/log.txt".into()), V::Integer(3)],
            vec![V::Text("small/hello.txt".into()), V::Integer(12)],
        ]
    );
    let adir = store.join("artifacts").join(&run_id);
    assert_eq!(
        fs::read(adir.join("small/hello.txt")).unwrap(),
        b"hello world\n"
    );
    assert_eq!(
        fs::read(adir.join("outputs/model.txt")).unwrap(),
        b"trained model"
    );
    let big = fs::read(adir.join("model/weights.bin")).unwrap();
    assert!(big.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    // The spool is clean: ring and staged blob removed once committed.
    assert_eq!(spool_files(&store.join("spool")), Vec::<String>::new());
}

#[test]
fn run_reports_failure_and_signals() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join(".runlog");
    let status = runlog()
        .current_dir(work.path())
        .args(["run", "--"])
        .args(writer_command())
        .env(MODE_VAR, "exit3")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    let status = runlog()
        .current_dir(work.path())
        .args(["run", "--"])
        .args(writer_command())
        .env(MODE_VAR, "sigterm")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
    let rows = query(&store, "SELECT status, exit_code FROM runs ORDER BY id");
    use rusqlite::types::Value as V;
    assert_eq!(
        rows,
        vec![
            vec![V::Text("FAILED".into()), V::Integer(3)],
            vec![
                V::Text("KILLED".into()),
                V::Integer(128 + libc::SIGTERM as i64)
            ]
        ]
    );
    // Both logged their metric before ending.
    assert_eq!(query_i64(&store, "SELECT COUNT(*) FROM metric_values"), 2);
    // A program that does not exist: a clear error, a FAILED run, exit 127.
    let out = runlog()
        .current_dir(work.path())
        .args(["run", "--", "/nonexistent/program"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot start"));
}

#[test]
fn writer_sigkilled_mid_run_keeps_every_returned_record() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let progress = work.path().join("progress");
    let mut drain = KillOnDrop(
        runlog()
            .args(["--tracking-uri", store.to_str().unwrap(), "drain"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut w = KillOnDrop(
        writer(&store, "count", "killedrun")
            .env("RUNLOG_TEST_N", "100000000")
            .env("RUNLOG_TEST_PROGRESS", &progress)
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(1500));
    kill9(&mut w.0);
    let returned = u64::from_le_bytes(fs::read(&progress).unwrap()[..8].try_into().unwrap());
    assert!(returned > 1000, "the writer logged only {returned} records");
    // The uploader notices the dead writer, drains the rest, and removes the ring.
    let start = Instant::now();
    while !spool_files(&store.join("spool")).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "ring never finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(term(&mut drain.0).success());
    let count = query_i64(&store, "SELECT COUNT(*) FROM metric_values");
    let distinct = query_i64(&store, "SELECT COUNT(DISTINCT value) FROM metric_values");
    let max = query_i64(&store, "SELECT MAX(value) FROM metric_values");
    assert!(
        count as u64 >= returned,
        "{count} stored < {returned} returned"
    );
    assert_eq!(
        (count, distinct, max),
        (count, count, count - 1),
        "each record once, none missing"
    );
    assert_eq!(
        query_str(&store, "SELECT status FROM runs WHERE run_id = 'killedrun'"),
        "KILLED"
    );
}

/// A small deterministic PRNG (xorshift64*), so failures can be replayed from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn uploader_sigkilled_repeatedly_stores_each_record_exactly_once() {
    const N: u64 = 1_000_000;
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let seed = std::env::var("RUNLOG_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| now_ms() | 1);
    eprintln!("seed {seed} (set RUNLOG_TEST_SEED to replay)");
    let mut rng = Rng(seed);
    let mut w = KillOnDrop(
        writer(&store, "count", "onceonly")
            .env("RUNLOG_TEST_N", N.to_string())
            .env("RUNLOG_TEST_CLOSE", "1")
            .env("RUNLOG_TEST_RING", (256 * 1024).to_string())
            .spawn()
            .unwrap(),
    );
    // Kill points: 14 random targets spread over the run (by records stored),
    // each also bounded by a random time, so kills land at startup, mid-batch,
    // between commit and acknowledgement, and anywhere else.
    let mut targets: Vec<i64> = (0..14)
        .map(|_| (rng.next() % (N * 95 / 100)) as i64)
        .collect();
    targets.sort();
    let mut kills_before_end = 0;
    let mut last = -1i64;
    let mut conn: Option<rusqlite::Connection> = None;
    for target in targets {
        let mut drain = KillOnDrop(
            runlog()
                .args(["--tracking-uri", store.to_str().unwrap(), "drain"])
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let limit = Duration::from_millis(5 + rng.next() % 300);
        let started = Instant::now();
        let stored = |conn: &mut Option<rusqlite::Connection>| -> i64 {
            if conn.is_none() && store.join("history.sqlite").exists() {
                *conn = rusqlite::Connection::open(store.join("history.sqlite")).ok();
            }
            conn.as_ref()
                .and_then(|c| {
                    c.query_row("SELECT COALESCE(SUM(count), 0) FROM series", [], |r| {
                        r.get(0)
                    })
                    .ok()
                })
                .unwrap_or(0)
        };
        while started.elapsed() < limit && stored(&mut conn) < target {
            std::thread::sleep(Duration::from_millis(1));
        }
        kill9(&mut drain.0);
        let now = stored(&mut conn);
        eprintln!(
            "kill after {:?} (target {target}): {now} records stored",
            started.elapsed()
        );
        assert!(now >= last, "stored count went backwards");
        if now < N as i64 {
            kills_before_end += 1;
        }
        last = now;
    }
    assert!(
        kills_before_end >= 10,
        "only {kills_before_end} kills happened before the run was stored"
    );
    // A final uploader finishes the job.
    let mut drain = KillOnDrop(
        runlog()
            .args(["--tracking-uri", store.to_str().unwrap(), "drain"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_timeout(&mut w.0, Duration::from_secs(300))
        .unwrap()
        .success());
    let start = Instant::now();
    while !spool_files(&store.join("spool")).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "ring never finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(term(&mut drain.0).success());
    let row = query(
        &store,
        "SELECT COUNT(*), COUNT(DISTINCT value), MIN(value), MAX(value), MAX(idx), MAX(ord)
         FROM metric_values",
    );
    use rusqlite::types::Value as V;
    let n = N as i64;
    assert_eq!(
        row,
        vec![vec![
            V::Integer(n),
            V::Integer(n),
            V::Integer(0),
            V::Integer(n - 1),
            V::Integer(n - 1),
            V::Integer(n - 1)
        ]]
    );
    // Values in logging order: idx i holds value i.
    assert_eq!(
        query_i64(
            &store,
            "SELECT COUNT(*) FROM metric_values WHERE idx != value OR ord != value"
        ),
        0
    );
    assert_eq!(
        query_str(&store, "SELECT status FROM runs WHERE run_id = 'onceonly'"),
        "FINISHED"
    );
}

#[test]
fn drain_once_uploads_runs_recorded_while_no_uploader_ran() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let mut w = SpoolWriter::create(&store.join("spool"), "offline", "e", 1 << 16);
    for i in 0..100 {
        w.log("v", Value::I64(i));
    }
    let t = w.upload_staged("data.bin", b"staged content");
    w.finish(RunStatus::Finished);
    assert!(!w.is_acked(t));
    let st = runlog()
        .args(["--tracking-uri", store.to_str().unwrap(), "drain", "--once"])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(w.is_acked(t), "acknowledged after the commit");
    assert_eq!(query_i64(&store, "SELECT COUNT(*) FROM metric_values"), 100);
    assert_eq!(
        query_str(&store, "SELECT status FROM runs WHERE run_id = 'offline'"),
        "FINISHED"
    );
    assert_eq!(
        fs::read(store.join("artifacts/offline/data.bin")).unwrap(),
        b"staged content"
    );
    assert_eq!(spool_files(&store.join("spool")), Vec::<String>::new());
    // Draining again adds nothing.
    let st = runlog()
        .args(["--tracking-uri", store.to_str().unwrap(), "drain", "--once"])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(query_i64(&store, "SELECT COUNT(*) FROM metric_values"), 100);
}

#[test]
fn incompatible_spool_file_is_refused_with_a_clear_message() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let spool = store.join("spool");
    let w = SpoolWriter::create(&spool, "oldrun", "e", 1 << 16);
    let path = spool.join(format!("{}.ring", w.stem));
    drop(w);
    let mut bytes = fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&99u32.to_le_bytes());
    fs::write(&path, bytes).unwrap();
    let out = runlog()
        .args(["--tracking-uri", store.to_str().unwrap(), "drain", "--once"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("layout version 99"), "{err}");
    assert!(err.contains("another version of librunlog"), "{err}");
    assert!(path.exists(), "a refused file is left in place");
}

#[test]
fn missing_serial_device_and_locked_store_say_what_to_do() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let out = runlog()
        .args([
            "--tracking-uri",
            store.to_str().unwrap(),
            "drain",
            "--serial",
            "/dev/ttyNOPE0",
            "--baud",
            "115200",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("serial device /dev/ttyNOPE0 does not exist"),
        "{err}"
    );

    // Another process holds the store's write lock for longer than runlog waits.
    let _ = runlog()
        .args(["--tracking-uri", store.to_str().unwrap(), "drain", "--once"])
        .status();
    let conn = rusqlite::Connection::open(store.join("history.sqlite")).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let mut w = SpoolWriter::create(&store.join("spool"), "lockedrun", "e", 1 << 16);
    w.log("m", Value::I64(1));
    w.finish(RunStatus::Finished);
    let out = runlog()
        .args(["--tracking-uri", store.to_str().unwrap(), "drain", "--once"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is locked by another process"), "{err}");
    conn.execute_batch("ROLLBACK").unwrap();
    // Nothing was lost: the ring is still there and drains now.
    let st = runlog()
        .args(["--tracking-uri", store.to_str().unwrap(), "drain", "--once"])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(query_i64(&store, "SELECT COUNT(*) FROM metric_values"), 1);
}

#[test]
fn one_gib_output_uploads_in_bounded_memory() {
    let work = tempfile::tempdir().unwrap();
    let outputs = work.path().join("outputs");
    fs::create_dir_all(&outputs).unwrap();
    let big = outputs.join("big.bin");
    // Sparse: reads as zeros without taking disk space or write time.
    fs::File::create(&big).unwrap().set_len(1 << 30).unwrap();
    #[allow(clippy::zombie_processes)] // reaped by wait4 below, which also reports its peak RSS
    let child = runlog()
        .current_dir(work.path())
        // `touch`: only files the run creates or modifies are its outputs.
        .args(["run", "--", "touch", "outputs/big.bin"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 on our own child's pid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(r, child.id() as i32);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let peak_kib = usage.ru_maxrss;
    eprintln!(
        "runlog run uploading 1 GiB: peak RSS {} MiB",
        peak_kib / 1024
    );
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
    let store = work.path().join(".runlog");
    let row = query(
        &store,
        "SELECT size, sha256 FROM artifacts WHERE path = 'outputs/big.bin'",
    );
    use rusqlite::types::Value as V;
    assert_eq!(
        row,
        vec![vec![
            V::Integer(1 << 30),
            // sha256 of 1 GiB of zeros
            V::Text("49bc20df15e412a64472421e13fe86ff1c5165e18b2afccf160d4dc19fe68a14".into())
        ]]
    );
    let run_id = query_str(&store, "SELECT run_id FROM runs");
    let stored = store.join("artifacts").join(run_id).join("outputs/big.bin");
    assert_eq!(fs::metadata(&stored).unwrap().len(), 1 << 30);
    fs::remove_file(stored).unwrap();
    fs::remove_file(big).unwrap();
}

#[test]
fn artifact_in_progress_holds_back_only_itself() {
    use runlog_core::crc::crc32;
    use runlog_core::{Bytes, Record};
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let mut drain = KillOnDrop(
        runlog()
            .args(["--tracking-uri", store.to_str().unwrap(), "drain"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut w = SpoolWriter::create(&store.join("spool"), "partial", "e", 1 << 16);
    let before = w.log("before", Value::I64(1));
    // An artifact begins; its end comes later (the writer is slow, not dead).
    let data = b"0123456789";
    w.push(&Record::ArtifactBegin {
        id: 9,
        path: "slow.txt",
        len: 10,
    });
    w.push(&Record::ArtifactChunk {
        id: 9,
        offset: 0,
        data: Bytes(&data[..4]),
    });
    assert!(
        w.wait(before, Duration::from_secs(20)),
        "records before an open artifact are committed"
    );
    std::thread::sleep(Duration::from_millis(200));
    let last = w.push(&Record::ArtifactChunk {
        id: 9,
        offset: 4,
        data: Bytes(&data[4..]),
    });
    assert!(
        !w.is_acked(last),
        "an artifact is committed whole or not at all"
    );
    let end = w.push(&Record::ArtifactEnd {
        id: 9,
        crc32: crc32(data),
    });
    assert!(w.wait(end, Duration::from_secs(20)));
    assert_eq!(
        fs::read(store.join("artifacts/partial/slow.txt")).unwrap(),
        data
    );
    // An artifact abandoned because the ring filled (a Dropped notice follows)
    // does not hold back what comes after it.
    w.push(&Record::ArtifactBegin {
        id: 10,
        path: "abandoned.txt",
        len: 100,
    });
    w.push(&Record::Dropped { count: 3 });
    let after = w.log("after", Value::I64(2));
    assert!(w.wait(after, Duration::from_secs(20)));
    w.finish(RunStatus::Finished);
    let start = Instant::now();
    while !spool_files(&store.join("spool")).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "ring never finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(term(&mut drain.0).success());
    assert!(!store.join("artifacts/partial/abandoned.txt").exists());
    assert_eq!(
        query_i64(&store, "SELECT dropped FROM runs WHERE run_id = 'partial'"),
        3
    );
    assert_eq!(query_i64(&store, "SELECT COUNT(*) FROM metric_values"), 2);
}
