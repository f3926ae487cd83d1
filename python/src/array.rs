//! NumPy arrays as lists of numbers, read in place when their layout is
//! already what the C list calls take (1-D, C-contiguous, aligned, native
//! float64 or int64); other arrays are converted by NumPy first.
//!
//! Why `__array_interface__` and not the buffer protocol or the `numpy`
//! crate: both need the non-limited C API (the buffer protocol joined the
//! stable ABI only in 3.11), and the wheel is abi3 for 3.9+. The interface is
//! read only from an exact `numpy.ndarray` (subclasses are first viewed as a
//! base-class array), whose `__array_interface__` is NumPy's own C getter, so
//! the pointer it reports cannot be forged by a Python class.

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use runlog::status::RUNLOG_STATUS_INVALID_ARGUMENT;

use crate::error::error;

/// Numbers read from an array or a list.
pub(crate) enum Numbers<'a> {
    /// A float list (`runlog_log_f64_list`).
    F64(Cow<'a, [f64]>),
    /// An integer list (`runlog_log_i64_list`).
    I64(Cow<'a, [i64]>),
}

/// What a NumPy array turned out to be.
pub(crate) enum ArrayValue<'py> {
    /// A 0-d array: its Python scalar (`arr.item()`), to log as a scalar.
    Scalar(Bound<'py, PyAny>),
    /// A 1-D array, read in place; `_owner` keeps the memory alive.
    List {
        /// The exact ndarray whose memory `ptr` points into.
        _owner: Bound<'py, PyAny>,
        /// Start of the elements (aligned, `len` elements long).
        ptr: usize,
        /// Number of elements.
        len: usize,
        /// True: float64 elements; false: int64.
        float: bool,
    },
}

impl ArrayValue<'_> {
    /// The list's elements, borrowed from the array.
    pub(crate) fn numbers(&self) -> Option<Numbers<'_>> {
        let ArrayValue::List {
            ptr, len, float, ..
        } = self
        else {
            return None;
        };
        if *len == 0 {
            return Some(if *float {
                Numbers::F64(Cow::Borrowed(&[]))
            } else {
                Numbers::I64(Cow::Borrowed(&[]))
            });
        }
        // SAFETY: `from_ndarray` checked that `ptr` is the data of a live,
        // exact, 1-D, C-contiguous ndarray of `len` native 8-byte elements of
        // this type, aligned to 8 bytes; `_owner` keeps it alive for the
        // borrow. As with the C API, the caller must not change the array
        // from another thread during the call.
        Some(unsafe {
            if *float {
                Numbers::F64(Cow::Borrowed(std::slice::from_raw_parts(
                    *ptr as *const f64,
                    *len,
                )))
            } else {
                Numbers::I64(Cow::Borrowed(std::slice::from_raw_parts(
                    *ptr as *const i64,
                    *len,
                )))
            }
        })
    }
}

struct NumPy {
    ndarray: Py<PyType>,
    module: Py<PyModule>,
}

static NUMPY: PyOnceLock<NumPy> = PyOnceLock::new();

