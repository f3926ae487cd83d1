//! A fixed-capacity, lock-free, single-producer single-consumer ring of
//! variable-length records over caller-provided storage.
//!
//! The storage is a [`RingHeader`] followed by a power-of-two data area. The
//! header is `#[repr(C)]`, holds no pointers and only `AtomicU32`s, so the same
//! bytes work as a `static` array on a Cortex-M (which has no 64-bit atomics)
//! and as a memory-mapped file shared by two processes.
//!
//! Cursors are free-running `u32` byte positions; `pos & (capacity - 1)` is
//! the offset in the data area. Each record starts 4-byte aligned with an
//! 8-byte record header: its payload length and the low 32 bits of its
//! sequence number (its ticket). A record never wraps: when it does not fit
//! before the end, a padding marker sends the reader back to offset 0.
//!
//! Three cursors, three owners:
//! - `write_pos` (producer): published with `Release` only after the whole
//!   record is written, so a producer that dies mid-record exposes nothing.
//! - `release_pos` (consumer): space before it may be reused.
//! - `ack_seq` (consumer): every record with a lower sequence number is
//!   committed at its destination; this is what `wait` waits on.
//!
//! The consumer's read cursor is private to it, so a consumer that dies before
//! releasing simply reads the same records again when it comes back.

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::record::Record;
use crate::skim;
use crate::wire::{self, WireError, Writer};

mod resync;

/// Magic at the start of every ring header: `RLRG` in little-endian order.
pub const RING_MAGIC: u32 = u32::from_le_bytes(*b"RLRG");
/// Version of the ring layout described in this module.
pub const RING_VERSION: u32 = 1;
/// Bytes the header takes before the data area.
pub const HEADER_LEN: usize = core::mem::size_of::<RingHeader>();
/// Smallest data area accepted.
pub const MIN_CAPACITY: u32 = 64;
/// Bytes of the per-record header in the data area (length, sequence).
pub const RECORD_HEADER_LEN: u32 = 8;

const ALIGN: u32 = 4;
const PAD_MARKER: u32 = u32::MAX;
/// The header's only flag: `format` clears the flags, `Producer::close` sets
/// this one with a plain store (a second flag would need a read-modify-write).
const FLAG_PRODUCER_CLOSED: u32 = 1;

/// The shared header at the start of the ring's storage.
///
/// The producer's and the consumer's cursors sit in separate 64-byte halves,
/// so that on storage aligned to a cache line neither side's stores slow down
/// the other's loads. The type itself only needs 4-byte alignment (the
/// alignment [`Consumer::attach`] checks): a reference to it is created over
/// caller storage, which must never be less aligned than the type.
#[repr(C)]
pub struct RingHeader {
    magic: AtomicU32,
    version: AtomicU32,
    capacity: AtomicU32,
    flags: AtomicU32,
    write_pos: AtomicU32,
    dropped_total: AtomicU32,
    _producer_pad: [u32; 10],
    release_pos: AtomicU32,
    ack_seq: AtomicU32,
    heartbeat: AtomicU32,
    _consumer_pad: [u32; 13],
}

const _: () = assert!(core::mem::size_of::<RingHeader>() == 128);
const _: () = assert!(core::mem::align_of::<RingHeader>() <= ALIGN as usize);

/// Why storage could not be used as a ring, or a ring's content is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RingError {
    /// The storage is not 4-byte aligned.
    Misaligned,
    /// The storage cannot hold the header and the smallest data area.
    TooSmall,
    /// The header does not start with [`RING_MAGIC`]: not a runlog ring.
    BadMagic,
    /// The ring was written by an incompatible version of runlog.
    UnsupportedVersion(u32),
    /// The header's capacity is not a power of two that fits the storage.
    BadCapacity(u32),
    /// The cursors or a record header are inconsistent (a corrupted ring).
    Corrupt,
}

impl core::fmt::Display for RingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RingError::Misaligned => f.write_str("ring storage is not 4-byte aligned"),
            RingError::TooSmall => f.write_str("ring storage is too small"),
            RingError::BadMagic => f.write_str("not a runlog ring (bad magic)"),
            RingError::UnsupportedVersion(v) => write!(
                f,
                "ring layout version {v} is not supported (this build reads version {RING_VERSION})"
            ),
            RingError::BadCapacity(c) => write!(f, "ring capacity {c} is invalid"),
            RingError::Corrupt => f.write_str("ring is corrupted"),
        }
    }
}

/// Why a record was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushError {
    /// Not enough free space now; the drop is counted and reported later.
    Full,
    /// The record can never fit in this ring.
    TooLarge,
    /// The record could not be encoded.
    Malformed,
}

impl core::fmt::Display for PushError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            PushError::Full => "ring is full",
            PushError::TooLarge => "record is larger than the ring can ever hold",
            PushError::Malformed => "record cannot be encoded",
        })
    }
}

/// The data area size that `len` bytes of storage give: the largest power of two after the header.
pub fn capacity_for(len: usize) -> Option<u32> {
    let room = len.checked_sub(HEADER_LEN)?;
    let room = u32::try_from(room).unwrap_or(u32::MAX);
    if room < MIN_CAPACITY {
        return None;
    }
    Some(1 << (31 - room.leading_zeros()))
}

/// Storage bytes needed for a ring whose data area is `capacity` bytes.
pub const fn storage_len(capacity: u32) -> usize {
    HEADER_LEN + capacity as usize
}

