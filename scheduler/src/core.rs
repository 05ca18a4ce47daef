//! The per-key state machine: every state a key can be in, every transition between them, and the
//! bookkeeping (queue, slots, waiters, counters) each transition updates.
//!
//! All of it sits behind the scheduler's one mutex, so every transition is one atomic step:
//! claiming a key (absent → queued) can never happen twice. Nothing here awaits or calls user code
//! except `K: Eq`/`Hash`/`Clone` and `V: Clone`. What must happen after the lock is released —
//! waking waiters, spawning job tasks and backoff timers, telling drainers the scheduler is idle —
//! is collected in [`Effects`] and carried out by [`Inner::apply`](crate::inner::Inner::apply).
//!
//! ```text
//!            prefetch / get                 slot granted                 Ok(v) / permanent Err
//!  Absent ─────────────────────▶ Queued(p) ───────────────▶ Running(a) ─────────────────────────▶ Done
//!    ▲  ▲                         │  ▲  │                     │    │                              │
//!    │  │ cancel, close,          │  │  │ get: promote        │    │ transient Err, a < max,      │
//!    │  │ last waiter gone and    │  │  │ waiter gone: demote │    │ somebody still interested    │
//!    │  │ no prefetch interest    │  │  ▼                     │    ▼                              │
//!    │  └─────────────────────────┘  └──── Backoff(a) ◀───────┘  (delay over: queued again)       │
//!    │                                                                                            │
//!    └── transient Err on the last attempt, panic, task dropped ◀── Running     forget ◀──────────┘
//! ```
//!
//! | state | happening | next state | event |
//! |---|---|---|---|
//! | Absent | `prefetch` | Queued(Prefetch, hint) | `Queued` |
//! | Absent | `get` | Queued(Demand, hint), one waiter | `Queued` |
//! | Absent | `prefetch`/`get` after `close` | Absent | — (`Closed` to the caller) |
//! | Queued, Running, Backoff | `prefetch` | same (prefetch interest kept, highest hint) | `Joined` |
//! | Queued(Prefetch) | `get` | Queued(Demand), moved to the demand class in O(1) | `Promoted` |
//! | Queued(Demand), Running, Backoff | `get` | same, one more waiter | `Joined` (`Promoted` if the class rose) |
//! | Queued(Demand) | last waiter dropped, prefetch interest | Queued(Prefetch), at the tail | `Demoted` |
//! | Queued, Backoff | last waiter dropped, no prefetch interest (or closed) | Absent | `Cancelled` |
//! | Queued, Backoff without waiters | `cancel`, or `close` | Absent | `Cancelled` |
//! | Queued | a slot is free for its class | Running(attempt + 1), its task spawned | `Started` |
//! | Queued | the runtime is gone | Absent, every waiter gets `Aborted` | `Failed(Aborted)` |
//! | Running | waiter dropped | Running (priority may fall; it still finishes) | `Demoted` if the class fell |
//! | Running | `Ok(v)` | Done(v), every waiter gets `v` | `Succeeded` |
//! | Running | permanent `Err(e)` | Done(e), every waiter gets `e` | `Failed(Permanent)` |
//! | Running | transient `Err`, attempts left, interest left | Backoff(a), no slot held | `Retrying` |
//! | Running | transient `Err`, last attempt or nobody interested | Absent, every waiter gets `e` | `Failed(Transient)` |
//! | Running | panic | Absent, every waiter gets `Panicked` | `Failed(Panicked)` |
//! | Running | its task dropped unfinished | Absent, every waiter gets `Aborted` | `Failed(Aborted)` |
//! | Backoff | delay over | Queued(current priority) | — |
//! | Backoff | its timer task dropped unfinished | Absent, every waiter gets `Aborted` | `Failed(Aborted)` |
//! | Done | `get`/`prefetch`/`peek` (also after `close`) | Done (answered at once) | — |
//! | Done | `forget` | Absent | — |
//! | Absent, Done | `insert(v)` | Done(v), replacing what was kept | — |
//! | Queued, Running, Backoff | `insert(v)` | same (refused: the job's own result will be kept) | — |
//!
//! A job's effective priority is the highest of its live interests: `Demand` with the highest hint
//! of its waiters and prefetches if it has a waiter, else `Prefetch` with the highest hint its
//! prefetches asked for. A running job nobody wants any more still finishes, as `Prefetch`.
//!
//! "The runtime is gone" is learnt once, when a task the scheduler spawned is dropped without ever
//! being polled: the runtime refused it or shut down first. From then on no job can start, so
//! queued jobs fail at once instead of waiting for a slot nobody will run.

