//! The last error message, per thread on hosts, and `runlog_last_error`.
//!
//! Host builds keep a formatted message in a thread-local, so threads never
//! see each other's errors. Device builds have no threads and no allocator:
//! with the `messages` feature they keep one pointer to a static C string
//! (one word of RAM); without it (the default for devices) they keep only
//! the failing status (one byte), and `runlog_last_error` gives that status's
//! description: the ~60 detailed messages would cost a firmware about 2 KB
//! of flash (docs/firmware.md).

use core::ffi::c_char;

use crate::status::runlog_status;

#[cfg(feature = "std")]
mod imp {
    use std::cell::RefCell;
    use std::string::String;

    std::thread_local! {
        static LAST: RefCell<String> = const { RefCell::new(String::new()) };
    }

    // `try_with` everywhere: at process exit (the `atexit` hook) the main
    // thread's thread-locals may already be destroyed; the message is then
    // dropped instead of panicking.
    pub(super) fn set_str(msg: &str) {
        let _ = LAST.try_with(|l| {
            if let Ok(mut l) = l.try_borrow_mut() {
                l.clear();
                l.push_str(msg);
            }
        });
    }

    pub(super) fn set_fmt(args: core::fmt::Arguments<'_>) {
        use core::fmt::Write;
        let _ = LAST.try_with(|l| {
            if let Ok(mut l) = l.try_borrow_mut() {
                l.clear();
                let _ = l.write_fmt(args);
            }
        });
    }

    pub(super) fn with<R>(f: impl FnOnce(&str) -> R) -> R {
        let mut f = Some(f);
        let r = LAST.try_with(|l| {
            let f = f.take().expect("called once");
            match l.try_borrow() {
                Ok(l) => f(&l),
                Err(_) => f(""),
            }
        });
        match (r, f) {
            (Ok(r), _) => r,
            (Err(_), Some(f)) => f(""),
            (Err(_), None) => unreachable!("try_with fails before calling the closure"),
        }
    }
}

/// Device builds: the last message is one pointer to a static C string.
///
/// Why one pointer: a device has no threads but has interrupts, and an
/// interrupt handler may fail a call while the main loop is inside another.
/// Publishing a message as a pointer and a length (two stores) could pair one
/// message's pointer with another's length; one atomic store of a pointer to
/// a NUL-terminated `&'static CStr` cannot tear, and the read is bounded by
/// that message's own NUL. Compiled on hosts too for its test.
#[cfg(any(all(not(feature = "std"), feature = "messages"), test))]
mod static_msg {
    use core::ffi::{c_char, CStr};
    use core::sync::atomic::{AtomicPtr, Ordering};

    static LAST: AtomicPtr<c_char> = AtomicPtr::new(core::ptr::null_mut());

    pub(super) fn set(msg: &'static CStr) {
        LAST.store(msg.as_ptr().cast_mut(), Ordering::Release);
    }

    pub(super) fn with<R>(f: impl FnOnce(&str) -> R) -> R {
        let ptr = LAST.load(Ordering::Acquire);
        if ptr.is_null() {
            return f("");
        }
        // SAFETY: `set` is the only store to LAST and it stores the pointer of
        // a `&'static CStr`: NUL-terminated, immutable, alive forever. One
        // load gives one whole message, so the read stops at its own NUL.
        let msg = unsafe { CStr::from_ptr(ptr) };
        f(runlog_core::wire::utf8(msg.to_bytes()).unwrap_or(""))
    }

    #[cfg(test)]
    mod tests {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;

        const SHORT: &core::ffi::CStr = c"short";
        const LONG: &core::ffi::CStr = c"a much longer message, written by an interrupt handler";

        /// A writer alternating two messages (as an interrupt would) against
        /// a reader: every read is one whole message, never a mix of two
        /// (the pointer-and-length store of 60ea9eb tore here).
        #[test]
        fn a_racing_writer_never_tears_a_message() {
            let stop = Arc::new(AtomicBool::new(false));
            let writer = {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut i = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        super::set(if i.is_multiple_of(2) { SHORT } else { LONG });
                        i = i.wrapping_add(1);
                    }
                })
            };
            let reads = if cfg!(miri) { 200 } else { 200_000 };
            let mut torn = 0;
            for _ in 0..reads {
                super::with(|m| {
                    if !(m.is_empty() || m == "short" || m == LONG.to_str().unwrap()) {
                        torn += 1;
                    }
                });
            }
            stop.store(true, Ordering::Relaxed);
            writer.join().unwrap();
            assert_eq!(torn, 0, "{torn} of {reads} reads mixed two messages");
        }
    }
}

#[cfg(all(not(feature = "std"), feature = "messages"))]
use static_msg as imp;

