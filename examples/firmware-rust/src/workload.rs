//! What the firmware logs. The values are fixed so that the end-to-end tests
//! (tests/tests/firmware_qemu.rs) can check that each one arrives intact; keep
//! the two in step.

/// The run's id.
pub const RUN_ID: &str = "qemu-rust-run";
/// The experiment it belongs to.
pub const EXPERIMENT: &str = "firmware-rust";
/// How many times the repeated scalar metric `loss` is logged.
pub const LOSS_STEPS: u32 = 500;
/// The artifact's path under the run's artifacts.
pub const ARTIFACT_PATH: &str = "calibration/table.csv";
/// The artifact's content.
pub const ARTIFACT: &[u8] = b"channel,gain,offset\n\
0,1.0000,0.0000\n\
1,0.9975,-0.0125\n\
2,1.0031,0.0042\n\
3,0.9990,0.0008\n";
/// Bytes per artifact chunk record.
#[cfg_attr(not(feature = "runlog"), allow(dead_code))]
pub const ARTIFACT_CHUNK: usize = 32;

/// The value of `loss` at step `i`: exact IEEE arithmetic, so the host can
/// recompute it bit for bit.
pub fn loss(i: u32) -> f64 {
    1.0 / f64::from(i + 1)
}

/// Where the workload sends its values: runlog, or raw bytes for the baseline.
pub trait Sink {
    /// The run begins.
    fn start(&mut self, run_id: &str, experiment: &str);
    /// An integer metric.
    fn i64(&mut self, name: &str, value: i64);
    /// A float metric.
    fn f64(&mut self, name: &str, value: f64);
    /// A string metric (a tag).
    fn text(&mut self, name: &str, value: &str);
    /// A list of floats.
    fn f64_list(&mut self, name: &str, values: &[f64]);
    /// A list of integers.
    fn i64_list(&mut self, name: &str, values: &[i64]);
    /// A small file.
    fn artifact(&mut self, path: &str, content: &[u8]);
    /// The run ends; everything logged must be on the wire when this returns.
    fn finish(&mut self, ok: bool);
}

/// Logs every kind of value, then `loss` many times, then an artifact.
pub fn run(sink: &mut impl Sink) {
    sink.start(RUN_ID, EXPERIMENT);
    sink.i64("batch_size", 32);
    sink.i64("offset_ns", -1_234_567_890_123);
    sink.f64("learning_rate", 0.001);
    sink.f64("pi", core::f64::consts::PI);
    sink.text("board", "mps2-an386");
    sink.f64_list("calibration", &[0.5, -1.25, 1e-300, 6.022_140_76e23]);
    sink.i64_list("histogram", &[0, 1, -1, i64::MAX, i64::MIN, 42]);
    for i in 0..LOSS_STEPS {
        sink.f64("loss", loss(i));
    }
    sink.i64("steps", i64::from(LOSS_STEPS));
    sink.artifact(ARTIFACT_PATH, ARTIFACT);
    sink.finish(true);
}
