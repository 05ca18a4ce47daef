//! The scheduler's locked state: in-flight jobs, the run queue, waiters and slots, and every
//! transition of the per-key state machine ([`crate::key_state`]) applied to them.
//!
//! Everything here runs under one mutex and never calls user code except `K: Eq`/`Clone` and
//! `V: Clone`. What must happen *after* the lock is released — waking tasks, spawning workers and
//! backoff timers, telling drainers the scheduler is idle — is collected in [`Effects`].

use std::hash::Hash;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Instant;

use hashbrown::HashTable;
use slab::Slab;

use crate::effects::Effects;
use crate::error::Error;
use crate::event::{EventHub, EventKind};
use crate::fetch::JobShared;
use crate::inbox::Inbox;
use crate::key_state::{Job, Phase, Shift};
use crate::priority::{Class, Priority};
use crate::queue::Queue;
use crate::retry::RetryPolicy;
use crate::stats::{InFlight, JobState, Stats};
use crate::store::{Kept, Store};
use crate::waiter::{SHRINK_ABOVE, Waiter, WaiterId, Waiters};

/// A job that just got a slot: what its worker needs to run the attempt.
pub(crate) struct Start<K> {
    pub(crate) id: usize,
    pub(crate) seq: u64,
    /// The key's hash, for the store.
    pub(crate) hash: u64,
    pub(crate) attempt: u32,
    pub(crate) shared: Arc<JobShared<K>>,
}

/// How an attempt ended, classified.
pub(crate) enum AttemptEnd<V, E> {
    Succeeded(V),
    Permanent(std::sync::Arc<E>),
    /// With the server's `Retry-After`, if it gave one.
    Transient(std::sync::Arc<E>, Option<std::time::Duration>),
    Panicked(std::sync::Arc<str>),
}

impl<V: Clone, E> AttemptEnd<V, E> {
    /// What the store keeps of this end: a value or a permanent error; nothing otherwise.
    pub(crate) fn kept(&self) -> Option<Kept<V, E>> {
        match self {
            AttemptEnd::Succeeded(value) => Some(Ok(value.clone())),
            AttemptEnd::Permanent(error) => Some(Err(Error::Failed(Arc::clone(error)))),
            AttemptEnd::Transient(..) | AttemptEnd::Panicked(_) => None,
        }
    }
}

/// What [`Scheduler::prefetch`](crate::Scheduler::prefetch) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefetched {
    /// A new job was queued at `Prefetch` priority.
    Queued,
    /// The key was already queued or running; the prefetch joined it.
    Joined,
    /// The key is already done (a value or a permanent error is kept).
    Done,
    /// The scheduler is closed; nothing was queued.
    Closed,
}

/// What a demand came to.
pub(crate) enum Demanded<K, V, E> {
    /// A waiter on job `job` (joined, promoted or new), whose sequence number is `seq`; the key
    /// back when the job already had one, to be dropped outside the lock.
    Waiter {
        waiter: WaiterId,
        job: usize,
        seq: u64,
        spare: Option<K>,
    },
    /// The key is done: its kept outcome, and the key back.
    Kept(Kept<V, E>, K),
    /// Closed and not in flight; the key back.
    Refused(K),
}

pub(crate) struct Core<K, V, E> {
    keys: HashTable<usize>,
    jobs: Slab<Job<K>>,
    queue: Queue,
    waiters: Waiters<K, V, E>,
    running: [usize; 2],
    backing_off: usize,
    closed: bool,
    next_seq: u64,
    concurrency: usize,
    prefetch_limit: usize,
    retry: RetryPolicy,
    pub(crate) events: Arc<EventHub<K>>,
    counters: Stats,
}

