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
pub fn encode_to<W: Write>(data: &[u8], w: &mut W) -> Result<usize, W::Error> {
    let mut rest = data;
    let mut written = 0;
    loop {
        let scan = &rest[..rest.len().min(254)];
        match scan.iter().position(|&b| b == 0) {
            Some(zero) => {
                w.write_all(&[zero as u8 + 1])?;
                w.write_all(&rest[..zero])?;
                written += zero + 1;
                rest = &rest[zero + 1..];
            }
            None if rest.len() >= 254 => {
                w.write_all(&[0xFF])?;
                w.write_all(&rest[..254])?;
                written += 255;
                rest = &rest[254..];
            }
            None => {
                w.write_all(&[rest.len() as u8 + 1])?;
                w.write_all(rest)?;
                w.write_all(&[DELIMITER])?;
                return Ok(written + rest.len() + 2);
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
