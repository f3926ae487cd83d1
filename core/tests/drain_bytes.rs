//! The bytes a drain writes are the wire: frames, their name definitions,
//! where one frame ends and the next begins (the byte budget, the 32-name
//! table, records too large for the scratch buffer, malformed records
//! discarded). This test drains fixed workloads through every path of
//! `frame::drain` (split and attached rings, scratch buffers from 48 bytes
//! to a full frame, byte budgets from 19 bytes to unlimited) and pins what
//! came out: its length and FNV-1a hash, as `main` at 2e2600e wrote them,
//! before issue 19's fifth round rewrote the frame builder, the drain loop
//! and the COBS encoder to make them smaller. Every output also decodes to
//! exactly the records that were not discarded.

use runlog_core::frame::{drain, scratch_len, DrainStats, FrameDecoder};
use runlog_core::{Consumer, Event, Metric, Name, Producer, PushError, Record, Ring, Value};

/// A deterministic stream of records: metrics under up to 200 names (40
/// stems at five lengths, so a full-size frame runs out of its 32 name
/// ids), some with steps, integers, floats (NaNs among them) and strings of
/// up to 700 bytes (larger than the small scratch buffers).
fn workload(seed: u64, n: usize) -> Vec<(String, u64, Option<u64>)> {
    let mut x = seed;
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    (0..n)
        .map(|_| {
            let name_len = 1 + (next() % 5) as usize * 7;
            let name: String = format!("n{}", next() % 40)
                .chars()
                .cycle()
                .take(name_len.max(2))
                .collect();
            let value = next();
            let step = (next() % 3 == 0).then(|| next() % 1000);
            (name, value, step)
        })
        .collect()
}

fn record<'a>(name: &'a str, value: u64, step: Option<u64>, text: &'a str) -> Record<'a> {
    let value = match value % 6 {
        0 => Value::I64(value as i64 - (1 << 30)),
        1 => Value::F64(value as f64 / 7.0),
        2 => Value::Str(&text[..(value as usize / 6) % text.len()]),
        3 if value % 60 == 3 => Value::Str(&text[..500 + (value as usize % 200)]),
        _ => Value::F64(f64::from_bits(value.rotate_left(17))),
    };
    Record::Metric(Metric {
        name: Name::Text(name),
        value,
        step,
        time_ms: None,
    })
}

/// FNV-1a over every byte written and every drain's statistics.
struct Sink {
    hash: u64,
    len: usize,
    decoder: FrameDecoder,
    decoded: u64,
    discarded: u32,
}

impl Sink {
    fn new() -> Self {
        Self {
            hash: 0xcbf2_9ce4_8422_2325,
            len: 0,
            decoder: FrameDecoder::new(),
            decoded: 0,
            discarded: 0,
        }
    }

    fn eat(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        self.len += bytes.len();
        let mut decoded = 0;
        self.decoder.feed(bytes, |event| match event {
            Event::Record { .. } => decoded += 1,
            // The sequence numbers of discarded records.
            Event::RecordsLost(_) => {}
            Event::FrameLost(e) => panic!("a drain wrote a frame that does not decode: {e:?}"),
        });
        self.decoded += decoded;
    }

    fn stats(&mut self, s: &DrainStats) {
        self.discarded += s.discarded;
        let words = [
            s.bytes as u64,
            u64::from(s.frames),
            u64::from(s.records),
            u64::from(s.discarded),
        ];
        for w in words {
            self.eat_hash_only(&w.to_le_bytes());
        }
    }

