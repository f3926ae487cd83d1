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
    build_c_firmware, build_rust_firmware, decode_capture, expected_loss, repo_root, run_qemu,
    scratch_dir, stream_bytes_per_metric, Got,
};

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
