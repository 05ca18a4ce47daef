//! The tasks the scheduler spawns: one per attempt, and one per retry delay.
//!
//! An attempt's task runs the fetch, then ends the job under the scheduler lock (keeping the
//! outcome, answering the waiters, starting the jobs its freed slot allows) and wakes the waiters
//! once the lock is released.
//!
//! Both kinds of task hold a guard that ends their job if the task is dropped before it finishes —
//! the runtime shut down with the job in flight, or refused the task — so no waiter, `drain` or
//! slot is left waiting on a task that no longer exists: the job fails with
//! [`Error::Aborted`](crate::Error::Aborted).

use std::hash::Hash;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use futures_lite::FutureExt;

use crate::core::{AttemptEnd, Effects, Start};
use crate::error::{ErrorClass, panic_message};
use crate::fetch::{Fetch, JobContext};
use crate::inner::Inner;
use crate::sync::Arc;
use crate::weigh::AttemptBytes;

/// Spawns the task of a job that got a slot; monomorphized for the fetcher type `F`.
pub(crate) fn spawn<K, V, E, F>(inner: &Arc<Inner<K, V, E>>, start: Start<K>)
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Fetch<K, V, E>,
{
    let guard = Guard {
        inner: Arc::clone(inner),
        id: start.id,
        seq: start.seq,
        polled: false,
        kind: Kind::Attempt,
    };
    inner
        .runtime
        .spawn(Box::pin(run::<K, V, E, F>(guard, start)));
}

async fn run<K, V, E, F>(mut guard: Guard<K, V, E>, start: Start<K>)
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Fetch<K, V, E>,
{
    guard.polled = true;
    let end = attempt::<K, V, E, F>(&guard.inner, start).await;
    guard.end(end);
}

/// Spawns the timer of a job entering backoff: once `delay` is over, the job queues again.
pub(crate) fn spawn_backoff<K, V, E>(
    inner: &Arc<Inner<K, V, E>>,
    id: usize,
    seq: u64,
    delay: Duration,
) where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    let mut guard = Guard {
        inner: Arc::clone(inner),
        id,
        seq,
        polled: false,
        kind: Kind::Backoff,
    };
    let sleep = inner.runtime.sleep(delay);
    inner.runtime.spawn(Box::pin(async move {
        guard.polled = true;
        sleep.await;
        guard.disarm();
        let inner = &guard.inner;
        let mut fx = Effects::new();
        inner.lock().end_backoff(id, seq, &mut fx); // T19
        Inner::apply(inner, fx);
    }));
}

enum Kind {
    /// Guards a running attempt.
    Attempt,
    /// Guards a job in backoff.
    Backoff,
    /// Its job has been handed on; dropping the guard does nothing.
    Ended,
}

/// Ends its job with [`AttemptEnd::Aborted`] if dropped before the task finished.
struct Guard<K: Clone + Eq + Hash, V: Clone, E> {
    inner: Arc<Inner<K, V, E>>,
    id: usize,
    seq: u64,
    /// Whether the task ever ran: a task dropped unpolled tells that the runtime is gone.
    polled: bool,
    kind: Kind,
}

impl<K: Clone + Eq + Hash, V: Clone, E> Guard<K, V, E> {
    /// From now on, dropping the guard does nothing: the task hands its job on itself.
    fn disarm(&mut self) {
        self.kind = Kind::Ended;
    }

    /// Ends the attempt under the lock, then carries out what that decided.
    fn end(&mut self, end: AttemptEnd<V, E>) {
        self.disarm();
        let inner = &self.inner;
        let mut fx = Effects::new();
        inner.lock().finish(
            self.id,
            self.seq,
            end,
            &inner.store,
            |k| inner.hash(k),
            &mut fx,
        );
        Inner::apply(inner, fx);
    }
}

impl<K: Clone + Eq + Hash, V: Clone, E> Drop for Guard<K, V, E> {
    fn drop(&mut self) {
        let unpolled = !self.polled;
        match self.kind {
            Kind::Ended => {}
            Kind::Attempt => self.end(AttemptEnd::Aborted { unpolled }), // T18
            Kind::Backoff => {
                // T20
                let mut fx = Effects::new();
                self.inner
                    .lock()
                    .abort_backoff(self.id, self.seq, unpolled, &mut fx);
                Inner::apply(&self.inner, fx);
            }
        }
    }
}

/// Runs one attempt to its end and classifies it: the happening of T13 (`Ok`), T14 (permanent),
/// T15/T16 (transient) or T17 (panic) of the transition table in `core.rs`.
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
        .expect("job tasks are spawned for the scheduler's fetcher type");
    let bytes = AttemptBytes {
        inner: Arc::clone(inner),
        id: start.id,
        seq: start.seq,
        attempt: start.attempt,
    };
    let cx = JobContext::new(
        std::sync::Arc::clone(&start.shared),
        std::sync::Arc::new(bytes),
        start.attempt,
    );
    let future = match catch_unwind(AssertUnwindSafe(|| fetcher.fetch(&start.shared.key, cx))) {
        Ok(future) => future,
        Err(payload) => return AttemptEnd::Panicked(panic_message(&*payload)),
    };
    // The job's record is needed no more; dropping our handle now lets the job's end move the key
    // into the store instead of cloning it.
    drop(start);
    // Awaited inside an `async` block so the future is also *dropped* inside `catch_unwind`: a
    // panicking `Drop` of a hand-written future fails the attempt like any other panic.
    #[allow(clippy::redundant_async_block)]
    let owned = async move { future.await };
    match AssertUnwindSafe(owned).catch_unwind().await {
        Ok(Ok(value)) => AttemptEnd::Succeeded(value),
        Ok(Err(error)) => match catch_unwind(AssertUnwindSafe(|| inner.classify(&error))) {
            Ok(ErrorClass::Permanent) => AttemptEnd::Permanent(std::sync::Arc::new(error)),
            Ok(ErrorClass::RetryAfter(after)) => {
                AttemptEnd::Transient(std::sync::Arc::new(error), Some(after))
            }
            Ok(ErrorClass::Transient) => AttemptEnd::Transient(std::sync::Arc::new(error), None),
            Err(payload) => AttemptEnd::Panicked(panic_message(&*payload)),
        },
        Err(payload) => AttemptEnd::Panicked(panic_message(&*payload)),
    }
}
