//! Consistent Overhead Byte Stuffing: removes every 0x00 from a frame so that
//! 0x00 can delimit frames on a byte stream, for at most one byte in 254.
//!
//! The encoder streams straight into an `embedded_io::Write` without a second
//! buffer; the decoder works in place.

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
        let block = rest.len().min(254);
        let zero = rest[..block].iter().position(|&b| b == 0);
        // A block is the bytes before a zero, a full 254 bytes (code 0xFF,
        // no zero implied), or the rest of the data.
        let n = zero.unwrap_or(block);
        w.write_all(&[n as u8 + 1])?;
        w.write_all(&rest[..n])?;
        written += n + 1;
        match zero {
            Some(_) => rest = &rest[n + 1..],
            None if n == 254 => rest = &rest[n..],
            None => {
                w.write_all(&[DELIMITER])?;
                return Ok(written + 1);
            }
        }
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
