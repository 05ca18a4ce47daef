//! The per-key state machine: the type [`Core`], every state a key can be in, every transition
//! between them, and the bookkeeping (queue, slots, waiters, counters) each transition updates.
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
//! # Transitions
//!
//! Each row is tagged `// Tn` at the line of code that performs it, in the file the last column
//! names (all under `core/`). Every transition is a method of `Core`, so all of them are found
//! from here.
//!
//! | row | state | happening | next state | event | code |
//! |---|---|---|---|---|---|
//! | T1 | Absent | `prefetch` | Queued(Prefetch, hint) | `Queued` | `prefetch` (requests.rs) |
//! | T2 | Absent | `get` | Queued(Demand, hint), one waiter | `Queued` | `demand` (requests.rs) |
//! | T3 | Absent | `prefetch`/`get` after `close` | Absent | — (`Closed` to the caller) | `prefetch`, `demand` (requests.rs); `close` (removal.rs) |
//! | T4 | Queued, Running, Backoff | `prefetch` | same (prefetch interest kept, highest hint) | `Joined` | `prefetch` (requests.rs) |
//! | T5 | Queued(Prefetch) | `get` | Queued(Demand), moved to the demand class in O(1) | `Promoted` | `demand` (requests.rs) → `reprioritize` (waiters.rs) |
//! | T6 | Queued(Demand), Running, Backoff | `get` | same, one more waiter | `Joined` (`Promoted` if the class rose) | `demand` (requests.rs) → `reprioritize` (waiters.rs) |
//! | T7 | Queued(Demand) | last waiter dropped, prefetch interest | Queued(Prefetch), at the tail | `Demoted` | `drop_waiter` → `reprioritize` (waiters.rs) |
//! | T8 | Queued, Backoff | last waiter dropped, no prefetch interest (or closed) | Absent | `Cancelled` | `reprioritize` (waiters.rs) → `discard` (removal.rs) |
//! | T9 | Queued, Backoff without waiters | `cancel`, or `close` | Absent | `Cancelled` | `cancel`, `close` → `discard` (removal.rs) |
//! | T10 | Queued, at the head of the queue | a slot is free for its class and its weight fits the byte budget (or no running job holds bytes) | Running(attempt + 1), holding its weight, its task spawned | `Started` | `dispatch` (slots.rs) |
//! | T11 | Queued | the runtime is gone | Absent, every waiter gets `Aborted` | `Failed(Aborted)` | `dispatch` (slots.rs) → `abort` (endings.rs) |
//! | T12 | Running | waiter dropped | Running (priority may fall; it still finishes) | `Demoted` if the class fell | `drop_waiter` → `reprioritize` (waiters.rs) |
//! | T13 | Running | `Ok(v)` | Done(v), every waiter gets `v` (T13–T18 give back the bytes held) | `Succeeded` | `finish` (endings.rs) → `end_hold` (bytes.rs) |
//! | T14 | Running | permanent `Err(e)` | Done(e), every waiter gets `e` | `Failed(Permanent)` | `finish` (endings.rs) |
//! | T15 | Running | transient `Err`, attempts left, interest left | Backoff(a), no slot and no bytes held | `Retrying` | `finish` (endings.rs) |
//! | T16 | Running | transient `Err`, last attempt or nobody interested | Absent, every waiter gets `e` | `Failed(Transient)` | `finish` (endings.rs) |
//! | T17 | Running | panic | Absent, every waiter gets `Panicked` | `Failed(Panicked)` | `finish` (endings.rs) |
//! | T18 | Running | its task dropped unfinished | Absent, every waiter gets `Aborted` | `Failed(Aborted)` | `finish` (endings.rs) |
//! | T19 | Backoff | delay over | Queued(current priority) | — | `end_backoff` (endings.rs) |
//! | T20 | Backoff | its timer task dropped unfinished | Absent, every waiter gets `Aborted` | `Failed(Aborted)` | `abort_backoff` (endings.rs) |
//! | T21 | Done | `get`/`prefetch`/`peek` (also after `close`) | Done (answered at once) | — | `kept`, `is_kept`, `kept_value` (kept.rs), without the lock; `prefetch`, `demand` (requests.rs) under it |
//! | T22 | Done | `forget` | Absent | — | `forget` (kept.rs) |
//! | T23 | Absent, Done | `insert(v)` | Done(v), replacing what was kept | — | `insert` (requests.rs) |
//! | T24 | Queued, Running, Backoff | `insert(v)` | same (refused: the job's own result will be kept) | — | `insert` (requests.rs) |
//! | T25 | Running | its attempt's `set_weight(w)` | Running, holding `w` unless released (later attempts start at `w`); queued jobs start if they now fit | — | `set_weight` (bytes.rs) → `dispatch` (slots.rs) |
//! | T26 | Running | its attempt's `release()` | Running, holding no bytes; queued jobs start if they now fit | — | `release_bytes` (bytes.rs) → `dispatch` (slots.rs) |
//! | T27 | Queued, at the head of the queue | a slot is free for its class, its weight does not fit the byte budget | same; nothing queued behind it starts until bytes are given back | `WaitingForBytes` (once per attempt) | `dispatch` (slots.rs) |
//!
//! The happenings of T25 and T26 come from the attempt's `JobContext` (`weigh.rs`); a call from an
//! attempt that has ended changes nothing.
//!
//! The happenings of T13–T18 come from the attempt's task (`tasks.rs`): the fetcher's result
//! classified by the builder's `classify`, a panic it caught, or its guard when the runtime drops
//! the task. T19 and T20 come from the backoff timer's task there too.
//!
//! A job's effective priority is the highest of its live interests: `Demand` with the highest hint
//! of its waiters and prefetches if it has a waiter, else `Prefetch` with the highest hint its
//! prefetches asked for. A running job nobody wants any more still finishes, as `Prefetch`.
//!
//! "The runtime is gone" is learnt once, when a task the scheduler spawned is dropped without ever
//! being polled: the runtime refused it or shut down first. From then on no job can start, so
//! queued jobs fail at once instead of waiting for a slot nobody will run.
//!
//! # Implementation details
//!
//! - All in-flight state is a `Core` behind the scheduler's one `Mutex`
//!   (`Inner::lock` in `inner.rs`), held for well under a microsecond per
//!   operation and never across user code or an await: claim, join, promote, demote and complete
//!   are each one step, which is what makes single flight and the capacity rule easy to prove
//!   (loom models of the real code, a property test against a reference model). Nothing here
//!   awaits or calls user code except `K: Eq`/`Hash`/`Clone` and `V: Clone`.
//! - What must happen after the lock is released — waking waiters, spawning job tasks and backoff
//!   timers, telling drainers the scheduler is idle — is collected in [`Effects`] and carried out
//!   by `Inner::apply` (`inner.rs`).
//! - A job ends under the lock, which also moves its result into the store, so a key is never
//!   both in flight and kept; its waiters are woken after the lock is released.
//! - Done values live apart, in hash tables behind one `RwLock` (`store.rs`), read with the hash
//!   computed once, so the warm path never meets the scheduler lock.
//! - The queue (`queue.rs`) is a set of linked lists per (class, hint): promotion and demotion are
//!   a remove and a push, and nothing is scanned.
//! - Each attempt gets a task of its own (monomorphized for the fetcher, so its future is not
//!   boxed twice). `get_all` registers its demands 64 per lock hold (one hold per key made the
//!   caller and the job tasks fight over the lock; one hold for any number of keys would keep
//!   every job waiting as long) and is one `Wait` per key in a `FuturesUnordered`.
//! - No behaviour depends on the clock except the retry backoff.

