//! Reading the core without changing any key's state: gauges, counters, the in-flight snapshot,
//! and giving memory back once idle.

use std::time::Instant;

use hashbrown::HashTable;
use slab::Slab;

use super::Core;
use super::job::Phase;
use crate::priority::Class;
use crate::queue::Queue;
use crate::stats::{InFlight, JobState, Stats};

/// Tables bigger than this are dropped once nothing is in flight, so memory follows the work.
const SHRINK_ABOVE: usize = 64;

impl<K, V, E> Core<K, V, E> {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.jobs.is_empty()
    }

    /// With nothing in flight, gives back the tables a burst grew.
    pub(crate) fn shrink_if_idle(&mut self) {
        if self.jobs.is_empty() && self.jobs.capacity() > SHRINK_ABOVE {
            self.jobs = Slab::new();
            self.keys = HashTable::new();
            self.queue = Queue::default();
        }
        if self.waiters.is_empty() && self.waiters.capacity() > SHRINK_ABOVE {
            self.waiters = Slab::new();
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        Stats {
            queued_prefetch: self.queue.len(Class::Prefetch),
            queued_demand: self.queue.len(Class::Demand),
            running_prefetch: self.running[Class::Prefetch.index()],
            running_demand: self.running[Class::Demand.index()],
            backing_off: self.backing_off,
            bytes_held: self.bytes.held(),
            peak_bytes_held: self.bytes.peak(),
            waiters: self.waiters.len(),
            ..self.counters.clone()
        }
    }
}

impl<K: Clone, V, E> Core<K, V, E> {
    pub(crate) fn snapshot(&self) -> Vec<InFlight<K>> {
        let now = Instant::now();
        let mut list: Vec<InFlight<K>> = self
            .jobs
            .iter()
            .map(|(_, job)| InFlight {
                key: job.key().clone(),
                state: match job.phase {
                    Phase::Queued(_) => JobState::Queued,
                    Phase::Running { attempt } => JobState::Running { attempt },
                    Phase::Backoff { attempt } => JobState::Backoff { attempt },
                },
                priority: job.priority,
                age: now.saturating_duration_since(job.created),
                waiters: job.waiters.len(),
                progress: job.shared.progress(),
                weight: self.bytes.weight_of(job),
                bytes_held: job.held,
            })
            .collect();
        list.sort_by_key(|f| std::cmp::Reverse(f.age));
        list
    }
}
