//! What the client keeps per `scheme://host:port`: its protocol once known, the shared HTTP/2
//! connection or the idle HTTP/1.1 ones, the gate that serializes the first connection, and the
//! breaker.

use std::sync::Mutex;

use async_lock::{Mutex as AsyncMutex, MutexGuard};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::client::conn::{http1, http2};

use super::breaker::Breaker;
use super::connect::Sender;

/// The protocol an origin speaks, as far as the client knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    /// No connection finished its handshake yet (TLS may still negotiate `h2`).
    Unknown,
    /// HTTP/1.1: one request per connection at a time; connections open in parallel.
    H1,
    /// HTTP/2: one connection carries every request.
    H2,
}

#[derive(Default)]
struct Conns {
    /// The shared HTTP/2 connection and its number.
    h2: Option<(u64, http2::SendRequest<Empty<Bytes>>)>,
    /// Numbers the HTTP/2 connections opened so far.
    opened_h2: u64,
    idle: Vec<http1::SendRequest<Empty<Bytes>>>,
}

/// One origin's connections.
pub(crate) struct Origin {
    /// `scheme://host:port`.
    pub(crate) key: String,
    pub(crate) breaker: Breaker,
    proto: Mutex<Proto>,
    conns: Mutex<Conns>,
    /// Held while opening a connection whose protocol is not known to be HTTP/1.1, so that many
    /// requests at once open one connection (then share it if it speaks HTTP/2) instead of each
    /// doing its own TCP and TLS handshakes.
    gate: AsyncMutex<()>,
    max_idle: usize,
}

impl Origin {
    /// `proto` is [`Proto::H1`] when HTTP/2 is impossible (plain `http`, or forced HTTP/1.1).
    pub(crate) fn new(key: String, proto: Proto, max_idle: usize) -> Origin {
        Origin {
            key,
            breaker: Breaker::default(),
            proto: Mutex::new(proto),
            conns: Mutex::new(Conns::default()),
            gate: AsyncMutex::new(()),
            max_idle,
        }
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, Conns> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn proto(&self) -> Proto {
        *self.proto.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the gate (see the field's doc). Cancel-safe.
    pub(crate) async fn gate(&self) -> MutexGuard<'_, ()> {
        self.gate.lock().await
    }

    /// A connection to send on without connecting: the live HTTP/2 one, else an idle HTTP/1.1
    /// one (taken out of the pool).
    pub(crate) fn reuse(&self) -> Option<Sender> {
        let mut conns = self.conns();
        if let Some((n, h2)) = &conns.h2 {
            if !h2.is_closed() {
                return Some(Sender::H2(h2.clone(), *n));
            }
            conns.h2 = None;
        }
        while let Some(h1) = conns.idle.pop() {
            if !h1.is_closed() {
                return Some(Sender::H1(h1));
            }
        }
        None
    }

    /// Whether a connection is open and usable without connecting.
    pub(crate) fn has_connection(&self) -> bool {
        let mut conns = self.conns();
        conns.idle.retain(|s| !s.is_closed());
        conns.h2.as_ref().is_some_and(|(_, s)| !s.is_closed()) || !conns.idle.is_empty()
    }

    /// Records a newly opened connection: its protocol becomes the origin's, and an HTTP/2 one
    /// gets a number and is shared from now on (replacing the previous one).
    pub(crate) fn opened(&self, sender: &mut Sender) {
        let proto = match sender {
            Sender::H1(_) => Proto::H1,
            Sender::H2(s, n) => {
                let mut conns = self.conns();
                conns.opened_h2 += 1;
                *n = conns.opened_h2;
                conns.h2 = Some((*n, s.clone()));
                Proto::H2
            }
        };
        *self.proto.lock().unwrap_or_else(|e| e.into_inner()) = proto;
    }

    /// Forgets HTTP/2 connection number `n` (it refused a new request: closed, or going away);
    /// a newer one that replaced it stays.
    pub(crate) fn drop_h2(&self, n: u64) {
        let mut conns = self.conns();
        if conns.h2.as_ref().is_some_and(|(current, _)| *current == n) {
            conns.h2 = None;
        }
    }

    /// Returns an HTTP/1.1 connection whose response was read to its end.
    pub(crate) fn put_idle(&self, sender: http1::SendRequest<Empty<Bytes>>) {
        if sender.is_closed() {
            return;
        }
        let mut conns = self.conns();
        conns.idle.retain(|s| !s.is_closed());
        if conns.idle.len() < self.max_idle {
            conns.idle.push(sender);
        }
    }

    /// Idle HTTP/1.1 connections.
    pub(crate) fn idle(&self) -> usize {
        self.conns().idle.len()
    }
}
