//! A real C program (tests/c/trust.c, against include/runlog.h and
//! librunlog.a) breaking the uploader's assumptions, through the real
//! `runlog run` and `runlog drain` into the real store. Each test failed on
//! 60ea9eb (issue 11).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use runlog_tests::{repo_root, runlog_bin, scratch_dir, CBuild};

/// tests/c/trust.c, built into `dir/trust`.
fn trust_program(dir: &Path) -> PathBuf {
    let exe = dir.join("trust");
    CBuild::c11_in_test_profile().build(&[repo_root().join("tests/c/trust.c")], &exe);
    exe
}

fn db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join(".runlog").join("history.sqlite")).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn run_row(dir: &Path, run_id: &str) -> (String, i64, i64) {
    db(dir)
        .query_row(
            "SELECT status, dropped, lost_records FROM runs WHERE run_id = ?1",
            [run_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

/// Defects 2, 3 and 11: a program fills a ring nobody drains and exits;
/// `runlog drain --once` must end its run and store every refused call.
#[test]
fn full_ring_without_uploader_is_ended_and_every_refusal_counted() {
    let dir = scratch_dir("trust-c-full");
    let exe = trust_program(&dir);
    for (end, status) in [("close", "FINISHED"), ("die", "KILLED")] {
        let run_id = format!("full-{end}");
        let out = Command::new(&exe)
            .current_dir(&dir)
            .args(["full", end])
            .env("RUNLOG_RUN_ID", &run_id)
            .env("RUNLOG_SPOOL", dir.join(".runlog/spool"))
            .output()
            .unwrap();
        let refused: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_eq!(refused, 797);
        let spool = dir.join(".runlog/spool");
        let modes: Vec<(PathBuf, u32)> = [dir.join(".runlog"), spool.clone()]
            .into_iter()
            .chain(
                std::fs::read_dir(&spool)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path()),
            )
            .map(|p| {
                let m = mode(&p);
                (p, m)
            })
            .collect();

        let out = Command::new(runlog_bin())
            .current_dir(&dir)
            .args(["drain", "--once"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (got, dropped, lost) = run_row(&dir, &run_id);
        assert_eq!((got.as_str(), dropped, lost), (status, refused, 0), "{end}");
        // Private by default: only the user can read what the program logged.
        for (p, m) in modes {
            let want = if p.is_dir() { 0o700 } else { 0o600 };
            assert_eq!(m, want, "{}", p.display());
        }
        assert_eq!(mode(&dir.join(".runlog/history.sqlite")), 0o600);
    }
}

/// Defect 1: a child made with a raw `fork` keeps writing into its parent's
/// ring after the parent exited. `runlog run` must end within bounded time,
/// keep what the parent logged, and report any damage (the deterministic
/// cases are in host-uploader/tests/trust.rs).
#[test]
fn raw_fork_child_writing_into_the_parents_ring_cannot_hang_run() {
    let dir = scratch_dir("trust-c-rawfork");
    let exe = trust_program(&dir);
    let pidfile = dir.join("child.pid");
    let mut run = Command::new(runlog_bin())
        .current_dir(&dir)
        .args(["run", "--"])
        .arg(&exe)
        .arg("rawfork")
        .arg(&pidfile)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = run.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(45) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if let Some(pid) = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    {
        // SAFETY: SIGKILL to the forked child of this test's program.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let Some(status) = status else {
        let _ = run.kill();
        let _ = run.wait();
        panic!("runlog run still waits 45 s after start, with the program long gone");
    };
    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let run_id = stdout.lines().last().unwrap().trim().to_string();
    let (st, _, lost) = run_row(&dir, &run_id);
    // What the two producers do to the ring depends on timing: either the
    // drain sees the damage (or the writes going on after the parent is
    // gone) and gives the ring up, or the child's pushes are refused (its
    // stale cursor is behind the uploader's release cursor) and nothing
    // foreign ever reaches the ring. Never a hang, never a silent success
    // with a damaged ring.
    if stderr.contains("damaged") {
        assert_eq!(status.code(), Some(3), "{stderr}");
        assert_eq!(st, "FAILED");
        assert!(lost >= 1, "the loss is recorded");
    } else {
        assert_eq!(
            (status.code(), st.as_str()),
            (Some(0), "FINISHED"),
            "{stderr}"
        );
    }
    // What the parent logged before the child took over the ring is kept.
    let parent: i64 = db(&dir)
        .query_row(
            "SELECT COALESCE(SUM(c.count), 0) FROM series s JOIN runs r ON r.id = s.run
             JOIN chunks c ON c.series = s.id
             WHERE r.run_id = ?1 AND s.name = 'parent'",
            [&run_id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(parent >= 100, "{parent}");
}

/// Defect 7: closing right after the first log call, before the uploader
/// attached the ring, must wait for it instead of timing out at once.
#[test]
fn close_right_after_start_waits_for_the_uploader_to_attach() {
    let dir = scratch_dir("trust-c-close-early");
    let exe = trust_program(&dir);
    for _ in 0..3 {
        let out = Command::new(runlog_bin())
            .current_dir(&dir)
            .args(["run", "--"])
            .arg(&exe)
            .arg("close-early")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.starts_with("ok"), "{stdout}");
    }
}
