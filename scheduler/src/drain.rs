//! Waiting for the scheduler to have nothing in flight.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use event_listener::EventListener;

use crate::inner::Inner;
use crate::sync::Arc;

/// Resolves when no job is queued, running or backing off; from
/// [`Scheduler::drain`](crate::Scheduler::drain). On resolving it gives back the memory the burst's
/// in-flight bookkeeping grew (kept results stay).
///
/// Cancel-safe (dropping it changes nothing). **Can it wait forever?** After
/// [`close`](crate::Scheduler::close) only if a fetcher never completes: closing drops every queued
/// prefetch and refuses new work, so only running jobs and jobs that somebody awaits remain, and a
/// job whose task the runtime drops ends with [`Error::Aborted`](crate::Error::Aborted). Without
/// `close`, new work keeps it waiting.
pub struct Drain<K, V, E> {
    inner: Arc<Inner<K, V, E>>,
    listener: Option<EventListener>,
}

impl<K, V, E> Drain<K, V, E> {
    pub(crate) fn new(inner: Arc<Inner<K, V, E>>) -> Self {
        Drain {
            inner,
            listener: None,
        }
    }
}

impl<K, V, E> Future for Drain<K, V, E> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if let Some(listener) = &mut self.listener {
                futures_lite::ready!(Pin::new(listener).poll(cx));
                self.listener = None;
            }
            // Listen before looking, so an idle notification between the two is not lost.
            let listener = self.inner.idle.listen();
            let mut core = self.inner.lock();
            if core.is_idle() {
                core.shrink_if_idle();
                return Poll::Ready(());
            }
            drop(core);
            self.listener = Some(listener);
        }
    }
}

impl<K, V, E> fmt::Debug for Drain<K, V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain").finish_non_exhaustive()
    }
}
