//! The scalar values of `runlog_log_i64` / `runlog_log_f64`, and the record
//! they make. The checked path encodes that record with
//! `runlog_core::wire::encode` (runlog-core's hand-written encoder, with its
//! own host fast path for scalar metrics); the unchecked fast path in
//! `hot.rs` writes the same bytes straight into the ring (pinned by its tests).
//!
//! Hosts only: a device log call hands `log_c` its `Value` directly.
#![cfg(feature = "std")]

#[cfg(all(test, feature = "std"))]
use runlog_core::record::Record;
use runlog_core::record::Value;
#[cfg(all(test, feature = "std"))]
use runlog_core::record::{Metric, Name};

/// A scalar metric value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scalar {
    I64(i64),
    F64(f64),
}

/// The value a scalar log call records.
#[inline]
pub(crate) fn value(value: Scalar) -> Value<'static> {
    match value {
        Scalar::I64(v) => Value::I64(v),
        Scalar::F64(v) => Value::F64(v),
    }
}

/// The metric a scalar log call records (what `log` makes of [`value`]), for
/// tests that compare encoders.
#[cfg(all(test, feature = "std"))]
pub(crate) fn metric(
    name: &str,
    value: Scalar,
    step: Option<u64>,
    time_ms: Option<u64>,
) -> Metric<'_> {
    Metric {
        name: Name::Text(name),
        value: self::value(value),
        step,
        time_ms,
    }
}

/// The same metric as a `Record`.
#[cfg(all(test, feature = "std"))]
pub(crate) fn record(
    name: &str,
    value: Scalar,
    step: Option<u64>,
    time_ms: Option<u64>,
) -> Record<'_> {
    Record::Metric(metric(name, value, step, time_ms))
}
