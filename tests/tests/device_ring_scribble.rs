//! A device logger's ring lies in the caller's buffer, and `runlog_drain`
//! frames its records as runlog's own encoders wrote them, without decoding
//! them again (issue 19: the full check cost a firmware ~750 B of flash). A
//! firmware that scribbles over that buffer breaks its contract, but must
//! still get no panic, no out-of-bounds access and no hang: corrupted
//! cursors or record headers are reported (INTERNAL), and corrupted record
//! contents reach the receiver, whose decoder refuses what does not decode;
//! records before the damage arrive intact. (A damaged record can make the
//! receiver misread the rest of its frame, which the full check would have
//! prevented: the test counts those cases; docs/firmware.md.)
//!
//! Called through the C ABI from Rust, with a panic hook that counts panics
//! (the ABI's guard would turn one into INTERNAL and hide it).

use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use runlog::device::{runlog_init_static, runlog_static_min_len};
use runlog::logger::*;
use runlog::status::*;
use runlog_core::{Event, FrameDecoder, Name, Record, Value};
use runlog_tests::device::drain_device;

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// xorshift64*: reproducible cases without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const LOSSES: u64 = 40;

/// A static logger in `buf` holding a run start, `LOSSES` `loss` values
/// (value `i` at ticket `i + 1`), a string and a list.
fn logged(buf: &mut Vec<u8>) -> *mut runlog_logger {
    buf.clear();
    buf.resize(runlog_static_min_len() + 4096, 0);
    let mut l = ptr::null_mut();
    // SAFETY: the buffer outlives the logger (the caller keeps it), NUL-terminated texts.
    let s = unsafe {
        runlog_init_static(
            buf.as_mut_ptr(),
            buf.len(),
            c"scribble".as_ptr(),
            ptr::null(),
            &mut l,
        )
    };
    assert_eq!(s, RUNLOG_STATUS_OK);
    for i in 0..LOSSES {
        // SAFETY: a valid logger and name.
        let s = unsafe { runlog_log_f64(l, c"loss".as_ptr(), i as f64, ptr::null_mut()) };
        assert_eq!(s, RUNLOG_STATUS_OK);
    }
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            runlog_log_str(l, c"board".as_ptr(), c"mps2".as_ptr(), ptr::null_mut()),
            RUNLOG_STATUS_OK
        );
        let list = [0.5f64, -1.0, 2.0];
        assert_eq!(
            runlog_log_f64_list(l, c"cal".as_ptr(), list.as_ptr(), 3, ptr::null_mut()),
            RUNLOG_STATUS_OK
        );
    }
    l
}

/// The ring inside `buf`: where its header starts (found by its magic).
fn ring_at(buf: &[u8]) -> usize {
    (0..buf.len() - 4)
        .step_by(4)
        .find(|&i| &buf[i..i + 4] == b"RLRG")
        .expect("a formatted ring in the buffer")
}

/// Where each published record's payload lies in `buf`, walking the ring's record headers.
fn payloads(buf: &[u8], ring: usize) -> Vec<std::ops::Range<usize>> {
    let word = |at: usize| u32::from_le_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
    let data = ring + 128;
    let write_pos = word(ring + 16);
    let mut out = Vec::new();
    let mut at = 0;
    while at < write_pos {
        let len = word(data + at);
        out.push(data + at + 8..data + at + 8 + len);
        at += (8 + len + 3) & !3;
    }
    out
}

/// Decodes `stream`: the `loss` values by ticket, and how many records
/// the decoder refused or lost.
fn decode(stream: &[u8]) -> (Vec<(u64, f64)>, usize) {
    let (mut losses, mut refused) = (Vec::new(), 0);
    FrameDecoder::new().feed(stream, |e| match e {
        Event::Record {
            seq,
            record: Record::Metric(m),
        } if m.name == Name::Text("loss") => {
            if let Value::F64(v) = m.value {
                losses.push((seq, v));
            }
        }
        Event::Record { .. } => {}
        _ => refused += 1,
    });
    (losses, refused)
}

