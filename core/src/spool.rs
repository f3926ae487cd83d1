//! The spool file: how a host program and the uploader share a ring.
//!
//! A spool file is a fixed 512-byte header describing the run, followed by
//! the ring's storage (see [`crate::ring`]). The writer creates it, the
//! uploader maps it and drains it. The header is plain little-endian bytes,
//! parsed field by field, because the file comes from another process and is
//! untrusted.
//!
//! | offset | size | field                                   |
//! |--------|------|-----------------------------------------|
//! | 0      | 8    | magic `RUNLOG\0S`                        |
//! | 8      | 4    | spool layout version                    |
//! | 12     | 1    | wire version of the records             |
//! | 16     | 4    | writer's process id                     |
//! | 20     | 8    | creation time, ms since the Unix epoch  |
//! | 28     | 2    | run id length                           |
//! | 30     | 2    | experiment length                       |
//! | 32     | 64   | run id (UTF-8)                          |
//! | 96     | 256  | experiment (UTF-8)                      |
//! | 352    | 1    | placement flags: bit 0 rank known, bit 1 world size known (layout 2) |
//! | 356    | 4    | the writer's rank (layout 2)            |
//! | 360    | 4    | the job's world size (layout 2)         |
//! | 364    | 2    | node name length (layout 2)             |
//! | 366    | 64   | node name, UTF-8 (layout 2)             |
//! | 512    | ...  | ring storage                            |
//!
//! Layout 2 added the writer's [`Placement`] (rank, world size, node) in
//! bytes that layout 1 kept zero: the drain attaches the rank to every point
//! of the ring, so it costs nothing per record. A layout-1 reader refuses a
//! layout-2 file (naming both versions) rather than mixing ranks; this
//! reader takes both, a layout-1 file having no placement.

use crate::wire::WIRE_VERSION;

/// Magic at the start of every spool file.
pub const SPOOL_MAGIC: [u8; 8] = *b"RUNLOG\0S";
/// Version of the spool layout this build writes (2: placement added).
pub const SPOOL_VERSION: u32 = 2;
/// Oldest spool layout this build reads (1: no placement).
pub const SPOOL_VERSION_MIN: u32 = 1;
/// Bytes before the ring storage.
pub const SPOOL_HEADER_LEN: usize = 512;
/// File in a spool directory on which every uploader draining it holds a
/// shared `flock`: a writer closing its ring before any uploader attached it
/// (no heartbeat yet) probes it to know whether one is about to, and then
/// waits for the first heartbeat instead of giving up at once.
pub const UPLOADER_LOCK: &str = ".uploader.lock";
/// Longest run id a spool header holds.
pub const MAX_RUN_ID_LEN: usize = 64;
/// Longest experiment name a spool header holds.
pub const MAX_EXPERIMENT_LEN: usize = 256;
/// Longest node name a spool header holds.
pub const MAX_NODE_LEN: usize = 64;

const PLACEMENT_FLAGS_AT: usize = 352;
const RANK_AT: usize = 356;
const WORLD_AT: usize = 360;
const NODE_LEN_AT: usize = 364;
const NODE_AT: usize = 366;

const RUN_ID_AT: usize = 32;
const EXPERIMENT_AT: usize = RUN_ID_AT + MAX_RUN_ID_LEN;

/// What a spool header says about its ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolInfo<'a> {
    /// The run the records belong to.
    pub run_id: &'a str,
    /// The run's experiment.
    pub experiment: &'a str,
    /// The writing process.
    pub pid: u32,
    /// When the file was created, ms since the Unix epoch.
    pub created_ms: u64,
}

/// Why a spool header could not be written or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpoolError {
    /// Fewer bytes than a header.
    TooShort,
    /// Not a runlog spool file.
    BadMagic,
    /// Written by an incompatible runlog: (spool version, wire version).
    UnsupportedVersion(u32, u8),
    /// A length field is out of range or a text field is not UTF-8.
    Corrupt,
    /// The run id or experiment is too long to store.
    FieldTooLong,
}

impl core::fmt::Display for SpoolError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SpoolError::TooShort => f.write_str("spool file is shorter than its header"),
            SpoolError::BadMagic => f.write_str("not a runlog spool file (bad magic)"),
            SpoolError::UnsupportedVersion(s, w) => write!(
                f,
                "spool file has layout version {s} and wire version {w}; this runlog reads layout {SPOOL_VERSION_MIN} to {SPOOL_VERSION} and wire {WIRE_VERSION}"
            ),
            SpoolError::Corrupt => f.write_str("spool header is corrupted"),
            SpoolError::FieldTooLong => f.write_str("run id or experiment too long for a spool header"),
        }
    }
}

