//! The frame decoder on damaged and hostile input: it never panics, delivers
//! every intact frame, and counts what it lost.

mod common;

use common::{any_owned, bytes_of};
use proptest::prelude::*;
use runlog_core::cobs;
use runlog_core::crc::crc32;
use runlog_core::frame::{
    drain, drain_uninit, DrainError, FrameDecoder, FrameError, MAX_ENCODED_FRAME,
};
use runlog_core::{Event, Metric, Name, Record, Ring, Value};

/// What a decoder reported, in a comparable form.
#[derive(Debug, Default)]
struct Seen {
    records: Vec<(u64, Vec<u8>)>,
    lost_frames: Vec<FrameError>,
    lost_records: u64,
}

fn decode_all(stream: &[u8], piece: usize) -> (Seen, FrameDecoder) {
    let mut seen = Seen::default();
    let mut decoder = FrameDecoder::new();
    for chunk in stream.chunks(piece.max(1)) {
        decoder.feed(chunk, |event| match event {
            Event::Record { seq, record } => seen.records.push((seq, bytes_of(&record))),
            Event::FrameLost(e) => seen.lost_frames.push(e),
            Event::RecordsLost(n) => seen.lost_records = seen.lost_records.saturating_add(n),
        });
    }
    (seen, decoder)
}

fn metric(i: u64) -> Record<'static> {
    const NAMES: [&str; 3] = ["loss", "acc", "lr"];
    Record::Metric(Metric {
        name: Name::Text(NAMES[(i % 3) as usize]),
        value: Value::F64(i as f64),
        step: Some(i),
        time_ms: None,
    })
}

/// A stream of `frames` frames of `per_frame` records each, and the byte
/// range of every frame (delimiter included).
fn stream(frames: u64, per_frame: u64) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
    let mut storage = vec![0u8; 1 << 16];
    let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
    let mut scratch = [0u8; 4096];
    let mut out = Vec::new();
    let mut ranges = Vec::new();
    for f in 0..frames {
        for r in 0..per_frame {
            producer.push(&metric(f * per_frame + r)).unwrap();
        }
        let start = out.len();
        let stats = drain(&mut consumer, &mut scratch, &mut out, usize::MAX).unwrap();
        assert_eq!(stats.frames, 1);
        ranges.push(start..out.len());
    }
    (out, ranges)
}

fn expected(i: u64) -> (u64, Vec<u8>) {
    (i, bytes_of(&metric(i)))
}

#[test]
fn intact_stream_in_any_pieces() {
    let (s, _) = stream(50, 10);
    for piece in [1, 2, 7, 64, 1000, s.len()] {
        let (seen, decoder) = decode_all(&s, piece);
        assert_eq!(seen.records, (0..500).map(expected).collect::<Vec<_>>());
        assert!(seen.lost_frames.is_empty());
        assert_eq!(decoder.stats().frames, 50);
    }
}

#[test]
fn every_single_bit_flip_loses_exactly_its_frame() {
    let (s, ranges) = stream(3, 5);
    let middle = ranges[1].clone();
    // Every bit of the middle frame but its delimiter.
    for at in middle.start..middle.end - 1 {
        for bit in 0..8 {
            let mut damaged = s.clone();
            damaged[at] ^= 1 << bit;
            let (seen, decoder) = decode_all(&damaged, 13);
            let want: Vec<_> = (0..5).chain(10..15).map(expected).collect();
            // A flip that creates a 0x00 splits the frame in two lost pieces.
            assert_eq!(seen.records, want, "flip at {at} bit {bit}");
            assert!(
                matches!(seen.lost_frames.len(), 1 | 2),
                "flip at {at} bit {bit}"
            );
            assert_eq!(seen.lost_records, 5, "flip at {at} bit {bit}");
            let stats = decoder.stats();
            assert_eq!((stats.records, stats.records_lost), (10, 5));
        }
    }
}

