//! Where the producer puts a record, for every write offset, every amount of
//! free space and every record size in a 64-byte ring: at the write cursor
//! when it fits before the end, else at offset 0 behind a pad marker when it
//! fits there, else `TooLarge` (no free slot could ever hold it) or `Full`.
//! Checked byte for byte in the storage against a model of that rule, so a
//! reshaped `Producer::try_push` cannot move a record, skip a pad marker or
//! overwrite unreleased bytes unseen.

use core::sync::atomic::{AtomicU32, Ordering};

use runlog_core::ring::{max_payload, storage_len, RECORD_HEADER_LEN};
use runlog_core::{Producer, PushError, WireError};

const CAP: u32 = 64;
const RELEASE_POS: usize = 64;
const WRITE_POS: usize = 16;
const DATA: usize = 128;
const PAD_MARKER: u32 = u32::MAX;

#[repr(C, align(64))]
struct Storage([u8; storage_len(CAP)]);

fn word(s: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(s[at..at + 4].try_into().unwrap())
}

fn align_up(n: u32) -> u32 {
    (n + 3) & !3
}

/// The storage's bytes, read through the pointer the producer was made from.
fn bytes<'a>(ptr: *mut u8) -> &'a [u8] {
    // SAFETY: `ptr` is the start of a live `Storage`; no producer writes it
    // while the returned slice is used (the callers push nothing more, or copy).
    unsafe { core::slice::from_raw_parts(ptr, storage_len(CAP)) }
}

/// An encoder that writes exactly `n` bytes of `fill`.
fn exactly(n: usize, fill: u8) -> impl Fn(&mut [u8]) -> Result<usize, WireError> {
    move |buf: &mut [u8]| {
        let dst = buf.get_mut(..n).ok_or(WireError::BufferFull)?;
        dst.fill(fill);
        Ok(n)
    }
}

/// What the push of an `n`-byte record should do, from the cursors alone.
#[derive(Debug, PartialEq)]
enum Placed {
    /// At this data offset, after skipping this many bytes.
    At {
        off: u32,
        skipped: u32,
    },
    Refused(PushError),
}

fn model(write: u32, release: u32, n: u32) -> Placed {
    let max_total = RECORD_HEADER_LEN + max_payload(CAP);
    let total = RECORD_HEADER_LEN + n;
    let free = CAP - (write - release);
    let off = write % CAP;
    let to_end = CAP - off;
    // The producer tries a slot only when it has room for more than a
    // record header (so an empty payload never takes an 8-byte tail).
    let fits = |room: u32| room > RECORD_HEADER_LEN && total <= room;
    if fits(to_end.min(free).min(max_total)) {
        return Placed::At { off, skipped: 0 };
    }
    if to_end < free && fits((free - to_end).min(max_total)) {
        return Placed::At {
            off: 0,
            skipped: to_end,
        };
    }
    if to_end.min(free) >= max_total || (to_end < free && free - to_end >= max_total) {
        return Placed::Refused(PushError::TooLarge);
    }
    Placed::Refused(PushError::Full)
}

/// Stores the consumer's release cursor, as a consumer in another process would.
fn release(ptr: *mut u8, pos: u32) {
    // SAFETY: the header's release cursor is an aligned `AtomicU32` inside the
    // storage, which outlives this call; the producer only reads it atomically.
    let cursor = unsafe { &*(ptr.add(RELEASE_POS) as *const AtomicU32) };
    cursor.store(pos, Ordering::Release);
}

/// A producer whose write cursor is at `write` (one lap plus an offset) and
/// whose consumer has released up to `write - used`; `None` when no
/// sequence of pushes gets there (an 8-byte record never takes the last 8
/// free bytes, so a full ring cannot end with one).
fn producer_at(ptr: *mut u8, write: u32, used: u32) -> Option<Producer<'static>> {
    // SAFETY: the caller's storage outlives the producer, the only producer.
    let mut p = unsafe { Producer::format(ptr, storage_len(CAP)) }.unwrap();
    let released_to = write - used;
    let mut at = 0;
    while at < write {
        // Fillers of 8 to 32 bytes, none wrapping: two make the first lap,
        // then they add up to the offset in the second.
        let left = if at < CAP { CAP - at } else { write - at };
        let total = match left {
            0..=32 => left,
            33..=39 => 24,
            _ => 32,
        };
        let filler = exactly((total - RECORD_HEADER_LEN) as usize, 0xEE);
        if p.push_encoder(&filler, false).is_err() {
            assert!(total == RECORD_HEADER_LEN && used == CAP, "{write} {used}");
            return None;
        }
        at += total;
        release(ptr, at.min(released_to));
    }
    Some(p)
}

#[test]
fn every_record_goes_where_the_placement_rule_says() {
    let mut cases = 0;
    // Under miri (which checks the producer's raw writes) the edges only.
    let sample = |v: &u32| !cfg!(miri) || [0, 1, 8, 12, 24, 25, 32, 56, 60, 64].contains(v);
    // A record always ends at offset 0 or at 8 or more, never at 4.
    for off in (0..CAP).step_by(4).filter(|&o| o != 4).filter(sample) {
        let write = CAP + off;
        for used in (0..=CAP).step_by(4).filter(sample) {
            for n in (0..=max_payload(CAP) + 12).filter(sample) {
                let mut st = Storage([0; storage_len(CAP)]);
                let ptr = st.0.as_mut_ptr();
                let Some(mut p) = producer_at(ptr, write, used) else {
                    continue;
                };
                let seq = p.next_seq();
                let before = bytes(ptr).to_vec();
                let want = model(write, write - used, n);
                let got = p.push_encoder(&exactly(n as usize, 0xC3), false);
                let s = bytes(ptr);
                let what = format!("off {off}, used {used}, n {n}: {want:?}, got {got:?}");
                match want {
                    Placed::At { off: at, skipped } => {
                        assert_eq!(got, Ok(seq), "{what}");
                        let at = DATA + at as usize;
                        assert_eq!(word(s, at), n, "{what}: length");
                        assert_eq!(word(s, at + 4), seq as u32, "{what}: sequence");
                        let payload = &s[at + 8..at + 8 + n as usize];
                        assert!(payload.iter().all(|&b| b == 0xC3), "{what}: payload");
                        let pad = word(s, DATA + off as usize);
                        if skipped >= RECORD_HEADER_LEN {
                            assert_eq!(pad, PAD_MARKER, "{what}: pad marker");
                        } else if skipped != 0 {
                            assert_ne!(pad, PAD_MARKER, "{what}: no marker in a short tail");
                        }
                        let end = write + skipped + align_up(RECORD_HEADER_LEN + n);
                        assert_eq!(word(s, WRITE_POS), end, "{what}: write cursor");
                    }
                    Placed::Refused(e) => {
                        assert_eq!(got, Err(e), "{what}");
                        assert_eq!(word(s, WRITE_POS), write, "{what}: nothing published");
                    }
                }
                // Bytes the consumer has not released are never written,
                // whether the record was placed or refused.
                for pos in (write - used)..write {
                    let at = DATA + (pos % CAP) as usize;
                    assert_eq!(s[at], before[at], "{what}: unreleased byte {pos} written");
                }
                cases += 1;
            }
        }
    }
    assert!(cases > if cfg!(miri) { 200 } else { 5000 }, "{cases}");
}
