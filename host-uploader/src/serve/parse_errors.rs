//! Bodies for the errors hyper answers by itself.
//!
//! A request hyper cannot parse never reaches runlog's code: hyper writes a
//! bare head (`414 URI Too Long` for a target over 65,534 bytes, `431` for
//! headers over its buffer or more than [`super::listen`]'s header count,
//! `400` for a malformed request line or header) with `content-length: 0`,
//! then closes the connection. Its HTTP/1 builder has no setting for that
//! answer (hyper 1.x `Server::on_error`), so this wrapper around the socket
//! recognises such a head as hyper writes it and sends, in its place, the
//! same status with MLflow's JSON error body from [`ApiError`].
//!
//! Why it cannot catch one of runlog's own answers: every error runlog
//! writes has a JSON body, so its head never says `content-length: 0`, and
//! hyper writes a head together with its body in one write; this only
//! replaces a write that is exactly one head, status 400, 414 or 431,
//! with an empty body.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::error::ApiError;

/// A connection whose bare parse-error heads get MLflow-shaped bodies.
pub struct ErrorBodies<T> {
    inner: T,
    /// The answer being written in place of hyper's head: bytes, how many
    /// are written, and the length of the head it replaces.
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl<T> ErrorBodies<T> {
    /// Wraps a connection.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            replacing: None,
        }
    }
}

/// Longer than any head hyper writes for a request it could not parse (a
/// status line, `content-length: 0`, `date`; no user-supplied text).
const MAX_BARE_HEAD: usize = 256;

/// The answer to send instead of `head`, if `head` is hyper's bare answer
/// to a request it could not parse.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    // Every other write (bodies of megabytes included) leaves here after
    // two comparisons: hyper's bare error head is short and starts so.
    if head.len() > MAX_BARE_HEAD || !head.starts_with(b"HTTP/1.1 4") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let (status_line, _) = text.split_once("\r\n")?;
    let status: u16 = status_line
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()?;
    let empty = text
        .split("\r\n")
        .any(|l| l.eq_ignore_ascii_case("content-length: 0"));
    if !text.ends_with("\r\n\r\n") || text.matches("\r\n\r\n").count() != 1 || !empty {
        return None;
    }
    let err = match status {
        414 => ApiError::uri_too_long(),
        431 => ApiError::headers_too_large(),
        400 => ApiError::unparsable_request(),
        _ => return None,
    };
    let body = err.body();
    Some(
        format!(
            "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<T: AsyncWrite + Unpin> ErrorBodies<T> {
    /// Writes the replacement under way; ready with the replaced head's
    /// length once all of it is written.
    fn poll_replacing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        while let Some((bytes, written, _)) = self.replacing.as_mut() {
            if *written == bytes.len() {
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        let (_, _, replaced) = self.replacing.take().unwrap_or_default();
        Poll::Ready(Ok(replaced))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ErrorBodies<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ErrorBodies<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.replacing.is_none() {
            match replacement(buf) {
                Some(r) => self.replacing = Some((r, 0, buf.len())),
                None => return Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        self.poll_replacing(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.replacing.is_none() {
            // hyper's bare head is a single non-empty slice.
            let mut filled = bufs.iter().filter(|b| !b.is_empty());
            let only = match (filled.next(), filled.next()) {
                (Some(b), None) => replacement(b).map(|r| (r, b.len())),
                _ => None,
            };
            match only {
                Some((r, len)) => self.replacing = Some((r, 0, len)),
                None => return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs),
            }
        }
        self.poll_replacing(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bare_parse_error_heads_are_replaced() {
        let bare = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let r = String::from_utf8(replacement(bare).unwrap()).unwrap();
        assert!(r.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{r}");
        assert!(r.ends_with(&ApiError::uri_too_long().body()), "{r}");
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 10\r\n\r\n";
        assert_eq!(
            replacement(ours),
            None,
            "a head with a body is runlog's own"
        );
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(replacement(ok), None);
        let with_body = b"HTTP/1.1 431 x\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(replacement(with_body), None, "more than one head");
    }
}
