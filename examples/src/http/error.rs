//! [`HttpError`]: what went wrong with one request, naming the URL.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::breaker::Unreachable;

/// A failed HTTP request: the URL it was for and the cause.
///
/// The message reads like `GET http://host/a.tgz: HTTP status 503 Service Unavailable`.
/// [`HttpError::is_transient`] tells whether trying again may help.
#[derive(Debug)]
pub struct HttpError {
    url: String,
    kind: HttpErrorKind,
    retry_after: Option<Duration>,
}

/// The cause of an [`HttpError`].
#[derive(Debug)]
#[non_exhaustive]
pub enum HttpErrorKind {
    /// The URL could not be parsed or uses an unsupported scheme.
    InvalidUrl(String),
    /// The TCP connection failed (every address of the host was tried).
    Connect(io::Error),
    /// The name look-up failed for a reason that may pass (a name that does not exist makes the
    /// origin [`Unreachable`](HttpErrorKind::Unreachable) instead).
    Dns {
        /// The name looked up.
        host: String,
        /// What the resolver said.
        message: String,
    },
    /// The proxy refused the tunnel or broke the connection.
    Proxy {
        /// The status of the proxy's answer to `CONNECT`, if it answered.
        status: Option<u16>,
        /// What happened, naming the proxy (never its credentials).
        message: String,
    },
    /// The origin cannot be reached for a reason that every request to it shares (the name does
    /// not exist, connections are refused, the certificate is not trusted, the trust settings
    /// are unusable). Every request to the origin fails with this same error, at once.
    Unreachable(Arc<Unreachable>),
    /// The TLS handshake failed (e.g. an unknown certificate authority).
    Tls(io::Error),
    /// The server answered with a status that is not a success (after redirects).
    Status(u16),
    /// The connection broke before the response was complete.
    Reset {
        /// Body bytes received before the break.
        received: u64,
        /// What hyper or the socket reported.
        cause: String,
    },
    /// The body ended before `Content-Length` bytes arrived.
    Truncated {
        /// Body bytes received.
        received: u64,
        /// The announced `Content-Length`, if any.
        expected: Option<u64>,
    },
    /// Nothing arrived for too long.
    Timeout {
        /// What the client was waiting for.
        phase: Phase,
        /// How long it waited.
        after: Duration,
    },
    /// More redirects than the client follows.
    TooManyRedirects(usize),
    /// The server spoke something that is not HTTP/1.
    Protocol(String),
}

/// The step of a request during which a [`HttpErrorKind::Timeout`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Opening the TCP connection (name look-up included).
    Connect,
    /// The TLS handshake.
    TlsHandshake,
    /// Waiting for the status line and headers.
    Headers,
    /// Waiting for the next piece of the body.
    Body,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connecting",
            Phase::TlsHandshake => "the TLS handshake",
            Phase::Headers => "response headers",
            Phase::Body => "response body data",
        })
    }
}

impl HttpError {
    /// Creates an error for `url`.
    pub fn new(url: impl Into<String>, kind: HttpErrorKind) -> Self {
        HttpError {
            url: url.into(),
            kind,
            retry_after: None,
        }
    }

    /// Attaches the delay a server asked for with `Retry-After`.
    pub fn with_retry_after(mut self, delay: Option<Duration>) -> Self {
        self.retry_after = delay;
        self
    }

    /// The delay the server asked for with `Retry-After` (on a 429 or 503), capped; see
    /// [`parse_retry_after`](super::parse_retry_after).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The URL of the request that failed (after redirects, the last one).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The cause.
    pub fn kind(&self) -> &HttpErrorKind {
        &self.kind
    }

