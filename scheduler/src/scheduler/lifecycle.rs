//! The end of work: cancelling a queued job, closing, and draining.

use std::borrow::Borrow;
use std::hash::Hash;

use super::Scheduler;
use crate::core::Effects;
use crate::drain::Drain;
use crate::inner::Inner;
use crate::sync::Arc;

impl<K, V, E> Scheduler<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// Removes the job of `key` if it is queued (or waiting out a retry delay) and no `get` waits on
    /// it. Returns whether it did. A running job is never cancelled. Never waits.
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
    /// # // One slot, and downloads that never end: what is queued stays queued.
    /// # let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
    /// #     .concurrency(1)
    /// #     .reserved_for_demand(0)
    /// #     .build(Smol, |_url: &String, _cx: JobContext| std::future::pending())
    /// #     .unwrap();
    /// tarballs.prefetch("a.tgz".to_string()); // takes the only slot
    /// tarballs.prefetch("b.tgz".to_string()); // queued
    /// assert!(tarballs.cancel("b.tgz"));
    /// assert!(!tarballs.cancel("a.tgz"), "a running job is never cancelled");
    /// ```
    pub fn cancel<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.inner.hash(key);
        let mut fx = Effects::new();
        let cancelled = self.inner.lock().cancel(hash, key, &mut fx);
        Inner::apply(&self.inner, fx);
        cancelled
    }

    /// Stops taking new work: later `prefetch`es and `get`s of keys not in flight are refused with
    /// [`Prefetched::Closed`](crate::Prefetched::Closed) / [`Error::Closed`](crate::Error::Closed);
    /// every job that is not running and that nobody awaits (the queued prefetches, and those
    /// waiting out a retry delay) is dropped — such a job has no waiter to fail. Running jobs, and
    /// queued jobs somebody awaits, still finish; a prefetch that fails after `close` is not
    /// retried. Kept results stay readable, and `get` of a done key still returns its kept value.
    /// Idempotent; never waits.
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
    /// use fetch_scheduler::{Error, Prefetched};
    ///
    /// smol::block_on(tarballs.get("react.tgz".to_string())).unwrap();
    /// tarballs.close();
    /// assert_eq!(tarballs.prefetch("lodash.tgz".to_string()), Prefetched::Closed);
    /// let refused = smol::block_on(tarballs.get("lodash.tgz".to_string()));
    /// assert!(matches!(refused, Err(Error::Closed)));
    /// assert_eq!(smol::block_on(tarballs.get("react.tgz".to_string())).unwrap(), 9);
    /// ```
    pub fn close(&self) {
        let mut fx = Effects::new();
        self.inner.lock().close(&mut fx);
        Inner::apply(&self.inner, fx);
    }

    /// Whether [`close`](Self::close) was called. Never waits.
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
    /// assert!(!tarballs.is_closed());
    /// tarballs.close();
    /// assert!(tarballs.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.lock().is_closed()
    }

    /// A future that resolves once nothing is queued, running or backing off. See [`Drain`] for
    /// when it can wait forever (after `close`, only on a fetcher that never completes).
    /// Cancel-safe: dropping it changes nothing.
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
    /// for url in ["react.tgz", "lodash.tgz", "chalk.tgz"] {
    ///     tarballs.prefetch(url.to_string());
    /// }
    /// // The end of an install: stop speculative work and wait for the rest.
    /// tarballs.close();
    /// smol::block_on(tarballs.drain());
    /// assert_eq!(tarballs.stats().in_flight(), 0);
    /// ```
    pub fn drain(&self) -> Drain<K, V, E> {
        Drain::new(Arc::clone(&self.inner))
    }
}
