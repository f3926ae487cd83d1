//! Biased ownership of a logger's lock: the one thread that logs enters the
//! lock with plain loads and stores, no locked instruction.
//!
//! Most training programs log from one thread. The first thread to take a
//! logger's lock becomes its *owner*; from then on it enters by raising its
//! `busy` flag and checking `revoked`, a Dekker-style handshake whose other
//! half is done by any second thread: under the real lock it sets `revoked`,
//! runs `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` (which makes every
//! running thread of this process execute a full memory barrier, so the
//! owner's plain store and load cannot be reordered around it) and waits for
//! `busy` to drop. Either the owner sees `revoked` and takes the lock, or the
//! second thread sees `busy` and waits: never both inside. Revocation is
//! permanent: a logger shared by several threads costs one `membarrier` call
//! once, then behaves as an ordinary spin lock.
//!
//! Where `membarrier` is missing (not Linux, an old kernel, a seccomp filter)
//! no thread ever becomes owner and every call takes the lock.
//! liburcu and folly's `asymmetricHeavyBarrier` rest on the same kernel call.

use core::sync::atomic::{compiler_fence, AtomicBool, AtomicUsize, Ordering};

/// How [`Bias::try_enter`] went.
pub(crate) enum Entry {
    /// Inside, without the lock.
    Biased,
    /// Not the owner, or the bias is gone: take the real lock.
    TakeLock,
    /// The owner is inside already, on this very thread.
    Reentered,
}

/// The bias state of one lock.
pub(crate) struct Bias {
    /// [`thread_id`] of the owner, 0 for none.
    owner: AtomicUsize,
    /// Set by the owner while it is inside without the lock.
    busy: AtomicBool,
    /// Set once a second thread took the lock: the owner must take it too.
    revoked: AtomicBool,
}

impl Bias {
    pub(crate) const fn new() -> Self {
        Self {
            owner: AtomicUsize::new(0),
            busy: AtomicBool::new(false),
            revoked: AtomicBool::new(false),
        }
    }

    /// Enters without the lock when the calling thread is the owner and the
    /// bias still stands; pair [`Entry::Biased`] with [`Bias::exit`].
    #[inline(always)]
    pub(crate) fn try_enter(&self) -> Entry {
        if self.owner.load(Ordering::Relaxed) != thread_id() {
            return Entry::TakeLock;
        }
        // Only the owner raises `busy`: finding it raised, the owner is
        // inside already (a signal handler interrupted its call).
        if self.busy.load(Ordering::Relaxed) {
            return Entry::Reentered;
        }
        self.busy.store(true, Ordering::Relaxed);
        // Keeps the store above the load below in the compiled code; the CPU
        // is kept from reordering them by the revoker's membarrier().
        compiler_fence(Ordering::SeqCst);
        if !self.revoked.load(Ordering::Acquire) {
            return Entry::Biased;
        }
        self.busy.store(false, Ordering::Release);
        Entry::TakeLock
    }

    /// Whether the calling thread is inside through the bias (or as the
    /// owner that took the lock first).
    #[cold]
    pub(crate) fn entered_by_caller(&self) -> bool {
        self.owner.load(Ordering::Relaxed) == thread_id() && self.busy.load(Ordering::Relaxed)
    }

    /// Leaves after a successful [`Bias::try_enter`], publishing the
    /// owner's writes to whoever revokes next.
    #[inline(always)]
    pub(crate) fn exit(&self) {
        self.busy.store(false, Ordering::Release);
    }

    /// Run by a thread that has just taken the real lock: the first one
    /// becomes owner, and is then also marked inside (`busy`) so that it
    /// cannot enter a second time through the bias; it returns `true` and
    /// must call [`Bias::exit`] when it leaves. Any other thread revokes the
    /// bias and waits until the owner is out. Cheap once revoked (one load).
    #[inline]
    pub(crate) fn on_locked(&self) -> bool {
        if self.revoked.load(Ordering::Relaxed) {
            return false;
        }
        self.settle()
    }

    #[cold]
    fn settle(&self) -> bool {
        let me = thread_id();
        match self.owner.load(Ordering::Relaxed) {
            0 => {
                if membarrier::available() {
                    self.busy.store(true, Ordering::Relaxed);
                    self.owner.store(me, Ordering::Relaxed);
                    return true;
                }
                self.revoked.store(true, Ordering::Relaxed);
            }
            _ => {
                self.revoked.store(true, Ordering::Relaxed);
                membarrier::barrier();
                let mut spins = 0u32;
                while self.busy.load(Ordering::Acquire) {
                    crate::lock::backoff(&mut spins);
                }
                self.owner.store(0, Ordering::Relaxed);
            }
        }
        false
    }
}

/// Registers the process for `membarrier` ahead of the first log call (see
/// `membarrier::available`); called when a host logger is opened.
pub(crate) fn prepare() {
    membarrier::available();
}

