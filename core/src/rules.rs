//! The rules for names that cross runlog's boundaries: artifact paths, run
//! ids and metric names, and the shape of a generated run id.
//!
//! Why one module: the C API, the drain (spool files, serial frames) and the
//! server all accept these names from outside, and a name one of them accepts
//! ends up where the others read it (a file in the store, a directory, a
//! row). Each rule lives here once and everybody calls it; a device on a UART
//! cannot store a file name that the C API would have refused.
//!
//! Every error carries a static message, as a `&'static CStr` so that a
//! device build can publish it with one pointer store (`runlog-ffi`'s
//! `error.rs`), and as a `&str` through [`core::fmt::Display`].

use core::ffi::CStr;
use core::fmt;

/// The longest metric name, in bytes.
pub const MAX_METRIC_NAME_LEN: usize = 250;
/// The longest artifact path, in bytes.
pub const MAX_ARTIFACT_PATH_LEN: usize = 255;
/// The longest run id, in bytes.
pub const MAX_RUN_ID_LEN: usize = 64;
/// The length of a generated run id: 32 lowercase hex digits, like MLflow's.
pub const GENERATED_RUN_ID_LEN: usize = 32;

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleError {
    /// A metric name is empty.
    MetricNameEmpty,
    /// A metric name is longer than [`MAX_METRIC_NAME_LEN`].
    MetricNameTooLong,
    /// An artifact path is empty.
    PathEmpty,
    /// An artifact path is longer than [`MAX_ARTIFACT_PATH_LEN`].
    PathTooLong,
    /// An artifact path starts with `/`.
    PathAbsolute,
    /// An artifact path contains `\`.
    PathBackslash,
    /// An artifact path contains a control character (NUL, newline, DEL...).
    PathControl,
    /// An artifact path has a `..` segment.
    PathDotDot,
    /// An artifact path has an empty or `.` segment (`a//b`, `./a`, `a/`).
    PathEmptySegment,
    /// An artifact path starts with a drive letter (`C:`).
    PathDrive,
    /// A run id is empty.
    RunIdEmpty,
    /// A run id is longer than [`MAX_RUN_ID_LEN`].
    RunIdTooLong,
    /// A run id has a byte outside `[A-Za-z0-9_.-]` or starts with `.`.
    RunIdCharacters,
}

impl RuleError {
    /// The message, as a static C string.
    pub const fn message_c(self) -> &'static CStr {
        match self {
            Self::MetricNameEmpty => c"metric name is empty",
            Self::MetricNameTooLong => c"metric name is longer than 250 bytes",
            Self::PathEmpty => c"artifact path is empty",
            Self::PathTooLong => c"artifact path is longer than 255 bytes",
            Self::PathAbsolute => c"artifact path is absolute; it must be relative",
            Self::PathBackslash => c"artifact path contains a backslash",
            Self::PathControl => c"artifact path contains a control character",
            Self::PathDotDot => c"artifact path contains a '..' segment",
            Self::PathEmptySegment => c"artifact path has an empty or '.' segment",
            Self::PathDrive => c"artifact path starts with a drive letter",
            Self::RunIdEmpty => c"run id is empty",
            Self::RunIdTooLong => c"run id is longer than 64 bytes",
            Self::RunIdCharacters => c"run id must be [A-Za-z0-9_.-] and must not start with '.'",
        }
    }

    /// The message.
    pub fn message(self) -> &'static str {
        // Every message above is ASCII.
        self.message_c().to_str().unwrap_or("invalid name")
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// A metric name: not empty, at most [`MAX_METRIC_NAME_LEN`] bytes (UTF-8 by type).
pub fn check_metric_name(name: &str) -> Result<(), RuleError> {
    if name.is_empty() {
        Err(RuleError::MetricNameEmpty)
    } else if name.len() > MAX_METRIC_NAME_LEN {
        Err(RuleError::MetricNameTooLong)
    } else {
        Ok(())
    }
}

