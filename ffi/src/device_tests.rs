//! The device build of the C ABI (`--no-default-features`: no `std`, no
//! `messages`), run on the host: the code paths that only a firmware runs
//! otherwise (the compact UTF-8 check of C text, `close` under one lock,
//! the status descriptions that `runlog_last_error` copies). Every other
//! C API test runs the host build.
//!
//! Run by `scripts/test-ffi.sh`:
//! `cargo test -p runlog-ffi --no-default-features --lib`.

use std::ffi::{c_char, c_void, CStr};
use std::format;
use std::ptr;
use std::string::{String, ToString};
use std::sync::Mutex;
use std::vec;
use std::vec::Vec;

use crate::device::{runlog_drain, runlog_init_static};
use crate::error::runlog_last_error;
use crate::logger::{
    runlog_close, runlog_log_f64, runlog_log_f64_at, runlog_log_f64_list, runlog_log_i64,
    runlog_log_i64_at, runlog_log_i64_list, runlog_log_str, runlog_upload,
};
use crate::runlog_logger;
use crate::status::{runlog_status_str, *};
use runlog_core::frame::{Event, FrameDecoder};
use runlog_core::record::Record;

/// The device keeps one last error for the whole program: one test at a time.
pub(crate) static SERIAL: Mutex<()> = Mutex::new(());

/// A static logger in a leaked, 8-aligned buffer of `len` bytes.
fn logger(len: usize) -> *mut runlog_logger {
    let buf: &'static mut [u64] = Vec::leak(vec![0u64; len.div_ceil(8)]);
    let mut out = ptr::null_mut();
    // SAFETY: the buffer lives forever and is used for nothing else.
    let s = unsafe {
        runlog_init_static(
            buf.as_mut_ptr().cast(),
            len,
            c"device-run".as_ptr(),
            ptr::null(),
            &mut out,
        )
    };
    assert_eq!(s, RUNLOG_STATUS_OK);
    out
}

fn last_error() -> String {
    let mut buf = [0 as c_char; 64];
    // SAFETY: `buf` is writable for its length.
    let n = unsafe { runlog_last_error(buf.as_mut_ptr(), buf.len()) };
    // SAFETY: `runlog_last_error` NUL-terminates what it writes.
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
    assert_eq!(n, text.len(), "the returned length is the message's");
    text.to_string()
}

unsafe extern "C" fn collect(ctx: *mut c_void, data: *const u8, len: usize) -> isize {
    // SAFETY: `ctx` is the `Vec<u8>` given to `drain`; `data` holds `len` bytes.
    unsafe {
        (*ctx.cast::<Vec<u8>>()).extend_from_slice(std::slice::from_raw_parts(data, len));
    }
    len as isize
}

/// One `runlog_drain` of `log` through `write` (`collect` or a transport
/// that appends to the same `Vec<u8>`): its status and the bytes written,
/// which must be as many as it says.
fn drain_through(
    log: *mut runlog_logger,
    write: unsafe extern "C" fn(*mut c_void, *const u8, usize) -> isize,
) -> (runlog_status, Vec<u8>) {
    let mut bytes = Vec::<u8>::new();
    let mut written = usize::MAX;
    // SAFETY: valid handle; `write` appends to `bytes`.
    let s = unsafe {
        runlog_drain(
            log,
            Some(write),
            ptr::from_mut(&mut bytes).cast(),
            usize::MAX,
            &mut written,
        )
    };
    if s == RUNLOG_STATUS_OK {
        assert_eq!(written, bytes.len(), "the drain's count is what it wrote");
    }
    (s, bytes)
}

/// Everything the logger's ring holds, decoded: (sequence, record kind).
fn drain(log: *mut runlog_logger) -> Vec<String> {
    let (s, bytes) = drain_through(log, collect);
    assert_eq!(s, RUNLOG_STATUS_OK);
    let mut out = Vec::new();
    FrameDecoder::new().feed(&bytes, |e| match e {
        Event::Record { record, .. } => out.push(match record {
            Record::RunStart(_) => "start".to_string(),
            Record::Metric(m) => format!("metric {:?}", m.name),
            Record::RunEnd { status, .. } => format!("end {status:?}"),
            other => format!("{other:?}"),
        }),
        other => panic!("the stream lost something: {other:?}"),
    });
    out
}