#[test]
fn a_dropped_byte_loses_its_frame_and_is_counted() {
    let (s, ranges) = stream(4, 6);
    for at in ranges[2].clone() {
        let mut damaged = s.clone();
        damaged.remove(at);
        let (seen, _) = decode_all(&damaged, 5);
        let delivered: Vec<u64> = seen.records.iter().map(|r| r.0).collect();
        if at == ranges[2].end - 1 {
            // The delimiter: frames 2 and 3 merge into one lost frame.
            assert_eq!(delivered, (0..12).collect::<Vec<_>>());
            assert_eq!(seen.lost_frames.len(), 1);
            assert_eq!(seen.lost_records, 0, "nothing after it to show the gap");
        } else {
            assert_eq!(delivered, (0..12).chain(18..24).collect::<Vec<_>>());
            assert_eq!(seen.lost_frames.len(), 1);
            assert_eq!(seen.lost_records, 6);
        }
        // Whatever is delivered is exact.
        for (seq, bytes) in &seen.records {
            assert_eq!(bytes, &bytes_of(&metric(*seq)));
        }
    }
}

#[test]
fn truncation_delivers_every_frame_before_the_cut() {
    let (s, ranges) = stream(6, 4);
    for cut in 0..=s.len() {
        let (seen, decoder) = decode_all(&s[..cut], 3);
        let whole = ranges.iter().filter(|r| r.end <= cut).count() as u64;
        assert_eq!(
            seen.records,
            (0..whole * 4).map(expected).collect::<Vec<_>>(),
            "cut at {cut}"
        );
        // The partial tail is still buffered, not yet reported as lost.
        assert!(seen.lost_frames.is_empty());
        assert_eq!(decoder.stats().frames, whole);
    }
}

#[test]
fn joining_mid_stream_resynchronises_at_the_next_delimiter() {
    let (s, ranges) = stream(5, 3);
    for start in 0..ranges[1].end {
        let (seen, _) = decode_all(&s[start..], 17);
        let first_whole = ranges.iter().position(|r| r.start >= start).unwrap() as u64;
        let delivered: Vec<u64> = seen.records.iter().map(|r| r.0).collect();
        assert_eq!(delivered, (first_whole * 3..15).collect::<Vec<_>>());
        // A joining reader never guesses a name: each frame defines its own.
        assert!(seen.lost_frames.len() <= 1);
    }
}

#[test]
fn overlong_garbage_is_one_lost_frame_then_decoding_resumes() {
    let (s, _) = stream(2, 3);
    let mut input = vec![0x55u8; MAX_ENCODED_FRAME * 3 + 17];
    input.push(0);
    input.extend_from_slice(&s);
    let (seen, _) = decode_all(&input, 999);
    assert_eq!(seen.lost_frames, [FrameError::TooLong]);
    assert_eq!(seen.records, (0..6).map(expected).collect::<Vec<_>>());
}

/// Frames with a valid CRC but bad content.
fn forged(payload_without_crc: &[u8]) -> Vec<u8> {
    let mut p = payload_without_crc.to_vec();
    p.extend_from_slice(&crc32(&p).to_le_bytes());
    let mut out = Vec::new();
    cobs::encode_to(&p, &mut out).unwrap();
    out
}

