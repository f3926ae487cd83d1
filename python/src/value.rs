//! Which C call a Python value goes to: the one owner of the mapping
//! int -> i64, float -> f64, str -> str, list/tuple/array of numbers -> a list.

use std::borrow::Cow;
use std::ffi::CStr;

use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyList, PySequence, PyString, PyTuple};
use runlog::status::RUNLOG_STATUS_INVALID_ARGUMENT;

use crate::array::{from_ndarray, ArrayValue, Numbers};
use crate::error::{error, error_from};
use crate::text::{borrow_c_str, type_name};

/// A value ready for one of the C log calls.
pub(crate) enum Value<'a> {
    /// `runlog_log_i64`.
    I64(i64),
    /// `runlog_log_f64` (NaN and infinities included: they are values).
    F64(f64),
    /// `runlog_log_str`.
    Str(&'a CStr),
    /// `runlog_log_f64_list` / `runlog_log_i64_list`.
    List(Numbers<'a>),
}

/// A value whose borrowed parts live in Python objects held here.
pub(crate) enum Held<'py> {
    /// A scalar or a str (borrowed from the argument itself).
    Direct(Bound<'py, PyAny>),
    /// A list converted to numbers.
    Owned(Numbers<'static>),
    /// A NumPy array read in place.
    Array(ArrayValue<'py>),
}

const EXPECTED: &str = "an int, a float, a str, or a list, tuple or NumPy array of numbers";

/// Classifies `obj`; [`Held::value`] then borrows the C-ready value from it.
pub(crate) fn hold<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Held<'py>> {
    // The hot cases first: exact float and int cost one type check each.
    if obj.is_exact_instance_of::<PyFloat>()
        || obj.is_exact_instance_of::<PyInt>()
        || obj.is_instance_of::<PyString>()
    {
        return Ok(Held::Direct(obj.clone()));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        return Ok(Held::Owned(sequence(obj.cast::<PySequence>()?)?));
    }
    if let Some(arr) = from_ndarray(obj)? {
        return Ok(match arr {
            ArrayValue::Scalar(item) => Held::Direct(item),
            list => Held::Array(list),
        });
    }
    Ok(Held::Direct(obj.clone()))
}

impl Held<'_> {
    /// The value for the C call, borrowing from what `self` holds.
    pub(crate) fn value(&self) -> PyResult<Value<'_>> {
        match self {
            Held::Direct(obj) => {
                if let Ok(s) = obj.cast::<PyString>() {
                    return Ok(Value::Str(borrow_c_str(s, "a str value")?));
                }
                Ok(match number(obj)? {
                    Number::I64(v) => Value::I64(v),
                    Number::F64(v) => Value::F64(v),
                })
            }
            Held::Owned(Numbers::F64(v)) => Ok(Value::List(Numbers::F64(Cow::Borrowed(v)))),
            Held::Owned(Numbers::I64(v)) => Ok(Value::List(Numbers::I64(Cow::Borrowed(v)))),
            Held::Array(arr) => Ok(Value::List(arr.numbers().ok_or_else(|| {
                error(
                    arr_py(arr),
                    RUNLOG_STATUS_INVALID_ARGUMENT,
                    "internal: array without elements",
                )
            })?)),
        }
    }
}

fn arr_py<'py>(arr: &ArrayValue<'py>) -> Python<'py> {
    match arr {
        ArrayValue::Scalar(o) | ArrayValue::List { _owner: o, .. } => o.py(),
    }
}

/// One number.
pub(crate) enum Number {
    /// An integer (bool included: it is an int in Python).
    I64(i64),
    /// A float.
    F64(f64),
}

/// An int or float, or an object that says it is one (`__index__` first,
/// then `__float__`: NumPy scalars, `Decimal`, `Fraction`). Anything else,
/// and an int outside the 64-bit range, is INVALID_ARGUMENT.
pub(crate) fn number(obj: &Bound<'_, PyAny>) -> PyResult<Number> {
    let py = obj.py();
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Number::F64(f.value()));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj.extract::<i64>().map(Number::I64).map_err(|e| {
            error_from(
                py,
                RUNLOG_STATUS_INVALID_ARGUMENT,
                "integer does not fit in 64 bits (log it as a float or a str)",
                e,
            )
        });
    }
    if obj.is_instance_of::<PyString>() || obj.is_none() {
        return Err(not_a_number(obj));
    }
    if obj.hasattr("__index__")? {
        return obj.extract::<i64>().map(Number::I64).map_err(|e| {
            error_from(
                py,
                RUNLOG_STATUS_INVALID_ARGUMENT,
                format!(
                    "{}.__index__ failed or does not fit in 64 bits",
                    type_name(obj)
                ),
                e,
            )
        });
    }
    if obj.hasattr("__float__")? {
        return obj.extract::<f64>().map(Number::F64).map_err(|e| {
            error_from(
                py,
                RUNLOG_STATUS_INVALID_ARGUMENT,
                format!("{}.__float__ failed", type_name(obj)),
                e,
            )
        });
    }
    Err(not_a_number(obj))
}

fn not_a_number(obj: &Bound<'_, PyAny>) -> PyErr {
    error(
        obj.py(),
        RUNLOG_STATUS_INVALID_ARGUMENT,
        format!(
            "cannot log a value of type {}: expected {EXPECTED}",
            type_name(obj)
        ),
    )
}

/// A list or tuple of numbers: integers only give an integer list; one float
/// makes it a float list (the integers converted).
fn sequence(seq: &Bound<'_, PySequence>) -> PyResult<Numbers<'static>> {
    let py = seq.py();
    let len = seq.len()?;
    let mut ints: Vec<i64> = Vec::with_capacity(len);
    let mut floats: Option<Vec<f64>> = None;
    // Index by index, bounds-checked by Python: an element's `__index__` or
    // `__float__` may change the list; that is refused, never read past.
    for i in 0..len {
        let item = seq.get_item(i).map_err(|e| changed(py, e))?;
        let n = if item.is_instance_of::<PyString>() {
            Err(not_a_number(&item))
        } else {
            number(&item)
        }
        .map_err(|e| {
            error_from(
                py,
                RUNLOG_STATUS_INVALID_ARGUMENT,
                format!(
                    "list element {i} is of type {}: a list to log holds numbers only",
                    type_name(&item)
                ),
                e,
            )
        })?;
        match (n, &mut floats) {
            (Number::I64(v), None) => ints.push(v),
            (Number::I64(v), Some(f)) => f.push(v as f64),
            (Number::F64(v), Some(f)) => f.push(v),
            (Number::F64(v), None) => {
                let mut f: Vec<f64> = Vec::with_capacity(len);
                f.extend(ints.drain(..).map(|x| x as f64));
                f.push(v);
                floats = Some(f);
            }
        }
    }
    if seq.len()? != len {
        return Err(error(
            py,
            RUNLOG_STATUS_INVALID_ARGUMENT,
            "the list changed size while it was being read",
        ));
    }
    Ok(match floats {
        Some(f) => Numbers::F64(Cow::Owned(f)),
        None => Numbers::I64(Cow::Owned(ints)),
    })
}

fn changed(py: Python<'_>, cause: PyErr) -> PyErr {
    error_from(
        py,
        RUNLOG_STATUS_INVALID_ARGUMENT,
        "the list changed size while it was being read",
        cause,
    )
}