/// Largest payload one record may have in a ring of `capacity` bytes.
pub const fn max_payload(capacity: u32) -> u32 {
    capacity / 2 - RECORD_HEADER_LEN
}

const fn align_up(n: u32) -> u32 {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

/// A ring over a borrowed buffer, before it is split into its two ends.
pub struct Ring<'a> {
    raw: RawRing,
    _storage: PhantomData<&'a mut [u8]>,
}

impl<'a> Ring<'a> {
    /// Formats `buf` as an empty ring, using the largest power-of-two data area
    /// that fits after aligning its start.
    pub fn format(buf: &'a mut [u8]) -> Result<Self, RingError> {
        let skip = buf.as_ptr().align_offset(ALIGN as usize);
        let buf = buf.get_mut(skip..).ok_or(RingError::TooSmall)?;
        let cap = capacity_for(buf.len()).ok_or(RingError::TooSmall)?;
        // SAFETY: `buf` is an exclusive borrow for 'a, aligned above, and at
        // least `storage_len(cap)` long by `capacity_for`.
        let raw = unsafe { RawRing::format(buf.as_mut_ptr(), storage_len(cap)) }?;
        Ok(Self {
            raw,
            _storage: PhantomData,
        })
    }

    /// Formats raw storage as an empty ring, like [`Ring::format`], for a
    /// caller that holds the storage as a pointer (the C ABI's device
    /// logger, whose ring lies in the caller's buffer).
    ///
    /// # Safety
    /// `ptr` must be 4-aligned and valid for reads and writes of `len` bytes
    /// for `'a`, and nothing else may use those bytes meanwhile.
    pub unsafe fn format_raw(ptr: *mut u8, len: usize) -> Result<Self, RingError> {
        // SAFETY: forwarded caller contract, alignment included.
        let raw = unsafe { RawRing::format_aligned(ptr, len) }?;
        Ok(Self {
            raw,
            _storage: PhantomData,
        })
    }

    /// Splits the ring into its producer and consumer ends.
    ///
    /// Both ends live in this process, so the consumer trusts the records it
    /// reads (see [`Consumer`]): the producer checks what [`Producer::push_with`]
    /// closures write instead, and [`crate::drain`] does not check records again.
    pub fn split(self) -> (Producer<'a>, Consumer<'a, true>) {
        (Producer::new(self.raw, true), Consumer::new(self.raw))
    }
}

/// Pointers to a validated ring. Copyable so both ends can hold one.
#[derive(Clone, Copy)]
struct RawRing {
    header: NonNull<RingHeader>,
    data: NonNull<u8>,
    cap: u32,
}

impl RawRing {
    /// # Safety
    /// `ptr` must be valid for reads and writes of `len` bytes for as long as
    /// the returned value (and ends made from it) are used, and nothing else
    /// may use those bytes as a ring meanwhile.
    unsafe fn format(ptr: *mut u8, len: usize) -> Result<Self, RingError> {
        let cap = capacity_for(len).ok_or(RingError::TooSmall)?;
        let raw = Self::from_parts(ptr, cap)?;
        raw.write_empty_header::<true>();
        Ok(raw)
    }

    /// [`RawRing::format`] for storage its caller vouches is 4-aligned
    /// ([`Ring::format_raw`]'s contract): no alignment check, whose refusal
    /// such a caller would have to handle (in a firmware's
    /// `runlog_init_static`: one branch and one error path fewer, −8 B),
    /// nor clearing the magic first (nothing else may watch that storage:
    /// −12 B). `Ring::format` keeps the checked path: there it measured +16 B.
    ///
    /// # Safety
    /// As for [`RawRing::format`], and `ptr` must be 4-aligned and not null.
    unsafe fn format_aligned(ptr: *mut u8, len: usize) -> Result<Self, RingError> {
        let cap = capacity_for(len).ok_or(RingError::TooSmall)?;
        // SAFETY: forwarded caller contract; `capacity_for` keeps
        // `storage_len(cap)` within `len`.
        let raw = unsafe { Self::from_aligned(ptr, cap) };
        raw.write_empty_header::<false>();
        Ok(raw)
    }

    /// Writes the header of an empty ring. `WATCHED`: a consumer in another
    /// process may be polling the storage meanwhile (a spool file being
    /// formatted again), so the old magic is cleared first; storage lent to
    /// this process alone ([`Ring::format_raw`]'s) skips that store.
    fn write_empty_header<const WATCHED: bool>(&self) {
        let h = self.header();
        // The magic goes last, with Release: a consumer in another process
        // that polls for it (Acquire, in `attach`) then sees a whole header,
        // never a half-formatted one.
        if WATCHED {
            h.magic.store(0, Ordering::Relaxed);
        }
        h.version.store(RING_VERSION, Ordering::Relaxed);
        h.capacity.store(self.cap, Ordering::Relaxed);
        h.flags.store(0, Ordering::Relaxed);
        h.write_pos.store(0, Ordering::Relaxed);
        h.dropped_total.store(0, Ordering::Relaxed);
        h.release_pos.store(0, Ordering::Relaxed);
        h.ack_seq.store(0, Ordering::Relaxed);
        h.heartbeat.store(0, Ordering::Relaxed);
        h.magic.store(RING_MAGIC, Ordering::Release);
    }

