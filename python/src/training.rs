//! The training-loop calls: `log(name, value, step=...)`, `log_param`,
//! `set_tag`, over the C calls `runlog_log_f64_at` / `runlog_log_i64_at`,
//! `runlog_log_param` and `runlog_set_tag` (DESIGN.md).
//!
//! Those C calls are being added to the C ABI on another branch. Until that
//! is merged, the default build raises `NotImplementedError` (after the
//! arguments are checked); the feature `c-training-calls` holds the wiring,
//! checked against that branch's `runlog-ffi`. After the merge: make the
//! feature the only path (delete the stubs and the `cfg`s) and drop the
//! `xfail` marks in `tests/test_values.py`.

use std::ffi::CStr;

use pyo3::prelude::*;

use crate::logger::{Logger, Pending};
use crate::value::Value;

#[cfg(not(feature = "c-training-calls"))]
mod imp {
    use super::*;
    use pyo3::exceptions::PyNotImplementedError;

    fn not_yet(call: &str) -> PyErr {
        PyNotImplementedError::new_err(format!(
            "{call} is not in this build of the runlog C library yet"
        ))
    }

    pub(crate) fn log_at(
        _slf: &Bound<'_, Logger>,
        _name: &CStr,
        _value: &Value<'_>,
        _step: i64,
    ) -> PyResult<Pending> {
        Err(not_yet("runlog_log_f64_at (log with step=)"))
    }

    pub(crate) fn log_param(
        _slf: &Bound<'_, Logger>,
        _key: &CStr,
        _value: &CStr,
    ) -> PyResult<Pending> {
        Err(not_yet("runlog_log_param"))
    }

    pub(crate) fn set_tag(
        _slf: &Bound<'_, Logger>,
        _key: &CStr,
        _value: &CStr,
    ) -> PyResult<Pending> {
        Err(not_yet("runlog_set_tag"))
    }
}

#[cfg(feature = "c-training-calls")]
mod imp {
    use super::*;
    use crate::error::error;
    use crate::logger::pending;
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

    pub(crate) fn log_param(
        slf: &Bound<'_, Logger>,
        key: &CStr,
        value: &CStr,
    ) -> PyResult<Pending> {
        let (h, k, v) = (slf.get().handle_ptr(), key.as_ptr(), value.as_ptr());
        // SAFETY: a valid handle, NUL-terminated strings alive for the call.
        pending(slf, |t| unsafe { runlog_log_param(h, k, v, t) })
    }

    pub(crate) fn set_tag(slf: &Bound<'_, Logger>, key: &CStr, value: &CStr) -> PyResult<Pending> {
        let (h, k, v) = (slf.get().handle_ptr(), key.as_ptr(), value.as_ptr());
        // SAFETY: a valid handle, NUL-terminated strings alive for the call.
        pending(slf, |t| unsafe { runlog_set_tag(h, k, v, t) })
    }
}

pub(crate) use imp::{log_at, log_param, set_tag};
