//! The C and C++ example programs, built with -Wall -Wextra -Werror -pedantic
//! and ASan/UBSan, run against a spool directory drained by a core consumer.

use std::path::Path;
use std::process::Command;

use runlog_core::record::RunStatus;
use runlog_tests::{all_records, artifacts, repo_root, scratch_dir, CBuild, Drainer, Rec, Val};

fn run_example(build: CBuild, source: &str, name: &str) {
    let dir = scratch_dir(name);
    let exe = dir.join(name);
    build.build(&[repo_root().join("examples").join(source)], &exe);
    let spool = dir.join("spool");
    let drainer = Drainer::start_when_ready(&spool);
    let out = Command::new(&exe)
        .current_dir(&dir)
        .env("RUNLOG_SPOOL", &spool)
        .env("RUNLOG_RUN_ID", "example-run")
        .env("RUNLOG_EXPERIMENT", "examples")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("accuracy 0.88"), "{stdout}");
    let drained = drainer.finish();
    assert_eq!(drained.len(), 1, "one ring file");
    let records = all_records(&drained);
    check_example(&records, &spool, &dir, source.ends_with(".cpp"));
}

trait StartWhenReady {
    fn start_when_ready(dir: &Path) -> Drainer;
}

impl StartWhenReady for Drainer {
    fn start_when_ready(dir: &Path) -> Drainer {
        std::fs::create_dir_all(dir).unwrap();
        Drainer::start(dir, true)
    }
}

fn check_example(records: &[(u64, Rec)], spool: &Path, dir: &Path, cpp: bool) {
    // Sequence numbers are consecutive from 0, RunStart first, RunEnd last.
    for (i, (seq, _)) in records.iter().enumerate() {
        assert_eq!(*seq, i as u64);
    }
    assert_eq!(
        records[0].1,
        Rec::RunStart {
            run_id: "example-run".into(),
            experiment: "examples".into()
        }
    );
    assert_eq!(
        records.last().unwrap().1,
        Rec::RunEnd(RunStatus::Finished),
        "the exit hook ends the run"
    );
    let metrics: Vec<(&str, &Val)> = records.iter().filter_map(|(_, r)| r.metric()).collect();
    let find = |n: &str| {
        metrics
            .iter()
            .position(|(name, _)| *name == n)
            .unwrap_or_else(|| panic!("metric {n} missing: {metrics:?}"))
    };
    assert_eq!(metrics[find("Epochs")].1, &Val::I64(5));
    assert_eq!(metrics[find("Regularization Rate")].1, &Val::F64(0.01));
    assert_eq!(metrics[find("Optimizer")].1, &Val::Str("sgd".into()));
    let losses: Vec<f64> = (1..=5).map(|e| (-0.5 * e as f64).exp() + 0.01).collect();
    let logged: Vec<f64> = metrics
        .iter()
        .filter(|(n, _)| *n == "Loss")
        .map(|(_, v)| match v {
            Val::F64(x) => *x,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(logged, losses);
    assert_eq!(
        metrics[find("Loss per epoch")].1,
        &Val::F64List(losses.clone())
    );
    assert_eq!(
        metrics[find("Correct per epoch")].1,
        &Val::I64List(vec![600, 670, 740, 810, 880])
    );
    if cpp {
        assert_eq!(
            metrics[find("Learning rate schedule")].1,
            &Val::F64List(vec![0.1, 0.05, 0.01])
        );
    }
    assert!(find("Accuracy") < find("Final loss"));
    assert_eq!(metrics[find("Accuracy")].1, &Val::F64(0.88));
    // Host metrics carry a wall-clock time.
    for (_, r) in records {
        if let Rec::Metric { time_ms, .. } = r {
            assert!(time_ms.unwrap() > 1_600_000_000_000);
        }
    }
    let arts = artifacts(records, spool);
    let summary = String::from_utf8(arts["reports/summary.txt"].clone()).unwrap();
    assert!(summary.contains("accuracy=0.88"), "{summary}");
    let model = std::fs::read(dir.join("outputs/model.txt")).unwrap();
    assert_eq!(arts["model/model.txt"], model);
}

#[test]
fn c_example_logs_like_the_original_api() {
    run_example(CBuild::c11(), "train.c", "train_c");
}

#[test]
fn cpp_example_logs_like_the_original_api() {
    run_example(CBuild::cxx17(), "train.cpp", "train_cpp");
}

#[test]
fn c_example_runs_against_the_shared_library() {
    run_example(
        CBuild {
            shared: true,
            ..CBuild::c11()
        },
        "train.c",
        "train_c_so",
    );
}