/// Device builds without the `messages` feature: the last error is the
/// failing status, one byte (an atomic store cannot tear, as for
/// `static_msg`), and its text is `runlog_status_str`'s. No message string
/// is referenced, so the linker drops them all. The byte publishes nothing
/// else (its description is a static), so its store and load are relaxed:
/// no barrier (`dmb`) in the one function every failure calls. Compiled on
/// hosts too for its test.
#[cfg(any(all(not(feature = "std"), not(feature = "messages")), test))]
mod last_status {
    use core::sync::atomic::{AtomicU8, Ordering};

    use crate::status::runlog_status;

    /// 0 (`RUNLOG_STATUS_OK`): no call failed yet.
    static LAST: AtomicU8 = AtomicU8::new(0);

    /// Outlined and cold: one copy of the store for the ~40 places that
    /// fail, instead of one at each (-48 B of flash in the C firmware, for
    /// ~24 more instructions per `runlog_log_f64`: the log path's code is
    /// laid out differently around the calls).
    #[inline(never)]
    #[cold]
    pub(super) fn set(status: runlog_status) {
        LAST.store(status as u8, Ordering::Relaxed);
    }

    pub(super) fn with<R>(f: impl FnOnce(&str) -> R) -> R {
        // One call of `f`: a firmware then inlines `runlog_last_error`'s copy
        // once instead of outlining it for two call sites.
        let msg = match LAST.load(Ordering::Relaxed) {
            0 => c"",
            code => crate::status::describe(code.into()),
        };
        // SAFETY: `describe` gives one of the descriptions, which are `&str`s.
        f(unsafe { core::str::from_utf8_unchecked(msg.to_bytes()) })
    }

    #[cfg(test)]
    mod tests {
        use crate::status::*;

        #[test]
        fn the_last_failing_status_is_described() {
            // The device build's tests share this one global.
            #[cfg(not(feature = "std"))]
            let _one = crate::device_tests::SERIAL
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            super::set(RUNLOG_STATUS_NAME_TOO_LONG);
            super::with(|m| assert_eq!(m, RUNLOG_STATUS_NAME_TOO_LONG.as_str()));
            super::set(RUNLOG_STATUS_BUSY);
            super::with(|m| assert_eq!(m, RUNLOG_STATUS_BUSY.as_str()));
        }
    }
}

#[cfg(all(not(feature = "std"), not(feature = "messages")))]
use last_status as imp;

/// Records `msg` as this thread's last error and returns `status`.
///
/// `msg` is a static C string (`c"..."`) so that a device build can publish
/// it with one pointer store (see `static_msg`). Always inlined, so that a
/// device build without `messages` never references `msg` and links none of
/// the strings.
#[inline(always)]
pub(crate) fn fail(status: runlog_status, msg: &'static core::ffi::CStr) -> runlog_status {
    #[cfg(feature = "std")]
    imp::set_str(msg.to_str().unwrap_or("(message is not UTF-8)"));
    #[cfg(all(not(feature = "std"), feature = "messages"))]
    imp::set(msg);
    #[cfg(all(not(feature = "std"), not(feature = "messages")))]
    {
        let _ = msg;
        imp::set(status);
    }
    status
}

/// Records a formatted message as this thread's last error and returns `status`.
#[cfg(feature = "std")]
pub(crate) fn fail_fmt(status: runlog_status, args: core::fmt::Arguments<'_>) -> runlog_status {
    imp::set_fmt(args);
    status
}

/// Copies the calling thread's last error message into `buf`.
///
/// The message describes the most recent call on this thread that returned
/// something other than `RUNLOG_STATUS_OK` (successful calls leave it as it
/// is); it is empty if no call failed yet. At most `len - 1` bytes are copied
/// and `buf` is always NUL-terminated when `len > 0`. Returns the full
/// message length in bytes (without the NUL), like `snprintf`, so a caller can
/// detect truncation; `buf` may be NULL when `len` is 0 to ask for the length.
///
/// Device builds (no `std`) keep one message for the whole program; without
/// the `messages` feature (the default there, to save ~2 KB of flash) the
/// message is the failing status's description, as `runlog_status_str`.
///
/// Ownership: `buf` belongs to the caller. Thread-safe: each thread has its
/// own message (device builds: one message for the whole program).
///
/// # Safety
/// `buf` must be NULL or valid for writes of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn runlog_last_error(buf: *mut c_char, len: usize) -> usize {
    imp::with(|msg| {
        if !buf.is_null() && len > 0 {
            let n = msg.len().min(len - 1);
            // SAFETY: the caller guarantees `buf` is valid for `len` bytes and
            // `n + 1 <= len`.
            // Byte by byte: a device then links no `memcpy` for these few bytes.
            let dst = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), n + 1) };
            for (d, &b) in dst.iter_mut().zip(msg.as_bytes()) {
                *d = b;
            }
            dst[n] = 0;
        }
        msg.len()
    })
}
