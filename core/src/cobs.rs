//! Consistent Overhead Byte Stuffing: removes every 0x00 from a frame so that
//! 0x00 can delimit frames on a byte stream, for at most one byte in 254.
//!
//! Two encoders: [`encode_to`] streams a payload into an `embedded_io::Write`
//! without a second buffer, three writes per block; [`encode_spare_to`]
//! encodes a payload in the buffer that holds it, given a spare byte on each
//! side (the drain's: one write per block). The decoder works in place.

use core::mem::MaybeUninit;

use embedded_io::Write;

/// The frame delimiter.
pub const DELIMITER: u8 = 0;

/// Most bytes that encoding `n` bytes can produce, delimiter included.
pub const fn max_encoded_len(n: usize) -> usize {
    n + n / 254 + 2
}

/// Writes `data` COBS-encoded, followed by the delimiter; returns the bytes written.
///
/// One write site per part of a block (code byte, data bytes, delimiter):
/// every site is inlined into a firmware's drain, so fewer sites is less flash.
pub fn encode_to<W: Write>(data: &[u8], w: &mut W) -> Result<usize, W::Error> {
    let mut rest = data;
    let mut written = 0;
    loop {
        let block = &rest[..rest.len().min(254)];
        // A block is the bytes before a zero, a full 254 bytes (code 0xFF,
        // no zero implied), or the rest of the data.
        let (run, zero) = match block.iter().position(|&b| b == 0) {
            Some(n) => (block.split_at(n).0, true),
            None => (block, false),
        };
        w.write_all(&[run.len() as u8 + 1])?;
        w.write_all(run)?;
        written += run.len() + 1;
        if !zero && run.len() < 254 {
            w.write_all(&[DELIMITER])?;
            return Ok(written + 1);
        }
        // Past the run, and past the zero that ended it.
        rest = rest.get(run.len() + usize::from(zero)..).unwrap_or(&[]);
    }
}

/// Writes the data at `buf[1..buf.len() - 1]` COBS-encoded, followed by
/// the delimiter, one write per block; returns the bytes written. The first
/// and last bytes of `buf` are spare: each block's code byte is stored just
/// before its data (in `buf[0]`, in the zero that ended the block before,
/// or over the last data byte of a full block before, already written),
/// and the delimiter after the last block, so that a block goes out in one
/// write. `buf` is changed; one of fewer than 2 bytes writes nothing.
///
/// # Safety
/// `buf[1..buf.len() - 1]` must be initialised.
pub unsafe fn encode_spare_to<W: Write>(
    buf: &mut [MaybeUninit<u8>],
    w: &mut W,
) -> Result<usize, W::Error> {
    let end = buf.len().wrapping_sub(1);
    if end == 0 || end == usize::MAX {
        return Ok(0);
    }
    let p = buf.as_mut_ptr().cast::<u8>();
    // SAFETY: `end < buf.len()`. The delimiter's place is spare: stored
    // once, and sent with the last block.
    unsafe { *p.add(end) = DELIMITER };
    let mut at = 1;
    let mut written = 0;
    loop {
        // A block is the bytes before a zero, a full 254 bytes (code 0xFF,
        // no zero implied), or the rest of the data.
        let mut stop = at;
        // SAFETY: `stop < end`: in the data, which the caller initialised
        // (a code byte stored over it is initialised too).
        while stop < end && stop - at < 254 && unsafe { *p.add(stop) } != 0 {
            stop += 1;
        }
        let run = stop - at;
        let last = run < 254 && stop == end;
        // SAFETY: `1 <= at <= stop <= end < buf.len()`.
        unsafe { *p.add(at - 1) = run as u8 + 1 };
        let stop = stop + usize::from(last);
        // SAFETY: `at - 1..stop` lies in `buf` (`stop <= end + 1`) and holds
        // the code byte, data and, last, the delimiter, all initialised;
        // `MaybeUninit<u8>` and `u8` have the same layout.
        let block = unsafe { core::slice::from_raw_parts(p.add(at - 1), stop - at + 1) };
        w.write_all(block)?;
        written += block.len();
        if last {
            return Ok(written);
        }
        // Past the run, and past the zero that ended it.
        at = stop + usize::from(run < 254);
    }
}

/// A COBS block that claims more bytes than remain, or a stray 0x00.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CobsError;

