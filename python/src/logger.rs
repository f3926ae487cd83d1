//! `runlog.Logger` and `runlog.Pending`: thin Python objects over a
//! `runlog_logger *`; every call goes to the C ABI's own function, so tickets,
//! waits, uploads and statuses are exactly those of C.

use std::ptr::NonNull;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyFloat, PyMemoryView, PyString};
use runlog::logger as c;
use runlog::status::{
    runlog_status, RUNLOG_STATUS_INVALID_ARGUMENT, RUNLOG_STATUS_OK, RUNLOG_STATUS_TIMEOUT,
};
use runlog::{runlog_logger, runlog_ticket};

use crate::array::Numbers;
use crate::error::{check, error, last_error};
use crate::text::{borrow_c_str, borrow_utf8, expect_str, fs_path, type_name};
use crate::value::{hold, number, Number, Value};

/// How long `wait`, `flush` and `close` wait when given no timeout (as C++'s `runlog::default_timeout`).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A waiting thread gives Python a chance to handle Ctrl-C this often.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// A `runlog_logger *`, which the C API makes safe to use from any thread.
#[derive(Clone, Copy)]
pub(crate) struct Handle(NonNull<runlog_logger>);

// SAFETY: the C API documents every function as thread-safe on one handle,
// and a handle stays valid (as a tombstone) after `runlog_close`; handles
// from `runlog_get_logger` are never freed.
unsafe impl Send for Handle {}
// SAFETY: as above.
unsafe impl Sync for Handle {}

impl Handle {
    /// Wraps a non-NULL handle from `runlog_open` or `runlog_get_logger`.
    pub(crate) fn new(ptr: *mut runlog_logger) -> Option<Self> {
        NonNull::new(ptr).map(Handle)
    }

    fn ptr(self) -> *mut runlog_logger {
        self.0.as_ptr()
    }
}

/// A runlog logger: `runlog.get_logger()` (the process-wide one that
/// `runlog run` configures) or `runlog.open(...)`.
#[pyclass(frozen, module = "runlog")]
pub struct Logger {
    handle: Handle,
    /// Opened by `runlog.open`: closed when garbage-collected.
    owned: bool,
}

impl Logger {
    /// The C handle.
    pub(crate) fn handle_ptr(&self) -> *mut runlog_logger {
        self.handle.ptr()
    }

    /// A Python object for `handle`.
    pub(crate) fn new(handle: Handle, owned: bool) -> Self {
        Logger { handle, owned }
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: an owned handle from `runlog_open`; closing twice
            // returns CLOSED. Timeout 0: write the run's end, do not wait.
            let _ = unsafe { c::runlog_close(self.handle.ptr(), 0) };
        }
    }
}

/// A logged record: `wait()` blocks until it is committed at the destination.
#[pyclass(frozen, module = "runlog")]
pub struct Pending {
    logger: Py<Logger>,
    ticket: runlog_ticket,
}

/// Calls `f` with a ticket out-pointer; `Pending` on OK, else `runlog.Error`.
pub(crate) fn pending(
    slf: &Bound<'_, Logger>,
    f: impl FnOnce(*mut runlog_ticket) -> runlog_status,
) -> PyResult<Pending> {
    let mut ticket: runlog_ticket = 0;
    check(slf.py(), f(&mut ticket))?;
    Ok(Pending::new(slf, ticket))
}

/// A timeout in seconds (`None`: the default) as milliseconds; `None` out
/// means no bound (`math.inf`).
fn timeout(py: Python<'_>, t: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Duration>> {
    let Some(t) = t.filter(|t| !t.is_none()) else {
        return Ok(Some(DEFAULT_TIMEOUT));
    };
    let secs = match number(t) {
        Ok(Number::F64(s)) => s,
        Ok(Number::I64(s)) => s as f64,
        Err(_) => f64::NAN,
    };
    if secs.is_nan() || secs < 0.0 {
        return Err(error(
            py,
            RUNLOG_STATUS_INVALID_ARGUMENT,
            format!(
                "timeout must be None or a number of seconds >= 0, not {}",
                t.repr()
                    .map(|r| r.to_string())
                    .unwrap_or_else(|_| type_name(t))
            ),
        ));
    }
    Ok(Duration::try_from_secs_f64(secs).ok())
}

/// Waits through `wait(remaining_ms)` in slices, with the GIL released, and
/// lets Python handle signals (Ctrl-C) between slices.
fn wait_sliced(
    py: Python<'_>,
    total: Option<Duration>,
    wait: impl Fn(u32) -> runlog_status + Send + Sync,
) -> PyResult<()> {
    let start = Instant::now();
    loop {
        let left = total.map(|t| t.saturating_sub(start.elapsed()));
        let slice = left.map_or(WAIT_SLICE, |l| l.min(WAIT_SLICE));
        let ms = u32::try_from(slice.as_millis()).unwrap_or(u32::MAX);
        let status = py.detach(|| wait(ms));
        let out_of_time = left.is_some_and(|l| l <= slice);
        if status != RUNLOG_STATUS_TIMEOUT || out_of_time {
            if status == RUNLOG_STATUS_TIMEOUT {
                let waited = start.elapsed().as_secs_f64();
                return Err(error(
                    py,
                    status,
                    format!("{} (waited {waited:.3} s in all)", last_error()),
                ));
            }
            return check(py, status);
        }
        py.check_signals()?;
    }
}

