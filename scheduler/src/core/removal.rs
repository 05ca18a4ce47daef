//! Jobs that leave without ending: `cancel`, `close`, and jobs nobody wants any more (rows T8,
//! T9).

use std::borrow::Borrow;
use std::hash::Hash;

use super::job::Phase;
use super::{Core, Effects};
use crate::event::EventKind;

impl<K: Clone + Eq + Hash, V: Clone, E> Core<K, V, E> {
    /// T9: removes the job of `key` if it is queued or backing off and nobody waits on it.
    pub(crate) fn cancel<Q>(&mut self, hash: u64, key: &Q, fx: &mut Effects<K>) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        match self.find(hash, key) {
            Some(id) if self.jobs[id].waiters.is_empty() && !self.jobs[id].is_running() => {
                self.discard(id, fx);
                // The job may have been the head of the queue waiting for bytes (T27).
                self.dispatch(fx);
                true
            }
            _ => false,
        }
    }

    /// Refuses new work from now on (T3) and drops every job that is not running and has no
    /// waiter (T9).
    pub(crate) fn close(&mut self, fx: &mut Effects<K>) {
        self.closed = true;
        let idle: Vec<usize> = self
            .jobs
            .iter()
            .filter(|(_, job)| job.waiters.is_empty() && !job.is_running())
            .map(|(id, _)| id)
            .collect();
        for id in idle {
            self.discard(id, fx);
        }
        // A discarded job may have been the head of the queue waiting for bytes (T27).
        self.dispatch(fx);
    }

    /// Removes a job that holds no slot and has no waiter (T8, T9): `Cancelled`.
    pub(super) fn discard(&mut self, id: usize, fx: &mut Effects<K>) {
        match self.jobs[id].phase {
            Phase::Queued(ticket) => {
                self.queue.remove(ticket);
            }
            Phase::Backoff { .. } => self.backing_off -= 1,
            Phase::Running { .. } => unreachable!("a running job always finishes"),
        }
        self.counters.cancelled += 1;
        self.events.send(self.jobs[id].key(), EventKind::Cancelled);
        let job = self.remove_job(id, fx);
        debug_assert!(
            job.waiters.is_empty(),
            "a job somebody awaits is never discarded"
        );
    }
}
