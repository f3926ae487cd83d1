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

/// The same benchmark built against this tree and against a base commit's
/// library (`$RUNLOG_BENCH_BASE`: a directory with `include/` and
/// `librunlog.a`, made by `scripts/bench-ffi.sh BASE_REV`), run alternately
/// (`$RUNLOG_BENCH_ROUNDS` pairs, default 5) so both see the same machine;
/// prints each run's `runlog_log_f64` median and the ratio of their medians,
/// and, when the base has the step calls too, both `runlog_log_f64_at` lines.
#[test]
#[ignore]
fn c_benchmark_log_f64_against_a_base_commit() {
    let Some(base) = std::env::var_os("RUNLOG_BENCH_BASE").map(std::path::PathBuf::from) else {
        eprintln!("RUNLOG_BENCH_BASE not set: nothing to compare against");
        return;
    };
    let dir = scratch_dir("bench-base");
    let new_exe = dir.join("bench_new");
    CBuild {
        lang: Lang::C11,
        sanitize: false,
        opt: "-O2",
        profile: "release",
        shared: false,
    }
    .build(&[repo_root().join("benches/c/bench_log.c")], &new_exe);
    let base_exe = dir.join("bench_base");
    let cc = Command::new("gcc")
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-g",
            "-O2",
        ])
        .arg("-D_POSIX_C_SOURCE=200809L")
        .arg("-I")
        .arg(base.join("include"))
        .arg(repo_root().join("benches/c/bench_log.c"))
        .arg(base.join("librunlog.a"))
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&base_exe)
        .output()
        .unwrap();
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let calls = std::env::var("RUNLOG_BENCH_CALLS").unwrap_or_else(|_| "1000000".into());
    let rounds: usize = std::env::var("RUNLOG_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let median_of = |out: &str, line: &str| -> Option<f64> {
        let l = out
            .lines()
            .find(|l| l.starts_with(&format!("{line:<34}")))?;
        l.split_whitespace()
            .nth(l.split_whitespace().position(|w| w == "median")? + 1)?
            .parse()
            .ok()
    };
    // The ratio a run prints for its interleaved pass (f64 and _at batches
    // alternating), when its header has the step calls.
    let interleaved_ratio = |out: &str| -> Option<f64> {
        out.lines()
            .find(|l| l.contains("(medians, interleaved batches):"))?
            .split_whitespace()
            .last()?
            .parse()
            .ok()
    };
    let (mut new_inter, mut base_inter) = (Vec::new(), Vec::new());
    let (mut base_f64, mut new_f64, mut new_at) = (Vec::new(), Vec::new(), Vec::new());
    // The base's own _at line, when its header has the step calls.
    let mut base_at = Vec::new();
    // This tree's first f64 line: the same position in the run as the base's.
    let mut new_first = Vec::new();
    for _ in 0..rounds {
        for (exe, is_new) in [(&base_exe, false), (&new_exe, true)] {
            let spool = dir.join("spool");
            let _ = std::fs::remove_dir_all(&spool);
            std::fs::create_dir_all(&spool).unwrap();
            // Raw: the base library writes an older wire version.
            let drainer = Drainer::start_raw(&spool);
            let out = Command::new(exe)
                .arg(&calls)
                .arg("train/loss")
                .arg("1")
                .current_dir(&dir)
                .env("RUNLOG_SPOOL", &spool)
                .output()
                .unwrap();
            drainer.finish();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let f = median_of(&stdout, "runlog_log_f64").expect("f64 line");
            if is_new {
                // The mean of the f64 lines before and after the _at line.
                let again = median_of(&stdout, "runlog_log_f64 (again)").expect("again line");
                new_f64.push((f + again) / 2.0);
                new_first.push(f);
                new_at.push(median_of(&stdout, "runlog_log_f64_at").expect("_at line"));
                new_inter.push(interleaved_ratio(&stdout).expect("interleaved line"));
            } else {
                base_f64.push(f);
                base_at.extend(median_of(&stdout, "runlog_log_f64_at"));
                base_inter.extend(interleaved_ratio(&stdout));
            }
        }
    }
    let summary = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    // Paired ratios: each new run against the base run just before it, and
    // each run's _at line against its own f64 line (same process, same ring).
    let mut pair: Vec<f64> = new_first
        .iter()
        .zip(&base_f64)
        .map(|(n, b)| n / b)
        .collect();
    let mut at_pair: Vec<f64> = new_at.iter().zip(&new_f64).map(|(a, f)| a / f).collect();
    let mut at_vs_base: Vec<f64> = new_at.iter().zip(&base_at).map(|(n, b)| n / b).collect();
    let (p, p_lo, p_hi) = summary(&mut pair);
    let (q, q_lo, q_hi) = summary(&mut at_pair);
    let (b, b_lo, b_hi) = summary(&mut base_f64);
    let (n, n_lo, n_hi) = summary(&mut new_first);
    let (m, _, _) = summary(&mut new_f64);
    let (a, a_lo, a_hi) = summary(&mut new_at);
    println!("{rounds} alternating runs of {calls} calls each (median of the per-run medians, min..max):");
    println!("base runlog_log_f64      {b:6.2} ns  ({b_lo:.2}..{b_hi:.2})");
    println!(
        "this runlog_log_f64      {n:6.2} ns  ({n_lo:.2}..{n_hi:.2})   this/base {:.3}",
        n / b
    );
    println!(
        "this runlog_log_f64_at   {a:6.2} ns  ({a_lo:.2}..{a_hi:.2})   _at/f64 (mean of the f64 lines around it) {:.3}",
        a / m
    );
    println!("paired ratios (median, min..max): this/base {p:.3} ({p_lo:.3}..{p_hi:.3}), _at/f64 {q:.3} ({q_lo:.3}..{q_hi:.3})");
    if base_at.len() == rounds {
        let (r, r_lo, r_hi) = summary(&mut at_vs_base);
        let (c, c_lo, c_hi) = summary(&mut base_at);
        println!("base runlog_log_f64_at   {c:6.2} ns  ({c_lo:.2}..{c_hi:.2})   paired this/base _at {r:.3} ({r_lo:.3}..{r_hi:.3})");
    }
    let (i, i_lo, i_hi) = summary(&mut new_inter);
    println!("interleaved _at/f64 per run (median, min..max): this {i:.3} ({i_lo:.3}..{i_hi:.3})");
    if base_inter.len() == rounds {
        let (j, j_lo, j_hi) = summary(&mut base_inter);
        println!(
            "interleaved _at/f64 per run (median, min..max): base {j:.3} ({j_lo:.3}..{j_hi:.3})"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
