//! runlog-core: the `no_std`, allocation-free heart of runlog.
//!
//! - [`record`]: what a run sends (metrics, artifacts, run start and end).
//! - [`wire`]: postcard encoding of one record, and the wire version.
//! - [`ring`]: a lock-free single-producer single-consumer ring over
//!   caller-provided storage (a `static` array, or a memory-mapped file).
//! - [`frame`]: COBS + CRC frames for byte streams, a drain from a ring into
//!   any `embedded_io::Write`, and a decoder that resynchronises after damage.
//! - [`spool`]: the header of a spool file that shares a ring between processes.
//! - [`rules`]: the one rule each for artifact paths, run ids and metric names.
//! - `host` (feature `std`): the host clock and run-id generator everybody calls.
//! - `launch` (feature `std`): a process's rank, world size and node, and a
//!   job's run id, from what its launcher set.
//!
//! The layouts are described in `docs/ARCHITECTURE.md`.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

#[cfg(target_endian = "big")]
compile_error!("runlog-core's ring stores little-endian words with native loads; big-endian targets are not supported");

pub mod cobs;
pub mod crc;
mod encode;
pub mod frame;
#[cfg(feature = "std")]
pub mod host;
#[cfg(feature = "std")]
pub mod launch;
pub mod list;
mod metric_wire;
pub mod record;
pub mod ring;
pub mod rules;
mod skim;
pub mod spool;
pub mod wire;

pub use frame::{drain, drain_uninit, DecodeStats, DrainStats, Event, FrameDecoder, FrameError};
pub use list::{F64List, I64List};
pub use record::{Bytes, Metric, Name, Record, RunStart, RunStatus, Value};
pub use ring::{Consumer, Entry, Producer, PushError, Ring, RingError};
pub use wire::{WireError, WIRE_VERSION};
