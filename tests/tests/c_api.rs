//! C programs built against include/runlog.h and librunlog.a with
//! -Wall -Wextra -Werror -pedantic and ASan/UBSan: bad input, many threads,
//! SIGKILL mid-logging, and the device API decoded by FrameDecoder.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use runlog_core::frame::{Event, FrameDecoder};
use runlog_core::record::RunStatus;
use runlog_tests::{
    all_records, artifacts, repo_root, ring_files, scratch_dir, scratch_path, CBuild, Drainer, Rec,
    SpoolReader, Val,
};

fn program(name: &str) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    built
        .entry(name.to_owned())
        .or_insert_with(|| {
            let dir = scratch_dir(&format!("bin-{name}"));
            let exe = dir.join(name);
            CBuild::c11().build(&[repo_root().join(format!("tests/c/{name}.c"))], &exe);
            exe
        })
        .clone()
}

/// Reads every record of every ring file in `dir` (as a restarted uploader would).
fn read_spool(dir: &std::path::Path) -> Vec<Vec<(u64, Rec)>> {
    ring_files(dir)
        .iter()
        .map(|p| {
            let mut r = SpoolReader::attach(p).unwrap();
            let mut v = Vec::new();
            r.drain(|seq, rec| v.push((seq, rec))).unwrap();
            v
        })
        .collect()
}