    /// The HTTP status, if the failure is a non-success status.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            HttpErrorKind::Status(s) => Some(s),
            _ => None,
        }
    }

    /// Whether trying the same request again may succeed: 5xx, 408, 429, connection failures,
    /// resets, truncated bodies, timeouts, passing look-up failures and a proxy's 5xx are
    /// transient; 4xx, bad URLs, certificate errors, redirect loops and an
    /// [`Unreachable`](HttpErrorKind::Unreachable) origin are not.
    pub fn is_transient(&self) -> bool {
        match &self.kind {
            HttpErrorKind::Status(s) => *s >= 500 || *s == 408 || *s == 429,
            HttpErrorKind::Connect(_)
            | HttpErrorKind::Reset { .. }
            | HttpErrorKind::Truncated { .. }
            | HttpErrorKind::Timeout { .. }
            | HttpErrorKind::Dns { .. } => true,
            HttpErrorKind::Proxy { status, .. } => status.is_none_or(|s| s >= 500),
            // rustls reports certificate and protocol problems as `InvalidData`.
            HttpErrorKind::Tls(e) => e.kind() != io::ErrorKind::InvalidData,
            HttpErrorKind::InvalidUrl(_)
            | HttpErrorKind::TooManyRedirects(_)
            | HttpErrorKind::Protocol(_)
            | HttpErrorKind::Unreachable(_) => false,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let HttpErrorKind::Unreachable(u) = &self.kind {
            // The same text for every request to the origin, so reports can group it.
            return u.fmt(f);
        }
        write!(f, "GET {}: ", self.url)?;
        match &self.kind {
            HttpErrorKind::Unreachable(_) => Ok(()),
            HttpErrorKind::Dns { host, message } => {
                write!(f, "name look-up of {host} failed: {message}")
            }
            HttpErrorKind::Proxy { message, .. } => f.write_str(message),
            HttpErrorKind::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            HttpErrorKind::Connect(e) => write!(f, "connect failed: {e}"),
            HttpErrorKind::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            HttpErrorKind::Status(s) => {
                let reason = hyper::StatusCode::from_u16(*s)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                write!(f, "HTTP status {s} {reason}")?;
                if let Some(d) = self.retry_after {
                    write!(f, " (Retry-After: {} s)", d.as_secs())?;
                }
                Ok(())
            }
            HttpErrorKind::Reset { received, cause } => {
                write!(f, "connection reset after {received} body bytes ({cause})")
            }
            HttpErrorKind::Truncated { received, expected } => match expected {
                Some(n) => write!(
                    f,
                    "body truncated: received {received} of {n} bytes (Content-Length)"
                ),
                None => write!(f, "body truncated after {received} bytes"),
            },
            HttpErrorKind::Timeout { phase, after } => {
                write!(f, "timed out after {after:?} waiting for {phase}")
            }
            HttpErrorKind::TooManyRedirects(n) => write!(f, "more than {n} redirects"),
            HttpErrorKind::Protocol(why) => write!(f, "protocol error: {why}"),
        }
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            HttpErrorKind::Connect(e) | HttpErrorKind::Tls(e) => Some(e),
            _ => None,
        }
    }
}

/// Maps a hyper error seen while reading a body (or waiting for headers) to a cause: an early
/// end of file (clean close) is a truncation, anything else that breaks the connection is a reset.
pub(crate) fn from_hyper(
    err: &hyper::Error,
    received: u64,
    expected: Option<u64>,
) -> HttpErrorKind {
    if err.is_parse() {
        return HttpErrorKind::Protocol(error_chain(err));
    }
    let eof = err.is_incomplete_message() || io_kind(err) == Some(io::ErrorKind::UnexpectedEof);
    if eof && (received > 0 || expected.is_some_and(|n| n > 0)) {
        return HttpErrorKind::Truncated { received, expected };
    }
    HttpErrorKind::Reset {
        received,
        cause: error_chain(err),
    }
}

/// The kind of the first `io::Error` in the source chain of `err`.
fn io_kind(err: &(dyn std::error::Error + 'static)) -> Option<io::ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(s) = source {
        if let Some(e) = s.downcast_ref::<io::Error>() {
            return Some(e.kind());
        }
        source = s.source();
    }
    None
}

/// `err` and its sources, joined with `: `.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
