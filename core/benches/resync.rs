//! What `Consumer::resync` costs on a host-sized ring (1 MiB, the default
//! spool capacity), beside reading the whole ring once with `read_copy`:
//! - `early_damage`: a full ring of metrics whose second record's length is
//!   zeroed, so the intact chain after it is as long as it gets;
//! - `no_chain`: a crafted ring of 8-byte records whose chain misses
//!   `write_pos` by one word, so no start reaches it (the bounded worst case).
//!
//! `cargo bench -p runlog-core --bench resync -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use runlog_core::ring::HEADER_LEN;
use runlog_core::{Consumer, Metric, Name, Producer, Record, RingError, Value};

const CAP: usize = 1 << 20;
/// Word index of `write_pos` in the ring header.
const WRITE_POS_WORD: usize = 4;

fn metric(i: i64) -> Record<'static> {
    Record::Metric(Metric {
        name: Name::Text("train/loss"),
        value: Value::F64(i as f64 * 0.5),
        step: Some(i as u64),
        time_ms: None,
    })
}

/// A full ring of metrics with the second record's length zeroed.
fn damaged_ring() -> Vec<u32> {
    let mut s = vec![0u32; (HEADER_LEN + CAP) / 4];
    // SAFETY: `s` is 4-aligned, outlives the producer, and nothing else uses it.
    let mut p = unsafe { Producer::format(s.as_mut_ptr().cast(), s.len() * 4) }.unwrap();
    let mut i = 0;
    while p.push(&metric(i)).is_ok() {
        i += 1;
    }
    let first_len = s[HEADER_LEN / 4] as usize;
    let second = (HEADER_LEN + 8 + first_len).div_ceil(4);
    s[second] = 0;
    s
}

/// 8-byte records with consecutive sequence numbers filling the ring but
/// one word, and `write_pos` one word past the last of them.
fn chainless_ring() -> Vec<u32> {
    let mut s = vec![0u32; (HEADER_LEN + CAP) / 4];
    // SAFETY: as above; the producer only formats the header here.
    unsafe { Producer::format(s.as_mut_ptr().cast(), s.len() * 4) }.unwrap();
    let records = (CAP - 8) / 8;
    for r in 0..records {
        s[HEADER_LEN / 4 + 2 * r] = 0;
        s[HEADER_LEN / 4 + 2 * r + 1] = r as u32;
    }
    s[WRITE_POS_WORD] = (records * 8 + 4) as u32;
    s
}

/// Attaches, reads up to the damage, then resyncs; returns records read and the result.
fn read_and_resync(s: &mut [u32], resync: bool) -> (usize, Result<u64, RingError>) {
    // SAFETY: `s` is 4-aligned and outlives the consumer; no producer runs.
    let mut c = unsafe { Consumer::attach(s.as_mut_ptr().cast(), s.len() * 4) }.unwrap();
    let mut buf = vec![0u8; c.copy_buf_len()];
    let mut n = 0;
    loop {
        match c.read_copy(&mut buf) {
            Ok(Some(e)) => {
                black_box(e.bytes);
                n += 1;
                if resync && e.record().is_err() {
                    return (n, c.resync());
                }
            }
            Ok(None) => return (n, Ok(0)),
            Err(_) if resync => return (n, c.resync()),
            Err(e) => return (n, Err(e)),
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut damaged = damaged_ring();
    let mut chainless = chainless_ring();
    assert!(read_and_resync(&mut damaged, true).1.is_ok());
    assert_eq!(
        read_and_resync(&mut chainless, true).1,
        Err(RingError::Corrupt)
    );
    let mut g = c.benchmark_group("resync_1MiB");
    g.bench_function("read_whole_ring", |b| {
        let mut intact = vec![0u32; (HEADER_LEN + CAP) / 4];
        // SAFETY: as in `damaged_ring`.
        let mut p =
            unsafe { Producer::format(intact.as_mut_ptr().cast(), intact.len() * 4) }.unwrap();
        let mut i = 0;
        while p.push(&metric(i)).is_ok() {
            i += 1;
        }
        b.iter(|| black_box(read_and_resync(&mut intact, false)))
    });
    g.bench_function("early_damage", |b| {
        b.iter(|| black_box(read_and_resync(&mut damaged, true)))
    });
    g.bench_function("no_chain", |b| {
        b.iter(|| black_box(read_and_resync(&mut chainless, true)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
