//! `runlog._runlog`: the extension module behind the Python package `runlog`
//! (see `runlog/__init__.py` and docs/python.md).
//!
//! Every call goes to the C ABI crate's exported `runlog_*` function, so a
//! Python program writes into the same spool ring as a C program, and
//! `runlog run`, the drain and every store work unchanged.

mod array;
mod error;
mod logger;
mod text;
mod training;
mod value;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use runlog::host::global::runlog_get_logger;
use runlog::host::options::{runlog_open, runlog_options_default};
use runlog::status::{runlog_status, RUNLOG_STATUS_IO};

use crate::error::{check, error, last_error};
use crate::logger::{Handle, Logger, Pending};
use crate::text::{fs_path, owned_c_string};
use crate::value::{number, Number};

static GLOBAL: PyOnceLock<Py<Logger>> = PyOnceLock::new();

/// The process-wide logger, configured from the environment (`runlog run`
/// sets it up); the same object on every call. Raises `runlog.Error` (IO)
/// when the spool cannot be created.
#[pyfunction]
fn get_logger(py: Python<'_>) -> PyResult<Py<Logger>> {
    GLOBAL
        .get_or_try_init(py, || {
            let ptr = runlog_get_logger();
            match Handle::new(ptr) {
                Some(h) => Py::new(py, Logger::new(h, false)),
                None => Err(error(py, RUNLOG_STATUS_IO, last_error())),
            }
        })
        .map(|l| l.clone_ref(py))
}

/// A logger of its own (`runlog_open`): arguments left as None come from the
/// environment like `get_logger`'s. Closed by `close()`, by leaving a `with`
/// block, or when garbage-collected.
fn some<'py>(o: Option<&Bound<'py, PyAny>>) -> Option<Bound<'py, PyAny>> {
    o.filter(|o| !o.is_none()).cloned()
}

#[pyfunction]
#[pyo3(signature = (*, spool_dir=None, run_id=None, experiment=None, ring_capacity=None, full_timeout_ms=None))]
fn open(
    py: Python<'_>,
    spool_dir: Option<&Bound<'_, PyAny>>,
    run_id: Option<&Bound<'_, PyAny>>,
    experiment: Option<&Bound<'_, PyAny>>,
    ring_capacity: Option<&Bound<'_, PyAny>>,
    full_timeout_ms: Option<&Bound<'_, PyAny>>,
) -> PyResult<Logger> {
    let spool_dir = some(spool_dir)
        .map(|p| fs_path(&p, "spool_dir"))
        .transpose()?;
    let run_id = some(run_id)
        .map(|s| owned_c_string(&s, "run_id"))
        .transpose()?;
    let experiment = some(experiment)
        .map(|s| owned_c_string(&s, "experiment"))
        .transpose()?;
    let mut options = runlog_options_default();
    if let Some(p) = &spool_dir {
        options.spool_dir = p.as_ptr();
    }
    if let Some(r) = &run_id {
        options.run_id = r.as_ptr();
    }
    if let Some(e) = &experiment {
        options.experiment = e.as_ptr();
    }
    if let Some(c) = some(ring_capacity) {
        options.ring_capacity = unsigned(&c, "ring_capacity")?;
    }
    if let Some(t) = some(full_timeout_ms) {
        let t = unsigned(&t, "full_timeout_ms")?;
        options.full_timeout_ms = u32::try_from(t).map_err(|_| {
            error(
                py,
                runlog::status::RUNLOG_STATUS_INVALID_ARGUMENT,
                "full_timeout_ms does not fit in 32 bits",
            )
        })?;
    }
    let mut ptr = std::ptr::null_mut();
    // SAFETY: `options` holds NULL or NUL-terminated strings that outlive
    // the call; `ptr` is a valid out-pointer.
    let status = unsafe { runlog_open(&options, &mut ptr) };
    check(py, status)?;
    let handle =
        Handle::new(ptr).ok_or_else(|| error(py, RUNLOG_STATUS_IO, "runlog_open gave NULL"))?;
    Ok(Logger::new(handle, true))
}

fn unsigned(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    match number(obj) {
        Ok(Number::I64(v)) if v >= 0 => Ok(v as u64),
        _ => Err(error(
            obj.py(),
            runlog::status::RUNLOG_STATUS_INVALID_ARGUMENT,
            format!("{what} must be an int >= 0"),
        )),
    }
}

/// Every status of the C API as `(name, code)`, names without the
/// `RUNLOG_STATUS_` prefix (the package builds `runlog.Status` from it).
#[pyfunction]
fn status_names() -> Vec<(String, u32)> {
    (0..)
        .map_while(runlog_status::from_u32)
        .map(|s| {
            let name = format!("{s:?}");
            let short = name
                .strip_prefix("RUNLOG_STATUS_")
                .unwrap_or(&name)
                .to_owned();
            (short, s as u32)
        })
        .collect()
}

/// The C API's description of a status code (`runlog_status_str`).
#[pyfunction]
fn status_str(code: u32) -> &'static str {
    runlog_status::from_u32(code).map_or("unknown status", runlog_status::as_str)
}

#[pymodule]
fn _runlog(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Logger>()?;
    m.add_class::<Pending>()?;
    m.add_function(wrap_pyfunction!(get_logger, m)?)?;
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_function(wrap_pyfunction!(status_names, m)?)?;
    m.add_function(wrap_pyfunction!(status_str, m)?)?;
    Ok(())
}
