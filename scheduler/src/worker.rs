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
use crate::event::EventKind;
use crate::fetch::{JobContext, ProgressSink};
use crate::inner::Inner;
use crate::sync::{Arc, Ordering};

/// Jobs a worker runs back to back before it yields.
const JOBS_BETWEEN_YIELDS: u32 = 16;

pub(crate) async fn run<K, V, E>(inner: Arc<Inner<K, V, E>>, mut start: Start<K>)
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    let mut ran = 0u32;
    loop {
        let (id, seq) = (start.id, start.seq);
        let end = attempt(&inner, start).await;
        let mut fx = Effects::new();
        {
            let mut core = inner.lock();
            core.finish(id, seq, end, &inner.store, |k| inner.hash(k), &mut fx);
        }
        let next = if fx.start.is_empty() {
            None
        } else {
            Some(fx.start.swap_remove(0))
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

/// The key of a running attempt and where its progress events go.
struct Attempt<K, V, E> {
    inner: Arc<Inner<K, V, E>>,
    key: K,
}

impl<K, V, E> ProgressSink for Attempt<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn report(&self, bytes: u64, total: Option<u64>) {
        if self.inner.listening.load(Ordering::Relaxed) {
            self.inner
                .lock()
                .events
                .send(&self.key, EventKind::Progress { bytes, total });
        }
    }
}

/// Runs one attempt to its end, turning panics into [`AttemptEnd::Panicked`].
async fn attempt<K, V, E>(inner: &Arc<Inner<K, V, E>>, start: Start<K>) -> AttemptEnd<V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    let attempt = std::sync::Arc::new(Attempt {
        inner: Arc::clone(inner),
        key: start.key,
    });
    let sink: std::sync::Arc<dyn ProgressSink> = attempt.clone();
    let cx = JobContext::new(start.shared, sink, start.attempt);
    let future = match catch_unwind(AssertUnwindSafe(|| {
        inner.fetcher.fetch_boxed(&attempt.key, &cx)
    })) {
        Ok(future) => future,
        Err(payload) => return AttemptEnd::Panicked(panic_message(&*payload)),
    };
    drop(cx);
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
