//! What every handle, waiter and job task of one scheduler shares, and the one place where the
//! decisions of a locked section are carried out once the lock is released.

use std::any::Any;
use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use crate::core::{Core, Effects, Start};
use crate::error::ErrorClass;
use crate::event::EventHub;
use crate::runtime::Runtime;
use crate::store::Store;
use crate::sync::{Arc, AtomicU64, Mutex, MutexGuard, lock};

/// Spawns the task of a job that got a slot.
pub(crate) type SpawnJob<K, V, E> = fn(&Arc<Inner<K, V, E>>, Start<K>);

/// Spawns the timer of a job entering backoff: (job id, job seq, delay).
pub(crate) type SpawnBackoff<K, V, E> = fn(&Arc<Inner<K, V, E>>, usize, u64, Duration);

/// Decides whether a fetch error is worth a retry.
pub(crate) type Classify<E> = Box<dyn Fn(&E) -> ErrorClass + Send + Sync>;

pub(crate) struct Inner<K, V, E> {
    pub(crate) core: Mutex<Core<K, V, E>>,
    pub(crate) store: Store<K, V, E>,
    pub(crate) hasher: foldhash::fast::RandomState,
    pub(crate) runtime: Box<dyn Runtime>,
    /// The fetcher, type-erased; read only by `spawn_job`, which knows its type.
    pub(crate) fetcher: Box<dyn Any + Send + Sync>,
    /// `tasks::spawn` for the fetcher's type, so an attempt's future
    /// lives inside its task's future rather than in a box of its own.
    pub(crate) spawn_job: SpawnJob<K, V, E>,
    /// `tasks::spawn_backoff`.
    pub(crate) spawn_backoff: SpawnBackoff<K, V, E>,
    pub(crate) classify: Option<Classify<E>>,
    /// Notified when the last in-flight job ends.
    pub(crate) idle: event_listener::Event,
    /// The event subscribers (also held by the core and by every job, for progress).
    pub(crate) events: std::sync::Arc<EventHub<K>>,
    /// `get`s answered from the store without the lock.
    pub(crate) hits: AtomicU64,
}

impl<K, V, E> Inner<K, V, E> {
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
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

    /// Carries out what a locked section decided; called after the lock is released.
    pub(crate) fn apply(this: &Arc<Self>, fx: Effects<K>) {
        let Effects {
            wake,
            start,
            backoff,
            idle,
        } = fx;
        for waker in wake {
            waker.wake();
        }
        for job in start {
            (this.spawn_job)(this, job);
        }
        for (id, seq, delay) in backoff {
            (this.spawn_backoff)(this, id, seq, delay);
        }
        if idle {
            this.idle.notify(usize::MAX);
        }
    }
}