/// Writes the header for `info` into the first [`SPOOL_HEADER_LEN`] bytes of `out`.
pub fn write_header(info: &SpoolInfo<'_>, out: &mut [u8]) -> Result<(), SpoolError> {
    let out = out
        .get_mut(..SPOOL_HEADER_LEN)
        .ok_or(SpoolError::TooShort)?;
    if info.run_id.len() > MAX_RUN_ID_LEN || info.experiment.len() > MAX_EXPERIMENT_LEN {
        return Err(SpoolError::FieldTooLong);
    }
    out.fill(0);
    out[..8].copy_from_slice(&SPOOL_MAGIC);
    out[8..12].copy_from_slice(&SPOOL_VERSION.to_le_bytes());
    out[12] = WIRE_VERSION;
    out[16..20].copy_from_slice(&info.pid.to_le_bytes());
    out[20..28].copy_from_slice(&info.created_ms.to_le_bytes());
    out[28..30].copy_from_slice(&(info.run_id.len() as u16).to_le_bytes());
    out[30..32].copy_from_slice(&(info.experiment.len() as u16).to_le_bytes());
    out[RUN_ID_AT..RUN_ID_AT + info.run_id.len()].copy_from_slice(info.run_id.as_bytes());
    out[EXPERIMENT_AT..EXPERIMENT_AT + info.experiment.len()]
        .copy_from_slice(info.experiment.as_bytes());
    Ok(())
}

/// Reads and validates a spool header.
pub fn read_header(bytes: &[u8]) -> Result<SpoolInfo<'_>, SpoolError> {
    let h = bytes.get(..SPOOL_HEADER_LEN).ok_or(SpoolError::TooShort)?;
    if h[..8] != SPOOL_MAGIC {
        return Err(SpoolError::BadMagic);
    }
    let word = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    let half = |at: usize| usize::from(u16::from_le_bytes([h[at], h[at + 1]]));
    let version = word(8);
    if !(SPOOL_VERSION_MIN..=SPOOL_VERSION).contains(&version) || h[12] != WIRE_VERSION {
        return Err(SpoolError::UnsupportedVersion(version, h[12]));
    }
    let mut created = [0u8; 8];
    created.copy_from_slice(&h[20..28]);
    let (run_len, exp_len) = (half(28), half(30));
    if run_len > MAX_RUN_ID_LEN || exp_len > MAX_EXPERIMENT_LEN {
        return Err(SpoolError::Corrupt);
    }
    let text = |at: usize, len: usize| {
        core::str::from_utf8(&h[at..at + len]).map_err(|_| SpoolError::Corrupt)
    };
    Ok(SpoolInfo {
        run_id: text(RUN_ID_AT, run_len)?,
        experiment: text(EXPERIMENT_AT, exp_len)?,
        pid: word(16),
        created_ms: u64::from_le_bytes(created),
    })
}

/// Where the writing process sits in its job: what the drain attaches to
/// every point of the ring (see `docs/ranks.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Placement<'a> {
    /// The process's rank, if its launcher (or `RUNLOG_RANK`) gave one.
    pub rank: Option<u32>,
    /// How many ranks the job has, if known.
    pub world_size: Option<u32>,
    /// The node (host) the process runs on; empty if unknown.
    pub node: &'a str,
}

/// Writes `placement` into a header already written by [`write_header`].
pub fn write_placement(placement: &Placement<'_>, out: &mut [u8]) -> Result<(), SpoolError> {
    let out = out
        .get_mut(..SPOOL_HEADER_LEN)
        .ok_or(SpoolError::TooShort)?;
    if placement.node.len() > MAX_NODE_LEN {
        return Err(SpoolError::FieldTooLong);
    }
    out[PLACEMENT_FLAGS_AT] =
        u8::from(placement.rank.is_some()) | u8::from(placement.world_size.is_some()) << 1;
    out[RANK_AT..RANK_AT + 4].copy_from_slice(&placement.rank.unwrap_or(0).to_le_bytes());
    out[WORLD_AT..WORLD_AT + 4].copy_from_slice(&placement.world_size.unwrap_or(0).to_le_bytes());
    out[NODE_LEN_AT..NODE_LEN_AT + 2].copy_from_slice(&(placement.node.len() as u16).to_le_bytes());
    out[NODE_AT..NODE_AT + MAX_NODE_LEN].fill(0);
    out[NODE_AT..NODE_AT + placement.node.len()].copy_from_slice(placement.node.as_bytes());
    Ok(())
}

/// Reads the placement of a header that [`read_header`] accepted (a
/// layout-1 header has none: the default). Untrusted bytes: unknown flag
/// bits, a node name longer than its field or not UTF-8 are `Corrupt`.
pub fn read_placement(bytes: &[u8]) -> Result<Placement<'_>, SpoolError> {
    let h = bytes.get(..SPOOL_HEADER_LEN).ok_or(SpoolError::TooShort)?;
    let word = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    if word(8) < 2 {
        return Ok(Placement::default());
    }
    let flags = h[PLACEMENT_FLAGS_AT];
    if flags & !0b11 != 0 {
        return Err(SpoolError::Corrupt);
    }
    let node_len = usize::from(u16::from_le_bytes([h[NODE_LEN_AT], h[NODE_LEN_AT + 1]]));
    if node_len > MAX_NODE_LEN {
        return Err(SpoolError::Corrupt);
    }
    let node =
        core::str::from_utf8(&h[NODE_AT..NODE_AT + node_len]).map_err(|_| SpoolError::Corrupt)?;
    Ok(Placement {
        rank: (flags & 1 != 0).then(|| word(RANK_AT)),
        world_size: (flags & 2 != 0).then(|| word(WORLD_AT)),
        node,
    })
}
