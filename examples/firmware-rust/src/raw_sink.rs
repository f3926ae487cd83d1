//! The baseline: the same values written to the UART as raw bytes (name,
//! then value), with no framing, no checksum and no buffering. Only
//! scripts/footprint.sh uses it, to measure what runlog adds.

use crate::uart::Uart;
use crate::workload::Sink;

/// Writes names and values straight to the UART.
pub struct RawSink {
    uart: Uart,
}

impl RawSink {
    /// A sink writing to `uart`.
    pub fn new(uart: Uart) -> Self {
        Self { uart }
    }
}

impl Sink for RawSink {
    fn start(&mut self, run_id: &str, experiment: &str) {
        self.uart.put_all(run_id.as_bytes());
        self.uart.put_all(experiment.as_bytes());
    }

    fn i64(&mut self, name: &str, value: i64) {
        self.uart.put_all(name.as_bytes());
        self.uart.put_all(&value.to_le_bytes());
    }

    fn f64(&mut self, name: &str, value: f64) {
        self.uart.put_all(name.as_bytes());
        self.uart.put_all(&value.to_le_bytes());
    }

    fn text(&mut self, name: &str, value: &str) {
        self.uart.put_all(name.as_bytes());
        self.uart.put_all(value.as_bytes());
    }

    fn f64_list(&mut self, name: &str, values: &[f64]) {
        self.uart.put_all(name.as_bytes());
        for v in values {
            self.uart.put_all(&v.to_le_bytes());
        }
    }

    fn i64_list(&mut self, name: &str, values: &[i64]) {
        self.uart.put_all(name.as_bytes());
        for v in values {
            self.uart.put_all(&v.to_le_bytes());
        }
    }

    fn artifact(&mut self, path: &str, content: &[u8]) {
        self.uart.put_all(path.as_bytes());
        self.uart.put_all(content);
    }

    fn finish(&mut self, ok: bool) {
        self.uart.put(u8::from(ok));
        self.uart.flush();
    }
}