use std::borrow::Borrow;
use std::hash::Hash;
use std::mem;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use hashbrown::HashTable;
use slab::Slab;

use crate::error::Error;
use crate::event::{EventHub, EventKind, FailCause};
use crate::fetch::JobShared;
use crate::priority::{Class, Priority};
use crate::queue::{Queue, Ticket};
use crate::retry::RetryPolicy;
use crate::stats::{InFlight, JobState, Stats};
use crate::store::{Kept, Store};

/// Where an in-flight key is. Absent and Done keys have no job: Done ones live in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a slot.
    Queued(Ticket),
    /// Holding a slot; attempt number `attempt` runs on its own task.
    Running { attempt: u32 },
    /// Attempt `attempt` failed transiently; waiting out the retry delay without a slot.
    Backoff { attempt: u32 },
}

/// One in-flight key.
struct Job<K> {
    hash: u64,
    /// Unique for the scheduler's lifetime: slab ids are reused, sequence numbers are not, so a
    /// late timer or task never touches a newer job that took its id.
    seq: u64,
    phase: Phase,
    /// The highest hint any `prefetch` asked for; `None` if no prefetch did.
    prefetch_hint: Option<u64>,
    /// Live waiters: (waiter id, hint).
    waiters: Vec<(usize, u64)>,
    /// The effective priority, kept equal to [`Job::interest`] after every transition (or
    /// `Prefetch` with hint 0 while running with no interest left).
    priority: Priority,
    /// Attempts started so far.
    attempts: u32,
    created: Instant,
    /// The key, and what the running attempt sees (priority, progress).
    shared: Arc<JobShared<K>>,
}

impl<K> Job<K> {
    fn key(&self) -> &K {
        &self.shared.key
    }

    fn is_running(&self) -> bool {
        matches!(self.phase, Phase::Running { .. })
    }

    /// The highest live interest, or `None` when neither a waiter nor a prefetch wants the key.
    fn interest(&self) -> Option<Priority> {
        let waiter_hint = self.waiters.iter().map(|&(_, hint)| hint).max();
        match (waiter_hint, self.prefetch_hint) {
            (Some(w), p) => Some(Priority::demand(w.max(p.unwrap_or(0)))),
            (None, Some(p)) => Some(Priority::prefetch(p)),
            (None, None) => None,
        }
    }
}

/// A job that just got a slot: what its task needs to run the attempt.
pub(crate) struct Start<K> {
    pub(crate) id: usize,
    pub(crate) seq: u64,
    pub(crate) attempt: u32,
    pub(crate) shared: Arc<JobShared<K>>,
}

/// How an attempt ended, classified.
pub(crate) enum AttemptEnd<V, E> {
    Succeeded(V),
    Permanent(Arc<E>),
    /// With the server's `Retry-After`, if it gave one.
    Transient(Arc<E>, Option<Duration>),
    Panicked(Arc<str>),
    /// The attempt's task was dropped unfinished; `unpolled` if it never ran at all (the runtime
    /// refused it or shut down first).
    Aborted {
        unpolled: bool,
    },
}

/// Work to do once the lock is released.
pub(crate) struct Effects<K> {
    pub(crate) wake: Vec<Waker>,
    pub(crate) start: Vec<Start<K>>,
    /// (job id, job seq, delay) of jobs entering backoff.
    pub(crate) backoff: Vec<(usize, u64, Duration)>,
    /// The last in-flight job just ended.
    pub(crate) idle: bool,
}