#[test]
fn close_ends_the_run_once_and_later_calls_are_refused() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let log = logger(4096);
    // SAFETY: valid handle, NUL-terminated name.
    let s = unsafe { runlog_log_f64(log, c"loss".as_ptr(), 0.5, ptr::null_mut()) };
    assert_eq!(s, RUNLOG_STATUS_OK);
    // SAFETY: valid handle.
    assert_eq!(unsafe { runlog_close(log, 0) }, RUNLOG_STATUS_OK);
    // SAFETY: valid (closed) handle.
    assert_eq!(unsafe { runlog_close(log, 0) }, RUNLOG_STATUS_CLOSED);
    assert_eq!(last_error(), "closed");
    // SAFETY: valid (closed) handle, NUL-terminated name.
    let s = unsafe { runlog_log_f64(log, c"loss".as_ptr(), 0.25, ptr::null_mut()) };
    assert_eq!(s, RUNLOG_STATUS_CLOSED);
    // SAFETY: as above; a NULL value with a zero length is no list.
    let s = unsafe { runlog_log_i64_list(log, c"h".as_ptr(), ptr::null(), 0, ptr::null_mut()) };
    assert_eq!(s, RUNLOG_STATUS_CLOSED);
    // SAFETY: as above.
    let s = unsafe { runlog_upload(log, c"a.txt".as_ptr(), ptr::null(), 0, ptr::null_mut()) };
    assert_eq!(s, RUNLOG_STATUS_CLOSED);
    // The drain still sends the run, its end exactly once.
    assert_eq!(
        drain(log),
        ["start", "metric Text(\"loss\")", "end Finished"].map(String::from)
    );
}

#[test]
fn close_on_a_full_ring_says_so_and_still_closes() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let log = logger(crate::device::runlog_static_min_len());
    let mut logged = 0;
    loop {
        // SAFETY: valid handle, NUL-terminated name.
        let s = unsafe { runlog_log_f64(log, c"fill".as_ptr(), 1.0, ptr::null_mut()) };
        if s == RUNLOG_STATUS_FULL {
            break;
        }
        assert_eq!(s, RUNLOG_STATUS_OK);
        logged += 1;
        assert!(logged < 10_000, "a 1 KiB ring never filled");
    }
    assert_eq!(last_error(), "ring full");
    // SAFETY: valid handle.
    assert_eq!(unsafe { runlog_close(log, 0) }, RUNLOG_STATUS_FULL);
    // SAFETY: valid (closed) handle.
    assert_eq!(unsafe { runlog_close(log, 0) }, RUNLOG_STATUS_CLOSED);
    // SAFETY: valid (closed) handle, NUL-terminated name.
    let s = unsafe { runlog_log_f64(log, c"fill".as_ptr(), 1.0, ptr::null_mut()) };
    assert_eq!(s, RUNLOG_STATUS_CLOSED);
    let records = drain(log);
    assert_eq!(records.len(), 1 + logged, "{records:?}");
    assert!(!records.iter().any(|r| r.starts_with("end")), "{records:?}");
}

