//! What every handle, waiter and worker of one scheduler shares.

use std::any::Any;
use std::hash::{BuildHasher, Hash};

use crate::core::Core;
use crate::effects::{Effects, Starts};
use crate::error::ErrorClass;
use crate::event::EventHub;
use crate::runtime::Runtime;
use crate::store::Store;
use crate::sync::{Arc, AtomicU64, Mutex, MutexGuard, lock};

/// Starts worker tasks for jobs that got slots.
pub(crate) type SpawnWorker<K, V, E> = fn(&Arc<Inner<K, V, E>>, Starts<K>);

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
    /// At most this many workers are spawned for the jobs one locked section starts: the
    /// machine's parallelism, so a burst of instant jobs is spread over every executor thread
    /// while each worker still ends many jobs per lock hold.
    pub(crate) parallelism: usize,
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

    /// Carries out what a locked section decided, after the lock is gone, leaving `fx` empty.
    /// By reference: `Effects` is large (184 bytes for `String` keys), and moving it into the
    /// call showed as a `memmove` in the `join` benchmark.
    #[inline]
    pub(crate) fn apply(this: &Arc<Self>, fx: &mut Effects<K, V, E>) {
        if fx.is_empty() {
            return; // the usual case for a join, a poll or a waiter leaving
        }
        Inner::carry_out(this, fx);
        for waker in fx.wake.drain(..) {
            waker.wake();
        }
    }

    /// Carries out `fx` except waking: the tasks to wake are left in `fx.wake` (a worker holds
    /// them back while it runs instant jobs; see [`crate::deferred_wakes`]). Leaves `fx` otherwise
    /// empty, its lists keeping their capacity.
    pub(crate) fn carry_out(this: &Arc<Self>, fx: &mut Effects<K, V, E>) {
        fx.now = None;
        fx.post.deliver(&mut fx.wake);
        if !fx.start.is_empty() {
            (this.spawn_worker)(this, std::mem::take(&mut *fx.start));
        }
        for (id, seq, delay) in fx.backoff.drain(..) {
            let inner = Arc::clone(this);
            let sleep = this.runtime.sleep(delay);
            this.runtime.spawn(Box::pin(async move {
                sleep.await;
                let mut fx = Effects::new();
                inner.lock().end_backoff(id, seq, &mut fx);
                Inner::apply(&inner, &mut fx);
            }));
        }
        if std::mem::take(&mut fx.idle) {
            this.idle.notify(usize::MAX);
        }
    }
}