impl<K> Effects<K> {
    pub(crate) fn new() -> Self {
        Effects {
            wake: Vec::new(),
            start: Vec::new(),
            backoff: Vec::new(),
            idle: false,
        }
    }
}

/// A waiter (one `get`): waiting on a job, or holding its answer until polled.
enum Waiter<V, E> {
    Waiting { job: usize, waker: Option<Waker> },
    Ready(Kept<V, E>),
}

/// What [`Scheduler::prefetch`](crate::Scheduler::prefetch) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Prefetched {
    /// A new job was queued at `Prefetch` priority.
    Queued,
    /// The key was already queued, running or backing off; the prefetch joined it.
    Joined,
    /// The key is already done (a value or a permanent error is kept).
    Done,
    /// The scheduler is closed; nothing was queued.
    Closed,
}

/// The scheduler's locked state.
pub(crate) struct Core<K, V, E> {
    /// In-flight keys → job ids.
    keys: HashTable<usize>,
    jobs: Slab<Job<K>>,
    queue: Queue,
    waiters: Slab<Waiter<V, E>>,
    /// Slots held, per class of the running job's current priority.
    running: [usize; 2],
    backing_off: usize,
    closed: bool,
    /// A task was dropped before its first poll: nothing spawned will ever run.
    runtime_gone: bool,
    next_seq: u64,
    concurrency: usize,
    prefetch_limit: usize,
    retry: RetryPolicy,
    events: Arc<EventHub<K>>,
    counters: Stats,
}

/// Tables bigger than this are dropped once nothing is in flight, so memory follows the work.
const SHRINK_ABOVE: usize = 64;

impl<K, V, E> Core<K, V, E> {
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
            waiters: Slab::new(),
            running: [0; 2],
            backing_off: 0,
            closed: false,
            runtime_gone: false,
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
}

/// The transitions.
impl<K: Clone + Eq + Hash, V: Clone, E> Core<K, V, E> {
    fn find<Q>(&self, hash: u64, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let jobs = &self.jobs;
        self.keys
            .find(hash, |&id| jobs[id].key().borrow() == key)
            .copied()
    }

