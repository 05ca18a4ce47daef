//! Requests: `prefetch`, `get` and `insert` under the lock (rows T1–T6, T21, T23, T24).
//!
//! A key is in flight or kept, never both (see [`Core::finish`]), so a request looks in the store
//! only when it finds no job.

use std::hash::Hash;
use std::sync::Arc;
use std::time::Instant;

use super::job::{Job, Phase};
use super::waiters::Waiter;
use super::{Core, Effects};
use crate::error::Error;
use crate::event::EventKind;
use crate::fetch::JobShared;
use crate::prefetched::Prefetched;
use crate::priority::{Class, Priority};
use crate::store::{Kept, Store};

impl<K: Clone + Eq + Hash, V: Clone, E> Core<K, V, E> {
    /// `prefetch`: joins the job in flight, or queues a new one at `Prefetch` unless it is kept.
    pub(crate) fn prefetch(
        &mut self,
        key: K,
        hash: u64,
        hint: u64,
        store: &Store<K, V, E>,
        fx: &mut Effects<K>,
    ) -> Prefetched {
        if let Some(id) = self.find(hash, &key) {
            // T4: the prefetch interest is kept, with the highest hint asked for.
            self.counters.joined += 1;
            let job = &mut self.jobs[id];
            job.prefetch_hint = Some(job.prefetch_hint.map_or(hint, |h| h.max(hint)));
            self.reprioritize(id, fx);
            if let Some(job) = self.jobs.get(id) {
                self.events.send(job.key(), EventKind::Joined(job.priority));
            }
            self.dispatch(fx);
            return Prefetched::Joined;
        }
        if store.contains(hash, &key) {
            return Prefetched::Done; // T21, met under the lock
        }
        if self.closed {
            self.counters.refused += 1;
            return Prefetched::Closed; // T3
        }
        // T1
        self.counters.queued_by_prefetch += 1;
        self.new_job(key, hash, Priority::prefetch(hint), Some(hint), None, fx);
        Prefetched::Queued
    }

    /// `get`: joins the job in flight (promoting it if needed), or queues a new one at `Demand`
    /// unless it is kept. Returns the new waiter's id and whether this demand queued the job, or
    /// the answer at once (`Err`): the kept outcome, or `Closed`.
    pub(crate) fn demand(
        &mut self,
        key: K,
        hash: u64,
        hint: u64,
        store: &Store<K, V, E>,
        fx: &mut Effects<K>,
    ) -> Result<(usize, bool), Kept<V, E>> {
        let found = self.find(hash, &key);
        if found.is_none() {
            if let Some(kept) = store.get(hash, &key) {
                self.counters.hits += 1;
                return Err(kept); // T21, met under the lock
            }
            if self.closed {
                self.counters.refused += 1;
                return Err(Err(Error::Closed)); // T3
            }
        }
        let waiter = self.waiters.insert(Waiter::Waiting {
            job: found.unwrap_or(usize::MAX),
            waker: None,
        });
        let Some(id) = found else {
            // T2
            self.counters.queued_by_demand += 1;
            let priority = Priority::demand(hint);
            let id = self.new_job(key, hash, priority, None, Some((waiter, hint)), fx);
            // Unless the job already ended (the runtime is gone, T11) and answered the waiter.
            if let Waiter::Waiting { job, .. } = &mut self.waiters[waiter] {
                *job = id;
            }
            return Ok((waiter, true));
        };
        // T5 (a queued prefetch) or T6 (anything else in flight): one more waiter; the class
        // rises in `reprioritize` if the job was a prefetch.
        let job = &mut self.jobs[id];
        job.waiters.push((waiter, hint));
        let joined = job.priority.class == Class::Demand;
        self.reprioritize(id, fx);
        if joined {
            self.counters.joined += 1;
            let job = &self.jobs[id];
            self.events.send(job.key(), EventKind::Joined(job.priority));
        }
        self.dispatch(fx);
        Ok((waiter, false))
    }

    /// `insert`: keeps `value` for a key that has no job in flight, replacing what was kept.
    /// Returns whether it did. Done under the lock so no job can be claimed between the check and
    /// the write: a key stays in flight or kept, never both.
    pub(crate) fn insert(
        &mut self,
        key: K,
        hash: u64,
        value: V,
        store: &Store<K, V, E>,
        hasher: impl Fn(&K) -> u64,
    ) -> bool {
        if self.find(hash, &key).is_some() {
            return false; // T24: the job's own result will be kept
        }
        // T23
        store.remove(hash, &key);
        store.insert(hash, key, Ok(value), hasher);
        true
    }

    /// Claims an absent key: a new job, queued at `priority` (T1, T2), then started if a slot is
    /// free (T10) or failed if the runtime is gone (T11).
    fn new_job(
        &mut self,
        key: K,
        hash: u64,
        priority: Priority,
        prefetch_hint: Option<u64>,
        waiter: Option<(usize, u64)>,
        fx: &mut Effects<K>,
    ) -> usize {
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = self.jobs.vacant_entry();
        let id = entry.key();
        let ticket = self.queue.push(id, priority);
        self.events.send(&key, EventKind::Queued(priority));
        let shared = Arc::new(JobShared::new(key, priority, Arc::clone(&self.events)));
        entry.insert(Job {
            hash,
            seq,
            phase: Phase::Queued(ticket),
            prefetch_hint,
            waiters: waiter.into_iter().collect(),
            priority,
            attempts: 0,
            learnt_weight: None,
            held: 0,
            released: false,
            waited_for_bytes: false,
            created: Instant::now(),
            shared,
        });
        let jobs = &self.jobs;
        self.keys.insert_unique(hash, id, |&id| jobs[id].hash);
        self.dispatch(fx);
        id
    }
}
