//! The future a [`get`](crate::Scheduler::get) returns.

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::core::Effects;
use crate::error::Error;
use crate::inner::Inner;
use crate::sync::Arc;

/// The answer to a [`get`](crate::Scheduler::get): resolves to the key's value or its error.
///
/// The demand is registered when `get` is called, not when this future is first polled, so a
/// queued prefetch is promoted at once. **Cancel-safe**: dropping it withdraws its demand (the job
/// falls back to prefetch priority, or leaves the queue if nobody else wants it) and never cancels
/// a running download, whose result is kept for the next caller.
///
/// **Can it wait forever?** Only if the fetcher's future never completes. Every other path ends:
/// panics become [`Error::Panicked`], a job whose task the runtime drops (it shut down) ends with
/// [`Error::Aborted`], and `close` never drops a job somebody awaits.
#[must_use = "a Wait does nothing unless awaited; dropping it withdraws the demand"]
pub struct Wait<K: Clone + Eq + Hash, V: Clone, E> {
    state: State<K, V, E>,
    /// Whether the `get` that made this queued the job.
    owner: bool,
}

enum State<K, V, E> {
    Ready(Option<Result<V, Error<E>>>),
    Waiting {
        inner: Arc<Inner<K, V, E>>,
        waiter: usize,
    },
    Done,
}

// Nothing in a `Wait` is pinned: the answer is moved out.
impl<K: Clone + Eq + Hash, V: Clone, E> Unpin for Wait<K, V, E> {}

impl<K: Clone + Eq + Hash, V: Clone, E> Wait<K, V, E> {
    pub(crate) fn ready(result: Result<V, Error<E>>) -> Self {
        Wait {
            state: State::Ready(Some(result)),
            owner: false,
        }
    }

    pub(crate) fn waiting(inner: Arc<Inner<K, V, E>>, waiter: usize, owner: bool) -> Self {
        Wait {
            state: State::Waiting { inner, waiter },
            owner,
        }
    }

    /// Whether the answer was known when `get` returned (a kept result, or a refusal). Never
    /// waits.
    ///
    /// # Examples
    ///
    /// ```
    /// # use fetch_scheduler::{BoxFuture, JobContext, Runtime, Scheduler};
    /// # struct Smol;
    /// # impl Runtime for Smol {
    /// #     fn spawn(&self, task: BoxFuture<'static, ()>) { smol::spawn(task).detach(); }
    /// #     fn sleep(&self, d: std::time::Duration) -> BoxFuture<'static, ()> {
    /// #         Box::pin(async move { smol::Timer::after(d).await; })
    /// #     }
    /// # }
    /// # let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
    /// #     .build(Smol, |url: &String, _cx: JobContext| {
    /// #         let len = url.len();
    /// #         async move { Ok(len) }
    /// #     })
    /// #     .unwrap();
    /// let first = tarballs.get("react.tgz".to_string());
    /// smol::block_on(first).unwrap();
    /// // Kept now: the next `get` is answered without waiting for anything.
    /// assert!(tarballs.get("react.tgz".to_string()).is_immediate());
    /// ```
    pub fn is_immediate(&self) -> bool {
        matches!(self.state, State::Ready(_))
    }

    /// Whether the `get` that returned this queued a new job, so every attempt of that job runs
    /// with this call's key; `false` when it joined a job in flight (a prefetch's, or another
    /// `get`'s) or was answered at once. Fixed when `get` returns; never waits.
    ///
    /// With per-request data in the key, this tells whose data the fetcher used: an installer
    /// reports "downloaded" for the request that owned the job and "found" for the others.
    ///
    /// # Examples
    ///
    /// ```
    /// # use fetch_scheduler::{BoxFuture, JobContext, Runtime, Scheduler};
    /// # struct Smol;
    /// # impl Runtime for Smol {
    /// #     fn spawn(&self, task: BoxFuture<'static, ()>) { smol::spawn(task).detach(); }
    /// #     fn sleep(&self, d: std::time::Duration) -> BoxFuture<'static, ()> {
    /// #         Box::pin(async move { smol::Timer::after(d).await; })
    /// #     }
    /// # }
    /// let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
    ///     .build(Smol, |url: &String, _cx: JobContext| {
    ///         let len = url.len();
    ///         async move { Ok(len) }
    ///     })
    ///     .unwrap();
    /// tarballs.prefetch("a.tgz".to_string());
    /// let joined = tarballs.get("a.tgz".to_string());
    /// let owned = tarballs.get("b.tgz".to_string());
    /// assert!(!joined.is_owner() && owned.is_owner());
    /// # smol::block_on(async { joined.await.unwrap(); owned.await.unwrap(); });
    /// ```
    pub fn is_owner(&self) -> bool {
        self.owner
    }
}

impl<K: Clone + Eq + Hash, V: Clone, E> Future for Wait<K, V, E> {
    type Output = Result<V, Error<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = match &mut self.state {
            State::Ready(result) => result.take().expect("Wait polled after it completed"),
            State::Waiting { inner, waiter } => {
                match inner.lock().poll_waiter(*waiter, cx.waker()) {
                    Poll::Ready(result) => result,
                    Poll::Pending => return Poll::Pending,
                }
            }
            State::Done => panic!("Wait polled after it completed"),
        };
        self.state = State::Done;
        Poll::Ready(result)
    }
}

impl<K: Clone + Eq + Hash, V: Clone, E> Drop for Wait<K, V, E> {
    fn drop(&mut self) {
        if let State::Waiting { inner, waiter } = &self.state {
            let mut fx = Effects::new();
            inner.lock().drop_waiter(*waiter, &mut fx);
            Inner::apply(inner, fx);
        }
    }
}

impl<K: Clone + Eq + Hash, V: Clone, E> fmt::Debug for Wait<K, V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Ready(_) => "ready",
            State::Waiting { .. } => "waiting",
            State::Done => "done",
        };
        f.debug_struct("Wait").field("state", &state).finish()
    }
}
