//! Property-based round trips of every record kind: through the wire
//! encoding alone, through a ring, and through a ring, frames and the decoder.

mod common;

use common::{any_owned, bytes_of, Owned};
use proptest::prelude::*;
use runlog_core::frame::{drain, FrameDecoder};
use runlog_core::wire::{decode, encode};
use runlog_core::{Event, Metric, Name, Record, Ring, Value};

/// Record equality where floats compare bit for bit (NaN == NaN of the same payload).
fn same(a: &Record<'_>, b: &Record<'_>) -> bool {
    match (a, b) {
        (
            Record::Metric(Metric {
                name: na,
                value: Value::F64(x),
                step: sa,
                time_ms: ta,
            }),
            Record::Metric(Metric {
                name: nb,
                value: Value::F64(y),
                step: sb,
                time_ms: tb,
            }),
        ) => na == nb && x.to_bits() == y.to_bits() && sa == sb && ta == tb,
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 1000 }))]

    #[test]
    fn every_record_kind_round_trips_through_the_wire(owned in any_owned(64, 300)) {
        let record = owned.as_record();
        let bytes = bytes_of(&record);
        let (back, rest) = decode(&bytes).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert!(same(&record, &back), "{record:?} came back as {back:?}");
        prop_assert_eq!(bytes_of(&back), bytes);
    }

    #[test]
    fn interned_metrics_round_trip(owned in any_owned(64, 300), id in any::<u16>()) {
        // The frame form of a metric: the same, with its name as an id.
        if let Record::Metric(m) = owned.as_record() {
            let record = Record::Metric(Metric { name: Name::Id(id), ..m });
            let bytes = bytes_of(&record);
            let (back, _) = decode(&bytes).unwrap();
            prop_assert!(same(&record, &back));
        }
    }

    /// `wire::encode` writes records with a hand-written encoder: it must
    /// produce exactly postcard's bytes (through the serde impls), and
    /// refuse exactly the buffers postcard refuses, for every record kind.
    #[test]
    fn hand_written_encoder_is_postcard(owned in any_owned(64, 300), id in any::<u16>(), cut in any::<usize>()) {
        let record = owned.as_record();
        let interned = match record {
            Record::Metric(m) => Record::Metric(Metric { name: Name::Id(id), ..m }),
            _ => Record::NameDef { id, name: "n" },
        };
        for record in [record, interned] {
            let mut want = vec![0u8; 1 << 16];
            let n = postcard::to_slice(&record, &mut want).unwrap().len();
            prop_assert_eq!(bytes_of(&record), &want[..n]);
            let cut = cut % (n + 2);
            let mut short = vec![0u8; cut];
            let hand = encode(&record, &mut short).ok();
            let reference = postcard::to_slice(&record, &mut vec![0u8; cut]).ok().map(|b| b.len());
            prop_assert_eq!(hand, reference);
        }
    }

    #[test]
    fn a_short_buffer_is_refused_never_overrun(owned in any_owned(16, 40), cut in 0usize..1000) {
        let record = owned.as_record();
        let full = bytes_of(&record);
        let cut = cut % (full.len() + 1);
        let mut buf = vec![0u8; cut];
        match encode(&record, &mut buf) {
            Ok(n) => { prop_assert_eq!(cut, full.len()); prop_assert_eq!(&buf[..n], &full[..]); }
            Err(_) => prop_assert!(cut < full.len()),
        }
        // Every strict prefix of an encoding is refused, not misread.
        prop_assert!(decode(&full[..cut.min(full.len().saturating_sub(1))]).is_err() || cut >= full.len());
    }

    #[test]
    fn records_round_trip_through_a_ring(records in proptest::collection::vec(any_owned(64, 100), 1..60)) {
        let mut storage = vec![0u8; 1 << 16];
        let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
        for (i, owned) in records.iter().enumerate() {
            prop_assert_eq!(producer.push(&owned.as_record()), Ok(i as u64));
        }
        for (i, owned) in records.iter().enumerate() {
            let entry = consumer.read().unwrap().expect("record present");
            prop_assert_eq!(entry.seq, i as u64);
            let record = entry.record().unwrap();
            prop_assert!(same(&owned.as_record(), &record));
        }
        prop_assert!(consumer.read().unwrap().is_none());
    }

    #[test]
    fn records_round_trip_through_frames(
        records in proptest::collection::vec(any_owned(64, 300), 1..80),
        chunk in 1usize..300,
    ) {
        let mut storage = vec![0u8; 1 << 17];
        let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
        for owned in &records {
            producer.push(&owned.as_record()).unwrap();
        }
        let mut scratch = [0u8; 4096];
        let mut stream = Vec::new();
        let stats = drain(&mut consumer, &mut scratch, &mut stream, usize::MAX).unwrap();
        prop_assert_eq!(stats.records as usize, records.len());
        prop_assert_eq!(stats.discarded, 0);
        prop_assert_eq!(stats.bytes, stream.len());

        // Feed the stream in arbitrary pieces, as a UART would deliver it.
        let mut decoder = FrameDecoder::new();
        let mut got: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut bad = Vec::new();
        for piece in stream.chunks(chunk) {
            decoder.feed(piece, |event| match event {
                Event::Record { seq, record } => {
                    // The decoder resolves every name back to text.
                    if let Record::Metric(m) = &record {
                        assert!(matches!(m.name, Name::Text(_)));
                    }
                    got.push((seq, bytes_of(&record)));
                }
                other => bad.push(format!("{other:?}")),
            });
        }
        prop_assert!(bad.is_empty(), "{bad:?}");
        prop_assert_eq!(got.len(), records.len());
        for (i, (owned, (seq, bytes))) in records.iter().zip(&got).enumerate() {
            prop_assert_eq!(*seq, i as u64);
            prop_assert_eq!(bytes, &bytes_of(&owned.as_record()));
        }
    }
}

#[test]
fn nan_payloads_survive_ring_and_frames() {
    let nans = [
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7FF0_0000_0000_0001),
        f64::from_bits(0xFFFF_FFFF_FFFF_FFFF),
    ];
    let owned: Vec<Owned> = nans
        .iter()
        .map(|&v| Owned::Metric {
            name: "n".into(),
            value: common::OwnedValue::F64(v),
            step: None,
            time_ms: None,
        })
        .chain(std::iter::once(Owned::Metric {
            name: "list".into(),
            value: common::OwnedValue::F64List(nans.to_vec()),
            step: Some(1),
            time_ms: None,
        }))
        .collect();
    let mut storage = vec![0u8; 8192];
    let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
    for o in &owned {
        producer.push(&o.as_record()).unwrap();
    }
    let mut scratch = [0u8; 4096];
    let mut stream = Vec::new();
    drain(&mut consumer, &mut scratch, &mut stream, usize::MAX).unwrap();
    let mut bits = Vec::new();
    FrameDecoder::new().feed(&stream, |e| {
        if let Event::Record {
            record: Record::Metric(m),
            ..
        } = e
        {
            match m.value {
                Value::F64(v) => bits.push(v.to_bits()),
                Value::F64List(l) => bits.extend(l.iter().map(f64::to_bits)),
                _ => panic!("unexpected value"),
            }
        }
    });
    let want: Vec<u64> = nans
        .iter()
        .chain(nans.iter())
        .map(|v| v.to_bits())
        .collect();
    assert_eq!(bits, want);
}