/// Names from C through the device's compact UTF-8 check: every kind of bad
/// UTF-8 refused, a name too long refused as such whatever its bytes.
#[test]
fn bad_names_are_refused_with_their_status() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let log = logger(4096);
    let log_name = |name: &[u8]| {
        let mut c = name.to_vec();
        c.push(0);
        // SAFETY: valid handle; `c` is NUL-terminated.
        unsafe { runlog_log_f64(log, c.as_ptr().cast(), 1.0, ptr::null_mut()) }
    };
    let cases: [(&[u8], runlog_status); 12] = [
        (b"ok/\xc3\xa9t\xc3\xa9", RUNLOG_STATUS_OK),
        (b"\xf0\x9f\x98\x80", RUNLOG_STATUS_OK),
        (b"\xf4\x8f\xbf\xbf", RUNLOG_STATUS_OK),
        (b"", RUNLOG_STATUS_EMPTY_NAME),
        (b"\xc0\xaf", RUNLOG_STATUS_INVALID_UTF8), // overlong '/'
        (b"\xe0\x80\xaf", RUNLOG_STATUS_INVALID_UTF8), // overlong, three bytes
        (b"\xed\xa0\x80", RUNLOG_STATUS_INVALID_UTF8), // surrogate U+D800
        (b"\xf4\x90\x80\x80", RUNLOG_STATUS_INVALID_UTF8), // U+110000
        (b"ab\xc3", RUNLOG_STATUS_INVALID_UTF8),   // cut short
        (b"\x80abc", RUNLOG_STATUS_INVALID_UTF8),  // lone continuation
        (b"a\xe2\x82b", RUNLOG_STATUS_INVALID_UTF8), // ASCII inside a sequence
        (b"\xff", RUNLOG_STATUS_INVALID_UTF8),
    ];
    for (name, want) in cases {
        assert_eq!(log_name(name), want, "{name:x?}");
    }
    // Too long wins over bad bytes inside the bound (as on hosts).
    let mut long = vec![0xffu8];
    long.resize(crate::RUNLOG_MAX_NAME_LEN + 1, b'x');
    assert_eq!(log_name(&long), RUNLOG_STATUS_NAME_TOO_LONG);
    assert_eq!(last_error(), "name too long");
    assert_eq!(
        log_name(&long[..crate::RUNLOG_MAX_NAME_LEN]),
        RUNLOG_STATUS_INVALID_UTF8
    );
    assert_eq!(last_error(), "invalid UTF-8");
    // NULL name; a string value through the same scan.
    // SAFETY: valid handle; NULL name.
    let s = unsafe { runlog_log_f64(log, ptr::null(), 1.0, ptr::null_mut()) };
    assert_eq!(s, RUNLOG_STATUS_NULL_ARGUMENT);
    // SAFETY: valid handle, NUL-terminated strings.
    let s = unsafe {
        runlog_log_str(
            log,
            c"board".as_ptr(),
            c"\xed\xbf\xbf".as_ptr(),
            ptr::null_mut(),
        )
    };
    assert_eq!(s, RUNLOG_STATUS_INVALID_UTF8);
    // SAFETY: valid handle, NUL-terminated name.
    let s = unsafe { runlog_log_f64_at(log, c"x".as_ptr(), 1.0, -1, ptr::null_mut()) };
    assert_eq!(s, RUNLOG_STATUS_INVALID_ARGUMENT);
}

/// The device's descriptions, by code: what `runlog_status_str` and
/// `runlog_last_error` give a firmware.
#[test]
fn every_code_has_a_short_description() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let text = |code: u32| {
        // SAFETY: `runlog_status_str` returns a static C string for any code.
        unsafe { CStr::from_ptr(runlog_status_str(code)) }
            .to_str()
            .unwrap()
    };
    assert_eq!(text(0), "ok");
    assert_eq!(text(RUNLOG_STATUS_NULL_ARGUMENT as u32), "NULL argument");
    assert_eq!(text(RUNLOG_STATUS_FULL as u32), "ring full");
    assert_eq!(text(RUNLOG_STATUS_PARAM_CONFLICT as u32), "param conflict");
    for code in [17, 18, 1000, u32::MAX] {
        assert_eq!(text(code), "unknown status");
    }
    let all: Vec<&str> = (0..17).map(text).collect();
    for (i, t) in all.iter().enumerate() {
        assert!(!t.is_empty() && t.len() < 20, "{i}: {t:?}");
        assert!(!all[..i].contains(t), "{i}: {t:?} twice");
    }
    // A truncating copy: NUL-terminated, full length returned.
    let log = logger(4096);
    // SAFETY: valid (closed afterwards) handle.
    unsafe {
        runlog_close(log, 0);
        runlog_close(log, 0);
    }
    let mut small = [0x55 as c_char; 4];
    // SAFETY: `small` is writable for its length.
    let n = unsafe { runlog_last_error(small.as_mut_ptr(), small.len()) };
    assert_eq!(n, "closed".len());
    // SAFETY: NUL-terminated by `runlog_last_error`.
    assert_eq!(unsafe { CStr::from_ptr(small.as_ptr()) }, c"clo");
    // SAFETY: NULL with length 0 asks for the length only.
    assert_eq!(unsafe { runlog_last_error(ptr::null_mut(), 0) }, 6);
}

