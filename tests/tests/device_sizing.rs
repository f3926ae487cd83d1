//! The device logger's size limit for lists and strings, called through the
//! C ABI from Rust: a value is refused exactly when its record (sized by
//! `runlog_core::wire::metric_len`, the encoder's own writer) does not fit,
//! with LIST_TOO_LONG / VALUE_TOO_LONG and nothing written; every value that
//! was accepted arrives intact through `runlog_drain`.

use std::ptr;

use runlog::device::{runlog_init_static, runlog_static_min_len};
use runlog::logger::*;
use runlog::status::*;
use runlog_core::{Event, FrameDecoder, Name, Record, Value};
use runlog_tests::device::drain_device;

/// Drains everything and decodes it: (seq, value) of each metric named `name`.
fn drain_metrics(l: *mut runlog_logger, name: &str) -> Vec<(u64, Vec<u64>)> {
    let mut got = Vec::new();
    let mut decoder = FrameDecoder::new();
    decoder.feed(&drain_stream(l), |e| match e {
        Event::Record {
            seq,
            record: Record::Metric(m),
        } if m.name == Name::Text(name) => {
            let bits = match m.value {
                Value::F64List(v) => v.iter().map(f64::to_bits).collect(),
                Value::Str(s) => s.bytes().map(u64::from).collect(),
                other => panic!("unexpected value {other:?}"),
            };
            got.push((seq, bits));
        }
        Event::Record { .. } => {}
        other => panic!("stream damaged: {other:?}"),
    });
    got
}

/// Drains everything: the frames' bytes.
fn drain_stream(l: *mut runlog_logger) -> Vec<u8> {
    // SAFETY: every caller passes a logger whose buffer it still holds.
    let (statuses, stream) = unsafe { drain_device(l) };
    assert!(
        statuses.iter().all(|&s| s == RUNLOG_STATUS_OK),
        "drain failed: {statuses:?}"
    );
    stream
}

fn static_logger(buf: &mut Vec<u8>) -> *mut runlog_logger {
    buf.resize(runlog_static_min_len() + 256, 0);
    let mut l = ptr::null_mut();
    // SAFETY: the buffer outlives the logger (the test keeps it), NUL-terminated texts.
    let s = unsafe {
        runlog_init_static(
            buf.as_mut_ptr(),
            buf.len(),
            c"sizing".as_ptr(),
            ptr::null(),
            &mut l,
        )
    };
    assert_eq!(s, RUNLOG_STATUS_OK);
    l
}

/// Logs ever longer f64 lists, checking each arrives; the longest accepted.
fn longest_list(l: *mut runlog_logger) -> usize {
    let values: Vec<f64> = (0..1024).map(|i| f64::from(i) * 0.5 - 3.0).collect();
    let mut longest = None;
    for n in 0..values.len() {
        let mut ticket = u64::MAX;
        // SAFETY: valid logger, name, `n` readable values, ticket pointer.
        let s = unsafe { runlog_log_f64_list(l, c"cal".as_ptr(), values.as_ptr(), n, &mut ticket) };
        if s == RUNLOG_STATUS_LIST_TOO_LONG {
            assert_eq!(ticket, u64::MAX, "a refused call writes no ticket");
            longest = Some(n - 1);
            break;
        }
        // Not VALUE_TOO_LONG from the ring: the sizing must agree with the encoder.
        assert_eq!(s, RUNLOG_STATUS_OK, "list of {n}");
        // Keep the ring from filling: drain after every call.
        let got = drain_metrics(l, "cal");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, ticket);
        let want: Vec<u64> = values[..n].iter().map(|v| v.to_bits()).collect();
        assert_eq!(got[0].1, want, "list of {n} arrives bit for bit");
    }
    let longest = longest.expect("some list is too long for a minimal static ring");
    assert!(longest > 8, "only {longest} values fit");
    check_logger_still_works(l, &values);
    longest
}

fn check_logger_still_works(l: *mut runlog_logger, values: &[f64]) {
    // After the refusal the logger still works and nothing was written for it.
    let mut ticket = 0;
    // SAFETY: as above.
    let s = unsafe { runlog_log_f64_list(l, c"cal".as_ptr(), values.as_ptr(), 1, &mut ticket) };
    assert_eq!(s, RUNLOG_STATUS_OK);
    let got = drain_metrics(l, "cal");
    assert_eq!(got.len(), 1, "the refused list left no record");
    assert_eq!(got[0].0, ticket);
}

/// Logs ever longer strings, checking each arrives; the longest accepted.
fn longest_string(l: *mut runlog_logger) -> usize {
    let mut refused = None;
    for n in 0..4096usize {
        let text = std::ffi::CString::new("é".repeat(n / 2) + &"x".repeat(n % 2)).unwrap();
        let mut ticket = u64::MAX;
        // SAFETY: valid logger, name, value, ticket pointer.
        let s = unsafe { runlog_log_str(l, c"note".as_ptr(), text.as_ptr(), &mut ticket) };
        if s == RUNLOG_STATUS_VALUE_TOO_LONG {
            assert_eq!(ticket, u64::MAX, "a refused call writes no ticket");
            refused = Some(n);
            break;
        }
        assert_eq!(s, RUNLOG_STATUS_OK, "string of {n} bytes");
        let got = drain_metrics(l, "note");
        assert_eq!(got.len(), 1);
        let want: Vec<u64> = text.as_bytes().iter().map(|&b| u64::from(b)).collect();
        assert_eq!(got[0].1, want, "string of {n} bytes arrives intact");
    }
    let refused = refused.expect("some string is too long");
    assert!(refused > 16);
    refused - 1
}

