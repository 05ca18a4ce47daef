//! Wakes a worker holds back while it goes straight on to its next job.
//!
//! A worker that ends a job and at once starts the next would wake the finished job's waiters
//! once per job; a consumer of many instant jobs (a `get_all` of cached keys, say) would then be
//! woken, find one answer, sleep, and be woken again for the next — a futex round trip per job.
//! Holding the wakes until the next attempt first waits bounds the delay by the synchronous part
//! of one fetch, and turns a run of instant jobs into one wake.

use std::task::Waker;

use crate::waiter::Wakers;

/// Wakers of answered waiters that a worker has not woken yet. A worker that goes straight on to
/// its next job wakes them as soon as that job first waits (or ends, or the worker stops), so a
/// run of instant jobs wakes a consumer once rather than once per job; dropping wakes them all.
#[derive(Default)]
pub(crate) struct DeferredWakes(Wakers);

impl DeferredWakes {
    /// Holds `wakers` back until the next [`flush`](Self::flush).
    pub(crate) fn extend(&mut self, wakers: impl IntoIterator<Item = Waker>) {
        self.0.extend(wakers);
    }

    /// Wakes every waker held back.
    pub(crate) fn flush(&mut self) {
        for waker in self.0.drain(..) {
            waker.wake();
        }
    }
}

impl Drop for DeferredWakes {
    fn drop(&mut self) {
        self.flush();
    }
}
