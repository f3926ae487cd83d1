//! A tiny spin lock around a logger's producer (and, on devices, its consumer).
//!
//! Only threads of this process ever take it: the other process sharing the
//! ring (the uploader) synchronises through the ring's atomics, never a lock.
//! Uncontended, it costs one compare-and-swap and one store. On devices
//! nothing waits: a call that finds the lock taken (an interrupt handler that
//! preempted a log call) gets `RUNLOG_STATUS_BUSY` instead of deadlocking.
//!
//! On hosts a waiter spins briefly and then yields its time slice. A thread
//! that asks for the lock while it already holds it (a signal handler that
//! interrupted a log call) is refused, not deadlocked or let in twice: the
//! lock word holds the holder's thread id.
//!
//! Why no biased entry: a version that let the first thread enter with plain
//! stores (revoked by `membarrier()`) saved 2-4 ns of ~18 ns per call, but
//! neither miri nor ThreadSanitizer can check a handshake that rests on a
//! system call and inline assembly; this lock is plain atomics they check
//! (`scripts/test-races.sh`). Figures in `docs/ffi.md`.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicUsize, Ordering};

/// A value guarded by a spin lock. `repr(C)`: the lock word first, so that
/// a logger's state lock lies at the start of its handle (where Rust puts
/// the state) and every lock, unlock and closed check addresses it with no
/// or a short offset (a firmware: −16 B of flash).
#[repr(C)]
pub(crate) struct SpinLock<T> {
    /// 0 when free, else the holder's [`holder_id`]: a thread asking again
    /// sees its own id and is refused.
    locked: AtomicUsize,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out at most one guard at a time, so `T` is only ever
// accessed from one thread at a time; moving `T` between threads needs `Send`.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: as above; the lock itself is plain atomics.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self {
            locked: AtomicUsize::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, through an exclusive borrow of the lock (no one else can hold it).
    #[inline]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Takes the lock if it is free, without waiting.
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<Guard<'_, T>> {
        self.locked
            .compare_exchange(0, holder_id(), Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        Some(Guard { lock: self })
    }

    /// Takes the lock, waiting for it (hosts only); `None` when the calling
    /// thread already holds it (a signal handler interrupted a call).
    #[cfg(feature = "std")]
    #[inline]
    pub(crate) fn lock(&self) -> Option<Guard<'_, T>> {
        if let Some(g) = self.try_lock() {
            return Some(g);
        }
        self.lock_slow()
    }

    #[cfg(feature = "std")]
    #[cold]
    fn lock_slow(&self) -> Option<Guard<'_, T>> {
        // Only this thread ever stores its own id: seeing it means this
        // thread is inside already.
        if self.locked.load(Ordering::Relaxed) == holder_id() {
            return None;
        }
        let mut spins = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) != 0 {
                backoff(&mut spins);
            }
            if let Some(g) = self.try_lock() {
                return Some(g);
            }
        }
    }
}

/// One round of waiting for another thread: spin briefly, then yield, as the
/// holder may be descheduled (2 cores, 8 threads): let it run.
#[cfg(feature = "std")]
#[inline]
pub(crate) fn backoff(spins: &mut u32) {
    if *spins < 64 {
        core::hint::spin_loop();
        *spins += 1;
    } else {
        std::thread::yield_now();
    }
}

/// What the lock word holds while taken: the thread's id on hosts; devices
/// never wait for the lock, so any non-zero value does.
#[inline(always)]
fn holder_id() -> usize {
    #[cfg(feature = "std")]
    {
        // The address of a thread-local: unique among live threads, never 0.
        // A dead holder's id reused by a new thread is harmless: a live
        // thread holding the lock keeps its id.
        std::thread_local! { static ID: u8 = const { 0 }; }
        ID.with(|id| core::ptr::from_ref(id) as usize)
    }
    #[cfg(not(feature = "std"))]
    1
}

/// Exclusive access to the guarded value until dropped.
pub(crate) struct Guard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: holding the guard means holding the lock: no other reference exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(0, Ordering::Release);
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn a_holder_asking_again_is_refused_not_deadlocked() {
        let lock = SpinLock::new(0u32);
        let g = lock.lock().expect("free");
        assert!(lock.lock().is_none(), "re-entry while locked");
        assert!(lock.try_lock().is_none());
        drop(g);
        let mut g = lock.lock().expect("free again");
        *g += 1;
        assert!(lock.lock().is_none(), "re-entry while inside");
        drop(g);
        // Another thread waits its turn.
        let g = lock.lock().expect("free");
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                let mut g = lock.lock().expect("waits, then gets it");
                *g += 1;
            });
            std::thread::sleep(std::time::Duration::from_millis(20));
            drop(g);
            t.join().unwrap();
        });
        let g = lock.lock().expect("free");
        assert_eq!(*g, 2);
        assert!(
            lock.lock().is_none(),
            "re-entry after another thread held it"
        );
    }
}
