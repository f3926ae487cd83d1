//! `runlog_log_param` and `runlog_set_tag`: MLflow's hyperparameters and run
//! tags from C, and the memory of accepted params that lets the call itself
//! refuse a different second value (MLflow's rule: one value per key).
//!
//! Limits are MLflow's (3.x, `mlflow/utils/validation.py`): keys at most 250
//! characters (`MAX_ENTITY_KEY_LENGTH`; runlog counts bytes, which is
//! stricter), param values at most 6000 characters (`MAX_PARAM_VAL_LENGTH`),
//! tag values at most 8000 (`MAX_TAG_VAL_LENGTH`). A value must also fit in
//! one record of the logger's ring (VALUE_TOO_LONG otherwise).

use core::ffi::c_char;
use core::mem::MaybeUninit;

use runlog_core::wire;

use crate::error::fail;
use crate::guard::guard;
use crate::logger::{logger_ref, put_ticket, runlog_logger, runlog_ticket, tri};
use crate::status::*;
use crate::text::{self, TextError, RUNLOG_MAX_NAME_LEN};

/// Longest param value in characters (MLflow's `MAX_PARAM_VAL_LENGTH`).
pub const RUNLOG_MAX_PARAM_VALUE_LEN: usize = 6000;
/// Longest tag value in characters (MLflow's `MAX_TAG_VAL_LENGTH`).
pub const RUNLOG_MAX_TAG_VALUE_LEN: usize = 8000;
/// How many distinct param keys a device (`no_std`) logger remembers; a
/// further key is refused with INVALID_ARGUMENT.
pub const RUNLOG_DEVICE_MAX_PARAMS: usize = 16;

// One owner for the limits: runlog-core's record model (readers check them too).
const _: () = assert!(RUNLOG_MAX_PARAM_VALUE_LEN == runlog_core::record::MAX_PARAM_VALUE_CHARS);
const _: () = assert!(RUNLOG_MAX_TAG_VALUE_LEN == runlog_core::record::MAX_TAG_VALUE_CHARS);
const _: () = assert!(RUNLOG_MAX_NAME_LEN == runlog_core::record::MAX_KEY_LEN);

/// Bytes a UTF-8 character takes at most: the byte bound of a value's scan.
const MAX_UTF8_LEN: usize = 4;

/// What the logger knows about a param key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Never logged.
    New,
    /// Logged with this same value.
    Same,
    /// Logged with a different value.
    Different,
    /// Not logged, and there is no room to remember it (devices).
    NoRoom,
}

/// The params a host logger accepted: keys and values, exactly.
#[cfg(feature = "std")]
pub(crate) struct Accepted {
    map: std::collections::HashMap<Box<str>, Box<str>>,
    /// The value a `Different` key has, for the error message.
    last_conflict: Option<Box<str>>,
}

#[cfg(feature = "std")]
impl Accepted {
    pub(crate) fn new() -> Self {
        Self {
            map: std::collections::HashMap::new(),
            last_conflict: None,
        }
    }

    pub(crate) fn seen(&mut self, key: &str, value: &str) -> Seen {
        match self.map.get(key) {
            None => Seen::New,
            Some(v) if **v == *value => Seen::Same,
            Some(v) => {
                self.last_conflict = Some(v.clone());
                Seen::Different
            }
        }
    }

    pub(crate) fn insert(&mut self, key: &str, value: &str) {
        self.map.insert(key.into(), value.into());
    }
}

/// The params a device logger accepted, as 64-bit FNV-1a hashes of key and
/// value in a fixed table ([`RUNLOG_DEVICE_MAX_PARAMS`] entries, 16 bytes
/// each, inside the logger handle in the caller's buffer). No allocation, and
/// the values need not be kept. A different value with the same 64-bit hash
/// would pass (odds about 2^-64 per pair); the store still keeps the first
/// value and marks the conflict.
#[cfg_attr(feature = "std", allow(dead_code))]
pub(crate) struct Hashed {
    /// The first `len` entries are initialised. Left uninitialised until
    /// used, so that `runlog_init_static` neither zeroes nor copies 256
    /// bytes (a firmware then links no `memclr`/`memcpy8` for it: −330 B).
    entries: [MaybeUninit<(u64, u64)>; RUNLOG_DEVICE_MAX_PARAMS],
    len: usize,
}

