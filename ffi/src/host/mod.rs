//! The host logger (feature `std`): a ring in a memory-mapped spool file that
//! the uploader process drains.
//!
//! - [`options`]: `runlog_options` and `runlog_open`.
//! - [`global`]: the process-wide logger (`runlog_get_logger`) and its exit hook.
//! - [`spool`]: creating the spool file (temp name, then rename).
//! - [`artifact`]: staging large artifacts as files, `runlog_upload_file`.
//! - [`clock`]: the cheap wall clock for metric times.
//! - [`close`]: whether, and how long, closing waits for the upload.

pub mod artifact;
pub(crate) mod clock;
pub(crate) mod close;
pub(crate) mod fork;
pub mod global;
pub mod options;
pub(crate) mod registry;
pub(crate) mod spool;
