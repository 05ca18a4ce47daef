//! The public handle.

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;

use crate::core::{Core, Effects};
use crate::drain::Drain;
use crate::error::Error;
use crate::event::Events;
use crate::get_all::{GetAll, Hinted};
use crate::inner::Inner;
use crate::prefetched::Prefetched;
use crate::stats::{InFlight, Stats};
use crate::sync::{Arc, Ordering};
use crate::wait::Wait;

/// Demands [`get_all`](Scheduler::get_all) registers per hold of the lock: one hold per key made
/// the caller and the job tasks fight over the lock, and a hold over any number of keys would keep
/// every job waiting as long.
const REGISTER_PER_LOCK: usize = 64;

/// Schedules fetches of keys `K` producing values `V` or errors `E`: one fetch per key in flight,
/// demand before prefetch, results kept.
///
/// A cheap handle (`Clone` is an `Arc` clone); all clones drive the same scheduler. Jobs keep
/// running when every handle is dropped; their results are then unreachable.
///
/// See the [crate docs](crate) for the semantics and an example.
pub struct Scheduler<K, V, E> {
    inner: Arc<Inner<K, V, E>>,
}

impl<K, V, E> Clone for Scheduler<K, V, E> {
    fn clone(&self) -> Self {
        Scheduler {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, V, E> Scheduler<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    pub(crate) fn from_inner(inner: Arc<Inner<K, V, E>>) -> Self {
        Scheduler { inner }
    }

    /// "I will probably need `key`": queues it at `Prefetch` priority unless it is already queued,
    /// running or done. Idempotent.
    ///
    /// Never waits (a plain function: call it from a resolver's hot loop). The job runs on its own
    /// task; nothing needs to be polled.
    pub fn prefetch(&self, key: K) -> Prefetched {
        self.prefetch_with_hint(key, 0)
    }

    /// [`prefetch`](Self::prefetch) with a hint: among prefetches, larger hints run first (e.g. the
    /// tarball size, for largest-first). A second prefetch with a larger hint raises the job's, and
    /// the job keeps it when a demand promotes it.
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
    pub fn get(&self, key: K) -> Wait<K, V, E> {
        self.get_with_hint(key, 0)
    }

    /// [`get`](Self::get) with a hint: among demands, larger hints run first. A job's hint is the
    /// highest of all its interests, prefetches included.
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
    /// registered before this returns. Cancel-safe like [`Wait`]; see [`GetAll`].
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
    /// fetch of this scheduler on a one-thread executor). Use it from a thread pool (rayon).
    ///
    /// Takes the key by reference: `&str` for `String` keys, or `&K` itself; a key that is not
    /// kept is turned into a `K` (`Q::Owned: Into<K>`) to join or start its job.
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

    /// The kept value of `key`, if its job succeeded. Never waits and takes no scheduler lock: one
    /// hash and one read lock of the kept results. A key kept as a permanent error returns `None`; `get`
    /// returns that error.
    pub fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        Core::kept_value(&self.inner.store, self.inner.hash(key), key)
    }

    /// Removes the job of `key` if it is queued (or waiting out a retry delay) and no `get` waits on
    /// it. Returns whether it did. A running job is never cancelled. Never waits.
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

    /// Keeps `value` as the result of `key`, as if a job for it had succeeded, unless a job for `key`
    /// is in flight (queued, running or backing off): then nothing changes and that job's own result
    /// will be kept. Replaces a kept value or permanent error. Returns whether `value` was kept.
    /// Works after [`close`](Self::close) too. Never waits.
    ///
    /// For a value obtained outside the scheduler — read from a persistent store, or fetched by
    /// another path — that later requests should share instead of fetching it again. No event is
    /// sent: no job ran.
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
    /// let tarballs: Scheduler<String, &'static str, std::io::Error> = Scheduler::builder()
    ///     .build(Smol, |_url: &String, _cx: JobContext| async { Ok("downloaded") })
    ///     .unwrap();
    /// assert!(tarballs.insert("a.tgz".to_string(), "found on disk"));
    /// assert_eq!(tarballs.peek("a.tgz"), Some("found on disk"));
    /// assert_eq!(tarballs.stats().attempts, 0);
    /// ```
    pub fn insert(&self, key: K, value: V) -> bool {
        let inner = &self.inner;
        let hash = inner.hash(&key);
        inner
            .lock()
            .insert(key, hash, value, &inner.store, |k| inner.hash(k))
    }

    /// Drops the kept value or permanent error of `key`, so the next request fetches it again.
    /// Returns whether anything was kept. Does not touch a job in flight. Never waits.
    pub fn forget<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        Core::forget(&self.inner.store, self.inner.hash(key), key)
    }

    /// Stops taking new work: later `prefetch`es and `get`s of keys not in flight are refused with
    /// [`Prefetched::Closed`] / [`Error::Closed`]; every job that is not running and that nobody
    /// awaits (the queued prefetches, and those waiting out a retry delay) is dropped — such a job
    /// has no waiter to fail. Running jobs, and queued jobs somebody awaits, still finish; a
    /// prefetch that fails after `close` is not retried. Kept results stay readable, and `get` of a
    /// done key still returns its kept value. Idempotent; never waits.
    pub fn close(&self) {
        let mut fx = Effects::new();
        self.inner.lock().close(&mut fx);
        Inner::apply(&self.inner, fx);
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.lock().is_closed()
    }

    /// A future that resolves once nothing is queued, running or backing off. See [`Drain`] for
    /// when it can wait forever (after `close`, only on a fetcher that never completes).
    pub fn drain(&self) -> Drain<K, V, E> {
        Drain::new(Arc::clone(&self.inner))
    }

    /// Counters and gauges. Takes the scheduler lock briefly; never waits otherwise.
    pub fn stats(&self) -> Stats {
        let mut stats = self.inner.lock().stats();
        stats.hits += self.inner.hits.load(Ordering::Relaxed);
        stats.kept = self.inner.store.len();
        stats
    }

    /// Every in-flight job, oldest first, with its state, priority, age and waiters: what to print
    /// when an install seems stuck. Never waits.
    pub fn snapshot(&self) -> Vec<InFlight<K>> {
        self.inner.lock().snapshot()
    }

    /// Subscribes to every [`Event`](crate::Event) from now on. With no subscriber, events cost one
    /// branch each and no allocation.
    pub fn events(&self) -> Events<K> {
        self.inner.events.subscribe()
    }
}

impl<K, V, E> fmt::Debug for Scheduler<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("stats", &self.stats())
            .finish()
    }
}