    fn eat_hash_only(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// Drains everything there is, `budget` bytes per call; when a record
/// larger than the budget allows waits at the head of the ring (the drain
/// keeps it for a call with room), one unlimited call moves it.
fn drain_all<const T: bool>(
    c: &mut Consumer<'_, T>,
    scratch: usize,
    budget: usize,
    sink: &mut Sink,
) -> u32 {
    // Payloads of up to `scratch` bytes, as when the scratch held only the
    // payload (before the drain encoded frames in place).
    let mut buf = vec![0u8; scratch_len(scratch)];
    let mut records = 0;
    let mut stalled = false;
    for _ in 0..100_000 {
        let mut out = Vec::new();
        let limit = if stalled { usize::MAX } else { budget };
        let stats = drain(c, &mut buf, &mut out, limit).expect("drain");
        sink.eat(&out);
        sink.stats(&stats);
        records += stats.records;
        if stats.records + stats.discarded != 0 {
            stalled = false;
        } else if stalled || limit == usize::MAX || !c.has_unread() {
            return records;
        } else {
            stalled = true;
        }
    }
    panic!("the drain did not finish");
}

const SCRATCH: [usize; 5] = [48, 64, 200, 512, 4200];
const BUDGETS: [usize; 5] = [19, 37, 100, 256, usize::MAX];

#[test]
fn split_ring_drains_write_the_bytes_main_wrote() {
    let text: String = (0..700)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let items = workload(7, 300);
    let mut sink = Sink::new();
    let mut sent = 0;
    for scratch in SCRATCH {
        for budget in BUDGETS {
            let mut storage = vec![0u8; 4096];
            let (mut p, mut c) = Ring::format(&mut storage).unwrap().split();
            sink.decoder = FrameDecoder::new(); // a new ring numbers from 0
            for (name, value, step) in &items {
                let r = record(name, *value, *step, &text);
                while let Err(PushError::Full) = p.try_push_record(&r) {
                    sent += drain_all(&mut c, scratch, budget, &mut sink);
                }
            }
            sent += drain_all(&mut c, scratch, budget, &mut sink);
        }
    }
    assert_eq!(sink.decoded, u64::from(sent));
    assert!(
        sink.discarded > 0,
        "strings larger than the small scratch buffers are discarded"
    );
    assert_eq!(
        (sink.len, sink.hash),
        (SPLIT_LEN, SPLIT_HASH),
        "{:#x}",
        sink.hash
    );
}

#[test]
fn attached_ring_drains_write_the_bytes_main_wrote() {
    let text: String = (0..700)
        .map(|i| char::from(b'A' + (i % 26) as u8))
        .collect();
    let items = workload(11, 200);
    let mut sink = Sink::new();
    for scratch in SCRATCH {
        for budget in BUDGETS {
            let mut storage = vec![0u32; 1024];
            let ptr = storage.as_mut_ptr().cast::<u8>();
            // SAFETY: `storage` outlives both ends and nothing else uses it.
            let mut p = unsafe { Producer::format(ptr, 4096) }.unwrap();
            // SAFETY: as above; this is the ring's only consumer.
            let mut c = unsafe { Consumer::attach(ptr, 4096) }.unwrap();
            sink.decoder = FrameDecoder::new(); // a new ring numbers from 0
            for (i, (name, value, step)) in items.iter().enumerate() {
                if i % 17 == 5 {
                    // Not a record: an attached ring's drain discards it.
                    p.push_with(|buf: &mut [u8]| {
                        let junk = [0xFFu8, 0x01, 0x02];
                        buf.get_mut(..3)
                            .ok_or(runlog_core::WireError::BufferFull)?
                            .copy_from_slice(&junk);
                        Ok(3)
                    })
                    .unwrap();
                }
                let r = record(name, *value, *step, &text);
                while let Err(PushError::Full) = p.try_push_record(&r) {
                    drain_all(&mut c, scratch, budget, &mut sink);
                }
            }
            drain_all(&mut c, scratch, budget, &mut sink);
        }
    }
    assert_eq!(
        (sink.len, sink.hash),
        (ATTACHED_LEN, ATTACHED_HASH),
        "{:#x}",
        sink.hash
    );
}

// What `main` at 2e2600e wrote (the same test run against its core/src).
const SPLIT_LEN: usize = 344_551;
const SPLIT_HASH: u64 = 0xe149_67cd_9b37_b856;
const ATTACHED_LEN: usize = 252_487;
const ATTACHED_HASH: u64 = 0x9b61_0a50_71bf_abc3;
