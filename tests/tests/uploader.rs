//! Real C programs (compiled against include/runlog.h and librunlog.a) run
//! through the real `runlog run`, into the real embedded store.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use runlog_tests::{repo_root, runlog_bin, scratch_dir, CBuild};

fn c_build() -> CBuild {
    CBuild::c11_in_test_profile()
}

/// The store's database, with every point listed in `metric_values` (see
/// `runlog_uploader::store::series::create_points_table`).
fn db(dir: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(dir.join(".runlog").join("history.sqlite")).unwrap();
    runlog_uploader::store::series::create_points_table(&conn).unwrap();
    conn
}

#[test]
fn c_example_through_runlog_run_lands_in_the_store() {
    let dir = scratch_dir("uploader-c-example");
    let exe = dir.join("train");
    c_build().build(&[repo_root().join("examples/train.c")], &exe);
    let out = Command::new(runlog_bin())
        .current_dir(&dir)
        .args(["run", "--experiment", "examples", "--", "./train"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("accuracy 0.88"), "{stdout}");
    let run_id = stdout.lines().last().unwrap().trim().to_string();

    let conn = db(&dir);
    let (status, exit, experiment): (String, i64, String) = conn
        .query_row(
            "SELECT r.status, r.exit_code, e.name FROM runs r
             JOIN experiments e ON e.id = r.experiment_id WHERE r.run_id = ?1",
            [&run_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (status.as_str(), exit, experiment.as_str()),
        ("FINISHED", 0, "examples")
    );

    // Every metric, in logging order, with its type kept.
    use rusqlite::types::Value as V;
    let rows: Vec<(String, i64, V)> = conn
        .prepare(
            "SELECT s.name, v.kind, v.value FROM metric_values v
             JOIN series s ON s.id = v.series ORDER BY v.ord",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let reg = 0.01;
    let losses: Vec<f64> = (0..5)
        .map(|e| (-0.5 * f64::from(e + 1)).exp() + reg)
        .collect();
    let correct: Vec<i64> = (0..5).map(|e| 600 + 70 * e).collect();
    let mut expected = vec![
        ("Epochs".to_string(), 0, V::Integer(5)),
        ("Regularization Rate".to_string(), 1, V::Real(reg)),
        ("Optimizer".to_string(), 2, V::Text("sgd".into())),
    ];
    for l in &losses {
        expected.push(("Loss".into(), 1, V::Real(*l)));
    }
    expected.push((
        "Loss per epoch".into(),
        3,
        V::Blob(losses.iter().flat_map(|x| x.to_le_bytes()).collect()),
    ));
    expected.push((
        "Correct per epoch".into(),
        4,
        V::Blob(correct.iter().flat_map(|x| x.to_le_bytes()).collect()),
    ));
    expected.push(("Accuracy".into(), 1, V::Real(880.0 / 1000.0)));
    expected.push(("Final loss".into(), 1, V::Real(losses[4])));
    assert_eq!(rows, expected);

    // Artifacts: uploaded through the ring, staged file, and outputs/.
    let arts: Vec<(String, i64)> = conn
        .prepare("SELECT path, size FROM artifacts ORDER BY path")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let paths: Vec<&str> = arts.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "model/model.txt",
            "outputs/model.txt",
            "reports/summary.txt"
        ]
    );
    let summary = std::fs::read_to_string(
        dir.join(".runlog/artifacts")
            .join(&run_id)
            .join("reports/summary.txt"),
    )
    .unwrap();
    assert!(summary.contains("accuracy=0.880"), "{summary}");
    // The spool is empty again.
    let left: Vec<_> = std::fs::read_dir(dir.join(".runlog/spool"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn c_writer_sigkilled_mid_run_keeps_every_returned_log_call() {
    let dir = scratch_dir("uploader-c-sigkill");
    let exe = dir.join("sigkill");
    c_build().build(&[repo_root().join("tests/c/sigkill.c")], &exe);
    let mut runlog = Command::new(runlog_bin())
        .current_dir(&dir)
        .args(["run", "--", "./sigkill"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = runlog.id();
    let mut lines = BufReader::new(runlog.stdout.take().unwrap()).lines();
    let start = Instant::now();
    let mut last_value: i64 = -1;
    // Let it log for a while, then SIGKILL the program (not runlog).
    while start.elapsed() < Duration::from_millis(1500) {
        let line = lines.next().unwrap().unwrap();
        last_value = line.split(' ').nth(1).unwrap().parse().unwrap();
    }
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let child: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: SIGKILL to the program runlog started for this test.
    unsafe { libc::kill(child, libc::SIGKILL) };
    // Lines already in the pipe were printed after their log call returned, too.
    let mut run_id = String::new();
    for line in lines {
        let line = line.unwrap();
        match line.split_once(' ') {
            Some((_, v)) => last_value = v.parse().unwrap(),
            None => run_id = line,
        }
    }
    let status = runlog.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGKILL));
    assert!(last_value > 100, "only {last_value} log calls returned");

    let conn = db(&dir);
    let (status, count, distinct, max): (String, i64, i64, i64) = conn
        .query_row(
            "SELECT r.status, COUNT(v.value), COUNT(DISTINCT v.value), MAX(v.value)
             FROM runs r JOIN series s ON s.run = r.id JOIN metric_values v ON v.series = s.id
             WHERE r.run_id = ?1",
            [&run_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(status, "KILLED");
    assert!(
        max >= last_value,
        "value {last_value} returned but not stored (max {max})"
    );
    assert_eq!(
        (count, distinct),
        (max + 1, max + 1),
        "values 0..=max each once"
    );
}
