//! Hostile input and hostile timing against the real `runlog` binary: damaged
//! and truncated spool files, a wait that signals must end, many processes
//! creating one store, frame streams claiming absurd sequence gaps.
//! Each test failed on 60ea9eb (issue 11).

mod spool_writer;

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runlog_core::frame::FrameBuilder;
use runlog_core::spool::SPOOL_HEADER_LEN;
use runlog_core::{Metric, Name, Record, RunStart, RunStatus, Value};
use spool_writer::*;

/// Where the ring's data area starts in a spool file (spool header, ring header).
const DATA_AT: u64 = SPOOL_HEADER_LEN as u64 + runlog_core::ring::HEADER_LEN as u64;
/// `write_pos` in the file: spool header, then the ring header's offset 16.
const WRITE_POS_AT: u64 = SPOOL_HEADER_LEN as u64 + 16;

/// Not a test: the writer process that tests start (mode in RUNLOG_TEST_WRITER_MODE).
#[test]
#[ignore = "run by the other tests as a child process"]
fn writer_child() {
    let Some(mode) = writer_mode() else { return };
    let spool = PathBuf::from(std::env::var("RUNLOG_SPOOL").expect("RUNLOG_SPOOL"));
    let run_id = std::env::var("RUNLOG_RUN_ID").expect("RUNLOG_RUN_ID");
    let pidfile = std::env::var("RUNLOG_TEST_PIDFILE").ok();
    match mode.as_str() {
        "truncate" => {
            // Logs, waits until the uploader drains the ring, then cuts its
            // own spool file to nothing while the uploader has it mapped.
            let mut w = SpoolWriter::create(&spool, &run_id, "tests", 1 << 16);
            let mut last = 0;
            for i in 0..100 {
                last = w.log("x", Value::I64(i));
            }
            assert!(w.wait(last, Duration::from_secs(30)), "never drained");
            let file = spool.join(format!("{}.ring", w.stem));
            fs::OpenOptions::new()
                .write(true)
                .open(&file)
                .unwrap()
                .set_len(0)
                .unwrap();
            // Alive for a while (so the uploader keeps draining the ring),
            // and never touching the mapping again (that would fault here).
            std::thread::sleep(Duration::from_secs(3));
            std::process::exit(0);
        }
        "linger" => {
            // A writer that outlives the program that started it.
            let mut w = SpoolWriter::create(&spool, &run_id, "tests", 1 << 16);
            w.log("x", Value::I64(1));
            fs::write(pidfile.unwrap(), std::process::id().to_string()).unwrap();
            std::thread::sleep(Duration::from_secs(120));
        }
        "spawn-linger" => {
            let argv = writer_command();
            // Left running on purpose: it outlives this program; the test kills it.
            #[allow(clippy::zombie_processes)]
            let _linger = Command::new(&argv[0])
                .args(&argv[1..])
                .env(MODE_VAR, "linger")
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            // Exit only once its ring exists (it writes the pid file after creating it).
            let pidfile = PathBuf::from(pidfile.unwrap());
            let t = Instant::now();
            while !pidfile.exists() && t.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(10));
            }
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

/// The run id `runlog run` prints last (the program's own output comes before).
fn last_line(stdout: &[u8]) -> String {
    let s = String::from_utf8_lossy(stdout);
    let last = s.lines().last().unwrap_or_default();
    // A writer that ends with `exit` leaves its line unfinished.
    last.rsplit(' ')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn kill_pid_in(pidfile: &Path) {
    if let Some(pid) = fs::read_to_string(pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    {
        // SAFETY: SIGKILL to the writer this test started (its pid, from its own file).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// `runlog --tracking-uri STORE ARGS`; returns (exit code, stdout, stderr).
fn runlog_in(store: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = runlog()
        .arg("--tracking-uri")
        .arg(store)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The file offsets of the record headers in a ring file that never wrapped, in order.
fn record_offsets(file: &Path) -> Vec<u64> {
    let bytes = fs::read(file).unwrap();
    let word = |at: u64| {
        let at = at as usize;
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    };
    let end = DATA_AT + u64::from(word(WRITE_POS_AT));
    let mut at = DATA_AT;
    let mut out = Vec::new();
    while at < end {
        out.push(at);
        at += (8 + u64::from(word(at)) + 3) & !3;
    }
    out
}

fn ring_file(spool: &Path) -> PathBuf {
    fs::read_dir(spool)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "ring"))
        .expect("a ring file")
}

/// A closed ring: RunStart, metrics x = 0..n, RunEnd (n + 2 records).
fn closed_ring(spool: &Path, run_id: &str, n: i64) -> PathBuf {
    let mut w = SpoolWriter::create(spool, run_id, "tests", 1 << 20);
    for i in 0..n {
        w.log("x", Value::I64(i));
    }
    w.finish(RunStatus::Finished);
    ring_file(spool)
}

#[test]
fn damaged_record_costs_only_itself_and_is_reported_once() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let spool = store.join("spool");
    let file = closed_ring(&spool, "damaged1", 700);
    // A stray write over the header of record 100 (metric x = 99).
    let at = record_offsets(&file)[100];
    let f = fs::OpenOptions::new().write(true).open(&file).unwrap();
    f.write_all_at(&[0xAB; 8], at).unwrap();

    let (code, _, err) = runlog_in(&store, &["drain", "--once"]);
    assert_eq!(code, Some(1), "damage must fail --once: {err}");
    assert_eq!(
        err.matches("damaged bytes").count(),
        1,
        "the damage is reported once: {err}"
    );
    // Everything after the damaged record is kept; only it is lost, and counted.
    let stored = query_i64(&store, "SELECT COUNT(*) FROM metric_values");
    assert_eq!(stored, 699, "{err}");
    let lost = query_i64(
        &store,
        "SELECT lost_records FROM runs WHERE run_id = 'damaged1'",
    );
    assert_eq!(lost, 1);
    let max = query_i64(
        &store,
        "SELECT MAX(CAST(value AS INTEGER)) FROM metric_values",
    );
    assert_eq!(max, 699);
    // Lost records: not a clean success.
    let status = query_str(&store, "SELECT status FROM runs WHERE run_id = 'damaged1'");
    assert_eq!(status, "FAILED");
}

#[test]
fn damaged_cursor_gives_the_ring_up_with_the_loss_recorded() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let spool = store.join("spool");
    let file = closed_ring(&spool, "damaged2", 50);
    // A stray write over write_pos, 64 bytes past the last record: what
    // follows the records cannot be read, and nothing after it chains.
    let bytes = fs::read(&file).unwrap();
    let at = WRITE_POS_AT as usize;
    let pos = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let f = fs::OpenOptions::new().write(true).open(&file).unwrap();
    f.write_all_at(&(pos + 64).to_le_bytes(), WRITE_POS_AT)
        .unwrap();

    let start = Instant::now();
    let (code, _, err) = runlog_in(&store, &["drain", "--once"]);
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("damaged"), "{err}");
    let lost = query_i64(
        &store,
        "SELECT lost_records FROM runs WHERE run_id = 'damaged2'",
    );
    assert!(lost >= 1, "the loss is recorded");
    let status = query_str(&store, "SELECT status FROM runs WHERE run_id = 'damaged2'");
    assert_eq!(status, "FAILED");
    // Kept for inspection, never drained (or counted) again.
    let mut broken = file.clone().into_os_string();
    broken.push(".broken");
    assert!(Path::new(&broken).exists(), "{err}");
    assert!(!file.exists());
    let (code, _, err) = runlog_in(&store, &["drain", "--once"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        query_i64(
            &store,
            "SELECT lost_records FROM runs WHERE run_id = 'damaged2'"
        ),
        lost
    );
}

#[test]
fn writer_truncating_its_spool_file_costs_the_ring_not_the_uploader() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let argv = writer_command();
    let mut run = runlog()
        .arg("--tracking-uri")
        .arg(&store)
        .args(["run", "--"])
        .args(&argv)
        .env(MODE_VAR, "truncate")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut run, Duration::from_secs(60));
    let Some(status) = status else {
        let _ = run.kill();
        panic!("runlog run did not end");
    };
    let out = run.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // Not killed by SIGBUS: an error on that ring, the run FAILED, exit 3.
    assert_eq!(status.code(), Some(3), "{status:?}: {err}");
    assert!(err.contains("truncated"), "{err}");
    let run_id = last_line(&out.stdout);
    let st = query_str(
        &store,
        &format!("SELECT status FROM runs WHERE run_id = '{run_id}'"),
    );
    assert_eq!(st, "FAILED");
    // What was drained before the cut is kept.
    assert_eq!(query_i64(&store, "SELECT COUNT(*) FROM metric_values"), 100);
}

