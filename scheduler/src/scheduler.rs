//! The public handle.

use std::collections::VecDeque;
use std::fmt;
use std::hash::Hash;

use crate::builder::Builder;
use crate::core::{Demanded, Prefetched};
use crate::drain::Drain;
use crate::effects::Effects;
use crate::error::Error;
use crate::event::Events;
use crate::inbox::{AnswerKey, Inbox};
use crate::inner::Inner;
use crate::stats::{InFlight, Stats};
use crate::sync::{Arc, Ordering};
use crate::wait::{GetAll, Wait};
use crate::waiter::Waiter;

/// Demands `get_all` registers per hold of the scheduler lock.
const KEYS_PER_LOCK: usize = 256;

/// Answers a `get_all` has room for before its queues grow: more than a burst of instant jobs
/// posts between two polls of a stream that keeps up (workers hold its wake-ups back for about
/// 200 µs at most; see `worker::FLUSH_AFTER`).
const ANSWERS_RESERVED: usize = 1024;

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
    /// Starts configuring a scheduler.
    pub fn builder() -> Builder<K, V, E> {
        Builder::default()
    }

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
    /// tarball size, for largest-first). A second prefetch with a larger hint raises the job's.
    pub fn prefetch_with_hint(&self, key: K, hint: u64) -> Prefetched {
        let hash = self.inner.hash(&key);
        if self.inner.store.contains(hash, &key) {
            return Prefetched::Done;
        }
        let mut fx = Effects::new();
        let outcome = self
            .inner
            .lock()
            .prefetch(key, hash, hint, &self.inner.store, &mut fx);
        Inner::apply(&self.inner, &mut fx);
        outcome
    }

    /// "I need `key` now": answers from the kept result, joins the job in flight (promoting a queued
    /// prefetch to `Demand` in O(1)), or queues a new job at `Demand`.
    ///
    /// The demand is registered when `get` is called; the returned [`Wait`] resolves to the value
    /// or the error every waiter of that job receives. Cancel-safe: dropping the `Wait` withdraws
    /// the demand and never cancels a running download. Waits until the job ends; after
    /// [`close`](Self::close), a key not already in flight is refused with [`Error::Closed`].
    pub fn get(&self, key: K) -> Wait<K, V, E> {
        self.get_with_hint(key, 0)
    }

    /// [`get`](Self::get) with a hint: among demands, larger hints run first.
    pub fn get_with_hint(&self, key: K, hint: u64) -> Wait<K, V, E> {
        let hash = self.inner.hash(&key);
        if let Some(kept) = self.inner.store.get(hash, &key) {
            self.inner.hits.fetch_add(1, Ordering::Relaxed);
            return Wait::ready(kept);
        }
        let mut fx = Effects::new();
        let demanded = self
            .inner
            .lock()
            .demand(key, hash, hint, None, &self.inner.store, &mut fx);
        let wait = match demanded {
            Demanded::Waiter { waiter, .. } => match waiter.get() {
                Waiter::Slot(slot) => Wait::waiting(Arc::clone(&self.inner), slot),
                Waiter::Batch(_) => unreachable!("a single demand gets a slot"),
            },
            Demanded::Kept(kept, _) => {
                self.inner.hits.fetch_add(1, Ordering::Relaxed);
                Wait::ready(kept)
            }
            Demanded::Refused(_) => Wait::ready(Err(Error::Closed)),
        };
        Inner::apply(&self.inner, &mut fx);
        wait
    }

    /// [`get`](Self::get) for every key at once; yields `(key, result)` in completion order.
    ///
    /// All demands are registered before this returns. Cancel-safe like [`Wait`]. The stream waits
    /// as long as its slowest key.
    pub fn get_all(&self, keys: impl IntoIterator<Item = K>) -> GetAll<K, V, E> {
        let mut keys = keys.into_iter().peekable();
        let expected = keys.size_hint().0;
        // Room for the answers a burst posts between two polls of the stream, in the inbox and in
        // the stream's own queue (the two swap buffers), so neither grows under the inbox lock.
        let answers_room = expected.min(ANSWERS_RESERVED);
        let inbox = Arc::new(Inbox::with_capacity(answers_room));
        let batch = {
            let mut core = self.inner.lock();
            // Room for the whole batch's jobs at once rather than growing (and rehashing) step by
            // step; dropped again when the burst ends. The store is not reserved: keys already
            // done would leave that room unused for good.
            core.reserve(expected);
            core.new_batch(Arc::clone(&inbox))
        };
        let mut jobs = Vec::with_capacity(expected);
        let mut ready = VecDeque::with_capacity(answers_room);
        let mut chunk = Vec::with_capacity(KEYS_PER_LOCK.min(expected));
        let mut spare = Vec::new();
        let (mut seen, mut new_jobs, mut store_reserved) = (0, 0, 0);
        while keys.peek().is_some() {
            // Hash the keys before taking the lock, then register a chunk of them per lock hold:
            // one lock for many demands, yet never long enough to stall the workers that finish
            // jobs meanwhile.
            chunk.extend(
                keys.by_ref()
                    .take(KEYS_PER_LOCK)
                    .map(|key| (self.inner.hash(&key), key)),
            );
            seen += chunk.len();
            let mut fx = Effects::new();
            let mut core = self.inner.lock();
            let store = &self.inner.store;
            for (hash, key) in chunk.drain(..) {
                match core.demand(key, hash, 0, Some(batch), store, &mut fx) {
                    Demanded::Waiter {
                        job, seq, spare: s, ..
                    } => {
                        jobs.push((job, seq));
                        new_jobs += usize::from(s.is_none());
                        spare.extend(s);
                    }
                    Demanded::Kept(kept, key) => {
                        self.inner.hits.fetch_add(1, Ordering::Relaxed);
                        ready.push_back((AnswerKey::Own(key), kept));
                    }
                    Demanded::Refused(key) => {
                        ready.push_back((AnswerKey::Own(key), Err(Error::Closed)));
                    }
                }
            }
            drop(core);
            spare.clear();
            if store_reserved == 0 && new_jobs > 0 {
                // Room in the store for the results of the jobs this batch creates, before the
                // first of them can finish, so the workers do not rehash every shard again and
                // again as a burst of completions grows it. How many keys are new is extrapolated
                // from the first chunk that had any: a batch of done keys reserves nothing.
                store_reserved = new_jobs * expected.max(seen) / seen;
                self.inner
                    .store
                    .reserve(store_reserved, |k: &K| self.inner.hash(k));
            }
            Inner::apply(&self.inner, &mut fx);
        }
        if new_jobs > store_reserved {
            self.inner
                .store
                .reserve(new_jobs - store_reserved, |k: &K| self.inner.hash(k));
        }
        GetAll::new(Arc::clone(&self.inner), batch, inbox, jobs, ready)
    }

    /// [`get`](Self::get) for synchronous code: blocks the calling thread until the answer is in.
    ///
    /// A kept result returns at once without touching any runtime. Otherwise it parks the thread
    /// while the job runs on the runtime's tasks: **it waits forever if called on the only thread
    /// that drives those tasks** (a current-thread runtime's own thread), and forever if called
    /// from inside a fetch of this scheduler (see [`Fetch`](crate::Fetch)). Use it from a thread
    /// pool.
    pub fn get_blocking(&self, key: K) -> Result<V, Error<E>> {
        futures_lite::future::block_on(self.get(key))
    }

    /// The kept value of `key`, if its job succeeded. Never waits and takes no scheduler lock: one
    /// hash and one read lock of a shard. A key kept as a permanent error returns `None`; `get`
    /// returns that error.
    pub fn peek(&self, key: &K) -> Option<V> {
        self.inner.store.get_value(self.inner.hash(key), key)
    }

    /// Removes the job of `key` if it is queued (or waiting out a retry delay) and no `get` waits on
    /// it. Returns whether it did. A running job is never cancelled. Never waits.
    pub fn cancel(&self, key: &K) -> bool {
        let hash = self.inner.hash(key);
        let mut fx = Effects::new();
        let cancelled = self.inner.lock().cancel(hash, key, &mut fx);
        Inner::apply(&self.inner, &mut fx);
        cancelled
    }

    /// Drops the kept value or permanent error of `key`, so the next request fetches it again.
    /// Returns whether anything was kept. Does not touch a job in flight. Never waits.
    pub fn forget(&self, key: &K) -> bool {
        self.inner.store.remove(self.inner.hash(key), key)
    }

    /// Stops taking new work: later `prefetch`es and `get`s of keys not in flight are refused with
    /// [`Prefetched::Closed`] / [`Error::Closed`]; every job that is not running and that nobody
    /// awaits (the queued prefetches, and those waiting out a retry delay) is dropped — such a job
    /// has no waiter to fail. Running jobs, and queued jobs somebody awaits, still finish; a
    /// prefetch that fails after `close` is not retried. Kept results stay readable. Idempotent;
    /// never waits.
    pub fn close(&self) {
        let mut fx = Effects::new();
        self.inner.lock().close(&mut fx);
        Inner::apply(&self.inner, &mut fx);
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
        stats.waiters += self.inner.batch_waiters.load(Ordering::Relaxed) as usize;
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
