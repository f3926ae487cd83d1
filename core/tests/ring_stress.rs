//! A producer thread and a consumer thread over one ring: millions of
//! records, no loss, no reordering, no torn record; wraparound, a full ring,
//! and the Dropped notices it produces.

use std::thread;

use runlog_core::{Bytes, Consumer, F64List, Metric, Name, PushError, Record, Ring, Value};

/// Ring storage of `len` bytes, 8-byte aligned. `Ring::format` skips to a
/// 4-byte boundary, and a `Vec<u8>` promises only 1: under miri (which hands
/// out minimally aligned addresses) the ring came out half the size these
/// tests count on.
struct Storage(Vec<u64>, usize);

impl Storage {
    fn new(len: usize) -> Self {
        Self(vec![0; len.div_ceil(8)], len)
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the Vec owns at least `len` initialised bytes; `u8` has no
        // alignment or validity requirement; the borrow of `self` bounds it.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast::<u8>(), self.1) }
    }
}

const NAMES: [&str; 5] = [
    "loss",
    "acc",
    "lr",
    "grad/norm",
    "a-much-longer-metric-name",
];

/// Storage for the list values: element k of record i is `i * 1000 + k`.
fn list_for(i: u64, buf: &mut [f64; 24]) -> usize {
    let n = (i % 25) as usize;
    for (k, v) in buf.iter_mut().enumerate().take(n) {
        *v = (i * 1000 + k as u64) as f64;
    }
    n
}

/// Pushes logical record `i` (its content is a function of `i`), retrying
/// while the ring is full. Returns how many times the ring refused it.
fn push_logical(producer: &mut runlog_core::Producer<'_>, i: u64) -> u32 {
    let mut list = [0.0f64; 24];
    let n = list_for(i, &mut list);
    let value = if i % 4 == 0 {
        Value::F64List(F64List::new(&list[..n]))
    } else {
        Value::I64(i as i64)
    };
    let record = Record::Metric(Metric {
        name: Name::Text(NAMES[(i % 5) as usize]),
        value,
        step: Some(i),
        time_ms: Some(!i),
    });
    let mut refusals = 0;
    loop {
        match producer.push(&record) {
            Ok(_) => return refusals,
            Err(PushError::Full) => {
                refusals += 1;
                // Let the consumer run if both threads share a core.
                thread::yield_now();
            }
            Err(e) => panic!("push {i}: {e}"),
        }
    }
}

/// Checks that `record` is exactly logical record `i`, whole.
fn check_logical(record: &Record<'_>, i: u64) {
    let Record::Metric(m) = record else {
        panic!("record {i}: not a metric: {record:?}");
    };
    assert_eq!(m.name, Name::Text(NAMES[(i % 5) as usize]), "record {i}");
    assert_eq!(m.step, Some(i), "record {i}");
    assert_eq!(m.time_ms, Some(!i), "record {i}");
    if i % 4 == 0 {
        let Value::F64List(list) = m.value else {
            panic!("record {i}: {m:?}")
        };
        let mut want = [0.0f64; 24];
        let n = list_for(i, &mut want);
        assert_eq!(list, F64List::new(&want[..n]), "record {i}");
    } else {
        assert_eq!(m.value, Value::I64(i as i64), "record {i}");
    }
}

/// Consumes until `total` logical records arrived; returns the sum of the
/// Dropped notices' counts and the number of records read (notices
/// included). Commits every `batch` records.
fn consume<const TRUSTED: bool>(
    consumer: &mut Consumer<'_, TRUSTED>,
    total: u64,
    batch: u64,
) -> (u64, u64) {
    let mut next_logical = 0u64;
    let mut next_seq = 0u64;
    let mut dropped = 0u64;
    let mut since_commit = 0;
    while next_logical < total {
        let entry = match consumer.read().expect("ring stays valid") {
            Some(entry) => entry,
            None => {
                consumer.commit();
                since_commit = 0;
                // Let the producer run if both threads share a core.
                thread::yield_now();
                continue;
            }
        };
        assert_eq!(entry.seq, next_seq, "sequence numbers are consecutive");
        next_seq += 1;
        match entry.record().expect("no torn record") {
            Record::Dropped { count } => {
                assert!(count > 0);
                dropped += u64::from(count);
            }
            record => {
                check_logical(&record, next_logical);
                next_logical += 1;
            }
        }
        since_commit += 1;
        if since_commit == batch {
            consumer.commit();
            since_commit = 0;
        }
    }
    consumer.commit();
    assert!(
        consumer.read().unwrap().is_none(),
        "nothing after the last record"
    );
    (dropped, next_seq)
}