#[test]
fn forged_frames_are_refused_with_a_reason() {
    let f64_metric_id = |id: u8| [0x00, 0x01, id, 0, 0, 0, 0, 0, 0, 0, 0];
    let cases: Vec<(Vec<u8>, FrameError)> = vec![
        (
            forged(b"RL\x01\x00\x08\x01"),
            FrameError::UnsupportedVersion(1),
        ),
        (forged(b"XY\x01\x00\x08\x01"), FrameError::BadMagic),
        // A metric using a name id no NameDef defined.
        (
            forged(&[b"RL\x02\x00".as_slice(), &f64_metric_id(0)].concat()),
            FrameError::Malformed,
        ),
        // NameDef ids must count up from 0.
        (
            forged(&[b"RL\x02\x00\x01\x01\x01a".as_slice(), &f64_metric_id(1)].concat()),
            FrameError::Malformed,
        ),
        // Trailing garbage after the records.
        (forged(b"RL\x02\x00\x08\x01\xff"), FrameError::Malformed),
        // Sequence numbers that would overflow.
        (
            forged(b"RL\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x08\x01\x08\x01"),
            FrameError::Malformed,
        ),
        (forged(b"RL\x02"), FrameError::TooShort),
        (vec![0x05, 0x01, 0x00], FrameError::Cobs),
    ];
    for (frame, error) in cases {
        let (seen, decoder) = decode_all(&frame, 4);
        assert_eq!(seen.lost_frames, [error], "{frame:02x?}");
        assert!(seen.records.is_empty());
        assert_eq!(decoder.stats().frames_lost, 1);
    }
    // A forged but valid frame decodes: the format is what the docs say.
    let ok = forged(&[b"RL\x02\x05\x01\x00\x01x".as_slice(), &f64_metric_id(0)].concat());
    let (seen, _) = decode_all(&ok, 100);
    assert_eq!(seen.records.len(), 1);
    assert_eq!(seen.records[0].0, 5);
}

#[test]
fn hostile_sequence_gaps_saturate_instead_of_overflowing() {
    let frame = |seq: &[u8]| forged(&[b"RL\x02".as_slice(), seq, b"\x08\x01"].concat());
    let low = frame(&[0x00]);
    let high = frame(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    let input = [low.clone(), high.clone(), low, high].concat();
    let (_, decoder) = decode_all(&input, 64);
    assert_eq!(decoder.stats().records_lost, u64::MAX);
    assert_eq!(decoder.stats().frames, 4);
}

#[test]
fn read_from_an_embedded_io_reader() {
    let (s, _) = stream(10, 10);
    let mut reader: &[u8] = &s;
    let mut decoder = FrameDecoder::new();
    let mut n = 0;
    while decoder.read_from(&mut reader, |_| n += 1).unwrap() > 0 {}
    assert_eq!(n, 100);
}

/// A transport that fails after accepting `budget` more bytes.
struct Flaky<'a> {
    out: &'a mut Vec<u8>,
    budget: usize,
}

impl embedded_io::ErrorType for Flaky<'_> {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Write for Flaky<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        if self.budget == 0 {
            return Err(embedded_io::ErrorKind::BrokenPipe);
        }
        let n = buf.len().min(self.budget);
        self.out.extend_from_slice(&buf[..n]);
        self.budget -= n;
        Ok(n)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[test]
fn a_transport_failing_mid_frame_loses_no_record() {
    for fail_after in [0, 1, 5, 30, 100, 150] {
        let mut storage = vec![0u8; 1 << 14];
        let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
        let mut scratch = [0u8; 4096];
        let mut out = Vec::new();
        for i in 0..20 {
            producer.push(&metric(i)).unwrap();
        }
        let mut flaky = Flaky {
            out: &mut out,
            budget: fail_after,
        };
        let r = drain(&mut consumer, &mut scratch, &mut flaky, usize::MAX);
        assert!(matches!(r, Err(DrainError::Write(_))), "{fail_after}");
        assert_eq!(
            producer.acked(),
            0,
            "nothing acknowledged that was not sent"
        );
        for i in 20..30 {
            producer.push(&metric(i)).unwrap();
        }
        drain(&mut consumer, &mut scratch, &mut out, usize::MAX).unwrap();
        assert_eq!(producer.acked(), 30);
        let (seen, _) = decode_all(&out, 64);
        assert_eq!(
            seen.records,
            (0..30).map(expected).collect::<Vec<_>>(),
            "fail after {fail_after}"
        );
        assert_eq!(seen.lost_records, 0);
        assert!(seen.lost_frames.len() <= 1, "only the torn piece is lost");
    }
}