/// Each log call checks its arguments in the host's order (handle, an
/// `_at` call's step, name, value, record size), so that an input with two
/// faults gets the same status on both builds.
#[test]
fn checks_run_in_the_hosts_order() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let log = logger(4096);
    let none = ptr::null_mut();
    let bad = c"\xff".as_ptr();
    let list = [1.0f64, 2.0];
    // SAFETY: every pointer is NULL, or valid as its call's contract says
    // (`usize::MAX` elements are refused before any is read).
    unsafe {
        // A NULL handle first, whatever else is wrong.
        let null = ptr::null_mut();
        assert_eq!(
            runlog_log_f64(null, bad, 1.0, none),
            RUNLOG_STATUS_NULL_ARGUMENT
        );
        assert_eq!(
            runlog_log_i64(null, bad, 1, none),
            RUNLOG_STATUS_NULL_ARGUMENT
        );
        assert_eq!(
            runlog_log_f64_at(null, bad, 1.0, -1, none),
            RUNLOG_STATUS_NULL_ARGUMENT
        );
        assert_eq!(
            runlog_log_i64_at(null, bad, 1, -1, none),
            RUNLOG_STATUS_NULL_ARGUMENT
        );
        assert_eq!(
            runlog_log_str(null, bad, bad, none),
            RUNLOG_STATUS_NULL_ARGUMENT
        );
        let s = runlog_log_f64_list(null, bad, ptr::null(), 3, none);
        assert_eq!(s, RUNLOG_STATUS_NULL_ARGUMENT);
        // Then the step, before the name.
        let s = runlog_log_i64_at(log, ptr::null(), 1, -1, none);
        assert_eq!(s, RUNLOG_STATUS_INVALID_ARGUMENT);
        assert_eq!(
            runlog_log_i64_at(log, bad, 1, 0, none),
            RUNLOG_STATUS_INVALID_UTF8
        );
        // The name before the value.
        assert_eq!(
            runlog_log_str(log, c"".as_ptr(), ptr::null(), none),
            RUNLOG_STATUS_EMPTY_NAME
        );
        assert_eq!(
            runlog_log_str(log, c"s".as_ptr(), ptr::null(), none),
            RUNLOG_STATUS_NULL_ARGUMENT
        );
        let s = runlog_log_i64_list(log, bad, ptr::null(), 3, none);
        assert_eq!(s, RUNLOG_STATUS_INVALID_UTF8);
        let s = runlog_log_i64_list(log, c"l".as_ptr(), ptr::null(), 3, none);
        assert_eq!(s, RUNLOG_STATUS_NULL_ARGUMENT);
        // Values: a length that overflows, a list or string too long for a record.
        let s = runlog_log_f64_list(log, c"l".as_ptr(), list.as_ptr(), usize::MAX, none);
        assert_eq!(s, RUNLOG_STATUS_LIST_TOO_LONG);
        let long = vec![0.5f64; 4096];
        let s = runlog_log_f64_list(log, c"l".as_ptr(), long.as_ptr(), long.len(), none);
        assert_eq!(s, RUNLOG_STATUS_LIST_TOO_LONG);
        assert_eq!(last_error(), "list too long");
        let mut text = vec![b'x'; 4096];
        text.push(0);
        let s = runlog_log_str(log, c"s".as_ptr(), text.as_ptr().cast(), none);
        assert_eq!(s, RUNLOG_STATUS_VALUE_TOO_LONG);
        // And what passes every check arrives, with its ticket.
        let mut ticket = u64::MAX;
        let s = runlog_log_f64_list(log, c"l".as_ptr(), list.as_ptr(), 2, &mut ticket);
        assert_eq!((s, ticket), (RUNLOG_STATUS_OK, 1));
        let s = runlog_log_i64_at(log, c"i".as_ptr(), 7, 3, &mut ticket);
        assert_eq!((s, ticket), (RUNLOG_STATUS_OK, 2));
        let s = runlog_log_str(log, c"s".as_ptr(), c"v".as_ptr(), &mut ticket);
        assert_eq!((s, ticket), (RUNLOG_STATUS_OK, 3));
    }
    assert_eq!(
        drain(log),
        [
            "start",
            "metric Text(\"l\")",
            "metric Text(\"i\")",
            "metric Text(\"s\")"
        ]
        .map(String::from)
    );
}

