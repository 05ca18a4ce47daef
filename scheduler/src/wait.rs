//! The futures a `get` returns: one key ([`Wait`]) and many keys in completion order ([`GetAll`]).

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::Stream;
use futures_util::stream::FuturesUnordered;

use crate::core::Effects;
use crate::error::Error;
use crate::inner::Inner;
use crate::sync::Arc;

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
            Inner::apply(inner, fx);
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

/// One key's [`Wait`], yielding the key along with the result.
struct Keyed<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    key: Option<K>,
    wait: Wait<K, V, E>,
}

impl<K, V, E> Unpin for Keyed<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
}

impl<K, V, E> Future for Keyed<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    type Output = (K, Result<V, Error<E>>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = futures_lite::ready!(Pin::new(&mut self.wait).poll(cx));
        Poll::Ready((
            self.key.take().expect("Keyed polled after it completed"),
            result,
        ))
    }
}

/// The answers to [`get_all`](crate::Scheduler::get_all), in completion order.
///
/// Every key's demand is registered when `get_all` is called. Cancel-safe: dropping the stream
/// withdraws the demands not yet answered, as dropping each [`Wait`] would. Ends after the last key.
pub struct GetAll<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    pending: FuturesUnordered<Keyed<K, V, E>>,
}

impl<K, V, E> GetAll<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    pub(crate) fn new(waits: impl IntoIterator<Item = (K, Wait<K, V, E>)>) -> Self {
        GetAll {
            pending: waits
                .into_iter()
                .map(|(key, wait)| Keyed {
                    key: Some(key),
                    wait,
                })
                .collect(),
        }
    }

    /// Keys not answered yet.
    pub fn remaining(&self) -> usize {
        self.pending.len()
    }
}

impl<K, V, E> Stream for GetAll<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    type Item = (K, Result<V, Error<E>>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.pending).poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.pending.len(), Some(self.pending.len()))
    }
}
