//! Frames: how records cross a byte stream (UART, TCP, a capture file).
//!
//! ```text
//! frame   = COBS(payload) 0x00
//! payload = "RL" version:u8 first_seq:varint record* crc32:u32le
//! ```
//!
//! A frame carries several records so that its fixed cost (header, CRC,
//! delimiter) is shared. Records are ring records with one change: a metric's
//! name is interned. The first record in a frame that uses a name is preceded
//! by a [`Record::NameDef`] giving it a frame-local id, and later records in the
//! frame carry only that id. Every frame defines the names it uses, so any
//! intact frame decodes on its own: after a lost frame, or for a reader that
//! joins mid-stream, no name is ever guessed.
//!
//! Records other than `NameDef` are numbered from `first_seq` upwards, so the
//! decoder can tell how many records a lost frame took with it.

use core::mem::MaybeUninit;

use embedded_io::{Read, Write};

use crate::cobs;
use crate::crc::{crc32, Crc32};
use crate::metric_wire::NAME_IS_TEXT;
use crate::record::{Metric, Name, Record};
use crate::ring::{Consumer, RingError};
use crate::skim::{self, Shape};
use crate::wire::{self, WireError, WIRE_VERSION};

/// Bytes that open every frame payload.
pub const FRAME_MAGIC: [u8; 2] = *b"RL";
/// Largest frame payload (CRC included) an encoder may produce and a decoder accepts.
pub const MAX_FRAME_PAYLOAD: usize = 4096;
/// Largest COBS-encoded frame, delimiter excluded.
pub const MAX_ENCODED_FRAME: usize = cobs::max_encoded_len(MAX_FRAME_PAYLOAD) - 1;
/// Most distinct names one frame defines.
pub const MAX_FRAME_NAMES: usize = 32;
// Name ids are written as one-byte varints.
const _: () = assert!(MAX_FRAME_NAMES <= 0x80);

const CRC_LEN: usize = 4;
/// Where a payload starts in a builder's buffer: after the spare byte where
/// the COBS encoder stores the first block's code byte.
const START: usize = 1;
/// Magic, version and the longest varint `u64`.
const MAX_HEADER_LEN: usize = 3 + 10;

/// Builds one frame payload in a caller-provided buffer.
pub struct FrameBuilder<'s> {
    payload: Payload<'s>,
    next_seq: u64,
    records: u32,
}

/// A frame payload being built: what a drain needs of a [`FrameBuilder`]
/// (a drain counts records and knows they follow one another itself).
struct Payload<'s> {
    /// Only `START..len` (then the CRC after it) is ever read, and only
    /// after being written, so the buffer need not be initialised.
    buf: &'s mut [MaybeUninit<u8>],
    /// Where the payload (CRC included) must end, and where it ends now.
    limit: usize,
    len: usize,
    /// Where each defined name's text sits in `buf`; entries from
    /// `name_count` on are unset. Left uninitialised rather than zeroed: a
    /// zeroed table costs a firmware `memclr`/`memcpy` (330 B of flash).
    names: [MaybeUninit<(u16, u16)>; MAX_FRAME_NAMES],
    name_count: usize,
}

/// Why a record cannot be added to a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddError {
    /// The frame has no room left for it: finish this frame and start another.
    FrameFull,
    /// Even an empty frame of this size cannot hold it.
    TooLarge,
    /// The ring record does not decode.
    Malformed,
}