/// An artifact as a drain sent it: id, path, length, content, CRC (0 until
/// its end record arrives).
type Artifact = (u32, String, u64, Vec<u8>, u32);

/// What a drain sends of artifacts, and how many log calls the stream
/// reports dropped.
fn drained_artifacts(log: *mut runlog_logger) -> (Vec<Artifact>, u32) {
    let (s, bytes) = drain_through(log, collect);
    assert_eq!(s, RUNLOG_STATUS_OK);
    let (mut out, mut dropped) = (Vec::new(), 0);
    FrameDecoder::new().feed(&bytes, |e| match e {
        Event::Record { record, .. } => match record {
            Record::ArtifactBegin { id, path, len } => {
                out.push((id, path.to_string(), len, Vec::new(), 0))
            }
            Record::ArtifactChunk { id, offset, data } => {
                let a = out.last_mut().expect("a chunk after its begin");
                assert_eq!((a.0, offset), (id, a.3.len() as u64), "chunks in order");
                a.3.extend_from_slice(data.0);
            }
            Record::ArtifactEnd { id, crc32 } => {
                let a = out.last_mut().expect("an end after its begin");
                assert_eq!(a.0, id);
                a.4 = crc32;
            }
            Record::Dropped { count } => dropped += count,
            _ => {}
        },
        other => panic!("the stream lost something: {other:?}"),
    });
    (out, dropped)
}

/// `runlog_upload` on a device: an artifact of several chunks and an empty
/// one arrive whole, with their CRCs and the end's ticket; a bad path or a
/// NULL pointer is refused with nothing sent; an artifact larger than the
/// ring is refused FULL and counted as a drop.
#[test]
fn uploads_arrive_whole_and_bad_ones_are_refused() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let log = logger(16384);
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut ticket = u64::MAX;
    // SAFETY: valid handle, NUL-terminated path, `data` readable.
    let s = unsafe {
        runlog_upload(
            log,
            c"model/w.bin".as_ptr(),
            data.as_ptr().cast(),
            data.len(),
            &mut ticket,
        )
    };
    assert_eq!(s, RUNLOG_STATUS_OK);
    // SAFETY: as above; NULL data with a zero length is empty content.
    let s = unsafe { runlog_upload(log, c"empty".as_ptr(), ptr::null(), 0, ptr::null_mut()) };
    assert_eq!(s, RUNLOG_STATUS_OK);
    // SAFETY: valid handle, NUL-terminated paths; NULL data is refused first.
    unsafe {
        let bad = runlog_upload(
            log,
            c"../x".as_ptr(),
            data.as_ptr().cast(),
            3,
            ptr::null_mut(),
        );
        assert_eq!(bad, RUNLOG_STATUS_UNSAFE_PATH);
        let bad = runlog_upload(log, c"x".as_ptr(), ptr::null(), 3, ptr::null_mut());
        assert_eq!(bad, RUNLOG_STATUS_NULL_ARGUMENT);
        // Every part of the path rule, through the device's first-fault scan.
        for path in [
            c"",
            c"/a",
            c"a\\b",
            c"a\nb",
            c"a\x7f",
            c"a\xc2\x85b",
            c"..",
            c"a/..",
            c"a//b",
            c"a/",
            c".",
            c"./a",
            c"a/./b",
            c"C:x",
            c"a/../b\\c",
        ] {
            let bad = runlog_upload(log, path.as_ptr(), data.as_ptr().cast(), 3, ptr::null_mut());
            assert_eq!(bad, RUNLOG_STATUS_UNSAFE_PATH, "{path:?}");
        }
    }
    let (got, dropped) = drained_artifacts(log);
    assert_eq!(dropped, 0);
    assert_eq!(got.len(), 2, "only the two good uploads");
    let crc = runlog_core::crc::crc32(&data);
    assert_eq!(got[0], (0, "model/w.bin".into(), 5000, data.clone(), crc));
    assert_eq!(
        got[1],
        (
            1,
            "empty".into(),
            0,
            Vec::new(),
            runlog_core::crc::crc32(&[])
        )
    );
    // The ticket is the end's: start, begin, the chunks, end.
    assert!(
        ticket > 3,
        "{ticket}: the artifact took more than one chunk"
    );
    // SAFETY: valid handle.
    let waited = unsafe { crate::logger::runlog_wait(log, ticket, 0) };
    assert_eq!(waited, RUNLOG_STATUS_OK, "drained: handed to the transport");

    // An artifact larger than a 1 KiB ring: FULL, one dropped log call.
    let small = logger(crate::device::runlog_static_min_len());
    // SAFETY: valid handle, NUL-terminated path, `data` readable.
    let s = unsafe {
        runlog_upload(
            small,
            c"big".as_ptr(),
            data.as_ptr().cast(),
            data.len(),
            ptr::null_mut(),
        )
    };
    assert_eq!(s, RUNLOG_STATUS_FULL);
    assert_eq!(last_error(), "ring full");
    let (got, _) = drained_artifacts(small);
    assert!(got.iter().all(|a| a.4 == 0), "no end record: {got:?}");
    // SAFETY: valid handle, NUL-terminated name.
    let s = unsafe { runlog_log_f64(small, c"after".as_ptr(), 1.0, ptr::null_mut()) };
    assert_eq!(s, RUNLOG_STATUS_OK);
    assert_eq!(
        drained_artifacts(small).1,
        1,
        "the refused upload is reported"
    );
}

