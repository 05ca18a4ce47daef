//! What the client keeps per `scheme://host:port`: its protocol once known, its HTTP/2
//! connections (each shared up to the server's stream limit) or idle HTTP/1.1 ones, the gate
//! that serializes opening connections while that is useful, and the breaker.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    /// HTTP/2: a connection carries requests up to the server's stream limit.
    H2,
}

/// A request's place on an HTTP/2 connection, given back when dropped.
#[derive(Debug)]
pub(crate) struct StreamSlot(Arc<AtomicUsize>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The sending half of an HTTP/2 connection, with what the origin needs to share it.
pub(crate) struct H2Sender {
    pub(crate) send: http2::SendRequest<Empty<Bytes>>,
    /// The connection's number in its origin (0 until [`Origin::opened`]).
    pub(crate) n: u64,
    /// The server's `SETTINGS_MAX_CONCURRENT_STREAMS`, kept current by the connection's task.
    pub(crate) limit: Arc<AtomicUsize>,
    /// Requests on the connection whose response is not done.
    in_flight: Arc<AtomicUsize>,
    /// This request's place (`None` while the sender sits in the origin).
    pub(crate) slot: Option<StreamSlot>,
}

impl H2Sender {
    pub(crate) fn new(send: http2::SendRequest<Empty<Bytes>>, limit: Arc<AtomicUsize>) -> Self {
        H2Sender {
            send,
            n: 0,
            limit,
            in_flight: Arc::new(AtomicUsize::new(0)),
            slot: None,
        }
    }

    /// A copy holding a place on the connection, if it has one free.
    fn reserve(&self) -> Option<H2Sender> {
        let limit = self.limit.load(Ordering::Acquire).max(1);
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= limit {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(H2Sender {
            send: self.send.clone(),
            n: self.n,
            limit: self.limit.clone(),
            in_flight: self.in_flight.clone(),
            slot: Some(StreamSlot(self.in_flight.clone())),
        })
    }
}

#[derive(Default)]
struct Conns {
    /// The open HTTP/2 connections (one, unless the server's stream limit was reached).
    h2: Vec<H2Sender>,
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

    /// A connection to send on without connecting: a place on an open HTTP/2 one below the
    /// server's stream limit, else an idle HTTP/1.1 one (taken out of the pool).
    pub(crate) fn reuse(&self) -> Option<Sender> {
        let mut conns = self.conns();
        conns.h2.retain(|c| !c.send.is_closed());
        if let Some(h2) = conns.h2.iter().find_map(H2Sender::reserve) {
            return Some(Sender::H2(h2));
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
        conns.h2.retain(|c| !c.send.is_closed());
        !conns.h2.is_empty() || !conns.idle.is_empty()
    }

    /// Records a newly opened connection: its protocol becomes the origin's, and an HTTP/2 one
    /// gets a number and is shared from now on (the caller's request holding one place on it).
    pub(crate) fn opened(&self, sender: &mut Sender) {
        let proto = match sender {
            Sender::H1(_) => Proto::H1,
            Sender::H2(h2) => {
                let mut conns = self.conns();
                conns.opened_h2 += 1;
                h2.n = conns.opened_h2;
                let shared = H2Sender {
                    send: h2.send.clone(),
                    n: h2.n,
                    limit: h2.limit.clone(),
                    in_flight: h2.in_flight.clone(),
                    slot: None,
                };
                h2.in_flight.fetch_add(1, Ordering::AcqRel);
                h2.slot = Some(StreamSlot(h2.in_flight.clone()));
                conns.h2.push(shared);
                Proto::H2
            }
        };
        *self.proto.lock().unwrap_or_else(|e| e.into_inner()) = proto;
    }

    /// Forgets HTTP/2 connection number `n` (it refused a new request: closed, or going away).
    pub(crate) fn drop_h2(&self, n: u64) {
        self.conns().h2.retain(|c| c.n != n);
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
