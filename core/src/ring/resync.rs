//! Finding the intact records after damage, for [`Consumer::resync`].
//!
//! Ring records carry no checksum, so after damage the only evidence that a
//! position holds an intact record is a chain: well-formed record headers
//! with consecutive sequence numbers, one after the other, that ends exactly
//! at `write_pos`. The intact records after the damage always form one. But
//! the bytes of intact records can form shorter, false ones: the last word
//! of a payload read as a length can end exactly at `write_pos` and jump over
//! every intact record after it (what `core/tests/ring_resync.rs` found).
//! Taking the first chain found would lose those records, so every start is
//! tried and the chain holding the most records wins; on a tie the later
//! start, since the earlier one then claims a record that spans the later
//! one's first, intact, header.
//!
//! A chain's first sequence number says how many records the damage took,
//! and those records must fit, 8 bytes or more each, between the last
//! record read and the chain: a damaged sequence number on a lone last
//! record cannot claim hundreds of losses (nor push the next number expected
//! past every record the producer writes next).
//!
//! What no rule can tell apart without a checksum: damage that forges
//! well-formed headers with the right sequence numbers, chaining more
//! records than the intact ones (two forged headers in 15 bytes can). Random
//! bytes match a sequence number with odds of about 2^-32 per header.
//!
//! Chains merge: one that reaches a header of the best chain so far
//! continues as that chain does, so its length is known there without
//! walking further. The search stops once no start left has room for more
//! records, and reads at most [`HOPS_PER_BYTE`] headers per byte of the
//! ring, so a ring crafted to hold many long false chains costs bounded time.

use super::{align_up, max_payload, Consumer, ALIGN, PAD_MARKER, RECORD_HEADER_LEN};

/// Header reads per byte of capacity that one resync may make.
const HOPS_PER_BYTE: u32 = 4;

/// A chain of records that ends exactly at `write_pos`.
#[derive(Clone, Copy)]
pub(super) struct Chain {
    /// Where its first record (or padding before it) starts.
    pub(super) start: u32,
    /// Its first record's sequence number.
    pub(super) first_seq: u64,
    /// How many records it holds.
    records: u32,
}

/// A position on the best chain, and how many of its records lie before it.
#[derive(Clone, Copy)]
struct Cursor {
    pos: u32,
    before: u32,
}

/// Why a walk ended without a chain.
enum Stop {
    /// No chain from this start.
    NoChain,
    /// The budget is spent, or the best chain changed under the reader (the
    /// producer wrote published bytes): take what was found so far.
    Search,
}

struct Search<'c, 'a, const TRUSTED: bool> {
    consumer: &'c Consumer<'a, TRUSTED>,
    write: u32,
    expected: u64,
    /// Where the record numbered `expected` starts at the earliest, when
    /// that number is known (a record was read).
    unread_from: Option<u32>,
    budget: u32,
}

/// The chain with the most records among those starting at a 4-aligned
/// position after `from` and before `write`, whose first sequence number is
/// `expected` or past it by at most one record per 8 bytes: of the bytes from
/// `unread_from` to the chain's first record when given, else of the ring.
pub(super) fn best_chain<const TRUSTED: bool>(
    consumer: &Consumer<'_, TRUSTED>,
    from: u32,
    unread_from: Option<u32>,
    expected: u64,
    write: u32,
) -> Option<Chain> {
    let cap = consumer.raw.cap;
    let mut search = Search {
        consumer,
        write,
        expected,
        unread_from,
        budget: cap.saturating_mul(HOPS_PER_BYTE),
    };
    let mut best: Option<(Chain, Cursor)> = None;
    let mut pos = from;
    while pos != write && write.wrapping_sub(pos) <= cap {
        pos = pos.wrapping_add(ALIGN);
        if let Some((chain, cursor)) = &mut best {
            // Every record takes at least a header: no start from here on
            // has room for more records than the best chain.
            if write.wrapping_sub(pos) / RECORD_HEADER_LEN < chain.records {
                break;
            }
            if search.catch_up(chain, cursor, pos).is_err() {
                break;
            }
            if cursor.pos == pos {
                continue; // a tail of the best chain: fewer records
            }
        }
        match search.walk(pos, best) {
            Ok(chain) => {
                // Ties go to the later start (see the module's docs).
                let better = match best {
                    Some((b, _)) => chain.records >= b.records,
                    None => true,
                };
                if better {
                    best = Some((chain, Cursor { pos, before: 0 }));
                }
            }
            Err(Stop::NoChain) => {}
            Err(Stop::Search) => break,
        }
    }
    best.map(|(chain, _)| chain)
}

