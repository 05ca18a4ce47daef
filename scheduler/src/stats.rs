//! Counters, gauges and the in-flight snapshot.

use std::time::Duration;

use crate::priority::Priority;

/// Counters since the scheduler was built, and gauges of this moment; from
/// [`Scheduler::stats`](crate::Scheduler::stats).
///
/// The counters add up:
/// - `queued_by_prefetch + queued_by_demand == succeeded + failed + panicked + aborted + cancelled + in_flight()`
/// - `attempts == succeeded + failed + panicked + interrupted + retries + running()`
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Jobs created by `prefetch` on an absent key.
    pub queued_by_prefetch: u64,
    /// Jobs created by `get` on an absent key.
    pub queued_by_demand: u64,
    /// Requests that joined a job in flight without changing its class.
    pub joined: u64,
    /// Prefetch → demand promotions (queued or running).
    pub promoted: u64,
    /// Demand → prefetch demotions.
    pub demoted: u64,
    /// `get`s answered from a kept result without waiting.
    pub hits: u64,
    /// Requests refused because the scheduler was closed.
    pub refused: u64,
    /// Attempts started.
    pub attempts: u64,
    /// Attempts that failed transiently and were followed by a backoff.
    pub retries: u64,
    /// Jobs that ended with a value.
    pub succeeded: u64,
    /// Jobs that ended with the fetcher's error.
    pub failed: u64,
    /// Jobs that ended because the fetcher panicked.
    pub panicked: u64,
    /// Jobs that left without finishing (cancel, close, nobody interested).
    pub cancelled: u64,
    /// Jobs that ended with [`Error::Aborted`](crate::Error::Aborted): their task was dropped, or
    /// they could not start because the runtime is gone.
    pub aborted: u64,
    /// Attempts whose task was dropped before they ended (each also counts in `aborted`).
    pub interrupted: u64,

    /// Gauge: queued at `Prefetch`.
    pub queued_prefetch: usize,
    /// Gauge: queued at `Demand`.
    pub queued_demand: usize,
    /// Gauge: slots held by jobs whose current class is `Prefetch`.
    pub running_prefetch: usize,
    /// Gauge: slots held by jobs whose current class is `Demand`.
    pub running_demand: usize,
    /// Gauge: jobs waiting out a retry delay (holding no slot and no bytes).
    pub backing_off: usize,
    /// Gauge: bytes running jobs hold against the byte budget — the sum of their weights, less
    /// what their attempts released. Counted with or without a budget.
    pub bytes_held: u64,
    /// The most `bytes_held` has been at once since the scheduler was built.
    pub peak_bytes_held: u64,
    /// Times a job at the head of the queue found a slot free but not the bytes for its weight
    /// (at most once per attempt; each sends [`EventKind::WaitingForBytes`](crate::EventKind::WaitingForBytes)).
    pub waited_for_bytes: u64,
    /// Gauge: `get` futures alive that have not yet returned their answer (including answers
    /// ready but not yet polled).
    pub waiters: usize,
    /// Gauge: kept results (values and permanent errors).
    pub kept: usize,
}

impl Stats {
    /// Slots held. Never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use fetch_scheduler::Stats;
    ///
    /// let idle = Stats::default();
    /// assert_eq!(idle.running(), 0);
    /// ```
    pub fn running(&self) -> usize {
        self.running_prefetch + self.running_demand
    }

    /// Jobs queued, running or backing off. Never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// # use fetch_scheduler::{BoxFuture, JobContext, Runtime, Scheduler};
    /// # struct Smol;
    /// # impl Runtime for Smol {
    /// #     fn spawn(&self, task: BoxFuture<'static, ()>) { smol::spawn(task).detach(); }
    /// #     fn sleep(&self, d: std::time::Duration) -> BoxFuture<'static, ()> {
    /// #         Box::pin(async move { smol::Timer::after(d).await; })
    /// #     }
    /// # }
    /// # let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
    /// #     .build(Smol, |url: &String, _cx: JobContext| {
    /// #         let len = url.len();
    /// #         async move { Ok(len) }
    /// #     })
    /// #     .unwrap();
    /// tarballs.close();
    /// smol::block_on(tarballs.drain());
    /// assert_eq!(tarballs.stats().in_flight(), 0);
    /// ```
    pub fn in_flight(&self) -> usize {
        self.queued_prefetch + self.queued_demand + self.running() + self.backing_off
    }
}

/// Where an in-flight job is, for [`InFlight`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobState {
    /// Waiting for a slot.
    Queued,
    /// Running attempt `attempt`.
    Running {
        /// 1-based attempt number.
        attempt: u32,
    },
    /// Waiting out the delay after failed attempt `attempt`.
    Backoff {
        /// The attempt that failed.
        attempt: u32,
    },
}

/// One in-flight job, from [`Scheduler::snapshot`](crate::Scheduler::snapshot): what a stall
/// diagnosis needs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InFlight<K> {
    /// The key.
    pub key: K,
    /// Queued, running or backing off.
    pub state: JobState,
    /// Its effective priority.
    pub priority: Priority,
    /// Time since the job was created.
    pub age: Duration,
    /// Waiters (`get` futures) waiting on it.
    pub waiters: usize,
    /// Bytes the running attempt reported, and the total if known.
    pub progress: (u64, Option<u64>),
    /// The weight the job holds while running, or will start at: the weight its attempt set, else
    /// its size hint, else the builder's default weight.
    pub weight: u64,
    /// Bytes it holds against the byte budget now: its weight while running, 0 when queued, backing
    /// off, or released by its attempt.
    pub bytes_held: u64,
}