#[test]
fn the_longest_list_that_fits_is_accepted_and_one_more_element_is_refused() {
    let mut buf = Vec::new();
    longest_list(static_logger(&mut buf));
}

#[test]
fn the_longest_string_that_fits_is_accepted_and_one_more_byte_is_refused() {
    let mut buf = Vec::new();
    longest_string(static_logger(&mut buf));
}

/// Bytes of a varint.
fn varint_len(v: usize) -> usize {
    let mut n = 1;
    let mut v = v >> 7;
    while v != 0 {
        n += 1;
        v >>= 7;
    }
    n
}

#[test]
fn lists_and_strings_share_one_exact_record_limit() {
    // Record lengths from the documented layout (docs/ARCHITECTURE.md), not
    // from the encoder: tag, head, name (length + bytes), value (length + bytes).
    let list_record = |n: usize| 2 + 1 + "cal".len() + varint_len(8 * n) + 8 * n;
    let str_record = |n: usize| 2 + 1 + "note".len() + varint_len(n) + n;
    let mut a = Vec::new();
    let mut b = Vec::new();
    let list = longest_list(static_logger(&mut a));
    let text = longest_string(static_logger(&mut b));
    // The longest string's record is the limit (strings step by one byte);
    // the longest list fits under it and one more element does not.
    let limit = str_record(text);
    assert!(
        list_record(list) <= limit && limit < list_record(list + 1),
        "list of {list} ({} B) and string of {text} ({limit} B) disagree on the limit",
        list_record(list)
    );
}

/// The two list calls share one body (`log_list`, told the element type):
/// each still refuses a length whose bytes overflow and a NULL array before
/// reading anything, and each list arrives as its own type, bit for bit.
#[test]
fn both_list_calls_check_their_arguments_and_keep_their_element_type() {
    let mut buf = Vec::new();
    let l = static_logger(&mut buf);
    let floats = [0.5, -0.0, f64::NAN, f64::MIN_POSITIVE];
    let ints = [i64::MIN, -1, 0, i64::MAX];
    let mut ticket = u64::MAX;
    for len in [usize::MAX, isize::MAX as usize / 8 + 1] {
        // SAFETY: the length is refused before the (short) arrays are read.
        let (f, i) = unsafe {
            (
                runlog_log_f64_list(l, c"cal".as_ptr(), floats.as_ptr(), len, &mut ticket),
                runlog_log_i64_list(l, c"cal".as_ptr(), ints.as_ptr(), len, &mut ticket),
            )
        };
        assert_eq!(
            (f, i),
            (RUNLOG_STATUS_LIST_TOO_LONG, RUNLOG_STATUS_LIST_TOO_LONG),
            "len {len}"
        );
    }
    // SAFETY: NULL arrays with a nonzero length are refused unread.
    let (f, i) = unsafe {
        (
            runlog_log_f64_list(l, c"cal".as_ptr(), ptr::null(), 2, &mut ticket),
            runlog_log_i64_list(l, c"cal".as_ptr(), ptr::null(), 2, &mut ticket),
        )
    };
    assert_eq!(
        (f, i),
        (RUNLOG_STATUS_NULL_ARGUMENT, RUNLOG_STATUS_NULL_ARGUMENT)
    );
    assert_eq!(ticket, u64::MAX, "a refused call writes no ticket");
    // SAFETY: valid logger, names, arrays of the given lengths, ticket pointer.
    let (f, i) = unsafe {
        (
            runlog_log_f64_list(
                l,
                c"cal".as_ptr(),
                floats.as_ptr(),
                floats.len(),
                &mut ticket,
            ),
            runlog_log_i64_list(l, c"cal".as_ptr(), ints.as_ptr(), ints.len(), &mut ticket),
        )
    };
    assert_eq!((f, i), (RUNLOG_STATUS_OK, RUNLOG_STATUS_OK));
    let (mut f64s, mut i64s, mut last) = (Vec::new(), Vec::new(), None);
    FrameDecoder::new().feed(&drain_stream(l), |e| match e {
        Event::Record {
            seq,
            record: Record::Metric(m),
        } if m.name == Name::Text("cal") => {
            match m.value {
                Value::F64List(v) => f64s.push(v.iter().map(f64::to_bits).collect::<Vec<_>>()),
                Value::I64List(v) => i64s.push(v.iter().collect::<Vec<_>>()),
                other => panic!("unexpected value {other:?}"),
            }
            last = Some(seq);
        }
        Event::Record { .. } => {}
        other => panic!("stream damaged: {other:?}"),
    });
    let want_f: Vec<u64> = floats.iter().map(|v| v.to_bits()).collect();
    assert_eq!(f64s, [want_f], "one f64 list, bit for bit");
    assert_eq!(i64s, [ints.to_vec()], "one i64 list, exact");
    assert_eq!(last, Some(ticket));
}
