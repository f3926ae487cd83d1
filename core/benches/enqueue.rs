//! The hot path: encode and enqueue a scalar f64 metric with a repeated name
//! while the ring is drained, beside a floor (memcpy of the same bytes), and
//! the bytes such a metric takes on the framed stream.
//!
//! `cargo bench -p runlog-core --bench enqueue -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use runlog_core::frame::{drain, FrameDecoder};
use runlog_core::wire::WireError;
use runlog_core::{Event, Metric, Name, Record, Ring, Value};

const NAME: &str = "train/loss";

fn metric(v: f64) -> Record<'static> {
    Record::Metric(Metric {
        name: Name::Text(NAME),
        value: Value::F64(v),
        step: None,
        time_ms: None,
    })
}

/// Ring bytes one such record takes (record header included), read from
/// the header's write cursor (offset 16).
fn ring_bytes_per_record() -> usize {
    let mut s = vec![0u32; (128 + 4096) / 4];
    // SAFETY: `s` is 4-aligned, outlives the producer, and nothing else uses it.
    let mut p =
        unsafe { runlog_core::Producer::format(s.as_mut_ptr().cast(), s.len() * 4) }.unwrap();
    p.push(&metric(1.0)).unwrap();
    s[4] as usize
}

/// Framed-stream bytes per metric when a drain moves `per_frame` of them per frame.
fn stream_bytes_per_metric(per_frame: usize, frames: usize) -> f64 {
    let mut storage = vec![0u8; 1 << 16];
    let (mut p, mut c) = Ring::format(&mut storage).unwrap().split();
    let mut scratch = [0u8; 4096];
    let mut stream = Vec::new();
    let mut sent = 0;
    for f in 0..frames {
        for i in 0..per_frame {
            p.push(&metric((f * per_frame + i) as f64)).unwrap();
        }
        drain(&mut c, &mut scratch, &mut stream, usize::MAX).unwrap();
        sent += per_frame;
    }
    // Check the stream really decodes to what was sent.
    let mut n = 0;
    FrameDecoder::new().feed(&stream, |e| {
        if let Event::Record { .. } = e {
            n += 1;
        }
    });
    assert_eq!(n, sent);
    stream.len() as f64 / sent as f64
}

/// Runs `op` in 20000 batches of 64 (calling `between` after each batch,
/// untimed) and returns the 1st, 10th, 50th (median) and 90th percentiles
/// of the time per call.
fn percentiles(mut op: impl FnMut(f64), mut between: impl FnMut()) -> String {
    let mut per_op = Vec::with_capacity(20_000);
    let mut v = 0.0;
    for _ in 0..20_000 {
        let start = Instant::now();
        for _ in 0..64 {
            v += 1.0;
            op(black_box(v));
        }
        per_op.push(start.elapsed().as_secs_f64() * 1e9 / 64.0);
        between();
    }
    per_op.sort_by(f64::total_cmp);
    let at = |q: f64| per_op[(q * per_op.len() as f64) as usize];
    format!(
        "{:.2} / {:.2} / {:.2} / {:.2}",
        at(0.01),
        at(0.10),
        at(0.5),
        at(0.9)
    )
}

