//! The host C ABI called from Rust (the same exported functions C calls):
//! staged artifacts, the full-ring policies, and the spool file layout.

use std::ffi::CString;
use std::ptr;
use std::time::{Duration, Instant};

use runlog::host::artifact::runlog_upload_file;
use runlog::host::options::{runlog_open, runlog_options_default};
use runlog::logger::*;
use runlog::status::*;
use runlog_tests::{all_records, artifacts, ring_files, scratch_dir, Drainer, Rec, Val};

fn open(spool: &std::path::Path, capacity: u64, full_timeout_ms: u32) -> *mut runlog_logger {
    let dir = CString::new(spool.to_str().unwrap()).unwrap();
    let mut o = runlog_options_default();
    o.spool_dir = dir.as_ptr();
    o.run_id = c"host-api".as_ptr();
    o.ring_capacity = capacity;
    o.full_timeout_ms = full_timeout_ms;
    let mut l = ptr::null_mut();
    // SAFETY: valid options and out pointer.
    assert_eq!(unsafe { runlog_open(&o, &mut l) }, RUNLOG_STATUS_OK);
    l
}

fn pseudo_random(n: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn large_artifacts_are_staged_as_files_and_small_ones_go_through_the_ring() {
    let dir = scratch_dir("staged");
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let drainer = Drainer::start(&spool, true);
    let l = open(&spool, 64 * 1024, 5000);
    let big = pseudo_random(1 << 20);
    let small = pseudo_random(5000);
    let file = dir.join("weights.bin");
    let from_file = pseudo_random(300_000);
    std::fs::write(&file, &from_file).unwrap();
    let file_c = CString::new(file.to_str().unwrap()).unwrap();
    let mut t = 0;
    // SAFETY: valid handle, strings and buffers.
    unsafe {
        assert_eq!(
            runlog_upload(
                l,
                c"big.bin".as_ptr(),
                big.as_ptr().cast(),
                big.len(),
                &mut t
            ),
            RUNLOG_STATUS_OK
        );
        assert_eq!(
            runlog_upload(
                l,
                c"small.bin".as_ptr(),
                small.as_ptr().cast(),
                small.len(),
                ptr::null_mut()
            ),
            RUNLOG_STATUS_OK
        );
        assert_eq!(
            runlog_upload_file(l, c"model/w.bin".as_ptr(), file_c.as_ptr(), &mut t),
            RUNLOG_STATUS_OK
        );
        assert_eq!(
            runlog_upload(l, c"empty.txt".as_ptr(), ptr::null(), 0, ptr::null_mut()),
            RUNLOG_STATUS_OK
        );
        assert_eq!(runlog_wait(l, t, 10_000), RUNLOG_STATUS_OK);
        assert_eq!(runlog_close(l, 10_000), RUNLOG_STATUS_OK);
    }
    // The source file may change afterwards: the artifact was copied.
    std::fs::write(&file, b"changed").unwrap();
    let records = all_records(&drainer.finish());
    let staged: Vec<&String> = records
        .iter()
        .filter_map(|(_, r)| match r {
            Rec::ArtifactFile { file, .. } => Some(file),
            _ => None,
        })
        .collect();
    assert_eq!(staged.len(), 2, "big.bin and model/w.bin are staged");
    for name in &staged {
        assert!(
            name.starts_with("host-api-") && name.ends_with(".blob"),
            "{name}"
        );
    }
    let arts = artifacts(&records, &spool);
    assert_eq!(arts["big.bin"], big);
    assert_eq!(arts["small.bin"], small);
    assert_eq!(arts["model/w.bin"], from_file);
    assert_eq!(arts["empty.txt"], Vec::<u8>::new());
    // Only finished files: the ring and the staged blobs, no temp files.
    let mut names: Vec<String> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn a_full_ring_blocks_up_to_the_timeout_then_reports_full() {
    let dir = scratch_dir("blocking");
    let spool = dir.join("spool");
    let l = open(&spool, 4096, 300);
    let mut accepted = 0u32;
    let status = loop {
        // SAFETY: valid handle and name.
        let s = unsafe { runlog_log_f64(l, c"x".as_ptr(), 1.0, ptr::null_mut()) };
        if s != RUNLOG_STATUS_OK {
            break s;
        }
        accepted += 1;
    };
    assert_eq!(status, RUNLOG_STATUS_FULL);
    // A consumer that starts later makes room: a blocked call then succeeds.
    let ring = ring_files(&spool).pop().unwrap();
    let started = Instant::now();
    let drainer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let mut r = runlog_tests::SpoolReader::attach(&ring).unwrap();
        let mut n = 0;
        while started.elapsed() < Duration::from_secs(2) {
            n += r.drain(|_, _| {}).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        n
    });
    let t0 = Instant::now();
    // SAFETY: valid handle and name.
    let s = unsafe { runlog_log_f64(l, c"x".as_ptr(), 2.0, ptr::null_mut()) };
    let waited = t0.elapsed();
    assert_eq!(s, RUNLOG_STATUS_OK, "blocked until the consumer made room");
    assert!(waited >= Duration::from_millis(50), "{waited:?}");
    // SAFETY: valid handle.
    unsafe { runlog_close(l, 1000) };
    let drained = drainer.join().unwrap();
    // Start + accepted + the call that failed is counted as a drop notice + 2.0 + end.
    assert!(drained >= accepted as usize + 3, "{drained} vs {accepted}");
}

#[test]
fn tickets_are_sequence_numbers_and_wait_sees_commits() {
    let dir = scratch_dir("tickets");
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let l = open(&spool, 0, 1000);
    let mut tickets = Vec::new();
    for i in 0..5 {
        let mut t = u64::MAX;
        // SAFETY: valid handle and name.
        let s = unsafe { runlog_log_i64(l, c"n".as_ptr(), i, &mut t) };
        assert_eq!(s, RUNLOG_STATUS_OK);
        tickets.push(t);
    }
    assert_eq!(tickets, vec![1, 2, 3, 4, 5], "RunStart is ticket 0");
    // SAFETY: valid handle.
    assert_eq!(unsafe { runlog_wait(l, 5, 0) }, RUNLOG_STATUS_TIMEOUT);
    let drainer = Drainer::start(&spool, true);
    // SAFETY: valid handle.
    assert_eq!(unsafe { runlog_wait(l, 5, 10_000) }, RUNLOG_STATUS_OK);
    // SAFETY: valid handle.
    assert_eq!(unsafe { runlog_flush(l, 10_000) }, RUNLOG_STATUS_OK);
    // SAFETY: valid handle.
    assert_eq!(unsafe { runlog_close(l, 10_000) }, RUNLOG_STATUS_OK);
    let recs = all_records(&drainer.finish());
    let values: Vec<&Val> = recs
        .iter()
        .filter_map(|(_, r)| r.metric().map(|m| m.1))
        .collect();
    assert_eq!(
        values,
        (0..5)
            .map(Val::I64)
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_second_thread_takes_the_logger_over_from_its_first_without_loss_or_reorder() {
    // One thread logs alone, then a second thread joins while the first
    // keeps logging. Repeated so the second thread's first call lands at
    // many points of the first's calls.
    const BEFORE: i64 = 500;
    const EACH: i64 = 3000;
    for round in 0..30 {
        let dir = scratch_dir(&format!("handover-{round}"));
        let spool = dir.join("spool");
        std::fs::create_dir_all(&spool).unwrap();
        let drainer = Drainer::start(&spool, true);
        let l = open(&spool, 64 * 1024, 60_000) as usize;
        let log = |name: &std::ffi::CStr, k: i64| {
            let l = l as *mut runlog_logger;
            // SAFETY: valid handle and NUL-terminated name.
            let s = unsafe {
                if k % 2 == 0 {
                    runlog_log_i64(l, name.as_ptr(), k, ptr::null_mut())
                } else {
                    runlog_log_f64(l, name.as_ptr(), k as f64, ptr::null_mut())
                }
            };
            assert_eq!(s, RUNLOG_STATUS_OK);
        };
        for k in 0..BEFORE {
            log(c"first", k);
        }
        std::thread::scope(|s| {
            s.spawn(|| (0..EACH).for_each(|k| log(c"second", k)));
            (BEFORE..BEFORE + EACH).for_each(|k| log(c"first", k));
        });
        // SAFETY: valid handle, closed once.
        let closed = unsafe { runlog_close(l as *mut runlog_logger, 30_000) };
        assert_eq!(closed, RUNLOG_STATUS_OK);
        let recs = all_records(&drainer.finish());
        for (name, want) in [("first", 0..BEFORE + EACH), ("second", 0..EACH)] {
            let got: Vec<i64> = recs
                .iter()
                .filter_map(|(_, r)| r.metric())
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| match v {
                    Val::I64(k) => *k,
                    Val::F64(x) => *x as i64,
                    other => panic!("unexpected value {other:?}"),
                })
                .collect();
            assert_eq!(got, want.collect::<Vec<_>>(), "round {round}: {name}");
        }
    }
}
