//! The C ABI of runlog (filled in by the ffi issue).
#![no_std]