/// What the next call of `trickle` returns: its count (1 byte written), or
/// a lie (`len + 1`, 0 or -1) that the drain must refuse.
static TRICKLE_LIE: Mutex<Option<isize>> = Mutex::new(None);

/// A transport that takes one byte per call (or lies once, see above).
unsafe extern "C" fn trickle(ctx: *mut c_void, data: *const u8, len: usize) -> isize {
    if let Some(lie) = TRICKLE_LIE.lock().unwrap().take() {
        return if lie == isize::MAX {
            len as isize + 1
        } else {
            lie
        };
    }
    // SAFETY: as in `collect`, for one of the `len` (>= 1) bytes.
    unsafe { collect(ctx, data, 1) }
}

/// `runlog_drain` through a transport that writes one byte per call gets
/// the whole stream; one that claims more bytes than it was given, or 0, or
/// an error, is TRANSPORT, and the next drain sends the frame again whole.
#[test]
fn a_drain_finishes_short_writes_and_refuses_lying_counts() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let drain_with = |log, lie: Option<isize>| {
        *TRICKLE_LIE.lock().unwrap() = lie;
        drain_through(log, trickle)
    };
    for lie in [isize::MAX, 0, -1] {
        let log = logger(4096);
        // SAFETY: valid handle, NUL-terminated name.
        let s = unsafe { runlog_log_i64(log, c"n".as_ptr(), 5, ptr::null_mut()) };
        assert_eq!(s, RUNLOG_STATUS_OK);
        let (s, _) = drain_with(log, Some(lie));
        assert_eq!(
            s, RUNLOG_STATUS_TRANSPORT,
            "a write function returning {lie}"
        );
        let (s, bytes) = drain_with(log, None);
        assert_eq!(s, RUNLOG_STATUS_OK);
        let mut records = Vec::new();
        FrameDecoder::new().feed(&bytes, |e| match e {
            Event::Record { record, .. } => records.push(format!("{record:?}")),
            other => panic!("the stream lost something: {other:?}"),
        });
        assert_eq!(records.len(), 2, "{records:?}");
        assert!(records[1].contains("I64(5)"), "{records:?}");
    }
}