impl<'s> FrameBuilder<'s> {
    /// A builder writing into `buf`; payloads (CRC included) never exceed
    /// `buf.len() - 2` or [`MAX_FRAME_PAYLOAD`]: a payload starts at
    /// `buf[1]`, so that a drain COBS-encodes it where it is, with a spare
    /// byte on each side ([`scratch_len`]).
    pub fn new(buf: &'s mut [u8]) -> Self {
        // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout, and
        // the builder only ever writes initialised bytes, so `buf` stays
        // initialised for its owner.
        Self::new_uninit(unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) })
    }

    /// Like [`FrameBuilder::new`], over a buffer that need not be
    /// initialised (zeroing a scratch buffer costs a firmware `memclr`).
    pub fn new_uninit(buf: &'s mut [MaybeUninit<u8>]) -> Self {
        Self {
            payload: Payload::new(buf),
            next_seq: 0,
            records: 0,
        }
    }

    /// Whether the frame holds no record yet.
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// Records in the frame.
    pub fn records(&self) -> u32 {
        self.records
    }

    /// Adds the ring record `bytes`, whose sequence number is `seq`.
    pub fn add(&mut self, seq: u64, bytes: &[u8]) -> Result<(), AddError> {
        // Frames number their records consecutively.
        let follows = self.is_empty() || seq == self.next_seq;
        // Checked without decoding: see `skim` for why.
        self.payload
            .add_shaped(seq, bytes, skim::check(bytes), follows)?;
        self.records += 1;
        self.next_seq = seq.wrapping_add(1);
        Ok(())
    }

    /// Appends the CRC and returns the finished payload; the builder is then empty again.
    pub fn finish(&mut self) -> &[u8] {
        self.records = 0;
        let frame = self.payload.seal();
        let end = frame.len().saturating_sub(1);
        let payload = frame.get(START..end).unwrap_or_default();
        // SAFETY: `seal` says the payload was written; `MaybeUninit<u8>` and
        // `u8` have the same layout.
        unsafe { &*(payload as *const [MaybeUninit<u8>] as *const [u8]) }
    }
}

