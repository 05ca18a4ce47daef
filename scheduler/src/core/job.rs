//! One in-flight key: where it is ([`Phase`]) and who wants it.

use std::sync::Arc;
use std::time::Instant;

use crate::fetch::JobShared;
use crate::priority::Priority;
use crate::queue::Ticket;

/// Where an in-flight key is. Absent and Done keys have no job: Done ones live in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting for a slot.
    Queued(Ticket),
    /// Holding a slot; attempt number `attempt` runs on its own task.
    Running { attempt: u32 },
    /// Attempt `attempt` failed transiently; waiting out the retry delay without a slot.
    Backoff { attempt: u32 },
}

/// One in-flight key.
pub(super) struct Job<K> {
    pub(super) hash: u64,
    /// Unique for the scheduler's lifetime: slab ids are reused, sequence numbers are not, so a
    /// late timer or task never touches a newer job that took its id.
    pub(super) seq: u64,
    pub(super) phase: Phase,
    /// The highest hint any `prefetch` asked for; `None` if no prefetch did.
    pub(super) prefetch_hint: Option<u64>,
    /// Live waiters: (waiter id, hint).
    pub(super) waiters: Vec<(usize, u64)>,
    /// The effective priority, kept equal to [`Job::interest`] after every transition (or
    /// `Prefetch` with hint 0 while running with no interest left).
    pub(super) priority: Priority,
    /// Attempts started so far.
    pub(super) attempts: u32,
    /// The weight an attempt set with `JobContext::set_weight`; later attempts start at it.
    pub(super) learnt_weight: Option<u64>,
    /// Bytes this job holds against the budget: its weight while running, else 0.
    pub(super) held: u64,
    /// The running attempt gave its bytes back early (`JobContext::release`).
    pub(super) released: bool,
    /// `WaitingForBytes` was sent for the attempt about to start.
    pub(super) waited_for_bytes: bool,
    pub(super) created: Instant,
    /// The key, and what the running attempt sees (priority, progress).
    pub(super) shared: Arc<JobShared<K>>,
}

impl<K> Job<K> {
    pub(super) fn key(&self) -> &K {
        &self.shared.key
    }

    pub(super) fn is_running(&self) -> bool {
        matches!(self.phase, Phase::Running { .. })
    }

    /// The highest live interest, or `None` when neither a waiter nor a prefetch wants the key.
    pub(super) fn interest(&self) -> Option<Priority> {
        let waiter_hint = self.waiters.iter().map(|&(_, hint)| hint).max();
        match (waiter_hint, self.prefetch_hint) {
            (Some(w), p) => Some(Priority::demand(w.max(p.unwrap_or(0)))),
            (None, Some(p)) => Some(Priority::prefetch(p)),
            (None, None) => None,
        }
    }
}