#[test]
fn drain_respects_its_byte_budget() {
    let mut storage = vec![0u8; 1 << 14];
    let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
    let mut scratch = [0u8; 4096];
    for i in 0..200 {
        producer.push(&metric(i)).unwrap();
    }
    let mut out = Vec::new();
    let mut calls = 0;
    loop {
        let before = out.len();
        let stats = drain(&mut consumer, &mut scratch, &mut out, 100).unwrap();
        assert!(out.len() - before <= 100);
        assert_eq!(stats.bytes, out.len() - before);
        calls += 1;
        if stats.records == 0 {
            break;
        }
    }
    assert!(calls > 20);
    let (seen, _) = decode_all(&out, 64);
    assert_eq!(seen.records, (0..200).map(expected).collect::<Vec<_>>());
}

#[test]
fn names_are_redefined_in_every_frame() {
    // 40 distinct names: more than one frame's 32 name slots.
    let names: Vec<String> = (0..40).map(|i| format!("metric/{i}")).collect();
    let mut storage = vec![0u8; 1 << 14];
    let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
    for round in 0..3 {
        for n in &names {
            producer
                .push(&Record::Metric(Metric {
                    name: Name::Text(n),
                    value: Value::I64(round),
                    step: None,
                    time_ms: None,
                }))
                .unwrap();
        }
    }
    let mut scratch = [0u8; 4096];
    let mut out = Vec::new();
    let stats = drain(&mut consumer, &mut scratch, &mut out, usize::MAX).unwrap();
    assert!(stats.frames >= 2);
    // Drop the first frame: the rest still decode with the right names.
    let first_end = out.iter().position(|&b| b == 0).unwrap() + 1;
    let mut got = Vec::new();
    FrameDecoder::new().feed(&out[first_end..], |e| {
        if let Event::Record {
            seq,
            record: Record::Metric(m),
        } = e
        {
            let Name::Text(t) = m.name else { panic!() };
            got.push((seq, t.to_string()));
        }
    });
    assert!(!got.is_empty());
    for (seq, name) in got {
        assert_eq!(name, names[(seq % 40) as usize]);
    }
}

/// Drains `consumer`, whose ring holds `payloads` in order: no frame is
/// refused, every record is sent or discarded, and each arrives as it was.
fn drains_only_good_frames<const TRUSTED: bool>(
    consumer: &mut runlog_core::Consumer<'_, TRUSTED>,
    payloads: &[&[u8]],
) -> Result<(), TestCaseError> {
    let mut scratch = [0u8; 4096];
    let mut stream = Vec::new();
    let stats = drain(consumer, &mut scratch, &mut stream, usize::MAX).unwrap();
    let (seen, _) = decode_all(&stream, 64);
    prop_assert!(seen.lost_frames.is_empty(), "{:?}", seen.lost_frames);
    prop_assert_eq!(seen.records.len() as u32, stats.records);
    prop_assert_eq!(stats.records + stats.discarded, payloads.len() as u32);
    for (seq, bytes) in &seen.records {
        // What arrives is what the ring held (names resolved back to text).
        let (sent, _) = runlog_core::wire::decode(payloads[*seq as usize]).unwrap();
        prop_assert_eq!(bytes, &bytes_of(&sent));
    }
    Ok(())
}