impl<'s> Payload<'s> {
    fn new(buf: &'s mut [MaybeUninit<u8>]) -> Self {
        let limit = START + buf.len().saturating_sub(2).min(MAX_FRAME_PAYLOAD);
        Self {
            buf,
            limit,
            len: START,
            names: [MaybeUninit::uninit(); MAX_FRAME_NAMES],
            name_count: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.len == START
    }

    /// Adds a record whose shape the caller found (`None`: malformed).
    /// `follows`: the record's sequence number follows the frame's last
    /// record's (the drain knows this without comparing 64-bit numbers: the
    /// consumer reads consecutive records, so only a discard breaks the run).
    fn add_shaped(
        &mut self,
        seq: u64,
        bytes: &[u8],
        shape: Option<Shape>,
        follows: bool,
    ) -> Result<(), AddError> {
        let (bytes, name) = match shape {
            // `append` reads a metric's head at 1, after a one-byte tag. An
            // overlong tag (postcard reads `80 00` as 0, and so `check`) is
            // cut to its last byte, which the frame replaces with a
            // one-byte tag anyway. (A split ring's `shape` says 1: no cut.)
            Some(Shape::TextMetric {
                head,
                name: (start, stop),
            }) => {
                let skip = head.checked_sub(1).ok_or(AddError::Malformed)?;
                let cut = |at: usize| at.checked_sub(skip).ok_or(AddError::Malformed);
                let from = bytes.get(skip..).ok_or(AddError::Malformed)?;
                (from, Some((cut(start)?, cut(stop)?)))
            }
            Some(Shape::Other) => (bytes, None),
            // Rings carry names as text; an id or a stray definition would
            // make the decoder refuse the whole frame.
            Some(Shape::IdMetric | Shape::NameDef) | None => return Err(AddError::Malformed),
        };
        let first = self.is_empty();
        if !first && !follows {
            return Err(AddError::FrameFull);
        }
        match self.append(first.then_some(seq), bytes, name) {
            Some(()) => Ok(()),
            None if first => Err(AddError::TooLarge),
            None => Err(AddError::FrameFull),
        }
    }

    /// Writes the record (after the frame header, numbered `first`, if it
    /// is the frame's first) past what the frame holds, and keeps it only if
    /// it ends before the CRC's room: one size check for every part, instead
    /// of one per part and a rollback for each. `name` is where a metric's
    /// text name sits in `bytes`. `None`: it does not fit, and the frame is
    /// as it was.
    #[inline(never)]
    fn append(
        &mut self,
        first: Option<u64>,
        bytes: &[u8],
        name: Option<(usize, usize)>,
    ) -> Option<()> {
        let end = self.limit.checked_sub(CRC_LEN)?;
        let mut out = Cursor {
            buf: &mut *self.buf,
            at: self.len,
        };
        if let Some(seq) = first {
            if end < MAX_HEADER_LEN {
                return None;
            }
            out.bytes(&[FRAME_MAGIC[0], FRAME_MAGIC[1], WIRE_VERSION]);
            out.varint(seq);
        }
        // A text-named metric is `tag head len name rest`; in the frame it
        // becomes `tag head' id rest`, the head's text flag cleared, after a
        // `Record::NameDef { id, name }` the first time the frame uses the
        // name. A definition is `tag id len name`: its `len name` are the
        // ring record's own bytes, copied as they are.
        let mut rest = bytes;
        let mut defined = false;
        if let Some((start, stop)) = name {
            let text = bytes.get(start..stop)?;
            let id = match find(&self.names, self.name_count, out.buf, text) {
                Some(id) => id,
                None => {
                    // The next entry (none when all MAX_FRAME_NAMES are
                    // taken), written now: it counts only once `name_count`
                    // moves past it, after the record fits.
                    let entry = self.names.get_mut(self.name_count)?;
                    // Ids stay below MAX_FRAME_NAMES: a one-byte varint.
                    out.bytes(&[skim::TAG_NAME_DEF, self.name_count as u8]);
                    out.bytes(bytes.get(2..stop)?);
                    // The name's text is the tail of its definition.
                    *entry = MaybeUninit::new(((out.at - text.len()) as u16, text.len() as u16));
                    defined = true;
                    self.name_count
                }
            };
            out.bytes(&[skim::TAG_METRIC, *bytes.get(1)? & !NAME_IS_TEXT, id as u8]);
            rest = bytes.get(stop..)?;
        }
        out.bytes(rest);
        let at = out.at;
        if at > end {
            return None;
        }
        self.name_count += usize::from(defined);
        self.len = at;
        Some(())
    }

    /// Appends the CRC and writes the frame to `w`, COBS-encoded where it
    /// was built; returns the bytes written. The builder is then empty again.
    fn encode_to<W: Write>(&mut self, w: &mut W) -> Result<usize, DrainError<W::Error>> {
        let frame = self.seal();
        if frame.is_empty() {
            // Not reachable (every `append` keeps the CRC's room, and `new`
            // a spare byte after it). Were the builder's bounds ever broken,
            // the drain fails, so that the frame's records stay in the ring
            // instead of being committed unsent.
            return Err(DrainError::Ring(RingError::Corrupt));
        }
        // SAFETY: `seal` says the payload, all but the first and last byte
        // of `frame`, was written.
        unsafe { cobs::encode_spare_to(frame, w) }.map_err(DrainError::Write)
    }

    /// Appends the CRC and empties the builder; returns the frame's place in
    /// `buf`: the spare byte, the payload (CRC included, written) and the
    /// spare byte after it (empty only if the builder's bounds were broken).
    fn seal(&mut self) -> &mut [MaybeUninit<u8>] {
        let len = self.len;
        self.len = START;
        self.name_count = 0;
        // Every `append` keeps room for the CRC (`len <= limit - CRC_LEN`),
        // and `new` a spare byte after `limit`.
        let Some(frame) = self.buf.get_mut(..len + CRC_LEN + 1) else {
            return &mut [];
        };
        // SAFETY: `START <= len` (`len` starts there and only grows), and
        // `frame.len()` is `len + CRC_LEN + 1` (no overflow: `len` is at most
        // `limit`, at most `buf.len()`): `START..len` lies in `frame`. `append` is the
        // only writer, and moves `len` only past bytes it wrote from `START`
        // on; `MaybeUninit<u8>` and `u8` have the same layout.
        let payload = unsafe {
            core::slice::from_raw_parts(frame.as_ptr().add(START).cast::<u8>(), len - START)
        };
        let crc = crc32(payload).to_le_bytes();
        // SAFETY: `len + CRC_LEN < frame.len()`, as above (one store: no
        // bounds check per byte).
        unsafe {
            core::ptr::write_unaligned(frame.as_mut_ptr().add(len).cast::<[u8; CRC_LEN]>(), crc)
        };
        frame
    }
}

/// Writes bytes at `at` and moves it on past each, also past the end of
/// `buf` (where nothing is written), so that the caller checks the size once
/// after writing every part of a record.
struct Cursor<'b> {
    buf: &'b mut [MaybeUninit<u8>],
    at: usize,
}

