//! Percent-encoding, the one rule for both sides: the client encodes path
//! segments and query values with [`percent_encode`]; the server decodes
//! request paths and query strings with [`percent_decode`].

/// Decodes `%XX` escapes (and `+` as space when `plus` is set); `None` if
/// the result is not UTF-8 or an escape is malformed.
pub fn percent_decode(s: &str, plus: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes a path segment or query value.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_client_encodes_the_server_decodes() {
        for s in ["a b/c", "100%", "é+ü?&=#", "", "plain-._~"] {
            assert_eq!(percent_decode(&percent_encode(s), true).as_deref(), Some(s));
            assert_eq!(
                percent_decode(&percent_encode(s), false).as_deref(),
                Some(s)
            );
        }
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
        assert_eq!(percent_decode("a+b", true).as_deref(), Some("a b"));
        assert_eq!(percent_decode("a+b", false).as_deref(), Some("a+b"));
        for bad in ["%", "%4", "%zz", "%ff"] {
            assert_eq!(percent_decode(bad, false), None, "{bad:?}");
        }
    }
}