/// Percentiles of `push` into a ring drained between batches.
fn push_percentiles(mut push: impl FnMut(&mut runlog_core::Producer<'_>, f64) -> u64) -> String {
    let mut storage = vec![0u8; 128 + (1 << 16)];
    let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
    percentiles(
        |v| {
            black_box(push(&mut producer, v));
        },
        || {
            while consumer.read().unwrap().is_some() {}
            consumer.commit();
        },
    )
}

fn bench(c: &mut Criterion) {
    let ring_bytes = ring_bytes_per_record();
    println!("\nring bytes per '{NAME}' f64 record (8-byte header included): {ring_bytes}");
    for per_frame in [1, 20, 100, 300] {
        println!(
            "framed stream bytes per repeated scalar f64 metric, {per_frame:>3} per frame: {:.2}",
            stream_bytes_per_metric(per_frame, 2000 / per_frame + 10)
        );
    }

    // On a shared machine criterion's median moves with the neighbours'
    // load; the fastest batches show what the code costs when it runs
    // undisturbed. Printed beside criterion's figures, not instead of them.
    let hand = push_percentiles(|p, v| p.push(&metric(v)).unwrap());
    let serde = push_percentiles(|p, v| {
        let record = metric(v);
        p.push_with(|buf| match postcard::to_slice(&record, buf) {
            Ok(b) => Ok(b.len()),
            Err(_) => Err(WireError::BufferFull),
        })
        .unwrap()
    });
    let src = vec![0x5Au8; ring_bytes];
    let mut dst = vec![0u8; 1 << 16];
    let mut at = 0usize;
    let floor = percentiles(
        |_| {
            dst[at..at + ring_bytes].copy_from_slice(black_box(&src));
            black_box(dst.as_ptr());
            at = (at + 32) & 0x7FFF;
        },
        || {},
    );
    println!("ns per call over 20000 batches of 64 (p1 / p10 / median / p90):");
    println!("  push (wire::encode, by hand):      {hand}");
    println!("  push, serde + postcard:            {serde}");
    println!("  floor, memcpy of {ring_bytes} bytes:        {floor}");

    let mut group = c.benchmark_group("enqueue");

    // Encode + enqueue one metric. Only the pushes are timed: between
    // batches of 64 a consumer reads and releases everything, as the
    // uploader (another process) does, so the ring never fills.
    let mut storage = vec![0u8; 128 + (1 << 16)];
    let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
    let mut v = 0.0f64;
    group.bench_function("push_f64_metric", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let batch = left.min(64);
                let start = Instant::now();
                for _ in 0..batch {
                    v += 1.0;
                    black_box(producer.push(black_box(&metric(v))).unwrap());
                }
                total += start.elapsed();
                left -= batch;
                while consumer.read().unwrap().is_some() {}
                consumer.commit();
            }
            total
        })
    });

    // The same through serde + postcard (the generic path that the
    // hand-written `wire::encode` replaces), for comparison.
    let mut storage = vec![0u8; 128 + (1 << 16)];
    let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
    group.bench_function("push_f64_metric_serde_postcard", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let batch = left.min(64);
                let start = Instant::now();
                for _ in 0..batch {
                    v += 1.0;
                    let record = black_box(metric(v));
                    let t = producer.push_with(|buf| match postcard::to_slice(&record, buf) {
                        Ok(b) => Ok(b.len()),
                        Err(_) => Err(WireError::BufferFull),
                    });
                    black_box(t.unwrap());
                }
                total += start.elapsed();
                left -= batch;
                while consumer.read().unwrap().is_some() {}
                consumer.commit();
            }
            total
        })
    });

    // The floor: copying the same number of ring bytes into a buffer.
    let src = vec![0x5Au8; ring_bytes];
    let mut dst = vec![0u8; 1 << 16];
    let mut at = 0usize;
    group.bench_function("memcpy_floor", |b| {
        b.iter(|| {
            let d = &mut dst[at..at + ring_bytes];
            d.copy_from_slice(black_box(&src));
            at = (at + 32) & 0x7FFF;
            black_box(d.as_ptr());
        })
    });

    // Draining cost per metric, for reference (not on the logging thread).
    let mut storage = vec![0u8; 128 + (1 << 16)];
    let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
    let mut scratch = [0u8; 4096];
    let mut sink = Vec::with_capacity(1 << 16);
    group.bench_function("drain_100_metrics_to_frames", |b| {
        b.iter_batched(
            || {
                for i in 0..100 {
                    producer.push(&metric(i as f64)).unwrap();
                }
            },
            |()| {
                sink.clear();
                drain(&mut consumer, &mut scratch, &mut sink, usize::MAX).unwrap()
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