impl Cursor<'_> {
    #[inline(never)]
    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    fn byte(&mut self, b: u8) {
        if let Some(dst) = self.buf.get_mut(self.at) {
            dst.write(b);
        }
        self.at += 1;
    }

    /// A LEB128 varint, a byte at a time (no scratch array to fill and slice).
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte(v as u8 | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }
}

/// The frame-local id of a name the frame already defines: `names`'
/// first `count` entries say where each defined name sits in `buf`.
fn find(
    names: &[MaybeUninit<(u16, u16)>; MAX_FRAME_NAMES],
    count: usize,
    buf: &[MaybeUninit<u8>],
    text: &[u8],
) -> Option<usize> {
    for (id, entry) in names.iter().take(count).enumerate() {
        // SAFETY: entries below `name_count` were written (in `append`)
        // before `name_count` moved past them.
        let (at, len) = unsafe { entry.assume_init() };
        if usize::from(len) != text.len() {
            continue;
        }
        let at = usize::from(at);
        let Some(name) = buf.get(at..at + text.len()) else {
            continue;
        };
        let same = name.iter().zip(text).all(|(x, y)| {
            // SAFETY: a defined name's bytes were written (in `append`)
            // before its entry was.
            unsafe { x.assume_init() == *y }
        });
        if same {
            return Some(id);
        }
    }
    None
}

/// What one [`drain`] call moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainStats {
    /// Bytes written to the transport.
    pub bytes: usize,
    /// Frames written.
    pub frames: u32,
    /// Records written.
    pub records: u32,
    /// Records that could not be framed (larger than a frame, or undecodable) and were discarded.
    pub discarded: u32,
}

/// Why a drain stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DrainError<E> {
    /// The transport failed; records of the frame being written stay in the ring.
    Write(E),
    /// The ring is corrupted.
    Ring(RingError),
}

/// The scratch a drain needs for frame payloads of up to `payload` bytes
/// (CRC included): the payload and a spare byte on each side, where the COBS
/// encoder stores a block's code byte and the frame's delimiter
/// ([`cobs::encode_spare_to`]).
pub const fn scratch_len(payload: usize) -> usize {
    payload + 2
}

/// Moves records from `consumer` to `w` as frames built in `scratch`, writing
/// at most `max_bytes`. Each frame's records are released and acknowledged
/// once the frame is handed to `w` (one `write_all` per COBS block: one per
/// 254 bytes or zero byte).
///
/// A scratch of `N` bytes holds payloads (CRC included) of up to `N - 2`
/// bytes, and at most [`MAX_FRAME_PAYLOAD`]: for payloads of up to `p`
/// bytes, pass [`scratch_len`]`(p)` bytes.
///
/// Records of an attached ring ([`Consumer::attach`]) are checked first, and
/// a malformed one is discarded (counted in [`DrainStats::discarded`]); those
/// of a ring made by [`crate::Ring::split`] were checked when pushed.
pub fn drain<W: Write, const TRUSTED: bool>(
    consumer: &mut Consumer<'_, TRUSTED>,
    scratch: &mut [u8],
    w: &mut W,
    max_bytes: usize,
) -> Result<DrainStats, DrainError<W::Error>> {
    // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout, and the
    // drain only ever writes initialised bytes, so `scratch` stays
    // initialised for its owner.
    let scratch = unsafe { &mut *(scratch as *mut [u8] as *mut [MaybeUninit<u8>]) };
    drain_uninit(consumer, scratch, w, max_bytes)
}

/// Like [`drain`], with a scratch buffer that need not be initialised: a
/// firmware that keeps its scratch on the stack then does not zero it (nor
/// link `memclr`) on every drain.
pub fn drain_uninit<W: Write, const TRUSTED: bool>(
    consumer: &mut Consumer<'_, TRUSTED>,
    scratch: &mut [MaybeUninit<u8>],
    w: &mut W,
    max_bytes: usize,
) -> Result<DrainStats, DrainError<W::Error>> {
    drain_into(consumer, Payload::new(scratch), w, max_bytes)
}

