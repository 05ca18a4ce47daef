//! What crosses the lock's boundary: what a job task brings in ([`AttemptEnd`]), and what a locked
//! section leaves to do once the lock is released ([`Effects`], [`Start`]).

use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use crate::fetch::JobShared;

/// A job that just got a slot: what its task needs to run the attempt.
pub(crate) struct Start<K> {
    pub(crate) id: usize,
    pub(crate) seq: u64,
    pub(crate) attempt: u32,
    pub(crate) shared: Arc<JobShared<K>>,
}

/// How an attempt ended, classified by its task.
pub(crate) enum AttemptEnd<V, E> {
    Succeeded(V),
    Permanent(Arc<E>),
    /// With the server's `Retry-After`, if it gave one.
    Transient(Arc<E>, Option<Duration>),
    Panicked(Arc<str>),
    /// The attempt's task was dropped unfinished; `unpolled` if it never ran at all (the runtime
    /// refused it or shut down first).
    Aborted {
        unpolled: bool,
    },
}

/// Work to do once the lock is released, carried out by
/// `Inner::apply` (`inner.rs`).
pub(crate) struct Effects<K> {
    pub(crate) wake: Vec<Waker>,
    pub(crate) start: Vec<Start<K>>,
    /// (job id, job seq, delay) of jobs entering backoff.
    pub(crate) backoff: Vec<(usize, u64, Duration)>,
    /// The last in-flight job just ended.
    pub(crate) idle: bool,
}

impl<K> Effects<K> {
    pub(crate) fn new() -> Self {
        Effects {
            wake: Vec::new(),
            start: Vec::new(),
            backoff: Vec::new(),
            idle: false,
        }
    }
}