    /// # Safety
    /// As for [`RawRing::format`]; the bytes must already hold a ring.
    unsafe fn attach(ptr: *mut u8, len: usize) -> Result<Self, RingError> {
        if len < HEADER_LEN + MIN_CAPACITY as usize {
            return Err(RingError::TooSmall);
        }
        if ptr.align_offset(ALIGN as usize) != 0 {
            return Err(RingError::Misaligned);
        }
        // SAFETY: aligned and at least HEADER_LEN valid bytes, per the caller.
        let h = unsafe { &*(ptr as *const RingHeader) };
        if h.magic.load(Ordering::Acquire) != RING_MAGIC {
            return Err(RingError::BadMagic);
        }
        let version = h.version.load(Ordering::Relaxed);
        if version != RING_VERSION {
            return Err(RingError::UnsupportedVersion(version));
        }
        let cap = h.capacity.load(Ordering::Relaxed);
        if !cap.is_power_of_two() || cap < MIN_CAPACITY || storage_len(cap) > len {
            return Err(RingError::BadCapacity(cap));
        }
        let raw = Self::from_parts(ptr, cap)?;
        let used = h
            .write_pos
            .load(Ordering::Acquire)
            .wrapping_sub(h.release_pos.load(Ordering::Acquire));
        if used > cap || used % ALIGN != 0 {
            return Err(RingError::Corrupt);
        }
        Ok(raw)
    }

    fn from_parts(ptr: *mut u8, cap: u32) -> Result<Self, RingError> {
        if ptr.align_offset(ALIGN as usize) != 0 {
            return Err(RingError::Misaligned);
        }
        if ptr.is_null() {
            return Err(RingError::TooSmall);
        }
        // SAFETY: checked just above: aligned, not null; the callers
        // guarantee `ptr` is valid for HEADER_LEN + cap bytes.
        Ok(unsafe { Self::from_aligned(ptr, cap) })
    }

    /// # Safety
    /// `ptr` must be 4-aligned, not null, and valid for `storage_len(cap)` bytes.
    unsafe fn from_aligned(ptr: *mut u8, cap: u32) -> Self {
        // SAFETY: caller contract.
        unsafe {
            Self {
                header: NonNull::new_unchecked(ptr.cast::<RingHeader>()),
                data: NonNull::new_unchecked(ptr.add(HEADER_LEN)),
                cap,
            }
        }
    }

    fn header(&self) -> &RingHeader {
        // SAFETY: `header` points at valid, aligned storage for the ring's
        // lifetime (constructor contracts), and every field is an atomic, so
        // shared references across threads and processes are sound.
        unsafe { self.header.as_ref() }
    }
}

/// The writing end of a ring. One per ring; it may move between threads.
pub struct Producer<'a> {
    raw: RawRing,
    mask: u32,
    write_pos: u32,
    cached_release: u32,
    next_seq: u64,
    pending_drops: u32,
    /// Whether records from `push_with` closures are checked before they are
    /// published: set for rings made by [`Ring::split`], whose consumer trusts them.
    check_pushed: bool,
    _storage: PhantomData<&'a mut [u8]>,
}

// SAFETY: the producer only touches the shared header through atomics and the
// data area's free region, which no one else writes; moving it to another
// thread changes nothing about that.
unsafe impl Send for Producer<'_> {}

impl<'a> Producer<'a> {
    /// The producer of a ring `RawRing::format` has just formatted (its only
    /// callers): both cursors are 0, as format stored them, and no consumer
    /// moves the release cursor before a record is published, so they are
    /// not read back (on a device: two loads and a barrier fewer).
    fn new(raw: RawRing, check_pushed: bool) -> Self {
        Self {
            raw,
            mask: raw.cap - 1,
            write_pos: 0,
            cached_release: 0,
            next_seq: 0,
            pending_drops: 0,
            check_pushed,
            _storage: PhantomData,
        }
    }

    /// Formats raw storage as an empty ring and returns its producer end.
    ///
    /// # Safety
    /// `ptr` must be valid for reads and writes of `len` bytes for `'a`, and
    /// while this producer lives no other producer may use that storage. A
    /// consumer may attach to it, in this or another process.
    pub unsafe fn format(ptr: *mut u8, len: usize) -> Result<Self, RingError> {
        // SAFETY: forwarded caller contract.
        // Its consumer attaches with `Consumer::attach`, which checks every record.
        unsafe { RawRing::format(ptr, len) }.map(|raw| Self::new(raw, false))
    }

    /// Appends `record`, returning its sequence number (its ticket).
    ///
    /// Never blocks and never overwrites: when the ring is full the record is
    /// refused, counted, and a [`Record::Dropped`] notice goes ahead of the next
    /// record that fits.
    pub fn push(&mut self, record: &Record<'_>) -> Result<u64, PushError> {
        self.push_numbered(&|w| w.put_record(record), true)
    }

    /// Like [`Producer::push`], but a [`PushError::Full`] refusal is not
    /// counted as a drop (as with [`Producer::try_push_with`]).
    pub fn try_push_record(&mut self, record: &Record<'_>) -> Result<u64, PushError> {
        self.push_numbered(&|w| w.put_record(record), false)
    }

    /// Appends the bytes that `encode` writes into the buffer it is given
    /// (returning how many), as one record. `encode` may be called more than
    /// once and must return [`WireError::BufferFull`] when the buffer is too
    /// small. Use this to encode straight into the ring without a `Record`.
    ///
    /// In a ring made by [`Ring::split`], what `encode` writes must be one
    /// well-formed record of a kind rings carry (no frame-local name id or
    /// name definition; a metric's tag in one byte), or the push fails with
    /// [`PushError::Malformed`] (the consumer of such a ring trusts its
    /// records).
    pub fn push_with(
        &mut self,
        encode: impl Fn(&mut [u8]) -> Result<usize, WireError>,
    ) -> Result<u64, PushError> {
        if self.check_pushed {
            return self.push_ticket(&|buf| checked(&encode, buf), true);
        }
        self.push_ticket(&encode, true)
    }