impl<K: Clone + Eq + Hash, V: Clone, E> Core<K, V, E> {
    pub(crate) fn new(
        concurrency: usize,
        reserved_for_demand: usize,
        retry: RetryPolicy,
        events: Arc<EventHub<K>>,
    ) -> Self {
        Core {
            keys: HashTable::new(),
            jobs: Slab::new(),
            queue: Queue::default(),
            waiters: Waiters::new(),
            running: [0; 2],
            backing_off: 0,
            closed: false,
            next_seq: 0,
            concurrency,
            prefetch_limit: concurrency - reserved_for_demand,
            retry,
            events,
            counters: Stats::default(),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.jobs.is_empty()
    }

    /// With nothing in flight, gives back the tables a burst grew (called when a drain sees the
    /// scheduler idle: the end of a burst, not a lull inside one, which would only regrow them).
    pub(crate) fn shrink_if_idle(&mut self) {
        if !self.jobs.is_empty() {
            return;
        }
        if self.jobs.capacity() > SHRINK_ABOVE {
            self.jobs = Slab::new();
            self.keys = HashTable::new();
            self.queue = Queue::default();
        }
        self.waiters.shrink_if_empty();
    }

    fn find(&self, hash: u64, key: &K) -> Option<usize> {
        let jobs = &self.jobs;
        self.keys.find(hash, |&id| jobs[id].key() == key).copied()
    }

    // ---- requests -------------------------------------------------------------------------------

    /// `prefetch`: join the job in flight, or queue a new one at `Prefetch`. The caller has checked
    /// `store` for a kept result only when the key is not in flight (a key is never both).
    pub(crate) fn prefetch(
        &mut self,
        key: K,
        hash: u64,
        hint: u64,
        store: &Store<K, V, E>,
        fx: &mut Effects<K, V, E>,
    ) -> Prefetched {
        if let Some(id) = self.find(hash, &key) {
            self.counters.joined += 1;
            let shift = self.jobs[id].add_prefetch(hint);
            let priority = self.jobs[id].priority;
            self.events
                .send(self.jobs[id].key(), EventKind::Joined(priority));
            self.on_shift(id, shift, fx);
            return Prefetched::Joined;
        }
        if store.contains(hash, &key) {
            return Prefetched::Done;
        }
        if self.closed {
            self.counters.refused += 1;
            return Prefetched::Closed;
        }
        self.counters.queued_by_prefetch += 1;
        self.new_job(key, hash, Priority::prefetch(hint), Some(hint), None, fx);
        Prefetched::Queued
    }

    /// `get`: join (promoting if needed) the job in flight, answer from `store`, or queue a new job
    /// at `Demand`. The waiter is a new slot, or with `batch` an entry naming that `get_all` batch.
    pub(crate) fn demand(
        &mut self,
        key: K,
        hash: u64,
        hint: u64,
        batch: Option<usize>,
        store: &Store<K, V, E>,
        fx: &mut Effects<K, V, E>,
    ) -> Demanded<K, V, E> {
        if let Some(id) = self.find(hash, &key) {
            let waiter = match batch {
                Some(batch) => WaiterId::batch(batch),
                None => WaiterId::slot(self.waiters.insert(id)),
            };
            let shift = self.jobs[id].add_waiter(waiter, hint);
            if shift != Shift::Promoted {
                self.counters.joined += 1;
                let priority = self.jobs[id].priority;
                self.events
                    .send(self.jobs[id].key(), EventKind::Joined(priority));
            }
            self.on_shift(id, shift, fx);
            return Demanded::Waiter {
                waiter,
                job: id,
                seq: self.jobs[id].seq,
                spare: Some(key),
            };
        }
        // Not in flight: kept (looked up only now, under this lock, so a completion cannot slip
        // between the two checks), refused, or new.
        if let Some(kept) = store.get(hash, &key) {
            return Demanded::Kept(kept, key);
        }
        if self.closed {
            self.counters.refused += 1;
            return Demanded::Refused(key);
        }
        self.counters.queued_by_demand += 1;
        let waiter = match batch {
            Some(batch) => WaiterId::batch(batch),
            None => WaiterId::slot(self.waiters.insert(usize::MAX)),
        };
        let id = self.new_job(
            key,
            hash,
            Priority::demand(hint),
            None,
            Some((waiter, hint)),
            fx,
        );
        if let Waiter::Slot(slot) = waiter.get() {
            self.waiters.set_job(slot, id);
        }
        Demanded::Waiter {
            waiter,
            job: id,
            seq: self.jobs[id].seq,
            spare: None,
        }
    }

    fn new_job(
        &mut self,
        key: K,
        hash: u64,
        priority: Priority,
        prefetch_hint: Option<u64>,
        waiter: Option<(WaiterId, u64)>,
        fx: &mut Effects<K, V, E>,
    ) -> usize {
        let seq = self.next_seq;
        self.next_seq += 1;
        // With a slot free and nobody ahead of it, a job starts at once without passing through
        // the queue (the common case when the scheduler is not saturated).
        let start_now = self.can_start_at_once(priority.class);
        let entry = self.jobs.vacant_entry();
        let id = entry.key();
        let phase = if start_now {
            Phase::Running { attempt: 0 } // set for real by `start` below
        } else {
            Phase::Queued(self.queue.push(id, priority))
        };
        self.events.send(&key, EventKind::Queued(priority));
        entry.insert(Job {
            shared: Arc::new(JobShared::new(key, priority, Arc::clone(&self.events))),
            hash,
            seq,
            phase,
            prefetch_hint,
            waiters: waiter.into_iter().collect(),
            priority,
            attempts: 0,
            created: *fx.now.get_or_insert_with(Instant::now),
        });
        let jobs = &self.jobs;
        self.keys.insert_unique(hash, id, |&id| jobs[id].hash);
        if start_now {
            self.start(id, fx);
        }
        id
    }

    /// Whether a new job of `class` may take a slot now: one is free for its class and no queued
    /// job would come before it.
    fn can_start_at_once(&self, class: Class) -> bool {
        if self.running[0] + self.running[1] >= self.concurrency
            || self.queue.len(Class::Demand) > 0
        {
            return false;
        }
        match class {
            Class::Demand => true,
            Class::Prefetch => {
                self.queue.len(Class::Prefetch) == 0
                    && self.running[Class::Prefetch.index()] < self.prefetch_limit
            }
        }
    }

    // ---- waiters --------------------------------------------------------------------------------

    /// Polls waiter `waiter`: its answer if the job ended, else remembers `waker`.
    pub(crate) fn poll_waiter(&mut self, waiter: usize, waker: &Waker) -> Poll<Kept<V, E>> {
        self.waiters.poll(waiter, waker)
    }

    /// A `get`'s future went away before taking its answer.
    pub(crate) fn drop_waiter(&mut self, slot: usize, fx: &mut Effects<K, V, E>) {
        if let Some(job) = self.waiters.remove(slot) {
            let shift = self.jobs[job].remove_waiter(WaiterId::slot(slot));
            self.on_shift(job, shift, fx);
        }
    }

    /// Makes room for `additional` more jobs, and in the queue for those of them that will not
    /// find a free slot.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.jobs.reserve(additional);
        let jobs = &self.jobs;
        self.keys.reserve(additional, |&id| jobs[id].hash);
        let free = self
            .concurrency
            .saturating_sub(self.running[0] + self.running[1]);
        self.queue.reserve(additional.saturating_sub(free));
    }

