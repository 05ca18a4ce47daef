//! The tasks that run jobs.
//!
//! A worker holds the slots of one or more started jobs and runs their attempts one after the
//! other. Jobs that finish at once (cache hits, the instant fetches of a benchmark) are ended
//! together: the worker runs every job it holds, then takes the scheduler lock once to end them all
//! and to take the jobs their freed slots start, and runs those. A batch of n instant jobs thus
//! costs one lock hold instead of n, and the scheduler's state stays in one core's cache meanwhile.
//!
//! The first time an attempt has to wait (a real download), the worker stops batching: it ends the
//! jobs it has finished and hands every other job it holds to a worker of its own, so no download
//! waits behind another. Slots are counted when a job starts, not when its worker first polls
//! it, so moving a started job between workers changes nothing in the capacity rule.
//!
//! A worker also hands its held jobs on when running attempts back to back has taken longer than
//! [`HAND_OFF_AFTER`] (a fetcher doing synchronous work before it returns, or the thread being
//! preempted), spread over at most [`Inner::parallelism`] new workers, so that other executor
//! threads can run them meanwhile while the jobs still end in batches. A fetch that *blocks its thread* on another key of the same
//! scheduler can therefore wait forever (see [`Fetch`]); one that awaits it cannot: its first
//! `Pending` hands everything else on. If the worker unwinds (a panic in a key's `Hash`/`Eq` or a
//! value's `Clone`, outside any attempt) or the runtime drops it, `Held`'s `Drop` ends what it
//! finished and gives the rest new workers, so no slot is left held by a task that is gone.
//!
//! The jobs a locked section starts are spread over at most [`Inner::parallelism`] new workers,
//! so a burst of instant jobs keeps every executor thread busy. A worker yields to the executor
//! after [`JOBS_BETWEEN_YIELDS`] jobs once [`YIELD_AFTER`] has passed, so instant fetches cannot
//! starve other tasks.
//!
//! Per attempt: run the fetch; keep its outcome in the store (outside the scheduler lock); end the
//! batch under the lock when the worker has nothing else to run; post `get_all` answers and spawn
//! new workers after the lock is released; hold wake-ups back while further jobs run without
//! waiting, up to [`FLUSH_AFTER`] ([`crate::deferred_wakes`]).

use std::future::Future;
use std::hash::Hash;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::FutureExt;
use smallvec::SmallVec;

use crate::core::{AttemptEnd, Start};
use crate::deferred_wakes::DeferredWakes;
use crate::effects::{Effects, Starts};
use crate::error::{ErrorClass, panic_message};
use crate::fetch::{Fetch, JobContext};
use crate::inner::Inner;
use crate::spin_then_lock::spin_then_lock;
use crate::sync::Arc;

/// Jobs a worker runs back to back before it pauses: ends the jobs it finished (taking the ones
/// their slots start), wakes held-back waiters if [`FLUSH_AFTER`] has passed, and yields if
/// [`YIELD_AFTER`] has: tokio's cooperative budget, 128 polls. Only instant jobs run back to
/// back — an attempt that waits hands the thread back anyway.
const JOBS_BETWEEN_YIELDS: u32 = 128;

/// A worker yields at a pause only once this long has passed since it last yielded (or started),
/// so a run of cache hits keeps a thread for at most this plus 128 jobs, and slower jobs yield
/// every 128. Yielding at every pause (every ~50 µs of instant jobs here) made 10 000 instant jobs
/// 3–5 % slower (same-process A/B, 150 batches, three runs on tokio and smol).
const YIELD_AFTER: Duration = Duration::from_micros(100);

