//! SIGINT and SIGTERM: noted by a handler, acted on by the main loop.
//!
//! The handler only stores atomics (async-signal-safe). It also notes
//! whether the signal was sent by a process (`kill`, si_code <= 0) or by the
//! kernel (a terminal's Ctrl-C, which the whole foreground process group,
//! child included, already received), so that `runlog run` forwards only
//! what the child would otherwise miss.

use std::sync::atomic::{AtomicI32, Ordering};

static RECEIVED: AtomicI32 = AtomicI32::new(0);
static TO_FORWARD: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    RECEIVED.store(sig, Ordering::SeqCst);
    let code = if info.is_null() {
        0
    } else {
        // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO
        // handler, and it is not null here.
        unsafe { (*info).si_code }
    };
    if code <= 0 {
        TO_FORWARD.store(sig, Ordering::SeqCst);
    }
}

/// Installs the handler for SIGINT and SIGTERM.
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: sigaction is zero-initialisable plain data; the handler is an
        // `extern "C"` fn with the SA_SIGINFO signature that only touches atomics.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The last SIGINT/SIGTERM received, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// The last SIGINT/SIGTERM received, if any, forgetting it (so that only a
/// later one is seen).
pub fn take_received() -> Option<i32> {
    match RECEIVED.swap(0, Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// A signal sent to this process by another process, not yet forwarded.
pub fn take_forward() -> Option<i32> {
    match TO_FORWARD.swap(0, Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}
