//! End to end on an emulated Cortex-M4: the example firmware logs through
//! runlog into a static ring and drains it to its UART; QEMU writes the UART
//! to a file; the frames are decoded here and every value is checked.
//!
//! These tests build firmware for thumbv7em-none-eabihf and boot
//! `qemu-system-arm`, so they are ignored by a plain `cargo test`;
//! scripts/test-firmware.sh runs them (`-- --ignored`).

mod firmware;

use std::path::Path;

use firmware::{
    build_c_firmware, build_c_firmware_with, build_rust_firmware, decode_capture, drain_over_tcp,
    expected_loss, repo_root, run_qemu, runlog, runlog_bin, scratch_dir, stream_bytes_per_metric,
    Got, Qemu,
};
use serde_json::Value as Json;

/// The values examples/firmware-rust/src/workload.rs logs.
mod workload {
    pub const RUN_ID: &str = "qemu-rust-run";
    pub const EXPERIMENT: &str = "firmware-rust";
    pub const LOSS_STEPS: u32 = 500;
    pub const ARTIFACT_PATH: &str = "calibration/table.csv";
    pub const ARTIFACT: &[u8] = b"channel,gain,offset\n\
0,1.0000,0.0000\n\
1,0.9975,-0.0125\n\
2,1.0031,0.0042\n\
3,0.9990,0.0008\n";
}

#[test]
#[ignore = "builds thumbv7em firmware and boots qemu-system-arm; run by scripts/test-firmware.sh"]
fn rust_firmware_metrics_arrive_over_the_uart() {
    let root = repo_root();
    let elf = build_rust_firmware(&root);
    let dir = scratch_dir("rust-uart");
    let capture = dir.join("uart.bin");
    let console = run_qemu(&elf, &format!("file:{}", capture.display()));
    print!("firmware console: {console}");
    check_capture(&capture, workload::RUN_ID, workload::EXPERIMENT);
}

#[test]
#[ignore = "builds the C firmware with arm-none-eabi-gcc and boots qemu-system-arm; run by scripts/test-firmware.sh"]
fn c_firmware_metrics_arrive_over_the_uart() {
    let root = repo_root();
    let dir = scratch_dir("c-uart");
    let elf = build_c_firmware(&root, &dir.join("build"));
    let capture = dir.join("uart.bin");
    let console = run_qemu(&elf, &format!("file:{}", capture.display()));
    print!("firmware console: {console}");
    check_capture(&capture, "qemu-c-run", "firmware-c");
}

#[test]
#[ignore = "builds the C firmware with arm-none-eabi-gcc and boots qemu-system-arm; run by scripts/test-firmware.sh"]
fn c_firmware_reports_a_failed_call_and_exits_1() {
    // A buffer too small for runlog: `runlog_init_static` refuses it
    // (INVALID_ARGUMENT, 12), every later call gets NULL_ARGUMENT, and the
    // example's sink reports the first failure instead of claiming success.
    let root = repo_root();
    let dir = scratch_dir("c-fail");
    let elf = build_c_firmware_with(
        &root,
        &dir.join("build"),
        &["CPPFLAGS=-DRUNLOG_BUFFER_LEN=512"],
    );
    let capture = dir.join("uart.bin");
    let (status, console) = Qemu::spawn(&elf, &format!("file:{}", capture.display())).wait_status();
    print!("firmware console: {console}");
    assert!(!status.success(), "the firmware exited 0: {console}");
    assert!(
        console.contains("firmware-c: failed: runlog status 12"),
        "{console}"
    );
    assert!(!console.contains("done"), "{console}");
    let sent = std::fs::metadata(&capture).map(|m| m.len()).unwrap_or(0);
    assert_eq!(sent, 0, "nothing was logged, so nothing is sent");
}

