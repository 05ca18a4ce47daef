//! The task that runs jobs: one attempt at a time, then the next job its freed slot allows.
//!
//! A worker is spawned when a slot is granted. When its attempt ends it hands its slot straight to
//! the next queued job and runs that one itself instead of spawning another task, so a busy
//! scheduler spawns about `concurrency` tasks, not one per job. It yields to the executor every
//! [`JOBS_BETWEEN_YIELDS`] jobs so instant fetches cannot starve other tasks.
//!
//! Per attempt: run the fetch; keep its outcome in the store (outside the scheduler lock); take the
//! lock once to end the job and get the next; post `get_all` answers and spawn extra workers after
//! the lock is released; hold wake-ups back while the next job runs without waiting
//! ([`crate::deferred_wakes`]).

use std::hash::Hash;
use std::panic::{AssertUnwindSafe, catch_unwind};

use futures_lite::FutureExt;

use crate::core::{AttemptEnd, Effects, Start};
use crate::deferred_wakes::{DeferredWakes, FlushOnPending};
use crate::error::{ErrorClass, panic_message};
use crate::fetch::{Fetch, JobContext};
use crate::inner::Inner;
use crate::sync::Arc;

/// Jobs a worker runs back to back before it yields (and wakes the waiters it held back): tokio's
/// cooperative budget, 128 polls. Only instant jobs run back to back — an attempt that waits
/// hands the thread back anyway — so this bounds how long a run of cache hits keeps a thread and
/// delays their waiters (tens of microseconds). A smaller bound costs a consumer wake per bound:
/// 16 made 10 000 instant jobs 1.3x slower.
const JOBS_BETWEEN_YIELDS: u32 = 128;

/// Spawns a worker for fetcher type `F`; stored in the scheduler as a plain `fn` at build time.
pub(crate) fn spawn<K, V, E, F>(inner: &Arc<Inner<K, V, E>>, start: Start<K>)
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Fetch<K, V, E>,
{
    inner
        .runtime
        .spawn(Box::pin(run::<K, V, E, F>(Arc::clone(inner), start)));
}

async fn run<K, V, E, F>(inner: Arc<Inner<K, V, E>>, mut start: Start<K>)
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Fetch<K, V, E>,
{
    let mut ran = 0u32;
    let mut deferred = DeferredWakes::default();
    loop {
        let (id, seq, hash) = (start.id, start.seq, start.hash);
        let shared = std::sync::Arc::clone(&start.shared);
        let end = FlushOnPending {
            future: std::pin::pin!(attempt::<K, V, E, F>(&inner, start)),
            wakes: &mut deferred,
        }
        .await;
        // Keep the outcome before the job leaves the in-flight table, and outside the scheduler
        // lock: for a moment the key is both kept and in flight, which only lets a `get` join the
        // job that is ending (see `Core::finish`).
        if let Some(kept) = end.kept() {
            inner
                .store
                .insert(hash, shared.key.clone(), kept, |k| inner.hash(k));
        }
        drop(shared); // so that the key can move into a `get_all` answer below
        let mut fx = Effects::new();
        inner.lock().finish(id, seq, end, &mut fx);
        let next = if fx.start.is_empty() {
            None
        } else {
            Some(fx.start.remove(0))
        };
        let wake = Inner::apply_but_wake(&inner, fx);
        if !wake.is_empty() {
            deferred.extend(wake);
        }
        match next {
            Some(job) => start = job,
            None => return,
        }
        ran += 1;
        if ran % JOBS_BETWEEN_YIELDS == 0 {
            deferred.flush();
            futures_lite::future::yield_now().await;
        }
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
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(Ok(value)) => AttemptEnd::Succeeded(value),
        Ok(Err(error)) => match catch_unwind(AssertUnwindSafe(|| inner.classify(&error))) {
            Ok(ErrorClass::Transient) => AttemptEnd::Transient(std::sync::Arc::new(error)),
            Ok(ErrorClass::Permanent) => AttemptEnd::Permanent(std::sync::Arc::new(error)),
            Err(payload) => AttemptEnd::Panicked(panic_message(&*payload)),
        },
        Err(payload) => AttemptEnd::Panicked(panic_message(&*payload)),
    }
}
