//! What a locked section leaves to do once the scheduler lock is released.

use std::mem::ManuallyDrop;
use std::time::{Duration, Instant};

use smallvec::SmallVec;

use crate::core::Start;
use crate::outbox::Outbox;
use crate::waiter::Wakers;

/// Jobs one locked section started, in the order it started them; usually one.
pub(crate) type Starts<K> = SmallVec<[Start<K>; 1]>;

/// Work to do once the lock is released: tasks to wake, `get_all` answers to post, workers and
/// backoff timers to spawn, drainers to tell.
///
/// Most locked sections (a join, a poll, a waiter leaving) leave it empty; its lists are then
/// dropped without running their element destructors (see the `Drop` impl), which showed in the
/// `join` benchmark. A worker keeps one for its whole life, so the lists it fills batch after
/// batch keep their capacity.
pub(crate) struct Effects<K, V, E> {
    pub(crate) wake: ManuallyDrop<Wakers>,
    /// Answers for `get_all` batches.
    pub(crate) post: ManuallyDrop<Outbox<K, V, E>>,
    pub(crate) start: ManuallyDrop<Starts<K>>,
    /// (job id, job seq, delay) of jobs entering backoff.
    pub(crate) backoff: Vec<(usize, u64, Duration)>,
    /// The last in-flight job just ended.
    pub(crate) idle: bool,
    /// The time, read once per locked section that creates jobs (a clock read per job showed in
    /// profiles; a job's age only serves stall diagnosis).
    pub(crate) now: Option<Instant>,
}

impl<K, V, E> Drop for Effects<K, V, E> {
    fn drop(&mut self) {
        release(&mut self.wake);
        release(&mut self.start);
        if self.post.holds_memory() {
            // The empty outbox left in its place holds no memory.
            drop(std::mem::replace(&mut *self.post, Outbox::new()));
        }
    }
}

/// Drops `list` unless it is inline and empty (the usual case), in which there is nothing to drop.
fn release<A: smallvec::Array>(list: &mut ManuallyDrop<SmallVec<A>>) {
    if list.spilled() || !list.is_empty() {
        drop(std::mem::take(&mut **list));
    }
}

impl<K, V, E> Effects<K, V, E> {
    pub(crate) fn new() -> Self {
        Effects {
            wake: ManuallyDrop::new(SmallVec::new()),
            post: ManuallyDrop::new(Outbox::new()),
            start: ManuallyDrop::new(SmallVec::new()),
            backoff: Vec::new(),
            idle: false,
            now: None,
        }
    }

    /// Whether there is nothing to do.
    pub(crate) fn is_empty(&self) -> bool {
        self.wake.is_empty()
            && self.post.is_empty()
            && self.start.is_empty()
            && self.backoff.is_empty()
            && !self.idle
    }
}
