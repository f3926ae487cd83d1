//! A tiny spin lock around a logger's producer (and, on devices, its consumer).
//!
//! Only threads of this process ever take it: the other process sharing the
//! ring (the uploader) synchronises through the ring's atomics, never a lock.
//! Uncontended, it costs one compare-and-swap and one store. On devices
//! nothing waits: a call that finds the lock taken (an interrupt handler that
//! preempted a log call) gets `RUNLOG_STATUS_BUSY` instead of deadlocking.
//!
//! On hosts a waiter spins briefly and then yields its time slice, and the
//! lock is biased (`host/bias.rs`): the first thread to take it re-enters
//! with plain stores, no compare-and-swap, until a second thread takes it. A
//! thread that asks for the lock while it already holds it (a signal handler
//! that interrupted a log call) is refused, not deadlocked or let in twice.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicUsize, Ordering};

#[cfg(feature = "std")]
use crate::host::bias::{self, Bias, Entry};

/// A value guarded by a spin lock.
pub(crate) struct SpinLock<T> {
    /// 0 when free, else the holder's [`holder_id`]: a thread asking again
    /// sees its own id and is refused.
    locked: AtomicUsize,
    #[cfg(feature = "std")]
    bias: Bias,
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
            #[cfg(feature = "std")]
            bias: Bias::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock if it is free, without waiting.
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<Guard<'_, T>> {
        #[cfg(feature = "std")]
        match self.bias.try_enter() {
            Entry::Biased => return Some(self.biased_guard()),
            Entry::Reentered => return None,
            Entry::TakeLock => {}
        }
        self.try_lock_unbiased()
    }

    #[inline]
    fn try_lock_unbiased(&self) -> Option<Guard<'_, T>> {
        self.locked
            .compare_exchange(0, holder_id(), Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        #[cfg(feature = "std")]
        let guard = {
            let busy = self.bias.on_locked();
            Guard {
                lock: self,
                locked: true,
                busy,
            }
        };
        #[cfg(not(feature = "std"))]
        let guard = Guard { lock: self };
        Some(guard)
    }

    #[cfg(feature = "std")]
    #[inline(always)]
    fn biased_guard(&self) -> Guard<'_, T> {
        Guard {
            lock: self,
            locked: false,
            busy: true,
        }
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
        // Only this thread ever stores its own id in either place: seeing it
        // means this thread is inside already.
        if self.locked.load(Ordering::Relaxed) == holder_id() || self.bias.entered_by_caller() {
            return None;
        }
        let mut spins = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) != 0 {
                backoff(&mut spins);
            }
            if let Some(g) = self.try_lock_unbiased() {
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
    return bias::thread_id();
    #[cfg(not(feature = "std"))]
    1
}

/// Exclusive access to the guarded value until dropped.
pub(crate) struct Guard<'a, T> {
    lock: &'a SpinLock<T>,
    /// Holds `locked` (not when entered through the bias).
    #[cfg(feature = "std")]
    locked: bool,
    /// Holds the bias's `busy` flag: entered through the bias, or became
    /// its owner while taking the lock.
    #[cfg(feature = "std")]
    busy: bool,
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
        #[cfg(feature = "std")]
        {
            if self.busy {
                self.lock.bias.exit();
            }
            if !self.locked {
                return;
            }
        }
        self.lock.locked.store(0, Ordering::Release);
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn a_holder_asking_again_is_refused_not_deadlocked() {
        let lock = SpinLock::new(0u32);
        // First take: plain lock (and the bias is granted to this thread).
        let g = lock.lock().expect("free");
        assert!(lock.lock().is_none(), "re-entry while locked");
        assert!(lock.try_lock().is_none());
        drop(g);
        // Second take: through the bias where membarrier exists.
        let mut g = lock.lock().expect("free again");
        *g += 1;
        assert!(lock.lock().is_none(), "re-entry while inside");
        drop(g);
        // Another thread takes it (revoking any bias) and waits its turn.
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
        assert!(lock.lock().is_none(), "re-entry under the plain lock");
    }
}
