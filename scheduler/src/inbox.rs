//! Where a `get_all` batch receives its answers: posted by whoever ends a job, taken by the stream,
//! behind a small lock of its own.
//!
//! The scheduler lock only decides *which* batches a finished job answers; the answers themselves
//! are posted after that lock is released ([`crate::outbox`]), and the stream empties its inbox
//! without ever taking the scheduler lock. A consumer of many fast jobs and the workers ending them
//! therefore never queue on the same lock.
//!
//! An answer carries its job's record rather than a key: the stream takes the key out of it (a
//! move, or a clone when another batch shares the job), so the record is freed on the thread that
//! allocated it — the one that called `get_all` — instead of on a worker's. A free on another
//! thread is the allocator's slow path; this one costs what the allocation did.

use std::collections::VecDeque;
use std::task::Waker;

use crate::fetch::JobShared;
use crate::store::Kept;
use crate::sync::{Mutex, lock};

/// The key of an answer.
pub(crate) enum AnswerKey<K> {
    /// The caller's own key, answered at once (kept, or refused).
    Own(K),
    /// The record of the job that answered, holding the key.
    Job(std::sync::Arc<JobShared<K>>),
}

impl<K: Clone> AnswerKey<K> {
    /// The key: moved out of the job record when this was its last holder, else cloned.
    pub(crate) fn into_key(self) -> K {
        match self {
            AnswerKey::Own(key) => key,
            AnswerKey::Job(job) => {
                std::sync::Arc::try_unwrap(job).map_or_else(|job| job.key.clone(), |job| job.key)
            }
        }
    }
}

/// One answer of a batch.
pub(crate) type Answer<K, V, E> = (AnswerKey<K>, Kept<V, E>);

/// The posted answers of one batch and the waker of its stream.
///
/// Aligned to a cache line so that the lock the stream and the workers share does not sit on the
/// line holding the `Arc` counts, which workers update under the scheduler lock.
#[repr(align(64))]
pub(crate) struct Inbox<K, V, E> {
    state: Mutex<State<K, V, E>>,
}

struct State<K, V, E> {
    answers: VecDeque<Answer<K, V, E>>,
    waker: Option<Waker>,
}

impl<K, V, E> Inbox<K, V, E> {
    /// An inbox with room for `capacity` answers before it grows.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Inbox {
            state: Mutex::new(State {
                answers: VecDeque::with_capacity(capacity),
                waker: None,
            }),
        }
    }

    /// Posts `answers` in one lock hold; returns the stream's waker if it is waiting for them.
    pub(crate) fn post_all(&self, answers: impl Iterator<Item = Answer<K, V, E>>) -> Option<Waker> {
        let mut state = lock(&self.state);
        state.answers.extend(answers);
        state.waker.take()
    }

    /// Moves every posted answer to the back of `out` and returns how many; with none posted,
    /// remembers `waker` for the next [`post`](Self::post).
    pub(crate) fn take(&self, out: &mut VecDeque<Answer<K, V, E>>, waker: &Waker) -> usize {
        let mut state = lock(&self.state);
        let taken = state.answers.len();
        if taken == 0 {
            if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                state.waker = Some(waker.clone());
            }
        } else if out.is_empty() {
            std::mem::swap(out, &mut state.answers);
        } else {
            out.append(&mut state.answers);
        }
        taken
    }
}