    /// A new `get_all` batch answering into `inbox`.
    pub(crate) fn new_batch(&mut self, inbox: crate::sync::Arc<Inbox<K, V, E>>) -> usize {
        self.waiters.new_batch(inbox)
    }

    /// A `get_all` went away: withdraws the demands it still had on `jobs` (one `(id, seq)` per
    /// key it registered; jobs that ended since are skipped) and forgets the batch.
    pub(crate) fn drop_batch(
        &mut self,
        batch: usize,
        jobs: &[(usize, u64)],
        fx: &mut Effects<K, V, E>,
    ) {
        for &(id, seq) in jobs {
            let Some(job) = self.jobs.get_mut(id).filter(|job| job.seq == seq) else {
                continue;
            };
            let shift = job.remove_waiter(WaiterId::batch(batch));
            self.on_shift(id, shift, fx);
        }
        self.waiters.remove_batch(batch);
    }

    /// Applies a change of a job's interests to the queue, the slot accounting and the events.
    fn on_shift(&mut self, id: usize, shift: Shift, fx: &mut Effects<K, V, E>) {
        if shift == Shift::Same {
            return;
        }
        let job = &mut self.jobs[id];
        // Not running and nobody waits: with no interest left, or after `close`, it goes.
        let unwanted = !job.is_running()
            && job.waiters.is_empty()
            && (job.prefetch_hint.is_none() || self.closed);
        if unwanted {
            self.discard(id, fx);
            return;
        }
        let priority = job.priority;
        match job.phase {
            Phase::Queued(ticket) => {
                self.queue.remove(ticket);
                job.phase = Phase::Queued(self.queue.push(id, priority));
            }
            Phase::Running { .. } if shift != Shift::Rehinted => {
                let (from, to) = match shift {
                    Shift::Promoted => (Class::Prefetch, Class::Demand),
                    _ => (Class::Demand, Class::Prefetch),
                };
                self.running[from.index()] -= 1;
                self.running[to.index()] += 1;
            }
            Phase::Running { .. } | Phase::Backoff { .. } => {}
        }
        match shift {
            Shift::Promoted => {
                self.counters.promoted += 1;
                self.events
                    .send(self.jobs[id].key(), EventKind::Promoted(priority));
            }
            Shift::Demoted => {
                self.counters.demoted += 1;
                self.events
                    .send(self.jobs[id].key(), EventKind::Demoted(priority));
            }
            _ => {}
        }
        self.dispatch(fx);
    }

