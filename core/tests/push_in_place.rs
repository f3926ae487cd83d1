//! `Producer::push_in_place`, the logging hot path: records it publishes read
//! back exactly, interleaved with ordinary pushes; it declines (publishing
//! nothing) when the slot would wrap, the ring is full, the record could never
//! fit, or the writer declines, and the ordinary push then takes over.

use runlog_core::{Metric, Name, Record, Ring, Value};

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

fn metric(i: u64) -> Record<'static> {
    Record::Metric(Metric {
        name: Name::Text("train/loss"),
        value: Value::I64(i as i64),
        step: None,
        time_ms: Some(1_764_000_000_000 + i),
    })
}

#[test]
fn in_place_records_read_back_in_order_across_many_wraps() {
    let mut storage = Storage::new(128 + 1024);
    let (mut producer, mut consumer) = Ring::format(storage.bytes()).unwrap().split();
    let (mut fast, mut declined) = (0, 0);
    // Under miri: 200 records still wrap the 1 KiB ring a few times.
    let total = if cfg!(miri) { 200 } else { 20_000u64 };
    for i in 0..total {
        let rec = metric(i);
        let seq = match producer.push_in_place(64, |buf| runlog_core::wire::encode(&rec, buf).ok())
        {
            Some(seq) => {
                fast += 1;
                seq
            }
            None => {
                declined += 1;
                producer.push(&rec).expect("room after draining")
            }
        };
        assert_eq!(seq, i);
        // Drain every few records so the ring fills, wraps and refreshes.
        if i % 7 == 6 {
            while let Some(e) = consumer.read().unwrap() {
                let want = metric(e.seq);
                assert_eq!(e.record().unwrap(), want);
            }
            consumer.release();
        }
    }
    assert!(fast > total * 3 / 4, "fast path taken {fast} times");
    assert!(declined > 0, "wrap and refresh cases were exercised");
}

#[test]
fn declining_publishes_nothing() {
    let mut storage = Storage::new(128 + 256);
    let (mut producer, mut consumer) = Ring::format(storage.bytes()).unwrap().split();
    // The writer declines: nothing is published, even though it wrote bytes.
    assert_eq!(
        producer.push_in_place(32, |buf| {
            buf.fill(0xEE);
            None
        }),
        None
    );
    // A writer claiming more than it was given is refused.
    assert_eq!(producer.push_in_place(32, |buf| Some(buf.len() + 1)), None);
    // Larger than any record this ring accepts (half its capacity).
    assert_eq!(producer.push_in_place(200, |_| Some(1)), None);
    assert!(consumer.read().unwrap().is_none());
    assert_eq!(producer.next_seq(), 0);
    // Fill the ring: the fast path declines instead of overwriting.
    let mut n = 0;
    while producer
        .push_in_place(40, |buf| runlog_core::wire::encode(&metric(n), buf).ok())
        .is_some()
    {
        n += 1;
    }
    assert!(n > 0);
    for i in 0..n {
        let e = consumer.read().unwrap().expect("published record");
        assert_eq!((e.seq, e.record().unwrap()), (i, metric(i)));
    }
    assert!(consumer.read().unwrap().is_none());
}
