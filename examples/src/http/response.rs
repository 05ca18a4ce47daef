//! [`Response`]: status, headers and a streaming body that hands its connection back to the pool.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::{Bytes, Incoming};

use http_body_util::Empty;
use hyper::client::conn::http1;

use super::error::{HttpError, HttpErrorKind, Phase, from_hyper};
use super::origin::{Origin, StreamSlot};
use super::timeout::timeout;

/// Bodies of redirects and error statuses up to this size are read to keep the connection.
const DISCARD_LIMIT: u64 = 64 * 1024;

/// A response whose headers have arrived; the body is read piece by piece.
///
/// An HTTP/1.1 connection goes back to the client's pool when the body has been read to its
/// end; dropping a response earlier closes that connection (over HTTP/2 it resets the stream).
pub struct Response {
    url: String,
    status: u16,
    http2: bool,
    headers: hyper::HeaderMap,
    content_length: Option<u64>,
    received: u64,
    body: Incoming,
    done: bool,
    read_timeout: Duration,
    release: Option<Release>,
    /// The place on an HTTP/2 connection, freed when the body is done.
    slot: Option<StreamSlot>,
}

/// What returns an HTTP/1.1 connection to its origin's pool once its response body is complete.
pub(crate) struct Release {
    pub(crate) origin: Arc<Origin>,
    pub(crate) sender: http1::SendRequest<Empty<Bytes>>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("url", &self.url)
            .field("status", &self.status)
            .field("content_length", &self.content_length)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl Response {
    pub(crate) fn new(
        url: String,
        resp: hyper::Response<Incoming>,
        read_timeout: Duration,
        release: Option<Release>,
    ) -> Response {
        let (parts, body) = resp.into_parts();
        let content_length = parts
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        Response {
            url,
            status: parts.status.as_u16(),
            http2: parts.version == hyper::Version::HTTP_2,
            headers: parts.headers,
            content_length,
            received: 0,
            body,
            done: false,
            read_timeout,
            release,
            slot: None,
        }
    }

    /// Keeps `slot` until the body is done (or the response dropped).
    pub(crate) fn holding(mut self, slot: Option<StreamSlot>) -> Response {
        self.slot = slot;
        self
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the response came over HTTP/2 (else HTTP/1.x).
    pub fn is_http2(&self) -> bool {
        self.http2
    }

    /// The URL that answered (the last one after redirects).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `Content-Length` header, if the server sent one.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// A header's value, if present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Body bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The next piece of the body, or `None` at its end.
    ///
    /// Fails with [`HttpErrorKind::Timeout`] when nothing arrives within the read timeout,
    /// [`HttpErrorKind::Truncated`] when the body ends short of `Content-Length`, and
    /// [`HttpErrorKind::Reset`] when the connection breaks.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, HttpError> {
        while !self.done {
            let frame = timeout(self.read_timeout, self.body.frame()).await;
            if !matches!(frame, Some(Some(Ok(_)))) {
                // The stream is over, one way or another: its place is free again.
                self.slot = None;
            }
            match frame {
                None => {
                    self.done = true;
                    self.release = None;
                    let after = self.read_timeout;
                    let phase = Phase::Body;
                    return Err(self.error(HttpErrorKind::Timeout { phase, after }));
                }
                Some(None) => {
                    self.done = true;
                    if let Some(expected) = self.content_length
                        && self.received != expected
                    {
                        self.release = None;
                        let received = self.received;
                        let expected = Some(expected);
                        return Err(self.error(HttpErrorKind::Truncated { received, expected }));
                    }
                    if let Some(r) = self.release.take() {
                        r.origin.put_idle(r.sender);
                    }
                }
                Some(Some(Err(e))) => {
                    self.done = true;
                    self.release = None;
                    let kind = from_hyper(&e, self.received, self.content_length);
                    return Err(self.error(kind));
                }
                Some(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        self.received += data.len() as u64;
                        return Ok(Some(data));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Streams the whole body into `f`, one piece at a time; returns the number of bytes.
    ///
    /// Stops at the first error, from the body or from `f`.
    pub async fn for_each_chunk<E, F>(mut self, mut f: F) -> Result<u64, E>
    where
        E: From<HttpError>,
        F: FnMut(&[u8]) -> Result<(), E>,
    {
        while let Some(chunk) = self.chunk().await? {
            f(&chunk)?;
        }
        Ok(self.received)
    }

    /// Reads the whole body into memory.
    pub async fn bytes(mut self) -> Result<Vec<u8>, HttpError> {
        let mut out = Vec::with_capacity(self.content_length.unwrap_or(0).min(1 << 24) as usize);
        while let Some(chunk) = self.chunk().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Reads and drops a small body so the connection can be reused; a large or unknown-length
    /// body closes the connection instead.
    pub(crate) async fn discard(mut self) {
        if self.content_length.is_some_and(|n| n <= DISCARD_LIMIT) {
            while let Ok(Some(_)) = self.chunk().await {}
        }
    }

    fn error(&self, kind: HttpErrorKind) -> HttpError {
        HttpError::new(self.url.as_str(), kind)
    }
}