impl<const TRUSTED: bool> Search<'_, '_, TRUSTED> {
    /// Whether `a` comes before `b` (both at most a ring's capacity before `write`).
    fn before(&self, a: u32, b: u32) -> bool {
        self.write.wrapping_sub(a) > self.write.wrapping_sub(b)
    }

    /// One step along a chain from `pos`: the position after the record or
    /// padding there, and the low 32 bits of the record's sequence number
    /// (`None` for padding). `NoChain` when no well-formed header is there.
    fn hop(&mut self, pos: u32) -> Result<(u32, Option<u32>), Stop> {
        self.budget = self.budget.checked_sub(1).ok_or(Stop::Search)?;
        let c = self.consumer;
        let cap = c.raw.cap;
        let avail = self.write.wrapping_sub(pos);
        if avail == 0 || avail > cap {
            return Err(Stop::NoChain);
        }
        let off = pos & c.mask;
        let to_end = cap - off;
        if to_end < RECORD_HEADER_LEN || c.read_word(off) == PAD_MARKER {
            if to_end > avail {
                return Err(Stop::NoChain);
            }
            return Ok((pos.wrapping_add(to_end), None));
        }
        let len = c.read_word(off);
        let total = RECORD_HEADER_LEN.saturating_add(len);
        if len > max_payload(cap) || total > to_end || align_up(total) > avail {
            return Err(Stop::NoChain);
        }
        Ok((
            pos.wrapping_add(align_up(total)),
            Some(c.read_word(off + 4)),
        ))
    }

    /// How many records can lie between the next unread one and `pos`: a
    /// record takes 8 bytes at least.
    fn max_lost(&self, pos: u32) -> u32 {
        let bytes = match self.unread_from {
            Some(from) => self
                .write
                .wrapping_sub(from)
                .saturating_sub(self.write.wrapping_sub(pos)),
            None => self.consumer.raw.cap,
        };
        bytes / RECORD_HEADER_LEN
    }

    /// Moves `cursor` along the best chain to its first position at or after `to`.
    fn catch_up(&mut self, chain: &Chain, cursor: &mut Cursor, to: u32) -> Result<(), Stop> {
        while self.before(cursor.pos, to) {
            // The best chain was whole when walked: a header that no longer
            // is means the producer writes published bytes; stop searching.
            let (next, seq) = self.hop(cursor.pos).map_err(|_| Stop::Search)?;
            cursor.pos = next;
            cursor.before += u32::from(seq.is_some());
            if cursor.before > chain.records {
                return Err(Stop::Search);
            }
        }
        Ok(())
    }

    /// The chain from `start`, if one reaches `write`.
    fn walk(&mut self, start: u32, best: Option<(Chain, Cursor)>) -> Result<Chain, Stop> {
        let mut best = best;
        let mut pos = start;
        let mut first = None;
        let mut next = 0u64;
        let mut records = 0u32;
        while pos != self.write {
            let (after, seq32) = self.hop(pos)?;
            if let Some(seq32) = seq32 {
                let seq = match first {
                    None => {
                        let delta = seq32.wrapping_sub(self.expected as u32);
                        if delta > self.max_lost(pos) {
                            return Err(Stop::NoChain);
                        }
                        let seq = self.expected.checked_add(u64::from(delta));
                        *first.insert(seq.ok_or(Stop::NoChain)?)
                    }
                    Some(_) if next as u32 == seq32 => next,
                    Some(_) => return Err(Stop::NoChain),
                };
                next = seq.checked_add(1).ok_or(Stop::NoChain)?;
                records += 1;
                // Linked to this header, the rest is the best chain's rest.
                if let Some((chain, cursor)) = &mut best {
                    self.catch_up(chain, cursor, pos)?;
                    if cursor.pos == pos {
                        records = records - 1 + chain.records.saturating_sub(cursor.before);
                        pos = self.write;
                        continue;
                    }
                }
            }
            pos = after;
        }
        let first_seq = first.ok_or(Stop::NoChain)?;
        Ok(Chain {
            start,
            first_seq,
            records,
        })
    }
}
