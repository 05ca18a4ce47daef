//! Request and byte counters of the mock registry, as seen by the server.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use event_listener::Event;

/// A snapshot of the mock registry's counters since start or the last
/// [`reset_counts`](crate::registry::MockRegistry::reset_counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RegistryStats {
    /// Requests received (every method, every path, faults included).
    pub requests: u64,
    /// Distinct paths requested.
    pub paths: u64,
    /// Requests for a path that had been requested before (`requests - paths`).
    pub duplicate_requests: u64,
    /// Tarball body bytes sent, each piece counted as it is handed to the connection (heads and
    /// error bodies not included).
    pub bytes_sent: u64,
    /// Connections accepted.
    pub connections: u64,
    /// Requests answered with an injected fault.
    pub faults: u64,
    /// Responses being produced right now (a gauge, not reset).
    pub active_responses: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    per_path: Mutex<HashMap<String, u64>>,
    requests: AtomicU64,
    bytes_sent: AtomicU64,
    connections: AtomicU64,
    faults: AtomicU64,
    active: AtomicU64,
    idle: Event,
    auth_accepted: AtomicU64,
    auth_rejected: AtomicU64,
}

/// Requests checked against a required `Authorization` header, since start or the last reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthCounts {
    /// Requests that carried the expected header.
    pub accepted: u64,
    /// Requests answered 401 (no header or a wrong one).
    pub rejected: u64,
}

impl Counters {
    pub(crate) fn request(&self, path: &str) {
        let mut map = self.per_path.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(path.to_owned()).or_default() += 1;
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sent(&self, bytes: usize) {
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn fault(&self) {
        self.faults.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn auth(&self, accepted: bool) {
        let counter = if accepted {
            &self.auth_accepted
        } else {
            &self.auth_rejected
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn auth_counts(&self) -> AuthCounts {
        AuthCounts {
            accepted: self.auth_accepted.load(Ordering::Relaxed),
            rejected: self.auth_rejected.load(Ordering::Relaxed),
        }
    }

    /// Count a response as active until the guard drops.
    pub(crate) fn active(&self) -> ActiveGuard<'_> {
        self.begin_active();
        ActiveGuard(self)
    }

    pub(crate) fn requests_for(&self, path: &str) -> u64 {
        let map = self.per_path.lock().unwrap_or_else(|e| e.into_inner());
        map.get(path).copied().unwrap_or(0)
    }

    pub(crate) fn duplicated(&self) -> Vec<(String, u64)> {
        let map = self.per_path.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = map
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(p, n)| (p.clone(), *n))
            .collect();
        out.sort();
        out
    }

    pub(crate) fn snapshot(&self) -> RegistryStats {
        let map = self.per_path.lock().unwrap_or_else(|e| e.into_inner());
        let requests = self.requests.load(Ordering::Relaxed);
        let paths = map.len() as u64;
        RegistryStats {
            requests,
            paths,
            duplicate_requests: requests.saturating_sub(paths),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
            faults: self.faults.load(Ordering::Relaxed),
            active_responses: self.active.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn reset(&self) {
        let mut map = self.per_path.lock().unwrap_or_else(|e| e.into_inner());
        map.clear();
        self.requests.store(0, Ordering::Relaxed);
        self.bytes_sent.store(0, Ordering::Relaxed);
        self.connections.store(0, Ordering::Relaxed);
        self.faults.store(0, Ordering::Relaxed);
        self.auth_accepted.store(0, Ordering::Relaxed);
        self.auth_rejected.store(0, Ordering::Relaxed);
    }

    /// Resolves once no response is being produced.
    pub(crate) async fn idle(&self) {
        loop {
            if self.active.load(Ordering::SeqCst) == 0 {
                return;
            }
            let listener = self.idle.listen();
            if self.active.load(Ordering::SeqCst) == 0 {
                return;
            }
            listener.await;
        }
    }
}

/// Marks one response as active.
pub(crate) struct ActiveGuard<'a>(&'a Counters);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.end_active();
    }
}

impl Counters {
    /// Counts a response as active until [`Counters::end_active`].
    pub(crate) fn begin_active(&self) {
        self.active.fetch_add(1, Ordering::SeqCst);
    }

    /// Ends what [`Counters::begin_active`] began.
    pub(crate) fn end_active(&self) {
        if self.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify(usize::MAX);
        }
    }
}
