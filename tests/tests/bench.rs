//! The C benchmark (benches/c/bench_log.c), built with -O2 against the
//! release library, run while a runlog_core consumer thread drains its ring.
//! Ignored by default (it takes a while and wants a quiet machine):
//! `scripts/bench-ffi.sh`, or
//! `cargo test --release -p runlog-tests --test bench -- --ignored --nocapture`.

use std::process::Command;

use runlog_tests::{repo_root, scratch_dir, CBuild, Drainer, Lang};

#[test]
#[ignore]
fn c_benchmark_log_f64_against_memcpy_and_fprintf() {
    let dir = scratch_dir("bench");
    let exe = dir.join("bench_log");
    CBuild {
        lang: Lang::C11,
        sanitize: false,
        opt: "-O2",
        profile: "release",
        shared: false,
    }
    .build(&[repo_root().join("benches/c/bench_log.c")], &exe);
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let drainer = Drainer::start(&spool, false);
    let calls = std::env::var("RUNLOG_BENCH_CALLS").unwrap_or_else(|_| "1000000".into());
    let out = Command::new(&exe)
        .arg(calls)
        .arg("train/loss")
        .arg(std::env::var("RUNLOG_BENCH_RING_MIB").unwrap_or_else(|_| "1".into()))
        .current_dir(&dir)
        .env("RUNLOG_SPOOL", &spool)
        .output()
        .unwrap();
    drainer.finish();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("runlog_log_f64"));
    let _ = std::fs::remove_dir_all(&dir);
}