/// An identifier of the calling thread, unique among live threads and never
/// 0: the thread pointer where it is one instruction away, else the address
/// of a thread-local. A dead owner's id reused by a new thread is harmless:
/// only one live thread can hold it.
#[inline(always)]
pub(crate) fn thread_id() -> usize {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let tp: usize;
        // SAFETY: on x86-64 Linux (glibc and musl, per the psABI's TLS
        // variant II) %fs:0 holds the thread control block's own address;
        // the load has no side effects and touches no Rust memory.
        unsafe {
            core::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp,
                options(nostack, readonly, preserves_flags, pure));
        }
        tp
    }
    #[cfg(all(target_arch = "aarch64", target_os = "linux"))]
    {
        let tp: usize;
        // SAFETY: reading TPIDR_EL0, the thread pointer, has no side effects.
        unsafe {
            core::arch::asm!("mrs {}, tpidr_el0", out(reg) tp,
                options(nomem, nostack, preserves_flags, pure));
        }
        tp
    }
    #[cfg(not(all(
        any(target_arch = "x86_64", target_arch = "aarch64"),
        target_os = "linux"
    )))]
    {
        std::thread_local! { static ID: u8 = const { 0 }; }
        ID.with(|id| id as *const u8 as usize)
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod membarrier {
    use core::sync::atomic::{AtomicU8, Ordering};

    // From <linux/membarrier.h>; the libc crate does not carry them.
    const CMD_GLOBAL: libc::c_long = 1;
    const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    fn membarrier(cmd: libc::c_long) -> bool {
        // SAFETY: membarrier takes two integer arguments and touches no
        // memory of ours.
        unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_long) == 0 }
    }

    /// 0: not tried yet, 1: registered, 2: unavailable. A fork child
    /// inherits the registration with the rest of the address space.
    static STATE: AtomicU8 = AtomicU8::new(0);

    /// Whether expedited barriers work in this process, registering it the
    /// first time (Linux 4.14+, and no seccomp filter refusing either).
    /// Registering costs ~3 us in a single-threaded process but 10-17 ms
    /// (an RCU grace period) once other threads exist, which is why
    /// [`super::prepare`] does it when a logger is opened.
    pub(super) fn available() -> bool {
        match STATE.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => {
                let ok =
                    membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) && membarrier(CMD_PRIVATE_EXPEDITED);
                STATE.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
                ok
            }
        }
    }

    /// A full memory barrier on every running thread of this process.
    pub(super) fn barrier() {
        // Worked at registration, so it works now; the global barrier (slow:
        // it waits for an RCU grace period) is the belt to those braces.
        if membarrier(CMD_PRIVATE_EXPEDITED) || membarrier(CMD_GLOBAL) {
            return;
        }
        // Without the barrier the owner could be inside unseen: corrupting
        // the ring is worse than stopping.
        eprintln!("runlog: membarrier() stopped working; aborting rather than corrupt the log");
        std::process::abort();
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod membarrier {
    /// No asymmetric barrier here: never bias.
    pub(super) fn available() -> bool {
        false
    }

    pub(super) fn barrier() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_ids_differ_between_live_threads() {
        let here = thread_id();
        assert_ne!(here, 0);
        assert_eq!(here, thread_id());
        let there = std::thread::spawn(thread_id).join().unwrap();
        assert_ne!(there, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| tx.send(thread_id()).unwrap());
            assert_ne!(rx.recv().unwrap(), here);
        });
    }

    #[test]
    fn first_locker_owns_and_a_second_revokes() {
        let b = Bias::new();
        assert!(
            matches!(b.try_enter(), Entry::TakeLock),
            "nobody owns it yet"
        );
        let biased = b.on_locked();
        assert_eq!(biased, b.owner.load(Ordering::Relaxed) != 0);
        // Where the kernel offers expedited barriers (Linux >= 4.14, asked
        // independently here), the fast entry must be in effect.
        #[cfg(target_os = "linux")]
        {
            // SAFETY: MEMBARRIER_CMD_QUERY takes no pointers.
            let offered = unsafe { libc::syscall(libc::SYS_membarrier, 0 as libc::c_long, 0) };
            if offered > 0 && offered & (1 << 3) != 0 {
                assert!(biased, "membarrier offered but the bias is not in effect");
            } else {
                eprintln!("membarrier not offered here: every call takes the lock");
            }
        }
        if biased {
            assert!(matches!(b.try_enter(), Entry::Reentered), "inside already");
            b.exit();
            assert!(matches!(b.try_enter(), Entry::Biased), "enters unlocked");
            assert!(matches!(b.try_enter(), Entry::Reentered));
            b.exit();
        }
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(matches!(b.try_enter(), Entry::TakeLock));
                assert!(!b.on_locked());
            });
        });
        assert!(matches!(b.try_enter(), Entry::TakeLock), "revoked for good");
        assert!(b.revoked.load(Ordering::Relaxed));
    }
}