/// A split ring's producer refuses, from `push_with` closures, what its
/// trusting drain would misread: a name definition or an id-named metric
/// (frame-level records) and records whose tag is an overlong varint. An
/// overlong `NameDef` tag (`81 00 ...`) used to be accepted and framed as an
/// ordinary record; the decoder then read a definition and counted one
/// record less, so the records after it in the frame arrived under the
/// wrong sequence numbers.
#[test]
fn a_split_ring_refuses_records_its_drain_would_misread() {
    let mut storage = vec![0u8; 1 << 12];
    let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
    let push = |producer: &mut runlog_core::Producer<'_>, p: &[u8]| {
        let p = p.to_vec();
        producer.push_with(move |buf: &mut [u8]| {
            let n = p.len();
            buf.get_mut(..n)
                .ok_or(runlog_core::WireError::BufferFull)?
                .copy_from_slice(&p);
            Ok(n)
        })
    };
    let metric = |name| {
        bytes_of(&Record::Metric(Metric {
            name,
            value: Value::I64(7),
            step: None,
            time_ms: None,
        }))
    };
    let text = metric(Name::Text("loss"));
    let mut overlong_metric = vec![text[0] | 0x80, 0x00];
    overlong_metric.extend_from_slice(&text[1..]);
    let refused: [&[u8]; 4] = [
        &[0x81, 0x00, 0x00, 0x00],
        &bytes_of(&Record::NameDef { id: 0, name: "" }),
        &metric(Name::Id(0)),
        &overlong_metric,
    ];
    for p in refused {
        assert_eq!(
            push(&mut producer, p),
            Err(runlog_core::PushError::Malformed),
            "{p:x?}"
        );
    }
    assert_eq!(push(&mut producer, &text), Ok(0));
    assert_eq!(push(&mut producer, &text), Ok(1));
    let mut scratch = [0u8; 512];
    let mut out = Vec::new();
    let stats = drain(&mut consumer, &mut scratch, &mut out, usize::MAX).unwrap();
    assert_eq!((stats.records, stats.discarded), (2, 0));
    let mut seqs = Vec::new();
    FrameDecoder::new().feed(&out, |e| {
        if let Event::Record { seq, .. } = e {
            seqs.push(seq);
        }
    });
    assert_eq!(seqs, [0, 1]);
}

