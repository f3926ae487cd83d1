//! The training-loop calls: `log(name, value, step=...)`, `log_param`,
//! `set_tag`, over the C calls `runlog_log_f64_at` / `runlog_log_i64_at`,
//! `runlog_log_param` and `runlog_set_tag` (DESIGN.md).
//!
//! A step goes with an int or a float (a list's steps are its indexes; a
//! string has none); params follow MLflow (one value per key, a changed
//! value is `Status.PARAM_CONFLICT`), tags keep their last value.

use std::ffi::CStr;

use pyo3::prelude::*;

use crate::error::error;
use crate::logger::{pending, Logger, Pending};
use crate::value::Value;

use runlog::logger::{runlog_log_f64_at, runlog_log_i64_at};
use runlog::params::{runlog_log_param, runlog_set_tag};
use runlog::status::RUNLOG_STATUS_INVALID_ARGUMENT;

pub(crate) fn log_at(
    slf: &Bound<'_, Logger>,
    name: &CStr,
    value: &Value<'_>,
    step: i64,
) -> PyResult<Pending> {
    let (h, n) = (slf.get().handle_ptr(), name.as_ptr());
    match *value {
        // SAFETY: a valid handle, a NUL-terminated name alive for the
        // call, a valid out-pointer.
        Value::F64(v) => pending(slf, |t| unsafe { runlog_log_f64_at(h, n, v, step, t) }),
        // SAFETY: as above.
        Value::I64(v) => pending(slf, |t| unsafe { runlog_log_i64_at(h, n, v, step, t) }),
        _ => Err(error(
            slf.py(),
            RUNLOG_STATUS_INVALID_ARGUMENT,
            "a step goes with an int or float value (a list has steps 0..n-1; a str has none)",
        )),
    }
}

pub(crate) fn log_param(slf: &Bound<'_, Logger>, key: &CStr, value: &CStr) -> PyResult<Pending> {
    let (h, k, v) = (slf.get().handle_ptr(), key.as_ptr(), value.as_ptr());
    // SAFETY: a valid handle, NUL-terminated strings alive for the call.
    pending(slf, |t| unsafe { runlog_log_param(h, k, v, t) })
}

pub(crate) fn set_tag(slf: &Bound<'_, Logger>, key: &CStr, value: &CStr) -> PyResult<Pending> {
    let (h, k, v) = (slf.get().handle_ptr(), key.as_ptr(), value.as_ptr());
    // SAFETY: a valid handle, NUL-terminated strings alive for the call.
    pending(slf, |t| unsafe { runlog_set_tag(h, k, v, t) })
}
