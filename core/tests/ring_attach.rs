//! The ring's shared layout, pinned byte for byte, and attaching to storage
//! that another process may have corrupted: clear errors, never a read or
//! write out of bounds. Also the spool file header.

use proptest::prelude::*;
use runlog_core::ring::{RingError, HEADER_LEN, RING_MAGIC, RING_VERSION};
use runlog_core::spool::{
    read_header, write_header, SpoolError, SpoolInfo, SPOOL_HEADER_LEN, SPOOL_MAGIC,
};
use runlog_core::{
    drain, Consumer, Event, FrameDecoder, Metric, Name, Producer, PushError, Record, Ring, Value,
};

#[repr(C, align(64))]
struct Storage([u8; 128 + 256]);

fn word(s: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(s[at..at + 4].try_into().unwrap())
}

fn put(s: &mut [u8], at: usize, v: u32) {
    s[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn m(i: i64) -> Record<'static> {
    Record::Metric(Metric {
        name: Name::Text("m"),
        value: Value::I64(i),
        step: None,
        time_ms: None,
    })
}

/// A formatted ring in `s` with `n` records pushed, read and committed up to `committed`.
fn ring_with(s: &mut [u8], n: i64, committed: i64) {
    // One pointer for both ends: taking a second `as_mut_ptr` of the slice
    // would invalidate the first (miri's aliasing model says so).
    let (ptr, len) = (s.as_mut_ptr(), s.len());
    // SAFETY: `s` outlives both ends, which are dropped before returning.
    let mut p = unsafe { Producer::format(ptr, len) }.unwrap();
    // SAFETY: as above; the only consumer.
    let mut c = unsafe { Consumer::attach(ptr, len) }.unwrap();
    for i in 0..n {
        p.push(&m(i)).unwrap();
    }
    for _ in 0..committed {
        c.read().unwrap().unwrap();
    }
    c.commit();
}

fn attach(s: &mut [u8]) -> Result<Consumer<'_>, RingError> {
    // SAFETY: `s` is borrowed for the consumer's lifetime.
    unsafe { Consumer::attach(s.as_mut_ptr(), s.len()) }
}

#[test]
fn header_layout_is_pinned() {
    assert_eq!(HEADER_LEN, 128);
    assert_eq!(RING_MAGIC.to_le_bytes(), *b"RLRG");
    assert_eq!(RING_VERSION, 1);
    let mut st = Storage([0xAA; 384]);
    let s = &mut st.0;
    let (ptr, len) = (s.as_mut_ptr(), s.len());
    // SAFETY: `s` outlives both ends.
    let mut p = unsafe { Producer::format(ptr, len) }.unwrap();
    // SAFETY: as above.
    let mut c = unsafe { Consumer::attach(ptr, len) }.unwrap();
    assert_eq!(c.capacity(), 256);
    p.push(&m(5)).unwrap();
    c.read().unwrap().unwrap();
    c.commit();
    c.heartbeat(7);
    p.close();
    let _ = (p, c); // both ends are done; the bytes below are what they left
    assert_eq!(&s[0..4], b"RLRG", "magic");
    assert_eq!(word(s, 4), 1, "version");
    assert_eq!(word(s, 8), 256, "capacity");
    assert_eq!(word(s, 12), 1, "flags: producer closed");
    assert_eq!(
        word(s, 16),
        16,
        "write_pos: 8-byte header + 5-byte payload, aligned to 4"
    );
    assert_eq!(word(s, 20), 0, "dropped_total");
    assert_eq!(word(s, 64), 16, "release_pos");
    assert_eq!(word(s, 68), 1, "ack_seq");
    assert_eq!(word(s, 72), 7, "heartbeat");
    // The record: length and low 32 bits of its sequence number, then the payload.
    assert_eq!(word(s, 128), 5);
    assert_eq!(word(s, 132), 0);
    assert_eq!(&s[136..141], &[0x00, 0x08, 0x01, b'm', 0x0A]);
}