mod bytes;
mod effects;
mod endings;
mod job;
mod kept;
mod observe;
mod removal;
mod requests;
mod slots;
mod waiters;

use std::borrow::Borrow;
use std::sync::Arc;

use hashbrown::HashTable;
use slab::Slab;

use self::bytes::Bytes;
pub(crate) use self::effects::{AttemptEnd, Effects, Start};
use self::job::Job;
use self::waiters::Waiter;
use crate::event::EventHub;
use crate::queue::Queue;
use crate::retry::RetryPolicy;
use crate::stats::Stats;

/// The scheduler's locked state: every in-flight key, the queue, the slots and the waiters.
pub(crate) struct Core<K, V, E> {
    /// In-flight keys → job ids.
    keys: HashTable<usize>,
    jobs: Slab<Job<K>>,
    queue: Queue,
    waiters: Slab<Waiter<V, E>>,
    /// Slots held, per class of the running job's current priority.
    running: [usize; 2],
    backing_off: usize,
    /// Bytes held by running jobs, against the byte budget.
    bytes: Bytes,
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

impl<K, V, E> Core<K, V, E> {
    pub(crate) fn new(
        concurrency: usize,
        reserved_for_demand: usize,
        (byte_budget, default_weight): (u64, u64),
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
            bytes: Bytes::new(
                byte_budget,
                default_weight,
                reserved_for_demand,
                concurrency,
            ),
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

    /// The job in flight for `key`, if any.
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
}