/// Counts every panic (the default hook still prints it).
fn count_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::Relaxed);
            default(info);
        }));
    });
}

#[test]
fn scribbled_record_contents_are_framed_and_refused_downstream_without_a_panic() {
    count_panics();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = Vec::new();
    let (mut refused_cases, mut misread_cases, cases) = (0, 0, 3000);
    for case in 0..cases {
        let l = logged(&mut buf);
        let ring = ring_at(&buf);
        let records = payloads(&buf, ring);
        // 1 to 4 random bytes over random payloads; remember which tickets were hit.
        let mut hit = std::collections::BTreeSet::new();
        for _ in 0..1 + rng.below(4) {
            let r = rng.below(records.len());
            let range = records[r].clone();
            let at = range.start + rng.below(range.len());
            buf[at] = rng.next() as u8;
            hit.insert(r as u64);
        }
        // SAFETY: `l` lives in `buf`, which this case still holds; its ring
        // was scribbled on, which is what the drain must survive.
        let (statuses, stream) = unsafe { drain_device(l) };
        assert!(
            statuses.iter().all(|&s| s == RUNLOG_STATUS_OK),
            "case {case}: intact cursors and headers, yet {statuses:?}"
        );
        let (losses, refused) = decode(&stream);
        refused_cases += usize::from(refused != 0);
        let first_hit = *hit.first().unwrap();
        let mut misread = false;
        for (seq, v) in losses {
            if seq < first_hit {
                // Everything before the first damaged record decodes as it was.
                assert_eq!(
                    v,
                    (seq - 1) as f64,
                    "case {case}: a record before the damage changed"
                );
            } else if !hit.contains(&seq) && v != (seq - 1) as f64 {
                // A damaged record whose length fields changed makes the
                // receiver misread the rest of its frame (the full check
                // would have discarded it): the price of not linking it.
                misread = true;
            }
        }
        misread_cases += usize::from(misread);
    }
    assert_eq!(PANICS.load(Ordering::Relaxed), 0, "a drain panicked");
    println!(
        "{cases} cases: {refused_cases} with records the decoder refused, \
         {misread_cases} with a later record of the damaged frame misread"
    );
    assert!(refused_cases > 0);
}

#[test]
fn scribbled_cursors_and_record_headers_are_reported_without_a_panic() {
    count_panics();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut buf = Vec::new();
    let (mut internal, cases) = (0, 3000);
    for case in 0..cases {
        let l = logged(&mut buf);
        let ring = ring_at(&buf);
        let records = payloads(&buf, ring);
        // One record header word, or the producer's or consumer's cursor.
        let at = match rng.below(3) {
            0 => ring + 16,
            1 => ring + 64,
            _ => {
                let r = &records[rng.below(records.len())];
                r.start - 8 + 4 * rng.below(2)
            }
        };
        let word = rng.next() as u32 & [0xff, 0xffff, u32::MAX][rng.below(3)];
        buf[at..at + 4].copy_from_slice(&word.to_le_bytes());
        // SAFETY: `l` lives in `buf`, which this case still holds; its ring
        // was scribbled on, which is what the drain must survive.
        let (statuses, stream) = unsafe { drain_device(l) };
        for &s in &statuses {
            assert!(
                s == RUNLOG_STATUS_OK || s == RUNLOG_STATUS_INTERNAL,
                "case {case}: {s:?}"
            );
        }
        internal += usize::from(statuses.contains(&RUNLOG_STATUS_INTERNAL));
        let (losses, _) = decode(&stream);
        for (seq, v) in losses {
            assert_eq!(v, (seq - 1) as f64, "case {case}: a value arrived changed");
        }
    }
    assert_eq!(PANICS.load(Ordering::Relaxed), 0, "a drain panicked");
    println!("{cases} cases, {internal} reported INTERNAL");
    assert!(internal > 0);
}