/// An artifact path: relative, `/`-separated, not empty, at most
/// [`MAX_ARTIFACT_PATH_LEN`] bytes, no backslash, no control character, no
/// empty, `.` or `..` segment, no drive letter. Paths become file names in the
/// store, so anything a file system or a terminal could misread is refused.
pub fn check_artifact_path(path: &str) -> Result<(), RuleError> {
    // Byte-wise (no `char` decoding, no `str` comparisons): the same answers
    // as the `char`/`split` version it replaced (proptested below against
    // it). Two passes, the first one branch-free: on a host 1.3-2.7x as
    // fast as [`artifact_path_ok`]'s one pass on 200-250-byte paths
    // (`cargo bench -p runlog-core --bench path_rule`), so hosts keep it.
    let b = path.as_bytes();
    if b.is_empty() {
        return Err(RuleError::PathEmpty);
    }
    if b.len() > MAX_ARTIFACT_PATH_LEN {
        return Err(RuleError::PathTooLong);
    }
    if b[0] == b'/' {
        return Err(RuleError::PathAbsolute);
    }
    // One pass for both (`contains` would link `memchr`: +104 B); a
    // backslash is reported before a control character.
    let (mut backslash, mut control, mut prev) = (false, false, 0u8);
    for &c in b {
        backslash |= c == b'\\';
        control |= is_control(prev, c);
        prev = c;
    }
    if backslash {
        return Err(RuleError::PathBackslash);
    }
    if control {
        return Err(RuleError::PathControl);
    }
    for segment in b.split(|&c| c == b'/') {
        match segment {
            [b'.', b'.'] => return Err(RuleError::PathDotDot),
            [b'.'] | [] => return Err(RuleError::PathEmptySegment),
            _ => {}
        }
    }
    if b.get(1) == Some(&b':') {
        return Err(RuleError::PathDrive);
    }
    Ok(())
}

/// Whether [`check_artifact_path`] accepts `path`, without saying why not:
/// the same rule in one pass over the bytes and a final `/` (each segment
/// checked as it ends), stopping at the first fault. For a firmware that
/// reports only a status (the C ABI's device build): 98 B of code there
/// against 174 B for [`check_artifact_path`]. The tests below give both
/// every short path, every character and random paths, and compare them
/// with the `char`/`split` reference.
pub fn artifact_path_ok(path: &str) -> bool {
    let b = path.as_bytes();
    // An empty path and a leading `/` each end an empty segment below.
    if b.len() > MAX_ARTIFACT_PATH_LEN {
        return false;
    }
    // The segment so far: its length while it is only dots (0: empty), 3
    // or more once it cannot be `.` or `..` any more.
    let mut dots = 0u32;
    let mut prev = 0u8;
    let mut i = 0;
    loop {
        let c = match b.get(i) {
            Some(&c) => c,
            None => b'/',
        };
        if c == b'/' {
            if dots <= 2 {
                return false;
            }
            dots = 0;
        } else if c == b'.' {
            dots += 1;
        } else {
            dots = 3;
        }
        if c == b'\\' || is_control(prev, c) {
            return false;
        }
        prev = c;
        if i == b.len() {
            break;
        }
        i += 1;
    }
    b.get(1) != Some(&b':')
}

/// Whether byte `c`, after byte `prev` (0 at the start) of valid UTF-8, makes
/// a control character (Unicode category Cc, what `char::is_control` tests):
/// U+0000..=U+001F and U+007F (one byte each), or U+0080..=U+009F (0xC2 then
/// 0x80..=0x9F; in valid UTF-8 a 0xC2 byte always starts a character and the
/// next byte is a continuation).
fn is_control(prev: u8, c: u8) -> bool {
    c < 0x20 || c == 0x7f || (prev == 0xc2 && c < 0xa0)
}

