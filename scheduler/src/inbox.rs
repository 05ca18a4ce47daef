//! Where a `get_all` batch receives its answers: posted by whoever ends a job, taken by the stream,
//! behind a small lock of its own.
//!
//! The scheduler lock only decides *which* batches a finished job answers; the answers themselves
//! (with a copy of the key each) are posted after that lock is released ([`crate::outbox`]), and
//! the stream empties its inbox without ever taking the scheduler lock. A consumer of many fast
//! jobs and the workers ending them therefore never queue on the same lock.

use std::collections::VecDeque;
use std::task::Waker;

use crate::store::Kept;
use crate::sync::{Mutex, lock};

/// The posted answers of one batch and the waker of its stream.
///
/// Aligned to a cache line so that the lock the stream and the workers share does not sit on the
/// line holding the `Arc` counts, which workers update under the scheduler lock.
#[repr(align(64))]
pub(crate) struct Inbox<K, V, E> {
    state: Mutex<State<K, V, E>>,
}

struct State<K, V, E> {
    answers: VecDeque<(K, Kept<V, E>)>,
    waker: Option<Waker>,
}

impl<K, V, E> Inbox<K, V, E> {
    pub(crate) fn new() -> Self {
        Inbox {
            state: Mutex::new(State {
                answers: VecDeque::new(),
                waker: None,
            }),
        }
    }

    /// Posts `answers` in one lock hold; returns the stream's waker if it is waiting for them.
    pub(crate) fn post_all(&self, answers: impl Iterator<Item = (K, Kept<V, E>)>) -> Option<Waker> {
        let mut state = lock(&self.state);
        state.answers.extend(answers);
        state.waker.take()
    }

    /// Moves every posted answer to the back of `out` and returns how many; with none posted,
    /// remembers `waker` for the next [`post`](Self::post).
    pub(crate) fn take(&self, out: &mut VecDeque<(K, Kept<V, E>)>, waker: &Waker) -> usize {
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
