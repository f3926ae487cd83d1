//! A tiny spin lock around a logger's producer (and, on devices, its consumer).
//!
//! Only threads of this process ever take it: the other process sharing the
//! ring (the uploader) synchronises through the ring's atomics, never a lock.
//! Uncontended, it costs one compare-and-swap and one store. On hosts a waiter
//! spins briefly and then yields its time slice; on devices nothing waits:
//! a call that finds the lock taken (an interrupt handler that preempted a log
//! call) gets `RUNLOG_STATUS_BUSY` instead of deadlocking.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// A value guarded by a spin lock.
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
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
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock if it is free.
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<Guard<'_, T>> {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Guard { lock: self })
    }

    /// Takes the lock, waiting for it (hosts only).
    #[cfg(feature = "std")]
    #[inline]
    pub(crate) fn lock(&self) -> Guard<'_, T> {
        if let Some(g) = self.try_lock() {
            return g;
        }
        self.lock_slow()
    }

    #[cfg(feature = "std")]
    #[cold]
    fn lock_slow(&self) -> Guard<'_, T> {
        let mut spins = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                if spins < 64 {
                    core::hint::spin_loop();
                    spins += 1;
                } else {
                    // The holder may be descheduled (2 cores, 8 threads): let it run.
                    std::thread::yield_now();
                }
            }
            if let Some(g) = self.try_lock() {
                return g;
            }
        }
    }
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
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}
