//! `wire::encode_artifact_part` writes exactly what the per-kind artifact
//! encoders and `wire::encode` write (which `encode`'s own tests compare with
//! postcard), for every buffer size: the C ABI's `runlog_upload` sends all
//! three records through it.

use proptest::prelude::*;
use runlog_core::wire::{
    encode, encode_artifact_begin, encode_artifact_chunk, encode_artifact_end,
    encode_artifact_part, ArtifactPart,
};
use runlog_core::{Bytes, Record};

/// The record that `part` of artifact `id` stands for.
fn record<'a>(id: u32, part: ArtifactPart<'a>) -> Record<'a> {
    match part {
        ArtifactPart::Begin { path, len } => Record::ArtifactBegin { id, path, len },
        ArtifactPart::Chunk { offset, data } => Record::ArtifactChunk {
            id,
            offset,
            data: Bytes(data),
        },
        ArtifactPart::End { crc32 } => Record::ArtifactEnd { id, crc32 },
    }
}

/// Every way to encode `part`, into every buffer from empty to one byte too
/// many: the same result and the same bytes.
fn agree(id: u32, part: ArtifactPart<'_>) -> Result<(), TestCaseError> {
    let mut want = vec![0u8; 600];
    let n = encode(&record(id, part), &mut want).expect("fits 600 bytes");
    for size in 0..=n + 1 {
        let mut one = vec![0xa5u8; size];
        let mut kind = vec![0xa5u8; size];
        let got = encode_artifact_part(id, part, &mut one);
        let per_kind = match part {
            ArtifactPart::Begin { path, len } => encode_artifact_begin(id, path, len, &mut kind),
            ArtifactPart::Chunk { offset, data } => {
                encode_artifact_chunk(id, offset, data, &mut kind)
            }
            ArtifactPart::End { crc32 } => encode_artifact_end(id, crc32, &mut kind),
        };
        prop_assert_eq!(got, per_kind, "{:?} into {} bytes", part, size);
        if size >= n {
            prop_assert_eq!(got, Ok(n));
            prop_assert_eq!(&one[..n], &want[..n], "{:?}", part);
            prop_assert_eq!(&kind[..n], &want[..n], "{:?}", part);
        } else {
            prop_assert!(got.is_err(), "{:?} into {} bytes: {:?}", part, size, got);
        }
    }
    Ok(())
}

proptest! {
    #[test]
    #[cfg_attr(miri, ignore)] // safe code only, random search: natively
    fn one_artifact_encoder_writes_the_per_kind_bytes(
        id in any::<u32>(),
        path in "[a-z/é.]{0,200}",
        len in any::<u64>(),
        offset in any::<u64>(),
        data in proptest::collection::vec(any::<u8>(), 0..300),
        crc32 in any::<u32>(),
    ) {
        agree(id, ArtifactPart::Begin { path: &path, len })?;
        agree(id, ArtifactPart::Chunk { offset, data: &data })?;
        agree(id, ArtifactPart::End { crc32 })?;
    }
}

/// The edges of every varint and string length (1, 2 and 10-byte varints;
/// a 127- and a 128-byte string, whose length takes one and two bytes).
#[test]
fn varint_and_length_edges() {
    let long = "p".repeat(128);
    let data = [7u8; 128];
    for id in [0, 127, 128, u32::MAX] {
        for n in [0, 127, 128, u64::from(u32::MAX), u64::MAX] {
            for cut in [0, 127, 128] {
                agree(
                    id,
                    ArtifactPart::Begin {
                        path: &long[..cut],
                        len: n,
                    },
                )
                .unwrap();
                agree(
                    id,
                    ArtifactPart::Chunk {
                        offset: n,
                        data: &data[..cut],
                    },
                )
                .unwrap();
            }
            agree(id, ArtifactPart::End { crc32: n as u32 }).unwrap();
        }
    }
}
