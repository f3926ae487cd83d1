//! `Producer::try_push_with` (added for the C ABI's blocking mode): a refusal
//! for lack of room is not counted as a drop, unlike `push_with`.

use runlog_core::record::{Record, RunStatus};
use runlog_core::ring::{PushError, Ring};
use runlog_core::wire;

#[test]
fn try_push_with_does_not_count_a_full_ring_as_a_drop() {
    let mut storage = [0u8; 128 + 256];
    let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
    let rec = Record::RunEnd {
        status: RunStatus::Finished,
        time_ms: Some(1),
    };
    let encode = |buf: &mut [u8]| wire::encode(&rec, buf);
    let mut accepted = 0;
    while producer.try_push_with(encode).is_ok() {
        accepted += 1;
    }
    assert!(accepted > 3);
    assert_eq!(producer.try_push_with(encode), Err(PushError::Full));
    assert_eq!(producer.dropped_total(), 0, "waiting callers lose nothing");
    // push_with counts it, and the notice goes ahead of the next record.
    assert_eq!(producer.push_with(encode), Err(PushError::Full));
    assert_eq!(producer.dropped_total(), 1);
    while consumer.read().unwrap().is_some() {}
    consumer.commit();
    producer.try_push_with(encode).unwrap();
    let first = consumer.read().unwrap().unwrap().record().unwrap();
    assert_eq!(first, Record::Dropped { count: 1 });
}