    /// Pushes what runlog's own encoder `encode` (one of `wire::encode_*`)
    /// writes, as [`Producer::push_with`] (`count_full`) or
    /// [`Producer::try_push_with`] do, but without checking what it wrote,
    /// even in a ring made by [`Ring::split`].
    ///
    /// For the C ABI: its records come only from `wire`'s encoders, which
    /// write one well-formed record by construction (proptested byte for
    /// byte against postcard), so checking them again would only cost a
    /// firmware the checker (about 750 B of flash). A closure that writes
    /// anything else breaks no memory safety (the drain of a split ring
    /// reads records with bounds checks) but sends a record that the host's
    /// decoder refuses.
    #[inline]
    pub fn push_encoder(
        &mut self,
        encode: &dyn Fn(&mut [u8]) -> Result<usize, WireError>,
        count_full: bool,
    ) -> Result<u64, PushError> {
        self.push_ticket(encode, count_full)
    }

    /// Pushes the record that `write` writes (one `put_*` call on the
    /// [`Writer`] it is given, over the ring's free region); `Ok` once it is
    /// published (its ticket is `next_seq() - 1`). A [`PushError::Full`]
    /// refusal counts as a drop when `count_full`. `write` may be called
    /// more than once (a record that does not fit before the end of the
    /// area is written again at its start).
    ///
    /// The one body of every push, and the firmware's direct path: the
    /// writer checks once whether the record fitted, so a firmware's record
    /// writer returns nothing, and the result comes back in a register.
    /// What `write` writes is not checked, even in a ring made by
    /// [`Ring::split`] (as for [`Producer::push_encoder`]): the `put_*`
    /// methods write one well-formed record by construction.
    pub fn push_written(
        &mut self,
        write: &dyn Fn(&mut Writer<'_>),
        count_full: bool,
    ) -> Result<(), PushError> {
        let result = if self.pending_drops != 0 && !self.flush_drops() {
            Err(PushError::Full)
        } else {
            self.try_push(write)
        };
        if count_full && result == Err(PushError::Full) {
            self.count_drop();
        }
        result
    }

    /// [`Producer::push_written`], returning the record's ticket (the
    /// number `publish` just used): the one place that reads it back.
    #[inline(always)]
    fn push_numbered(
        &mut self,
        write: &dyn Fn(&mut Writer<'_>),
        count_full: bool,
    ) -> Result<u64, PushError> {
        self.push_written(write, count_full)
            .map(|()| self.next_seq - 1)
    }

    /// Pushes what a `push_with` closure writes, with its ticket.
    #[inline(always)]
    fn push_ticket(
        &mut self,
        encode: &dyn Fn(&mut [u8]) -> Result<usize, WireError>,
        count_full: bool,
    ) -> Result<u64, PushError> {
        self.push_numbered(&|w| w.fill(encode), count_full)
    }

    /// Like [`Producer::push_with`], but a [`PushError::Full`] refusal is not
    /// counted as a drop: for callers that wait for room and try again, so
    /// that a record which is eventually accepted is not reported as lost.
    pub fn try_push_with(
        &mut self,
        encode: impl Fn(&mut [u8]) -> Result<usize, WireError>,
    ) -> Result<u64, PushError> {
        if self.check_pushed {
            return self.push_ticket(&|buf| checked(&encode, buf), false);
        }
        self.push_ticket(&encode, false)
    }

    /// The logging hot path: when `room` payload bytes are free right at the
    /// write cursor (judged from the cached release cursor, no wrap needed, no
    /// drop notice pending), hands `write` those `room` bytes of the ring and
    /// publishes the `n` it returns as one record, with no intermediate buffer.
    ///
    /// `None` when that fast case does not apply or `write` declines: then
    /// nothing is published or counted (bytes `write` left in the free region
    /// are never read), and the caller falls back to [`Producer::push_with`] or
    /// [`Producer::try_push_with`], which wrap, refresh the release cursor and
    /// report why a record is refused.
    #[inline(always)]
    pub fn push_in_place(
        &mut self,
        room: u32,
        write: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> Option<u64> {
        let cap = self.raw.cap;
        let free = cap - self.write_pos.wrapping_sub(self.cached_release);
        let off = self.write_pos & self.mask;
        let fits = room <= max_payload(cap) && RECORD_HEADER_LEN + room <= free.min(cap - off);
        if self.pending_drops != 0 || !fits {
            return None;
        }
        // SAFETY: `[off, off + 8 + room)` lies inside the data area (it fits
        // before the end) and in the free region (it fits in `free`), which
        // only this producer writes and no consumer reads until `publish`.
        let buf = unsafe {
            core::slice::from_raw_parts_mut(
                self.raw
                    .data
                    .as_ptr()
                    .add((off + RECORD_HEADER_LEN) as usize),
                room as usize,
            )
        };
        let n = write(buf)?;
        if n > room as usize {
            return None;
        }
        Some(self.publish(off, n as u32, 0))
    }

    fn count_drop(&mut self) {
        self.pending_drops = self.pending_drops.saturating_add(1);
        let h = self.raw.header();
        let total = h.dropped_total.load(Ordering::Relaxed);
        h.dropped_total
            .store(total.wrapping_add(1), Ordering::Relaxed);
    }

    fn flush_drops(&mut self) -> bool {
        let count = self.pending_drops;
        // `move`: the closure holds the count, not a reference to it.
        if self.try_push(&move |w| w.put_dropped(count)).is_ok() {
            self.pending_drops = 0;
            true
        } else {
            false
        }
    }

    /// Pushes what `encode` writes, wrapping to offset 0 and refreshing the
    /// release cursor as needed; `Ok` once it is published (as `next_seq - 1`).
    fn try_push(&mut self, write: &dyn Fn(&mut Writer<'_>)) -> Result<(), PushError> {
        let cap = self.raw.cap;
        let max_total = RECORD_HEADER_LEN + max_payload(cap);
        let mut refreshed = false;
        loop {
            let free = cap - self.write_pos.wrapping_sub(self.cached_release);
            let off = self.write_pos & self.mask;
            let to_end = cap - off;
            // Two places to try, one encode site: at the write cursor (up to
            // the end of the area), then, when free space continues at offset
            // 0, from there, paying for the skipped tail.
            let (mut at, mut room, mut skipped) = (off, to_end.min(free), 0);
            loop {
                let here = room.min(max_total);
                if here > RECORD_HEADER_LEN {
                    match self.encode_at(at, here, write) {
                        Ok(len) => {
                            self.publish(at, len, skipped);
                            return Ok(());
                        }
                        Err(WireError::BufferFull) => {}
                        Err(_) => return Err(PushError::Malformed),
                    }
                }
                // The largest record fitted and this one did not.
                if room >= max_total {
                    return Err(PushError::TooLarge);
                }
                if skipped != 0 || to_end >= free {
                    break;
                }
                (at, room, skipped) = (0, free - to_end, to_end);
            }
            if refreshed {
                return Err(PushError::Full);
            }
            let release = self.raw.header().release_pos.load(Ordering::Acquire);
            // The consumer may live in another process: a release cursor
            // ahead of the write cursor or misaligned is corruption, and
            // trusting it would let this producer overwrite unread records.
            // Refuse (counted as a drop) rather than overwrite.
            let used = self.write_pos.wrapping_sub(release);
            if release == self.cached_release || used > cap || release % ALIGN != 0 {
                return Err(PushError::Full);
            }
            self.cached_release = release;
            refreshed = true;
        }
    }

    /// Writes into the free region `[off + 8, off + room)`: the record's
    /// length, or `BufferFull` when it does not fit there.
    fn encode_at(
        &mut self,
        off: u32,
        room: u32,
        write: &dyn Fn(&mut Writer<'_>),
    ) -> Result<u32, WireError> {
        let start = (off + RECORD_HEADER_LEN) as usize;
        let len = (room - RECORD_HEADER_LEN) as usize;
        // SAFETY: `[off, off + room)` lies inside the data area (room <= to_end)
        // and in its free region (room <= free), which only this producer
        // writes and no consumer reads until `publish` moves `write_pos` past it.
        let buf =
            unsafe { core::slice::from_raw_parts_mut(self.raw.data.as_ptr().add(start), len) };
        let mut w = Writer::new(buf);
        write(&mut w);
        if w.malformed {
            return Err(WireError::Malformed);
        }
        if w.len > len {
            return Err(WireError::BufferFull);
        }
        Ok(w.len as u32)
    }

    #[inline]
    fn write_word(&mut self, off: u32, word: u32) {
        // SAFETY: callers pass a 4-aligned offset with at least 4 free bytes
        // before the end of the data area, in the producer's free region.
        unsafe {
            self.raw
                .data
                .as_ptr()
                .add(off as usize)
                .cast::<u32>()
                .write(word.to_le());
        }
    }

    /// Writes the record header at `off` and makes the record visible,
    /// after the `skipped` tail before it (the end of the area, when the
    /// record went to offset 0).
    #[inline]
    fn publish(&mut self, off: u32, len: u32, skipped: u32) -> u64 {
        // A tail shorter than a record header is skipped by the reader
        // without a marker.
        if skipped >= RECORD_HEADER_LEN {
            self.write_word(self.write_pos & self.mask, PAD_MARKER);
        }
        let seq = self.next_seq;
        self.write_word(off, len);
        self.write_word(off + 4, seq as u32);
        self.write_pos = self
            .write_pos
            .wrapping_add(skipped + align_up(RECORD_HEADER_LEN + len));
        self.raw
            .header()
            .write_pos
            .store(self.write_pos, Ordering::Release);
        self.next_seq += 1;
        seq
    }

    /// The sequence number the next accepted record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Every record with a sequence number below this is committed at its destination.
    pub fn acked(&self) -> u64 {
        let ack = self.raw.header().ack_seq.load(Ordering::Acquire);
        let behind = (self.next_seq as u32).wrapping_sub(ack);
        // Never more records outstanding than fit in the ring, so `behind` is exact.
        self.next_seq.saturating_sub(u64::from(behind))
    }

    /// Whether the record with this ticket is committed at its destination.
    pub fn is_acked(&self, ticket: u64) -> bool {
        ticket < self.acked()
    }

    /// Log calls refused because the ring was full, in this ring's lifetime.
    pub fn dropped_total(&self) -> u32 {
        self.raw.header().dropped_total.load(Ordering::Relaxed)
    }

    /// The last heartbeat the consumer wrote (0 if none): a caller-defined clock, seconds on hosts.
    pub fn consumer_heartbeat(&self) -> u32 {
        self.raw.header().heartbeat.load(Ordering::Relaxed)
    }

    /// Marks the stream finished: the consumer may discard the ring once it has drained it.
    pub fn close(&mut self) {
        // The producer is the flags' only writer (`&mut self`; consumers only
        // read them) and this is its only flag, so one store does what
        // `fetch_or` would, without its exclusive-access loop or a load.
        self.raw
            .header()
            .flags
            .store(FLAG_PRODUCER_CLOSED, Ordering::Release);
    }

    /// Largest record payload this ring accepts.
    pub fn max_payload(&self) -> u32 {
        max_payload(self.raw.cap)
    }
}

/// Runs `encode`, then refuses what it wrote unless it is one well-formed
/// record that a trusting consumer reads correctly ([`skim::trusted_record_ok`]).
fn checked(
    encode: &dyn Fn(&mut [u8]) -> Result<usize, WireError>,
    buf: &mut [u8],
) -> Result<usize, WireError> {
    let n = encode(buf)?;
    let bytes = buf.get(..n).ok_or(WireError::BufferFull)?;
    if skim::trusted_record_ok(bytes) {
        Ok(n)
    } else {
        Err(WireError::Malformed)
    }
}

/// Where `locate` found a record.
pub(crate) struct Found {
    off: u32,
    len: u32,
    seq: u64,
    next_pos: u32,
}

/// One record read from a ring.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'r> {
    /// The record's sequence number (its ticket).
    pub seq: u64,
    /// The encoded record.
    pub bytes: &'r [u8],
}

impl<'r> Entry<'r> {
    /// Decodes the record, refusing trailing bytes.
    pub fn record(&self) -> Result<Record<'r>, WireError> {
        match wire::decode(self.bytes)? {
            (record, []) => Ok(record),
            _ => Err(WireError::Malformed),
        }
    }
}

/// The reading end of a ring. One per ring; it may move between threads.
///
/// `TRUSTED` says where its records come from. `Consumer<'a>` (`false`), from
/// [`Consumer::attach`], reads memory that another process (or C code) may
/// have written, and [`crate::drain`] checks every record before framing it.
/// `Consumer<'a, true>`, from [`Ring::split`], reads only what this process's
/// [`Producer`] wrote: records from `wire::encode`, or from `push_with`
/// closures that the producer checked; the drain skips the check (which a
/// firmware then does not link). Either way every cursor and length read from
/// the ring is checked, and nothing is ever read out of bounds.
pub struct Consumer<'a, const TRUSTED: bool = false> {
    raw: RawRing,
    mask: u32,
    read_pos: u32,
    read_seq: Option<u64>,
    release_pos: u32,
    released_seq: Option<u64>,
    seq_hint: Option<u64>,
    cached_write: u32,
    /// Where the last record read starts (for [`Consumer::resync`]).
    last_start: Option<u32>,
    /// Set by [`crate::frame::drain`] when a write failed mid-frame: the
    /// transport may hold a partial frame that the next frame must not extend.
    pub(crate) frame_torn: bool,
    _storage: PhantomData<&'a mut [u8]>,
}

// SAFETY: the consumer only touches the shared header through atomics and the
// published region of the data area, which the producer no longer writes.
unsafe impl<const TRUSTED: bool> Send for Consumer<'_, TRUSTED> {}

impl<'a> Consumer<'a> {
    /// Attaches to a ring that a producer formatted, validating its header.
    ///
    /// # Safety
    /// `ptr` must be valid for reads and writes of `len` bytes for `'a`; while
    /// this consumer lives no other consumer may use that storage, and the
    /// producer (in this or another process) must follow the ring protocol:
    /// it never writes bytes it has published. Corrupt content is detected
    /// and reported, never read out of bounds.
    pub unsafe fn attach(ptr: *mut u8, len: usize) -> Result<Self, RingError> {
        // SAFETY: forwarded caller contract.
        unsafe { RawRing::attach(ptr, len) }.map(Self::new)
    }

    /// Tells the consumer the sequence number of the first unreleased record,
    /// so that numbers stay exact past 2^32 records. Without it the first
    /// record read is taken to be below 2^32.
    ///
    /// Only an attached ring needs one: the consumer of a ring made by
    /// [`Ring::split`] starts with its producer, at record 0, and then
    /// counts every record it reads (its `locate` leaves the hint out).
    pub fn set_next_seq_hint(&mut self, next: u64) {
        self.seq_hint = Some(next);
    }

    /// After `read` or `read_copy` returned [`RingError::Corrupt`] (a damaged
    /// record header), or a record that does not decode (its length may be
    /// what was damaged), moves the read cursor to the next intact record.
    ///
    /// Candidates are the 4-aligned positions past the start of the last
    /// record read (whose length may have sent the cursor too far) from which
    /// a chain of well-formed record headers with consecutive sequence
    /// numbers, from the next expected one on, reaches `write_pos` exactly.
    /// The intact records after the damage form one such chain, but intact
    /// payload bytes can form shorter, false ones that jump over them: the
    /// chain with the most records wins (see `ring/resync.rs`), and the
    /// records it says were lost must fit, 8 bytes or more each, in the bytes
    /// between the last record read and its start. Returns how
    /// many sequence numbers the damage took (records lost). `Corrupt` again
    /// when no such position exists or the cursors themselves are damaged:
    /// nothing more can be read. The work is bounded by the ring's capacity.
    ///
    /// Only an attached ring's consumer has it: a split ring's consumer
    /// reads what its own producer wrote, and does not note where each
    /// record starts.
    pub fn resync(&mut self) -> Result<u64, RingError> {
        let cap = self.raw.cap;
        let write = self.raw.header().write_pos.load(Ordering::Acquire);
        if write.wrapping_sub(self.release_pos) > cap || write % ALIGN != 0 {
            return Err(RingError::Corrupt);
        }
        self.cached_write = write;
        let expected = self.read_seq.or(self.seq_hint).unwrap_or(0);
        let unread = self.read_pos.wrapping_sub(self.release_pos);
        // Unread records start at `read_pos`, or, when the last record's
        // length was damaged, anywhere after its header: the earlier of the two.
        let (from, unread_from) = match self.last_start {
            Some(at) if self.read_pos.wrapping_sub(at) <= unread => {
                let after = at.wrapping_add(RECORD_HEADER_LEN);
                let earlier = if write.wrapping_sub(after) > write.wrapping_sub(self.read_pos) {
                    after
                } else {
                    self.read_pos
                };
                (at, earlier)
            }
            _ => (self.read_pos, self.read_pos),
        };
        // With the next sequence number known, the records lost must fit in
        // the bytes before the chain; otherwise only a window bounds them.
        let unread_from = self.read_seq.map(|_| unread_from);
        let chain = resync::best_chain(self, from, unread_from, expected, write)
            .ok_or(RingError::Corrupt)?;
        self.read_pos = chain.start;
        self.read_seq = Some(chain.first_seq);
        Ok(chain.first_seq - expected)
    }
}

impl<'a, const TRUSTED: bool> Consumer<'a, TRUSTED> {
    fn new(raw: RawRing) -> Self {
        let h = raw.header();
        let release_pos = h.release_pos.load(Ordering::Acquire);
        Self {
            raw,
            mask: raw.cap - 1,
            read_pos: release_pos,
            read_seq: None,
            release_pos,
            released_seq: None,
            seq_hint: None,
            cached_write: release_pos,
            last_start: None,
            frame_torn: false,
            _storage: PhantomData,
        }
    }

    /// Reads the next record past the read cursor and moves the cursor past
    /// it, or returns `None` when there is none yet.
    pub fn read(&mut self) -> Result<Option<Entry<'_>>, RingError> {
        let Some(found) = self.locate()? else {
            return Ok(None);
        };
        self.step(&found);
        Ok(Some(self.entry(&found)))
    }

    /// Moves the read cursor past the record `locate` found.
    pub(crate) fn step(&mut self, found: &Found) {
        // A split ring's consumer leaves the number unset until it releases:
        // a rewind before then reads the first record's number again, as
        // the first read did (from the record alone, never a hint), so it
        // gets the same number.
        if !TRUSTED && self.released_seq.is_none() {
            self.released_seq = Some(found.seq);
        }
        self.read_seq = Some(found.seq + 1);
        // Only `resync` reads it, and only an attached ring's consumer has one.
        if !TRUSTED {
            self.last_start = Some(self.read_pos);
        }
        self.read_pos = found.next_pos;
    }

    /// The record `locate` found.
    pub(crate) fn entry(&self, found: &Found) -> Entry<'_> {
        // SAFETY: `locate` checked that `[off + 8, off + 8 + len)` is inside
        // the data area and inside the published region (against `write_pos`
        // loaded with Acquire), which the producer no longer writes until
        // this consumer releases it; the borrow of `self` keeps `release`
        // from running while the slice lives.
        let bytes = unsafe {
            core::slice::from_raw_parts(
                self.raw
                    .data
                    .as_ptr()
                    .add((found.off + RECORD_HEADER_LEN) as usize),
                found.len as usize,
            )
        };
        Entry {
            seq: found.seq,
            bytes,
        }
    }