fn drain_into<W: Write, const TRUSTED: bool>(
    consumer: &mut Consumer<'_, TRUSTED>,
    frame: Payload<'_>,
    w: &mut W,
    max_bytes: usize,
) -> Result<DrainStats, DrainError<W::Error>> {
    let mut stats = DrainStats::default();
    if consumer.frame_torn {
        // A write failed mid-frame last time: end whatever part of that
        // frame reached the transport, so the decoder counts it as one lost
        // frame instead of gluing it to the next (and losing both).
        if max_bytes == 0 {
            return Ok(stats);
        }
        w.write_all(&[cobs::DELIMITER]).map_err(DrainError::Write)?;
        consumer.frame_torn = false;
        stats.bytes += 1;
    }
    let result = drain_frames(consumer, frame, w, max_bytes, &mut stats);
    if let Err(e) = &result {
        // Records of the unfinished frame were read but not committed: read
        // them again next time instead of skipping them.
        consumer.rewind();
        if matches!(e, DrainError::Write(_)) {
            consumer.frame_torn = true;
        }
    }
    result.map(|()| stats)
}

fn drain_frames<W: Write, const TRUSTED: bool>(
    consumer: &mut Consumer<'_, TRUSTED>,
    mut frame: Payload<'_>,
    w: &mut W,
    max_bytes: usize,
    stats: &mut DrainStats,
) -> Result<(), DrainError<W::Error>> {
    // A fresh builder's payload limit: what its buffer holds, at most
    // MAX_FRAME_PAYLOAD.
    let full = frame.limit - START;
    loop {
        let budget = max_bytes - stats.bytes;
        let payload_budget = max_payload_for(budget);
        if payload_budget < MAX_HEADER_LEN + CRC_LEN + 2 {
            break;
        }
        // Lowered for this frame only, never above what `new` allowed.
        frame.limit = START + payload_budget.min(full);
        // One `locate` per record: the entry is framed from what it found,
        // and the cursor stepped past it without locating it again.
        // Set when a record is discarded after the frame took some: the
        // next record's number does not follow, so it starts a new frame.
        let mut gap = false;
        // Counted here, not in the builder: a drain whose caller reads no
        // record count (the C ABI's) then keeps none.
        let mut records = 0;
        let ring_done = loop {
            let Some(found) = consumer.locate().map_err(DrainError::Ring)? else {
                break true;
            };
            let entry = consumer.entry(&found);
            let shape = if TRUSTED {
                skim::shape(entry.bytes)
            } else {
                skim::check(entry.bytes)
            };
            match frame.add_shaped(entry.seq, entry.bytes, shape, !gap) {
                Ok(()) => records += 1,
                Err(AddError::FrameFull) => break false,
                Err(AddError::TooLarge) if payload_budget < full => {
                    // Might fit in a full-size frame on a later call.
                    break true;
                }
                Err(_) => {
                    stats.discarded += 1;
                    gap = !frame.is_empty();
                }
            }
            consumer.step(&found);
        };
        if frame.is_empty() {
            if stats.discarded != 0 {
                consumer.commit();
            }
            break;
        }
        // One write per block: the builder encodes the frame where it built it.
        stats.bytes += frame.encode_to(w)?;
        consumer.commit();
        stats.frames += 1;
        stats.records += records;
        if ring_done {
            break;
        }
    }
    Ok(())
}

/// The largest payload whose encoded frame fits in `budget` bytes, before
/// [`MAX_FRAME_PAYLOAD`] (the drain's `min` with its builder's limit, never
/// above it, applies that bound: one `min`, not two).
///
/// Encoding `n` bytes gives `n + n / 254 + 2` ([`cobs::max_encoded_len`]):
/// every 254 payload bytes take 255, so `m = budget - 2` bytes hold
/// `254 * (m / 255)` payload bytes, plus `m % 255` more when that is below
/// 254 (253 when it is 254: the 254th would start another block).
fn max_payload_for(budget: usize) -> usize {
    let m = budget.saturating_sub(2);
    254 * (m / 255) + (m % 255).min(253)
}

