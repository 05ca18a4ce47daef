//! Handing out slots and bytes: a queued job starts when a slot its class may take is free and its
//! weight fits the byte budget (row T10), waits at the head of the queue while it does not (T27),
//! or fails at once when the runtime is gone (row T11).

use std::hash::Hash;
use std::sync::Arc;

use super::effects::Start;
use super::job::Phase;
use super::{Core, Effects};
use crate::event::EventKind;
use crate::priority::Class;

impl<K: Clone + Eq + Hash, V: Clone, E> Core<K, V, E> {
    /// Starts queued jobs while capacity allows: demand first; prefetch only within its limits.
    /// The job at the head of the queue that does not fit the byte budget stops dispatch until
    /// bytes are given back: nothing behind it overtakes it, so it never waits forever (bytes only
    /// go down until it fits, or until nothing is held and it runs alone).
    /// Once the runtime is gone, fails every queued job instead. Called at the end of every
    /// transition that may free a slot, queue a job or change a class.
    pub(super) fn dispatch(&mut self, fx: &mut Effects<K>) {
        if self.runtime_gone {
            while let Some(id) = self
                .queue
                .pop(Class::Demand)
                .or_else(|| self.queue.pop(Class::Prefetch))
            {
                self.abort(id, fx); // T11
            }
            return;
        }
        while self.running[0] + self.running[1] < self.concurrency {
            let prefetch_may_run = self.running[Class::Prefetch.index()] < self.prefetch_limit;
            let class = if self.queue.len(Class::Demand) > 0 {
                Class::Demand
            } else if prefetch_may_run && self.queue.len(Class::Prefetch) > 0 {
                Class::Prefetch
            } else {
                return;
            };
            let id = self.queue.peek(class).expect("the class has a queued job");
            let weight = self.bytes.weight_of(&self.jobs[id]);
            if !self.bytes.fits(class, weight) {
                // T27: a slot is free, the bytes are not.
                let job = &mut self.jobs[id];
                if !job.waited_for_bytes {
                    job.waited_for_bytes = true;
                    self.counters.waited_for_bytes += 1;
                    let held = self.bytes.held();
                    self.events
                        .send(job.key(), EventKind::WaitingForBytes { weight, held });
                }
                return;
            }
            self.queue.pop(class);
            // T10
            self.bytes.take(class, weight);
            let job = &mut self.jobs[id];
            job.held = weight;
            job.released = false;
            job.waited_for_bytes = false;
            job.attempts += 1;
            let attempt = job.attempts;
            job.phase = Phase::Running { attempt };
            job.shared.reset_progress();
            self.running[job.priority.class.index()] += 1;
            self.counters.attempts += 1;
            self.events.send(job.key(), EventKind::Started { attempt });
            fx.start.push(Start {
                id,
                seq: job.seq,
                attempt,
                shared: Arc::clone(&job.shared),
            });
        }
    }
}
