//! Peak stack measurement: the stack area is painted with a pattern at boot,
//! and the lowest overwritten word at the end shows how deep the stack went.
//! scripts/footprint.sh compares the figure with and without runlog.

use core::ptr::{addr_of, read_volatile, write_volatile};

const PAINT: u32 = 0xC0DE_CAFE;

extern "C" {
    /// End of .bss/.data in RAM (cortex-m-rt's linker script).
    static __sheap: u32;
    /// Initial stack pointer, the top of the stack (cortex-m-rt).
    static _stack_start: u32;
}

fn bottom() -> *mut u32 {
    addr_of!(__sheap) as *mut u32
}

fn top() -> usize {
    addr_of!(_stack_start) as usize
}

/// Paints the free stack below the caller's frame.
#[inline(never)]
pub fn paint() {
    let here = 0u32;
    // Leave the words just below this frame alone: calls made from here use them.
    let limit = (addr_of!(here) as usize).saturating_sub(64);
    let mut p = bottom();
    while (p as usize) < limit {
        // SAFETY: `[__sheap, limit)` lies between the end of the statics and
        // the live stack frames: RAM that nothing uses yet.
        unsafe {
            write_volatile(p, PAINT);
            p = p.add(1);
        }
    }
}

/// The deepest the stack has been since [`paint`], in bytes.
pub fn peak() -> usize {
    let mut p = bottom() as *const u32;
    // SAFETY: reads stay in `[__sheap, _stack_start)`, RAM that cortex-m-rt
    // reserved for the stack; words never written since `paint` hold PAINT.
    while (p as usize) < top() && unsafe { read_volatile(p) } == PAINT {
        // SAFETY: still inside the stack area, checked by the loop condition.
        p = unsafe { p.add(1) };
    }
    top() - p as usize
}