#[cfg_attr(feature = "std", allow(dead_code))]
impl Hashed {
    pub(crate) const fn new() -> Self {
        Self {
            entries: [const { MaybeUninit::uninit() }; RUNLOG_DEVICE_MAX_PARAMS],
            len: 0,
        }
    }

    pub(crate) fn seen(&mut self, key: &str, value: &str) -> Seen {
        let (k, v) = (fnv1a(key), fnv1a(value));
        let len = self.len.min(RUNLOG_DEVICE_MAX_PARAMS);
        // SAFETY: `insert` initialises entries in order and counts them in
        // `len`, so the first `len` entries are initialised.
        let used = unsafe { &*(core::ptr::from_ref(&self.entries[..len]) as *const [(u64, u64)]) };
        match used.iter().find(|e| e.0 == k) {
            Some(e) if e.1 == v => Seen::Same,
            Some(_) => Seen::Different,
            None if self.len == RUNLOG_DEVICE_MAX_PARAMS => Seen::NoRoom,
            None => Seen::New,
        }
    }

    pub(crate) fn insert(&mut self, key: &str, value: &str) {
        if self.len < RUNLOG_DEVICE_MAX_PARAMS {
            self.entries[self.len] = MaybeUninit::new((fnv1a(key), fnv1a(value)));
            self.len += 1;
        }
    }
}

#[cfg_attr(feature = "std", allow(dead_code))]
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The params a device logger accepted.
#[cfg(not(feature = "std"))]
pub(crate) type Accepted = Hashed;

/// Which call a key or value belongs to, for the messages.
#[derive(Clone, Copy)]
enum Kind {
    Param,
    Tag,
}

/// A param or tag key: non-empty, UTF-8, at most 250 bytes.
///
/// # Safety
/// `ptr` NULL or NUL-terminated (or at least 251 readable bytes).
unsafe fn key<'a>(ptr: *const c_char, kind: Kind) -> Result<&'a str, runlog_status> {
    let param = matches!(kind, Kind::Param);
    // SAFETY: forwarded caller contract.
    match unsafe { text::c_text(ptr, RUNLOG_MAX_NAME_LEN) } {
        Ok("") => Err(fail(
            RUNLOG_STATUS_EMPTY_NAME,
            if param {
                c"param key is empty"
            } else {
                c"tag key is empty"
            },
        )),
        Ok(k) => Ok(k),
        Err(TextError::Null) => Err(fail(
            RUNLOG_STATUS_NULL_ARGUMENT,
            if param {
                c"param key is NULL"
            } else {
                c"tag key is NULL"
            },
        )),
        Err(TextError::TooLong) => Err(fail(
            RUNLOG_STATUS_NAME_TOO_LONG,
            if param {
                c"param key is longer than 250 bytes"
            } else {
                c"tag key is longer than 250 bytes"
            },
        )),
        Err(TextError::Utf8) => Err(fail(
            RUNLOG_STATUS_INVALID_UTF8,
            if param {
                c"param key is not valid UTF-8"
            } else {
                c"tag key is not valid UTF-8"
            },
        )),
    }
}

/// A param or tag value: UTF-8 (may be empty), at most MLflow's character limit.
///
/// # Safety
/// `ptr` NULL or NUL-terminated (or readable up to the limit's byte bound).
unsafe fn value<'a>(ptr: *const c_char, kind: Kind) -> Result<&'a str, runlog_status> {
    let (max_chars, too_long, null, utf8) = match kind {
        Kind::Param => (
            RUNLOG_MAX_PARAM_VALUE_LEN,
            c"param value is longer than 6000 characters",
            c"param value is NULL",
            c"param value is not valid UTF-8",
        ),
        Kind::Tag => (
            RUNLOG_MAX_TAG_VALUE_LEN,
            c"tag value is longer than 8000 characters",
            c"tag value is NULL",
            c"tag value is not valid UTF-8",
        ),
    };
    // SAFETY: forwarded caller contract; the scan stops at the terminator or
    // after the most bytes `max_chars` characters can take.
    match unsafe { text::c_text(ptr, max_chars * MAX_UTF8_LEN) } {
        Ok(v) if v.len() <= max_chars || v.chars().count() <= max_chars => Ok(v),
        Ok(_) | Err(TextError::TooLong) => Err(fail(RUNLOG_STATUS_VALUE_TOO_LONG, too_long)),
        Err(TextError::Null) => Err(fail(RUNLOG_STATUS_NULL_ARGUMENT, null)),
        Err(TextError::Utf8) => Err(fail(RUNLOG_STATUS_INVALID_UTF8, utf8)),
    }
}

