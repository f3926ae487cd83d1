//! `runlog_options` and `runlog_open`: a host logger configured explicitly,
//! with the environment filling what the options leave NULL.

use std::ffi::c_char;
use std::path::PathBuf;

use runlog_core::ring;

use crate::error::{fail, fail_fmt};
use crate::guard::guard;
use crate::lock::SpinLock;
use crate::logger::{runlog_logger, Kind, Open};
use crate::status::*;
use crate::text::{self, TextError};

/// Default ring data capacity: 1 MiB.
pub const RUNLOG_DEFAULT_CAPACITY: u64 = 1 << 20;
/// Smallest ring data capacity `runlog_open` accepts.
pub const RUNLOG_MIN_CAPACITY: u64 = 4096;
/// Largest ring data capacity `runlog_open` accepts: 1 GiB.
pub const RUNLOG_MAX_CAPACITY: u64 = 1 << 30;
/// Default time a log call waits for room in a full ring: 1 s.
pub const RUNLOG_DEFAULT_FULL_TIMEOUT_MS: u32 = 1000;
/// Longest experiment name in bytes.
pub const RUNLOG_MAX_EXPERIMENT_LEN: usize = 256;

/// How to open a host logger. Start from `runlog_options_default()` and set
/// what you need; every string is copied by `runlog_open`, so it only has to
/// live during that call.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct runlog_options {
    /// Spool directory. NULL: `$RUNLOG_SPOOL`, else `.runlog/spool` under the
    /// working directory. Created (with parents) if missing.
    pub spool_dir: *const c_char,
    /// Run id, 1..=64 bytes of `[A-Za-z0-9_.-]`. NULL: `$RUNLOG_RUN_ID`, else
    /// one derived from the launcher's job id (torchrun, Slurm, Open MPI: see
    /// docs/ranks.md), else a new random id (32 hex digits). The process's rank,
    /// world size and node are read from the environment at the same time.
    pub run_id: *const c_char,
    /// Experiment name (UTF-8, at most 256 bytes). NULL: `$RUNLOG_EXPERIMENT`, else `"default"`.
    pub experiment: *const c_char,
    /// Ring data capacity in bytes, rounded down to a power of two, between
    /// `RUNLOG_MIN_CAPACITY` and `RUNLOG_MAX_CAPACITY`. 0: `RUNLOG_DEFAULT_CAPACITY`.
    pub ring_capacity: u64,
    /// When the ring is full, a log call waits up to this many milliseconds
    /// for the uploader to make room, then fails with `RUNLOG_STATUS_FULL`.
    /// 0: fail fast (the drop is counted and reported in the stream).
    pub full_timeout_ms: u32,
}

/// The default options: everything from the environment, 1 MiB ring, block
/// up to 1 s when full. Thread-safe, never fails.
#[no_mangle]
pub extern "C" fn runlog_options_default() -> runlog_options {
    runlog_options {
        spool_dir: std::ptr::null(),
        run_id: std::ptr::null(),
        experiment: std::ptr::null(),
        ring_capacity: 0,
        full_timeout_ms: RUNLOG_DEFAULT_FULL_TIMEOUT_MS,
    }
}

