//! Encoding single records with postcard, and the version every stream and
//! spool file declares.

use crate::record::Record;

/// Version of the record encoding. A reader refuses frames and spool files of
/// any other version instead of misreading them.
///
/// 1: metrics, names, run start/end, artifacts, drop notices.
/// 2: adds `Param` (tag 9) and `Tag` (tag 10).
pub const WIRE_VERSION: u8 = 2;

/// Why a record could not be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The destination buffer is too small for the record.
    BufferFull,
    /// The bytes are not a valid record (truncated, bad tag, bad UTF-8, ...).
    Malformed,
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            WireError::BufferFull => "record does not fit in the buffer",
            WireError::Malformed => "malformed record",
        })
    }
}

/// Encodes `record` at the start of `buf` and returns the encoded length.
///
/// The bytes are postcard's encoding of `record`, written without serde's
/// generic machinery (smaller on devices; see the `encode` module).
pub fn encode(record: &Record<'_>, buf: &mut [u8]) -> Result<usize, WireError> {
    crate::encode::record(record, buf)
}

pub use crate::encode::{
    encode_artifact_begin, encode_artifact_chunk, encode_artifact_end, encode_dropped,
    encode_metric, encode_name_def, encode_param, encode_run_end, encode_run_start, encode_tag,
    metric_len, write_with, Writer,
};
pub use crate::encode::{encode_artifact_part, ArtifactPart};

/// `bytes` as text if they are UTF-8, as `core::str::from_utf8` decides,
/// with a compact check (a few dozen bytes of code on a device instead of
/// core's fast validator; exhaustively compared with it in `skim`'s tests).
pub fn utf8(bytes: &[u8]) -> Option<&str> {
    if crate::skim::utf8_ok(bytes) {
        // SAFETY: just checked to be UTF-8.
        Some(unsafe { core::str::from_utf8_unchecked(bytes) })
    } else {
        None
    }
}

/// Decodes one record from the start of `bytes`, returning it and the bytes after it.
pub fn decode(bytes: &[u8]) -> Result<(Record<'_>, &[u8]), WireError> {
    postcard::take_from_bytes(bytes).map_err(|_| WireError::Malformed)
}
