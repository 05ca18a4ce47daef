//! Handing out slots: a queued job starts when a slot its class may take is free (row T10), or
//! fails at once when the runtime is gone (row T11).

use std::hash::Hash;
use std::sync::Arc;

use super::effects::Start;
use super::job::Phase;
use super::{Core, Effects};
use crate::event::EventKind;
use crate::priority::Class;

impl<K: Clone + Eq + Hash, V: Clone, E> Core<K, V, E> {
    /// Starts queued jobs while capacity allows: demand first; prefetch only within its limit.
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
            let Some(id) = self.queue.pop(Class::Demand).or_else(|| {
                prefetch_may_run
                    .then(|| self.queue.pop(Class::Prefetch))
                    .flatten()
            }) else {
                return;
            };
            // T10
            let job = &mut self.jobs[id];
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