/// A text-named metric whose tag is an overlong varint (`80 00` for 0:
/// postcard reads it, so `skim::check` accepts it) in an attached ring: the
/// drain interns its name like any other, and every record of the frame
/// arrives as it was sent, instead of a frame the decoder refuses (the
/// builder used to take the byte after the tag's first for the metric head).
#[test]
fn an_overlong_metric_tag_in_an_attached_ring_is_framed_intact() {
    let metric = |name, v| {
        bytes_of(&Record::Metric(Metric {
            name: Name::Text(name),
            value: Value::I64(v),
            step: Some(7),
            time_ms: None,
        }))
    };
    let mut overlong = vec![0x80, 0x00];
    overlong.extend_from_slice(&metric("b", 2)[1..]);
    // And a name length as an overlong varint (`81 00` for 1): the frame's
    // definition copies the ring record's `len name` as they are.
    let plain = metric("c", 5);
    let mut long_len = plain[..2].to_vec();
    long_len.extend_from_slice(&[0x81, 0x00]);
    long_len.extend_from_slice(&plain[3..]);
    let payloads = [
        metric("a", 1),
        overlong,
        metric("b", 3),
        long_len,
        metric("c", 6),
        metric("a", 4),
    ];
    let mut storage = vec![0u32; 1 << 12];
    let ptr = storage.as_mut_ptr().cast::<u8>();
    // SAFETY: `storage` outlives both ends and nothing else uses it.
    let mut producer = unsafe { runlog_core::Producer::format(ptr, 1 << 14) }.unwrap();
    for p in &payloads {
        let n = p.len();
        producer
            .push_with(|buf: &mut [u8]| {
                buf.get_mut(..n)
                    .ok_or(runlog_core::WireError::BufferFull)?
                    .copy_from_slice(p);
                Ok(n)
            })
            .unwrap();
    }
    // SAFETY: as above; this is the ring's only consumer.
    let mut consumer = unsafe { runlog_core::Consumer::attach(ptr, 1 << 14) }.unwrap();
    let all: Vec<&[u8]> = payloads.iter().map(|p| &p[..]).collect();
    drains_only_good_frames(&mut consumer, &all).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 3000 }))]

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..6000), piece in 1usize..600) {
        let (seen, decoder) = decode_all(&input, piece);
        let stats = decoder.stats();
        prop_assert_eq!(stats.records as usize, seen.records.len());
        prop_assert_eq!(stats.frames_lost as usize, seen.lost_frames.len());
    }

    #[test]
    fn garbage_then_a_valid_stream_recovers(
        garbage in proptest::collection::vec(any::<u8>(), 0..300),
        records in proptest::collection::vec(any_owned(16, 40), 1..30),
    ) {
        let mut storage = vec![0u8; 1 << 16];
        let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
        for r in &records {
            producer.push(&r.as_record()).unwrap();
        }
        let mut scratch = [0u8; 4096];
        let mut input = garbage;
        input.push(0); // whatever the garbage was, the next delimiter ends it
        drain(&mut consumer, &mut scratch, &mut input, usize::MAX).unwrap();
        let (seen, _) = decode_all(&input, 50);
        let want: Vec<_> = records.iter().enumerate().map(|(i, r)| (i as u64, bytes_of(&r.as_record()))).collect();
        prop_assert_eq!(seen.records, want);
    }

    /// A ring may hold anything (a buggy or hostile producer, through
    /// `push_with`): the drain discards what it cannot frame, never sends a
    /// frame the decoder refuses, and every record it sends arrives as sent.
    #[test]
    fn draining_arbitrary_ring_records_never_sends_a_bad_frame(
        payloads in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..40),
                (any_owned(8, 20), any::<usize>(), any::<u8>()).prop_map(|(o, at, x)| {
                    let mut b = bytes_of(&o.as_record());
                    let at = at % b.len();
                    b[at] ^= x;
                    b
                }),
                any_owned(8, 20).prop_map(|o| bytes_of(&o.as_record())),
            ],
            1..40,
        ),
    ) {
        let push = |producer: &mut runlog_core::Producer<'_>, p: &[u8]| {
            let n = p.len();
            producer.push_with(|buf: &mut [u8]| {
                buf.get_mut(..n).ok_or(runlog_core::WireError::BufferFull)?.copy_from_slice(p);
                Ok(n)
            })
        };
        // An attached ring (another process's, as a spool file): everything
        // goes in, and the drain checks it.
        let mut storage = vec![0u8; 1 << 16];
        // SAFETY: `storage` outlives both ends and nothing else uses it.
        let mut producer = unsafe { runlog_core::Producer::format(storage.as_mut_ptr(), storage.len()) }.unwrap();
        for p in &payloads {
            push(&mut producer, p).unwrap();
        }
        // SAFETY: as above; the producer follows the ring protocol.
        let mut consumer = unsafe { runlog_core::Consumer::attach(storage.as_mut_ptr(), storage.len()) }.unwrap();
        let all: Vec<&[u8]> = payloads.iter().map(|p| &p[..]).collect();
        drains_only_good_frames(&mut consumer, &all)?;

        // A split ring: the producer refuses what is not one record its
        // drain reads correctly, and the drain, which trusts the ring, frames
        // the rest.
        let mut storage = vec![0u8; 1 << 16];
        let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
        let mut accepted = Vec::new();
        for p in &payloads {
            // One well-formed record of a kind rings carry; a metric's tag in
            // one byte (the drain reads its head and name after it).
            let well_formed = match runlog_core::wire::decode(p) {
                Ok((Record::NameDef { .. }, [])) => false,
                Ok((Record::Metric(m), [])) => matches!(m.name, Name::Text(_)) && p[0] < 0x80,
                Ok((_, [])) => true,
                Err(_) | Ok(_) => false,
            };
            let before = accepted.len();
            match push(&mut producer, p) {
                Ok(_) => accepted.push(&p[..]),
                Err(e) => prop_assert_eq!(e, runlog_core::PushError::Malformed),
            }
            prop_assert_eq!(accepted.len() == before + 1, well_formed);
        }
        drains_only_good_frames(&mut consumer, &accepted)?;
    }

    /// An uninitialised scratch buffer (here filled with junk, as stack
    /// memory would be) gives the very same stream as a zeroed one, for a
    /// split ring and for an attached one alike.
    #[test]
    fn drain_uninit_sends_the_same_bytes_as_drain(
        records in proptest::collection::vec(any_owned(8, 20), 1..60),
        junk in any::<u8>(),
        scratch_len in 300usize..1200,
    ) {
        let fill = |producer: &mut runlog_core::Producer<'_>| {
            for r in &records {
                producer.push(&r.as_record()).unwrap();
            }
        };
        let mut streams = Vec::new();
        for uninit in [false, true] {
            let mut storage = vec![0u8; 1 << 16];
            let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
            fill(&mut producer);
            let mut stream = Vec::new();
            let mut zeroed = vec![0u8; scratch_len];
            let mut junked = vec![std::mem::MaybeUninit::new(junk); scratch_len];
            loop {
                let stats = if uninit {
                    drain_uninit(&mut consumer, &mut junked, &mut stream, usize::MAX).unwrap()
                } else {
                    drain(&mut consumer, &mut zeroed, &mut stream, usize::MAX).unwrap()
                };
                if stats.records + stats.discarded == 0 {
                    break;
                }
            }
            streams.push(stream);

            let mut storage = vec![0u8; 1 << 16];
            // SAFETY: `storage` outlives both ends and nothing else uses it.
            let mut producer = unsafe { runlog_core::Producer::format(storage.as_mut_ptr(), storage.len()) }.unwrap();
            fill(&mut producer);
            // SAFETY: as above; the producer follows the ring protocol.
            let mut consumer = unsafe { runlog_core::Consumer::attach(storage.as_mut_ptr(), storage.len()) }.unwrap();
            let mut stream = Vec::new();
            loop {
                let stats = if uninit {
                    drain_uninit(&mut consumer, &mut junked, &mut stream, usize::MAX).unwrap()
                } else {
                    drain(&mut consumer, &mut zeroed, &mut stream, usize::MAX).unwrap()
                };
                if stats.records + stats.discarded == 0 {
                    break;
                }
            }
            streams.push(stream);
        }
        prop_assert!(!streams[0].is_empty());
        for s in &streams[1..] {
            prop_assert_eq!(s, &streams[0]);
        }
        let (seen, _) = decode_all(&streams[0], 64);
        prop_assert!(seen.lost_frames.is_empty());
        let want: Vec<_> = records.iter().enumerate().map(|(i, r)| (i as u64, bytes_of(&r.as_record()))).collect();
        prop_assert_eq!(seen.records, want);
    }

    #[test]
    fn random_damage_never_invents_records(
        records in proptest::collection::vec(any_owned(8, 20), 1..40),
        damage in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let mut storage = vec![0u8; 1 << 16];
        let (mut producer, mut consumer) = Ring::format(&mut storage).unwrap().split();
        let mut scratch = [0u8; 512]; // small frames: several per stream
        let mut s = Vec::new();
        for r in &records {
            producer.push(&r.as_record()).unwrap();
            if s.len() % 3 == 0 {
                drain(&mut consumer, &mut scratch, &mut s, usize::MAX).unwrap();
            }
        }
        drain(&mut consumer, &mut scratch, &mut s, usize::MAX).unwrap();
        for (at, byte, kind) in damage {
            if s.is_empty() { break; }
            let at = at % s.len();
            match kind {
                0 => s[at] ^= byte | 1,
                1 => { s.remove(at); }
                _ => s.insert(at, byte),
            }
        }
        let (seen, _) = decode_all(&s, 33);
        // Everything delivered is a record that was sent, under its own number.
        for (seq, bytes) in &seen.records {
            let sent = records.get(*seq as usize).map(|r| bytes_of(&r.as_record()));
            prop_assert_eq!(Some(bytes), sent.as_ref());
        }
    }
}
