//! Waiters and the priority they give their job: polling a waiter, a waiter going away, and the
//! recomputation of a job's priority after any change of interest (rows T5–T8, T12).

use std::hash::Hash;
use std::task::{Poll, Waker};

use super::job::Phase;
use super::{Core, Effects};
use crate::event::EventKind;
use crate::priority::{Class, Priority};
use crate::store::Kept;

/// A waiter (one `get`): waiting on a job, or holding its answer until polled.
pub(super) enum Waiter<V, E> {
    Waiting { job: usize, waker: Option<Waker> },
    Ready(Kept<V, E>),
}

impl<K, V, E> Core<K, V, E> {
    /// Polls waiter `waiter`: its answer if the job ended, else remembers `waker`.
    pub(crate) fn poll_waiter(&mut self, waiter: usize, waker: &Waker) -> Poll<Kept<V, E>> {
        match &mut self.waiters[waiter] {
            Waiter::Waiting { waker: slot, .. } => {
                if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    *slot = Some(waker.clone());
                }
                Poll::Pending
            }
            Waiter::Ready(_) => match self.waiters.remove(waiter) {
                Waiter::Ready(kept) => Poll::Ready(kept),
                Waiter::Waiting { .. } => unreachable!("the waiter was just seen ready"),
            },
        }
    }
}

impl<K: Clone + Eq + Hash, V: Clone, E> Core<K, V, E> {
    /// A waiter went away (its future was dropped) before taking its answer: T7, T8 or T12,
    /// decided by [`reprioritize`](Core::reprioritize).
    pub(crate) fn drop_waiter(&mut self, waiter: usize, fx: &mut Effects<K>) {
        if let Waiter::Waiting { job, .. } = self.waiters.remove(waiter) {
            let waiters = &mut self.jobs[job].waiters;
            if let Some(i) = waiters.iter().position(|&(w, _)| w == waiter) {
                waiters.swap_remove(i);
            }
            self.reprioritize(job, fx);
            self.dispatch(fx);
        }
    }

    /// Recomputes job `id`'s priority from its interests, and applies the change to the queue, the
    /// slot accounting, the running attempt's view and the events. A job that is not running and
    /// that nobody wants any more (or, after `close`, nobody awaits) leaves. The caller dispatches
    /// afterwards: a class change may let another job start.
    pub(super) fn reprioritize(&mut self, id: usize, fx: &mut Effects<K>) {
        let job = &mut self.jobs[id];
        let interest = job.interest();
        let unwanted = match interest {
            None => true,
            Some(_) => self.closed && job.waiters.is_empty(),
        };
        if unwanted && !job.is_running() {
            self.discard(id, fx); // T8
            return;
        }
        let now = interest.unwrap_or(Priority::prefetch(0));
        let before = job.priority;
        if now == before {
            return;
        }
        job.priority = now;
        job.shared.set_priority(now);
        match job.phase {
            Phase::Queued(ticket) => {
                // T5, T7: to the tail of its new (class, hint) bucket, in O(1).
                self.queue.remove(ticket);
                job.phase = Phase::Queued(self.queue.push(id, now));
            }
            Phase::Running { .. } => {
                // T6, T12: the slot it holds moves to its new class.
                self.running[before.class.index()] -= 1;
                self.running[now.class.index()] += 1;
                self.bytes.reclass(before.class, now.class, job.held);
            }
            Phase::Backoff { .. } => {}
        }
        match (before.class, now.class) {
            (Class::Prefetch, Class::Demand) => {
                self.counters.promoted += 1;
                self.events.send(job.key(), EventKind::Promoted(now));
            }
            (Class::Demand, Class::Prefetch) => {
                self.counters.demoted += 1;
                self.events.send(job.key(), EventKind::Demoted(now));
            }
            _ => {}
        }
    }
}
