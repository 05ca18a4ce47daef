//! The futures a `get` returns: one key ([`Wait`]) and many keys in completion order ([`GetAll`]).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::Stream;

use crate::effects::Effects;
use crate::error::Error;
use crate::inbox::{Answer, Inbox};
use crate::inner::Inner;
use crate::sync::{Arc, Ordering};

/// The answer to a [`get`](crate::Scheduler::get): resolves to the key's value or its error.
///
/// The demand is registered when `get` is called, not when this future is first polled, so a
/// queued prefetch is promoted at once. **Cancel-safe**: dropping it withdraws its demand (the job
/// falls back to prefetch priority or leaves the queue if nobody else wants it) and never cancels
/// a running download, whose result is kept for the next caller.
///
/// **Can it wait forever?** Only if the fetcher's future never completes. Every other path ends:
/// `close` answers waiters of dropped jobs, panics become [`Error::Panicked`].
#[must_use = "a Wait does nothing unless awaited; dropping it withdraws the demand"]
pub struct Wait<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    state: State<K, V, E>,
}

// A `Wait` holds no self-references: the result is moved out, never pinned.
impl<K, V, E> Unpin for Wait<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
}

enum State<K, V, E> {
    Ready(Option<Result<V, Error<E>>>),
    Waiting {
        inner: Arc<Inner<K, V, E>>,
        waiter: usize,
    },
    Done,
}

impl<K, V, E> Wait<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    pub(crate) fn ready(result: Result<V, Error<E>>) -> Self {
        Wait {
            state: State::Ready(Some(result)),
        }
    }

    pub(crate) fn waiting(inner: Arc<Inner<K, V, E>>, waiter: usize) -> Self {
        Wait {
            state: State::Waiting { inner, waiter },
        }
    }

    /// Whether the answer was known when `get` returned (a kept result, or a refusal).
    pub fn is_immediate(&self) -> bool {
        matches!(self.state, State::Ready(_))
    }
}

impl<K, V, E> Future for Wait<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    type Output = Result<V, Error<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = match &mut self.state {
            State::Ready(result) => result.take().expect("Wait polled after it completed"),
            State::Waiting { inner, waiter } => match inner.lock().poll_waiter(*waiter, cx.waker())
            {
                Poll::Ready(result) => result,
                Poll::Pending => return Poll::Pending,
            },
            State::Done => panic!("Wait polled after it completed"),
        };
        self.state = State::Done;
        Poll::Ready(result)
    }
}

impl<K, V, E> Drop for Wait<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn drop(&mut self) {
        if let State::Waiting { inner, waiter } = &self.state {
            let mut fx = Effects::new();
            inner.lock().drop_waiter(*waiter, &mut fx);
            Inner::apply(inner, &mut fx);
        }
    }
}

impl<K, V, E> fmt::Debug for Wait<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Ready(_) => "ready",
            State::Waiting { .. } => "waiting",
            State::Done => "done",
        };
        f.debug_struct("Wait").field("state", &state).finish()
    }
}

/// The answers to [`get_all`](crate::Scheduler::get_all), in completion order.
///
/// Every key's demand is registered when `get_all` is called. The keys form one batch inside the
/// scheduler: answers are posted to the batch's own inbox and taken from it without the scheduler
/// lock, so the stream costs no future or allocation per key. Cancel-safe: dropping the stream
/// withdraws the demands not yet answered, as dropping each [`Wait`] would. Ends after the last
/// key; waits as long as the slowest (forever only if a fetcher never completes).
pub struct GetAll<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    inner: Arc<Inner<K, V, E>>,
    batch: usize,
    inbox: Arc<Inbox<K, V, E>>,
    /// Keys whose answers are not taken from the inbox yet.
    pending: usize,
    /// `(id, seq)` of the job each pending key waits on, to withdraw the demands if dropped early;
    /// emptied once every answer is in.
    jobs: Vec<(usize, u64)>,
    /// Answers taken from the inbox (or known at once), not yielded yet.
    ready: VecDeque<Answer<K, V, E>>,
}

impl<K, V, E> GetAll<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    pub(crate) fn new(
        inner: Arc<Inner<K, V, E>>,
        batch: usize,
        inbox: Arc<Inbox<K, V, E>>,
        jobs: Vec<(usize, u64)>,
        ready: VecDeque<Answer<K, V, E>>,
    ) -> Self {
        let pending = jobs.len();
        inner
            .batch_waiters
            .fetch_add(pending as u64, Ordering::Relaxed);
        GetAll {
            inner,
            batch,
            inbox,
            pending,
            jobs,
            ready,
        }
    }

    /// Keys not yielded yet.
    pub fn remaining(&self) -> usize {
        self.pending + self.ready.len()
    }
}

impl<K, V, E> Unpin for GetAll<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
}

impl<K, V, E> Stream for GetAll<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    type Item = (K, Result<V, Error<E>>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ready.is_empty() && this.pending > 0 {
            let taken = this.inbox.take(&mut this.ready, cx.waker());
            this.pending -= taken;
            this.inner
                .batch_waiters
                .fetch_sub(taken as u64, Ordering::Relaxed);
            if this.pending == 0 {
                this.jobs = Vec::new();
            }
        }
        match this.ready.pop_front() {
            Some((key, kept)) => Poll::Ready(Some((key.into_key(), kept))),
            None if this.pending == 0 => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining(), Some(self.remaining()))
    }
}

impl<K, V, E> Drop for GetAll<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn drop(&mut self) {
        let mut fx = Effects::new();
        let jobs = if self.pending > 0 {
            &self.jobs[..]
        } else {
            &[]
        };
        self.inner.lock().drop_batch(self.batch, jobs, &mut fx);
        Inner::apply(&self.inner, &mut fx);
        self.inner
            .batch_waiters
            .fetch_sub(self.pending as u64, Ordering::Relaxed);
    }
}

impl<K, V, E> fmt::Debug for GetAll<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetAll")
            .field("remaining", &self.remaining())
            .finish()
    }
}