    // ---- slots ----------------------------------------------------------------------------------

    /// Starts queued jobs while capacity allows: demand first; prefetch only within its limit.
    fn dispatch(&mut self, fx: &mut Effects<K, V, E>) {
        while self.running[0] + self.running[1] < self.concurrency {
            let id = match self.queue.pop(Class::Demand) {
                Some(id) => id,
                None if self.running[Class::Prefetch.index()] < self.prefetch_limit => {
                    match self.queue.pop(Class::Prefetch) {
                        Some(id) => id,
                        None => return,
                    }
                }
                None => return,
            };
            self.start(id, fx);
        }
    }

    /// Gives job `id` (out of the queue) a slot and hands it to a worker.
    fn start(&mut self, id: usize, fx: &mut Effects<K, V, E>) {
        let job = &mut self.jobs[id];
        job.attempts += 1;
        let attempt = job.attempts;
        job.phase = Phase::Running { attempt };
        if attempt > 1 {
            // A new job's progress is already zero: not touching it here spares the lock hold a
            // cache miss on memory the requesting thread just wrote.
            job.shared.reset_progress();
        }
        self.running[job.priority.class.index()] += 1;
        self.counters.attempts += 1;
        self.events.send(job.key(), EventKind::Started { attempt });
        fx.start.push(Start {
            id,
            seq: job.seq,
            hash: job.hash,
            attempt,
            shared: Arc::clone(&job.shared),
        });
    }

    /// Ends an attempt: answers the waiters or schedules a retry, and hands the slot on.
    ///
    /// The worker has already put what is kept of `end` ([`AttemptEnd::kept`]) in the store:
    /// from then until this call the key is both kept and in flight, and a request that comes
    /// meanwhile joins the job (it looks in flight first) and gets the same answer here. Keeping
    /// the store write out of this locked section halves the time the lock is held per job.
    pub(crate) fn finish(
        &mut self,
        id: usize,
        seq: u64,
        end: AttemptEnd<V, E>,
        fx: &mut Effects<K, V, E>,
    ) {
        let job = &mut self.jobs[id];
        debug_assert_eq!(job.seq, seq, "a worker finished a job it did not run");
        let Phase::Running { attempt } = job.phase else {
            unreachable!("only a running job can finish an attempt")
        };
        self.running[job.priority.class.index()] -= 1;
        match end {
            AttemptEnd::Succeeded(value) => {
                self.counters.succeeded += 1;
                self.events
                    .send(self.jobs[id].key(), EventKind::Succeeded { attempt });
                self.complete(id, &Ok(value), fx);
            }
            AttemptEnd::Permanent(error) => {
                self.counters.failed += 1;
                let kind = EventKind::Failed {
                    attempt,
                    permanent: true,
                    panicked: false,
                };
                self.events.send(self.jobs[id].key(), kind);
                self.complete(id, &Err(Error::Failed(error)), fx);
            }
            AttemptEnd::Transient(error, retry_after) => {
                let wanted = if self.closed {
                    !job.waiters.is_empty()
                } else {
                    job.interest().is_some()
                };
                if attempt < self.retry.max_attempts() && wanted {
                    let delay = self.retry.delay_after_hint(attempt, retry_after);
                    job.phase = Phase::Backoff { attempt };
                    self.backing_off += 1;
                    self.counters.retries += 1;
                    self.events
                        .send(self.jobs[id].key(), EventKind::Retrying { attempt, delay });
                    fx.backoff.push((id, seq, delay));
                } else {
                    self.counters.failed += 1;
                    let kind = EventKind::Failed {
                        attempt,
                        permanent: false,
                        panicked: false,
                    };
                    self.events.send(self.jobs[id].key(), kind);
                    self.complete(id, &Err(Error::Failed(error)), fx);
                }
            }
            AttemptEnd::Panicked(message) => {
                self.counters.panicked += 1;
                let kind = EventKind::Failed {
                    attempt,
                    permanent: false,
                    panicked: true,
                };
                self.events.send(self.jobs[id].key(), kind);
                self.complete(id, &Err(Error::Panicked(message)), fx);
            }
        }
        self.dispatch(fx);
    }