/// Options with NULLs resolved against the environment.
pub(crate) struct Resolved {
    dir: PathBuf,
    run_id: String,
    experiment: String,
    capacity: u32,
    full_timeout_ms: u32,
    /// Rank, world size and node from the launcher (read once, here: the
    /// spool header carries them, so log calls pay nothing for them).
    launch: runlog_core::launch::Launch,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Reads an optional C string option.
///
/// # Safety
/// `ptr` must be NULL or NUL-terminated.
unsafe fn opt_text(
    ptr: *const c_char,
    what: &str,
    max: usize,
) -> Result<Option<String>, runlog_status> {
    // SAFETY: forwarded caller contract.
    match unsafe { text::c_text(ptr, max) } {
        Ok(s) => Ok(Some(s.to_owned())),
        Err(TextError::Null) => Ok(None),
        Err(TextError::TooLong) => Err(fail_fmt(
            RUNLOG_STATUS_INVALID_ARGUMENT,
            format_args!("{what} is longer than {max} bytes"),
        )),
        Err(TextError::Utf8) => Err(fail_fmt(
            RUNLOG_STATUS_INVALID_UTF8,
            format_args!("{what} is not valid UTF-8"),
        )),
    }
}

impl Resolved {
    /// # Safety
    /// `o`'s string fields must be NULL or NUL-terminated.
    pub(crate) unsafe fn from_options(o: &runlog_options) -> Result<Self, runlog_status> {
        // SAFETY: forwarded caller contract (three times).
        let dir = unsafe { opt_text(o.spool_dir, "spool directory", 4096) }?;
        // SAFETY: as above.
        let run_id = unsafe { opt_text(o.run_id, "run id", text::RUNLOG_MAX_RUN_ID_LEN) }?;
        // SAFETY: as above.
        let experiment =
            unsafe { opt_text(o.experiment, "experiment", RUNLOG_MAX_EXPERIMENT_LEN) }?;
        let dir = dir
            .or_else(|| env("RUNLOG_SPOOL"))
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".runlog").join("spool"));
        // RUNLOG_RUN_ID, else the launcher's job (every rank of a job, on
        // every node, lands in one run), else a fresh id.
        let run_id = run_id
            .or_else(runlog_core::launch::run_id)
            .unwrap_or_else(|| runlog_core::host::new_run_id().as_str().to_owned());
        if !text::valid_run_id(&run_id) {
            return Err(fail_fmt(
                RUNLOG_STATUS_INVALID_ARGUMENT,
                format_args!("run id {run_id:?} must be 1..=64 bytes of [A-Za-z0-9_.-], not starting with '.'"),
            ));
        }
        let experiment = experiment
            .or_else(|| env("RUNLOG_EXPERIMENT"))
            .unwrap_or_else(|| "default".to_owned());
        if experiment.len() > RUNLOG_MAX_EXPERIMENT_LEN {
            return Err(fail(
                RUNLOG_STATUS_INVALID_ARGUMENT,
                c"experiment ($RUNLOG_EXPERIMENT) is longer than 256 bytes",
            ));
        }
        let capacity = match o.ring_capacity {
            0 => RUNLOG_DEFAULT_CAPACITY,
            c if (RUNLOG_MIN_CAPACITY..=RUNLOG_MAX_CAPACITY).contains(&c) => {
                1 << (63 - c.leading_zeros())
            }
            c => {
                return Err(fail_fmt(
                    RUNLOG_STATUS_INVALID_ARGUMENT,
                    format_args!(
                        "ring capacity {c} is outside {RUNLOG_MIN_CAPACITY}..={RUNLOG_MAX_CAPACITY}"
                    ),
                ))
            }
        };
        let launch = runlog_core::launch::detect()
            .map_err(|msg| fail_fmt(RUNLOG_STATUS_INVALID_ARGUMENT, format_args!("{msg}")))?;
        Ok(Self {
            dir,
            run_id,
            experiment,
            capacity: capacity as u32,
            full_timeout_ms: o.full_timeout_ms,
            launch,
        })
    }

    /// Creates the spool file and the logger; the handle is leaked on purpose
    /// (it becomes a tombstone when closed, never freed).
    pub(crate) fn open(&self) -> Result<*mut runlog_logger, runlog_status> {
        let created = super::spool::create(&super::spool::Params {
            dir: &self.dir,
            run_id: &self.run_id,
            experiment: &self.experiment,
            capacity: self.capacity,
            full_timeout_ms: self.full_timeout_ms,
            placement: self.launch.placement(),
        })
        .map_err(|msg| fail_fmt(RUNLOG_STATUS_IO, format_args!("{msg}")))?;
        let logger = runlog_logger {
            state: SpinLock::new(Some(Open {
                producer: created.producer,
                next_artifact: 0,
                ending: false,
                params: crate::params::Accepted::new(),
                _spool: Some(created.map),
                time: crate::hot::TimeCache::new(),
            })),
            kind: Kind::Spool(created.config),
            max_record: ring::max_payload(self.capacity) as usize,
        };
        Ok(Box::into_raw(Box::new(logger)))
    }
}

/// Opens a host logger: creates its spool file (see docs/ffi.md) and writes
/// the run's start into it.
///
/// `options`: NULL for `runlog_options_default()`; read during the call only.
/// `out`: receives the new handle, which the caller owns and releases with
/// `runlog_close` (after which the handle returns CLOSED to every call).
/// Thread-safe. Not a hot-path call (creates and maps a file).
///
/// Returns OK, NULL_ARGUMENT (`out`), INVALID_ARGUMENT (bad run id, capacity
/// or experiment), INVALID_UTF8, IO (spool directory or file could not be
/// created; the message names the path).
///
/// # Safety
/// `options` NULL or valid for reads, with NULL or NUL-terminated strings;
/// `out` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn runlog_open(
    options: *const runlog_options,
    out: *mut *mut runlog_logger,
) -> runlog_status {
    guard(|| {
        if out.is_null() {
            return fail(RUNLOG_STATUS_NULL_ARGUMENT, c"out is NULL");
        }
        // SAFETY: caller contract.
        let opts = unsafe { options.as_ref() }
            .copied()
            .unwrap_or_else(|| runlog_options_default());
        // SAFETY: caller contract on the option strings.
        let resolved = match unsafe { Resolved::from_options(&opts) } {
            Ok(r) => r,
            Err(s) => return s,
        };
        match resolved.open() {
            Ok(logger) => {
                // SAFETY: `out` is non-NULL and writable per the contract.
                unsafe { out.write(logger) };
                RUNLOG_STATUS_OK
            }
            Err(s) => s,
        }
    })
}
