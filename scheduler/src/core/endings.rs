//! How jobs end: an attempt's outcome (rows T13–T18), a backoff's end (T19, T20), and the removal
//! of an ended job with the answer to its waiters.

use std::hash::Hash;
use std::mem;
use std::sync::Arc;

use super::effects::AttemptEnd;
use super::job::{Job, Phase};
use super::waiters::Waiter;
use super::{Core, Effects};
use crate::error::Error;
use crate::event::{EventKind, FailCause};
use crate::store::{Kept, Store};

impl<K: Clone + Eq + Hash, V: Clone, E> Core<K, V, E> {
    /// Ends an attempt: keeps the outcome (a value or a permanent error) in `store`, answers the
    /// waiters or schedules a retry, and hands the slot on. Called by the attempt's task, with the
    /// outcome it classified (`tasks.rs`: the fetcher's result, a caught panic, or the task's
    /// guard when the task is dropped unfinished).
    ///
    /// The store is written under this lock, so a key is never both in flight and kept: a request
    /// that finds no job under the lock finds the kept outcome, if any.
    pub(crate) fn finish(
        &mut self,
        id: usize,
        seq: u64,
        end: AttemptEnd<V, E>,
        store: &Store<K, V, E>,
        hasher: impl Fn(&K) -> u64,
        fx: &mut Effects<K>,
    ) {
        let job = &mut self.jobs[id];
        debug_assert_eq!(job.seq, seq, "a task ended a job it did not run");
        let Phase::Running { attempt } = job.phase else {
            unreachable!("only a running job ends an attempt")
        };
        self.running[job.priority.class.index()] -= 1;
        // Every ending (T13–T18) gives back the bytes the attempt held; backoff holds none.
        self.end_hold(id);
        let job = &mut self.jobs[id];
        let failed = |cause| EventKind::Failed { attempt, cause };
        let outcome = match end {
            AttemptEnd::Succeeded(value) => {
                // T13
                self.counters.succeeded += 1;
                self.events
                    .send(job.key(), EventKind::Succeeded { attempt });
                Ok(value)
            }
            AttemptEnd::Permanent(error) => {
                // T14
                self.counters.failed += 1;
                self.events.send(job.key(), failed(FailCause::Permanent));
                Err(Error::Failed(error))
            }
            AttemptEnd::Transient(error, retry_after) => {
                let wanted = if self.closed {
                    !job.waiters.is_empty()
                } else {
                    job.interest().is_some()
                };
                if attempt < self.retry.max_attempts() && wanted {
                    // T15
                    let delay = self.retry.delay_after_hint(attempt, retry_after);
                    job.phase = Phase::Backoff { attempt };
                    self.backing_off += 1;
                    self.counters.retries += 1;
                    self.events
                        .send(job.key(), EventKind::Retrying { attempt, delay });
                    fx.backoff.push((id, seq, delay));
                } else {
                    // T16
                    self.counters.failed += 1;
                    self.events.send(job.key(), failed(FailCause::Transient));
                    self.complete(id, Err(Error::Failed(error)), fx);
                }
                self.dispatch(fx);
                return;
            }
            AttemptEnd::Panicked(message) => {
                // T17
                self.counters.panicked += 1;
                self.events.send(job.key(), failed(FailCause::Panicked));
                self.complete(id, Err(Error::Panicked(message)), fx);
                self.dispatch(fx);
                return;
            }
            AttemptEnd::Aborted { unpolled } => {
                // T18
                self.runtime_gone |= unpolled;
                self.counters.interrupted += 1;
                self.counters.aborted += 1;
                self.events.send(job.key(), failed(FailCause::Aborted));
                self.complete(id, Err(Error::Aborted), fx);
                self.dispatch(fx);
                return;
            }
        };
        // T13, T14: Done.
        let job = self.complete(id, outcome.clone(), fx);
        // The job's task dropped its handle on the record before ending it, so the key moves out.
        let key = Arc::try_unwrap(job.shared).map_or_else(|shared| shared.key.clone(), |s| s.key);
        store.insert(job.hash, key, outcome, hasher);
        self.dispatch(fx);
    }

    /// T19: a backoff delay is over; queues the job again at its current priority.
    pub(crate) fn end_backoff(&mut self, id: usize, seq: u64, fx: &mut Effects<K>) {
        let Some(job) = self.jobs.get_mut(id) else {
            return;
        };
        if job.seq != seq || !matches!(job.phase, Phase::Backoff { .. }) {
            return; // cancelled while backing off; the id may belong to a newer job
        }
        self.backing_off -= 1;
        job.phase = Phase::Queued(self.queue.push(id, job.priority));
        self.dispatch(fx);
    }

    /// T20: a backoff timer's task was dropped before the delay was over; the job fails with
    /// [`Error::Aborted`] (nothing would ever queue it again).
    pub(crate) fn abort_backoff(
        &mut self,
        id: usize,
        seq: u64,
        unpolled: bool,
        fx: &mut Effects<K>,
    ) {
        let Some(job) = self.jobs.get(id) else {
            return;
        };
        if job.seq != seq || !matches!(job.phase, Phase::Backoff { .. }) {
            return;
        }
        self.runtime_gone |= unpolled;
        self.backing_off -= 1;
        self.abort(id, fx);
        self.dispatch(fx);
    }

    /// Fails a job that holds no slot with [`Error::Aborted`] (T11, T20); its queue ticket or
    /// backoff is already accounted for.
    pub(super) fn abort(&mut self, id: usize, fx: &mut Effects<K>) {
        self.counters.aborted += 1;
        let job = &self.jobs[id];
        let kind = EventKind::Failed {
            attempt: job.attempts,
            cause: FailCause::Aborted,
        };
        self.events.send(job.key(), kind);
        self.complete(id, Err(Error::Aborted), fx);
    }

    /// Removes an ended job and answers its waiters with `outcome`; returns the job.
    fn complete(&mut self, id: usize, outcome: Kept<V, E>, fx: &mut Effects<K>) -> Job<K> {
        let job = self.remove_job(id, fx);
        let mut outcome = Some(outcome);
        let last = job.waiters.len().saturating_sub(1);
        for (i, &(waiter, _)) in job.waiters.iter().enumerate() {
            // Each waiter gets a clone, the last one the outcome itself.
            let answer = if i == last {
                outcome.take().expect("taken only by the last waiter")
            } else {
                outcome.clone().expect("taken only by the last waiter")
            };
            let slot = mem::replace(&mut self.waiters[waiter], Waiter::Ready(answer));
            if let Waiter::Waiting {
                waker: Some(waker), ..
            } = slot
            {
                fx.wake.push(waker);
            }
        }
        job
    }

    /// Takes job `id` out of the tables; tells drainers when it was the last one in flight.
    pub(super) fn remove_job(&mut self, id: usize, fx: &mut Effects<K>) -> Job<K> {
        let job = self.jobs.remove(id);
        match self.keys.find_entry(job.hash, |&i| i == id) {
            Ok(entry) => drop(entry.remove()),
            Err(_) => unreachable!("every job is indexed by its key"),
        }
        fx.idle = self.jobs.is_empty();
        job
    }
}
