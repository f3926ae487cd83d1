//! `runlog_close` on the process-wide logger of a real C program
//! (tests/c/close_run.c, against include/runlog.h and librunlog.a) under the
//! real `runlog run`: close answers OK, and the run ends FINISHED with every
//! point, however late the uploader first lists the spool directory.
//!
//! Before the fix `runlog run` took the spool directory's uploader lock at
//! its first scan, after starting the program, so a program closing before
//! that scan was told "no uploader is draining ... (no heartbeat yet)",
//! exited 1 and its run ended FAILED.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use runlog_tests::{repo_root, runlog_bin, scratch_dir, CBuild};

/// How long any one step of these tests may take before it counts as a hang.
const PATIENCE: Duration = Duration::from_secs(120);

/// tests/c/close_run.c, built into `dir/close_run`.
fn close_program(dir: &Path) -> PathBuf {
    let exe = dir.join("close_run");
    CBuild::c11_in_test_profile().build(&[repo_root().join("tests/c/close_run.c")], &exe);
    exe
}

/// Starts `runlog run -- close_run N TIMEOUT_MS` in `dir` with `stderr`;
/// its standard output comes line by line through the receiver.
fn start(
    dir: &Path,
    exe: &Path,
    n: u64,
    timeout_ms: u32,
    stderr: Stdio,
) -> (Child, Receiver<String>) {
    let mut child = Command::new(runlog_bin())
        .current_dir(dir)
        .args(["run", "--"])
        .arg(exe)
        .arg(n.to_string())
        .arg(timeout_ms.to_string())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The next line of standard output, or a failure naming what was awaited.
fn next_line(rx: &Receiver<String>, child: &mut Child, what: &str) -> String {
    match rx.recv_timeout(PATIENCE) {
        Ok(line) => line,
        Err(e) => {
            let _ = child.kill();
            panic!("no {what} from `runlog run` within {PATIENCE:?} ({e})");
        }
    }
}

/// Waits, bounded, for `runlog run` to exit; returns its exit code.
fn wait_bounded(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("`runlog run` did not exit within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What `runlog history info -r RUN -o json` says about the run.
fn run_info(dir: &Path, run_id: &str) -> serde_json::Value {
    let out = Command::new(runlog_bin())
        .current_dir(dir)
        .args(["history", "info", "-r", run_id, "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "history info: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The run ended FINISHED with exit code 0, nothing dropped or lost, and all
/// `n` points of "loss" (steps 0..n-1).
fn assert_finished_with_every_point(dir: &Path, run_id: &str, n: u64, context: &str) {
    let info = run_info(dir, run_id);
    let run = &info["run"];
    assert_eq!(run["status"], "FINISHED", "{context}: {info:#}");
    assert_eq!(run["exit_code"], 0, "{context}: {info:#}");
    assert_eq!(run["dropped"], 0, "{context}: {info:#}");
    assert_eq!(run["lost_records"], 0, "{context}: {info:#}");
    let loss = info["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "loss");
    match loss {
        None => assert_eq!(n, 0, "{context}: no loss series: {info:#}"),
        Some(m) => {
            assert_eq!(m["count"], n, "{context}: {info:#}");
            assert_eq!(m["last_step"], n - 1, "{context}: {info:#}");
        }
    }
}

/// Runs `close_run N TIMEOUT_MS` under `runlog run` to the end; returns what
/// the program printed after "closing" and the run id.
fn run_to_end(dir: &Path, exe: &Path, n: u64, timeout_ms: u32) -> (String, String) {
    let (mut child, rx) = start(dir, exe, n, timeout_ms, Stdio::piped());
    let mut err = child.stderr.take().unwrap();
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let closing = next_line(&rx, &mut child, "\"closing\"");
    assert_eq!(closing, "closing");
    let said = next_line(&rx, &mut child, "close's answer");
    let run_id = next_line(&rx, &mut child, "run id");
    let code = wait_bounded(&mut child);
    let stderr = errs.join().unwrap();
    assert_eq!(
        code,
        Some(0),
        "n={n} timeout={timeout_ms}: {said}\n{stderr}"
    );
    (said, run_id)
}

/// The reported case, for short and long programs: closing the process-wide
/// logger with a real timeout answers OK, and nothing is lost.
#[test]
fn close_under_run_answers_ok_and_the_run_finishes_with_every_point() {
    let dir = scratch_dir("close-under-run");
    let exe = close_program(&dir);
    for round in 0..3 {
        for n in [0, 1, 1000, 100_000] {
            let (said, run_id) = run_to_end(&dir, &exe, n, 5000);
            let context = format!("round {round}, {n} points");
            assert_eq!(said.trim_end(), "ok", "{context}");
            assert_finished_with_every_point(&dir, &run_id, n, &context);
        }
    }
}

/// A pipe whose buffer is full, so that whoever writes into it blocks until
/// the read end is read: the write end (blocking) and the read end.
fn full_pipe() -> (std::io::PipeWriter, std::io::PipeReader) {
    let (r, mut w) = std::io::pipe().unwrap();
    let set_nonblocking = |fd: i32, on: bool| {
        // SAFETY: fcntl on a descriptor this function owns; no pointers.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        assert!(flags >= 0);
        let flags = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) }, 0);
    };
    set_nonblocking(w.as_raw_fd(), true);
    for chunk in [4096, 1] {
        let block = vec![b'.'; chunk];
        loop {
            match w.write(&block) {
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("filling a pipe: {e}"),
            }
        }
    }
    set_nonblocking(w.as_raw_fd(), false);
    (w, r)
}

/// The race, made certain: `runlog run`'s first message after starting the
/// program blocks on a full standard error, so its first scan of the spool
/// directory comes only once the test reads that pipe, long after the
/// program closed its logger. Close must wait for the uploader (it announced
/// itself before starting the program), not answer TIMEOUT at once.
#[test]
fn close_waits_for_an_uploader_whose_first_scan_comes_late() {
    let dir = scratch_dir("close-under-run-late-scan");
    let exe = close_program(&dir);
    let n = 1000;
    let (w, mut r) = full_pipe();
    let (mut child, rx) = start(&dir, &exe, n, 5000, Stdio::from(w));
    let closing = next_line(&rx, &mut child, "\"closing\"");
    assert_eq!(closing, "closing");
    // `runlog run` is blocked on standard error: close must still be waiting.
    match rx.recv_timeout(Duration::from_millis(500)) {
        Err(mpsc::RecvTimeoutError::Timeout) => {}
        other => {
            let _ = child.kill();
            panic!("close answered before any uploader attached its ring: {other:?}");
        }
    }
    let errs = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = r.read_to_end(&mut s);
        String::from_utf8_lossy(&s)
            .trim_start_matches('.')
            .to_owned()
    });
    let said = next_line(&rx, &mut child, "close's answer");
    let run_id = next_line(&rx, &mut child, "run id");
    let code = wait_bounded(&mut child);
    let stderr = errs.join().unwrap();
    assert_eq!(said.trim_end(), "ok", "{stderr}");
    assert_eq!(code, Some(0), "{stderr}");
    assert_finished_with_every_point(&dir, &run_id, n, "late first scan");
}

/// A timeout of 0 only checks once, so close answers TIMEOUT (OK only if the
/// uploader committed everything in between); under `runlog run` its message
/// must say that an uploader is taking the records (not "no uploader is
/// draining ... run the program under `runlog run`"), and the run still ends
/// FINISHED with every point.
#[test]
fn close_with_no_time_to_wait_names_the_uploader_and_loses_nothing() {
    let dir = scratch_dir("close-under-run-zero");
    let exe = close_program(&dir);
    for n in [1, 1000] {
        let (said, run_id) = run_to_end(&dir, &exe, n, 0);
        if said.trim_end() != "ok" {
            assert!(said.starts_with("timed out "), "{said}");
            assert!(said.contains("an uploader "), "{said}");
            assert!(!said.contains("no uploader"), "{said}");
        }
        assert_finished_with_every_point(&dir, &run_id, n, "timeout 0");
    }
}