#[pymethods]
impl Pending {
    /// The record's ticket (its sequence number in the run's stream).
    #[getter]
    fn ticket(&self) -> runlog_ticket {
        self.ticket
    }

    /// Blocks until the record is committed at the destination, up to
    /// `timeout` seconds (None: 10 s; `math.inf`: no bound). Releases the
    /// GIL meanwhile. Raises `runlog.Error` (TIMEOUT, CLOSED, ...).
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let total = self::timeout(py, timeout)?;
        let handle = self.logger.get().handle;
        let ticket = self.ticket;
        // SAFETY: a valid handle (see `Handle`).
        wait_sliced(py, total, |ms| unsafe {
            c::runlog_wait(handle.ptr(), ticket, ms)
        })
    }

    fn __repr__(&self) -> String {
        format!("<runlog.Pending ticket={}>", self.ticket)
    }
}

#[pymethods]
impl Logger {
    /// Logs `value` under `name`: an int, a float (NaN and infinities
    /// included), a str, or a list, tuple or 1-D NumPy array of numbers
    /// (one chart). Returns a `Pending`. Raises `runlog.Error` with the C
    /// API's status (INVALID_ARGUMENT for a value of another type).
    #[pyo3(signature = (name, value, step=None))]
    fn log(
        slf: &Bound<'_, Self>,
        name: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        step: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Pending> {
        let name = borrow_c_str(expect_str(name, "name")?, "name")?;
        if step.is_none() {
            // The hot case, `log("loss", 0.5)`: one type check, no classification.
            if let Ok(v) = value.cast_exact::<PyFloat>() {
                let (h, n, v) = (slf.get().handle.ptr(), name.as_ptr(), v.value());
                // SAFETY: a valid handle, a NUL-terminated name borrowed for
                // the call, a valid out-pointer.
                return pending(slf, |t| unsafe { c::runlog_log_f64(h, n, v, t) });
            }
        }
        let held = hold(value)?;
        let value = held.value()?;
        if let Some(step) = step.filter(|s| !s.is_none()) {
            let step = step_index(step)?;
            return crate::training::log_at(slf, name, &value, step);
        }
        let h = slf.get().handle.ptr();
        let n = name.as_ptr();
        // SAFETY: a valid handle; `n` and the value's pointers are
        // NUL-terminated strings or slices borrowed from objects alive for
        // this call; `t` is a valid out-pointer.
        pending(slf, |t| unsafe {
            match &value {
                Value::F64(v) => c::runlog_log_f64(h, n, *v, t),
                Value::I64(v) => c::runlog_log_i64(h, n, *v, t),
                Value::Str(s) => c::runlog_log_str(h, n, s.as_ptr(), t),
                Value::List(Numbers::F64(v)) => {
                    c::runlog_log_f64_list(h, n, v.as_ptr(), v.len(), t)
                }
                Value::List(Numbers::I64(v)) => {
                    c::runlog_log_i64_list(h, n, v.as_ptr(), v.len(), t)
                }
            }
        })
    }

    /// Records a parameter: one value per key for the run (MLflow's `log_param`).
    fn log_param(
        slf: &Bound<'_, Self>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<Pending> {
        let key = borrow_c_str(expect_str(key, "key")?, "key")?;
        let value = param_text(value)?;
        crate::training::log_param(slf, key, &value)
    }

    /// Sets a tag on the run; the last value wins (MLflow's `set_tag`).
    fn set_tag(
        slf: &Bound<'_, Self>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<Pending> {
        let key = borrow_c_str(expect_str(key, "key")?, "key")?;
        let value = param_text(value)?;
        crate::training::set_tag(slf, key, &value)
    }

    /// Uploads `content` (str: its UTF-8; bytes, bytearray or memoryview) as
    /// the run's artifact `path` (a safe relative path, else UNSAFE_PATH).
    /// Releases the GIL while the content is copied or staged.
    fn upload(
        slf: &Bound<'_, Self>,
        path: &Bound<'_, PyAny>,
        content: &Bound<'_, PyAny>,
    ) -> PyResult<Pending> {
        let py = slf.py();
        let path = borrow_c_str(expect_str(path, "artifact path")?, "artifact path")?;
        let copied: Vec<u8>;
        let data: &[u8] = if let Ok(s) = content.cast::<PyString>() {
            borrow_utf8(s, "content")?
        } else if let Ok(b) = content.cast::<PyBytes>() {
            b.as_bytes()
        } else if let Ok(b) = content.cast::<PyByteArray>() {
            // Copied: another thread may resize a bytearray while the GIL is released.
            copied = b.to_vec();
            &copied
        } else if content.is_instance_of::<PyMemoryView>() {
            copied = content
                .call_method0("tobytes")?
                .cast::<PyBytes>()?
                .as_bytes()
                .to_vec();
            &copied
        } else {
            return Err(error(
                py,
                RUNLOG_STATUS_INVALID_ARGUMENT,
                format!(
                    "content must be a str, bytes, bytearray or memoryview, not {}",
                    type_name(content)
                ),
            ));
        };
        let h = slf.get().handle;
        let mut ticket: runlog_ticket = 0;
        // SAFETY: a valid handle; `path` NUL-terminated and `data` readable,
        // both borrowed from objects kept alive by this frame (immutable
        // `str`/`bytes`, or our own copy).
        let status = py.detach(|| unsafe {
            c::runlog_upload(
                h.ptr(),
                path.as_ptr(),
                data.as_ptr().cast(),
                data.len(),
                &mut ticket,
            )
        });
        check(py, status)?;
        Ok(Pending::new(slf, ticket))
    }

    /// Uploads a file as the run's artifact `path`: `file` is a path (str,
    /// bytes or os.PathLike), read before the call returns, or an open
    /// file object, whose `read()` content is uploaded.
    fn upload_file(
        slf: &Bound<'_, Self>,
        path: &Bound<'_, PyAny>,
        file: &Bound<'_, PyAny>,
    ) -> PyResult<Pending> {
        let py = slf.py();
        if file.hasattr("read")? && !file.hasattr("__fspath__")? {
            let content = file.call_method0("read")?;
            return Logger::upload(slf, path, &content);
        }
        let artifact = borrow_c_str(expect_str(path, "artifact path")?, "artifact path")?;
        let file = fs_path(file, "file")?;
        let h = slf.get().handle;
        let mut ticket: runlog_ticket = 0;
        // SAFETY: a valid handle; both strings NUL-terminated and alive for the call.
        let status = py.detach(|| unsafe {
            runlog::host::artifact::runlog_upload_file(
                h.ptr(),
                artifact.as_ptr(),
                file.as_ptr(),
                &mut ticket,
            )
        });
        check(py, status)?;
        Ok(Pending::new(slf, ticket))
    }

    /// Waits until everything logged so far is committed (see `Pending.wait`).
    #[pyo3(signature = (timeout=None))]
    fn flush(&self, py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let total = self::timeout(py, timeout)?;
        let h = self.handle;
        // SAFETY: a valid handle.
        wait_sliced(py, total, |ms| unsafe { c::runlog_flush(h.ptr(), ms) })
    }

    /// Ends the run (FINISHED) and waits up to `timeout` seconds for the
    /// upload; later calls raise CLOSED. Releases the GIL while waiting.
    #[pyo3(signature = (timeout=None))]
    fn close(&self, py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let ms = match self::timeout(py, timeout)? {
            Some(d) => u32::try_from(d.as_millis()).unwrap_or(u32::MAX),
            None => u32::MAX,
        };
        let h = self.handle;
        // SAFETY: a valid handle.
        let status = py.detach(|| unsafe { c::runlog_close(h.ptr(), ms) });
        check(py, status)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        let h = self.handle;
        // SAFETY: a valid handle.
        let status =
            py.detach(|| unsafe { c::runlog_close(h.ptr(), DEFAULT_TIMEOUT.as_millis() as u32) });
        // Leaving the block is not an error when no uploader is draining
        // (TIMEOUT): everything stays in the spool for a later `runlog drain`.
        match status {
            RUNLOG_STATUS_OK | RUNLOG_STATUS_TIMEOUT | runlog::status::RUNLOG_STATUS_CLOSED => {
                Ok(())
            }
            s => check(py, s),
        }
    }
}

impl Pending {
    /// A `Pending` for a ticket that `slf` issued.
    pub(crate) fn new(slf: &Bound<'_, Logger>, ticket: runlog_ticket) -> Self {
        Pending {
            logger: slf.clone().unbind(),
            ticket,
        }
    }
}

/// A step: an int (or `__index__`) in the 64-bit range.
fn step_index(step: &Bound<'_, PyAny>) -> PyResult<i64> {
    match number(step) {
        Ok(Number::I64(s)) => Ok(s),
        _ => Err(error(
            step.py(),
            RUNLOG_STATUS_INVALID_ARGUMENT,
            format!("step must be an int, not {}", type_name(step)),
        )),
    }
}

/// A param or tag value: a str as is; an int, float or bool as `str()` spells it.
fn param_text(value: &Bound<'_, PyAny>) -> PyResult<std::ffi::CString> {
    let py = value.py();
    let s = if let Ok(s) = value.cast::<PyString>() {
        s.clone()
    } else if number(value).is_ok() && !value.hasattr("__len__")? {
        value.str()?
    } else {
        return Err(error(
            py,
            RUNLOG_STATUS_INVALID_ARGUMENT,
            format!(
                "a param or tag value must be a str or a number, not {}",
                type_name(value)
            ),
        ));
    };
    Ok(borrow_c_str(&s, "value")?.to_owned())
}
