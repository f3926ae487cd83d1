//! The last error message, per thread on hosts, and `runlog_last_error`.
//!
//! Host builds keep a formatted message in a thread-local, so threads never
//! see each other's errors. Device builds have no threads and no allocator:
//! they keep a pointer to a static message (two words of RAM).

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

#[cfg(not(feature = "std"))]
mod imp {
    use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

    static PTR: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
    static LEN: AtomicUsize = AtomicUsize::new(0);

    pub(super) fn set_static(msg: &'static str) {
        // Length first, pointer last: a reader that sees the new pointer sees its length.
        // A reader racing two writers may pair a pointer with the other's
        // length; `with` bounds it by the shorter message, so it stays in bounds.
        LEN.store(msg.len(), Ordering::Relaxed);
        PTR.store(msg.as_ptr() as *mut u8, Ordering::Release);
    }

    pub(super) fn with<R>(f: impl FnOnce(&str) -> R) -> R {
        let ptr = PTR.load(Ordering::Acquire);
        if ptr.is_null() {
            return f("");
        }
        let len = LEN.load(Ordering::Relaxed);
        // SAFETY: `ptr` always comes from a `&'static str`; the messages set
        // with the two stores above are static, so the bytes live forever.
        // `len` belongs to the same message unless two writers raced, which
        // only happens with interrupts; messages are checked by `from_utf8`.
        let bytes = unsafe { core::slice::from_raw_parts(ptr, len.min(MAX_STATIC_MSG)) };
        f(runlog_core::wire::utf8(bytes).unwrap_or(""))
    }

    /// No static message is longer; bounds the racy read above.
    pub(super) const MAX_STATIC_MSG: usize = 64;
}

/// Records `msg` as this thread's last error and returns `status`.
///
/// On devices `msg` must be at most 64 bytes (checked in debug builds).
pub(crate) fn fail(status: runlog_status, msg: &'static str) -> runlog_status {
    #[cfg(feature = "std")]
    imp::set_str(msg);
    #[cfg(not(feature = "std"))]
    {
        debug_assert!(msg.len() <= imp::MAX_STATIC_MSG);
        imp::set_static(msg);
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
            // `n + 1 <= len`; `msg` is a live &str of at least `n` bytes.
            unsafe {
                core::ptr::copy_nonoverlapping(msg.as_ptr(), buf.cast::<u8>(), n);
                *buf.add(n) = 0;
            }
        }
        msg.len()
    })
}