fn run_bad_input(case: &str) -> (String, Vec<Vec<(u64, Rec)>>) {
    let dir = scratch_dir(&format!("bad-{case}"));
    let out = Command::new(program("bad_input"))
        .arg(case)
        .current_dir(&dir)
        .env("RUNLOG_SPOOL", dir.join("spool"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "case {case}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (stdout, read_spool(&dir.join("spool")))
}

/// The ring holds the run's start and end and nothing else.
fn assert_nothing_written(case: &str) -> String {
    let (stdout, rings) = run_bad_input(case);
    assert_eq!(rings.len(), 1, "{case}: one logger, one ring file");
    let recs: Vec<&Rec> = rings[0].iter().map(|(_, r)| r).collect();
    assert!(
        matches!(
            recs.as_slice(),
            [Rec::RunStart { .. }, Rec::RunEnd(RunStatus::Finished)]
        ),
        "{case}: wrote {recs:?}"
    );
    assert!(stdout.starts_with(&format!("ok {case}: ")), "{stdout}");
    stdout
}

#[test]
fn null_pointers_are_refused() {
    assert_nothing_written("null_logger");
    assert_nothing_written("null_name");
    assert_nothing_written("null_list");
}

#[test]
fn invalid_utf8_is_refused() {
    let out = assert_nothing_written("invalid_utf8");
    assert!(out.contains("not valid UTF-8"), "{out}");
}

#[test]
fn empty_name_is_refused() {
    assert_nothing_written("empty_name");
}

#[test]
fn too_long_name_is_refused() {
    let out = assert_nothing_written("long_name");
    assert!(out.contains("250"), "{out}");
}

#[test]
fn too_long_list_is_refused() {
    assert_nothing_written("long_list");
}

#[test]
fn too_long_string_is_refused() {
    assert_nothing_written("long_string");
}

#[test]
fn unsafe_artifact_paths_are_refused() {
    assert_nothing_written("unsafe_path");
}

#[test]
fn missing_upload_file_is_an_io_error() {
    assert_nothing_written("missing_file");
}

#[test]
fn bad_options_are_refused() {
    assert_nothing_written("bad_options");
}

#[test]
fn unknown_ticket_is_refused() {
    assert_nothing_written("bad_ticket");
}

#[test]
fn use_after_close_is_refused() {
    assert_nothing_written("use_after_close");
}

#[test]
fn status_strings_and_truncated_messages() {
    assert_nothing_written("status_str");
}

#[test]
fn wait_without_uploader_times_out_and_says_why() {
    let (out, rings) = run_bad_input("wait_no_uploader");
    assert!(out.contains("no uploader is draining"), "{out}");
    assert!(
        out.contains(".ring"),
        "the message names the spool file: {out}"
    );
    assert_eq!(rings[0].len(), 3, "{:?}", rings[0]);
}

#[test]
fn full_ring_fails_fast_and_the_drop_is_counted() {
    let (out, rings) = run_bad_input("full_fail_fast");
    let accepted: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("accepted "))
        .unwrap()
        .parse()
        .unwrap();
    // The small ring holds RunStart and every accepted metric; the refused
    // call is reported as a drop ahead of RunEnd.
    let small = rings
        .iter()
        .find(|r| r.iter().filter(|(_, x)| x.metric().is_some()).count() == accepted)
        .expect("the small ring holds every accepted metric");
    for (i, (_, rec)) in small.iter().skip(1).take(accepted).enumerate() {
        assert_eq!(rec.metric(), Some(("x", &Val::F64(i as f64))));
    }
    let dropped: u32 = ring_files(&dir_of("full_fail_fast"))
        .iter()
        .map(|p| SpoolReader::attach(p).unwrap().dropped_total())
        .sum();
    assert!(
        dropped >= 1,
        "the refused call is counted in the ring header"
    );
}

fn dir_of(case: &str) -> PathBuf {
    scratch_path(&format!("bad-{case}")).join("spool")
}

#[test]
fn nan_and_infinities_are_values() {
    let (_, rings) = run_bad_input("nan_inf");
    let recs: Vec<&Rec> = rings[0].iter().map(|(_, r)| r).collect();
    match recs[1].metric() {
        Some(("nan", Val::F64(v))) => assert!(v.is_nan()),
        other => panic!("{other:?}"),
    }
    assert_eq!(recs[2].metric(), Some(("inf", &Val::F64(f64::INFINITY))));
    match recs[3].metric() {
        Some(("vals", Val::F64List(v))) => {
            assert_eq!(v[0], f64::NEG_INFINITY);
            assert!(v[1].is_nan());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(recs[4].metric(), Some(("empty", &Val::F64List(vec![]))));
    assert_eq!(recs[5].metric().unwrap().0.len(), 250);
}

#[test]
fn eight_threads_lose_nothing_and_keep_their_order() {
    let dir = scratch_dir("threads");
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let drainer = Drainer::start(&spool, true);
    let out = Command::new(program("threads"))
        .current_dir(&dir)
        .env("RUNLOG_SPOOL", &spool)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = all_records(&drainer.finish());
    let mut per_thread: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (_, rec) in &records {
        match rec {
            Rec::Metric { name, value, .. } => {
                let v = match value {
                    Val::I64(v) => *v,
                    Val::F64(v) => *v as i64,
                    other => panic!("{other:?}"),
                };
                per_thread.entry(name.clone()).or_default().push(v);
            }
            Rec::Dropped(n) => panic!("{n} records dropped"),
            _ => {}
        }
    }
    assert_eq!(per_thread.len(), 8);
    let expected: Vec<i64> = (0..20000).collect();
    for (name, values) in per_thread {
        assert_eq!(values, expected, "{name}: every record, in order");
    }
    assert_eq!(records.last().unwrap().1, Rec::RunEnd(RunStatus::Finished));
}

#[test]
fn sigkill_loses_no_accepted_record() {
    let dir = scratch_dir("sigkill");
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let drainer = Drainer::start(&spool, true);
    let mut child = Command::new(program("sigkill"))
        .current_dir(&dir)
        .env("RUNLOG_SPOOL", &spool)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut returned: Vec<(u64, i64)> = Vec::new();
    let start = Instant::now();
    while returned.len() < 30000 {
        let line = lines.next().expect("program died early").unwrap();
        let mut it = line.split(' ');
        returned.push((
            it.next().unwrap().parse().unwrap(),
            it.next().unwrap().parse().unwrap(),
        ));
        assert!(start.elapsed() < Duration::from_secs(120));
    }
    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGKILL) }, 0);
    // Every line written before the kill is still in the pipe.
    for line in lines {
        let line = line.unwrap();
        let mut it = line.split(' ');
        if let (Some(t), Some(v)) = (it.next(), it.next()) {
            if let (Ok(t), Ok(v)) = (t.parse(), v.parse()) {
                returned.push((t, v));
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success());
    let records = all_records(&drainer.finish());
    let by_seq: BTreeMap<u64, &Rec> = records.iter().map(|(s, r)| (*s, r)).collect();
    for (ticket, value) in &returned {
        let rec = by_seq
            .get(ticket)
            .unwrap_or_else(|| panic!("record {ticket} lost after SIGKILL"));
        assert_eq!(rec.metric(), Some(("step", &Val::I64(*value))));
    }
    assert!(
        !records.iter().any(|(_, r)| matches!(r, Rec::RunEnd(_))),
        "a killed process writes no RunEnd"
    );
    eprintln!(
        "{} records returned before SIGKILL, {} found",
        returned.len(),
        records.len()
    );
}

#[test]
fn device_api_frames_decode_end_to_end() {
    let dir = scratch_dir("device");
    let out = Command::new(program("device"))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut decoder = FrameDecoder::new();
    let mut recs = Vec::new();
    decoder.feed(&out.stdout, |ev| match ev {
        Event::Record { seq, record } => recs.push((seq, Rec::from_record(&record))),
        other => panic!("{other:?}"),
    });
    let seqs: Vec<u64> = recs.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (0..recs.len() as u64).collect::<Vec<_>>(),
        "no gaps, no repeats"
    );
    assert_eq!(
        recs[0].1,
        Rec::RunStart {
            run_id: "dev-run".into(),
            experiment: "firmware".into()
        }
    );
    assert_eq!(recs[1].1.metric(), Some(("boot", &Val::I64(1))));
    for i in 0..100 {
        assert_eq!(
            recs[2 + i].1.metric(),
            Some(("temp", &Val::F64(20.0 + i as f64 * 0.5)))
        );
    }
    assert_eq!(
        recs[102].1.metric(),
        Some(("fw", &Val::Str("1.2.3".into())))
    );
    assert_eq!(
        recs[103].1.metric(),
        Some(("hist", &Val::I64List(vec![1, 2, 3, 4])))
    );
    let arts = artifacts(&recs, &dir);
    assert_eq!(
        arts["cal/table.txt"],
        b"calibration table v7: 0 1 1 2 3 5 8 13 21 34 55 89"
    );
    assert_eq!(recs.last().unwrap().1, Rec::RunEnd(RunStatus::Finished));
    assert!(recs
        .iter()
        .all(|(_, r)| r.metric().map(|m| m.0) != Some("late")));
}

#[test]
fn cpp_wrapper_overloads_and_exceptions() {
    let dir = scratch_dir("cpp-wrapper");
    let exe = dir.join("wrapper");
    CBuild::cxx17().build(&[repo_root().join("tests/c/wrapper.cpp")], &exe);
    let out = Command::new(&exe)
        .current_dir(&dir)
        .env("RUNLOG_SPOOL", dir.join("spool"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("no uploader is draining"), "{stdout}");
    let rings = read_spool(&dir.join("spool"));
    let recs: Vec<&Rec> = rings[0].iter().map(|(_, r)| r).collect();
    let m: BTreeMap<&str, &Val> = recs.iter().filter_map(|r| r.metric()).collect();
    assert_eq!(m["int"], &Val::I64(7));
    assert_eq!(m["uint8"], &Val::I64(200));
    assert_eq!(m["bool"], &Val::I64(1));
    assert_eq!(m["float"], &Val::F64(0.25));
    assert_eq!(m["cstr"], &Val::Str("text".into()));
    assert_eq!(m["string"], &Val::Str("owned".into()));
    assert_eq!(m["view"], &Val::Str("viewed".into()));
    assert_eq!(m["ints"], &Val::I64List(vec![1, 2, 3]));
    assert_eq!(m["doubles"], &Val::F64List(vec![0.5, 1.5]));
    assert_eq!(m["array"], &Val::F64List(vec![1.0, 2.0, 3.0]));
    assert_eq!(m["deque"], &Val::I64List(vec![4, 5]));
    assert_eq!(m["list"], &Val::F64List(vec![6.5, 7.5]));
    assert_eq!(m["vector"], &Val::I64List(vec![-1, -2]));
    assert!(!m.contains_key(""));
    let arts = artifacts(&rings[0], &dir.join("spool"));
    assert_eq!(arts["bytes.bin"], vec![1, 2, 3]);
    assert_eq!(recs.last().unwrap(), &&Rec::RunEnd(RunStatus::Finished));
}

#[test]
fn a_fork_child_cannot_write_into_the_parents_ring() {
    let (_, rings) = run_bad_input("fork_child");
    assert_eq!(rings.len(), 2, "the parent's ring and the child's own");
    let names: Vec<Vec<&str>> = rings
        .iter()
        .map(|r| {
            r.iter()
                .filter_map(|(_, x)| x.metric().map(|m| m.0))
                .collect()
        })
        .collect();
    assert!(names.contains(&vec!["parent", "parent"]), "{names:?}");
    assert!(names.contains(&vec!["child.own"]), "{names:?}");
}

#[test]
fn exit_hook_ends_the_run_quietly_without_an_uploader() {
    let dir = scratch_dir("bad-exit_without_uploader");
    let exe = program("bad_input");
    let start = std::time::Instant::now();
    let out = Command::new(exe)
        .arg("exit_without_uploader")
        .current_dir(&dir)
        .env("RUNLOG_SPOOL", dir.join("spool"))
        .env("RUNLOG_RUN_ID", "exit-hook")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "no waiting without an uploader"
    );
    let rings = read_spool(&dir.join("spool"));
    let global = rings
        .iter()
        .find(|r| matches!(&r[0].1, Rec::RunStart { run_id, .. } if run_id == "exit-hook"))
        .expect("the process-wide logger's ring");
    assert_eq!(global.last().unwrap().1, Rec::RunEnd(RunStatus::Finished));
}