/// Why a frame was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// Longer than [`MAX_ENCODED_FRAME`].
    TooLong,
    /// Bad COBS encoding.
    Cobs,
    /// Shorter than a frame header and CRC.
    TooShort,
    /// The CRC does not match: bits flipped or bytes dropped.
    Crc,
    /// Not a runlog frame.
    BadMagic,
    /// A frame of another wire version.
    UnsupportedVersion(u8),
    /// The CRC matched but the records do not decode (or use an undefined name).
    Malformed,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::TooLong => f.write_str("frame too long"),
            FrameError::Cobs => f.write_str("bad COBS encoding"),
            FrameError::TooShort => f.write_str("frame too short"),
            FrameError::Crc => f.write_str("CRC mismatch"),
            FrameError::BadMagic => f.write_str("not a runlog frame"),
            FrameError::UnsupportedVersion(v) => write!(
                f,
                "wire version {v} is not supported (this build reads version {WIRE_VERSION})"
            ),
            FrameError::Malformed => f.write_str("malformed records in frame"),
        }
    }
}

/// What the decoder found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event<'a> {
    /// A record, with names resolved to text.
    Record {
        /// Its sequence number.
        seq: u64,
        /// The record.
        record: Record<'a>,
    },
    /// A frame was discarded.
    FrameLost(FrameError),
    /// Sequence numbers were skipped: this many records were lost with lost frames.
    RecordsLost(u64),
}

/// Counters kept by a [`FrameDecoder`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Frames decoded.
    pub frames: u64,
    /// Frames discarded.
    pub frames_lost: u64,
    /// Records delivered.
    pub records: u64,
    /// Records known lost from gaps in sequence numbers.
    pub records_lost: u64,
}

/// Turns a byte stream back into records. Never panics, whatever the input.
pub struct FrameDecoder {
    buf: heapless::Vec<u8, MAX_ENCODED_FRAME>,
    overflow: bool,
    next_seq: Option<u64>,
    stats: DecodeStats,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder that has seen nothing.
    pub const fn new() -> Self {
        Self {
            buf: heapless::Vec::new(),
            overflow: false,
            next_seq: None,
            stats: DecodeStats {
                frames: 0,
                frames_lost: 0,
                records: 0,
                records_lost: 0,
            },
        }
    }

