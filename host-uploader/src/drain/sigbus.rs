//! Surviving a spool file that its writer truncates while it is mapped.
//!
//! Touching a page of a shared file mapping that lies past the file's end
//! raises SIGBUS, which kills the process by default. A spool file comes from
//! another, untrusted process, so a writer that shrinks its file must cost
//! only that ring, never the uploader. Checking the length before each access
//! cannot work (the writer can truncate between the check and the access), so
//! this does what Wayland compositors do for client buffers (libwayland's
//! `wl_shm` SIGBUS handler): a SIGBUS handler that, when the faulting address
//! lies in a registered mapping, maps anonymous zero pages over that whole
//! mapping (`MAP_FIXED`) and returns; the access is retried and reads zeros,
//! which the ring's validation refuses (bad magic, cursors out of range), and
//! the drainer sees [`Guard::truncated`] and gives the ring up with an error.
//! A SIGBUS anywhere else is not ours: the default action is restored and the
//! fault, retried, kills the process as it would have.
//!
//! The handler only reads atomics, calls `mmap` (a plain system call, the
//! same one libwayland makes from its handler) and stores atomics.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

/// Most mappings guarded at once (ring files attached by one uploader).
const SLOTS: usize = 4096;

/// One guarded mapping: `start == 0` means the slot is free.
struct Slot {
    start: AtomicUsize,
    len: AtomicUsize,
    hit: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)] // only used to initialise SLOTS_TABLE
const FREE: Slot = Slot {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    hit: AtomicBool::new(false),
};

static TABLE: [Slot; SLOTS] = [FREE; SLOTS];
static INSTALL: Once = Once::new();

extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let addr = if info.is_null() {
        0
    } else {
        // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
        unsafe { (*info).si_addr() as usize }
    };
    for slot in &TABLE {
        let start = slot.start.load(Ordering::Acquire);
        let len = slot.len.load(Ordering::Acquire);
        if start != 0 && addr >= start && addr - start < len {
            // SAFETY: [start, start + len) is a live mapping this process made
            // (registered by `Guard::new`, unregistered before it is unmapped);
            // replacing it with private zero pages keeps every address valid.
            let p = unsafe {
                libc::mmap(
                    start as *mut libc::c_void,
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                slot.hit.store(true, Ordering::Release);
                return;
            }
            break;
        }
    }
    // Not a guarded mapping: restore the default action; the retried access faults again and
    // ends the process as an unhandled SIGBUS would have.
    // SAFETY: sigaction is zero-initialisable plain data; SIG_DFL is always valid.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
    }
}

fn install() {
    INSTALL.call_once(|| {
        // SAFETY: sigaction is zero-initialisable plain data; the handler is an
        // `extern "C"` fn with the SA_SIGINFO signature (see the module docs
        // for what it does).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigbus as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
        }
    });
}

/// A registered mapping; unregisters when dropped (drop it before unmapping).
pub struct Guard {
    slot: &'static Slot,
}

impl Guard {
    /// Guards `[start, start + len)`, a mapping of a file that may shrink.
    /// `None` when every slot is taken (the caller retries later).
    pub fn new(start: *const u8, len: usize) -> Option<Self> {
        install();
        let start = start as usize;
        for slot in &TABLE {
            // Claim a free slot by its length, so the handler never sees a
            // start without its length.
            if slot
                .len
                .compare_exchange(0, len, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                slot.hit.store(false, Ordering::Relaxed);
                slot.start.store(start, Ordering::Release);
                return Some(Self { slot });
            }
        }
        None
    }

    /// Whether the file was found truncated (its mapping is zeros now).
    pub fn truncated(&self) -> bool {
        self.slot.hit.load(Ordering::Acquire)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.slot.start.store(0, Ordering::Release);
        self.slot.len.store(0, Ordering::Release);
    }
}
