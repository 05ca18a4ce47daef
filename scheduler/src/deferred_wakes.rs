//! Wakes a worker holds back while it goes straight on to its next job.
//!
//! A worker that ends a job and at once starts the next would wake the finished job's waiters
//! once per job; a consumer of many instant jobs (a `get_all` of cached keys, say) would then be
//! woken, find one answer, sleep, and be woken again for the next — a futex round trip per job.
//! Holding the wakes until the next attempt first waits bounds the delay by the synchronous part
//! of one fetch, and turns a run of instant jobs into one wake.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

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

/// Polls `future`, waking the deferred wakers the first time it is not ready.
pub(crate) struct FlushOnPending<'a, F> {
    pub(crate) future: Pin<&'a mut F>,
    pub(crate) wakes: &'a mut DeferredWakes,
}

impl<F: Future> Future for FlushOnPending<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let poll = this.future.as_mut().poll(cx);
        if poll.is_pending() {
            this.wakes.flush();
        }
        poll
    }
}
