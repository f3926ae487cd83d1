//! What every host part of runlog takes from the operating system for a
//! record: the wall clock in milliseconds and a fresh run id. Only with the
//! `std` feature (hosts); a device has neither and passes its own.
//!
//! Why here: the C library, the drain, `runlog run` and the server each used
//! to have their own copy; one function each keeps their clocks and ids alike.

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::rules::GeneratedRunId;

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A fresh run id: 32 lowercase hex digits of `/dev/urandom`, like MLflow's.
///
/// Without `/dev/urandom` (a bare container), the clock, the process id and
/// std's per-process random hasher keys make it unique enough for a run id.
pub fn new_run_id() -> GeneratedRunId {
    let mut entropy = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut entropy));
    if random.is_err() {
        use std::hash::{BuildHasher, Hasher};
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, half) in entropy.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(nanos);
            h.write_u32(std::process::id());
            h.write_usize(i);
            half.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    GeneratedRunId::from_entropy(&entropy)
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg_attr(miri, ignore)] // opens /dev/urandom
    fn run_ids_differ_and_follow_the_rule() {
        let a = super::new_run_id();
        let b = super::new_run_id();
        assert_ne!(a, b);
        assert_eq!(crate::rules::check_run_id(a.as_str()), Ok(()));
    }

    #[test]
    fn now_is_after_2020() {
        assert!(super::now_ms() > 1_577_836_800_000);
    }
}
