//! `Ring::format_raw` and `Producer::push_encoder`, the C ABI's device path
//! (issue 19): a ring formatted over raw storage and split behaves as one
//! from `Ring::format`, and records pushed through `wire`'s encoders with
//! `push_encoder` drain to exactly the frames that `push` gives, as do
//! records written through `push_written`'s `Writer`; a full ring is
//! counted as a drop only when asked.

use runlog_core::ring::storage_len;
use runlog_core::{wire, Consumer, Metric, Name, Producer, PushError, Record, Ring, Value};

/// Ring storage of `len` bytes, 8-byte aligned (as `push_in_place.rs`).
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

fn metric(i: u64) -> Metric<'static> {
    Metric {
        name: Name::Text(if i % 3 == 0 { "loss" } else { "lr" }),
        value: Value::F64(1.0 / (i + 1) as f64),
        step: Some(i),
        time_ms: None,
    }
}

/// Drains `consumer` into one byte stream.
fn drain_all<const T: bool>(consumer: &mut runlog_core::Consumer<'_, T>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut scratch = [0u8; 512];
    loop {
        let stats = runlog_core::drain(consumer, &mut scratch, &mut out, usize::MAX).unwrap();
        if stats.bytes == 0 {
            return out;
        }
    }
}

/// Pushes records `0..n` into two rings with `push(i, first, second)`,
/// drains both after every `every` records and at the end, and checks that
/// they sent the same frames, byte for byte (and some).
fn assert_same_frames(
    (mut p1, mut c1): (Producer<'_>, Consumer<'_, true>),
    (mut p2, mut c2): (Producer<'_>, Consumer<'_, true>),
    n: u64,
    every: u64,
    mut push: impl FnMut(u64, &mut Producer<'_>, &mut Producer<'_>),
) {
    let (mut s1, mut s2) = (Vec::new(), Vec::new());
    for i in 0..n {
        push(i, &mut p1, &mut p2);
        if i % every == every - 1 {
            s1.extend(drain_all(&mut c1));
            s2.extend(drain_all(&mut c2));
        }
    }
    s1.extend(drain_all(&mut c1));
    s2.extend(drain_all(&mut c2));
    assert!(!s1.is_empty());
    assert_eq!(s1, s2, "the same frames, byte for byte");
}

#[test]
fn raw_ring_with_push_encoder_drains_the_frames_push_gives() {
    let n = if cfg!(miri) { 60 } else { 600 };
    let len = storage_len(1024);
    let (mut a, mut b) = (Storage::new(len), Storage::new(len));
    let first = Ring::format(a.bytes()).unwrap().split();
    let raw = b.bytes();
    // SAFETY: `raw` is 8-aligned, `len` bytes long, and only this ring uses it
    // while its producer and consumer live (they do not outlive this test's borrow).
    let second = unsafe { Ring::format_raw(raw.as_mut_ptr(), len) }
        .unwrap()
        .split();
    assert_same_frames(first, second, n, 20, |i, p1, p2| {
        let m = metric(i);
        let t1 = p1.push(&Record::Metric(m)).unwrap();
        let t2 = p2
            .push_encoder(&|buf| wire::encode_metric(&m, buf), true)
            .unwrap();
        assert_eq!(t1, t2);
    });
}

#[test]
fn push_encoder_counts_a_full_ring_as_a_drop_only_when_asked() {
    let len = storage_len(256);
    let mut s = Storage::new(len);
    let (mut p, _c) = Ring::format(s.bytes()).unwrap().split();
    let m = metric(0);
    let encode = |buf: &mut [u8]| wire::encode_metric(&m, buf);
    while p.push_encoder(&encode, false).is_ok() {}
    assert_eq!(p.push_encoder(&encode, false), Err(PushError::Full));
    assert_eq!(
        p.dropped_total(),
        0,
        "a refusal the caller retries is not a drop"
    );
    assert_eq!(p.push_encoder(&encode, true), Err(PushError::Full));
    assert_eq!(p.dropped_total(), 1);
}

/// `push_written` (the firmware's direct path: the ring hands a `Writer`
/// over its free region) drains to the very frames `push_encoder` with
/// `wire`'s encoders gives, for every kind a firmware sends, wrapping
/// around the ring many times.
#[test]
fn push_written_drains_the_frames_push_encoder_gives() {
    use runlog_core::record::{RunStart, RunStatus};
    let len = storage_len(256);
    let (mut s1, mut s2) = (Storage::new(len), Storage::new(len));
    let first = Ring::format(s1.bytes()).unwrap().split();
    let second = Ring::format(s2.bytes()).unwrap().split();
    let start = RunStart {
        run_id: "r1",
        experiment: "exp",
        time_ms: None,
    };
    assert_same_frames(first, second, 300, 7, |i, p1, p2| {
        let m = metric(i);
        let t1 = match i % 5 {
            0 => p1.push_encoder(&|buf| wire::encode_run_start(&start, buf), true),
            1 => p1.push_encoder(
                &|buf| wire::encode_run_end(RunStatus::Finished, None, buf),
                true,
            ),
            2 => p1.push_encoder(
                &|buf| wire::encode_artifact_chunk(7, i, b"chunk", buf),
                true,
            ),
            _ => p1.push_encoder(&|buf| wire::encode_metric(&m, buf), true),
        };
        let t2 = p2.push_written(
            &|w| match i % 5 {
                0 => w.put_run_start(&start),
                1 => w.put_run_end(RunStatus::Finished, None),
                2 => w.put_artifact_chunk(7, i, b"chunk"),
                _ => w.put_metric(&m),
            },
            true,
        );
        assert_eq!(t1.map(|_| ()), t2);
        assert_eq!(p1.next_seq(), p2.next_seq());
    });
}

/// A `push_with`-style closure that claims more bytes than its buffer holds
/// is refused as not fitting (never published, never read past the buffer).
#[test]
fn a_closure_claiming_more_than_its_buffer_is_never_published() {
    let len = storage_len(256);
    let mut s = Storage::new(len);
    let (mut p, mut c) = Ring::format(s.bytes()).unwrap().split();
    let liar = |buf: &mut [u8]| Ok(buf.len() + 1);
    assert_eq!(p.push_encoder(&liar, false), Err(PushError::TooLarge));
    assert_eq!(p.next_seq(), 0);
    assert!(drain_all(&mut c).is_empty());
}
