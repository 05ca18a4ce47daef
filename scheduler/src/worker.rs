//! The task that runs jobs: one attempt at a time, then the next job its freed slot allows.
//!
//! A worker is spawned when a slot is granted. When its attempt ends it hands its slot straight to
//! the next queued job and runs that one itself instead of spawning another task, so a busy
//! scheduler spawns about `concurrency` tasks, not one per job. It yields to the executor every few
//! jobs so instant fetches cannot starve other tasks.

use std::hash::Hash;
use std::panic::{AssertUnwindSafe, catch_unwind};

use futures_lite::FutureExt;

use crate::core::{AttemptEnd, Effects, Start};
use crate::error::{ErrorClass, panic_message};
use crate::fetch::{Fetch, JobContext};
use crate::inner::Inner;
use crate::sync::Arc;

/// Jobs a worker runs back to back before it yields.
const JOBS_BETWEEN_YIELDS: u32 = 16;

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
    loop {
        let (id, seq) = (start.id, start.seq);
        let end = attempt::<K, V, E, F>(&inner, start).await;
        let mut fx = Effects::new();
        {
            let mut core = inner.lock();
            core.finish(id, seq, end, &inner.store, |k| inner.hash(k), &mut fx);
        }
        let next = if fx.start.is_empty() {
            None
        } else {
            Some(fx.start.remove(0))
        };
        Inner::apply(&inner, fx);
        match next {
            Some(job) => start = job,
            None => return,
        }
        ran += 1;
        if ran % JOBS_BETWEEN_YIELDS == 0 {
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
    // Hold the job only while the fetch runs, so the key can usually move into the store.
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