#[test]
#[ignore = "boots qemu-system-arm and runs the runlog binary; run by scripts/test-firmware.sh"]
fn rust_firmware_stores_through_runlog_drain_over_tcp() {
    let root = repo_root();
    let bin = runlog_bin(&root);
    let elf = build_rust_firmware(&root);
    let dir = scratch_dir("rust-drain");
    drain_over_tcp(&bin, &elf, &dir);
    check_store(&bin, &dir, workload::RUN_ID, workload::EXPERIMENT);
}

#[test]
#[ignore = "builds the C firmware, boots qemu-system-arm and runs the runlog binary; run by scripts/test-firmware.sh"]
fn c_firmware_stores_through_runlog_drain_over_tcp() {
    let root = repo_root();
    let bin = runlog_bin(&root);
    let dir = scratch_dir("c-drain");
    let elf = build_c_firmware(&root, &dir.join("build"));
    drain_over_tcp(&bin, &elf, &dir);
    check_store(&bin, &dir, "qemu-c-run", "firmware-c");
}

/// Checks what `runlog drain` stored, through `runlog history` and the
/// SQLite store itself.
fn check_store(bin: &Path, dir: &Path, run_id: &str, experiment: &str) {
    let last: Json = serde_json::from_str(&runlog(bin, dir, &["history", "last", "-o", "json"]))
        .expect("history last -o json prints JSON");
    let run = &last["run"];
    assert_eq!(run["run_id"], run_id, "{last:#}");
    assert_eq!(run["experiment"], experiment);
    assert_eq!(run["status"], "FINISHED");
    assert_eq!(run["dropped"], 0);
    assert_eq!(run["lost_records"], 0);

    let metric = |name: &str| -> &Json {
        last["metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("metric {name} not stored: {last:#}"))
    };
    let f64_bits = |v: &Json| v.as_f64().expect("a float").to_bits();
    for (name, value) in [
        ("batch_size", 32),
        ("offset_ns", -1_234_567_890_123),
        ("steps", 500),
    ] {
        let m = metric(name);
        assert_eq!(
            (m["kind"].as_str(), m["count"].as_u64()),
            (Some("int"), Some(1)),
            "{name}"
        );
        assert_eq!(m["last"]["int"].as_i64(), Some(value), "{name}");
    }
    for (name, value) in [("learning_rate", 0.001), ("pi", std::f64::consts::PI)] {
        let m = metric(name);
        assert_eq!(m["kind"], "float", "{name}");
        assert_eq!(f64_bits(&m["last"]["float"]), value.to_bits(), "{name}");
    }
    assert_eq!(metric("board")["last"]["text"], "mps2-an386");
    let calibration: Vec<u64> = metric("calibration")["last"]["float_list"]
        .as_array()
        .expect("a float list")
        .iter()
        .map(f64_bits)
        .collect();
    let want: Vec<u64> = [0.5f64, -1.25, 1e-300, 6.022_140_76e23]
        .iter()
        .map(|v| v.to_bits())
        .collect();
    assert_eq!(calibration, want);
    let histogram: Vec<i64> = metric("histogram")["last"]["int_list"]
        .as_array()
        .expect("an int list")
        .iter()
        .map(|v| v.as_i64().expect("an i64"))
        .collect();
    assert_eq!(histogram, [0, 1, -1, i64::MAX, i64::MIN, 42]);
    let loss = metric("loss");
    assert_eq!(loss["count"], workload::LOSS_STEPS);
    assert_eq!(loss["last_step"], workload::LOSS_STEPS - 1);

    // Every value of the repeated scalar, in order, from the store itself.
    let db = rusqlite::Connection::open(dir.join(".runlog").join("history.sqlite"))
        .expect("open the store");
    runlog_uploader::store::series::create_points_table(&db).expect("list the points");
    let mut q = db
        .prepare(
            "SELECT v.step, v.value FROM metric_values v JOIN series s ON s.id = v.series \
             JOIN runs r ON r.id = s.run WHERE r.run_id = ?1 AND s.name = 'loss' ORDER BY v.idx",
        )
        .expect("query the store");
    let rows: Vec<(i64, f64)> = q
        .query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("read loss")
        .collect::<Result<_, _>>()
        .expect("read loss rows");
    assert_eq!(rows.len(), workload::LOSS_STEPS as usize);
    for (i, (step, value)) in rows.iter().enumerate() {
        assert_eq!(*step, i as i64, "loss step");
        assert_eq!(
            value.to_bits(),
            expected_loss(i as u32).to_bits(),
            "loss[{i}]"
        );
    }

    let artifact = runlog(
        bin,
        dir,
        &[
            "history",
            "info",
            "-r",
            run_id,
            "-a",
            workload::ARTIFACT_PATH,
        ],
    );
    assert_eq!(artifact.as_bytes(), workload::ARTIFACT);
}

/// Decodes a UART capture and checks every value of the workload, and the
/// bytes spent per repeated scalar.
fn check_capture(capture: &Path, run_id: &str, experiment: &str) {
    let bytes = std::fs::read(capture).expect("read the UART capture");
    assert!(!bytes.is_empty(), "the firmware sent nothing on its UART");

    let got = decode_capture(&bytes);
    assert_eq!(got.frames_lost, 0, "frames lost: {:?}", got.errors);
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert_eq!(got.records_lost, 0, "records lost in the stream");
    assert_eq!(got.dropped, 0, "the ring refused log calls");
    assert_eq!(got.run_start, Some((run_id.into(), experiment.into())));
    assert_eq!(got.run_end.as_deref(), Some("Finished"));
    check_metrics(&got);

    let artifact = got
        .artifacts
        .get(workload::ARTIFACT_PATH)
        .expect("the artifact arrived");
    assert!(
        artifact.crc_ok,
        "artifact CRC-32 does not match its content"
    );
    assert_eq!(artifact.content, workload::ARTIFACT);

    let per_metric = stream_bytes_per_metric(&bytes, "loss");
    println!(
        "{run_id}: UART bytes per repeated scalar f64 metric: {:.2} ({} bytes for {} records, framing included); {} bytes in total",
        per_metric.bytes as f64 / per_metric.records as f64,
        per_metric.bytes,
        per_metric.records,
        bytes.len()
    );
    assert!(
        per_metric.records >= 400,
        "too few loss-only frames to measure"
    );
    assert!(
        per_metric.bytes <= 12 * per_metric.records,
        "more than 12 bytes per repeated f64 metric"
    );
}

fn check_metrics(got: &Got) {
    use firmware::Val::*;
    let one = |name: &str| {
        let v = got
            .metrics
            .get(name)
            .unwrap_or_else(|| panic!("metric {name} missing"));
        assert_eq!(v.len(), 1, "metric {name} logged once");
        v[0].clone()
    };
    assert_eq!(one("batch_size"), I64(32));
    assert_eq!(one("offset_ns"), I64(-1_234_567_890_123));
    assert_eq!(one("learning_rate"), F64(0.001f64.to_bits()));
    assert_eq!(one("pi"), F64(std::f64::consts::PI.to_bits()));
    assert_eq!(one("board"), Str("mps2-an386".into()));
    assert_eq!(
        one("calibration"),
        F64List(
            [0.5, -1.25, 1e-300, 6.022_140_76e23]
                .iter()
                .map(|v: &f64| v.to_bits())
                .collect()
        )
    );
    assert_eq!(
        one("histogram"),
        I64List(vec![0, 1, -1, i64::MAX, i64::MIN, 42])
    );
    assert_eq!(one("steps"), I64(i64::from(workload::LOSS_STEPS)));
    let loss = got.metrics.get("loss").expect("loss arrived");
    assert_eq!(loss.len(), workload::LOSS_STEPS as usize);
    for (i, v) in loss.iter().enumerate() {
        assert_eq!(*v, F64(expected_loss(i as u32).to_bits()), "loss[{i}]");
    }
}