    /// Finds the next record, skipping padding (which moves the cursor, as
    /// nothing is lost by skipping it) and validating everything read from
    /// shared memory.
    pub(crate) fn locate(&mut self) -> Result<Option<Found>, RingError> {
        let cap = self.raw.cap;
        loop {
            if self.read_pos == self.cached_write {
                let write = self.raw.header().write_pos.load(Ordering::Acquire);
                if write.wrapping_sub(self.release_pos) > cap || write % ALIGN != 0 {
                    return Err(RingError::Corrupt);
                }
                self.cached_write = write;
                if self.read_pos == write {
                    return Ok(None);
                }
            }
            let avail = self.cached_write.wrapping_sub(self.read_pos);
            let off = self.read_pos & self.mask;
            let to_end = cap - off;
            if to_end < RECORD_HEADER_LEN {
                self.skip(to_end, avail)?;
                continue;
            }
            let len = self.read_word(off);
            if len == PAD_MARKER {
                self.skip(to_end, avail)?;
                continue;
            }
            let total = RECORD_HEADER_LEN.saturating_add(len);
            if len > max_payload(cap) || total > to_end || align_up(total) > avail {
                return Err(RingError::Corrupt);
            }
            let seq32 = self.read_word(off + 4);
            let seq = match self.read_seq {
                Some(expected) if expected as u32 == seq32 => expected,
                Some(_) => return Err(RingError::Corrupt),
                // A split ring's consumer starts at its producer's first
                // record, 0: only an attached ring takes a hint.
                None => match if TRUSTED { None } else { self.seq_hint } {
                    // The record nearest the hint with these low 32 bits.
                    Some(hint) => {
                        let delta = i64::from(seq32.wrapping_sub(hint as u32) as i32);
                        hint.checked_add_signed(delta).unwrap_or(u64::from(seq32))
                    }
                    None => u64::from(seq32),
                },
            };
            return Ok(Some(Found {
                off,
                len,
                seq,
                next_pos: self.read_pos.wrapping_add(align_up(total)),
            }));
        }
    }

