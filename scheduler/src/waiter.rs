//! Waiters: one slot per `get` future (or per key of a `get_all`), holding its waker until the job
//! ends and then its answer until it is taken.
//!
//! A `get_all` registers all its keys as one *batch*: their slots share the batch's waker and, when
//! answered, queue their ids on the batch, so a batch of n keys is woken once per burst of answers
//! and collects them under one lock, without a future (or an allocation) per key.

use std::collections::VecDeque;
use std::task::{Poll, Waker};

use slab::Slab;
use smallvec::SmallVec;

use crate::store::Kept;

struct Slot<K, V, E> {
    /// The job waited on, while `answer` is `None`.
    job: usize,
    answer: Option<Kept<V, E>>,
    /// The task to wake, for a single waiter.
    waker: Option<Waker>,
    /// The batch and the key to yield, for a `get_all` waiter.
    batch: Option<(usize, K)>,
}

#[derive(Default)]
struct Batch {
    ready: Vec<usize>,
    waker: Option<Waker>,
}

/// Wakers to wake once the scheduler lock is released; usually one.
pub(crate) type Wakers = SmallVec<[Waker; 2]>;

pub(crate) struct Waiters<K, V, E> {
    slots: Slab<Slot<K, V, E>>,
    batches: Slab<Batch>,
}

impl<K, V: Clone, E> Waiters<K, V, E> {
    pub(crate) fn new() -> Self {
        Waiters {
            slots: Slab::new(),
            batches: Slab::new(),
        }
    }

    /// A new waiter on `job`, alone or in `batch` (with the key it will yield).
    pub(crate) fn insert(&mut self, job: usize, batch: Option<(usize, K)>) -> usize {
        self.slots.insert(Slot {
            job,
            answer: None,
            waker: None,
            batch,
        })
    }

    pub(crate) fn set_job(&mut self, waiter: usize, job: usize) {
        self.slots[waiter].job = job;
    }

    /// Gives `waiter` its answer and collects whom to wake.
    pub(crate) fn answer(&mut self, waiter: usize, answer: Kept<V, E>, wake: &mut Wakers) {
        let slot = &mut self.slots[waiter];
        slot.answer = Some(answer);
        match &slot.batch {
            Some((batch, _)) => {
                let batch = &mut self.batches[*batch];
                batch.ready.push(waiter);
                wake.extend(batch.waker.take());
            }
            None => wake.extend(slot.waker.take()),
        }
    }

    /// A single waiter's answer if it has one (removing its slot), else remembers `waker`.
    pub(crate) fn poll(&mut self, waiter: usize, waker: &Waker) -> Poll<Kept<V, E>> {
        let slot = &mut self.slots[waiter];
        if slot.answer.is_some() {
            let slot = self.slots.remove(waiter);
            return Poll::Ready(slot.answer.expect("checked above"));
        }
        if !slot.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            slot.waker = Some(waker.clone());
        }
        Poll::Pending
    }

    /// Removes a waiter that went away; the job it still waited on, if it had no answer yet.
    pub(crate) fn remove(&mut self, waiter: usize) -> Option<usize> {
        let slot = self.slots.remove(waiter);
        slot.answer.is_none().then_some(slot.job)
    }

    pub(crate) fn new_batch(&mut self) -> usize {
        self.batches.insert(Batch::default())
    }

    /// Moves every answered waiter of `batch` into `out`; with none, remembers `waker`.
    pub(crate) fn poll_batch(
        &mut self,
        batch: usize,
        waker: &Waker,
        out: &mut VecDeque<(K, Kept<V, E>)>,
    ) {
        let mut ready = std::mem::take(&mut self.batches[batch].ready);
        if ready.is_empty() {
            self.batches[batch].waker = Some(waker.clone());
            return;
        }
        for waiter in ready.drain(..) {
            let slot = self.slots.remove(waiter);
            let (_, key) = slot.batch.expect("a batch lists only its own waiters");
            out.push_back((key, slot.answer.expect("a listed waiter is answered")));
        }
        self.batches[batch].ready = ready; // keep its capacity for the next burst
    }

    /// Removes `batch` and all its slots; returns `(waiter, job)` of those still waiting.
    pub(crate) fn remove_batch(&mut self, batch: usize) -> Vec<(usize, usize)> {
        self.batches.remove(batch);
        let mine: Vec<usize> = self
            .slots
            .iter()
            .filter(|(_, slot)| slot.batch.as_ref().is_some_and(|(b, _)| *b == batch))
            .map(|(id, _)| id)
            .collect();
        let mut waiting = Vec::new();
        for waiter in mine {
            if let Some(job) = self.remove(waiter) {
                waiting.push((waiter, job));
            }
        }
        waiting
    }

    pub(crate) fn reserve(&mut self, additional: usize) {
        self.slots.reserve(additional);
    }

    /// Slots alive (waiting, or answered and not yet taken).
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Gives back the memory of a large burst once every waiter is gone.
    pub(crate) fn shrink_if_empty(&mut self) {
        if self.slots.is_empty() && self.slots.capacity() > SHRINK_ABOVE {
            self.slots = Slab::new();
        }
        if self.batches.is_empty() && self.batches.capacity() > SHRINK_ABOVE {
            self.batches = Slab::new();
        }
    }
}

/// Tables bigger than this are dropped when they empty, so memory follows the work in flight.
pub(crate) const SHRINK_ABOVE: usize = 64;