#[test]
fn a_record_that_does_not_fit_before_the_end_leaves_a_pad_marker() {
    let mut st = Storage([0; 384]);
    let s = &mut st.0;
    let data = [9u8; 20];
    {
        let (mut p, mut c) = Ring::format(&mut s[..]).unwrap().split();
        // 15 records of 16 bytes: write_pos 240, 16 bytes before the end.
        for i in 0..15 {
            p.push(&m(i)).unwrap();
            c.read().unwrap().unwrap();
            c.commit();
        }
        // 8 + 24 bytes: does not fit in the last 16.
        p.push(&Record::ArtifactChunk {
            id: 1,
            offset: 0,
            data: runlog_core::Bytes(&data),
        })
        .unwrap();
        let e = c.read().unwrap().unwrap();
        assert_eq!(e.seq, 15);
    }
    assert_eq!(word(s, 128 + 240), u32::MAX, "pad marker at the old end");
    assert_eq!(word(s, 128), 24, "record restarts at offset 0");
    assert_eq!(word(s, 132), 15);
    assert_eq!(word(s, 16), 256 + 32, "write_pos counts the skipped tail");
}

#[test]
fn attach_refuses_bad_headers() {
    let mut st = Storage([0; 384]);
    ring_with(&mut st.0, 3, 1);
    let cases: [(usize, u32, RingError); 5] = [
        (0, 0x4752_4C51, RingError::BadMagic),
        (4, 2, RingError::UnsupportedVersion(2)),
        (8, 100, RingError::BadCapacity(100)),
        (8, 512, RingError::BadCapacity(512)),
        (8, 32, RingError::BadCapacity(32)),
    ];
    for (at, value, error) in cases {
        let mut copy = Storage(st.0);
        put(&mut copy.0, at, value);
        assert_eq!(
            attach(&mut copy.0).err(),
            Some(error),
            "field at {at} = {value}"
        );
    }
    // Cursors: more in use than the capacity, or not 4-aligned.
    for (write, release) in [(300, 0), (16, 32), (18, 0), (u32::MAX - 3, 8)] {
        let mut copy = Storage(st.0);
        put(&mut copy.0, 16, write);
        put(&mut copy.0, 64, release);
        assert_eq!(
            attach(&mut copy.0).err(),
            Some(RingError::Corrupt),
            "write {write} release {release}"
        );
    }
    // Too short, and misaligned storage.
    assert_eq!(
        attach(&mut st.0[..128 + 63]).err(),
        Some(RingError::TooSmall)
    );
    assert_eq!(attach(&mut st.0[1..]).err(), Some(RingError::Misaligned));
    // A capacity larger than the storage given.
    assert_eq!(
        attach(&mut st.0[..128 + 255]).err(),
        Some(RingError::BadCapacity(256))
    );
    // The original is fine.
    assert!(attach(&mut st.0).is_ok());
}

#[test]
fn corrupted_records_are_reported_not_read() {
    let mut st = Storage([0; 384]);
    ring_with(&mut st.0, 3, 0);
    // (offset in storage, value) -> the first read fails.
    let cases = [
        (128, 1000u32), // a length past the data area
        (128, 121),     // longer than max_payload
        (128, 100),     // past write_pos
    ];
    for (at, v) in cases {
        let mut copy = Storage(st.0);
        put(&mut copy.0, at, v);
        let mut c = attach(&mut copy.0).unwrap();
        assert_eq!(c.read().err(), Some(RingError::Corrupt), "{at} = {v}");
    }
    // The second record claims the wrong sequence number.
    let mut copy = Storage(st.0);
    put(&mut copy.0, 128 + 16 + 4, 7);
    let mut c = attach(&mut copy.0).unwrap();
    assert_eq!(c.read().unwrap().unwrap().seq, 0);
    assert_eq!(c.read().err(), Some(RingError::Corrupt));
}

#[test]
fn a_corrupt_release_cursor_never_makes_the_producer_overwrite() {
    let mut st = Storage([0; 384]);
    let s = &mut st.0;
    let base = s.as_mut_ptr();
    // SAFETY: `s` outlives the producer.
    let mut p = unsafe { Producer::format(base, s.len()) }.unwrap();
    let mut accepted = 0;
    while p.push(&m(accepted)).is_ok() {
        accepted += 1;
    }
    let snapshot = s[128..].to_vec();
    // A hostile consumer moves release_pos ahead of write_pos, or misaligns it.
    for release in [u32::MAX - 15, 512, 2, 254] {
        // SAFETY: in bounds, 4-aligned; an atomic-width store like the consumer's.
        unsafe { base.add(64).cast::<u32>().write_volatile(release) };
        assert_eq!(p.push(&m(-1)), Err(PushError::Full), "release {release}");
        assert_eq!(&s[128..], &snapshot[..], "no record overwritten");
    }
}