fn threaded(capacity: usize, total: u64, batch: u64) {
    let mut storage = Storage::new(capacity + 128);
    let (mut producer, mut consumer) = Ring::format(storage.bytes()).unwrap().split();
    let (refused, (dropped, read), acked) = thread::scope(|s| {
        let p = s.spawn(move || {
            let mut refused = 0u64;
            for i in 0..total {
                refused += u64::from(push_logical(&mut producer, i));
            }
            assert_eq!(u64::from(producer.dropped_total()), refused);
            (refused, producer)
        });
        let c = s.spawn(move || consume(&mut consumer, total, batch));
        let dropped = c.join().unwrap();
        let (refused, producer) = p.join().unwrap();
        (refused, dropped, producer.acked())
    });
    // Every refusal was reported by a notice: nothing silent.
    assert_eq!(refused, dropped);
    // Everything, notices included, was read and acknowledged.
    assert_eq!(acked, read);
    assert!(read > total || refused == 0);
    eprintln!("{total} records through {capacity} bytes: {refused} refusals, all reported");
}

#[test]
fn two_million_records_small_ring() {
    // 4 KiB holds ~60 records: constant wraparound, padding, and a full ring.
    // Under miri (every access checked for races): 600, still ~10 wraps.
    threaded(4096, if cfg!(miri) { 600 } else { 2_000_000 }, 7);
}

#[test]
fn one_million_records_tiny_ring_commit_each() {
    // 512 bytes: a list record takes up to a third of the ring.
    threaded(512, if cfg!(miri) { 300 } else { 1_000_000 }, 1);
}

#[test]
fn full_ring_refuses_counts_and_reports() {
    let mut storage = Storage::new(128 + 256);
    let (mut producer, mut consumer) = Ring::format(storage.bytes()).unwrap().split();
    let rec = |i: i64| {
        Record::Metric(Metric {
            name: Name::Text("m"),
            value: Value::I64(i),
            step: None,
            time_ms: None,
        })
    };
    // Fill: each record is 8 + 5 bytes -> 16 in the ring.
    let mut accepted = 0;
    while producer.push(&rec(accepted)).is_ok() {
        accepted += 1;
    }
    assert_eq!(accepted, 16, "256 bytes hold 16 records of 16 bytes");
    // Three more refusals: four in all.
    for _ in 0..3 {
        assert_eq!(producer.push(&rec(-1)), Err(PushError::Full));
    }
    assert_eq!(producer.dropped_total(), 4);
    // Nothing was overwritten.
    for i in 0..accepted {
        let e = consumer.read().unwrap().unwrap();
        assert_eq!(e.record().unwrap(), rec(i));
    }
    assert!(consumer.read().unwrap().is_none());
    consumer.commit();
    // The next push is preceded by a notice of the four refusals.
    let ticket = producer.push(&rec(100)).unwrap();
    assert_eq!(ticket, 17, "the notice took ticket 16");
    let e = consumer.read().unwrap().unwrap();
    assert_eq!(
        (e.seq, e.record().unwrap()),
        (16, Record::Dropped { count: 4 })
    );
    let e = consumer.read().unwrap().unwrap();
    assert_eq!((e.seq, e.record().unwrap()), (17, rec(100)));
    assert_eq!(
        producer.acked(),
        16,
        "only the first commit is acknowledged"
    );
    consumer.commit();
    assert_eq!(producer.acked(), 18);
    assert!(producer.is_acked(17) && !producer.is_acked(18));
}