impl runlog_logger {
    /// Pushes a param after checking it against the accepted ones, all under
    /// the lock so that two threads cannot both set a first value.
    fn log_param(&self, key: &str, value: &str) -> Result<u64, runlog_status> {
        let mut guard = self.acquire()?;
        let open = guard
            .as_mut()
            .ok_or_else(|| fail(RUNLOG_STATUS_CLOSED, c"logger is closed"))?;
        match open.params.seen(key, value) {
            Seen::New | Seen::Same => {}
            Seen::Different => return Err(conflict(&open.params, key, value)),
            Seen::NoRoom => {
                return Err(fail(
                    RUNLOG_STATUS_INVALID_ARGUMENT,
                    c"device logger remembers at most 16 param keys",
                ))
            }
        }
        let seq = self.push_locked(open, &|buf| wire::encode_param(key, value, buf))?;
        open.params.insert(key, value);
        Ok(seq)
    }

    fn set_tag(&self, key: &str, value: &str) -> Result<u64, runlog_status> {
        let mut guard = self.acquire()?;
        let open = guard
            .as_mut()
            .ok_or_else(|| fail(RUNLOG_STATUS_CLOSED, c"logger is closed"))?;
        self.push_locked(open, &|buf| wire::encode_tag(key, value, buf))
    }
}

/// The PARAM_CONFLICT status, with both values in the message on hosts.
#[cfg(feature = "std")]
fn conflict(accepted: &Accepted, key: &str, value: &str) -> runlog_status {
    let old = accepted.last_conflict.as_deref().unwrap_or("");
    crate::error::fail_fmt(
        RUNLOG_STATUS_PARAM_CONFLICT,
        format_args!(
            "param {:?} already has the value {:?}; MLflow params take one value per key, \
             so {:?} was not logged",
            key,
            short(old),
            short(value)
        ),
    )
}

#[cfg(not(feature = "std"))]
fn conflict(_: &Accepted, _: &str, _: &str) -> runlog_status {
    fail(
        RUNLOG_STATUS_PARAM_CONFLICT,
        c"param already has a different value (one per key)",
    )
}

