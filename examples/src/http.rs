//! The HTTP client of `lockfetch fetch`, for smol, on hyper's connection API.
//!
//! - [`HttpClient`]: `GET` with redirects (bounded, credentials asked per hop), connect and
//!   idle-read timeouts, HTTP/2 by ALPN with the requests to an origin multiplexed on one
//!   connection up to the server's stream limit (past it, on another), HTTP/1.1 with a
//!   pool of idle connections per origin otherwise or with
//!   [`http1_only`](HttpClientBuilder::http1_only), `CONNECT` proxies ([`ProxySettings`]),
//!   trust ([`TlsSettings`]), one name look-up per host shared by concurrent connects and cached
//!   ([`Resolver`]), [`HttpClient::preconnect`], and a breaker per origin: causes every request
//!   would share (no such host, connections refused, an untrusted certificate) fail later
//!   requests at once with one [`Unreachable`] error.
//! - [`Response`]: status, headers and the body as a stream of chunks; an HTTP/1.1 connection
//!   returns to the pool when the body has been read to its end.
//! - [`HttpError`]: names the URL and the cause; [`HttpError::is_transient`] drives retries and
//!   [`HttpError::retry_after`] carries a server's `Retry-After`.
//!
//! The stack: `smol::net::TcpStream` → `CONNECT` tunnel (when proxied) → `futures-rustls`
//! (ring; bundled roots, the platform store, `SSL_CERT_FILE`/`SSL_CERT_DIR`,
//! `NODE_EXTRA_CA_CERTS`, extra CA files) → `hyper::client::conn::{http1, http2}` through
//! `smol-hyper`'s I/O adapter and timer.
//!
//! # Why our own pool and not `hyper-util`'s `Client`
//!
//! `hyper_util::client::legacy::Client` runs on smol too (`smol-hyper`'s executor and timer), has
//! a pool with HTTP/2 sharing built in and a `CONNECT` tunnel connector. We weighed it and kept
//! our own small pool (state per `scheme://host:port`) because, for this tool,
//! that needs less code of ours, not more:
//!
//! - With ALPN (HTTP/2 not known in advance) its pool lets every concurrent request open its own
//!   TCP and TLS connection and keeps one once `h2` is negotiated (a documented choice of
//!   hyper's pool). A fetch starts 16–64 downloads at once, and behind a TLS-inspecting proxy
//!   each handshake is costly; avoiding that fan-out there means a connector that holds
//!   connects back and waits for the pool, against the grain of its API. Here one gate per
//!   origin does it: while the protocol is unknown, one connection is opened and the others
//!   wait for it, then share it (`h2`) or open their own in parallel (HTTP/1.1).
//! - Its `Tunnel` works on hyper's I/O traits while TLS here is `futures-rustls` on futures
//!   I/O, so the tunnel would still be ours (a `CONNECT` request and a status line).
//! - There is no way to warm its pool before the first request ([`HttpClient::preconnect`]),
//!   and its errors are opaque where ours must tell a systemic cause from a passing one.
//!
//! What we keep writing is small: the per-origin state (which protocol, the shared `h2`
//! senders with a count of their open streams against the server's limit, idle HTTP/1.1
//! senders) and the retry of a request on a pooled connection that closed. hyper itself does
//! the framing, HTTP/2 multiplexing and flow control.

mod breaker;
mod builder;
mod client;
mod connect;
mod dns;
mod error;
mod origin;
mod proxy;
mod response;
mod retry_after;
mod settings;
mod target;
pub(crate) mod timeout;
mod tls;

pub use breaker::Unreachable;
pub use builder::HttpClientBuilder;
pub use client::HttpClient;
pub use dns::{LookupFuture, Resolver, SystemResolver};
pub use error::{HttpError, HttpErrorKind, Phase};
pub use response::Response;
pub use retry_after::{MAX_RETRY_AFTER, parse_retry_after};
pub use settings::{Credentials, EnvLookup, ProxySettings, TlsSettings, process_env};

#[cfg(test)]
mod tests;
