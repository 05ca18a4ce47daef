//! What every handle, waiter and worker of one scheduler shares.

use std::any::Any;
use std::hash::{BuildHasher, Hash};

use crate::core::{Core, Effects, Start};
use crate::error::ErrorClass;
use crate::event::EventHub;
use crate::runtime::Runtime;
use crate::store::Store;
use crate::sync::{Arc, AtomicU64, Mutex, MutexGuard, lock};
use crate::waiter::Wakers;

/// Starts a worker task for a job that got a slot.
pub(crate) type SpawnWorker<K, V, E> = fn(&Arc<Inner<K, V, E>>, Start<K>);

/// Decides whether a fetch error is worth a retry.
pub(crate) type Classify<E> = Box<dyn Fn(&E) -> ErrorClass + Send + Sync>;

pub(crate) struct Inner<K, V, E> {
    pub(crate) core: Mutex<Core<K, V, E>>,
    pub(crate) store: Store<K, V, E>,
    pub(crate) hasher: foldhash::fast::RandomState,
    pub(crate) runtime: Box<dyn Runtime>,
    /// The fetcher, type-erased; only the worker monomorphized for it (`spawn_worker`) reads it.
    pub(crate) fetcher: Box<dyn Any + Send + Sync>,
    /// Spawns a worker for the fetcher's concrete type, so attempts run unboxed inside it.
    pub(crate) spawn_worker: SpawnWorker<K, V, E>,
    pub(crate) classify: Option<Classify<E>>,
    /// Notified when the last in-flight job ends.
    pub(crate) idle: event_listener::Event,
    /// The event subscribers (also held by the core and by every job, for progress).
    pub(crate) events: std::sync::Arc<EventHub<K>>,
    /// `get`s answered from the store without the lock.
    pub(crate) hits: AtomicU64,
    /// Keys of live `get_all` streams whose answers the stream has not taken yet (the part of
    /// the `waiters` gauge that has no slot).
    pub(crate) batch_waiters: AtomicU64,
}

impl<K, V, E> Inner<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    pub(crate) fn hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Core<K, V, E>> {
        lock(&self.core)
    }

    pub(crate) fn classify(&self, error: &E) -> ErrorClass {
        self.classify
            .as_ref()
            .map_or(ErrorClass::Transient, |classify| classify(error))
    }

    /// Carries out what a locked section decided, after the lock is gone.
    #[inline]
    pub(crate) fn apply(this: &Arc<Self>, fx: Effects<K, V, E>) {
        if fx.is_empty() {
            return; // the usual case for a join, a poll or a waiter leaving
        }
        for waker in Inner::apply_but_wake(this, fx) {
            waker.wake();
        }
    }

    /// [`apply`](Self::apply), except that the tasks to wake are returned rather than woken (a
    /// worker holds them back while it runs instant jobs; see [`crate::deferred_wakes`]).
    pub(crate) fn apply_but_wake(this: &Arc<Self>, fx: Effects<K, V, E>) -> Wakers {
        let mut fx = fx;
        let mut wake = std::mem::take(&mut *fx.wake);
        let post = std::mem::take(&mut *fx.post);
        let start = std::mem::take(&mut *fx.start);
        let backoff = std::mem::take(&mut fx.backoff);
        let idle = fx.idle;
        drop(fx);
        for (inbox, job, kept) in post {
            // The job's last reference (the last answer of a job that has ended) gives its key
            // away; earlier answers get copies.
            let key =
                std::sync::Arc::try_unwrap(job).map_or_else(|job| job.key.clone(), |job| job.key);
            if let Some(waker) = inbox.post(key, kept) {
                wake.push(waker);
            }
        }
        for job in start {
            (this.spawn_worker)(this, job);
        }
        for (id, seq, delay) in backoff {
            let inner = Arc::clone(this);
            let sleep = this.runtime.sleep(delay);
            this.runtime.spawn(Box::pin(async move {
                sleep.await;
                let mut fx = Effects::new();
                inner.lock().end_backoff(id, seq, &mut fx);
                Inner::apply(&inner, fx);
            }));
        }
        if idle {
            this.idle.notify(usize::MAX);
        }
        wake
    }
}
