//! Driver for the Arm CMSDK APB UART, the one QEMU's `mps2-an386` puts at
//! 0x4000_4000 (UART0). Transmit only, polled: nothing else runs here.

use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};

/// UART0 of the MPS2 AN385/AN386 images.
pub const UART0_BASE: usize = 0x4000_4000;

/// The register block (Arm CMSDK APB UART, DDI 0479).
#[repr(C)]
struct Regs {
    data: u32,
    state: u32,
    ctrl: u32,
    int_status: u32,
    baud_div: u32,
}

const STATE_TX_FULL: u32 = 1 << 0;
const CTRL_TX_ENABLE: u32 = 1 << 0;
/// The smallest divisor the CMSDK UART accepts; QEMU ignores the rate itself.
const MIN_BAUD_DIV: u32 = 16;

/// The UART, enabled for transmission.
pub struct Uart {
    regs: *mut Regs,
}

impl Uart {
    /// Enables the transmitter of the UART at `base`.
    ///
    /// # Safety
    /// `base` must be the address of a CMSDK APB UART, and nothing else may
    /// drive that UART while the returned value lives.
    pub unsafe fn new(base: usize) -> Self {
        let regs = base as *mut Regs;
        // SAFETY: per the caller, `regs` is the UART's register block, which
        // is always mapped; MMIO needs volatile accesses.
        unsafe {
            write_volatile(addr_of_mut!((*regs).baud_div), MIN_BAUD_DIV);
            write_volatile(addr_of_mut!((*regs).ctrl), CTRL_TX_ENABLE);
        }
        Self { regs }
    }

    fn tx_full(&self) -> bool {
        // SAFETY: `regs` is the UART's register block (constructor contract).
        unsafe { read_volatile(addr_of!((*self.regs).state)) & STATE_TX_FULL != 0 }
    }

    /// Sends one byte, waiting while the transmit buffer is full.
    pub fn put(&mut self, byte: u8) {
        while self.tx_full() {}
        // SAFETY: as in `tx_full`; writing DATA queues one byte.
        unsafe { write_volatile(addr_of_mut!((*self.regs).data), u32::from(byte)) }
    }

    /// Sends all of `bytes`.
    pub fn put_all(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.put(b);
        }
    }

    /// Waits until the last byte has left the transmit buffer.
    pub fn flush(&mut self) {
        while self.tx_full() {}
    }
}

#[cfg(feature = "runlog")]
impl embedded_io::ErrorType for Uart {
    type Error = core::convert::Infallible;
}

#[cfg(feature = "runlog")]
impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.put_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Uart::flush(self);
        Ok(())
    }
}
