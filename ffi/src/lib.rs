//! runlog's C ABI (library `librunlog`): log metrics and artifacts from C and
//! C++ into a run history, and wait for them to be committed.
//!
//! One module per C type, as in rustls-ffi:
//! - [`status`]: `runlog_status` and `runlog_status_str`.
//! - [`error`]: the per-thread last error and `runlog_last_error`.
//! - [`logger`]: the opaque `runlog_logger` and the log/upload/wait/close calls.
//! - [`params`]: `runlog_log_param` and `runlog_set_tag` (MLflow params and tags).
//! - [`device`]: `runlog_init_static` and `runlog_drain` (a ring in a caller's buffer).
//! - `host` (feature `std`): the spool file, `runlog_options`, `runlog_open`,
//!   `runlog_get_logger`, `runlog_upload_file`.
//!
//! The C header `include/runlog.h` is generated from this crate by cbindgen.
#![cfg_attr(not(feature = "std"), no_std)]
#![allow(clippy::missing_safety_doc)] // every unsafe fn has a `# Safety` section; clippy misreads the C docs

// Tests of the device build (`--no-default-features`) run on the host, with std.
#[cfg(all(test, not(feature = "std")))]
extern crate std;

pub mod device;
#[cfg(all(test, not(feature = "std")))]
mod device_tests;
pub mod error;
mod guard;
#[cfg(feature = "std")]
pub mod host;
#[cfg(feature = "std")]
mod hot;
mod lock;
pub mod logger;
pub mod params;
mod scalar;
pub mod status;
pub mod text;

pub use logger::{runlog_logger, runlog_ticket};
pub use status::runlog_status;
pub use text::{RUNLOG_MAX_NAME_LEN, RUNLOG_MAX_PATH_LEN, RUNLOG_MAX_RUN_ID_LEN};

/// Bare-metal builds abort on panic: there is no unwinding and no one to report to.
#[cfg(all(not(feature = "std"), target_os = "none", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
