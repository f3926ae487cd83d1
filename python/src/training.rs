//! The training-loop calls: `log(name, value, step=...)`, `log_param`,
//! `set_tag`. They go to the C calls `runlog_log_f64_at` / `runlog_log_i64_at`,
//! `runlog_log_param` and `runlog_set_tag` (DESIGN.md), which are being added
//! to the C ABI separately; until they are there, these raise
//! `NotImplementedError` after checking their arguments, and this module is
//! the one place to wire them.

use std::ffi::CStr;

use pyo3::exceptions::PyNotImplementedError;
use pyo3::prelude::*;

use crate::logger::{Logger, Pending};
use crate::value::Value;

fn not_yet(call: &str) -> PyErr {
    PyNotImplementedError::new_err(format!(
        "{call} is not in this build of the runlog C library yet"
    ))
}

/// `log(name, value, step=step)`: an int or float at an explicit step
/// (`runlog_log_i64_at` / `runlog_log_f64_at`).
pub(crate) fn log_at(
    _slf: &Bound<'_, Logger>,
    _name: &CStr,
    _value: &Value<'_>,
    _step: i64,
) -> PyResult<Pending> {
    Err(not_yet("runlog_log_f64_at (log with step=)"))
}

/// `log_param(key, value)` (`runlog_log_param`).
pub(crate) fn log_param(_slf: &Bound<'_, Logger>, _key: &CStr, _value: &CStr) -> PyResult<Pending> {
    Err(not_yet("runlog_log_param"))
}

/// `set_tag(key, value)` (`runlog_set_tag`).
pub(crate) fn set_tag(_slf: &Bound<'_, Logger>, _key: &CStr, _value: &CStr) -> PyResult<Pending> {
    Err(not_yet("runlog_set_tag"))
}