/// Decodes a COBS frame (without its delimiter) in place; returns the decoded length.
pub fn decode_in_place(buf: &mut [u8]) -> Result<usize, CobsError> {
    let (mut r, mut w) = (0, 0);
    while r < buf.len() {
        let code = buf[r];
        if code == 0 {
            return Err(CobsError);
        }
        r += 1;
        let n = usize::from(code) - 1;
        if n > buf.len() - r {
            return Err(CobsError);
        }
        buf.copy_within(r..r + n, w);
        w += n;
        r += n;
        if code != 0xFF && r < buf.len() {
            buf[w] = 0;
            w += 1;
        }
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;

    /// COBS as the textbook writes it, one output byte at a time.
    fn reference(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut code_at = 0;
        out.push(0);
        for &b in data {
            if b != 0 {
                out.push(b);
            }
            if b == 0 || out.len() - code_at == 255 {
                out[code_at] = (out.len() - code_at) as u8;
                code_at = out.len();
                out.push(0);
            }
        }
        out[code_at] = (out.len() - code_at) as u8;
        out.push(DELIMITER);
        out
    }

    fn encoded(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let n = encode_to(data, &mut out).unwrap();
        assert_eq!(n, out.len());
        out
    }

    /// `encode_spare_to` over `data` between two spare bytes (junk in
    /// them, as in an uninitialised scratch); checks the count it returns.
    fn encoded_in_place(data: &[u8]) -> Vec<u8> {
        let mut buf: Vec<MaybeUninit<u8>> = std::iter::once(0xA5)
            .chain(data.iter().copied())
            .chain(std::iter::once(0x5A))
            .map(MaybeUninit::new)
            .collect();
        let mut out = Vec::new();
        // SAFETY: every byte of `buf` is initialised.
        let n = unsafe { encode_spare_to(&mut buf, &mut out) }.unwrap();
        assert_eq!(n, out.len());
        out
    }

    /// Payloads around the 254-byte block boundary, with and without zeros.
    #[test]
    fn block_boundaries_match_the_reference_and_round_trip() {
        for len in [0, 1, 2, 253, 254, 255, 256, 507, 508, 509, 1000] {
            for zero_at in [
                None,
                Some(0),
                Some(1),
                Some(252),
                Some(253),
                Some(254),
                Some(len.max(1) - 1),
            ] {
                let mut data: Vec<u8> = (0..len).map(|i| (i % 255 + 1) as u8).collect();
                if let Some(z) = zero_at.filter(|&z| z < len) {
                    data[z] = 0;
                }
                let out = encoded(&data);
                assert_eq!(out, reference(&data), "len {len}, zero at {zero_at:?}");
                assert_eq!(
                    encoded_in_place(&data),
                    out,
                    "in place: len {len}, zero at {zero_at:?}"
                );
                assert!(out.len() <= max_encoded_len(data.len()));
                assert_eq!(out.iter().position(|&b| b == 0), Some(out.len() - 1));
                let mut body = out[..out.len() - 1].to_vec();
                let n = decode_in_place(&mut body).unwrap();
                assert_eq!(&body[..n], &data[..]);
            }
        }
    }

    /// A writer that accepts `budget` bytes, then fails.
    struct Failing {
        out: Vec<u8>,
        budget: usize,
    }

    impl embedded_io::ErrorType for Failing {
        type Error = embedded_io::ErrorKind;
    }

    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            let n = buf.len().min(self.budget);
            if n == 0 && !buf.is_empty() {
                return Err(embedded_io::ErrorKind::Other);
            }
            self.budget -= n;
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    /// A failed write stops the frame, streamed or in place: what went out
    /// is a prefix of the whole frame, and the error comes back.
    #[test]
    fn a_failed_write_is_returned_and_nothing_follows_it() {
        let data: Vec<u8> = (0..600).map(|i| (i % 7) as u8).collect();
        let whole = reference(&data);
        // Every count natively; a sample under miri, which is slow.
        for budget in (0..whole.len()).step_by(if cfg!(miri) { 97 } else { 1 }) {
            for in_place in [false, true] {
                let mut w = Failing {
                    out: Vec::new(),
                    budget,
                };
                let r = if in_place {
                    let mut buf: Vec<MaybeUninit<u8>> = std::iter::once(0)
                        .chain(data.iter().copied())
                        .chain(std::iter::once(0))
                        .map(MaybeUninit::new)
                        .collect();
                    // SAFETY: every byte of `buf` is initialised.
                    unsafe { encode_spare_to(&mut buf, &mut w) }
                } else {
                    encode_to(&data, &mut w)
                };
                assert_eq!(r, Err(embedded_io::ErrorKind::Other));
                assert_eq!(
                    w.out,
                    whole[..budget],
                    "budget {budget}, in place {in_place}"
                );
            }
        }
    }

    /// A buffer without its two spare bytes writes nothing.
    #[test]
    fn in_place_without_spare_bytes_writes_nothing() {
        for len in 0..2 {
            let mut buf = std::vec![MaybeUninit::new(7u8); len];
            let mut out = Vec::new();
            // SAFETY: every byte of `buf` is initialised.
            assert_eq!(unsafe { encode_spare_to(&mut buf, &mut out) }, Ok(0));
            assert!(out.is_empty());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 2048 }))]

        #[test]
        fn matches_the_reference_on_any_payload(
            data in proptest::collection::vec(prop_oneof![Just(0u8), any::<u8>()], 0..1100),
        ) {
            prop_assert_eq!(encoded(&data), reference(&data));
            prop_assert_eq!(encoded_in_place(&data), reference(&data));
        }
    }
}
