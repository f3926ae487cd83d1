//! runlog on a Cortex-M4 (QEMU `mps2-an386`): logs metrics of every kind, a
//! repeated scalar, and a small artifact into a static ring with
//! runlog-core, drains the ring to UART0 as COBS + CRC frames, and ends the
//! emulation through semihosting.
//!
//! Built without the default `runlog` feature it writes the same values as
//! raw bytes instead: the baseline for scripts/footprint.sh.
#![no_std]
#![no_main]

mod semihosting;
mod stack;
mod uart;
mod workload;

#[cfg(not(feature = "runlog"))]
mod raw_sink;
#[cfg(feature = "runlog")]
mod runlog_sink;

use cortex_m_rt::entry;

use crate::uart::{Uart, UART0_BASE};

#[cfg(feature = "runlog")]
static mut RING: runlog_sink::RingStorage =
    runlog_sink::RingStorage([0; core::mem::size_of::<runlog_sink::RingStorage>()]);

#[entry]
fn main() -> ! {
    stack::paint();
    // SAFETY: UART0 of the mps2-an386 is a CMSDK APB UART, and this is its only driver.
    let uart = unsafe { Uart::new(UART0_BASE) };

    #[cfg(feature = "runlog")]
    {
        // SAFETY: `main` runs once and never returns, so this is the only
        // reference to RING there will ever be.
        let storage = unsafe { &mut *core::ptr::addr_of_mut!(RING) };
        let Some(mut sink) = runlog_sink::RunlogSink::new(storage, uart) else {
            semihosting::exit(false);
        };
        workload::run(&mut sink);
    }
    #[cfg(not(feature = "runlog"))]
    workload::run(&mut raw_sink::RawSink::new(uart));

    report_stack();
    semihosting::exit(true)
}

/// Prints `stack_peak_bytes=N` on the host console.
fn report_stack() {
    let mut line = *b"stack_peak_bytes=0000000000\n\0";
    let digits = &mut line[17..27];
    let mut n = stack::peak();
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    semihosting::print0(&line);
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    semihosting::exit(false)
}
