//! Many keys at once: [`get_all`](crate::Scheduler::get_all)'s requests and its stream of answers.

use std::fmt;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::Stream;
use futures_util::future::{self, Join, Ready};
use futures_util::stream::FuturesUnordered;

use crate::error::Error;
use crate::wait::Wait;

/// A key with the hint to demand it at: an item of [`get_all`](crate::Scheduler::get_all).
///
/// A plain `K` converts with hint 0, and so does `(K, u64)` with its hint, so `get_all` takes keys
/// as they are or paired with, say, their tarball size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hinted<K> {
    /// The key.
    pub key: K,
    /// Among demands, larger hints run first.
    pub hint: u64,
}

impl<K> Hinted<K> {
    /// `key` at `hint`.
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
    /// use fetch_scheduler::Hinted;
    /// use futures_lite::StreamExt;
    ///
    /// // The install's cold batch, largest tarball first.
    /// let batch = [Hinted::new("typescript.tgz".to_string(), 5_900_000)];
    /// let answers: Vec<_> = smol::block_on(tarballs.get_all(batch).collect());
    /// assert_eq!(answers[0].1.as_ref().unwrap(), &14);
    /// ```
    pub const fn new(key: K, hint: u64) -> Self {
        Hinted { key, hint }
    }
}

impl<K> From<K> for Hinted<K> {
    fn from(key: K) -> Self {
        Hinted { key, hint: 0 }
    }
}

impl<K> From<(K, u64)> for Hinted<K> {
    fn from((key, hint): (K, u64)) -> Self {
        Hinted { key, hint }
    }
}

/// The answers to [`get_all`](crate::Scheduler::get_all), in completion order.
///
/// Every key's demand is registered when `get_all` is called. A key given twice is answered twice.
/// **Cancel-safe**: dropping the stream withdraws the demands not yet answered, as dropping each
/// [`Wait`] would. Ends after the last key; waits as long as its slowest key (see [`Wait`] for
/// when that can be forever).
#[must_use = "a GetAll does nothing unless polled; dropping it withdraws its demands"]
pub struct GetAll<K: Clone + Eq + Hash, V: Clone, E> {
    /// Each key's [`Wait`], joined with the key so the answer comes with it.
    pending: FuturesUnordered<Join<Ready<K>, Wait<K, V, E>>>,
}

impl<K: Clone + Eq + Hash, V: Clone, E> GetAll<K, V, E> {
    pub(crate) fn new(waits: impl IntoIterator<Item = (K, Wait<K, V, E>)>) -> Self {
        GetAll {
            pending: waits
                .into_iter()
                .map(|(key, wait)| future::join(future::ready(key), wait))
                .collect(),
        }
    }

    /// Keys not answered yet. Never waits.
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
    /// use futures_lite::StreamExt;
    ///
    /// let mut answers = tarballs.get_all(["react.tgz".to_string(), "lodash.tgz".to_string()]);
    /// assert_eq!(answers.remaining(), 2);
    /// smol::block_on(answers.next()).unwrap();
    /// assert_eq!(answers.remaining(), 1);
    /// ```
    pub fn remaining(&self) -> usize {
        self.pending.len()
    }
}

impl<K: Clone + Eq + Hash, V: Clone, E> Stream for GetAll<K, V, E> {
    type Item = (K, Result<V, Error<E>>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.pending).poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.pending.len(), Some(self.pending.len()))
    }
}

impl<K: Clone + Eq + Hash, V: Clone, E> fmt::Debug for GetAll<K, V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetAll")
            .field("remaining", &self.pending.len())
            .finish()
    }
}
