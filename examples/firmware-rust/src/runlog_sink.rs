//! Logging through runlog-core: records go into a static ring, and the ring
//! drains to the UART as COBS + CRC frames.
//!
//! The ring is drained from the main loop whenever `DRAIN_AT` records are
//! waiting, as a firmware would from its idle loop or a timer. A frame
//! shares its header, CRC and name definitions among all the records it
//! carries, so the fewer and fuller the frames, the fewer bytes per metric.

use core::mem::MaybeUninit;
use runlog_core::crc::Crc32;

use runlog_core::{
    drain_uninit, F64List, I64List, Metric, Name, Producer, PushError, Record, Ring, RunStart,
    RunStatus, Value,
};

use crate::uart::Uart;
use crate::workload::{Sink, ARTIFACT_CHUNK};

/// Size of the ring's data area (a power of two).
pub const RING_CAPACITY: usize = 2048;
/// Records logged since the last drain that trigger the next one.
const DRAIN_AT: u32 = 40;
/// The drain's frame scratch (on the stack while it runs): payloads of up
/// to 512 bytes, and the two spare bytes the drain's in-place COBS encoder
/// needs.
const FRAME_SCRATCH: usize = runlog_core::frame::scratch_len(512);

/// The ring's storage: header and data area, aligned for the header.
#[repr(C, align(64))]
pub struct RingStorage(pub [u8; runlog_core::ring::storage_len(RING_CAPACITY as u32)]);

/// Logs into the ring and drains it to the UART.
pub struct RunlogSink<'r> {
    producer: Producer<'r>,
    /// From `Ring::split`: its records come from `producer` only, so the
    /// drain does not check them again (and the firmware does not link that check).
    consumer: runlog_core::Consumer<'r, true>,
    uart: Uart,
    /// Records logged since the last drain.
    pending: u32,
    /// Records that could not be logged or sent; the run then ends as failed.
    lost: u32,
}

impl<'r> RunlogSink<'r> {
    /// Formats `storage` as a ring whose frames go to `uart`.
    pub fn new(storage: &'r mut RingStorage, uart: Uart) -> Option<Self> {
        let (producer, consumer) = Ring::format(&mut storage.0).ok()?.split();
        Some(Self {
            producer,
            consumer,
            uart,
            pending: 0,
            lost: 0,
        })
    }

    fn push(&mut self, record: &Record<'_>) {
        if self.pending >= DRAIN_AT {
            self.drain();
        }
        self.pending += 1;
        // A first refusal is not counted as a drop: the record is retried
        // after a drain, and only a second refusal loses it (and is counted,
        // reaching the store as a `Dropped` record).
        match self.producer.try_push_record(record) {
            Ok(_) => {}
            // Only if records larger than planned filled the ring early.
            Err(PushError::Full) => {
                self.drain();
                if self.producer.push(record).is_err() {
                    self.lost += 1;
                }
            }
            Err(_) => self.lost += 1,
        }
    }

    fn metric(&mut self, name: &str, value: Value<'_>) {
        self.push(&Record::Metric(Metric {
            name: Name::Text(name),
            value,
            step: None,
            time_ms: None,
        }));
    }

    /// Sends what the ring holds; returns whether anything left the ring.
    fn drain(&mut self) -> bool {
        self.pending = 0;
        // Not zeroed: the drain only reads what it wrote (and zeroing would link `memclr`).
        let mut scratch = [MaybeUninit::<u8>::uninit(); FRAME_SCRATCH];
        match drain_uninit(&mut self.consumer, &mut scratch, &mut self.uart, usize::MAX) {
            Ok(stats) => {
                self.lost += stats.discarded;
                stats.records + stats.discarded != 0
            }
            Err(_) => {
                self.lost += 1;
                false
            }
        }
    }
}

impl Sink for RunlogSink<'_> {
    fn start(&mut self, run_id: &str, experiment: &str) {
        self.push(&Record::RunStart(RunStart {
            run_id,
            experiment,
            time_ms: None,
        }));
    }

    fn i64(&mut self, name: &str, value: i64) {
        self.metric(name, Value::I64(value));
    }

    fn f64(&mut self, name: &str, value: f64) {
        self.metric(name, Value::F64(value));
    }

    fn text(&mut self, name: &str, value: &str) {
        self.metric(name, Value::Str(value));
    }

    fn f64_list(&mut self, name: &str, values: &[f64]) {
        self.metric(name, Value::F64List(F64List::new(values)));
    }

    fn i64_list(&mut self, name: &str, values: &[i64]) {
        self.metric(name, Value::I64List(I64List::new(values)));
    }

    fn artifact(&mut self, path: &str, content: &[u8]) {
        const ID: u32 = 1;
        self.push(&Record::ArtifactBegin {
            id: ID,
            path,
            len: content.len() as u64,
        });
        let mut crc = Crc32::new();
        let mut offset = 0u64;
        for chunk in content.chunks(ARTIFACT_CHUNK) {
            crc.update(chunk);
            self.push(&Record::ArtifactChunk {
                id: ID,
                offset,
                data: runlog_core::Bytes(chunk),
            });
            offset += chunk.len() as u64;
        }
        self.push(&Record::ArtifactEnd {
            id: ID,
            crc32: crc.finish(),
        });
    }

    fn finish(&mut self, ok: bool) {
        let status = if ok && self.lost == 0 {
            RunStatus::Finished
        } else {
            RunStatus::Failed
        };
        self.push(&Record::RunEnd {
            status,
            time_ms: None,
        });
        self.producer.close();
        // Stops on a drain that moves nothing (a corrupted ring) instead of spinning.
        while self.consumer.has_unread() && self.drain() {}
        self.uart.flush();
    }
}
