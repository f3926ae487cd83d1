//! Feeds arbitrary bytes to `FrameDecoder::feed`, split at an arbitrary
//! point, and checks what it reports: it must never panic, its counters must
//! agree with its events, and every record it delivers must re-encode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runlog_core::wire::encode;
use runlog_core::{Event, FrameDecoder, Metric, Name, Record};

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let mut decoder = FrameDecoder::new();
    let (mut records, mut lost) = (0u64, 0u64);
    let mut buf = [0u8; 8192];
    for piece in [&data[..split], &data[split..]] {
        decoder.feed(piece, |event| match event {
            Event::Record { record, .. } => {
                records += 1;
                // Names reach the caller resolved to text, never as ids.
                assert!(!matches!(
                    record,
                    Record::Metric(Metric { name: Name::Id(_), .. }) | Record::NameDef { .. }
                ));
                encode(&record, &mut buf).expect("a delivered record re-encodes");
            }
            Event::FrameLost(_) => lost += 1,
            Event::RecordsLost(_) => {}
        });
    }
    let stats = decoder.stats();
    assert_eq!(stats.records, records);
    assert_eq!(stats.frames_lost, lost);
});