/// At a yield, the worker wakes the waiters it held back once the oldest of them has waited this
/// long; so a waiter of a job in a run of instant jobs hears of it within this bound plus one run
/// of [`JOBS_BETWEEN_YIELDS`] jobs, and at once when the run ends. Each wake of a consumer that
/// went to sleep costs a futex round trip and takes a core from the workers. Against waking at
/// every yield (every ~50 µs here), this bound made 10 000 instant jobs 4–10 % faster, 100 µs
/// 2–7 %, 500 µs 1–14 % — no better, for a looser bound (same-process A/B, 150 batches, three
/// runs each, on tokio and smol). Waking every 16 jobs made them 1.3x slower.
const FLUSH_AFTER: Duration = Duration::from_micros(200);

/// How long a worker may run the jobs it holds back to back (each finishing without waiting, but
/// doing synchronous work) before it gives the jobs it still holds workers of their own, so that
/// other executor threads can take them. A batch of 64 instant jobs takes about 20 µs. The clock
/// is read every [`CHECK_CLOCK_EVERY`] jobs, so held jobs can wait behind up to that many
/// computing fetches before they are handed on.
const HAND_OFF_AFTER: Duration = Duration::from_micros(500);

/// Jobs between two looks at the clock for [`HAND_OFF_AFTER`]. Looking after every job, with a
/// 100 µs bound, made 10 000 instant jobs 8–12 % slower: the clock reads, and hand-offs after the
/// thread was merely preempted.
const CHECK_CLOCK_EVERY: u32 = 4;

/// An attempt that ended and whose job the worker has not ended under the lock yet.
type Ended<V, E> = (usize, u64, AttemptEnd<V, E>);

/// Spawns workers for fetcher type `F` to run `starts` (jobs that just got their slots), at most
/// [`Inner::parallelism`] of them; stored in the scheduler as a plain `fn` at build time.
pub(crate) fn spawn<K, V, E, F>(inner: &Arc<Inner<K, V, E>>, starts: Starts<K>)
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Fetch<K, V, E>,
{
    let n = starts.len();
    let workers = n.min(inner.parallelism).max(1);
    let mut starts = starts.into_iter();
    for w in 0..workers {
        let share = n / workers + usize::from(w < n % workers);
        let mut jobs: Starts<K> = starts.by_ref().take(share).collect();
        jobs.reverse();
        spawn_one::<K, V, E, F>(inner, jobs);
    }
}

/// Spawns a worker holding `jobs` (in reverse order: the next to run last).
fn spawn_one<K, V, E, F>(inner: &Arc<Inner<K, V, E>>, jobs: Starts<K>)
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Fetch<K, V, E>,
{
    inner
        .runtime
        .spawn(Box::pin(run::<K, V, E, F>(Arc::clone(inner), jobs)));
}

/// Ends every attempt of `ended` in one hold of the scheduler lock, spinning for it a little
/// before blocking (see [`crate::spin_then_lock`]): the slots of the batch stay taken until then.
fn finish_all<K, V, E>(
    inner: &Arc<Inner<K, V, E>>,
    ended: &mut SmallVec<[Ended<V, E>; 1]>,
    fx: &mut Effects<K, V, E>,
) where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    let mut core = spin_then_lock(&inner.core);
    for (id, seq, end) in ended.drain(..) {
        core.finish(id, seq, end, fx);
    }
}

/// What one worker task holds between attempts.
struct Held<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// Started jobs (slots held) not run yet, the next to run last: popped from the end, with
    /// no allocation for the usual single job.
    jobs: Starts<K>,
    /// Attempts that ended, whose jobs are still in flight for the core.
    ended: SmallVec<[Ended<V, E>; 1]>,
    /// Wake-ups of answered waiters not delivered yet.
    wakes: DeferredWakes,
    /// Reused from batch to batch, so its lists keep their capacity.
    fx: Effects<K, V, E>,
    /// The scheduler, for [`Drop`].
    inner: Arc<Inner<K, V, E>>,
}