    /// What has been decoded and lost so far.
    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// Feeds stream bytes, reporting each event to `on`.
    pub fn feed(&mut self, mut bytes: &[u8], mut on: impl FnMut(Event<'_>)) {
        while !bytes.is_empty() {
            let (chunk, ends_frame) = match bytes.iter().position(|&b| b == cobs::DELIMITER) {
                Some(i) => (&bytes[..i], Some(i)),
                None => (bytes, None),
            };
            if !self.overflow && self.buf.extend_from_slice(chunk).is_err() {
                self.overflow = true;
            }
            match ends_frame {
                Some(i) => {
                    self.end_frame(&mut on);
                    bytes = &bytes[i + 1..];
                }
                None => bytes = &[],
            }
        }
    }

    /// Reads once from `r` and feeds what arrived; returns the bytes read (0 at end of stream).
    pub fn read_from<R: Read>(
        &mut self,
        r: &mut R,
        on: impl FnMut(Event<'_>),
    ) -> Result<usize, R::Error> {
        let mut chunk = [0u8; 512];
        let n = r.read(&mut chunk)?;
        self.feed(&chunk[..n], on);
        Ok(n)
    }

    fn end_frame(&mut self, on: &mut impl FnMut(Event<'_>)) {
        let overflow = core::mem::replace(&mut self.overflow, false);
        if self.buf.is_empty() && !overflow {
            return; // Back-to-back delimiters: idle line, not a frame.
        }
        let result = if overflow {
            Err(FrameError::TooLong)
        } else {
            decode_frame(&mut self.buf)
        };
        match result {
            Ok(frame) => {
                if let Some(expected) = self.next_seq {
                    if frame.first_seq > expected {
                        let lost = frame.first_seq - expected;
                        // Saturating: a hostile stream can claim gaps that sum past u64.
                        self.stats.records_lost = self.stats.records_lost.saturating_add(lost);
                        on(Event::RecordsLost(lost));
                    }
                }
                self.stats.frames = self.stats.frames.saturating_add(1);
                self.stats.records = self.stats.records.saturating_add(frame.emit(on));
                self.next_seq = Some(frame.first_seq + frame.count);
            }
            Err(e) => {
                self.stats.frames_lost = self.stats.frames_lost.saturating_add(1);
                on(Event::FrameLost(e));
            }
        }
        self.buf.clear();
    }
}

/// A validated frame, ready to emit.
struct Frame<'a> {
    first_seq: u64,
    count: u64,
    records: &'a [u8],
    names: [&'a str; MAX_FRAME_NAMES],
}

impl<'a> Frame<'a> {
    fn emit(&self, on: &mut impl FnMut(Event<'_>)) -> u64 {
        let mut rest = self.records;
        let mut seq = self.first_seq;
        while let Ok((record, tail)) = wire::decode(rest) {
            rest = tail;
            let record = match record {
                Record::NameDef { .. } => continue,
                Record::Metric(
                    m @ Metric {
                        name: Name::Id(id), ..
                    },
                ) => Record::Metric(Metric {
                    name: Name::Text(self.names[usize::from(id)]),
                    ..m
                }),
                other => other,
            };
            on(Event::Record { seq, record });
            seq += 1;
        }
        seq - self.first_seq
    }
}

fn decode_frame(buf: &mut [u8]) -> Result<Frame<'_>, FrameError> {
    let len = cobs::decode_in_place(buf).map_err(|_| FrameError::Cobs)?;
    let payload = &buf[..len];
    if payload.len() < 3 + 1 + CRC_LEN {
        return Err(FrameError::TooShort);
    }
    let (body, crc) = payload.split_at(payload.len() - CRC_LEN);
    let mut check = Crc32::new();
    check.update(body);
    if check.finish().to_le_bytes() != crc {
        return Err(FrameError::Crc);
    }
    if body[..2] != FRAME_MAGIC {
        return Err(FrameError::BadMagic);
    }
    if body[2] != WIRE_VERSION {
        return Err(FrameError::UnsupportedVersion(body[2]));
    }
    let (first_seq, records) =
        postcard::take_from_bytes::<u64>(&body[3..]).map_err(|_| FrameError::Malformed)?;
    // Validate everything before emitting anything, so a frame is all or nothing.
    let mut names = [""; MAX_FRAME_NAMES];
    let mut defined = 0usize;
    let mut count = 0u64;
    let mut rest = records;
    while !rest.is_empty() {
        let (record, tail) = wire::decode(rest).map_err(|_: WireError| FrameError::Malformed)?;
        rest = tail;
        match record {
            Record::NameDef { id, name } => {
                if usize::from(id) != defined || defined == MAX_FRAME_NAMES {
                    return Err(FrameError::Malformed);
                }
                names[defined] = name;
                defined += 1;
            }
            Record::Metric(Metric {
                name: Name::Id(id), ..
            }) if usize::from(id) >= defined => return Err(FrameError::Malformed),
            _ => count += 1,
        }
    }
    if first_seq.checked_add(count).is_none() {
        return Err(FrameError::Malformed);
    }
    Ok(Frame {
        first_seq,
        count,
        records,
        names,
    })
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    /// A builder whose bounds were broken (not reachable through its
    /// methods) fails the frame instead of writing nothing and reporting
    /// success, which would let the drain commit records it never sent.
    #[test]
    fn a_frame_past_its_buffer_fails_instead_of_vanishing() {
        let mut buf = [MaybeUninit::new(0u8); 32];
        let mut payload = Payload::new(&mut buf);
        payload.len = 30;
        let mut out = std::vec::Vec::new();
        assert!(matches!(
            payload.encode_to(&mut out),
            Err(DrainError::Ring(RingError::Corrupt))
        ));
        assert!(out.is_empty());
    }

    /// The closed form against the search it replaced, on every budget up
    /// to well past the largest frame and at the top of `usize`.
    #[test]
    fn max_payload_for_is_the_largest_payload_that_fits() {
        let search = |budget: usize| {
            let mut n = budget.saturating_sub(2).min(MAX_FRAME_PAYLOAD);
            while n > 0 && cobs::max_encoded_len(n) > budget {
                n -= 1;
            }
            n
        };
        let top = usize::MAX - 600..=usize::MAX;
        let step = if cfg!(miri) { 61 } else { 1 };
        for budget in (0..MAX_ENCODED_FRAME + 600)
            .step_by(step)
            .chain(top.step_by(step))
        {
            assert_eq!(
                max_payload_for(budget).min(MAX_FRAME_PAYLOAD),
                search(budget),
                "budget {budget}"
            );
        }
    }
}