/// The producer reads the release cursor before every push: a corrupt one
/// (ahead of the write cursor, or misaligned) is ignored and the last sound
/// one stays in use, so records still go into space the consumer really
/// released, and no unreleased byte is ever written, up to a `Full` ring.
#[test]
fn a_corrupt_release_cursor_leaves_the_last_sound_one_in_use() {
    for release in [u32::MAX - 15, 512, 2, 254] {
        let mut st = Storage([0; 384]);
        let s = &mut st.0;
        let base = s.as_mut_ptr();
        // SAFETY: `s` outlives the producer.
        let mut p = unsafe { Producer::format(base, s.len()) }.unwrap();
        // SAFETY: in bounds, 4-aligned; an atomic-width store like the consumer's.
        unsafe { base.add(64).cast::<u32>().write_volatile(release) };
        let mut accepted = 0;
        loop {
            // SAFETY: in bounds; the producer is not writing now.
            let written = unsafe { base.add(16).cast::<u32>().read_volatile() } as usize;
            let before = s[128..128 + written].to_vec();
            let pushed = p.push(&m(accepted));
            assert_eq!(&s[128..128 + written], &before[..], "release {release}");
            match pushed {
                Ok(seq) => assert_eq!(seq, accepted as u64),
                Err(e) => {
                    assert_eq!(e, PushError::Full, "release {release}");
                    break;
                }
            }
            accepted += 1;
        }
        assert!(
            accepted > 4,
            "release {release}: the ring filled ({accepted})"
        );
    }
}

#[test]
fn spool_header_is_pinned_and_validated() {
    let info = SpoolInfo {
        run_id: "r-1",
        experiment: "exp",
        pid: 0x0102_0304,
        created_ms: 0x0A0B_0C0D_0E0F,
    };
    let mut h = [0xEEu8; 600];
    write_header(&info, &mut h).unwrap();
    assert_eq!(&h[0..8], &SPOOL_MAGIC);
    assert_eq!(&h[0..8], b"RUNLOG\0S");
    assert_eq!(word(&h, 8), 2, "spool layout version");
    assert_eq!(h[12], 2, "wire version");
    assert_eq!(word(&h, 16), 0x0102_0304, "pid");
    assert_eq!(&h[20..28], &0x0A0B_0C0D_0E0Fu64.to_le_bytes(), "created");
    assert_eq!(&h[28..32], &[3, 0, 3, 0], "text lengths");
    assert_eq!(&h[32..35], b"r-1");
    assert_eq!(&h[96..99], b"exp");
    assert!(h[99..SPOOL_HEADER_LEN].iter().all(|&b| b == 0));
    assert_eq!(h[SPOOL_HEADER_LEN], 0xEE, "nothing written past the header");
    assert_eq!(read_header(&h), Ok(info));

    let bad = |at: usize, v: u8| {
        let mut c = h;
        c[at] = v;
        read_header(&c).err()
    };
    assert_eq!(bad(0, b'X'), Some(SpoolError::BadMagic));
    assert_eq!(bad(8, 3), Some(SpoolError::UnsupportedVersion(3, 2)));
    assert_eq!(bad(8, 0), Some(SpoolError::UnsupportedVersion(0, 2)));
    // A spool written by a version-1 runlog: refused, naming both versions.
    assert_eq!(bad(12, 1), Some(SpoolError::UnsupportedVersion(2, 1)));
    assert_eq!(
        SpoolError::UnsupportedVersion(3, 2).to_string(),
        "spool file has layout version 3 and wire version 2; this runlog reads layout 1 to 2 and wire 2"
    );
    assert_eq!(bad(12, 9), Some(SpoolError::UnsupportedVersion(2, 9)));
    // Layout 1 (no placement) is still read.
    assert_eq!(bad(8, 1), None);
    assert_eq!(
        bad(28, 65),
        Some(SpoolError::Corrupt),
        "run id longer than its field"
    );
    assert_eq!(
        bad(31, 1),
        Some(SpoolError::Corrupt),
        "experiment longer than its field"
    );
    assert_eq!(bad(32, 0xFF), Some(SpoolError::Corrupt), "not UTF-8");
    assert_eq!(read_header(&h[..511]).err(), Some(SpoolError::TooShort));
    let long = "x".repeat(65);
    assert_eq!(
        write_header(
            &SpoolInfo {
                run_id: &long,
                ..info
            },
            &mut h
        ),
        Err(SpoolError::FieldTooLong)
    );
    assert_eq!(
        write_header(&info, &mut h[..100]),
        Err(SpoolError::TooShort)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 3000 }))]

    /// Whatever another process left in the storage, reading it never goes
    /// out of bounds and never panics.
    #[test]
    fn random_ring_content_is_never_read_out_of_bounds(
        content in proptest::collection::vec(any::<u8>(), 256),
        write in 0u32..600,
        release in 0u32..600,
        plausible in proptest::collection::vec((0usize..64, 0u32..140), 0..6),
    ) {
        let mut st = Storage([0; 384]);
        let s = &mut st.0;
        ring_with(s, 0, 0);
        s[128..].copy_from_slice(&content);
        // Sprinkle plausible record headers so that reads get past the first check.
        for (slot, len) in plausible {
            put(s, 128 + slot * 4, len);
        }
        put(s, 16, write & !3);
        put(s, 64, release & !3);
        let pristine = s.to_vec();
        let range = s.as_ptr_range();
        let (lo, hi) = (range.start as usize + 128, range.end as usize);
        if let Ok(mut c) = attach(s) {
            for _ in 0..80 {
                match c.read() {
                    Ok(Some(e)) => {
                        let (a, b) = (e.bytes.as_ptr() as usize, e.bytes.as_ptr() as usize + e.bytes.len());
                        prop_assert!(a >= lo && b <= hi, "entry outside the data area");
                        let _ = e.record();
                    }
                    Ok(None) | Err(_) => break,
                }
                c.commit();
            }
        }
        // Draining the same storage never panics and never writes a frame
        // that the decoder refuses, whatever records it holds.
        s.copy_from_slice(&pristine);
        if let Ok(mut c) = attach(s) {
            let mut scratch = [0u8; 4096];
            let mut stream = Vec::new();
            let _ = drain(&mut c, &mut scratch, &mut stream, 1 << 20);
            let mut bad = None;
            FrameDecoder::new().feed(&stream, |e| {
                if let Event::FrameLost(e) = e {
                    bad = Some(e);
                }
            });
            prop_assert_eq!(bad, None);
        }
    }
}