#[test]
fn sigterm_ends_the_wait_for_a_writer_that_outlives_the_program() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let pidfile = work.path().join("linger.pid");
    let argv = writer_command();
    let mut run = runlog()
        .arg("--tracking-uri")
        .arg(&store)
        .args(["run", "--"])
        .args(&argv)
        .env(MODE_VAR, "spawn-linger")
        .env("RUNLOG_TEST_PIDFILE", &pidfile)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !pidfile.exists() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The program has exited; `runlog run` now waits for the lingering writer's ring.
    std::thread::sleep(Duration::from_millis(1500));
    if let Some(st) = run.try_wait().unwrap() {
        kill_pid_in(&pidfile);
        let out = run.wait_with_output().unwrap();
        panic!(
            "run should still wait, ended {st}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // SAFETY: SIGTERM to our own child.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    let status = wait_timeout(&mut run, Duration::from_secs(10));
    kill_pid_in(&pidfile);
    let Some(status) = status else {
        let _ = run.kill();
        panic!("SIGTERM did not end runlog run's wait");
    };
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
    let out = run.wait_with_output().unwrap();
    let run_id = last_line(&out.stdout);
    let st = query_str(
        &store,
        &format!("SELECT status FROM runs WHERE run_id = '{run_id}'"),
    );
    assert_eq!(st, "KILLED");
}

#[test]
fn concurrent_first_use_of_a_store_never_fails() {
    let work = tempfile::tempdir().unwrap();
    for round in 0..10 {
        let store = work.path().join(format!("store{round}"));
        let runs: Vec<Child> = (0..3)
            .map(|_| {
                runlog()
                    .arg("--tracking-uri")
                    .arg(&store)
                    .args(["run", "--", "true"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for r in runs {
            let out = r.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_eq!(
            query_i64(
                &store,
                "SELECT COUNT(*) FROM runs WHERE status = 'FINISHED'"
            ),
            3
        );
    }
}

/// One COBS frame holding `records`, numbered from `first_seq`.
fn frame(first_seq: u64, records: &[Record<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut b = FrameBuilder::new(&mut buf);
    let mut enc = [0u8; 512];
    for (i, r) in records.iter().enumerate() {
        let n = runlog_core::wire::encode(r, &mut enc).unwrap();
        b.add(first_seq + i as u64, &enc[..n]).unwrap();
    }
    let payload = b.finish().to_vec();
    let mut out = VecOut(Vec::new());
    runlog_core::cobs::encode_to(&payload, &mut out).unwrap();
    out.0.push(0);
    out.0
}

struct VecOut(Vec<u8>);
impl embedded_io::ErrorType for VecOut {
    type Error = core::convert::Infallible;
}
impl embedded_io::Write for VecOut {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[test]
fn huge_sequence_gaps_cannot_poison_a_run() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let start = || {
        Record::RunStart(RunStart {
            run_id: "gaps",
            experiment: "tests",
            time_ms: None,
        })
    };
    let metric = |v: i64| {
        Record::Metric(Metric {
            name: Name::Text("x"),
            value: Value::I64(v),
            step: None,
            time_ms: None,
        })
    };
    let mut stream = frame(0, &[start(), metric(0)]);
    // Two gaps near 2^63 each, committed separately (a RunStart flushes):
    // their sum does not fit SQLite's INTEGER.
    stream.extend(frame(1 << 63, &[metric(1), start()]));
    stream.extend(frame(u64::MAX - 4, &[metric(2)]));
    let input = work.path().join("stream.bin");
    fs::write(&input, &stream).unwrap();
    let (code, _, err) = runlog_in(&store, &["drain", "--input", input.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let ty = query_str(
        &store,
        "SELECT typeof(lost_records) FROM runs WHERE run_id = 'gaps'",
    );
    assert_eq!(ty, "integer");
    assert_eq!(
        query_i64(
            &store,
            "SELECT lost_records FROM runs WHERE run_id = 'gaps'"
        ),
        i64::MAX
    );
    let (code, out, err) = runlog_in(&store, &["-o", "json", "history", "info", "-r", "gaps"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("9223372036854775807"), "{out}");
}
