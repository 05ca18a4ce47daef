//! Wakes a worker holds back while it goes straight on to its next job.
//!
//! A worker that ends a job and at once starts the next would wake the finished job's waiters
//! once per job; a consumer of many instant jobs (a `get_all` of cached keys, say) would then be
//! woken, find one answer, sleep, and be woken again for the next — a futex round trip per job.
//! Holding the wakes back while the jobs keep finishing at once turns a run of instant jobs into a
//! few wakes. They are delivered when an attempt first has to wait, when the worker stops, and at
//! a yield once the oldest has waited the worker's `FLUSH_AFTER` (200 µs), which bounds the
//! delay.

use std::task::Waker;
use std::time::{Duration, Instant};

use crate::waiter::Wakers;

/// Wakers of answered waiters that a worker has not woken yet. A worker that goes straight on to
/// its next job wakes them as soon as a job first waits, when it stops, or once the oldest has
/// waited long enough ([`held_for`](Self::held_for)), so a run of instant jobs wakes a consumer a
/// few times rather than once per job; dropping wakes them all.
#[derive(Default)]
pub(crate) struct DeferredWakes {
    wakers: Wakers,
    /// When the oldest waker held back was added.
    since: Option<Instant>,
}

impl DeferredWakes {
    /// Holds `wakers` back until the next [`flush`](Self::flush).
    pub(crate) fn extend(&mut self, wakers: impl IntoIterator<Item = Waker>) {
        let before = self.wakers.len();
        self.wakers.extend(wakers);
        if before == 0 && !self.wakers.is_empty() {
            self.since = Some(Instant::now());
        }
    }

    /// Whether the oldest waker held back has waited `bound` or longer.
    pub(crate) fn held_for(&self, bound: Duration) -> bool {
        self.since.is_some_and(|since| since.elapsed() >= bound)
    }

    /// Wakes every waker held back.
    pub(crate) fn flush(&mut self) {
        self.since = None;
        for waker in self.wakers.drain(..) {
            waker.wake();
        }
    }
}

impl Drop for DeferredWakes {
    fn drop(&mut self) {
        self.flush();
    }
}
