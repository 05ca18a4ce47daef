//! Waiters: one slot per `get` future, holding its waker until the job ends and then its answer
//! until it is taken; and the `get_all` batches.
//!
//! A `get_all` registers all its keys as one *batch*: a job's waiter list names the batch rather
//! than a slot, and the job's answer goes to the batch's [`Inbox`], so a batch of n keys costs no
//! slot, future or allocation per key.

use std::task::{Poll, Waker};

use slab::Slab;
use smallvec::SmallVec;

use crate::inbox::Inbox;
use crate::store::Kept;
use crate::sync::Arc;

/// Wakers to wake once the scheduler lock is released; usually one.
pub(crate) type Wakers = SmallVec<[Waker; 2]>;

/// Tables bigger than this are dropped when they empty, so memory follows the work in flight.
pub(crate) const SHRINK_ABOVE: usize = 64;

/// One entry of a job's waiter list: a `get`'s slot, or a `get_all` batch (one entry per key of
/// the batch that names the job).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WaiterId(usize);

/// Set in a [`WaiterId`] that names a batch.
const BATCH: usize = 1 << (usize::BITS - 1);

/// What a [`WaiterId`] names.
pub(crate) enum Waiter {
    Slot(usize),
    Batch(usize),
}

impl WaiterId {
    pub(crate) fn slot(slot: usize) -> Self {
        debug_assert!(slot & BATCH == 0, "slab ids stay far below the top bit");
        WaiterId(slot)
    }

    pub(crate) fn batch(batch: usize) -> Self {
        debug_assert!(batch & BATCH == 0, "slab ids stay far below the top bit");
        WaiterId(batch | BATCH)
    }

    pub(crate) fn get(self) -> Waiter {
        if self.0 & BATCH == 0 {
            Waiter::Slot(self.0)
        } else {
            Waiter::Batch(self.0 & !BATCH)
        }
    }
}

struct Slot<V, E> {
    /// The job waited on, while `answer` is `None`.
    job: usize,
    answer: Option<Kept<V, E>>,
    waker: Option<Waker>,
}

pub(crate) struct Waiters<K, V, E> {
    slots: Slab<Slot<V, E>>,
    batches: Slab<Arc<Inbox<K, V, E>>>,
}

impl<K, V: Clone, E> Waiters<K, V, E> {
    pub(crate) fn new() -> Self {
        Waiters {
            slots: Slab::new(),
            batches: Slab::new(),
        }
    }

    /// A new `get` waiter on `job`.
    pub(crate) fn insert(&mut self, job: usize) -> usize {
        self.slots.insert(Slot {
            job,
            answer: None,
            waker: None,
        })
    }

    pub(crate) fn set_job(&mut self, slot: usize, job: usize) {
        self.slots[slot].job = job;
    }

    /// Gives slot `slot` its answer and collects whom to wake.
    pub(crate) fn answer(&mut self, slot: usize, answer: Kept<V, E>, wake: &mut Wakers) {
        let slot = &mut self.slots[slot];
        slot.answer = Some(answer);
        wake.extend(slot.waker.take());
    }

    /// A slot's answer if it has one (removing the slot), else remembers `waker`.
    pub(crate) fn poll(&mut self, slot: usize, waker: &Waker) -> Poll<Kept<V, E>> {
        let entry = &mut self.slots[slot];
        if entry.answer.is_some() {
            let entry = self.slots.remove(slot);
            return Poll::Ready(entry.answer.expect("checked above"));
        }
        if !entry.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            entry.waker = Some(waker.clone());
        }
        Poll::Pending
    }

    /// Removes a slot whose future went away; the job it still waited on, if it had no answer.
    pub(crate) fn remove(&mut self, slot: usize) -> Option<usize> {
        let entry = self.slots.remove(slot);
        entry.answer.is_none().then_some(entry.job)
    }

    /// A new batch answering into `inbox`.
    pub(crate) fn new_batch(&mut self, inbox: Arc<Inbox<K, V, E>>) -> usize {
        self.batches.insert(inbox)
    }

    /// The inbox of `batch`.
    pub(crate) fn inbox(&self, batch: usize) -> &Arc<Inbox<K, V, E>> {
        &self.batches[batch]
    }

    /// Forgets `batch`; no job may name it any more.
    pub(crate) fn remove_batch(&mut self, batch: usize) {
        drop(self.batches.remove(batch));
    }

    /// `get` slots alive (waiting, or answered and not yet taken).
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
