//! The two semihosting calls this example needs: print a line on the host and
//! end the emulation. They trap into the debugger (QEMU with
//! `-semihosting-config enable=on`); on a board without one they would fault.

const SYS_WRITE0: u32 = 0x04;
const SYS_EXIT: u32 = 0x18;
const ADP_STOPPED_APPLICATION_EXIT: u32 = 0x2_0026;
const ADP_STOPPED_RUNTIME_ERROR_UNKNOWN: u32 = 0x2_0023;

fn call(op: u32, arg: u32) {
    // SAFETY: `bkpt 0xab` is the Arm semihosting trap; the host reads `op`
    // and `arg` (a value or a pointer to valid memory, per the operation)
    // and writes its result to r0, which is declared clobbered.
    unsafe {
        core::arch::asm!("bkpt 0xab", inout("r0") op => _, in("r1") arg, options(nostack));
    }
}

/// Prints `text` (which must end with a NUL byte) on the host's console.
pub fn print0(text: &[u8]) {
    if text.last() == Some(&0) {
        call(SYS_WRITE0, text.as_ptr() as u32);
    }
}

/// Ends the emulation: QEMU exits with status 0 on success, 1 otherwise.
pub fn exit(success: bool) -> ! {
    let reason = if success {
        ADP_STOPPED_APPLICATION_EXIT
    } else {
        ADP_STOPPED_RUNTIME_ERROR_UNKNOWN
    };
    call(SYS_EXIT, reason);
    loop {
        core::hint::spin_loop();
    }
}
