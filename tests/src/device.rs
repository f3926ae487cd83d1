//! Draining a device logger (`runlog_init_static`) from Rust through the C
//! ABI, as a firmware's UART loop would, into memory.

use std::ffi::c_void;

use runlog::device::runlog_drain;
use runlog::logger::runlog_logger;
use runlog::status::{runlog_status, RUNLOG_STATUS_OK};

/// `runlog_write_fn` appending to the `Vec<u8>` behind `ctx`.
///
/// # Safety
/// `ctx` is a `*mut Vec<u8>` valid for the call; `data` is valid for `len`
/// bytes (what `runlog_drain` guarantees).
pub unsafe extern "C" fn to_vec(ctx: *mut c_void, data: *const u8, len: usize) -> isize {
    // SAFETY: the caller's contract above.
    unsafe {
        (*ctx.cast::<Vec<u8>>()).extend_from_slice(std::slice::from_raw_parts(data, len));
    }
    len as isize
}

/// Drains until nothing more comes or a call fails, at most 64 calls (never
/// a hang): every call's status and the frames' bytes.
///
/// # Safety
/// `l` is NULL or a logger from `runlog_init_static` whose buffer is alive
/// (the ring may hold anything: that is what `runlog_drain` must survive).
pub unsafe fn drain_device(l: *mut runlog_logger) -> (Vec<runlog_status>, Vec<u8>) {
    let (mut statuses, mut stream) = (Vec::new(), Vec::new());
    for _ in 0..64 {
        let mut written = 0;
        // SAFETY: `l` as this function's contract says; `to_vec` gets the
        // Vec that lives across the call.
        let s = unsafe {
            runlog_drain(
                l,
                Some(to_vec),
                (&mut stream as *mut Vec<u8>).cast(),
                usize::MAX,
                &mut written,
            )
        };
        statuses.push(s);
        if s != RUNLOG_STATUS_OK || written == 0 {
            break;
        }
    }
    (statuses, stream)
}