    /// A backoff delay is over: queue the job again at its current priority.
    pub(crate) fn end_backoff(&mut self, id: usize, seq: u64, fx: &mut Effects<K, V, E>) {
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

    /// Removes a finished job and answers its waiters with `outcome`: `get` slots here, batches
    /// through `fx` (posted, with the job's record each, once the lock is released).
    fn complete(&mut self, id: usize, outcome: &Kept<V, E>, fx: &mut Effects<K, V, E>) {
        let job = self.remove_job(id, fx);
        // The record moves into the last batch answer (a clone for each one before it): usually
        // the only one, and the job is gone anyway.
        let mut batches = job
            .waiters
            .iter()
            .filter(|(waiter, _)| matches!(waiter.get(), Waiter::Batch(_)))
            .count();
        let mut record = Some(job.shared);
        for &(waiter, _) in &job.waiters {
            match waiter.get() {
                Waiter::Slot(slot) => self.waiters.answer(slot, outcome.clone(), &mut fx.wake),
                Waiter::Batch(batch) => {
                    batches -= 1;
                    let record = match batches {
                        0 => record.take(),
                        _ => record.clone(),
                    }
                    .expect("the record is moved out by the last batch answer only");
                    fx.post.push(
                        batch,
                        || crate::sync::Arc::clone(self.waiters.inbox(batch)),
                        record,
                        outcome.clone(),
                    );
                }
            }
        }
    }

    /// Removes a job that has not finished, holds no slot and has no waiter.
    fn discard(&mut self, id: usize, fx: &mut Effects<K, V, E>) {
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

    fn remove_job(&mut self, id: usize, fx: &mut Effects<K, V, E>) -> Job<K> {
        let job = self.jobs.remove(id);
        match self.keys.find_entry(job.hash, |&i| i == id) {
            Ok(entry) => {
                entry.remove();
            }
            Err(_) => unreachable!("every job is indexed by its key"),
        }
        fx.idle = self.jobs.is_empty();
        job
    }

    // ---- cancel and close -----------------------------------------------------------------------

    /// Removes the job of `key` if it is queued or backing off and nobody waits on it.
    pub(crate) fn cancel(&mut self, hash: u64, key: &K, fx: &mut Effects<K, V, E>) -> bool {
        match self.find(hash, key) {
            Some(id) if self.jobs[id].waiters.is_empty() && !self.jobs[id].is_running() => {
                self.discard(id, fx);
                true
            }
            _ => false,
        }
    }

    /// Refuses new work from now on and drops every job that is not running and has no waiter.
    pub(crate) fn close(&mut self, fx: &mut Effects<K, V, E>) {
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
    }

    // ---- observation ----------------------------------------------------------------------------

    pub(crate) fn stats(&self) -> Stats {
        Stats {
            queued_prefetch: self.queue.len(Class::Prefetch),
            queued_demand: self.queue.len(Class::Demand),
            running_prefetch: self.running[Class::Prefetch.index()],
            running_demand: self.running[Class::Demand.index()],
            backing_off: self.backing_off,
            waiters: self.waiters.len(),
            ..self.counters.clone()
        }
    }

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
            })
            .collect();
        list.sort_by_key(|f| std::cmp::Reverse(f.age));
        list
    }
}