#[test]
fn notice_fits_but_record_does_not() {
    let mut storage = Storage::new(128 + 128);
    let (mut producer, mut consumer) = Ring::format(storage.bytes()).unwrap().split();
    let big = [7u8; 40];
    let chunk = Record::ArtifactChunk {
        id: 1,
        offset: 0,
        data: Bytes(&big),
    };
    // A chunk takes 8 + 44 = 52 bytes: two fill 104 of 128.
    assert_eq!(producer.push(&chunk), Ok(0));
    assert_eq!(producer.push(&chunk), Ok(1));
    assert_eq!(producer.push(&chunk), Err(PushError::Full));
    // 24 bytes left: the notice (12) goes in, the chunk still does not.
    assert_eq!(producer.push(&chunk), Err(PushError::Full));
    assert_eq!(producer.dropped_total(), 2);
    for seq in 0..2 {
        assert_eq!(consumer.read().unwrap().unwrap().seq, seq);
    }
    consumer.commit();
    assert_eq!(producer.push(&chunk), Ok(4));
    let mut reported = 0;
    for seq in 2..4 {
        let e = consumer.read().unwrap().unwrap();
        assert_eq!(e.seq, seq);
        let Record::Dropped { count } = e.record().unwrap() else {
            panic!("expected a notice")
        };
        reported += count;
    }
    assert_eq!(reported, 2, "both refusals reported, once each");
    let e = consumer.read().unwrap().unwrap();
    assert_eq!((e.seq, e.record().unwrap()), (4, chunk));
}

#[test]
fn too_large_is_not_a_drop() {
    let mut storage = Storage::new(128 + 256);
    let (mut producer, _consumer) = Ring::format(storage.bytes()).unwrap().split();
    let big = [1u8; 200];
    let r = producer.push(&Record::ArtifactChunk {
        id: 1,
        offset: 0,
        data: Bytes(&big),
    });
    assert_eq!(r, Err(PushError::TooLarge));
    assert_eq!(producer.dropped_total(), 0);
    assert_eq!(producer.max_payload(), 120);
}

#[test]
#[cfg_attr(miri, ignore)] // 2^32 bytes, one thread: natively (miri: hours)
fn byte_cursors_wrap_past_u32() {
    // 2^32 bytes of records through a 16 KiB ring: the free-running u32
    // cursors wrap around once, records stay whole and in order.
    let mut storage = Storage::new(128 + 16384);
    let (mut producer, mut consumer) = Ring::format(storage.bytes()).unwrap().split();
    let data = [0x5Au8; 4000];
    let per = 4000 + 8 + 8; // payload + tags/varints + header, rounded
    let rounds = (1u64 << 32) / per as u64 + 1000;
    for i in 0..rounds {
        let ticket = producer
            .push(&Record::ArtifactChunk {
                id: 7,
                offset: i,
                data: Bytes(&data[..3990 + (i % 7) as usize]),
            })
            .unwrap();
        assert_eq!(ticket, i);
        let e = consumer.read().unwrap().unwrap();
        assert_eq!(e.seq, i);
        match e.record().unwrap() {
            Record::ArtifactChunk {
                id: 7,
                offset,
                data,
            } => {
                assert_eq!(offset, i);
                assert_eq!(data.0.len(), 3990 + (i % 7) as usize);
                assert!(data.0[0] == 0x5A && data.0[data.0.len() - 1] == 0x5A);
            }
            other => panic!("{other:?}"),
        }
        consumer.commit();
    }
    assert_eq!(producer.acked(), rounds);
}

#[test]
fn a_stopped_consumer_stalls_nothing_but_its_own_ring() {
    // The producer never blocks: with nobody draining, pushes fail fast.
    let mut storage = Storage::new(128 + 1024);
    let (mut producer, _consumer) = Ring::format(storage.bytes()).unwrap().split();
    let mut refused = 0;
    for i in 0..10_000 {
        if producer
            .push(&Record::Metric(Metric {
                name: Name::Text("x"),
                value: Value::I64(i),
                step: None,
                time_ms: None,
            }))
            .is_err()
        {
            refused += 1;
        }
    }
    assert!(refused > 9_900);
    assert_eq!(producer.dropped_total(), refused);
}
