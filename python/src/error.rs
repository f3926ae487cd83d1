//! The one place where a `runlog_status` becomes a Python exception:
//! `runlog.Error(status, message)` (defined in `runlog/_errors.py`).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use runlog::error::runlog_last_error;
use runlog::status::{runlog_status, RUNLOG_STATUS_OK};

static ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// `runlog.Error(status, message)`, with `cause` as its `__cause__` when given.
pub(crate) fn error(py: Python<'_>, status: runlog_status, message: impl Into<String>) -> PyErr {
    let message = message.into();
    match ERROR.import(py, "runlog._errors", "Error") {
        Ok(class) => PyErr::from_type(class.clone(), (status as u32, message)),
        // The package is broken (e.g. the extension imported on its own): still say why.
        Err(e) => e,
    }
}

/// As [`error`], chained from the Python exception that caused it.
pub(crate) fn error_from(
    py: Python<'_>,
    status: runlog_status,
    message: impl Into<String>,
    cause: PyErr,
) -> PyErr {
    let err = error(py, status, message);
    err.set_cause(py, Some(cause));
    err
}

/// The calling thread's last error message from the C library.
pub(crate) fn last_error() -> String {
    // SAFETY: NULL with length 0 only asks for the message length.
    let len = unsafe { runlog_last_error(std::ptr::null_mut(), 0) };
    let mut buf = vec![0u8; len + 1];
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let written = unsafe { runlog_last_error(buf.as_mut_ptr().cast(), buf.len()) };
    buf.truncate(written.min(len));
    String::from_utf8_lossy(&buf).into_owned()
}

/// `Ok(())` for `RUNLOG_STATUS_OK`, else `runlog.Error` with the C library's
/// message for the call that just failed on this thread.
pub(crate) fn check(py: Python<'_>, status: runlog_status) -> PyResult<()> {
    if status == RUNLOG_STATUS_OK {
        Ok(())
    } else {
        Err(error(py, status, last_error()))
    }
}