impl<K, V, E> Drop for Held<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn drop(&mut self) {
        if self.jobs.is_empty() && self.ended.is_empty() {
            return; // the normal end of a worker
        }
        // Unwinding (a key's `Hash`/`Eq` or a value's `Clone` panicked outside an attempt), or the
        // runtime dropped the task: end the attempts that finished and give every job still held
        // a worker of its own, so that no slot, waiter or key is left waiting for this task.
        let inner = Arc::clone(&self.inner);
        let _ = catch_unwind(AssertUnwindSafe(|| {
            if !self.ended.is_empty() {
                let mut fx = Effects::new();
                finish_all(&inner, &mut self.ended, &mut fx);
                Inner::apply(&inner, &mut fx);
            }
            if !self.jobs.is_empty() {
                let jobs: Starts<K> = self.jobs.drain(..).rev().collect();
                (inner.spawn_worker)(&inner, jobs);
            }
        }));
    }
}

impl<K, V, E> Held<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// Ends every job in `ended` in one lock hold and takes the jobs their slots start.
    fn end_batch(&mut self, inner: &Arc<Inner<K, V, E>>) {
        if self.ended.is_empty() {
            return;
        }
        finish_all(inner, &mut self.ended, &mut self.fx);
        // Behind the jobs still held, in the order they were started.
        self.jobs.insert_many(0, self.fx.start.drain(..).rev());
        Inner::carry_out(inner, &mut self.fx);
        if !self.fx.wake.is_empty() {
            self.wakes.extend(self.fx.wake.drain(..));
        }
    }

    /// The running attempt has to wait: end what is done, give every other held job a worker of
    /// its own, and deliver the held-back wake-ups.
    fn hand_off<F: Fetch<K, V, E>>(&mut self, inner: &Arc<Inner<K, V, E>>) {
        self.end_batch(inner);
        for job in self.jobs.drain(..).rev() {
            spawn_one::<K, V, E, F>(inner, Starts::from_iter([job]));
        }
        self.wakes.flush();
    }

    /// Running the held jobs back to back took too long: end what is done and spread the jobs
    /// still held over at most [`Inner::parallelism`] new workers, so other executor threads take
    /// them. Spread, not one worker each: the cause is as often this thread being preempted as a
    /// fetcher computing, and instant jobs given one worker each would stay one per worker —
    /// each ending one job per lock hold — for the rest of the burst.
    fn spread(&mut self, inner: &Arc<Inner<K, V, E>>) {
        self.end_batch(inner);
        let jobs: Starts<K> = self.jobs.drain(..).rev().collect();
        if !jobs.is_empty() {
            (inner.spawn_worker)(inner, jobs);
        }
        self.wakes.flush();
    }
}

async fn run<K, V, E, F>(inner: Arc<Inner<K, V, E>>, jobs: Starts<K>)
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Fetch<K, V, E>,
{
    let mut ran = 0u32;
    let mut held = Held {
        jobs,
        ended: SmallVec::new(),
        wakes: DeferredWakes::default(),
        fx: Effects::new(),
        inner: Arc::clone(&inner),
    };
    // When the worker began running the jobs it holds back to back, while it holds more than one.
    let mut since: Option<Instant> = None;
    let mut last_yield = Instant::now();
    while let Some(start) = held.jobs.pop() {
        if since.is_none() && !held.jobs.is_empty() {
            since = Some(Instant::now());
        }
        let (id, seq, hash) = (start.id, start.seq, start.hash);
        let shared = std::sync::Arc::clone(&start.shared);
        let end = HandOffOnPending::<_, K, V, E, F> {
            attempt: std::pin::pin!(attempt::<K, V, E, F>(&inner, start)),
            inner: &inner,
            held: &mut held,
            fetcher: std::marker::PhantomData,
        }
        .await;
        // Held first, so that a panic below (user `Clone`, `Hash`, `Eq`) still ends the job.
        held.ended.push((id, seq, end));
        // Keep the outcome before the job leaves the in-flight table, and outside the scheduler
        // lock: until the batch ends the key is both kept and in flight, which only lets a `get`
        // join the job that is ending (see `Core::finish`).
        if let Some(kept) = held.ended.last().and_then(|(_, _, end)| end.kept()) {
            inner
                .store
                .insert(hash, shared.key.clone(), kept, |k| inner.hash(k));
        }
        drop(shared); // so that the key can move into a `get_all` answer
        ran += 1;
        let pause = ran % JOBS_BETWEEN_YIELDS == 0;
        if held.jobs.is_empty() || pause {
            held.end_batch(&inner);
            since = None;
        } else if ran % CHECK_CLOCK_EVERY == 0
            && since.is_some_and(|t| t.elapsed() > HAND_OFF_AFTER)
        {
            held.spread(&inner);
        }
        if pause {
            if held.wakes.held_for(FLUSH_AFTER) {
                held.wakes.flush();
            }
            if last_yield.elapsed() >= YIELD_AFTER {
                futures_lite::future::yield_now().await;
                last_yield = Instant::now();
            }
        }
    }
}