/// NumPy, if the program imported it (an object cannot be an array otherwise).
fn numpy(py: Python<'_>) -> PyResult<Option<&'static NumPy>> {
    if let Some(np) = NUMPY.get(py) {
        return Ok(Some(np));
    }
    let modules = py.import("sys")?.getattr("modules")?;
    let Some(module) = modules.cast::<PyDict>()?.get_item("numpy")? else {
        return Ok(None);
    };
    let ndarray = module.getattr("ndarray")?.cast_into::<PyType>()?.unbind();
    let module = module.cast_into::<PyModule>()?.unbind();
    Ok(Some(NUMPY.get_or_init(py, || NumPy { ndarray, module })))
}

/// `Some` if `obj` is a NumPy array (or a subclass), else `None`.
pub(crate) fn from_ndarray<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Option<ArrayValue<'py>>> {
    let py = obj.py();
    let Some(np) = numpy(py)? else {
        return Ok(None);
    };
    let ndarray = np.ndarray.bind(py);
    if !obj.is_instance(ndarray)? {
        return Ok(None);
    }
    let module = np.module.bind(py);
    // A base-class view: its interface comes from NumPy's C code, not from a subclass.
    let mut arr = if obj.get_type().is(ndarray) {
        obj.clone()
    } else {
        module.getattr("asarray")?.call1((obj,))?
    };
    let ndim: usize = arr.getattr("ndim")?.extract()?;
    if ndim == 0 {
        return Ok(Some(ArrayValue::Scalar(arr.call_method0("item")?)));
    }
    if ndim != 1 {
        let shape = arr.getattr("shape")?.str()?.to_string();
        return Err(error(
            py,
            RUNLOG_STATUS_INVALID_ARGUMENT,
            format!("a NumPy array to log must be one-dimensional, not of shape {shape} (log arr.ravel())"),
        ));
    }
    let dtype = arr.getattr("dtype")?;
    let kind: String = dtype.getattr("kind")?.extract()?;
    let float = match kind.as_str() {
        "f" => true,
        "i" | "b" => false,
        "u" => !fits_i64(&arr)?,
        "O" => {
            // Python objects: convert as a list would be.
            return Err(error(
                py,
                RUNLOG_STATUS_INVALID_ARGUMENT,
                "a NumPy array of Python objects cannot be logged: log arr.tolist() or a numeric array",
            ));
        }
        _ => {
            let name = dtype.str()?.to_string();
            return Err(error(
                py,
                RUNLOG_STATUS_INVALID_ARGUMENT,
                format!("a NumPy array of dtype {name} cannot be logged (numbers only)"),
            ));
        }
    };
    let (ptr, len) = match in_place(&arr, float)? {
        Some(p) => p,
        None => {
            // One conversion by NumPy into a fresh native, contiguous, aligned array.
            let target = if float { "float64" } else { "int64" };
            arr = module
                .getattr("ascontiguousarray")?
                .call1((arr, module.getattr(target)?))?;
            in_place(&arr, float)?.ok_or_else(|| {
                error(
                    py,
                    RUNLOG_STATUS_INVALID_ARGUMENT,
                    "numpy.ascontiguousarray did not give a native contiguous array",
                )
            })?
        }
    };
    Ok(Some(ArrayValue::List {
        _owner: arr,
        ptr,
        len,
        float,
    }))
}

/// An unsigned array whose values all fit in int64 (else it is logged as floats).
fn fits_i64(arr: &Bound<'_, PyAny>) -> PyResult<bool> {
    if arr.len()? == 0 {
        return Ok(true);
    }
    let max = arr.call_method0("max")?;
    Ok(max.extract::<i64>().is_ok())
}

/// `(data pointer, length)` when the exact ndarray `arr` can be read in place.
fn in_place(arr: &Bound<'_, PyAny>, float: bool) -> PyResult<Option<(usize, usize)>> {
    let want = if float { "<f8" } else { "<i8" };
    if cfg!(target_endian = "big") {
        return Ok(None);
    }
    let iface = arr.getattr("__array_interface__")?;
    let iface = iface.cast::<PyDict>()?;
    let get = |k: &str| -> PyResult<Bound<'_, PyAny>> {
        iface.get_item(k)?.ok_or_else(|| {
            error(
                arr.py(),
                RUNLOG_STATUS_INVALID_ARGUMENT,
                format!("__array_interface__ has no {k}"),
            )
        })
    };
    let typestr: String = get("typestr")?.extract()?;
    let contiguous = get("strides")?.is_none();
    let shape = get("shape")?;
    let shape = shape.cast::<PyTuple>()?;
    let data = get("data")?;
    let data = data.cast::<PyTuple>()?;
    let ptr: usize = data.get_item(0)?.extract()?;
    let len: usize = shape.get_item(0)?.extract()?;
    let aligned = ptr % 8 == 0;
    Ok(
        (typestr == want && contiguous && shape.len() == 1 && (aligned || len == 0))
            .then_some((ptr, len)),
    )
}