    fn skip(&mut self, to_end: u32, avail: u32) -> Result<(), RingError> {
        if to_end > avail {
            return Err(RingError::Corrupt);
        }
        self.read_pos = self.read_pos.wrapping_add(to_end);
        Ok(())
    }

    fn read_word(&self, off: u32) -> u32 {
        // SAFETY: callers pass a 4-aligned offset with 4 bytes before the end
        // of the data area. The load is atomic (Relaxed: the Acquire load of
        // `write_pos` already ordered it): a producer in another process that
        // breaks the protocol and writes these bytes now races with a plain
        // load, which would be undefined behaviour; with an atomic it only
        // yields some value, which every caller validates.
        u32::from_le(unsafe {
            AtomicU32::from_ptr(self.raw.data.as_ptr().add(off as usize).cast::<u32>())
                .load(Ordering::Relaxed)
        })
    }

    /// Reads the next record like [`Consumer::read`], but copies its bytes
    /// into `buf` (word by word, with atomic loads) before returning them, so
    /// what the caller validates cannot change afterwards even if the
    /// producer (another, untrusted process) writes into published records.
    ///
    /// `buf` must hold [`max_payload`] bytes of this ring's capacity rounded
    /// up to 4 ([`Consumer::copy_buf_len`]); a shorter one is `TooSmall`,
    /// and the read cursor does not move.
    pub fn read_copy<'b>(&mut self, buf: &'b mut [u8]) -> Result<Option<Entry<'b>>, RingError> {
        let Some(found) = self.locate()? else {
            return Ok(None);
        };
        let words = align_up(found.len) as usize / 4;
        let dst = buf.get_mut(..words * 4).ok_or(RingError::TooSmall)?;
        let base = found.off + RECORD_HEADER_LEN;
        for (i, out) in dst.chunks_exact_mut(4).enumerate() {
            // `locate` checked that the padded record lies inside the data
            // area and the published region.
            out.copy_from_slice(&self.read_word(base + 4 * i as u32).to_le_bytes());
        }
        self.step(&found);
        Ok(Some(Entry {
            seq: found.seq,
            bytes: &dst[..found.len as usize],
        }))
    }

    /// The buffer length [`Consumer::read_copy`] needs for any record of this ring.
    pub fn copy_buf_len(&self) -> usize {
        align_up(max_payload(self.raw.cap)) as usize
    }

    /// Sequence number of the next record `read` would return, once known.
    pub fn next_seq(&self) -> Option<u64> {
        self.read_seq
    }

    /// Frees the space of everything read so far (without acknowledging it).
    pub fn release(&mut self) {
        self.release_pos = self.read_pos;
        self.released_seq = self.read_seq;
        self.raw
            .header()
            .release_pos
            .store(self.read_pos, Ordering::Release);
    }

    /// Declares every record with a sequence number below `seq` committed at the destination.
    pub fn acknowledge(&mut self, seq: u64) {
        self.raw
            .header()
            .ack_seq
            .store(seq as u32, Ordering::Release);
    }

    /// Releases and acknowledges everything read so far: the usual step after
    /// the destination committed it.
    pub fn commit(&mut self) {
        self.release();
        if let Some(seq) = self.read_seq {
            self.acknowledge(seq);
        }
    }

    /// Forgets what was read since the last release, so it is read again
    /// (after the destination failed to commit it).
    pub fn rewind(&mut self) {
        self.read_pos = self.release_pos;
        self.read_seq = self.released_seq;
        self.cached_write = self.release_pos;
        self.last_start = None;
    }

    /// Whether records are published but not yet read.
    pub fn has_unread(&self) -> bool {
        self.raw.header().write_pos.load(Ordering::Acquire) != self.read_pos
    }

    /// The producer's published cursor (`write_pos`) as it is now; it only
    /// moves while a producer writes, so a reader can tell whether anyone
    /// still writes a ring whose writer it believes gone.
    pub fn published_pos(&self) -> u32 {
        self.raw.header().write_pos.load(Ordering::Acquire)
    }

    /// Whether the producer marked the stream finished.
    pub fn producer_closed(&self) -> bool {
        self.raw.header().flags.load(Ordering::Acquire) & FLAG_PRODUCER_CLOSED != 0
    }

    /// Log calls the producer refused because the ring was full, in this ring's lifetime.
    pub fn dropped_total(&self) -> u32 {
        self.raw.header().dropped_total.load(Ordering::Relaxed)
    }

    /// Writes a heartbeat (a caller-defined clock, seconds on hosts) so that a
    /// producer can tell whether anyone is draining.
    pub fn heartbeat(&mut self, now: u32) {
        self.raw.header().heartbeat.store(now, Ordering::Relaxed);
    }

    /// Size of the data area in bytes.
    pub fn capacity(&self) -> u32 {
        self.raw.cap
    }
}