/// At most 100 characters of `s`, for messages.
#[cfg(feature = "std")]
fn short(s: &str) -> &str {
    match s.char_indices().nth(100) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Logs a hyperparameter (MLflow's `log_param(key, value)`).
///
/// One value per key, as in MLflow: logging the same value again is OK (a
/// new record, a new ticket); a different value for a key this logger already
/// accepted returns PARAM_CONFLICT, with both values in `runlog_last_error`,
/// and writes nothing. The check is this logger's own (host: every key and
/// value it accepted; device: hashes of up to `RUNLOG_DEVICE_MAX_PARAMS` keys,
/// a further key is INVALID_ARGUMENT). If two processes of one run disagree,
/// the store keeps the first value and marks the conflict with a tag.
///
/// `key`: NUL-terminated UTF-8, 1 to 250 bytes (MLflow's key limit).
/// `value`: NUL-terminated UTF-8, may be empty, at most
/// `RUNLOG_MAX_PARAM_VALUE_LEN` (6000) characters (MLflow's limit) and small
/// enough for one record of the ring. Numbers are text: C++'s
/// `runlog::Logger::param` formats them as MLflow's Python client does.
/// Both are copied. `ticket`: may be NULL. Thread-safe. Not a hot-path call
/// (host: it may allocate to remember the param).
///
/// Returns OK, or NULL_ARGUMENT, EMPTY_NAME, NAME_TOO_LONG, INVALID_UTF8,
/// VALUE_TOO_LONG, PARAM_CONFLICT, INVALID_ARGUMENT, FULL, CLOSED, BUSY.
/// On failure nothing is written.
///
/// # Safety
/// `logger` NULL or a valid handle; `key` and `value` NULL or NUL-terminated;
/// `ticket` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn runlog_log_param(
    logger: *mut runlog_logger,
    key: *const c_char,
    value: *const c_char,
    ticket: *mut runlog_ticket,
) -> runlog_status {
    // SAFETY: forwarded caller contract.
    unsafe { key_value_call(logger, key, value, ticket, Kind::Param) }
}

/// Sets a run tag (MLflow's `set_tag(key, value)`): the last value wins.
///
/// Unlike `runlog_log_str`, whose every value is kept in the metric's
/// history, a tag keeps only its latest value. `key`: as for
/// `runlog_log_param`. `value`: NUL-terminated UTF-8, may be empty, at most
/// `RUNLOG_MAX_TAG_VALUE_LEN` (8000) characters and small enough for one
/// record of the ring. Both copied. `ticket`: may be NULL. Thread-safe.
///
/// Returns OK, or NULL_ARGUMENT, EMPTY_NAME, NAME_TOO_LONG, INVALID_UTF8,
/// VALUE_TOO_LONG, FULL, CLOSED, BUSY. On failure nothing is written.
///
/// # Safety
/// As for `runlog_log_param`.
#[no_mangle]
pub unsafe extern "C" fn runlog_set_tag(
    logger: *mut runlog_logger,
    key: *const c_char,
    value: *const c_char,
    ticket: *mut runlog_ticket,
) -> runlog_status {
    // SAFETY: forwarded caller contract.
    unsafe { key_value_call(logger, key, value, ticket, Kind::Tag) }
}

/// The body both `runlog_log_param` and `runlog_set_tag` share: check the
/// handle, the key and the value for `kind`, push, write the ticket.
///
/// # Safety
/// As for `runlog_log_param`.
unsafe fn key_value_call(
    logger: *mut runlog_logger,
    key: *const c_char,
    value: *const c_char,
    ticket: *mut runlog_ticket,
    kind: Kind,
) -> runlog_status {
    guard(|| {
        // SAFETY: caller contract.
        let logger = tri!(unsafe { logger_ref(logger) });
        // SAFETY: caller contract.
        let key = tri!(unsafe { self::key(key, kind) });
        // SAFETY: caller contract.
        let value = tri!(unsafe { self::value(value, kind) });
        let seq = tri!(match kind {
            Kind::Param => logger.log_param(key, value),
            Kind::Tag => logger.set_tag(key, value),
        });
        put_ticket(ticket, seq);
        RUNLOG_STATUS_OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_table_refuses_changes_and_fills_up() {
        let mut t = Hashed::new();
        assert_eq!(t.seen("lr", "0.01"), Seen::New);
        t.insert("lr", "0.01");
        assert_eq!(t.seen("lr", "0.01"), Seen::Same);
        assert_eq!(t.seen("lr", "0.02"), Seen::Different);
        for i in 1..RUNLOG_DEVICE_MAX_PARAMS {
            let k = std::format!("k{i}");
            assert_eq!(t.seen(&k, "v"), Seen::New);
            t.insert(&k, "v");
        }
        assert_eq!(t.seen("one-more", "v"), Seen::NoRoom);
        // Keys it has keep being checked when full.
        assert_eq!(t.seen("k3", "v"), Seen::Same);
        assert_eq!(t.seen("k3", "w"), Seen::Different);
    }

    #[test]
    #[cfg(feature = "std")]
    fn host_memory_is_exact() {
        let mut a = Accepted::new();
        assert_eq!(a.seen("batch", "32"), Seen::New);
        a.insert("batch", "32");
        assert_eq!(a.seen("batch", "32"), Seen::Same);
        assert_eq!(a.seen("batch", "64"), Seen::Different);
        assert_eq!(a.last_conflict.as_deref(), Some("32"));
    }
}
