//! The per-key state machine.
//!
//! Every key is in exactly one state. All transitions happen under the scheduler's one lock, so
//! claiming a key (absent → queued) is a single atomic step and two callers can never both start it.
//!
//! ```text
//!            prefetch / get                 slot granted                 Ok(v) / permanent Err
//!  Absent ─────────────────────▶ Queued(p) ───────────────▶ Running(a) ─────────────────────────▶ Done
//!    ▲  ▲                         │  ▲  │                     │    │                              │
//!    │  │ cancel, close,          │  │  │ get: promote        │    │ transient Err, a < max,      │
//!    │  │ last waiter gone and    │  │  │ waiter gone: demote │    │ somebody still interested    │
//!    │  │ no prefetch interest    │  │  ▼                     │    ▼                              │
//!    │  └─────────────────────────┘  └──── Backoff(a) ◀──────-┘  (delay over: queued again)       │
//!    │                                                                                            │
//!    └── transient Err on the last attempt, panic ◀── Running     forget ◀────────────────────────┘
//! ```
//!
//! | state | happening | next state | event |
//! |---|---|---|---|
//! | Absent | `prefetch` | Queued(Prefetch) | `Queued` |
//! | Absent | `get` | Queued(Demand), one waiter | `Queued` |
//! | Absent | `prefetch`/`get` after `close` | Absent | — (`Closed` to the caller) |
//! | Queued, Running, Backoff | `prefetch` | same (prefetch interest kept, highest hint) | `Joined` |
//! | Queued(Prefetch) | `get` | Queued(Demand), moved to the demand class in O(1) | `Promoted` |
//! | Queued(Demand), Running, Backoff | `get` | same, one more waiter | `Joined` (`Promoted` if the class rose) |
//! | Queued(Demand) | last waiter dropped, prefetch interest | Queued(Prefetch), at the tail | `Demoted` |
//! | Queued, Backoff | last waiter dropped, no prefetch interest | Absent | `Cancelled` |
//! | Queued, Backoff without waiters | `cancel`, or `close` | Absent | `Cancelled` |
//! | Queued, Backoff, after `close` | last waiter dropped (even with prefetch interest) | Absent | `Cancelled` |
//! | Running, after `close` | transient `Err` and no waiter | Absent (no retry) | `Failed` |
//! | Queued | a slot is free for its class | Running(attempt + 1) | `Started` |
//! | Running | waiter dropped | Running (priority may fall; it still finishes) | `Demoted` if the class fell |
//! | Running | `Ok(v)` | Done(v), every waiter gets `v` | `Succeeded` |
//! | Running | permanent `Err(e)` | Done(e), every waiter gets `e` | `Failed` |
//! | Running | transient `Err`, attempts left, interest left | Backoff(a), no slot held | `Retrying` |
//! | Running | transient `Err`, last attempt or nobody interested | Absent, every waiter gets `e` | `Failed` |
//! | Running | panic | Absent, every waiter gets `Panicked` | `Failed` |
//! | Backoff | delay over | Queued(current priority) | — |
//! | Done | `get`/`prefetch`/`peek` | Done (answered at once) | — |
//! | Done | `forget` | Absent | — |
//!
//! A job's effective priority is the highest of its live interests: `Demand` with the highest hint
//! of its waiters if it has any, else `Prefetch` with the highest hint its prefetches asked for.

use std::time::Instant;

use crate::fetch::JobShared;
use crate::priority::{Class, Priority};
use crate::queue::Ticket;
use crate::waiter::WaiterId;
use smallvec::SmallVec;
use std::sync::Arc;

/// Where an in-flight job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for a slot.
    Queued(Ticket),
    /// Holding a slot; attempt number `attempt` runs.
    Running { attempt: u32 },
    /// Attempt `attempt` failed transiently; waiting out the retry delay without a slot.
    Backoff { attempt: u32 },
}

/// One in-flight key: queued, running or backing off. Done keys live in the store instead.
pub(crate) struct Job<K> {
    /// The key, priority and progress, shared with the running attempt.
    pub(crate) shared: Arc<JobShared<K>>,
    pub(crate) hash: u64,
    /// Unique for the scheduler's lifetime: slab ids are reused, sequence numbers are not.
    pub(crate) seq: u64,
    pub(crate) phase: Phase,
    /// The highest hint any `prefetch` asked for; `None` if no prefetch did.
    pub(crate) prefetch_hint: Option<u64>,
    /// Live waiters: (waiter, hint). Usually one, kept inline.
    pub(crate) waiters: SmallVec<[(WaiterId, u64); 1]>,
    /// The effective priority, kept equal to [`Job::interest`] after every transition (or to the
    /// last one while running with no interest left).
    pub(crate) priority: Priority,
    /// Attempts started so far.
    pub(crate) attempts: u32,
    pub(crate) created: Instant,
}

/// How a transition moved a job's effective priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shift {
    /// Nothing changed.
    Same,
    /// The class stayed, the hint rose or fell.
    Rehinted,
    /// Prefetch → Demand.
    Promoted,
    /// Demand → Prefetch (also when the last waiter of a job nobody prefetched leaves: a running
    /// job nobody waits for is speculative work).
    Demoted,
}

impl<K> Job<K> {
    pub(crate) fn key(&self) -> &K {
        &self.shared.key
    }

    /// The highest live interest, or `None` when neither a waiter nor a prefetch wants the key.
    pub(crate) fn interest(&self) -> Option<Priority> {
        match self.waiters.iter().map(|&(_, hint)| hint).max() {
            Some(hint) => Some(Priority::demand(hint)),
            None => self.prefetch_hint.map(Priority::prefetch),
        }
    }

    /// Records a prefetch's interest.
    pub(crate) fn add_prefetch(&mut self, hint: u64) -> Shift {
        self.prefetch_hint = Some(self.prefetch_hint.map_or(hint, |h| h.max(hint)));
        self.reprioritize()
    }

    /// Records a waiter's interest.
    pub(crate) fn add_waiter(&mut self, waiter: WaiterId, hint: u64) -> Shift {
        self.waiters.push((waiter, hint));
        self.reprioritize()
    }

    /// Forgets a waiter that went away before the job ended (one entry, for a batch that named the
    /// job more than once).
    pub(crate) fn remove_waiter(&mut self, waiter: WaiterId) -> Shift {
        if let Some(i) = self.waiters.iter().position(|&(w, _)| w == waiter) {
            self.waiters.swap_remove(i);
        }
        self.reprioritize()
    }

    /// Recomputes the effective priority from the live interests and publishes it to the running
    /// attempt. With no interest left it is `Prefetch` with hint 0: a running job nobody wants
    /// still finishes (its result is kept), as speculative work.
    fn reprioritize(&mut self) -> Shift {
        let now = self.interest().unwrap_or(Priority::prefetch(0));
        let before = self.priority;
        if now == before {
            return Shift::Same;
        }
        self.priority = now;
        self.shared.set_priority(now);
        match (before.class, now.class) {
            (Class::Prefetch, Class::Demand) => Shift::Promoted,
            (Class::Demand, Class::Prefetch) => Shift::Demoted,
            _ => Shift::Rehinted,
        }
    }

    /// Whether the job holds a slot.
    pub(crate) fn is_running(&self) -> bool {
        matches!(self.phase, Phase::Running { .. })
    }
}
