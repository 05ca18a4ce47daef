//! A small HTTP/1.1 client for smol, built on hyper's connection API.
//!
//! - [`HttpClient`]: `GET` with redirects (bounded), connect and idle-read timeouts, and a pool of
//!   idle connections per `scheme://host:port`. Works with HTTP/1.1 and HTTP/1.0 servers.
//! - [`Response`]: status, `Content-Length`, and the body as a stream of chunks; the connection
//!   returns to the pool when the body has been read to its end.
//! - [`HttpError`]: names the URL and the cause; [`HttpError::is_transient`] drives retries.
//!
//! The stack is `hyper::client::conn::http1` over `smol::net::TcpStream` (adapted by
//! `smol-hyper`), with `futures-rustls` (ring) and the `webpki-roots` trust anchors for `https`.

mod client;
mod connect;
mod error;
mod response;
mod target;
mod timeout;

pub use client::{HttpClient, HttpClientBuilder};
pub use error::{HttpError, HttpErrorKind, Phase};
pub use response::Response;

#[cfg(test)]
mod tests;