#[test]
fn spool_placement_is_pinned_and_validated() {
    use runlog_core::spool::{read_placement, write_placement, Placement};
    let info = SpoolInfo {
        run_id: "r",
        experiment: "e",
        pid: 1,
        created_ms: 2,
    };
    let mut h = [0u8; SPOOL_HEADER_LEN];
    write_header(&info, &mut h).unwrap();
    assert_eq!(read_placement(&h), Ok(Placement::default()), "none written");
    let p = Placement {
        rank: Some(0x0102_0304),
        world_size: Some(8),
        node: "nodeB",
    };
    write_placement(&p, &mut h).unwrap();
    assert_eq!(h[352], 0b11, "flags: rank and world size known");
    assert_eq!(word(&h, 356), 0x0102_0304, "rank");
    assert_eq!(word(&h, 360), 8, "world size");
    assert_eq!(&h[364..366], &[5, 0], "node length");
    assert_eq!(&h[366..371], b"nodeB");
    assert!(h[371..].iter().all(|&b| b == 0));
    assert_eq!(
        read_header(&h),
        Ok(info),
        "the layout-1 fields are unchanged"
    );
    assert_eq!(read_placement(&h), Ok(p));
    let rank_only = Placement {
        rank: Some(0),
        world_size: None,
        node: "",
    };
    write_placement(&rank_only, &mut h).unwrap();
    assert_eq!(read_placement(&h), Ok(rank_only));

    // A layout-1 file's reserved bytes are not read as a placement.
    let mut v1 = h;
    v1[8] = 1;
    assert_eq!(read_placement(&v1), Ok(Placement::default()));
    // Hostile bytes: unknown flags, a node longer than its field, not UTF-8.
    let bad = |at: usize, v: u8| {
        let mut c = h;
        c[at] = v;
        read_placement(&c).err()
    };
    assert_eq!(bad(352, 4), Some(SpoolError::Corrupt));
    assert_eq!(bad(364, 65), Some(SpoolError::Corrupt));
    let mut c = h;
    c[364] = 1;
    c[366] = 0xFF;
    assert_eq!(read_placement(&c).err(), Some(SpoolError::Corrupt));
    assert_eq!(
        write_placement(
            &Placement {
                node: &"n".repeat(65),
                ..rank_only
            },
            &mut h
        ),
        Err(SpoolError::FieldTooLong)
    );
}