    // ---- requests -----------------------------------------------------------------------------
    //
    // A key is in flight or kept, never both (see `finish`), so a request looks in the store only
    // when it finds no job.

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
            return false;
        }
        store.remove(hash, &key);
        store.insert(hash, key, Ok(value), hasher);
        true
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
                return Err(kept);
            }
            if self.closed {
                self.counters.refused += 1;
                return Err(Err(Error::Closed));
            }
        }
        let waiter = self.waiters.insert(Waiter::Waiting {
            job: found.unwrap_or(usize::MAX),
            waker: None,
        });
        let Some(id) = found else {
            self.counters.queued_by_demand += 1;
            let priority = Priority::demand(hint);
            let id = self.new_job(key, hash, priority, None, Some((waiter, hint)), fx);
            // Unless the job already ended (the runtime is gone) and answered the waiter.
            if let Waiter::Waiting { job, .. } = &mut self.waiters[waiter] {
                *job = id;
            }
            return Ok((waiter, true));
        };
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
            created: Instant::now(),
            shared,
        });
        let jobs = &self.jobs;
        self.keys.insert_unique(hash, id, |&id| jobs[id].hash);
        self.dispatch(fx);
        id
    }

    // ---- waiters ------------------------------------------------------------------------------

    /// A waiter went away (its future was dropped) before taking its answer.
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
    fn reprioritize(&mut self, id: usize, fx: &mut Effects<K>) {
        let job = &mut self.jobs[id];
        let interest = job.interest();
        let unwanted = match interest {
            None => true,
            Some(_) => self.closed && job.waiters.is_empty(),
        };
        if unwanted && !job.is_running() {
            self.discard(id, fx);
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
                self.queue.remove(ticket);
                job.phase = Phase::Queued(self.queue.push(id, now));
            }
            Phase::Running { .. } => {
                self.running[before.class.index()] -= 1;
                self.running[now.class.index()] += 1;
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

    // ---- slots --------------------------------------------------------------------------------

    /// Starts queued jobs while capacity allows: demand first; prefetch only within its limit.
    /// Once the runtime is gone, fails every queued job instead.
    fn dispatch(&mut self, fx: &mut Effects<K>) {
        if self.runtime_gone {
            while let Some(id) = self
                .queue
                .pop(Class::Demand)
                .or_else(|| self.queue.pop(Class::Prefetch))
            {
                self.abort(id, fx);
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

    /// Ends an attempt: keeps the outcome (a value or a permanent error) in `store`, answers the
    /// waiters or schedules a retry, and hands the slot on.
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
        let failed = |cause| EventKind::Failed { attempt, cause };
        let outcome = match end {
            AttemptEnd::Succeeded(value) => {
                self.counters.succeeded += 1;
                self.events
                    .send(job.key(), EventKind::Succeeded { attempt });
                Ok(value)
            }
            AttemptEnd::Permanent(error) => {
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
                    let delay = self.retry.delay_after_hint(attempt, retry_after);
                    job.phase = Phase::Backoff { attempt };
                    self.backing_off += 1;
                    self.counters.retries += 1;
                    self.events
                        .send(job.key(), EventKind::Retrying { attempt, delay });
                    fx.backoff.push((id, seq, delay));
                } else {
                    self.counters.failed += 1;
                    self.events.send(job.key(), failed(FailCause::Transient));
                    self.complete(id, Err(Error::Failed(error)), fx);
                }
                self.dispatch(fx);
                return;
            }
            AttemptEnd::Panicked(message) => {
                self.counters.panicked += 1;
                self.events.send(job.key(), failed(FailCause::Panicked));
                self.complete(id, Err(Error::Panicked(message)), fx);
                self.dispatch(fx);
                return;
            }
            AttemptEnd::Aborted { unpolled } => {
                self.runtime_gone |= unpolled;
                self.counters.interrupted += 1;
                self.counters.aborted += 1;
                self.events.send(job.key(), failed(FailCause::Aborted));
                self.complete(id, Err(Error::Aborted), fx);
                self.dispatch(fx);
                return;
            }
        };
        let job = self.complete(id, outcome.clone(), fx);
        // The job's task dropped its handle on the record before ending it, so the key moves out.
        let key = Arc::try_unwrap(job.shared).map_or_else(|shared| shared.key.clone(), |s| s.key);
        store.insert(job.hash, key, outcome, hasher);
        self.dispatch(fx);
    }

    /// A backoff delay is over: queues the job again at its current priority.
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

    /// A backoff timer's task was dropped before the delay was over: the job fails with
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

    /// Fails a job that holds no slot with [`Error::Aborted`]; its queue ticket or backoff is
    /// already accounted for.
    fn abort(&mut self, id: usize, fx: &mut Effects<K>) {
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

    /// Removes a job that holds no slot and has no waiter.
    fn discard(&mut self, id: usize, fx: &mut Effects<K>) {
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

    fn remove_job(&mut self, id: usize, fx: &mut Effects<K>) -> Job<K> {
        let job = self.jobs.remove(id);
        match self.keys.find_entry(job.hash, |&i| i == id) {
            Ok(entry) => drop(entry.remove()),
            Err(_) => unreachable!("every job is indexed by its key"),
        }
        fx.idle = self.jobs.is_empty();
        job
    }

    // ---- cancel and close ---------------------------------------------------------------------

    /// Removes the job of `key` if it is queued or backing off and nobody waits on it.
    pub(crate) fn cancel<Q>(&mut self, hash: u64, key: &Q, fx: &mut Effects<K>) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        match self.find(hash, key) {
            Some(id) if self.jobs[id].waiters.is_empty() && !self.jobs[id].is_running() => {
                self.discard(id, fx);
                true
            }
            _ => false,
        }
    }

    /// Refuses new work from now on and drops every job that is not running and has no waiter.
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
    }

    // ---- observation --------------------------------------------------------------------------

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
