//! A shaped link for the byte-budget bench: every connection draws its chunks from one shared
//! link of fixed bandwidth, in the order they ask, driven by the runtime's timer.
//!
//! A chunk of `n` bytes occupies the link for `n / rate` seconds, starting when the link is free
//! and the connection's previous chunk has arrived. A connection woken late by the timer does not
//! leave the link idle: its next chunk may start up to [`SLACK`] in the past, as if the kernel had
//! buffered it meanwhile (a receive window of `SLACK × rate`). There is no per-connection limit, no
//! RTT and no TCP slow start: one connection can fill the link, so this models a fast registry
//! close by (or a loopback mirror), not the internet.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How far in the past a late connection's next chunk may start.
pub const SLACK: Duration = Duration::from_millis(5);

/// The shared link.
#[derive(Debug)]
pub struct Link {
    bytes_per_sec: f64,
    free_at: Mutex<Option<Instant>>,
}

/// One connection's position on the link: when its last chunk arrived.
#[derive(Debug, Default)]
pub struct Connection {
    last: Option<Instant>,
}

impl Link {
    /// A link of `bytes_per_sec`.
    pub fn new(bytes_per_sec: f64) -> Self {
        Link {
            bytes_per_sec,
            free_at: Mutex::new(None),
        }
    }

    /// Waits until the next `bytes` of `conn` have arrived.
    pub async fn receive(&self, conn: &mut Connection, bytes: usize) {
        let now = Instant::now();
        let earliest = conn.last.map_or(now, |last| last.max(now - SLACK));
        let arrives = {
            let mut free_at = self.free_at.lock().unwrap_or_else(|p| p.into_inner());
            let start = free_at.map_or(earliest, |free| free.max(earliest));
            let end = start + Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec);
            *free_at = Some(end);
            end
        };
        conn.last = Some(arrives);
        tokio::time::sleep_until(arrives).await;
    }
}
