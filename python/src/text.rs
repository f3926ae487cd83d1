//! Python text to the C API's NUL-terminated UTF-8, without copying on the
//! hot path: CPython keeps a str's UTF-8 form (NUL-terminated) inside the str.

use std::ffi::{c_char, CStr, CString};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use runlog::status::{RUNLOG_STATUS_INVALID_ARGUMENT, RUNLOG_STATUS_INVALID_UTF8};

use crate::error::{error, error_from};

extern "C" {
    // Part of the stable ABI from CPython 3.10, and exported with this same
    // signature by every CPython 3.x, 3.9 included; PyO3 declares it only
    // for 3.10+ under abi3, so the abi3-py39 build declares it here.
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut ffi::PyObject,
        size: *mut ffi::Py_ssize_t,
    ) -> *const c_char;
}

/// The UTF-8 text of `s`, borrowed from the str object, with the NUL that
/// CPython keeps after it (`len + 1` bytes). A str with a lone surrogate (no
/// UTF-8 form) is INVALID_UTF8; `what` names the argument in the message.
fn utf8_with_nul<'a>(s: &'a Bound<'_, PyString>, what: &str) -> PyResult<&'a [u8]> {
    let py = s.py();
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live str (the type is checked by `Bound<PyString>`)
    // and we hold the GIL; `size` is a valid out-pointer.
    let ptr = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
    if ptr.is_null() {
        let cause = PyErr::fetch(py);
        return Err(error_from(
            py,
            RUNLOG_STATUS_INVALID_UTF8,
            format!("{what} has no UTF-8 form (a lone surrogate)"),
            cause,
        ));
    }
    let len = usize::try_from(size).unwrap_or(0);
    // SAFETY: CPython guarantees `size` bytes of UTF-8 plus a terminating NUL
    // at `ptr`, owned by the str object, which outlives the borrow `'a`
    // (strs are immutable, so the buffer never changes).
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len + 1) })
}

/// The UTF-8 bytes of `s` (NUL characters included), borrowed from the str.
pub(crate) fn borrow_utf8<'a>(s: &'a Bound<'_, PyString>, what: &str) -> PyResult<&'a [u8]> {
    let bytes = utf8_with_nul(s, what)?;
    Ok(&bytes[..bytes.len() - 1])
}

/// The UTF-8 text of `s` as a C string, borrowed from the str object.
///
/// A str with a NUL character, which C would silently cut there, is
/// INVALID_ARGUMENT; one with a lone surrogate is INVALID_UTF8.
pub(crate) fn borrow_c_str<'a>(s: &'a Bound<'_, PyString>, what: &str) -> PyResult<&'a CStr> {
    CStr::from_bytes_with_nul(utf8_with_nul(s, what)?).map_err(|_| {
        error(
            s.py(),
            RUNLOG_STATUS_INVALID_ARGUMENT,
            format!("{what} contains a NUL character"),
        )
    })
}

/// `obj` as a str, else INVALID_ARGUMENT naming its type.
pub(crate) fn expect_str<'a, 'py>(
    obj: &'a Bound<'py, PyAny>,
    what: &str,
) -> PyResult<&'a Bound<'py, PyString>> {
    obj.cast::<PyString>().map_err(|_| {
        error(
            obj.py(),
            RUNLOG_STATUS_INVALID_ARGUMENT,
            format!("{what} must be a str, not {}", type_name(obj)),
        )
    })
}

/// A str argument as an owned C string (for calls off the hot path).
pub(crate) fn owned_c_string(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<CString> {
    Ok(borrow_c_str(expect_str(obj, what)?, what)?.to_owned())
}

/// A file system path (str, bytes or `os.PathLike`) as the OS's bytes, the
/// way `os.fsencode` spells it, as a C string.
pub(crate) fn fs_path(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<CString> {
    let py = obj.py();
    let encoded = py
        .import("os")?
        .getattr("fsencode")?
        .call1((obj,))
        .map_err(|e| {
            error_from(
                py,
                RUNLOG_STATUS_INVALID_ARGUMENT,
                format!(
                    "{what} must be a str, bytes or os.PathLike, not {}",
                    type_name(obj)
                ),
                e,
            )
        })?;
    let bytes = encoded.cast::<PyBytes>().map_err(|_| {
        error(
            py,
            RUNLOG_STATUS_INVALID_ARGUMENT,
            format!("{what}: os.fsencode did not return bytes"),
        )
    })?;
    CString::new(bytes.as_bytes()).map_err(|_| {
        error(
            py,
            RUNLOG_STATUS_INVALID_ARGUMENT,
            format!("{what} contains a NUL byte"),
        )
    })
}

/// The name of `obj`'s type, for messages.
pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}