/// A run id: 1..=[`MAX_RUN_ID_LEN`] bytes of `[A-Za-z0-9_.-]`, not starting
/// with `.` (run ids become directory names in the store).
pub fn check_run_id(id: &str) -> Result<(), RuleError> {
    // Both bounds in one unsigned compare (an empty id wraps round to the
    // top); which one failed is told apart only on the way out.
    if id.len().wrapping_sub(1) >= MAX_RUN_ID_LEN {
        return Err(if id.is_empty() {
            RuleError::RunIdEmpty
        } else {
            RuleError::RunIdTooLong
        });
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    if id.starts_with('.') || !id.bytes().all(allowed) {
        return Err(RuleError::RunIdCharacters);
    }
    Ok(())
}

/// A generated run id, held without allocating.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct GeneratedRunId([u8; GENERATED_RUN_ID_LEN]);

impl GeneratedRunId {
    /// The id: [`GENERATED_RUN_ID_LEN`] lowercase hex digits of `entropy`.
    /// Where the entropy comes from is the caller's (a host reads the OS's
    /// random source, see `host::new_run_id`).
    pub fn from_entropy(entropy: &[u8; 16]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; GENERATED_RUN_ID_LEN];
        for (pair, b) in out.chunks_exact_mut(2).zip(entropy) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 15)];
        }
        Self(out)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only hex digits are ever stored.
        core::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Debug for GeneratedRunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_paths() {
        for good in ["model/weights.bin", "a", "outputs/été.txt", "a.b/c-d_e"] {
            assert_eq!(check_artifact_path(good), Ok(()), "{good:?}");
            assert!(artifact_path_ok(good), "{good:?}");
        }
        let long = [b'a'; MAX_ARTIFACT_PATH_LEN + 1];
        let long = core::str::from_utf8(&long).unwrap();
        // The longest path there may be.
        assert_eq!(check_artifact_path(&long[1..]), Ok(()));
        assert!(artifact_path_ok(&long[1..]));
        for (bad, why) in [
            ("", RuleError::PathEmpty),
            (long, RuleError::PathTooLong),
            ("/etc/passwd", RuleError::PathAbsolute),
            ("a\\b", RuleError::PathBackslash),
            ("a\nb", RuleError::PathControl),
            ("a\0", RuleError::PathControl),
            ("a\x7f", RuleError::PathControl),
            ("a\u{85}b", RuleError::PathControl),
            ("../x", RuleError::PathDotDot),
            ("a/../b", RuleError::PathDotDot),
            ("a//b", RuleError::PathEmptySegment),
            ("a/", RuleError::PathEmptySegment),
            ("./a", RuleError::PathEmptySegment),
            ("C:x", RuleError::PathDrive),
        ] {
            assert_eq!(check_artifact_path(bad), Err(why), "{bad:?}");
            assert!(!artifact_path_ok(bad), "{bad:?}");
        }
    }

    /// The `char`/`split` version that `check_artifact_path` replaced.
    fn check_artifact_path_reference(path: &str) -> Result<(), RuleError> {
        if path.is_empty() {
            return Err(RuleError::PathEmpty);
        }
        if path.len() > MAX_ARTIFACT_PATH_LEN {
            return Err(RuleError::PathTooLong);
        }
        if path.starts_with('/') {
            return Err(RuleError::PathAbsolute);
        }
        if path.bytes().any(|b| b == b'\\') {
            return Err(RuleError::PathBackslash);
        }
        if path.chars().any(char::is_control) {
            return Err(RuleError::PathControl);
        }
        for segment in path.split('/') {
            match segment {
                ".." => return Err(RuleError::PathDotDot),
                "." | "" => return Err(RuleError::PathEmptySegment),
                _ => {}
            }
        }
        if path.as_bytes().get(1) == Some(&b':') {
            return Err(RuleError::PathDrive);
        }
        Ok(())
    }

    #[test]
    #[cfg_attr(miri, ignore)] // exhaustive over 1.1 M chars, safe code only: natively
    fn every_char_is_a_control_exactly_when_char_is_control_says_so() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let mut buf = [0; 4];
            let s = c.encode_utf8(&mut buf);
            let mut prev = 0;
            let control = s.as_bytes().iter().any(|&b| {
                let control = is_control(prev, b);
                prev = b;
                control
            });
            assert_eq!(control, c.is_control(), "{c:?}");
            // "a", the char, U+00A0 (0xC2 0xA0: not a control), "b".
            let mut framed = [0; 8];
            framed[0] = b'a';
            let n = 1 + s.len();
            framed[1..n].copy_from_slice(s.as_bytes());
            framed[n..n + 3].copy_from_slice("\u{a0}b".as_bytes());
            let framed = core::str::from_utf8(&framed[..n + 3]).unwrap();
            assert_eq!(
                check_artifact_path(framed),
                check_artifact_path_reference(framed),
                "{framed:?}"
            );
            assert_eq!(
                artifact_path_ok(framed),
                check_artifact_path_reference(framed).is_ok(),
                "{framed:?}"
            );
        }
    }

    /// Every path of up to 6 bytes over the bytes each part of the rule
    /// looks at, faults in every order: the same error as the reference.
    #[test]
    #[cfg_attr(miri, ignore)] // 56 k paths, safe code only: natively
    fn every_short_path_gets_the_reference_error() {
        const BYTES: &[u8] = b"a./\\\n:";
        let mut path = [0u8; 6];
        for len in 0..=path.len() {
            for mut n in 0..BYTES.len().pow(len as u32) {
                for b in &mut path[..len] {
                    *b = BYTES[n % BYTES.len()];
                    n /= BYTES.len();
                }
                let p = core::str::from_utf8(&path[..len]).unwrap();
                let want = check_artifact_path_reference(p);
                assert_eq!(check_artifact_path(p), want, "{p:?}");
                assert_eq!(artifact_path_ok(p), want.is_ok(), "{p:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        #[cfg_attr(miri, ignore)] // random search over safe code only: natively
        fn byte_wise_path_check_matches_the_char_version(
            path in "([a./:\\\\\\x00-\\x1f\\x7f\\u{80}-\\u{a0}é€😀]|\\.\\.|//){0,24}",
        ) {
            let want = check_artifact_path_reference(&path);
            proptest::prop_assert_eq!(check_artifact_path(&path), want);
            proptest::prop_assert_eq!(artifact_path_ok(&path), want.is_ok());
        }
    }

    #[test]
    fn run_ids() {
        for good in ["0123abcd", "run-1.2_x", "a"] {
            assert_eq!(check_run_id(good), Ok(()), "{good:?}");
        }
        assert_eq!(check_run_id(""), Err(RuleError::RunIdEmpty));
        let long = [b'a'; MAX_RUN_ID_LEN + 1];
        let long = core::str::from_utf8(&long).unwrap();
        assert_eq!(check_run_id(long), Err(RuleError::RunIdTooLong));
        // Both ends of the one range compare: 1 and MAX_RUN_ID_LEN bytes pass.
        assert_eq!(check_run_id(&long[..MAX_RUN_ID_LEN]), Ok(()));
        assert_eq!(check_run_id(&long[..1]), Ok(()));
        for bad in [".hidden", "a/b", "a b", "a\n", "ü"] {
            assert_eq!(
                check_run_id(bad),
                Err(RuleError::RunIdCharacters),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn metric_names() {
        assert_eq!(check_metric_name("loss"), Ok(()));
        assert_eq!(check_metric_name(""), Err(RuleError::MetricNameEmpty));
        let long = [b'a'; MAX_METRIC_NAME_LEN + 1];
        let long = core::str::from_utf8(&long).unwrap();
        assert_eq!(check_metric_name(long), Err(RuleError::MetricNameTooLong));
        assert_eq!(check_metric_name(&long[1..]), Ok(()));
    }

    #[test]
    fn generated_run_ids_are_hex_and_valid() {
        let id = GeneratedRunId::from_entropy(&[
            0x00, 0x01, 0x7f, 0x80, 0xff, 0xab, 0xcd, 0xef, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ]);
        assert_eq!(id.as_str(), "00017f80ffabcdef0000000000000010");
        assert_eq!(check_run_id(id.as_str()), Ok(()));
    }

    #[test]
    fn every_message_is_ascii() {
        let all = [
            RuleError::MetricNameEmpty,
            RuleError::MetricNameTooLong,
            RuleError::PathEmpty,
            RuleError::PathTooLong,
            RuleError::PathAbsolute,
            RuleError::PathBackslash,
            RuleError::PathControl,
            RuleError::PathDotDot,
            RuleError::PathEmptySegment,
            RuleError::PathDrive,
            RuleError::RunIdEmpty,
            RuleError::RunIdTooLong,
            RuleError::RunIdCharacters,
        ];
        for e in all {
            assert!(e.message().is_ascii() && !e.message().is_empty(), "{e:?}");
        }
    }
}
