//! Requests: "I will probably need this key" and "I need it now".

use std::borrow::Borrow;
use std::hash::Hash;

use super::Scheduler;
use crate::core::{Core, Effects};
use crate::error::Error;
use crate::get_all::{GetAll, Hinted};
use crate::inner::Inner;
use crate::prefetched::Prefetched;
use crate::sync::{Arc, Ordering};
use crate::wait::Wait;

/// Demands [`get_all`](Scheduler::get_all) registers per hold of the lock: one hold per key made
/// the caller and the job tasks fight over the lock, and a hold over any number of keys would keep
/// every job waiting as long.
const REGISTER_PER_LOCK: usize = 64;

impl<K, V, E> Scheduler<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// "I will probably need `key`": queues it at `Prefetch` priority unless it is already queued,
    /// running or done. Idempotent.
    ///
    /// Never waits (a plain function: call it from a resolver's hot loop). The job runs on its own
    /// task; nothing needs to be polled.
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
    /// use fetch_scheduler::Prefetched;
    ///
    /// assert_eq!(tarballs.prefetch("react.tgz".to_string()), Prefetched::Queued);
    /// // Already in flight (or, if its download was that quick, done): not queued twice.
    /// let again = tarballs.prefetch("react.tgz".to_string());
    /// assert!(matches!(again, Prefetched::Joined | Prefetched::Done));
    /// ```
    pub fn prefetch(&self, key: K) -> Prefetched {
        self.prefetch_with_hint(key, 0)
    }

    /// [`prefetch`](Self::prefetch) with a hint: among prefetches, larger hints run first (e.g. the
    /// tarball size, for largest-first). A second prefetch with a larger hint raises the job's, and
    /// the job keeps it when a demand promotes it. Never waits.
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
    /// // Largest first: the size of each tarball, from the lockfile.
    /// tarballs.prefetch_with_hint("typescript.tgz".to_string(), 5_900_000);
    /// tarballs.prefetch_with_hint("left-pad.tgz".to_string(), 2_000);
    /// smol::block_on(tarballs.drain());
    /// assert_eq!(tarballs.peek("typescript.tgz"), Some(14));
    /// ```
    pub fn prefetch_with_hint(&self, key: K, hint: u64) -> Prefetched {
        let hash = self.inner.hash(&key);
        if Core::is_kept(&self.inner.store, hash, &key) {
            return Prefetched::Done;
        }
        let mut fx = Effects::new();
        let store = &self.inner.store;
        let outcome = self.inner.lock().prefetch(key, hash, hint, store, &mut fx);
        Inner::apply(&self.inner, fx);
        outcome
    }

    /// "I need `key` now": answers from the kept result, joins the job in flight (promoting a queued
    /// prefetch to `Demand` in O(1)), or queues a new job at `Demand`.
    ///
    /// The demand is registered when `get` is called; the returned [`Wait`] resolves to the value
    /// or the error every waiter of that job receives. Cancel-safe: dropping the `Wait` withdraws
    /// the demand and never cancels a running download. After [`close`](Self::close), a key already
    /// done still answers with its kept value or error, a key in flight is still joined, and any
    /// other key is refused with [`Error::Closed`]. See [`Wait`] for when it can wait forever.
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
    /// tarballs.prefetch("react.tgz".to_string());
    /// // Joins the prefetch (promoting it if it is still queued) instead of fetching again.
    /// let len = smol::block_on(tarballs.get("react.tgz".to_string())).unwrap();
    /// assert_eq!(len, 9);
    /// assert_eq!(tarballs.stats().attempts, 1);
    /// ```
    pub fn get(&self, key: K) -> Wait<K, V, E> {
        self.get_with_hint(key, 0)
    }

    /// [`get`](Self::get) with a hint: among demands, larger hints run first. A job's hint is the
    /// highest of all its interests, prefetches included. Cancel-safe, and waits, like `get`.
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
    /// let len = smol::block_on(tarballs.get_with_hint("lodash.tgz".to_string(), 547_000));
    /// assert_eq!(len.unwrap(), 10);
    /// ```
    pub fn get_with_hint(&self, key: K, hint: u64) -> Wait<K, V, E> {
        let hash = self.inner.hash(&key);
        if let Some(kept) = Core::kept(&self.inner.store, hash, &key) {
            self.inner.hits.fetch_add(1, Ordering::Relaxed);
            return Wait::ready(kept);
        }
        let mut fx = Effects::new();
        let store = &self.inner.store;
        let demanded = self.inner.lock().demand(key, hash, hint, store, &mut fx);
        Inner::apply(&self.inner, fx);
        match demanded {
            Ok((waiter, owner)) => Wait::waiting(Arc::clone(&self.inner), waiter, owner),
            Err(answer) => Wait::ready(answer),
        }
    }

    /// [`get`](Self::get) for every key at once; yields `(key, result)` in completion order.
    ///
    /// Each item is a key, or a key and its hint (`(key, hint)` or [`Hinted`]). All demands are
    /// registered before this returns. Cancel-safe like [`Wait`]; see [`GetAll`] for when it can
    /// wait forever.
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
    /// // The install's cold batch, with each tarball's size as its hint.
    /// let batch = [("react.tgz".to_string(), 81_000), ("lodash.tgz".to_string(), 547_000)];
    /// let mut answers: Vec<_> = smol::block_on(tarballs.get_all(batch).collect());
    /// answers.sort_by_key(|(url, _)| url.clone());
    /// assert_eq!(answers[0].0, "lodash.tgz");
    /// assert_eq!(answers[1].1.as_ref().unwrap(), &9);
    /// ```
    pub fn get_all<I>(&self, keys: I) -> GetAll<K, V, E>
    where
        I: IntoIterator,
        I::Item: Into<Hinted<K>>,
    {
        let inner = &self.inner;
        let mut keys = keys.into_iter().map(Into::into).peekable();
        let mut waits = Vec::with_capacity(keys.size_hint().0);
        while keys.peek().is_some() {
            let mut fx = Effects::new();
            let mut core = inner.lock();
            for Hinted { key, hint } in keys.by_ref().take(REGISTER_PER_LOCK) {
                let hash = inner.hash(&key);
                let wait = match core.demand(key.clone(), hash, hint, &inner.store, &mut fx) {
                    Ok((waiter, owner)) => Wait::waiting(Arc::clone(inner), waiter, owner),
                    Err(answer) => Wait::ready(answer),
                };
                waits.push((key, wait));
            }
            drop(core);
            Inner::apply(inner, fx);
        }
        GetAll::new(waits)
    }

    /// [`get`](Self::get) for synchronous code: blocks the calling thread until the answer is in.
    ///
    /// A kept result returns at once without touching any runtime or the scheduler lock. Otherwise
    /// it parks the thread while the job runs on the runtime's tasks: **it waits forever if called
    /// on the only thread that drives those tasks** (a current-thread runtime's own thread, or a
    /// fetch of this scheduler on a one-thread executor), and as long as [`Wait`] otherwise. Use it
    /// from a thread pool (rayon). Not cancellable: it returns only with the answer.
    ///
    /// Takes the key by reference: `&str` for `String` keys, or `&K` itself; a key that is not
    /// kept is turned into a `K` (`Q::Owned: Into<K>`) to join or start its job.
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
    /// // A plain thread: the jobs run on the runtime's threads meanwhile.
    /// let len = std::thread::spawn(move || tarballs.get_blocking("react.tgz")).join().unwrap();
    /// assert_eq!(len.unwrap(), 9);
    /// ```
    pub fn get_blocking<Q>(&self, key: &Q) -> Result<V, Error<E>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Into<K>,
    {
        let hash = self.inner.hash(key);
        if let Some(value) = Core::kept_value(&self.inner.store, hash, key) {
            self.inner.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(value);
        }
        futures_lite::future::block_on(self.get(key.to_owned().into()))
    }
}
