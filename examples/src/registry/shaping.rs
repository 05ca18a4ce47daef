//! Traffic shaping: per-request latency and one bandwidth cap shared by every connection.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use smol::Timer;

/// How the mock registry shapes its traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shaping {
    /// Delay before the response head of every request (one round trip: request out, first byte
    /// back).
    pub latency: Duration,
    /// Delay before the first request of a new connection is read (the TCP handshake).
    pub connect_latency: Duration,
    /// Bytes per second shared by all response bodies at once; `None` is unlimited.
    pub bandwidth: Option<u64>,
    /// Body bytes sent per write (and per bandwidth reservation).
    pub chunk: usize,
}

impl Default for Shaping {
    fn default() -> Self {
        Shaping::none()
    }
}

impl Shaping {
    /// No latency, no bandwidth cap, 16 KiB chunks.
    pub const fn none() -> Shaping {
        Shaping {
            latency: Duration::ZERO,
            connect_latency: Duration::ZERO,
            bandwidth: None,
            chunk: 16 * 1024,
        }
    }

    /// A WAN-like link: `rtt` before every response and before a new connection's first request,
    /// and `mbit` megabits (10⁶ bits) per second shared by every response.
    pub fn wan(rtt: Duration, mbit: f64) -> Shaping {
        Shaping {
            latency: rtt,
            connect_latency: rtt,
            bandwidth: Some(mbit_to_bytes(mbit)),
            chunk: 16 * 1024,
        }
    }
}

/// Megabits per second (10⁶ bits) to bytes per second, at least 1.
pub fn mbit_to_bytes(mbit: f64) -> u64 {
    ((mbit * 1_000_000.0 / 8.0) as u64).max(1)
}

/// The shared link: a virtual clock of when it is next free (a token bucket with a small burst).
///
/// Every chunk of every response reserves `len / bandwidth` of link time after whatever was
/// reserved before it, then sleeps until its reservation ends; since a sender reserves its next
/// chunk only after writing the previous one, concurrent responses share the link round-robin, as
/// TCP flows share a bottleneck.
#[derive(Debug, Default)]
pub(crate) struct Link {
    next_free: Mutex<Option<Instant>>,
}

/// Link time an idle link may catch up on (absorbs timer lateness for a lone sender).
pub(crate) const BURST: Duration = Duration::from_millis(2);

impl Link {
    /// Wait until `len` bytes may have crossed a link of `bandwidth` bytes per second.
    pub(crate) async fn transmit(&self, len: usize, bandwidth: Option<u64>) {
        let Some(bandwidth) = bandwidth else { return };
        let cost = Duration::from_secs_f64(len as f64 / bandwidth as f64);
        let end = {
            let mut next = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let earliest = now.checked_sub(BURST).unwrap_or(now);
            let start = match *next {
                Some(free) if free > earliest => free,
                _ => earliest,
            };
            let end = start + cost;
            *next = Some(end);
            end
        };
        if end > Instant::now() {
            Timer::at(end).await;
        }
    }
}