/// Polls an attempt; each time it is not ready, [`Held::hand_off`] runs first-time work (ending
/// finished jobs, spreading held ones) — a no-op on later polls, when nothing is held any more.
struct HandOffOnPending<'a, A, K, V, E, F>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    attempt: Pin<&'a mut A>,
    inner: &'a Arc<Inner<K, V, E>>,
    held: &'a mut Held<K, V, E>,
    fetcher: std::marker::PhantomData<fn() -> F>,
}

impl<A, K, V, E, F> Future for HandOffOnPending<'_, A, K, V, E, F>
where
    A: Future,
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Fetch<K, V, E>,
{
    type Output = A::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<A::Output> {
        let this = &mut *self;
        let poll = this.attempt.as_mut().poll(cx);
        if poll.is_pending() {
            this.held.hand_off::<F>(this.inner);
        }
        poll
    }
}

/// Runs one attempt to its end, turning panics into [`AttemptEnd::Panicked`].
///
/// The fetch future lives inside this worker's own future: no allocation per attempt.
async fn attempt<K, V, E, F>(inner: &Arc<Inner<K, V, E>>, start: Start<K>) -> AttemptEnd<V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Fetch<K, V, E>,
{
    let fetcher: &F = inner
        .fetcher
        .downcast_ref()
        .expect("workers are spawned for the scheduler's fetcher type");
    let cx = JobContext::new(std::sync::Arc::clone(&start.shared), start.attempt);
    let future = match catch_unwind(AssertUnwindSafe(|| fetcher.fetch(&start.shared.key, &cx))) {
        Ok(future) => future,
        Err(payload) => return AttemptEnd::Panicked(panic_message(&*payload)),
    };
    drop((cx, start));
    // Awaited inside an `async` block so that the future is also *dropped* inside `catch_unwind`
    // (a panicking `Drop` of a hand-written future fails the attempt like any other panic); the
    // block is what the test `a_fetch_future_that_panics_when_dropped_fails_its_attempt_only`
    // needs, not a redundant wrapper.
    #[allow(clippy::redundant_async_block)]
    let owned = async move { future.await };
    match AssertUnwindSafe(owned).catch_unwind().await {
        Ok(Ok(value)) => AttemptEnd::Succeeded(value),
        Ok(Err(error)) => match catch_unwind(AssertUnwindSafe(|| inner.classify(&error))) {
            Ok(ErrorClass::Transient) => AttemptEnd::Transient(std::sync::Arc::new(error), None),
            Ok(ErrorClass::RetryAfter(after)) => {
                AttemptEnd::Transient(std::sync::Arc::new(error), Some(after))
            }
            Ok(ErrorClass::Permanent) => AttemptEnd::Permanent(std::sync::Arc::new(error)),
            Err(payload) => AttemptEnd::Panicked(panic_message(&*payload)),
        },
        Err(payload) => AttemptEnd::Panicked(panic_message(&*payload)),
    }
}
